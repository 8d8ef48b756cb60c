"""Many runs at once on the production topology: PostgreSQL, Redis, Celery
workers (prefork, N processes) and beat, the pod watcher (`watch_pods`), the
Kubernetes backend against a real kube-apiserver + etcd with the kubelet
simulator playing scheduler and kubelet (tests/k8s_runner/), pod creation
unlimited (FLOWDECK_K8S_CREATE_QPS=0).

`--runs` runs of `--tasks` tasks each (layers of ten, every task depending on
the whole layer before it; each pod "runs" for no time) are submitted at once
and run concurrently, once per worker count in `--workers`. Reported per
round: tasks/s and pods/s over the wall time from the first submit to the
last run's end, CPU ms per task of the workers (all their processes), of the
pod watcher and of this process (the simulator and the submits), and the
latency from the simulator sending an upstream pod's Succeeded status to
Flowdeck sending the create of a downstream pod that waited for it (the last
of its upstreams), p50/p99. Creates are stamped in the workers and the
watcher by benchmarks/stamp_creates.py as they are sent.

    export KUBEBUILDER_ASSETS=$HOME/.cache/flowdeck/kube/1.20.2
    .venv/bin/python benchmarks/production.py [--runs 100] [--tasks 100] \
        [--workers 1 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# This directory would hide the `kubernetes` package (benchmarks/kubernetes.py).
HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != HERE]
sys.path.insert(0, str(ROOT))

TASK_LABEL = "flowdeck.io/task"
RUN_LABEL = "flowdeck.io/run"
WIDTH = 10
PROFILE = False


def start_services(workdir: Path) -> Any:
    from tests.plugins.services import start_postgres, start_redis

    os.environ["DATABASE_URL"] = start_postgres(workdir)
    os.environ["REDIS_URL"] = start_redis(workdir)
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
    from tests.k8s_runner.kube_cluster import KubeCluster

    cluster = KubeCluster.from_environment()
    os.environ.update(
        {
            "FLOWDECK_DATA_DIR": str(workdir / "data"),
            "FLOWDECK_LOG_LEVEL": "WARNING",
            "FLOWDECK_BACKEND": "kubernetes",
            "FLOWDECK_K8S_KUBECONFIG": str(cluster.kubeconfig),
            "FLOWDECK_K8S_NAMESPACE": cluster.namespace,
            "FLOWDECK_K8S_CREATE_QPS": "0",
            "FLOWDECK_K8S_DELETE_GRACE_SECONDS": "0",
            "FLOWDECK_BENCH_STAMPS": str(workdir / "stamps"),
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return cluster


def document(tasks: int) -> dict[str, Any]:
    spec = []
    for index in range(tasks):
        layer = index // WIDTH
        deps = [f"t{(layer - 1) * WIDTH + i}" for i in range(WIDTH)] if layer else []
        spec.append(
            {
                "name": f"t{index}",
                "image": "busybox:1.36",
                "command": ["true"],
                "dependencies": deps,
            }
        )
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": f"bench-prod-{tasks}"},
        "spec": {"tasks": spec},
    }


def upstreams(task: str) -> list[str]:
    index = int(task[1:])
    layer = index // WIDTH
    return [f"t{(layer - 1) * WIDTH + i}" for i in range(WIDTH)] if layer else []


class Ends:
    """Wraps the simulator's ApiClient: when each pod's Succeeded status was sent."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}  # pod name -> unix time
        self.task: dict[str, tuple[str, str]] = {}  # pod name -> (run, task)
        self.lock = threading.Lock()

    def wrap(self, api: Any) -> Any:
        original = api.call_api

        def call_api(method: str, url: str, *args: Any, **kw: Any) -> Any:
            body = kw.get("body", args[1] if len(args) > 1 else None)
            if (
                method == "PUT"
                and url.split("?")[0].endswith("/status")
                and isinstance(body, dict)
                and ((body.get("status") or {}).get("phase") == "Succeeded")
            ):
                sent = time.time()
                meta = body["metadata"]
                labels = meta.get("labels") or {}
                with self.lock:
                    self.at.setdefault(meta["name"], sent)
                    self.task[meta["name"]] = (
                        labels.get(RUN_LABEL, ""),
                        labels.get(TASK_LABEL, ""),
                    )
            return original(method, url, *args, **kw)

        api.call_api = call_api
        return api


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its (live) descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            times = process.cpu_times()
            total += times.user + times.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Topology:
    """The worker, beat and watcher processes of one round."""

    def __init__(self, workdir: Path, workers: int, code: Path = ROOT) -> None:
        self.code = code
        stamp = [sys.executable, str(ROOT / "benchmarks" / "stamp_creates.py")]
        self.commands = {
            "workers": [
                *stamp,
                "celery",
                "-A",
                "webapp",
                "worker",
                "--pool=prefork",
                f"--concurrency={workers}",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"bench-{workers}@%h",
            ],
            "watcher": [*stamp, "django", "watch_pods"],
            "beat": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "webapp",
                "beat",
                "--loglevel=WARNING",
                "--schedule",
                str(workdir / f"beat-{workers}"),
            ],
        }
        self.workdir = workdir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.profilers: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Topology:
        # The processes run `code` (a checkout of another commit: the baseline).
        env = {**os.environ, "PYTHONPATH": str(self.code)}
        for name, command in self.commands.items():
            # The watcher says when it watches at INFO.
            level = "INFO" if name == "watcher" else "WARNING"
            with open(self.workdir / f"{name}.log", "ab") as log:
                self.processes[name] = subprocess.Popen(
                    command,
                    env={**env, "FLOWDECK_LOG_LEVEL": level},
                    cwd=self.code,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        deadline = time.monotonic() + 90
        while b"watching pods in" not in (self.workdir / "watcher.log").read_bytes():
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("watch_pods did not start watching")
            time.sleep(0.2)
        time.sleep(3)  # the workers boot
        if PROFILE:
            # py-spy (pip-installed for measuring only) until the process ends.
            for name in ("workers", "watcher"):
                out = self.workdir / f"profile-{name}-{len(self.profilers)}.txt"
                self.profilers.append(
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--pid",
                            str(self.processes[name].pid),
                            "--subprocesses",
                            "--format",
                            "raw",
                            "--rate",
                            "50",
                            # Only the thread holding the GIL: where the
                            # Python CPU goes, not the threads waiting on
                            # sockets (which py-spy cannot tell from work).
                            "--gil",
                            "--output",
                            str(out),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        return self

    def cpu(self) -> dict[str, float]:
        return {name: tree_cpu(p.pid) for name, p in self.processes.items()}

    def __exit__(self, *exc: object) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for profiler in self.profilers:
            profiler.wait(timeout=60)


def one_round(
    cluster: Any,
    workdir: Path,
    workflow: Any,
    user: Any,
    workers: int,
    runs: int,
    code: Path = ROOT,
    label: str = "",
) -> dict[str, float]:
    from flowcore.states import TERMINAL_RUN_STATUSES, RunStatus
    from tests.k8s_runner.kubelet_behaviours import Succeed
    from tests.k8s_runner.kubelet_sim import KubeletSimulator
    from workflows.models import Run
    from workflows.services.submit import submit_run

    stamps = Path(os.environ["FLOWDECK_BENCH_STAMPS"])
    stamps.unlink(missing_ok=True)
    ends = Ends()
    tasks = len(workflow.latest_version.document["spec"]["tasks"])
    load_before = os.getloadavg()
    sim_api = ends.wrap(cluster.api_client())
    with (
        KubeletSimulator(sim_api, cluster.namespace, default=Succeed(after=0.0)),
        Topology(workdir, workers, code) as topology,
    ):
        cpu_before = topology.cpu()
        self_before = time.process_time()
        started = time.monotonic()
        run_ids = [
            submit_run(workflow.latest_version, user=user).pk for _ in range(runs)
        ]
        submitted = time.monotonic() - started
        deadline = time.monotonic() + 1800
        while True:
            statuses = list(
                Run.objects.filter(pk__in=run_ids).values_list("status", flat=True)
            )
            if all(status in TERMINAL_RUN_STATUSES for status in statuses):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("runs did not finish in 30 minutes")
            time.sleep(0.2)
        wall = time.monotonic() - started
        cpu_after = topology.cpu()
        self_cpu = time.process_time() - self_before
    load_after = os.getloadavg()
    failed = [s for s in statuses if s != RunStatus.SUCCEEDED]
    assert not failed, failed[:5]
    creates: dict[str, float] = {}
    for line in stamps.read_text().splitlines():
        at, name = line.split(" ", 1)
        creates.setdefault(name, float(at))
    # The latest upstream end per (run, task).
    ended: dict[tuple[str, str], float] = {}
    for pod, key in ends.task.items():
        ended[key] = ends.at[pod]
    latencies = []
    for pod, (run, task) in ends.task.items():
        deps = upstreams(task)
        if not deps or pod not in creates:
            continue
        last = max((ended.get((run, dep), 0.0) for dep in deps), default=0.0)
        if last:
            latencies.append((creates[pod] - last) * 1000)
    total = runs * tasks
    cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    row = {
        "workers": workers,
        "wall": wall,
        "submit": submitted,
        "tasks_s": total / wall,
        "pods_s": len(creates) / wall,
        "pods": len(creates),
        "worker_ms": cpu["workers"] * 1000 / total,
        "watcher_ms": cpu["watcher"] * 1000 / total,
        "beat_ms": cpu["beat"] * 1000 / total,
        "bench_ms": self_cpu * 1000 / total,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "samples": len(latencies),
        "load_before": load_before[0],
        "load_after": load_after[0],
    }
    print(
        f"| {label}{workers} | {row['wall']:.1f} | {row['tasks_s']:.0f} "
        f"| {row['pods_s']:.0f} | {row['worker_ms']:.2f} | {row['watcher_ms']:.2f} "
        f"| {row['bench_ms']:.2f} | {row['p50']:.0f} | {row['p99']:.0f} "
        f"| {row['max']:.0f} | {row['samples']} "
        f"| {row['load_before']:.1f} / {row['load_after']:.1f} |",
        flush=True,
    )
    _clear_pods(cluster)
    return row


def _clear_pods(cluster: Any) -> None:
    """What the watcher had not deleted yet: the next round starts empty."""
    from kubernetes.client import CoreV1Api

    with cluster.api_client() as api:
        CoreV1Api(api).delete_collection_namespaced_pod(
            cluster.namespace, grace_period_seconds=0
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--baseline",
        metavar="COMMIT",
        help="also run the workers and the watcher of this commit (git archive "
        "of it), before each round of this checkout's",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the workers and the watcher (raw stacks in the log directory)",
    )
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    workdir = Path(tempfile.mkdtemp(prefix="flowdeck-bench-prod-"))
    codes = [("", ROOT)]
    if args.baseline:
        base = workdir / "baseline"
        base.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.baseline], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        codes.insert(0, (f"baseline {args.baseline[:10]}: ", base))
    cluster = start_services(workdir)
    # The simulator's threads share one connection pool: it says so, often.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    try:
        from django.contrib.auth import get_user_model

        from workflows.services.submit import create_workflow

        user = get_user_model().objects.create_user("bench")
        workflow = create_workflow(document(args.tasks), author=user)
        print(
            f"{args.runs} concurrent runs of {args.tasks} tasks (layers of {WIDTH}), "
            f"{args.runs * args.tasks:,} pods per round; logs in {workdir}\n"
        )
        print(
            "| worker processes | wall s | tasks/s | pods/s | workers CPU ms/task "
            "| watcher CPU ms/task | simulator+submit CPU ms/task "
            "| end->create p50 ms | p99 ms | max ms | samples "
            "| load 1 min before / after |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        results: dict[tuple[str, int], list[dict[str, float]]] = defaultdict(list)
        for _ in range(args.repeat):
            for workers in args.workers:
                for label, code in codes:
                    results[label, workers].append(
                        one_round(
                            cluster,
                            workdir,
                            workflow,
                            user,
                            workers,
                            args.runs,
                            code,
                            label,
                        )
                    )
        if args.repeat > 1:
            print(f"\nmedians of {args.repeat}:")
            for (label, workers), rows in results.items():
                print(
                    f"  {label}{workers} worker process(es): "
                    + ", ".join(
                        f"{key} {statistics.median(r[key] for r in rows):.2f}"
                        for key in ("tasks_s", "pods_s", "worker_ms", "p50", "p99")
                    )
                )
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
