"""Websocket fan-out on the production topology: PostgreSQL, Redis, one or
more Daphne web processes and one Celery worker (local backend), N clients
watching one 200-task run (spread over the Daphnes in turn, and over one or
more client processes).

For every event every client receives, latency = arrival time - the event's
created_at (the moment its transaction took it, before the commit): the whole
path of commit, publish through Redis, Daphne and the socket. The baseline is
the same run shape watched by a single client, measured in the same
invocation. Every client's sequence numbers are checked: none missed, none
twice, none out of order.

CPU per delivered event is the Daphnes' CPU time over the run divided by the
events delivered (each event to each client counts once).

    .venv/bin/python benchmarks/websocket.py [--clients 200] [--tasks 200]
    .venv/bin/python benchmarks/websocket.py --daphnes 2 --clients 1000 \
        --client-processes 2 --first-sleep 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
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


def document(tasks: int, first_sleep: int = 5) -> dict[str, Any]:
    """Layers of ten: a run that keeps several tasks changing state at once."""
    width = 10
    spec = []
    for index in range(tasks):
        layer = index // width
        deps = [f"t{(layer - 1) * width + i}" for i in range(width)] if layer else []
        # The first layer sleeps so that every client is connected before the
        # run's events start.
        command = ["sleep", str(first_sleep)] if layer == 0 else ["true"]
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
    ports: list[int],
    token: str,
    workflow: Any,
    user: Any,
    clients: int,
    client_processes: int = 1,
) -> tuple[list[Watcher], Any, dict[str, float]]:
    """Submit a run and watch it with `clients` websockets, the i-th on the
    (i mod len(ports))-th Daphne, on one event loop per client process (the
    websockets library's C-accelerated framing: the clients must cost the
    shared CPUs as little as possible)."""
    from workflows.models import Run
    from workflows.services.submit import submit_run

    run = submit_run(workflow.latest_version, user=user)
    urls = [
        f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/runs/{run.pk}/"
        for i in range(clients)
    ]
    before = {name: sum(cpu_seconds(pid)) for name, pid in PROCESSES.items()}
    if client_processes <= 1:
        watchers, client_cpu = _watch_share(urls, token)
    else:
        shares = [urls[i::client_processes] for i in range(client_processes)]
        with multiprocessing.get_context("fork").Pool(client_processes) as pool:
            results = pool.starmap(_watch_share, [(share, token) for share in shares])
        watchers = [w for share, _ in results for w in share]
        client_cpu = sum(cpu for _, cpu in results)
    used = {
        name: sum(cpu_seconds(pid)) - before[name] for name, pid in PROCESSES.items()
    }
    used["clients"] = client_cpu
    print(
        "  CPU seconds: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in used.items()),
        flush=True,
    )
    run = Run.objects.get(pk=run.pk)
    return watchers, run, used


def _watch_share(urls: list[str], token: str) -> tuple[list[Watcher], float]:
    """Watch with one client per url on one event loop; (the watchers, the CPU
    seconds this took in this process)."""
    watchers = [Watcher() for _ in urls]

    async def everyone() -> None:
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    watcher.watch(url, token)
                    for watcher, url in zip(watchers, urls, strict=True)
                )
            ),
            timeout=600,
        )

    began = time.process_time()
    asyncio.run(everyone())
    return watchers, time.process_time() - began


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summarize(
    label: str,
    watchers: list[Watcher],
    run: Any,
    cpu: dict[str, float],
    by_seq: bool = False,
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
        # Daphne CPU per delivered event, microseconds.
        "cpu_us": sum(v for k, v in cpu.items() if k.startswith("daphne"))
        / max(1, len(latencies))
        * 1e6,
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
        f"| {broken} | {row['cpu_us']:.1f} | {os.getloadavg()[0]:.1f} |",
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
    parser.add_argument("--daphnes", type=int, default=1)
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument(
        "--first-sleep",
        type=int,
        default=5,
        help="seconds the first layer sleeps: every client connects meanwhile",
    )
    parser.add_argument(
        "--baseline",
        metavar="COMMIT",
        help="also serve the N clients from Daphnes running this commit's code "
        "(git archive of it), alternating with this checkout's",
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
    workflow = create_workflow(
        document(args.tasks, args.first_sleep), author=user, project=project
    )

    codes = {"": ROOT}
    if args.baseline:
        base = workdir / "baseline"
        base.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.baseline], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        codes[f"baseline {args.baseline[:10]}: "] = base
    env = {**os.environ, "FLOWDECK_SERVE_STATIC": "false"}
    processes: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(name: str, command: list[str], code: Path) -> subprocess.Popen[bytes]:
        log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115
        logs.append(log)
        process = subprocess.Popen(
            command,
            env={**env, "PYTHONPATH": str(code)},
            cwd=code,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    worker = start("worker", worker_command(beat=False, loglevel="WARNING"), ROOT)
    PROCESSES["worker"] = worker.pid
    ports: dict[str, list[int]] = {}
    for label, code in codes.items():
        ports[label] = []
        for index in range(args.daphnes):
            port = _free_port()
            name = f"daphne{label and '-baseline'}-{index}"
            command = web_command("127.0.0.1", port)
            # Daphne closes a handshake not done in 5 s: 1,000 clients
            # connecting at once on a loaded machine take longer.
            command[-1:-1] = ["--websocket_connect_timeout", "120"]
            PROCESSES[name] = start(name, command, code).pid
            ports[label].append(port)
    try:
        for port_list in ports.values():
            for port in port_list:
                _wait_for(f"http://127.0.0.1:{port}/healthz")
        time.sleep(2)  # the worker boots
        print(
            f"{args.tasks}-task run (layers of 10 `true` tasks after a first "
            f"layer of `sleep {args.first_sleep}`), {args.daphnes} Daphne(s) + one "
            "Celery worker + Redis + PostgreSQL, all on this machine; clients in "
            f"{args.client_processes} process(es)"
        )
        print(
            "| watchers | clients | events per run | deliveries "
            "| p50 ms | p99 ms | max ms | clients with a gap or reorder "
            "| Daphne CPU µs per delivery | load 1 min |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows: dict[str, list[dict[str, float]]] = {"1": []}
        for _ in range(args.repeat):
            watchers, run, cpu = watch(ports[""], token, workflow, user, 1)
            rows["1"].append(summarize("baseline: one client", watchers, run, cpu))
            for label in codes:
                watchers, run, cpu = watch(
                    ports[label],
                    token,
                    workflow,
                    user,
                    args.clients,
                    args.client_processes,
                )
                rows.setdefault(label, []).append(
                    summarize(
                        f"{label}{args.clients} clients",
                        watchers,
                        run,
                        cpu,
                        args.by_seq,
                    )
                )
        base = statistics.median(r["p99"] for r in rows["1"])
        print(f"\nmedians of {args.repeat} (one client p99 {base:.1f} ms):")
        for label in codes:
            print(
                f"  {label or 'this checkout: '}{args.clients} clients "
                + ", ".join(
                    f"{key} {statistics.median(r[key] for r in rows[label]):.1f}"
                    for key in ("p50", "p99", "max", "cpu_us")
                )
            )
    finally:
        for process in processes:
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
