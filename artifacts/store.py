"""The artifact store's interface and its filesystem implementation.

Artifacts are content-addressed: a blob's key is the sha256 of its bytes, so
the same file stored twice is kept once and a key never changes meaning.
Everything streams: a 1 GiB artifact never sits in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHUNK = 1024 * 1024


class StoreError(Exception):
    """The store could not do what was asked (unreachable, missing bucket...)."""


@dataclass(frozen=True, slots=True)
class Blob:
    sha256: str
    size: int


def hash_file(path: Path) -> Blob:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Blob(digest.hexdigest(), size)


class Readable(Protocol):
    """An open blob: read it in chunks, then close it (contextlib.closing)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class ArtifactStore(Protocol):
    name: str

    def put_file(self, path: Path) -> Blob:
        """Store the file's bytes under their sha256; storing them again is a no-op."""

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> Readable:
        """The blob's bytes from `start` up to (not including) `end`, streamed."""

    def size(self, sha256: str) -> int | None:
        """The blob's size; None when the store does not have it."""

    def delete(self, sha256: str) -> None:
        """Forget the blob; idempotent."""

    def keys(self) -> Iterator[str]:
        """Every blob's sha256 (for garbage collection)."""

    def check(self) -> str | None:
        """Why the store cannot be used now (readiness); None when it can."""


def fetch(store: ArtifactStore, sha256: str, destination: Path) -> None:
    """Copy a blob to a file, streamed, checking its sha256 on the way."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = destination.with_name(destination.name + ".partial")
    with closing(store.open(sha256)) as source, open(partial, "wb") as target:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            target.write(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise StoreError(f"artifact {sha256[:12]} is corrupt in the store")
    partial.replace(destination)


class FilesystemStore:
    """Blobs as files under a directory: `<root>/ab/cdef...` (the embedded
    default, and a volume shared by every worker if one is mounted)."""

    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise StoreError(f"not an artifact key: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def put_file(self, path: Path) -> Blob:
        blob = hash_file(path)
        target = self._path(blob.sha256)
        if target.exists():
            return blob
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy aside, then rename: a reader never sees a half-written blob.
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
                shutil.copyfileobj(source, out, CHUNK)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return blob

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> Readable:
        try:
            handle = open(self._path(sha256), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise StoreError(f"artifact {sha256[:12]} is not in the store") from None
        handle.seek(start)
        if end is None:
            return handle
        return _Bounded(handle, end - start)

    def size(self, sha256: str) -> int | None:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(sha256).unlink()

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if len(folder.name) == 2 and folder.is_dir():
                for blob in folder.iterdir():
                    if not blob.name.startswith("."):
                        yield folder.name + blob.name

    def check(self) -> str | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return f"cannot create {self.root}: {error.strerror}"
        if not os.access(self.root, os.W_OK):
            return f"{self.root} is not writable"
        return None


class _Bounded:
    """A file read only up to `remaining` bytes (an HTTP range)."""

    def __init__(self, handle: Readable, remaining: int) -> None:
        self._handle = handle
        self._remaining = max(0, remaining)

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if size < 0 or size > self._remaining:
            size = self._remaining
        data = self._handle.read(size)
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._handle.close()
