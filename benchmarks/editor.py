"""The DAG editor in Chromium: how long a workflow of 500, 2,000 and 10,000 tasks
takes to open, and how smooth dragging one of its nodes is.

A real server (Django's runserver on SQLite, no worker needed) and Debian's
Chromium driven by Playwright. Every workflow is a layered DAG, 20 tasks wide
(2 for the baseline), each task depending on two of the layer above. "Open" is
from navigation start to the first frame after every node and every edge is in
the page (React Flow draws an edge once both its nodes are measured), timed by
the page's own clock. Past 300 tasks the editor opens on the first tasks at a
readable zoom and draws only what is in view (the minimap shows the whole), so
"nodes drawn" is what was on screen. Each workflow opens twice: with saved
positions (spec.ui, as the editor saves it) and without (laid out by dagre in
the browser on open). "Drag" moves one node to the middle of the canvas in 30
mouse steps and records the frames the page paints meanwhile: the median and
the worst frame interval, and the wall time until the position is committed to
the document. A 10-task workflow measured in the same run is the baseline.

    .venv/bin/python benchmarks/editor.py [--repeat 5] [--sizes 10,500,2000,10000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-pw-123"
WIDTH = 20


def configure(data_dir: Path) -> dict[str, str]:
    env = {
        "FLOWDECK_DATA_DIR": str(data_dir),
        "DATABASE_URL": "sqlite:///bench.sqlite3",
        "FLOWDECK_LOG_LEVEL": "WARNING",
        "FLOWDECK_SERVE_STATIC": "true",
    }
    for key in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(key, None)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    return {**os.environ}


def layered(name: str, count: int, positions: bool) -> dict[str, Any]:
    tasks = []
    ui: dict[str, dict[str, int]] = {}
    width = min(WIDTH, max(2, count // 5))
    for index in range(count):
        layer, column = divmod(index, width)
        deps = []
        if layer:
            above = (layer - 1) * width
            deps = sorted({f"t{above + column}", f"t{above + (column + 7) % width}"})
        task: dict[str, Any] = {"name": f"t{index}", "command": ["true"]}
        if deps:
            task["dependencies"] = deps
        tasks.append(task)
        ui[f"t{index}"] = {"x": column * 210, "y": layer * 100}
    spec: dict[str, Any] = {"defaults": {"image": "busybox:1.36"}, "tasks": tasks}
    if positions:
        spec["ui"] = {"positions": ui}
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": spec,
    }


def edge_count(document: dict[str, Any]) -> int:
    return sum(len(task.get("dependencies", [])) for task in document["spec"]["tasks"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310
            return
        except Exception:  # noqa: BLE001
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


@contextlib.contextmanager
def start_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Django's runserver on a free port, its output in `log_path`: yields its
    base URL once /healthz answers, and stops it on the way out."""
    port = free_port()
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/healthz")
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def logged_in_page(playwright: Any, base: str) -> tuple[Any, Any]:
    """Chromium, and a page of it logged in to `base` as the user "bench"."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "bench")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return browser, page


OPENED = """([nodes, edges]) => new Promise((resolve) => {
  // Drawn: the nodes React Flow shows are all measured (visible), their edges
  // are in, and nothing changed over two frames.
  let last = -1;
  const check = () => {
    const shown = document.querySelectorAll('.react-flow__node');
    const hidden = [...shown].filter((el) => el.style.visibility === 'hidden');
    const lines = document.querySelectorAll('.react-flow__edge').length;
    const ready = shown.length > 0 && hidden.length === 0 &&
      (edges === 0 || lines > 0) && shown.length <= nodes;
    if (ready && shown.length === last) {
      resolve([performance.now(), shown.length, lines]);
    } else {
      last = ready ? shown.length : -1;
      requestAnimationFrame(check);
    }
  };
  check();
})"""


CHANGED = """(before) => new Promise((resolve) => {
  const check = () => {
    const now = document.querySelector('textarea[name=spec-text]').value;
    if (now !== before) resolve(true);
    else requestAnimationFrame(check);
  };
  check();
})"""

FRAMES_START = """() => {
  window.__frames = [];
  window.__recording = true;
  const tick = (t) => {
    window.__frames.push(t);
    if (window.__recording) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

FRAMES_STOP = """() => new Promise((resolve) => requestAnimationFrame(() => {
  window.__recording = false;
  const f = window.__frames;
  const gaps = f.slice(1).map((t, i) => t - f[i]);
  resolve(gaps);
}))"""


def open_editor(page: Any, url: str, nodes: int, edges: int) -> tuple[float, int]:
    """(ms from navigation start to drawn, nodes drawn)."""
    page.goto(url, wait_until="commit")
    at, shown, _ = page.evaluate(OPENED, [nodes, edges])
    return float(at), int(shown)


def drag(page: Any, name: str) -> tuple[float, float, float]:
    """(median frame ms, worst frame ms, wall ms until committed)."""
    locator = page.locator(f'.react-flow__node[data-id="{name}"]')
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    before = page.input_value("textarea[name=spec-text]")
    page.evaluate(FRAMES_START)
    started = time.perf_counter()
    page.mouse.move(x, y)
    page.mouse.down()
    # Towards the middle of the canvas: near its edge React Flow pans, which
    # would measure panning rather than dragging.
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    page.mouse.move(
        canvas["x"] + canvas["width"] / 2,
        canvas["y"] + canvas["height"] / 2 + 60,
        steps=30,
    )
    page.mouse.up()
    # Committed: the document (and so the text view) has the new position.
    # A promise polled in the page: wait_for_function compiles its predicate
    # with eval, which the site's Content-Security-Policy refuses.
    page.evaluate(CHANGED, before)
    wall = (time.perf_counter() - started) * 1e3
    gaps = page.evaluate(FRAMES_STOP)
    return statistics.median(gaps), max(gaps), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--sizes",
        default="10,500,2000,10000",
        help="workflow sizes in tasks, comma-separated (10 is the baseline)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    data_dir = Path(tempfile.mkdtemp(prefix="flowdeck-bench-editor-"))
    env = configure(data_dir)

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from playwright.sync_api import sync_playwright

    from workflows.models import Membership, Project, Role
    from workflows.services.submit import create_workflow

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password=PASSWORD)
    project = Project.objects.create(name="bench")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    cases = []
    for count in sizes:
        for positions in (True, False):
            name = f"layers-{count}-{'placed' if positions else 'unplaced'}"
            document = layered(name, count, positions)
            workflow = create_workflow(document, author=user, project=project)
            cases.append((count, positions, workflow.pk, edge_count(document)))

    with (
        start_server(env, data_dir / "server.log") as base,
        sync_playwright() as playwright,
    ):
        browser, page = logged_in_page(playwright, base)
        print(
            f"Chromium {browser.version}, {os.cpu_count()} CPUs, "
            f"median of {args.repeat}"
        )
        print(
            "| tasks (edges) | positions | open (ms) | nodes drawn "
            "| drag: median frame (ms) "
            "| drag: worst frame (ms) | drag: 30 steps to committed (ms) |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|")
        for count, positions, pk, edges in cases:
            opens, medians, worsts, walls = [], [], [], []
            drawn = 0
            for _ in range(args.repeat):
                url = f"{base}/workflows/{pk}/editor/"
                opened, drawn = open_editor(page, url, count, edges)
                opens.append(opened)
                # Let the first validation and the text view settle.
                page.wait_for_selector(
                    "[data-testid=validation-status]:text-is('Valid')"
                )
                page.wait_for_timeout(300)
                median, worst, wall = drag(page, "t5")
                medians.append(median)
                worsts.append(worst)
                walls.append(wall)
                # Leave without the unsaved-changes prompt.
                page.evaluate("window.onbeforeunload = null")
                page.goto("about:blank")
            print(
                f"| {count:,} ({edges:,}) | {'saved' if positions else 'laid out'} "
                f"| {statistics.median(opens):.0f} | {drawn:,} "
                f"| {statistics.median(medians):.1f} "
                f"| {statistics.median(worsts):.0f} "
                f"| {statistics.median(walls):.0f} |",
                flush=True,
            )
        browser.close()


if __name__ == "__main__":
    main()
