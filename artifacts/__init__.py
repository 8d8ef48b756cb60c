"""The artifact store: where output artifacts live, by their content's sha256.

One small interface (store.ArtifactStore) with two implementations: a
directory (the embedded default, under the data directory) and S3-compatible
object storage for production (s3.py). Nothing here imports Django except
`from_settings`, which reads the configuration when it is called.
"""

from __future__ import annotations

from artifacts.store import ArtifactStore, Blob, FilesystemStore, StoreError

__all__ = ["ArtifactStore", "Blob", "FilesystemStore", "StoreError", "from_settings"]


def from_settings() -> ArtifactStore:
    """The store the settings configure (FLOWDECK_ARTIFACT_*)."""
    from pathlib import Path

    from django.conf import settings

    if settings.FLOWDECK_ARTIFACT_STORE == "s3":
        from artifacts.s3 import S3Store

        return S3Store.from_settings()
    return FilesystemStore(Path(settings.DATA_DIR) / "artifacts")
