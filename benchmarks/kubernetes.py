"""Benchmark the Kubernetes backend against the local test cluster (a real
kube-apiserver + etcd, tests/k8s_runner/kube_cluster.py) with the kubelet
simulator playing scheduler and kubelet.

1. Pod creation rate from one controller: `launch()` of N pods, at the
   default client-side limit (FLOWDECK_K8S_CREATE_QPS/BURST) and unlimited.
2. A chain of tasks run end to end in-process (report pump + pod watcher, as
   `watch_pods` runs them) on SQLite: Kubernetes API calls per task made by
   Flowdeck (the shared watch requests counted apart), and the latency from
   the simulator writing an upstream pod's Succeeded status to Flowdeck's
   create request for the downstream pod (p50/p99).

    .venv/bin/python benchmarks/kubernetes.py [--pods 200] [--chain 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# This file's own name would hide the `kubernetes` package: drop its directory.
HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != HERE]
sys.path.insert(0, str(ROOT))

TASK_LABEL = "flowdeck.io/task"


def configure(data_dir: Path) -> None:
    os.environ.update(
        {
            "FLOWDECK_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
            "FLOWDECK_LOG_LEVEL": "WARNING",
            "FLOWDECK_BACKEND": "kubernetes",
        }
    )
    for key in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(key, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Recorder:
    """Wraps an ApiClient's call_api: every request's method, URL, body and
    monotonic time (the moment the request is sent)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, float]] = []
        self.lock = threading.Lock()

    def wrap(self, api: Any) -> Any:
        original: Callable[..., Any] = api.call_api

        def call_api(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            body = kwargs.get("body", args[1] if len(args) > 1 else None)
            with self.lock:
                self.calls.append((method, url, body, time.monotonic()))
            return original(method, url, *args, **kwargs)

        api.call_api = call_api
        return api


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def creation_rate(cluster: Any, pods: int, qps: float, burst: int) -> float:
    """Pods a second one backend creates (Pending pods; nothing runs them)."""
    from k8s_runner.backends.kubernetes import KubernetesBackend
    from k8s_runner.pod_request import PodRequest

    namespace = cluster.create_namespace()
    backend = KubernetesBackend(
        lambda report: None,
        api_client=cluster.api_client,
        data_dir=Path(tempfile.mkdtemp()),
        namespace=namespace,
        create_qps=qps,
        create_burst=burst,
    )
    requests = [
        PodRequest(
            attempt_id=i + 1,
            run_id=1,
            workflow="rate",
            version=1,
            task=f"t{i}",
            attempt=1,
            image="busybox:1.36",
            command=("true",),
            args=(),
        )
        for i in range(pods)
    ]
    started = time.monotonic()
    for request in requests:
        backend.launch(request)
    return pods / (time.monotonic() - started)


def chain_run(cluster: Any, length: int) -> dict[str, Any]:
    from django.conf import settings

    from flowcore.states import TERMINAL_RUN_STATUSES, RunStatus
    from k8s_runner import reconcile
    from k8s_runner.backends.kubernetes import KubernetesBackend
    from k8s_runner.watcher import PodWatcher
    from tests.k8s_runner.kubelet_behaviours import Succeed
    from tests.k8s_runner.kubelet_sim import KubeletSimulator
    from workflows.models import Project, Run
    from workflows.services.submit import create_workflow, submit_run

    namespace = cluster.create_namespace()
    ours, sims = Recorder(), Recorder()

    def client() -> Any:
        return ours.wrap(cluster.api_client())

    backend = KubernetesBackend(
        reconcile.report_pump.submit,
        api_client=client,
        data_dir=Path(settings.DATA_DIR),
        namespace=namespace,
        delete_grace_seconds=0,
    )
    reconcile._backend = backend
    watcher = PodWatcher(backend, housekeeping_seconds=0.1, watch_timeout_seconds=60)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run_forever, args=(stop,), daemon=True)
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench")
    tasks = [
        {
            "name": f"t{i}",
            "image": "busybox:1.36",
            "command": ["true"],
            "dependencies": [f"t{i - 1}"] if i else [],
        }
        for i in range(length)
    ]
    document = {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": f"chain-{namespace}"},
        "spec": {"tasks": tasks},
    }
    sim_api = sims.wrap(cluster.api_client())
    with KubeletSimulator(sim_api, namespace, default=Succeed(after=0.0)):
        thread.start()
        time.sleep(0.5)  # the watch is established before the run starts
        ours.calls.clear()
        workflow = create_workflow(document, author=user)
        # The project's namespace is where the run's pods go.
        Project.objects.filter(pk=workflow.project_id).update(namespace=namespace)
        run = submit_run(workflow.latest_version, user=user)
        started = time.monotonic()
        reconcile.reconcile(run.pk)
        while True:
            run = Run.objects.get(pk=run.pk)
            if run.status in TERMINAL_RUN_STATUSES:
                break
            time.sleep(0.05)
        wall = time.monotonic() - started
        # Let the watcher delete the last pods before counting.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            deletes = sum(1 for call in ours.calls if call[0] == "DELETE")
            if deletes >= length:
                break
            time.sleep(0.1)
        stop.set()
        thread.join(15)
    assert run.status == RunStatus.SUCCEEDED, run.status
    kinds: Counter[str] = Counter()
    created: dict[str, float] = {}
    for method, url, body, at in ours.calls:
        path = url.split("?")[0]
        if "watch=true" in url or "watch=True" in url:
            kinds["watch (shared)"] += 1
        elif method == "POST" and path.endswith("/pods"):
            kinds["create pod"] += 1
            created[body["metadata"]["labels"][TASK_LABEL]] = at
        elif path.endswith("/log"):
            kinds["read log"] += 1
        elif method == "DELETE":
            kinds["delete pod"] += 1
        else:
            kinds[f"{method} {path.rsplit('/', 2)[-2]}"] += 1
    succeeded: dict[str, float] = {}
    for method, url, body, at in sims.calls:
        if method == "PUT" and url.split("?")[0].endswith("/status"):
            phase = ((body or {}).get("status") or {}).get("phase")
            task = body["metadata"]["labels"].get(TASK_LABEL)
            if phase == "Succeeded" and task not in succeeded:
                succeeded[task] = at
    latencies = [
        (created[f"t{i}"] - succeeded[f"t{i - 1}"]) * 1000
        for i in range(1, length)
        if f"t{i}" in created and f"t{i - 1}" in succeeded
    ]
    per_task = sum(v for k, v in kinds.items() if k != "watch (shared)") / length
    return {
        "wall": wall,
        "kinds": kinds,
        "per_task": per_task,
        "latencies": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--chain", type=int, default=100)
    options = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="flowdeck-k8s-bench-"))
    configure(data_dir)
    from django.conf import settings

    from tests.k8s_runner.kube_cluster import KubeCluster

    cluster = KubeCluster.from_environment()
    try:
        qps, burst = (
            settings.FLOWDECK_K8S_CREATE_QPS,
            settings.FLOWDECK_K8S_CREATE_BURST,
        )
        limited = creation_rate(cluster, options.pods, qps, burst)
        unlimited = creation_rate(cluster, options.pods, 0, 1)
        print(f"## Pod creation, {options.pods} pods from one backend\n")
        print("| limit | pods/s |\n|---|---:|")
        print(f"| default ({qps:g} qps, burst {burst}) | {limited:.1f} |")
        print(f"| unlimited | {unlimited:.1f} |\n")
        result = chain_run(cluster, options.chain)
        latencies = result["latencies"]
        print(f"## A chain of {options.chain} tasks, end to end\n")
        print(
            f"wall {result['wall']:.2f} s, {result['wall'] / options.chain * 1000:.0f}"
            " ms/task\n"
        )
        print("| API calls by Flowdeck | total | per task |\n|---|---:|---:|")
        for kind, count in sorted(result["kinds"].items()):
            print(f"| {kind} | {count} | {count / options.chain:.2f} |")
        print(f"| **all but the watch** | | **{result['per_task']:.2f}** |\n")
        print("| upstream Succeeded -> downstream create | ms |\n|---|---:|")
        print(f"| p50 | {statistics.median(latencies):.1f} |")
        print(f"| p99 | {percentile(latencies, 0.99):.1f} |")
        print(f"| max | {max(latencies):.1f} |")
        print(f"| samples | {len(latencies)} |")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
