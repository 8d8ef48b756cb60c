"""End-to-end throughput on the embedded default: SQLite, the filesystem broker,
a real Celery worker process and the local backend, 1,000 tasks of `true`.

Measures, for each DAG shape, the wall time from submission to the run's end
as the database records it, and the orchestration overhead per task over the
floor of spawning `true` measured in the same run. Every transition is
committed to SQLite (WAL) and recorded as a RunEvent; the script checks the
count.

    .venv/bin/python benchmarks/throughput.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(data_dir: Path) -> dict[str, str]:
    env = {
        "FLOWDECK_DATA_DIR": str(data_dir),
        "DATABASE_URL": "sqlite:///bench.sqlite3",
        "FLOWDECK_LOG_LEVEL": "WARNING",
        "FLOWDECK_BROKER_POLL_SECONDS": "0.05",
    }
    for key in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(key, None)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    return {**os.environ}


def documents() -> dict[str, dict]:
    def task(name: str, deps: list[str]) -> dict:
        return {"name": name, "command": ["true"], "dependencies": deps}

    def doc(name: str, tasks: list[dict]) -> dict:
        return {
            "apiVersion": "flowdeck.io/v1",
            "kind": "Workflow",
            "metadata": {"name": name},
            "spec": {"defaults": {"image": "none"}, "tasks": tasks},
        }

    chain = [task(f"t{i}", [f"t{i - 1}"] if i else []) for i in range(1000)]
    fan = [task("root", [])] + [task(f"t{i}", ["root"]) for i in range(999)]
    layered = []
    for layer in range(10):
        previous = [f"l{layer - 1}-{i}" for i in range(100)] if layer else []
        layered += [task(f"l{layer}-{i}", previous) for i in range(100)]
    return {
        "chain": doc("bench-chain", chain),
        "fan-out": doc("bench-fan-out", fan),
        "layers 10x100": doc("bench-layers", layered),
    }


def sandbox_prefix(data_dir: Path) -> list[str]:
    """The bubblewrap command line an attempt of a run gets (empty when the
    sandbox is off or unusable here), for a floor that includes it."""
    from django.conf import settings

    from k8s_runner.backends.local import Sandbox

    sandbox = Sandbox(
        settings.FLOWDECK_LOCAL_SANDBOX,
        data_dir,
        [Path(path) for path in settings.FLOWDECK_LOCAL_SANDBOX_PATHS],
    )
    run_dir = data_dir / "work" / "run-floor"
    workdir = run_dir / "task" / "1"
    (workdir / ".flowdeck").mkdir(parents=True, exist_ok=True)
    return sandbox.prefix(run_dir, workdir, workdir / ".flowdeck")


def spawn_floor(count: int, parallel: int, prefix: Sequence[str] = ()) -> float:
    """Seconds per `true` process (under `prefix`), `parallel` at a time."""
    per_thread = count // parallel

    def spawn() -> None:
        for _ in range(per_thread):
            subprocess.run([*prefix, "true"], check=True)

    threads = [threading.Thread(target=spawn) for _ in range(parallel)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (time.perf_counter() - started) / (per_thread * parallel)


def namespaced_floor(count: int, prefix: Sequence[str]) -> float:
    """Seconds per `true` in a mount and PID namespace of its own, spawned from
    inside one sandbox (`prefix`): what a sandbox per run would still pay per
    attempt, once its user namespace and root with ~30 mounts are shared by
    the run's attempts."""
    loop = (
        "import subprocess, sys, time\n"
        "count = int(sys.argv[1])\n"
        "started = time.perf_counter()\n"
        "for _ in range(count):\n"
        "    subprocess.run(sys.argv[2:], check=True)\n"
        "print((time.perf_counter() - started) / count)\n"
    )
    unshare = ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "true"]
    # --unshare-user with its capabilities, as an unprivileged worker would
    # need to make the attempts' namespaces; bubblewrap takes the user
    # namespace's capabilities away unless asked not to.
    outer = [prefix[0], "--unshare-user", "--cap-add", "ALL", *prefix[1:]]
    done = subprocess.run(
        [*outer, sys.executable, "-c", loop, str(count), *unshare],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU time of a process, and of its reaped children (the
    tasks: their wrapper, bubblewrap and `true`): on a shared, noisy machine
    these move far less than wall time does."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    own = sum(int(value) for value in fields[11:13])  # utime stime
    children = sum(int(value) for value in fields[13:15])  # cutime cstime
    return own / tick, children / tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", action="append", help="run only this DAG (repeatable): chain..."
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="flowdeck-bench-"))
    env = configure(data_dir)

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from flowcore.states import TERMINAL_RUN_STATUSES
    from k8s_runner.management.commands.run_embedded import worker_command
    from workflows.models import Run, RunEvent
    from workflows.services.submit import create_workflow, submit_run

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    workflows = {
        label: create_workflow(doc, author=user) for label, doc in documents().items()
    }
    slots = os.cpu_count() or 1
    log = open(data_dir / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        worker_command(beat=False, loglevel="WARNING"),
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(3)  # the worker boots and recovers before the first run
        floor_seq = spawn_floor(1000, 1)
        floor_par = spawn_floor(1000, slots)
        print(
            f"spawn floor for `true`: {floor_seq * 1e3:.2f} ms sequential, "
            f"{floor_par * 1e3:.2f} ms with {slots} at a time"
        )
        prefix = sandbox_prefix(data_dir)
        if prefix:
            sandboxed_seq = spawn_floor(300, 1, prefix)
            sandboxed_par = spawn_floor(300, slots, prefix)
            print(
                f"the same in the attempt's bubblewrap sandbox: "
                f"{sandboxed_seq * 1e3:.2f} ms sequential, "
                f"{sandboxed_par * 1e3:.2f} ms with {slots} at a time"
            )
            print(
                "the same in a mount and PID namespace of its own inside one "
                f"run-wide sandbox: {namespaced_floor(300, prefix) * 1e3:.2f} ms "
                "sequential"
            )
        else:
            print("tasks run without a sandbox (FLOWDECK_LOCAL_SANDBOX or no bwrap)")
        print(f"load average before the runs: {os.getloadavg()[0]:.1f}")
        print(
            "| DAG (1,000 tasks of `true`) | median wall (s) | ms/task "
            "| overhead ms/task over the spawn floor "
            "| worker CPU ms/task: its own | the tasks' | events recorded |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, workflow in workflows.items():
            if args.only and not any(label.startswith(o) for o in args.only):
                continue
            walls: list[float] = []
            cpus: list[tuple[float, float]] = []
            events = 0
            for _ in range(args.repeat):
                cpu_before = cpu_seconds(worker.pid)
                run = submit_run(workflow.latest_version, user=user)
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    run.refresh_from_db()
                    if run.status in TERMINAL_RUN_STATUSES:
                        break
                    time.sleep(0.05)
                assert run.status == "Succeeded", (label, run.status, run.message)
                walls.append((run.finished_at - run.created_at).total_seconds())
                cpu_after = cpu_seconds(worker.pid)
                cpus.append(
                    (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
                )
                events = RunEvent.objects.filter(run=run).count()
                assert events == run.last_seq
                Run.objects.filter(pk=run.pk).delete()
            wall = statistics.median(walls)
            per_task = wall / 1000 * 1e3
            floor = floor_seq if label == "chain" else floor_par
            own = statistics.median(c[0] for c in cpus)  # s per 1,000 = ms per task
            tasks = statistics.median(c[1] for c in cpus)
            print(
                f"| {label} | {wall:.2f} | {per_task:.2f} "
                f"| {per_task - floor * 1e3:.2f} | {own:.2f} | {tasks:.2f} "
                f"| {events:,} |",
                flush=True,
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
