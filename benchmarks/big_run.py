"""A 10,000-task run: submitting it, its REST detail and task pages, and its run
page in Chromium while tasks finish at 200 a second.

The workflow is 100 stages, each a gate task and 99 workers that depend on it
(the next stage's gate depends on the previous gate), so the run page draws
each stage's workers as one collapsed group. A 10-task workflow of the same
shape (one gate, 9 workers) is the baseline, measured in the same run.

- *submit*: `submit_run` in this process (the task rows and the first event,
  one transaction), and `POST /api/workflows/{id}/runs/` against the server
  (its first request parses the spec: reported apart as *cold*);
- *detail*: `GET /api/runs/{id}/` (bytes and ms) and the first page of
  `GET /api/runs/{id}/tasks/?status=Running`;
- *open*: from navigation start to the first frame in which the graph's nodes
  are drawn and the task summary is on the page, by the page's clock;
- *live*: this process finishes tasks at `--rate` a second (each in its own
  committed transaction, starting the next task as one ends, as a worker
  would: three events per task); for every event the page receives,
  event-to-paint = the frame that paints the changed summary - the event's
  created_at (one clock: the same machine);
- *find*: typing a task's name into the page's finder until its drawer shows.

A real server (Django's runserver under Daphne, SQLite, the embedded mode's
event tail) and Debian's Chromium driven by Playwright.

    .venv/bin/python benchmarks/big_run.py [--repeat 5] [--rate 200] [--seconds 10]
    .venv/bin/python benchmarks/big_run.py --submit-only --postgres  # on PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.editor import PASSWORD, logged_in_page, start_server  # noqa: E402

STAGE = 100


def configure(data_dir: Path, database: str | None = None) -> dict[str, str]:
    env = {
        "FLOWDECK_DATA_DIR": str(data_dir),
        "DATABASE_URL": database or f"sqlite:///{data_dir}/bench.sqlite3",
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


def staged(name: str, count: int) -> dict[str, Any]:
    """`count` tasks in stages of STAGE (or one stage when fewer)."""
    width = min(STAGE, count)
    tasks: list[dict[str, Any]] = []
    for stage in range(count // width):
        gate = f"s{stage}-gate"
        task: dict[str, Any] = {"name": gate, "command": ["true"]}
        if stage:
            task["dependencies"] = [f"s{stage - 1}-gate"]
        tasks.append(task)
        for worker in range(width - 1):
            tasks.append(
                {
                    "name": f"s{stage}-w{worker}",
                    "command": ["true"],
                    "dependencies": [gate],
                }
            )
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"defaults": {"image": "busybox:1.36"}, "tasks": tasks},
    }


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[float, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310
            self.base + path,
            data,
            {
                "Authorization": f"Token {self.token}",
                "Content-Type": "application/json",
            },
            method=method,
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            content = response.read()
        return (time.perf_counter() - started) * 1e3, content


def finish_tasks(run_id: int, rate: float, seconds: float) -> float:
    """Finish tasks at `rate` a second for `seconds`, each in its own
    transaction that also starts the one `ahead` places later (Queued, Running),
    the way a worker keeps a steady number running. Returns the rate reached."""
    from django.db import connection

    from flowcore.states import TaskStatus
    from workflows.models import TaskRun
    from workflows.services.runlock import locked_run

    rows = {
        task.name: task
        for task in TaskRun.objects.filter(run_id=run_id).order_by("position")
    }
    names = list(rows)
    ahead = min(50, len(names) // 2)

    def start(txn: Any, name: str) -> None:
        task = rows[name]
        txn.set_task_status(task, TaskStatus.QUEUED)
        txn.set_task_status(task, TaskStatus.RUNNING)

    with locked_run(run_id) as txn:
        for name in names[:ahead]:
            start(txn, name)
    total = min(len(names) - ahead, int(rate * seconds))
    began = time.perf_counter()
    for index in range(total):
        due = began + index / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        with locked_run(run_id) as txn:
            txn.set_task_status(rows[names[index]], TaskStatus.SUCCEEDED)
            start(txn, names[index + ahead])
    elapsed = time.perf_counter() - began
    connection.close()
    return total / elapsed


# Installed before the page's scripts: notes when each events message arrives
# and, whenever the task summary changes, the frame that paints it.
WATCH = """(() => {
  window.__arrived = [];
  window.__paints = [];
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (message) => {
      try {
        const data = JSON.parse(message.data);
        if (data.type === 'events') {
          for (const e of data.events) window.__arrived.push(Date.parse(e.created_at));
        }
      } catch (error) {}
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
  const observe = () => {
    const summary = document.querySelector('[data-testid=task-summary]');
    if (!summary) { requestAnimationFrame(observe); return; }
    new MutationObserver(() => {
      const upTo = window.__arrived.length;
      requestAnimationFrame(() => {
        window.__paints.push([performance.timeOrigin + performance.now(), upTo]);
      });
    }).observe(summary, {childList: true, subtree: true, characterData: true});
  };
  observe();
})()"""

OPENED = """() => new Promise((resolve) => {
  let last = -1;
  const check = () => {
    const shown = document.querySelectorAll('.react-flow__node');
    const hidden = [...shown].filter((el) => el.style.visibility === 'hidden');
    const summary = document.querySelector('[data-testid=task-summary]');
    const ready = summary && shown.length > 0 && hidden.length === 0;
    if (ready && shown.length === last) resolve([performance.now(), shown.length]);
    else { last = ready ? shown.length : -1; requestAnimationFrame(check); }
  };
  check();
})"""

LATENCIES = """() => {
  // Each event is painted by the first frame after a summary change that
  // came once it had arrived.
  const arrived = window.__arrived, paints = window.__paints;
  const out = [];
  let next = 0;
  for (const [at, upTo] of paints) {
    for (; next < upTo; next++) out.push(at - arrived[next]);
  }
  return [out, arrived.length];
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a throwaway PostgreSQL (tests/plugins/services.py) instead of SQLite",
    )
    parser.add_argument(
        "--submit-only", action="store_true", help="only save and submit"
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="flowdeck-bench-big-run-"))
    database = None
    if args.postgres:
        from tests.plugins.services import start_postgres

        # Its own directory: the server makes its data directory private to
        # this account, which would lock PostgreSQL's user out of it.
        database = start_postgres(Path(tempfile.mkdtemp(prefix="flowdeck-bench-pg-")))
    env = configure(data_dir, database)

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from playwright.sync_api import sync_playwright

    from accounts.tokens import issue
    from workflows import blueprints
    from workflows.models import Membership, Project, Role, Run, RunStatus
    from workflows.services.submit import create_workflow, submit_run

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password=PASSWORD)
    project = Project.objects.create(name="bench")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    _, token = issue(user, "bench")
    sizes = [10, args.tasks]
    workflows = {}
    engine = "PostgreSQL" if args.postgres else "SQLite"
    load = os.getloadavg()[0]
    print(f"{engine}, {os.cpu_count()} CPUs, load {load:.1f}, median of {args.repeat}")
    print("\n| tasks | save (ms) | submit in process (ms) | cold (ms) |")
    print("|---:|---:|---:|---:|")
    for count in sizes:
        document = staged(f"stages-{count}", count)
        started = time.perf_counter()
        workflows[count] = create_workflow(document, author=user, project=project)
        saved = (time.perf_counter() - started) * 1e3
        version = workflows[count].latest_version
        blueprints._cache.clear()  # as a fresh process would
        started = time.perf_counter()
        submit_run(version, user=user)
        cold = (time.perf_counter() - started) * 1e3
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            submit_run(version, user=user)
            times.append((time.perf_counter() - started) * 1e3)
        submitted = statistics.median(times)
        print(f"| {count:,} | {saved:.0f} | {submitted:.0f} | {cold:.0f} |", flush=True)
    if args.submit_only:
        return

    with start_server(env, data_dir / "server.log") as base:
        api = Api(base, token)
        print(
            "\n| tasks | POST runs (ms) | first POST, cold (ms) "
            "| GET run (ms) | GET run (bytes) | GET tasks?status=Running (ms) |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        runs: dict[int, int] = {}
        for count in sizes:
            path = f"/api/workflows/{workflows[count].pk}/runs/"
            cold, _ = api.call("POST", path, {})
            posts, gets, pages = [], [], []
            size = 0
            for _ in range(args.repeat):
                took, content = api.call("POST", path, {})
                posts.append(took)
                run_id = json.loads(content)["id"]
                took, content = api.call("GET", f"/api/runs/{run_id}/")
                gets.append(took)
                size = len(content)
                took, _ = api.call("GET", f"/api/runs/{run_id}/tasks/?status=Running")
                pages.append(took)
            runs[count] = run_id
            print(
                f"| {count:,} | {statistics.median(posts):.0f} | {cold:.0f} "
                f"| {statistics.median(gets):.0f} | {size:,} "
                f"| {statistics.median(pages):.0f} |",
                flush=True,
            )
        for run_id in runs.values():
            Run.objects.filter(pk=run_id).update(status=RunStatus.RUNNING)

        with sync_playwright() as playwright:
            browser, page = logged_in_page(playwright, base)
            page.add_init_script(WATCH)
            print(
                f"\nChromium {browser.version}\n\n"
                "| tasks | open (ms) | nodes drawn | find a task, type to drawer (ms) |"
            )
            print("|---:|---:|---:|---:|")
            for count, run_id in runs.items():
                opens, finds = [], []
                drawn = 0
                target = f"s{count // STAGE // 2}-w42" if count >= STAGE else "s0-w4"
                for _ in range(args.repeat):
                    page.goto(f"{base}/runs/{run_id}/", wait_until="commit")
                    at, drawn = page.evaluate(OPENED)
                    opens.append(at)
                    page.wait_for_timeout(300)
                    started = time.perf_counter()
                    page.fill("[data-testid=find-task]", target)
                    page.press("[data-testid=find-task]", "Enter")
                    page.wait_for_selector(f'.fd-drawer[data-task="{target}"]')
                    finds.append((time.perf_counter() - started) * 1e3)
                    page.goto("about:blank")
                print(
                    f"| {count:,} | {statistics.median(opens):.0f} | {drawn:,} "
                    f"| {statistics.median(finds):.0f} |",
                    flush=True,
                )

            print(
                "\n| tasks | finishing (tasks/s) | events received "
                "| event-to-paint p50 (ms) | p99 (ms) | max (ms) |"
            )
            print("|---:|---:|---:|---:|---:|---:|")
            for count, run_id in runs.items():
                page.goto(f"{base}/runs/{run_id}/", wait_until="commit")
                page.evaluate(OPENED)
                page.wait_for_timeout(1000)
                reached: list[float] = []
                seconds = args.seconds if count > 10 else min(args.seconds, 0.2)
                worker = threading.Thread(
                    target=lambda out, *call: out.append(finish_tasks(*call)),
                    args=(reached, run_id, args.rate, seconds),
                )
                worker.start()
                worker.join()
                page.wait_for_timeout(1500)
                latencies, received = page.evaluate(LATENCIES)
                if not latencies:
                    print(f"| {count:,} | {reached[0]:.0f} | {received} | - | - | - |")
                    continue
                print(
                    f"| {count:,} | {reached[0]:.0f} | {received:,} "
                    f"| {statistics.median(latencies):.0f} "
                    f"| {percentile(latencies, 0.99):.0f} | {max(latencies):.0f} |",
                    flush=True,
                )
            browser.close()


if __name__ == "__main__":
    main()
