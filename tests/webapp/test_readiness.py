"""Ready means the artifact store works too: /readyz names a missing bucket
(asking the real S3-protocol server), and a start-up check refuses S3 without
a bucket before anything tries to use it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.s3 import S3Bucket
from workflows.checks import artifact_store_configured

pytestmark = pytest.mark.django_db


def use_s3(settings: Any, bucket: S3Bucket, **overrides: str) -> None:
    for name, value in {**bucket.environment, **overrides}.items():
        setattr(settings, name, value)


def test_readyz_is_ready_with_the_bucket_there(client, settings, s3_bucket):
    use_s3(settings, s3_bucket)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "artifact store": "ok"},
    }


def test_readyz_names_a_missing_bucket(client, settings, s3_bucket):
    use_s3(settings, s3_bucket, FLOWDECK_ARTIFACT_S3_BUCKET="flowdeck-nowhere")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["artifact store"] == (
        "unavailable: bucket 'flowdeck-nowhere' does not exist"
    )
    assert body["checks"]["database"] == body["checks"]["broker"] == "ok"


def test_readyz_says_when_no_bucket_is_set(client, settings, s3_bucket):
    use_s3(settings, s3_bucket, FLOWDECK_ARTIFACT_S3_BUCKET="")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["artifact store"] == (
        "unavailable: FLOWDECK_ARTIFACT_S3_BUCKET is not set"
    )


def test_readyz_says_when_the_artifact_directory_cannot_be_made(
    client, settings, tmp_path
):
    (tmp_path / "data").write_text("a file where the data directory should be")
    settings.FLOWDECK_ARTIFACT_STORE = "filesystem"
    settings.DATA_DIR = tmp_path / "data"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["artifact store"] == (
        f"unavailable: cannot create {tmp_path}/data/artifacts: Not a directory"
    )


def test_s3_without_a_bucket_stops_start_up_with_a_clear_error(settings):
    settings.FLOWDECK_ARTIFACT_STORE = "s3"
    settings.FLOWDECK_ARTIFACT_S3_BUCKET = ""
    [error] = artifact_store_configured()
    assert error.id == "flowdeck.E002"
    assert "FLOWDECK_ARTIFACT_S3_BUCKET is not set" in error.msg
    with pytest.raises(SystemCheckError, match="flowdeck.E002"):
        call_command("check")


def test_the_start_up_check_asks_no_server(settings):
    """A bucket that does not exist, on an endpoint nobody serves: the check
    passes (it never connects; /readyz is where that shows)."""
    settings.FLOWDECK_ARTIFACT_STORE = "s3"
    settings.FLOWDECK_ARTIFACT_S3_BUCKET = "flowdeck-nowhere"
    settings.FLOWDECK_ARTIFACT_S3_ENDPOINT = "http://127.0.0.1:9"
    assert artifact_store_configured() == []
    settings.FLOWDECK_ARTIFACT_STORE = "filesystem"
    settings.FLOWDECK_ARTIFACT_S3_BUCKET = ""
    assert artifact_store_configured() == []
