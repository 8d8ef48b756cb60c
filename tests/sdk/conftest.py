"""An embedded Flowdeck server for the SDK's and the CLI's tests, started once
per module the way tests/test_embedded.py starts one (`make run`'s mode:
SQLite, the filesystem broker, Daphne, a Celery worker, the local backend)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_embedded import Server, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve(Server(tmp_path_factory.mktemp("server") / "data"))


def url_of(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}"
