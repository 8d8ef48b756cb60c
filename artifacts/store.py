"""The artifact store's interface and its filesystem implementation.

Artifacts are content-addressed: a blob's key is the sha256 of its bytes, so
the same file stored twice is kept once and a key never changes meaning.
Everything streams: a 1 GiB artifact never sits in memory.

Garbage collection (workflows/services/retention.py) deletes blobs no row
references once they are older than a grace period, by the store's own
clock: storing a blob again refreshes its time, and `delete_stale` looks at
the time again as it deletes, so a blob stored again while the collector runs
(by an attempt whose row is not committed yet) is kept.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

CHUNK = 1024 * 1024


class StoreError(Exception):
    """The store could not do what was asked (unreachable, missing bucket...)."""


@dataclass(frozen=True, slots=True)
class Blob:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob as the store lists it: `modified` is when it was last stored
    (written, or stored again), by the store's clock, in UTC."""

    sha256: str
    size: int
    modified: datetime


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
        """Store the file's bytes under their sha256. Storing them again
        uploads nothing but refreshes the blob's time (see StoredBlob)."""

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> Readable:
        """The blob's bytes from `start` up to (not including) `end`, streamed."""

    def size(self, sha256: str) -> int | None:
        """The blob's size; None when the store does not have it."""

    def delete(self, sha256: str) -> None:
        """Forget the blob; idempotent."""

    def keys(self) -> Iterator[str]:
        """Every blob's sha256."""

    def blobs(self) -> Iterator[StoredBlob]:
        """Every blob with its size and time, streamed (for garbage collection)."""

    def delete_stale(self, sha256: str, before: datetime) -> bool:
        """Delete the blob unless it was stored at or after `before` (looking
        at its time again now); True when it was deleted."""

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
        try:
            # Already there: refresh its time, so the garbage collector's grace
            # period counts from now. If the collector took it away meanwhile
            # (delete_stale), this fails and the blob is written again.
            os.utime(target)
            return blob
        except FileNotFoundError:
            pass
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
        for path in self._files():
            yield path.parent.name + path.name

    def blobs(self) -> Iterator[StoredBlob]:
        for path in self._files():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # deleted since it was listed
            yield StoredBlob(
                path.parent.name + path.name,
                stat.st_size,
                datetime.fromtimestamp(stat.st_mtime, UTC),
            )

    def _files(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if len(folder.name) == 2 and folder.is_dir():
                for blob in folder.iterdir():
                    # Dot files are uploads in progress and blobs being deleted.
                    if not blob.name.startswith("."):
                        yield blob

    def delete_stale(self, sha256: str, before: datetime) -> bool:
        target = self._path(sha256)
        # Move it aside first, then look at its time: a put_file that touched
        # it before the move shows in that time (and the blob is put back); one
        # after the move finds no blob and writes it again. So no store that
        # reported success is lost. (A reader misses the blob only while it is
        # aside, and only through a row committed after the collector looked.)
        aside = target.with_name(f".deleting-{target.name}-{os.getpid()}")
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            return False
        modified = datetime.fromtimestamp(aside.stat().st_mtime, UTC)
        if modified >= before:
            os.replace(aside, target)  # the same bytes, whoever wrote them
            return False
        aside.unlink()
        return True

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
