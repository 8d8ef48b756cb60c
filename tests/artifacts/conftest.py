"""Each store test runs against both stores: a directory and a bucket on the
suite's S3-protocol server (tests/s3.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from artifacts.s3 import S3Store
from artifacts.store import ArtifactStore, FilesystemStore


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "filesystem":
        return FilesystemStore(tmp_path / "blobs")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Store.connect(**bucket.connect_kwargs)


@pytest.fixture(params=["filesystem", "s3"])
def configured_store(
    request: pytest.FixtureRequest, settings: Any, tmp_path: Path
) -> ArtifactStore:
    """The store the server's settings name (artifacts.from_settings())."""
    import artifacts

    if request.param == "filesystem":
        settings.FLOWDECK_ARTIFACT_STORE = "filesystem"
        settings.DATA_DIR = tmp_path / "data"
    else:
        bucket = request.getfixturevalue("s3_bucket")
        for name, value in bucket.environment.items():
            setattr(settings, name, value)
    return artifacts.from_settings()
