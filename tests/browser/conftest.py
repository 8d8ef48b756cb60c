"""A real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright against
Django's live test server.

Playwright brings its own driver; its browser downloads are never used (never
run `playwright install`). Without /usr/bin/chromium these tests are skipped,
except in CI (CI=true), where a missing browser is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)")


@pytest.fixture
def page(
    monkeypatch: pytest.MonkeyPatch, live_server: Any, tmp_path: Path
) -> Iterator[Any]:
    """A tab of a Chromium started for this test, with a fresh profile and no
    session cookie; `page.live_url(path)` is absolute.

    One browser per test, not per session: Playwright's sync API keeps an event
    loop running in this thread while it is started, and Django refuses ORM
    calls from a thread with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is
    set, which must not leak into other tests (`check --deploy` rejects it).
    """
    yield from _browser_tab(monkeypatch, live_server.url, tmp_path)


def _browser_tab(
    monkeypatch: pytest.MonkeyPatch, base_url: str, tmp_path: Path
) -> Iterator[Any]:
    _require_chromium()
    playwright_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
        )
        context.set_default_timeout(15_000)
        tab = context.new_page()
        tab.live_url = lambda path: f"{base_url}{path}"
        try:
            yield tab
        finally:
            context.close()
            # While the loop runs, Django keeps this thread's connections
            # apart (asgiref's Local follows the context), and nothing else
            # would close them: the test database could not be dropped.
            connections.close_all()


def _asgi_application() -> Any:
    # Runs in the server's process: the project's ASGI app, websockets included.
    from webapp.asgi import application

    return application


def _fresh_server_process() -> None:
    """In the forked server: the embedded topology, where the web process
    tails the RunEvent table (docs/live.md). The Redis push path is tested
    with a real Daphne, worker and Redis in tests/workflows; here the test
    process plays the worker, and its after-commit publishes, made while
    Playwright's loop runs in its thread, could not be relied on anyway."""
    from channels.layers import channel_layers
    from django.conf import settings

    channel_layers.backends.clear()
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    settings.FLOWDECK_LIVE_PUSH = False
    settings.FLOWDECK_LIVE_TAIL_SECONDS = 0.05


@pytest.fixture
def asgi_live_server(transactional_db: Any) -> Iterator[str]:
    """The whole ASGI application (HTTP and websockets) served by a real Daphne
    in a child process on a free port; yields its base URL.

    Django's live_server speaks WSGI only, so pages that hold a websocket need
    this one. The child is forked after the test database exists and inherits
    its settings (the test database's name, the suite's Redis for the channel
    layer); connections are closed first so that no socket is shared.
    """
    from daphne.testing import DaphneProcess

    connections.close_all()
    server = DaphneProcess("127.0.0.1", _asgi_application, setup=_fresh_server_process)
    server.daemon = True
    server.start()
    try:
        if not server.ready.wait(30):
            error = "" if server.errors.empty() else server.errors.get(False)[1]
            pytest.fail(f"Daphne did not start:\n{error}")
        yield f"http://127.0.0.1:{server.port.value}"
    finally:
        server.terminate()
        server.join(10)


@pytest.fixture
def live_page(
    monkeypatch: pytest.MonkeyPatch, asgi_live_server: str, tmp_path: Path
) -> Iterator[Any]:
    """Like `page`, against `asgi_live_server`: for pages with websockets."""
    yield from _browser_tab(monkeypatch, asgi_live_server, tmp_path)


def log_in(page: Any, username: str, password: str) -> None:
    """Sign in through the real login form."""
    page.goto(page.live_url("/login/"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def screenshot(page: Any, name: str) -> None:
    """Save a picture of the page under $FLOWDECK_TEST_SCREENSHOTS (a
    directory outside the repository) when it is set, for a person to look
    at how a state reads; nothing otherwise."""
    directory = os.environ.get("FLOWDECK_TEST_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)
