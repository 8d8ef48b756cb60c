"""A large artifact streams: through each store (put_file, open whole and
ranged, fetch) and through the download endpoint, both as Django's test
client serves it and as Daphne does (ASGI), Python's peak memory stays far
below the artifact's size. tracemalloc counts every thread of this process
(boto3's transfer threads included); the S3 server is another process.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.asgi import get_asgi_application

from accounts import tokens
from artifacts.store import ArtifactStore, fetch
from tests.conftest import drive_run, submit_run
from workflows.models import AttemptOutput

SIZE = 64 * 1024 * 1024
# Far below the size: reading 1 MiB at a time holds about 2 MiB, an S3 upload
# about 2 MiB for each part it has in flight, however large the file. Whatever
# holds a whole blob, or a quarter of it, fails.
LIMIT = SIZE // 4
RANGE = (SIZE // 4 + 7, SIZE // 4 * 3 + 11)  # [start, end): 32 MiB in the middle


@dataclass
class Peak:
    bytes: int = 0
    figures: dict[str, int] = field(default_factory=dict)


@contextmanager
def peak_memory(what: str, peak: Peak) -> Iterator[None]:
    """The most memory Python held at once while the block ran (beyond what
    it held when it began)."""
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        yield
        _, top = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    peak.bytes = top - start
    peak.figures[what] = peak.bytes
    print(f"peak memory, {what}: {peak.bytes / 2**20:.2f} MiB of {SIZE / 2**20:g} MiB")


def digest_of(chunks: Iterable[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def read_chunks(readable: Any, size: int = 1024 * 1024) -> Iterator[bytes]:
    while chunk := readable.read(size):
        yield chunk


@dataclass(frozen=True)
class BigFile:
    path: Path
    sha256: str
    range_sha256: str


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> BigFile:
    """64 MiB, written sparsely (instant): zeros with random blocks scattered
    through it, so a chunk out of place changes the digest."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    with open(path, "wb") as out:
        out.truncate(SIZE)
        for offset in range(0, SIZE, 3 * 1024 * 1024 + 4099):
            out.seek(offset)
            out.write(os.urandom(4096))
    with open(path, "rb") as source:
        sha256, _ = digest_of(read_chunks(source))
        source.seek(RANGE[0])
        part = _bounded(source, RANGE[1] - RANGE[0])
        range_sha256, _ = digest_of(part)
    return BigFile(path, sha256, range_sha256)


def _bounded(source: Any, length: int) -> Iterator[bytes]:
    while length > 0:
        chunk = source.read(min(length, 1024 * 1024))
        if not chunk:
            return
        length -= len(chunk)
        yield chunk


def test_a_large_blob_streams_through_the_store(
    store: ArtifactStore, big_file: BigFile, tmp_path: Path
) -> None:
    peak = Peak()
    with peak_memory(f"{store.name} put_file", peak):
        blob = store.put_file(big_file.path)
    assert (blob.sha256, blob.size) == (big_file.sha256, SIZE)
    assert peak.bytes < LIMIT

    with (
        peak_memory(f"{store.name} open (whole)", peak),
        closing(store.open(blob.sha256)) as whole,
    ):
        assert digest_of(read_chunks(whole)) == (big_file.sha256, SIZE)
    assert peak.bytes < LIMIT

    with (
        peak_memory(f"{store.name} open (a 32 MiB range)", peak),
        closing(store.open(blob.sha256, *RANGE)) as part,
    ):
        found = digest_of(read_chunks(part))
    assert found == (big_file.range_sha256, RANGE[1] - RANGE[0])
    assert peak.bytes < LIMIT

    copy = tmp_path / "copy.bin"
    with peak_memory(f"{store.name} fetch", peak):
        fetch(store, blob.sha256, copy)
    assert peak.bytes < LIMIT
    with open(copy, "rb") as fetched:
        assert digest_of(read_chunks(fetched)) == (big_file.sha256, SIZE)


@pytest.fixture
def big_artifact(
    configured_store: ArtifactStore, big_file: BigFile, diamond: Any, user: Any
) -> str:
    """The download URL of a task's 64 MiB artifact, in the configured store."""
    blob = configured_store.put_file(big_file.path)
    run = drive_run(submit_run(diamond.latest_version, user=user))
    attempt = run.tasks.get(name="a").attempts.get()
    AttemptOutput.objects.create(
        attempt=attempt,
        kind=AttemptOutput.Kind.ARTIFACT,
        name="big",
        size=blob.size,
        sha256=blob.sha256,
        filename="big.bin",
    )
    return f"/api/runs/{run.pk}/tasks/a/artifacts/big/"


@pytest.mark.django_db(transaction=True)
def test_the_download_endpoint_streams_a_large_artifact(
    api: Any, big_artifact: str, big_file: BigFile, configured_store: ArtifactStore
) -> None:
    peak = Peak()
    name = configured_store.name
    assert api.get(big_artifact, HTTP_RANGE="bytes=0-0").status_code == 206  # warm up
    with peak_memory(f"{name} download, test client", peak):
        response = api.get(big_artifact)
        assert response.status_code == 200
        assert digest_of(response.streaming_content) == (big_file.sha256, SIZE)
    assert response["Content-Length"] == str(SIZE)
    assert peak.bytes < LIMIT

    start, end = RANGE
    with peak_memory(f"{name} ranged download, test client", peak):
        response = api.get(big_artifact, HTTP_RANGE=f"bytes={start}-{end - 1}")
        assert response.status_code == 206
        found = digest_of(response.streaming_content)
    assert found == (big_file.range_sha256, end - start)
    assert peak.bytes < LIMIT


@pytest.mark.django_db(transaction=True)
def test_the_download_streams_under_asgi_as_daphne_serves_it(
    user: Any, big_artifact: str, big_file: BigFile, configured_store: ArtifactStore
) -> None:
    """Django's ASGI handler turns a synchronous iterator into a list before
    sending it (StreamingHttpResponse.__aiter__): a whole blob in memory."""
    _, key = tokens.issue(user, "download")
    app = get_asgi_application()
    headers = {"authorization": f"Token {key}"}
    async_to_sync(asgi_get)(app, big_artifact, {**headers, "range": "bytes=0-0"})
    peak = Peak()
    with peak_memory(f"{configured_store.name} download, ASGI", peak):
        # async_to_sync: the view runs in this thread, on the test's connection.
        status, answered, (sha256, size) = async_to_sync(asgi_get)(
            app, big_artifact, headers
        )
    assert (status, sha256, size) == (200, big_file.sha256, SIZE)
    assert answered["content-length"] == str(SIZE)
    assert peak.bytes < LIMIT


async def asgi_get(
    app: Callable[..., Any], path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], tuple[str, int]]:
    """GET `path` from an ASGI app the way a server would, hashing the body
    as it arrives instead of keeping it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(name.encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    requested = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays connected
        return {"type": "http.disconnect"}

    status = 0
    response_headers: dict[str, str] = {}
    digest, size = hashlib.sha256(), 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update(
                (name.decode().lower(), value.decode())
                for name, value in message["headers"]
            )
        elif message["type"] == "http.response.body":
            digest.update(message.get("body", b""))
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    done.set()
    return status, response_headers, (digest.hexdigest(), size)
