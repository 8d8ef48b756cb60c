"""A real S3-protocol server for the tests: moto's standalone server, started
as its own process on a free loopback port the first time a test asks for it
(nothing here is mocked: boto3 talks HTTP to it as it would to MinIO or AWS).
moto's server was chosen because it installs from PyPI with nothing else;
docs/deployment.md says which stores were exercised.

    def test_x(s3_bucket):  # tests/conftest.py re-exports the fixtures
        store = S3Store.connect(**s3_bucket.connect_kwargs)
"""

from __future__ import annotations

import atexit
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.net import free_port

ACCESS_KEY = "flowdeck-test"
SECRET_KEY = "flowdeck-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Bucket:
    endpoint: str
    name: str

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        return {
            "bucket": self.name,
            "endpoint_url": self.endpoint,
            "region": REGION,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
        }

    def client(self) -> Any:
        """A boto3 client of the server, to look in the bucket."""
        return _client(self.endpoint)

    @property
    def environment(self) -> dict[str, str]:
        """The settings' environment variables for a Flowdeck process."""
        return {
            "FLOWDECK_ARTIFACT_STORE": "s3",
            "FLOWDECK_ARTIFACT_S3_BUCKET": self.name,
            "FLOWDECK_ARTIFACT_S3_ENDPOINT": self.endpoint,
            "FLOWDECK_ARTIFACT_S3_REGION": REGION,
            "FLOWDECK_ARTIFACT_S3_ACCESS_KEY": ACCESS_KEY,
            "FLOWDECK_ARTIFACT_S3_SECRET_KEY": SECRET_KEY,
        }


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto S3 server running for the rest of the session."""
    port = free_port()
    log = Path(tmp_path_factory.mktemp("s3")) / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "moto_server"),
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    atexit.register(process.terminate)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _client(endpoint).list_buckets()
            break
        except Exception:  # noqa: BLE001 - not up yet
            if process.poll() is not None:
                pytest.fail(f"moto_server exited:\n{log.read_text()}")
            time.sleep(0.2)
    else:
        pytest.fail(f"moto_server did not start:\n{log.read_text()}")
    try:
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> S3Bucket:
    """A fresh, empty bucket for one test."""
    name = f"flowdeck-{uuid.uuid4().hex[:12]}"
    _client(s3_endpoint).create_bucket(Bucket=name)
    return S3Bucket(s3_endpoint, name)
