"""The artifact store: where output artifacts live, by their content's sha256.

One small interface (store.ArtifactStore) with two implementations: a
directory (the embedded default, under the data directory) and S3-compatible
object storage for production (s3.py). Nothing here imports Django except
`from_settings`, which reads the configuration when it is called.
"""

from __future__ import annotations

import functools

from artifacts.store import ArtifactStore, Blob, FilesystemStore, StoreError

__all__ = ["ArtifactStore", "Blob", "FilesystemStore", "StoreError", "from_settings"]


def from_settings() -> ArtifactStore:
    """The store the settings configure (FLOWDECK_ARTIFACT_*)."""
    from pathlib import Path

    from django.conf import settings

    if settings.FLOWDECK_ARTIFACT_STORE == "s3":
        return _s3_store(
            settings.FLOWDECK_ARTIFACT_S3_BUCKET,
            settings.FLOWDECK_ARTIFACT_S3_PREFIX,
            settings.FLOWDECK_ARTIFACT_S3_ENDPOINT,
            settings.FLOWDECK_ARTIFACT_S3_REGION,
            settings.FLOWDECK_ARTIFACT_S3_ACCESS_KEY,
            settings.FLOWDECK_ARTIFACT_S3_SECRET_KEY,
        )
    return FilesystemStore(Path(settings.DATA_DIR) / "artifacts")


@functools.lru_cache(maxsize=8)
def _s3_store(
    bucket: str,
    prefix: str,
    endpoint: str,
    region: str,
    access_key: str,
    secret_key: str,
) -> ArtifactStore:
    """One S3 store per configuration and process: a boto3 session and its
    clients cost a few MiB and tens of milliseconds to make (the service's
    model is parsed again), too much for every download and readiness probe.
    The clients are thread-safe."""
    from artifacts.s3 import S3Store

    return S3Store.connect(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint or None,
        region=region or None,
        access_key=access_key or None,
        secret_key=secret_key or None,
    )
