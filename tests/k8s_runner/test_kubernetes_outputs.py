"""Data between tasks on the Kubernetes backend, for real: a real kube-apiserver
(and etcd), the kubelet simulator running each pod's containers as processes
(its init container, the task's command under Flowdeck's wrapper, the outputs
helper) with the pod's emptyDir, env, Secrets and logs, and a real S3-protocol
server for artifacts. The outputs reach Flowdeck only through the API: the
helper's log line and the task's log."""

from __future__ import annotations

import base64
import hashlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from kubernetes.client import V1ObjectMeta, V1Secret

from artifacts.s3 import S3Store
from flowcore.reports import Report
from flowcore.spec import parse_document
from flowcore.states import TERMINAL_ATTEMPT_STATUSES, AttemptStatus, RunStatus
from k8s_runner import reconcile
from tests.conftest import shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import (
    Flowdeck,
    WatcherProcess,
    attempts_of,
    wait_until,
)
from tests.k8s_runner.kubelet_containers import bubblewrap
from tests.k8s_runner.kubelet_sim import KubeletSimulator, RunContainers
from tests.s3 import S3Bucket
from workflows.models import Attempt, AttemptOutput, Run
from workflows.services.submit import create_workflow, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(
        bubblewrap() is None, reason="the kubelet simulator runs containers in bwrap"
    ),
]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SECRET = "flowdeck-artifacts"
CSV = b"id,name\n1,ada\n2,grace\n3,linus\n"


def example(name: str) -> dict[str, Any]:
    return parse_document((EXAMPLES / f"{name}.yaml").read_text())


def log_of(run: Run, task: str) -> str:
    attempt = attempts_of(run, task)[-1]
    return Path(attempt.log_path).read_text()


def outputs_of(run: Run, task: str) -> dict[tuple[str, str], str]:
    return {
        (kind, name): value or sha256
        for kind, name, value, sha256 in AttemptOutput.objects.filter(
            attempt__task_run__run=run, attempt__task_run__name=task
        ).values_list("kind", "name", "value", "sha256")
    }


def submit(flowdeck: Flowdeck, document: dict[str, Any], user: Any) -> Run:
    workflow = create_workflow(document, author=user)
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    return run


def explain(run: Run) -> list[tuple[str, str, str, str]]:
    return list(
        Attempt.objects.filter(task_run__run=run).values_list(
            "task_run__name", "status", "reason", "message"
        )
    )


@pytest.fixture(autouse=True)
def real_containers(kubelet: KubeletSimulator) -> None:
    """Every pod's containers run, not only those with Flowdeck's own."""
    kubelet.default = RunContainers()


@pytest.fixture
def artifacts(
    flowdeck: Flowdeck, s3_bucket: S3Bucket, settings: Any, kube_namespace: str
) -> S3Bucket:
    """The S3 store for Flowdeck and its pods: the bucket in the settings, its
    credentials in a Secret of the pods' namespace that the helper containers
    reference (the simulator reads it from the API server, as a kubelet)."""
    for name, value in s3_bucket.environment.items():
        setattr(settings, name, value)
    settings.FLOWDECK_ARTIFACT_S3_PREFIX = "artifacts/"
    settings.FLOWDECK_K8S_ARTIFACT_SECRET = SECRET
    keys = s3_bucket.connect_kwargs
    flowdeck.core.create_namespaced_secret(
        kube_namespace,
        V1Secret(
            metadata=V1ObjectMeta(name=SECRET),
            data={
                "accessKey": base64.b64encode(keys["access_key"].encode()).decode(),
                "secretKey": base64.b64encode(keys["secret_key"].encode()).decode(),
            },
        ),
    )
    reconcile._backend = None  # read the settings again
    flowdeck.backend = reconcile.get_backend()  # type: ignore[assignment]
    return s3_bucket


# --- the examples ------------------------------------------------------------------


def test_the_etl_example_passes_its_values_from_pod_to_pod(
    flowdeck: Flowdeck, user: Any
) -> None:
    flowdeck.start_watcher()
    run = flowdeck.finish(submit(flowdeck, example("etl-values"), user), 90)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    assert log_of(run, "load") == "[10, 20, 30, 40, 50]\n"
    assert outputs_of(run, "transform") == {("result", ""): "[10, 20, 30, 40, 50]"}
    # What load read, and from which attempt (the run page's Inputs tab).
    [load] = attempts_of(run, "load")
    assert load.request["inputs"]["attempts"] == {"transform": 1}
    assert load.request["args"][1] == "[10, 20, 30, 40, 50]"
    assert run.outputs["parameters"]["loaded"]["value"] == "[10, 20, 30, 40, 50]"
    wait_until(lambda: not flowdeck.pods(), what="the finished pods' deletion")


@pytest.mark.parametrize("where", ["/flowdeck/inputs/people.csv", "/data/in.csv"])
def test_the_csv_example_passes_an_artifact_through_s3(
    flowdeck: Flowdeck, artifacts: S3Bucket, user: Any, where: str
) -> None:
    document = example("csv-line-count")
    count = document["spec"]["tasks"][1]
    count["inputs"]["artifacts"][0]["path"] = where
    count["args"] = [f'wc -l < {where}; test ! -w {where} || echo "writable"']
    flowdeck.start_watcher()
    run = flowdeck.finish(submit(flowdeck, document, user), 90)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    # Placed by the init container, mounted read-only: `test -w` fails.
    assert log_of(run, "count-lines") == "4\n"
    digest = hashlib.sha256(CSV).hexdigest()
    assert outputs_of(run, "write-csv") == {("artifact", "people"): digest}
    artifact = AttemptOutput.objects.get(attempt__task_run__name="write-csv")
    assert (artifact.size, artifact.filename) == (len(CSV), "people.csv")
    store = S3Store.connect(**artifacts.connect_kwargs, prefix="artifacts/")
    assert store.open(digest).read() == CSV
    assert run.outputs["artifacts"]["people"]["sha256"] == digest
    assert run.outputs["parameters"]["lines"]["value"] == "4"


# --- what goes wrong -----------------------------------------------------------------


def test_outputs_over_their_caps_are_errors_never_cut(
    flowdeck: Flowdeck, user: Any, settings: Any
) -> None:
    settings.FLOWDECK_OUTPUT_PARAMETER_MAX_BYTES = 100
    settings.FLOWDECK_OUTPUT_RESULT_MAX_BYTES = 50
    document = workflow_document(
        "caps",
        [
            shell_task(
                "wide",
                "head -c 101 /dev/zero | tr '\\0' x > $FLOWDECK_OUTPUTS/rows",
                outputs={
                    "parameters": [
                        {
                            "name": "rows",
                            "valueFrom": {"path": "/flowdeck/outputs/rows"},
                        }
                    ]
                },
            ),
            shell_task("chatty", "seq 1 30"),
            shell_task(
                "reader",
                "echo {{tasks.chatty.outputs.result}}",
                dependencies=["chatty"],
            ),
        ],
    )
    flowdeck.start_watcher()
    run = flowdeck.finish(submit(flowdeck, document, user), 60)
    [wide] = attempts_of(run, "wide")
    assert (wide.status, wide.reason, wide.exit_code) == ("Error", "OutputTooLarge", 0)
    assert wide.message == (
        "output parameter rows is 101 bytes, over the cap of 100 bytes"
    )
    [chatty] = attempts_of(run, "chatty")
    assert (chatty.status, chatty.reason) == ("Error", "OutputTooLarge")
    assert chatty.message == "the result is 81 bytes, over the cap of 50 bytes"
    # Its whole log is kept all the same; only the value was refused.
    assert Path(chatty.log_path).read_text().splitlines()[-1] == "30"
    assert not AttemptOutput.objects.filter(attempt__task_run__run=run).exists()
    assert run.tasks.get(name="reader").status == "UpstreamFailed"


def test_a_missing_output_fails_the_task_and_a_failing_one_ends_at_once(
    flowdeck: Flowdeck, user: Any
) -> None:
    declared = {
        "parameters": [
            {"name": "rows", "valueFrom": {"path": "/flowdeck/outputs/rows"}}
        ]
    }
    document = workflow_document(
        "holes",
        [
            shell_task("forgetful", "echo done", outputs=declared),
            shell_task(
                "broken", "echo 1 > $FLOWDECK_OUTPUTS/rows; exit 3", outputs=declared
            ),
        ],
    )
    flowdeck.start_watcher()
    run = flowdeck.finish(submit(flowdeck, document, user), 60)
    assert run.status == RunStatus.FAILED
    [forgetful] = attempts_of(run, "forgetful")
    assert (forgetful.status, forgetful.reason) == ("Failed", "OutputMissing")
    assert forgetful.message == (
        "output parameter rows: /flowdeck/outputs/rows was not written "
        "(and it has no default)"
    )
    [broken] = attempts_of(run, "broken")
    assert (broken.status, broken.exit_code, broken.message) == (
        "Failed",
        3,
        "exited with code 3",
    )
    assert not AttemptOutput.objects.filter(attempt__task_run__run=run).exists()
    wait_until(lambda: not flowdeck.pods(), what="the pods' deletion")


def test_a_task_without_a_command_cannot_leave_outputs(
    flowdeck: Flowdeck, user: Any
) -> None:
    task = {
        "name": "entrypoint",
        "image": "busybox:1.36",
        "args": ["echo", "hi"],
        "outputs": {
            "parameters": [{"name": "p", "valueFrom": {"path": "/flowdeck/outputs/p"}}]
        },
    }
    run = flowdeck.finish(submit(flowdeck, workflow_document("bare", [task]), user))
    [attempt] = attempts_of(run, "entrypoint")
    assert (attempt.status, attempt.reason) == ("Error", "LaunchFailed")
    assert "a task with outputs needs a `command`" in attempt.message
    assert not flowdeck.pods()


def test_a_cancel_reaches_the_task_through_its_wrapper(
    flowdeck: Flowdeck, user: Any, settings: Any
) -> None:
    """The wrapper is PID 1 of its container: without forwarding, SIGTERM
    would never reach the task, which would be killed at the grace's end."""
    from workflows.services.control import cancel_run

    settings.FLOWDECK_K8S_DELETE_GRACE_SECONDS = 20
    flowdeck.backend.delete_grace_seconds = 20
    script = (
        "trap 'echo stopping cleanly; exit 0' TERM; echo started; "
        "while :; do sleep 0.1; done"
    )
    document = workflow_document(
        "stoppable",
        [
            shell_task(
                "long",
                script,
                outputs={"result": {"valueFrom": {"path": "/flowdeck/outputs/r"}}},
            )
        ],
    )
    flowdeck.start_watcher()
    run = submit(flowdeck, document, user)
    wait_until(
        lambda: (
            "started"
            in flowdeck.backend.read_log(
                flowdeck.namespace, attempts_of(run, "long")[0].handle.split("/")[1]
            ).decode()
            if attempts_of(run, "long")[0].handle
            else False
        ),
        60,
        "the task to start",
    )
    began = time.monotonic()
    cancel_run(run.pk)
    reconcile.reconcile(run.pk)
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.CANCELLED
    assert time.monotonic() - began < 10  # not the 20 s grace
    [attempt] = attempts_of(run, "long")
    assert attempt.status == AttemptStatus.CANCELLED
    wait_until(lambda: not flowdeck.pods(), what="the pod's deletion")


# --- restarts ------------------------------------------------------------------------


def sleepy_pipeline() -> dict[str, Any]:
    return workflow_document(
        "survives",
        [
            shell_task("slow", "sleep 2; echo 42"),
            shell_task(
                "use",
                "echo got {{tasks.slow.outputs.result}}",
                dependencies=["slow"],
            ),
        ],
    )


def test_the_watcher_stopped_while_a_pod_ends_records_its_outputs_once(
    flowdeck: Flowdeck, user: Any
) -> None:
    flowdeck.backend_keep = 3600.0  # keep the pods to count them
    flowdeck.start_watcher()
    run = submit(flowdeck, sleepy_pipeline(), user)
    wait_until(
        lambda: attempts_of(run, "slow")[0].status == AttemptStatus.RUNNING,
        60,
        "slow running",
    )
    flowdeck.stop_watcher()  # slow's pod ends, and its helper collects, unwatched
    wait_until(
        lambda: [p.status.phase for p in flowdeck.pods()] == ["Succeeded"],
        60,
        "slow's pod to end unwatched",
    )
    assert attempts_of(run, "slow")[0].status == AttemptStatus.RUNNING
    reconcile.recover()  # a restarted worker; then a new watcher relists
    flowdeck.start_watcher()
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    assert log_of(run, "use") == "got 42\n"
    assert outputs_of(run, "slow") == {("result", ""): "42"}
    attempts = Attempt.objects.filter(task_run__run=run)
    assert flowdeck.pods_per_attempt() == Counter({str(a.pk): 1 for a in attempts})


def test_outputs_read_but_not_recorded_when_the_watcher_dies_are_read_again(
    flowdeck: Flowdeck, user: Any
) -> None:
    """The narrowest window: the watcher has read the outputs of a finished pod
    and dies before its report is recorded (here: the report is dropped and
    the watcher stopped). Nothing deletes the pod meanwhile, since the
    database does not have its end; the next watcher reads them again."""
    backend = flowdeck.backend
    recorded = backend._reporter
    dropped: list[Report] = []

    def lossy(report: Report) -> None:
        if report.status in TERMINAL_ATTEMPT_STATUSES and not dropped:
            dropped.append(report)  # read, then lost with the process
            return
        recorded(report)

    backend._reporter = lossy
    flowdeck.start_watcher()
    run = submit(flowdeck, sleepy_pipeline(), user)
    wait_until(lambda: dropped, 60, "slow's end to be read")
    assert dropped[0].outputs is not None and dropped[0].outputs.result == "42"
    flowdeck.stop_watcher()
    backend._reporter = recorded
    time.sleep(1.0)
    [slow] = attempts_of(run, "slow")
    assert slow.status == AttemptStatus.RUNNING
    assert len(flowdeck.pods()) == 1  # kept: its end is not recorded
    flowdeck.start_watcher()  # its list finds the pod and reads it again
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    assert log_of(run, "use") == "got 42\n"
    assert outputs_of(run, "slow") == {("result", ""): "42"}
    assert AttemptOutput.objects.filter(attempt__task_run__run=run).count() == 1


def test_a_watcher_process_killed_mid_run_loses_no_value(
    flowdeck: Flowdeck, kube: Any, kube_namespace: str, user: Any, tmp_path: Path
) -> None:
    """kill -9 of a real `manage.py watch_pods` while a task with a result
    runs; its pod ends unwatched; the next watcher process recovers it and
    the value reaches the task downstream."""
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs the PostgreSQL test database")
    first = WatcherProcess(kube.kubeconfig, kube_namespace, tmp_path / "watcher.log")
    second = WatcherProcess(kube.kubeconfig, kube_namespace, tmp_path / "watcher.log")
    # start() returns once it watches: submitted sooner, slow's 2 s may pass
    # while the watcher still imports Django, and its first list would find
    # the pod already ended.
    first.start()
    try:
        run = submit(flowdeck, sleepy_pipeline(), user)
        wait_until(
            lambda: attempts_of(run, "slow")[0].status == AttemptStatus.RUNNING,
            60,
            "slow running",
        )
        first.kill()
        wait_until(
            lambda: [p.status.phase for p in flowdeck.pods()] == ["Succeeded"],
            60,
            "slow's pod to end with no watcher",
        )
        second.start()
        try:
            run = flowdeck.finish(run, 90)
        finally:
            second.stop()
    finally:
        first.kill()
    assert run.status == RunStatus.SUCCEEDED, (explain(run), second.output())
    assert log_of(run, "use") == "got 42\n"
    assert outputs_of(run, "slow") == {("result", ""): "42"}
