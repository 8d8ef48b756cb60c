"""Control flow on the Kubernetes backend, for real: conditions, trigger rules
and fan-out with fan-in through a real kube-apiserver (and etcd), the pod
watcher and the kubelet simulator running every pod's containers
(tests/k8s_runner/kubelet_containers.py). The examples run unchanged."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from flowcore.spec import parse_document
from flowcore.states import (
    TERMINAL_TASK_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    RunStatus,
    TaskStatus,
)
from k8s_runner import reconcile
from k8s_runner.describe import describe_attempt
from k8s_runner.manifests import (
    ATTEMPT_ID_LABEL,
    RUN_LABEL,
    TASK_ANNOTATION,
    TASK_LABEL,
    WORKFLOW_LABEL,
)
from tests.conftest import doubling_sub_workflows, shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import Flowdeck, WatcherProcess, wait_until
from tests.k8s_runner.kubelet_containers import bubblewrap
from tests.k8s_runner.kubelet_sim import KubeletSimulator, RunContainers
from workflows.models import Attempt, Run, TaskRun
from workflows.services.advance import advance_run
from workflows.services.submit import create_workflow, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(
        bubblewrap() is None, reason="the kubelet simulator runs containers in bwrap"
    ),
]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def example(name: str) -> dict[str, Any]:
    return parse_document((EXAMPLES / f"{name}.yaml").read_text())


def submit(document: dict[str, Any], user: Any) -> Run:
    workflow = create_workflow(document, author=user)
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    return run


def tasks_of(run: Run) -> dict[str, tuple[str, str, str]]:
    return {
        name: (status, reason, message)
        for name, status, reason, message in TaskRun.objects.filter(
            run=run
        ).values_list("name", "status", "reason", "message")
    }


def explain(run: Run) -> list[tuple[str, str, str, str]]:
    return list(
        Attempt.objects.filter(task_run__run=run).values_list(
            "task_run__name", "status", "reason", "message"
        )
    )


def log_of(run: Run, task: str) -> str:
    attempt = Attempt.objects.filter(task_run__run=run, task_run__name=task).latest(
        "number"
    )
    return Path(attempt.log_path).read_text()


@pytest.fixture(autouse=True)
def real_containers(kubelet: KubeletSimulator) -> None:
    """Every pod's containers run, not only those with Flowdeck's own."""
    kubelet.default = RunContainers()


def test_the_coin_flip_runs_one_side_and_skips_the_other_saying_why(
    flowdeck: Flowdeck, user: Any
) -> None:
    flowdeck.backend_keep = 3600.0  # keep the pods to look at them
    flowdeck.start_watcher()
    run = flowdeck.finish(submit(example("coin-flip"), user), 90)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    side = log_of(run, "flip").strip()
    assert side in ("heads", "tails")
    other = "tails" if side == "heads" else "heads"
    tasks = tasks_of(run)
    assert tasks[side][0] == TaskStatus.SUCCEEDED
    assert tasks[other] == (
        TaskStatus.SKIPPED,
        "Condition",
        f"when '{{{{tasks.flip.outputs.result}}}} == {other}' is false "
        f"({side} == {other})",
    )
    assert tasks["report"][0] == TaskStatus.SUCCEEDED  # noneFailed: a skip is fine
    assert log_of(run, side) == f"it was {side}\n"
    assert log_of(run, "report") == f"the coin said {side}\n"
    # One pod per attempt, none for the skipped task.
    attempts = Attempt.objects.filter(task_run__run=run).select_related("task_run")
    assert sorted(a.task_run.name for a in attempts) == sorted(["flip", side, "report"])
    assert flowdeck.pods_per_attempt() == Counter({str(a.pk): 1 for a in attempts})


def test_map_sum_fans_out_to_an_instance_pod_per_item_and_sums_them(
    flowdeck: Flowdeck, user: Any
) -> None:
    flowdeck.backend_keep = 3600.0  # keep the pods to look at them
    flowdeck.start_watcher()
    run = flowdeck.finish(submit(example("map-sum"), user), 120)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    tasks = tasks_of(run)
    instances = [f"square[{i}]" for i in range(6)]
    assert tasks["square"][:2] == (TaskStatus.SUCCEEDED, "")
    assert all(tasks[name][0] == TaskStatus.SUCCEEDED for name in instances)
    square = TaskRun.objects.get(run=run, name="square")
    assert (square.fan_out, square.fan_done, square.fan_failed) == (6, 6, 0)
    # Each instance squared its own item; total read them all, in item order.
    assert [log_of(run, name) for name in instances] == [
        f"{n * n}\n" for n in range(1, 7)
    ]
    total = Attempt.objects.get(task_run__run=run, task_run__name="total")
    assert total.request["args"][1] == "[1, 4, 9, 16, 25, 36]"
    assert log_of(run, "total") == "91\n"
    assert run.outputs["parameters"]["total"]["value"] == "91"

    # The fan-out itself never runs: a pod per instance, one per attempt.
    attempts = list(
        Attempt.objects.filter(task_run__run=run).select_related("task_run")
    )
    assert sorted(a.task_run.name for a in attempts) == sorted(
        ["generate", *instances, "total"]
    )
    assert flowdeck.pods_per_attempt() == Counter({str(a.pk): 1 for a in attempts})
    pods = {pod.metadata.labels[ATTEMPT_ID_LABEL]: pod for pod in flowdeck.pods()}
    names = set()
    for attempt in attempts:
        pod = pods[str(attempt.pk)]
        name = pod.metadata.name
        assert DNS_LABEL.fullmatch(name), name
        assert attempt.handle == f"{flowdeck.namespace}/{name}"
        names.add(name)
        labels = pod.metadata.labels
        assert all(LABEL_VALUE.fullmatch(value) for value in labels.values()), labels
        assert labels[RUN_LABEL] == str(run.pk)
        assert labels[WORKFLOW_LABEL] == "map-sum"
        assert pod.metadata.annotations[TASK_ANNOTATION] == attempt.task_run.name
    assert len(names) == len(attempts)
    # An instance is labelled with its fan-out's task and its index.
    by_task = Counter(pod.metadata.labels[TASK_LABEL] for pod in pods.values())
    assert by_task == Counter({"generate": 1, "square": 6, "total": 1})
    # Within the task's parallelism of 3, as Flowdeck recorded its instances'
    # moves (a pod's own times are whole seconds: on a quiet machine all six
    # started and ended within one and no two seemed to overlap).
    running = most = 0
    for status in (
        run.events.filter(kind="task", task__in=instances)
        .order_by("seq")
        .values_list("status", flat=True)
    ):
        if status == TaskStatus.RUNNING:
            running += 1
        elif TaskStatus(status) in TERMINAL_TASK_STATUSES:
            running -= 1
        most = max(most, running)
    assert 1 <= most <= 3


def test_an_instance_s_request_describes_the_pod_it_ran_in(
    flowdeck: Flowdeck, user: Any
) -> None:
    document = example("map-sum")
    document["spec"]["parameters"][0]["default"] = "2"
    flowdeck.start_watcher()
    run = flowdeck.finish(submit(document, user), 90)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    attempt = Attempt.objects.select_related(
        "task_run__run__workflow__project", "task_run__run__version"
    ).get(task_run__run=run, task_run__name="square[1]")
    described = describe_attempt(attempt)
    manifest = described["manifest"]
    assert f"{flowdeck.namespace}/{manifest['metadata']['name']}" == attempt.handle
    assert manifest["metadata"]["annotations"][TASK_ANNOTATION] == "square[1]"
    assert described["request"]["command"][-1] == "2"  # its item
    wait_until(lambda: not flowdeck.pods(), what="the finished pods' deletion")


# --- restarts ------------------------------------------------------------------------


def doubling_fan_out(items: int) -> dict[str, Any]:
    """`items` instances, 10 at a time, each leaving twice its item; a fan-in
    sums them. No retries: an instance lost or run twice fails the run."""
    return workflow_document(
        "doubles",
        [
            shell_task(
                "each",
                "sleep 0.5; echo $(( {{item}} * 2 ))",
                withSequence={"count": items},
                parallelism=10,
            ),
            {
                "name": "sum",
                "image": "python:3.12-slim",
                "dependencies": ["each"],
                "command": [
                    "python3",
                    "-c",
                    "import json, sys; print(sum(json.loads(sys.argv[1])))",
                    "{{tasks.each.outputs.result}}",
                ],
            },
        ],
        defaults={"retry": {"limit": 0}},
    )


def fan_counts(run: Run, group: str) -> tuple[tuple[int, int, int], tuple[int, int]]:
    """The fan-out's own counts (instances, done, failed), and what its
    instances' rows say (done, failed)."""
    fan = TaskRun.objects.get(run=run, name=group)
    statuses = [
        TaskStatus(status)
        for status in TaskRun.objects.filter(run=run, fan_group=group).values_list(
            "status", flat=True
        )
    ]
    done = sum(status in TERMINAL_TASK_STATUSES for status in statuses)
    failed = sum(status in UNSUCCESSFUL_TASK_STATUSES for status in statuses)
    return (fan.fan_out or 0, fan.fan_done, fan.fan_failed), (done, failed)


def assert_each_ran_once(
    run: Run, items: int, flowdeck: Flowdeck, kubelet: KubeletSimulator
) -> None:
    """The run succeeded with every instance's one attempt in one pod, played
    once by the kubelet, and the fan-in read every value in order."""
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    assert fan_counts(run, "each") == ((items, items, 0), (items, 0))
    attempts = list(
        Attempt.objects.filter(task_run__run=run).select_related("task_run")
    )
    assert Counter((a.task_run.name, a.number, a.status) for a in attempts) == Counter(
        {(f"each[{i}]", 1, "Succeeded"): 1 for i in range(items)}
        | {("sum", 1, "Succeeded"): 1}
    )
    assert flowdeck.pods_per_attempt() == Counter({str(a.pk): 1 for a in attempts})
    pods = {a.handle.split("/")[1] for a in attempts}
    assert kubelet.played() == Counter({name: 1 for name in pods})
    ends = Counter(
        run.events.filter(kind="task", status="Succeeded").values_list(
            "task", flat=True
        )
    )
    assert len(ends) == items + 2 and set(ends.values()) == {1}
    total = next(a for a in attempts if a.task_run.name == "sum")
    assert json.loads(total.request["command"][-1]) == [2 * i for i in range(items)]
    assert log_of(run, "sum") == f"{2 * sum(range(items))}\n"


def test_a_watcher_process_killed_mid_fan_out_loses_and_repeats_no_instance(
    flowdeck: Flowdeck,
    kubelet: KubeletSimulator,
    kube: Any,
    kube_namespace: str,
    user: Any,
    tmp_path: Path,
) -> None:
    """kill -9 of a real `manage.py watch_pods`, the process that records the
    instances' ends and launches the next ones, while a 50-instance fan-out
    runs; its pods go on unwatched; the next watcher process recovers them."""
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs the PostgreSQL test database")
    log = tmp_path / "watcher.log"
    keep = {"FLOWDECK_K8S_KEEP_FINISHED_PODS_SECONDS": "3600"}  # to count them
    first = WatcherProcess(kube.kubeconfig, kube_namespace, log, **keep).start()
    second = WatcherProcess(kube.kubeconfig, kube_namespace, log, **keep)
    try:
        run = submit(doubling_fan_out(50), user)
        instances = TaskRun.objects.filter(run=run, fan_group="each")
        wait_until(
            lambda: (
                instances.filter(status__in=TERMINAL_TASK_STATUSES).count() >= 15
                and instances.filter(status=TaskStatus.RUNNING).count() >= 5
            ),
            120,
            "the fan-out under way",
        )
        first.kill()
        counted, seen = fan_counts(run, "each")
        assert counted[0] == 50 and counted[1:] == seen, (counted, seen)
        assert 0 < seen[0] < 50, "killed mid-fan-out"
        # The pods it launched end unwatched.
        wait_until(
            lambda: all(p.status.phase == "Succeeded" for p in flowdeck.pods()),
            60,
            "the running instances to end with no watcher",
        )
        second.start()
        run = flowdeck.finish(run, 180)
    finally:
        first.kill()
        second.stop()
    assert run.status == RunStatus.SUCCEEDED, (explain(run), second.output())
    assert_each_ran_once(run, 50, flowdeck, kubelet)


def test_a_crash_between_the_expansion_and_its_pods_loses_and_repeats_nothing(
    flowdeck: Flowdeck, kubelet: KubeletSimulator, user: Any
) -> None:
    """The plan that expands the fan-out commits its instances and their first
    attempts (Launching); the process launches half of them, their Pending
    reports lost with it, and dies. Recovery launches all ten again: the
    five with a pod adopt it (AlreadyExists), the others get theirs."""
    flowdeck.backend_keep = 3600.0  # keep the pods to count them
    workflow = create_workflow(doubling_fan_out(20), author=user)
    run = submit_run(workflow.latest_version, user=user)
    planned = advance_run(run.pk, backend="kubernetes")
    assert len(planned.launch) == 10
    assert TaskRun.objects.get(run=run, name="each").fan_out == 20
    backend = flowdeck.backend
    recorded = backend._reporter
    backend._reporter = lambda report: None  # lost with the process
    namespaces = {run.pk: flowdeck.namespace}
    for launch in planned.launch[:5]:
        backend.launch(reconcile.pod_request(launch, namespaces[run.pk]))
    backend._reporter = recorded
    assert len(flowdeck.pods()) == 5
    assert set(
        Attempt.objects.filter(task_run__run=run).values_list("status", "handle")
    ) == {("Launching", "")}
    flowdeck.start_watcher()
    reconcile.recover()  # a restarted worker
    run = flowdeck.finish(run, 120)
    assert_each_ran_once(run, 20, flowdeck, kubelet)


def test_a_watcher_process_killed_mid_sub_workflow_loses_and_repeats_no_child(
    flowdeck: Flowdeck,
    kubelet: KubeletSimulator,
    kube: Any,
    kube_namespace: str,
    user: Any,
    tmp_path: Path,
) -> None:
    """kill -9 of a real `manage.py watch_pods` while a fan-out of
    sub-workflows runs: some child runs ended, some with their pod running,
    the rest not started. The test process stands in for the Celery worker
    and beat (it sweeps). The running pods end unwatched; the next watcher
    process recovers them, and every item gets one child run whose pod the
    kubelet played once."""
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs the PostgreSQL test database")
    items = 6
    log = tmp_path / "watcher.log"
    keep = {"FLOWDECK_K8S_KEEP_FINISHED_PODS_SECONDS": "3600"}  # to count them
    first = WatcherProcess(kube.kubeconfig, kube_namespace, log, **keep).start()
    second = WatcherProcess(kube.kubeconfig, kube_namespace, log, **keep)
    child_doc, parent_doc = doubling_sub_workflows(items)
    create_workflow(child_doc, author=user)
    children = Run.objects.filter(parent_run__isnull=False)
    calcs = Attempt.objects.filter(task_run__run__parent_run__isnull=False)

    def under_way() -> bool:
        reconcile.sweep()  # plans the new child runs, as the beat would
        ended = children.filter(status=RunStatus.SUCCEEDED).count()
        return ended >= 2 and calcs.filter(status="Running").exists()

    try:
        run = submit(parent_doc, user)
        wait_until(under_way, 120, "the sub-workflows under way")
        first.kill()
        counted, seen = fan_counts(run, "each")
        assert counted[0] == items and counted[1:] == seen, (counted, seen)
        assert children.filter(parent_run=run).count() < items, "killed mid-fan-out"
        wait_until(
            lambda: all(p.status.phase == "Succeeded" for p in flowdeck.pods()),
            60,
            "the running children's pods to end with no watcher",
        )
        second.start()
        run = flowdeck.finish(run, 180)
    finally:
        first.kill()
        second.stop()
    assert run.status == RunStatus.SUCCEEDED, (explain(run), second.output())
    assert fan_counts(run, "each") == ((items, items, 0), (items, 0))
    assert sorted(
        children.filter(parent_run=run).values_list(
            "parent_task", "status", "parameters"
        )
    ) == sorted((f"each[{i}]", "Succeeded", {"n": str(i)}) for i in range(items))
    assert Counter(
        Attempt.objects.filter(task_run__run=run).values_list(
            "task_run__name", "number", "status"
        )
    ) == Counter(
        {(f"each[{i}]", 1, "Succeeded"): 1 for i in range(items)}
        | {("sum", 1, "Succeeded"): 1}
    )
    assert Counter(calcs.values_list("task_run__name", "number", "status")) == Counter(
        {("calc", 1, "Succeeded"): items}
    )
    # A pod per attempt that has one (a child's calc, the sum), played once.
    in_pods = [*calcs, Attempt.objects.get(task_run__run=run, task_run__name="sum")]
    assert flowdeck.pods_per_attempt() == Counter({str(a.pk): 1 for a in in_pods})
    assert kubelet.played() == Counter({a.handle.split("/")[1]: 1 for a in in_pods})
    ends = Counter(
        run.events.filter(kind="task", status="Succeeded").values_list(
            "task", flat=True
        )
    )
    assert len(ends) == items + 2 and set(ends.values()) == {1}
    total = Attempt.objects.get(task_run__run=run, task_run__name="sum")
    assert json.loads(total.request["command"][-1]) == [2 * i for i in range(items)]
    assert log_of(run, "sum") == f"{2 * sum(range(items))}\n"
