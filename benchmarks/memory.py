"""Memory of the embedded default over many runs: 50 consecutive 1,000-task
runs of `true`, with the worker's and the web process's resident set after each.

The same set-up as throughput.py (SQLite in WAL, the filesystem broker, a real
Celery worker with the local backend), plus the web process as `run_embedded`
starts it (Daphne). Each run is submitted through the REST API; after it ends
the script reads it back and lists the runs through the API, so that the web
process does work too. Flat means within ±10 % of the median after the
warm-up runs.

    .venv/bin/python benchmarks/memory.py [--runs 50] [--shape fan-out]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import configure, documents  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token = ""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            kind = response.headers.get("Content-Type", "")
        return json.loads(raw) if "json" in kind else raw

    def wait_up(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                self.call("GET", "/healthz")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warm-up", type=int, default=5)
    parser.add_argument(
        "--shape", default="fan-out", choices=["chain", "fan-out", "layers 10x100"]
    )
    args = parser.parse_args()
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix="flowdeck-memory-"))
    env = configure(data_dir)

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from k8s_runner.management.commands.run_embedded import (
        child_environment,
        web_command,
        worker_command,
    )
    from tests.net import free_port
    from workflows.services.submit import create_workflow

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser(
        "bench", password="bench-memory-pw"
    )
    workflow = create_workflow(documents()[args.shape], author=user)
    port = free_port()
    env = {**child_environment(), **env}
    log = open(data_dir / "processes.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        worker_command(beat=False, loglevel="WARNING"),
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    web = subprocess.Popen(
        web_command("127.0.0.1", port),
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = Api(port)
    # A timeout's SIGTERM stops the worker and the web process too (finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        api.wait_up()
        api.token = api.call(
            "POST",
            "/api/auth/token/",
            {"username": "bench", "password": "bench-memory-pw"},
        )["token"]
        time.sleep(2)  # the worker boots and recovers before the first run
        print(f"shape: {args.shape}, {args.runs} runs of 1,000 tasks of `true`")
        print(
            f"before the first run: worker {rss_mib(worker.pid):.1f} MiB, "
            f"web {rss_mib(web.pid):.1f} MiB"
        )
        print("| run | wall (s) | worker RSS (MiB) | web RSS (MiB) |")
        print("|---:|---:|---:|---:|")
        rows: list[tuple[float, float]] = []
        for number in range(1, args.runs + 1):
            run = api.call("POST", f"/api/workflows/{workflow.pk}/runs/", {})
            deadline = time.monotonic() + 600
            while True:
                current = api.call("GET", f"/api/runs/{run['id']}/")
                if current["status"] in ("Succeeded", "Failed", "Cancelled"):
                    break
                assert time.monotonic() < deadline, "the run did not finish"
                time.sleep(0.5)
            assert current["status"] == "Succeeded", current.get("message")
            api.call("GET", "/api/runs/")
            api.call("GET", f"/api/runs/?workflow={workflow.pk}")
            from workflows.models import Run

            recorded = Run.objects.get(pk=run["id"])
            wall = (recorded.finished_at - recorded.created_at).total_seconds()
            sizes = (rss_mib(worker.pid), rss_mib(web.pid))
            rows.append(sizes)
            print(f"| {number} | {wall:.2f} | {sizes[0]:.1f} | {sizes[1]:.1f} |")
        settled = rows[args.warm_up :]
        for label, column in (("worker", 0), ("web", 1)):
            values = [row[column] for row in settled]
            median = statistics.median(values)
            print(
                f"{label}: after run {args.warm_up}: median {median:.1f} MiB, "
                f"min {min(values):.1f} ({(min(values) / median - 1) * 100:+.1f} %), "
                f"max {max(values):.1f} ({(max(values) / median - 1) * 100:+.1f} %), "
                f"first {values[0]:.1f} -> last {values[-1]:.1f}"
            )
    finally:
        for process in (worker, web):
            process.terminate()
        for process in (worker, web):
            process.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
