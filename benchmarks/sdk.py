"""A Python flow run here (`flow.run()`, the local executor's threads) and the
same flow deployed to an embedded server and run there (`flow.submit(
wait=True)`: the compiled tasks, each a `python3` process with its source,
their results passed by the server): the overhead per task of each.

For each shape it reports the median wall time of `--repeat` runs and that
time per task; on the server also the run's own wall time as its database
records it (created to finished), and the floor of starting the compiled
task's interpreter (`python3 -c pass`), measured in the same run.

    .venv/bin/python benchmarks/sdk.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repository instead of this directory, whose websocket.py (a benchmark)
# would hide the websocket-client package the SDK follows runs with.
sys.path[0] = str(ROOT)

from flowdeck import Flow, task  # noqa: E402
from flowdeck.client import Client  # noqa: E402


@task
def seed() -> list[int]:
    return list(range(20))


@task
def step(value: list[int]) -> list[int]:
    return [v + 1 for v in value]


@task
def double(n: int) -> int:
    return n * 2


@task
def add(values: list[int]) -> int:
    return sum(values)


def chain(length: int) -> Flow:
    with Flow(f"bench-chain-{length}") as flow:
        value = seed()
        for _ in range(length - 1):
            value = step(value)
    return flow


def fan_out() -> Flow:
    with Flow("bench-map-20") as flow:
        add(double.map(seed()))
    return flow


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interpreter_floor(repeat: int) -> float:
    return median_seconds(
        lambda: subprocess.run(["python3", "-c", "pass"], check=True), repeat * 5
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from tests.test_embedded import Server, serve

    # The tasks' `python3` is this interpreter's own binary, not a wrapper
    # script on PATH (pyenv's shims cost ~150 ms a start): what an image has.
    os.environ["PATH"] = f"{Path(sys.base_prefix) / 'bin'}:{os.environ['PATH']}"

    shapes = [("chain of 10", chain(10), 10), ("map of 20, then a sum", fan_out(), 22)]
    floor = interpreter_floor(args.repeat)
    print(f"floor: python3 -c pass {floor * 1000:.1f} ms (median of {args.repeat * 5})")
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        server = Server(Path(directory) / "data")
        running = serve(server)
        next(running)
        try:
            client = Client(f"http://127.0.0.1:{server.port}", server.token)
            for label, flow, tasks in shapes:
                local = median_seconds(lambda f=flow: f.run(quiet=True), args.repeat)
                flow.deploy(client)
                records: list[float] = []

                def remote(f: Flow = flow, out: list[float] = records) -> None:
                    result = f.submit(wait=True, quiet=True)
                    assert result.state == "Succeeded", result.summary()
                    run = client.run(result.run_id or 0)
                    created = dt.datetime.fromisoformat(run["created_at"])
                    finished = dt.datetime.fromisoformat(run["finished_at"])
                    out.append((finished - created).total_seconds())

                wall = median_seconds(remote, args.repeat)
                recorded = statistics.median(records)
                rows.append((label, tasks, local, wall, recorded))
        finally:
            next(running, None)
    print()
    print(
        "| flow | tasks | flow.run() median (ms) | ms/task | on the server: "
        "submit(wait=True) median (s) | run as recorded (s) | ms/task | "
        "server overhead ms/task over the interpreter floor |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, tasks, local, wall, recorded in rows:
        print(
            f"| {label} | {tasks} | {local * 1000:.1f} | {local * 1000 / tasks:.2f} "
            f"| {wall:.2f} | {recorded:.2f} | {recorded * 1000 / tasks:.1f} "
            f"| {(recorded / tasks - floor) * 1000:.1f} |"
        )


if __name__ == "__main__":
    main()
