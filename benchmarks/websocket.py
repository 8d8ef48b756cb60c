"""Websocket fan-out on the production topology: PostgreSQL, Redis, one Daphne
web process and one Celery worker (local backend), N clients watching one
200-task run.

For every event every client receives, latency = arrival time - the event's
created_at (the moment its transaction took it, before the commit): the whole
path of commit, publish through Redis, Daphne and the socket. The baseline is
the same run shape watched by a single client, measured in the same
invocation. Every client's sequence numbers are checked: none missed, none
twice, none out of order.

    .venv/bin/python benchmarks/websocket.py [--clients 200] [--tasks 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Not this directory: `import websocket` must find the client library, not us.
sys.path[0] = str(ROOT)


from benchmarks.throughput import cpu_seconds  # noqa: E402 (after sys.path)

# Whose CPU time to report: the web process, the worker, and these clients.
PROCESSES: dict[str, int] = {"clients": os.getpid()}


def start_services(workdir: Path) -> None:
    from tests.plugins.services import start_postgres, start_redis

    os.environ["DATABASE_URL"] = start_postgres(workdir)
    os.environ["REDIS_URL"] = start_redis(workdir)
    os.environ["FLOWDECK_DATA_DIR"] = str(workdir / "data")
    os.environ["FLOWDECK_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()


def document(tasks: int) -> dict[str, Any]:
    """Layers of ten: a run that keeps several tasks changing state at once."""
    width = 10
    spec = []
    for index in range(tasks):
        layer = index // width
        deps = [f"t{(layer - 1) * width + i}" for i in range(width)] if layer else []
        # The first layer sleeps so that every client is connected before the
        # run's events start.
        command = ["sleep", "5"] if layer == 0 else ["true"]
        spec.append({"name": f"t{index}", "command": command, "dependencies": deps})
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": f"bench-ws-{tasks}"},
        "spec": {"defaults": {"image": "none"}, "tasks": spec},
    }


class Watcher:
    """One client: a snapshot, then events until the run's final event."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.latencies: list[float] = []
        self.by_seq: dict[int, float] = {}
        self.error: str | None = None

    async def watch(self, url: str, token: str) -> None:
        from websockets.asyncio.client import connect

        try:
            async with connect(
                url,
                additional_headers={"Authorization": f"Token {token}"},
                max_size=None,
                open_timeout=120,
            ) as socket:
                snapshot = json.loads(await socket.recv())
                assert snapshot["type"] == "snapshot", snapshot
                self.seqs = list(range(1, snapshot["seq"] + 1))
                while True:
                    message = json.loads(await socket.recv())
                    arrived = time.time()
                    assert message["type"] == "events", message
                    for event in message["events"]:
                        self.seqs.append(event["seq"])
                        created = datetime.fromisoformat(event["created_at"])
                        self.latencies.append(arrived - created.timestamp())
                        self.by_seq[event["seq"]] = self.latencies[-1]
                    last = message["events"][-1]
                    if last["kind"] == "run" and last["status"] in (
                        "Succeeded",
                        "Failed",
                    ):
                        return
        except Exception as error:  # reported with the results
            self.error = repr(error)


def watch(
    port: int, token: str, workflow: Any, user: Any, clients: int
) -> tuple[list[Watcher], Any]:
    """Submit a run and watch it with `clients` websockets (one event loop,
    the websockets library's C-accelerated framing: the clients must cost the
    shared CPUs as little as possible)."""
    from workflows.models import Run
    from workflows.services.submit import submit_run

    run = submit_run(workflow.latest_version, user=user)
    url = f"ws://127.0.0.1:{port}/ws/runs/{run.pk}/"
    watchers = [Watcher() for _ in range(clients)]

    async def everyone() -> None:
        await asyncio.wait_for(
            asyncio.gather(*(watcher.watch(url, token) for watcher in watchers)),
            timeout=600,
        )

    before = {name: cpu_seconds(pid) for name, pid in PROCESSES.items()}
    asyncio.run(everyone())
    used = {name: cpu_seconds(pid) - before[name] for name, pid in PROCESSES.items()}
    print(
        "  CPU seconds: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in used.items()),
        flush=True,
    )
    run = Run.objects.get(pk=run.pk)
    return watchers, run


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summarize(
    label: str, watchers: list[Watcher], run: Any, by_seq: bool = False
) -> dict[str, float]:
    errors = [w.error for w in watchers if w.error]
    assert not errors, errors[:3]
    expected = list(range(1, run.last_seq + 1))
    broken = sum(1 for w in watchers if w.seqs != expected)
    latencies = [value for w in watchers for value in w.latencies]
    row = {
        "p50": statistics.median(latencies) * 1e3,
        "p99": percentile(latencies, 0.99) * 1e3,
        "max": max(latencies) * 1e3,
        "events": run.last_seq,
        "deliveries": len(latencies),
        "broken": broken,
    }
    if len(watchers) > 1 and by_seq:
        seqs = sorted({seq for w in watchers for seq in w.by_seq})
        worst = sorted(
            seqs,
            key=lambda seq: (
                -statistics.median(w.by_seq[seq] for w in watchers if seq in w.by_seq)
            ),
        )[:15]
        for seq in sorted(worst):
            values = [w.by_seq[seq] for w in watchers if seq in w.by_seq]
            print(f"  seq {seq}: median {statistics.median(values) * 1e3:.0f} ms")
    print(
        f"| {label} | {len(watchers)} | {row['events']:,} | {row['deliveries']:,} "
        f"| {row['p50']:.1f} | {row['p99']:.1f} | {row['max']:.1f} "
        f"| {broken} |",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--by-seq", action="store_true", help="print the slowest events by seq"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="flowdeck-bench-ws-"))
    start_services(workdir)

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts import tokens
    from k8s_runner.management.commands.run_embedded import web_command, worker_command
    from workflows.models import Membership, Project, Role
    from workflows.services.submit import create_workflow

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    project = Project.objects.create(name="bench")
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    token = tokens.issue(user, "bench")[1]
    workflow = create_workflow(document(args.tasks), author=user, project=project)

    env = {**os.environ, "FLOWDECK_SERVE_STATIC": "false"}
    port = _free_port()
    logs = [open(workdir / name, "wb") for name in ("worker.log", "web.log")]  # noqa: SIM115
    worker = subprocess.Popen(
        worker_command(beat=False, loglevel="WARNING"),
        env=env,
        cwd=ROOT,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    web = subprocess.Popen(
        web_command("127.0.0.1", port),
        env=env,
        cwd=ROOT,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    PROCESSES.update(daphne=web.pid, worker=worker.pid)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        time.sleep(2)  # the worker boots
        print(
            f"{args.tasks}-task run (layers of 10 `true` tasks after a first "
            "layer of `sleep 5`), Daphne + one Celery worker + Redis + "
            "PostgreSQL, all on this machine"
        )
        print(
            "| watchers | clients | events per run | deliveries "
            "| p50 ms | p99 ms | max ms | clients with a gap or reorder |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        rows: dict[str, list[dict[str, float]]] = {"1": [], "N": []}
        for _ in range(args.repeat):
            watchers, run = watch(port, token, workflow, user, 1)
            rows["1"].append(summarize("baseline: one client", watchers, run))
            watchers, run = watch(port, token, workflow, user, args.clients)
            rows["N"].append(
                summarize(f"{args.clients} clients", watchers, run, args.by_seq)
            )
        base = statistics.median(r["p99"] for r in rows["1"])
        many = statistics.median(r["p99"] for r in rows["N"])
        p50 = statistics.median(r["p50"] for r in rows["N"])
        print(
            f"\nmedian of {args.repeat}: {args.clients} clients p50 {p50:.1f} ms, "
            f"p99 {many:.1f} ms; one client p99 {base:.1f} ms "
            f"(ratio {many / base:.1f}x)"
        )
    finally:
        for process in (web, worker):
            process.terminate()
            process.wait(timeout=30)
        for log in logs:
            log.close()


def _free_port() -> int:
    from tests.net import free_port

    return free_port()


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
