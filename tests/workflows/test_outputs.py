"""Data between tasks for real: the local backend runs the tasks, their
outputs are recorded with their ends, dependants read them when launched,
the API shows and serves them."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from flowcore.spec import parse_document
from flowcore.states import TERMINAL_RUN_STATUSES
from k8s_runner import reconcile
from tests.conftest import shell_task, workflow_document
from workflows.models import Attempt, AttemptOutput, Run
from workflows.services.control import debug_task, retry_run
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLES = Path(settings.BASE_DIR) / "examples"


@pytest.fixture(autouse=True)
def quiet_backend():
    """Let every process end and every report be recorded before the test's
    database is flushed."""
    yield
    backend = reconcile.get_backend()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if backend.idle() and reconcile.report_pump.unrecorded() == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the local backend or the report pump did not go quiet")


def run_to_end(workflow: Any, user: Any, timeout: float = 30, **extra: Any) -> Run:
    run = submit_run(workflow.latest_version, user=user, **extra)
    reconcile.reconcile(run.pk)
    return wait_for(run, timeout)


def wait_for(run: Run, timeout: float = 30) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in TERMINAL_RUN_STATUSES:
            return run
        reconcile.sweep()
        time.sleep(0.1)
    raise AssertionError(f"run still {run.status}")


def example(name: str) -> dict[str, Any]:
    return parse_document((EXAMPLES / f"{name}.yaml").read_text())


def log_of(run: Run, task: str) -> str:
    attempt = Attempt.objects.filter(task_run__run=run, task_run__name=task).latest(
        "number"
    )
    return Path(attempt.log_path).read_text()


def test_the_etl_example_passes_values_from_extract_to_load(project, user, api):
    workflow = create_workflow(example("etl-values"), author=user, project=project)
    run = run_to_end(workflow, user)
    assert run.status == "Succeeded", list(
        run.tasks.values("name", "status", "message")
    )
    assert log_of(run, "load") == "[10, 20, 30, 40, 50]\n"
    assert run.outputs["parameters"]["loaded"] == {
        "value": "[10, 20, 30, 40, 50]",
        "secret": False,
    }
    response = api.get(f"/api/runs/{run.pk}/tasks/load/outputs/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["inputs"] == [
        {
            "reference": "{{tasks.transform.outputs.result}}",
            "task": "transform",
            "attempt": 1,
            "value": "[10, 20, 30, 40, 50]",
            "secret": False,
        }
    ]
    transform = api.get(f"/api/runs/{run.pk}/tasks/transform/outputs/").json()
    assert transform["result"] == "[10, 20, 30, 40, 50]"
    assert api.get(f"/api/runs/{run.pk}/").json()["outputs"]["parameters"] == {
        "loaded": {"value": "[10, 20, 30, 40, 50]", "secret": False}
    }


def test_an_artifact_goes_from_one_task_to_the_next_and_downloads(project, user, api):
    workflow = create_workflow(example("csv-line-count"), author=user, project=project)
    run = run_to_end(workflow, user)
    assert run.status == "Succeeded", list(
        run.tasks.values("name", "status", "message")
    )
    assert log_of(run, "count-lines").strip() == "4"
    content = b"id,name\n1,ada\n2,grace\n3,linus\n"
    digest = hashlib.sha256(content).hexdigest()
    outputs = api.get(f"/api/runs/{run.pk}/tasks/write-csv/outputs/").json()
    [artifact] = outputs["artifacts"]
    assert (artifact["name"], artifact["size"], artifact["sha256"]) == (
        "people",
        len(content),
        digest,
    )
    download = api.get(artifact["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content
    assert download["X-Flowdeck-SHA256"] == digest
    assert download["Content-Disposition"] == 'attachment; filename="people.csv"'
    part = api.get(artifact["url"], HTTP_RANGE="bytes=3-6")
    assert part.status_code == 206
    assert b"".join(part.streaming_content) == content[3:7]
    assert part["Content-Range"] == f"bytes 3-6/{len(content)}"
    assert api.get(artifact["url"], HTTP_RANGE="bytes=999-").status_code == 416
    counted = api.get(f"/api/runs/{run.pk}/tasks/count-lines/outputs/").json()
    assert [(a["name"], a["path"], a["task"]) for a in counted["input_artifacts"]] == [
        ("people", "/flowdeck/inputs/people.csv", "write-csv")
    ]
    detail = api.get(f"/api/runs/{run.pk}/").json()
    assert detail["outputs"]["parameters"]["lines"]["value"] == "4"
    assert detail["outputs"]["artifacts"]["people"]["sha256"] == digest
    missing = api.get(f"/api/runs/{run.pk}/tasks/write-csv/artifacts/nope/")
    assert missing.status_code == 404


def test_an_input_artifact_is_placed_anywhere_in_the_sandbox(project, user):
    if reconcile.get_backend()._sandbox.program is None:  # type: ignore[attr-defined]
        pytest.skip("bubblewrap is not usable here")
    doc = example("csv-line-count")
    count = doc["spec"]["tasks"][1]
    count["inputs"]["artifacts"][0]["path"] = "/data/in.csv"
    count["args"] = ["wc -l < /data/in.csv"]
    workflow = create_workflow(doc, author=user, project=project)
    run = run_to_end(workflow, user)
    assert run.status == "Succeeded", list(
        run.tasks.values("name", "status", "message")
    )
    assert log_of(run, "count-lines").strip() == "4"


PARAMETERS = {
    "parameters": [
        {"name": "rows", "valueFrom": {"path": "/flowdeck/outputs/rows"}},
        {
            "name": "mode",
            "valueFrom": {"path": "/flowdeck/outputs/mode", "default": "full"},
        },
        {
            "name": "token",
            "valueFrom": {"path": "/flowdeck/outputs/token"},
            "secret": True,
        },
    ]
}


def parameters_workflow(project: Any, user: Any, script: str) -> Any:
    doc = workflow_document(
        "params",
        [
            shell_task("produce", script, outputs=PARAMETERS),
            shell_task(
                "consume",
                'echo "rows={{tasks.produce.outputs.parameters.rows}} '
                'mode={{tasks.produce.outputs.parameters.mode}} token=$TOKEN"',
                dependencies=["produce"],
                env=[
                    {
                        "name": "TOKEN",
                        "value": "{{tasks.produce.outputs.parameters.token}}",
                    }
                ],
            ),
        ],
    )
    return create_workflow(doc, author=user, project=project)


def test_output_parameters_are_read_from_files_with_defaults_and_secrets(
    project, user, api
):
    script = (
        'printf "[1,2]" > $FLOWDECK_OUTPUTS/rows; '
        "printf s3cr3t > $FLOWDECK_OUTPUTS/token"
    )
    run = run_to_end(parameters_workflow(project, user, script), user)
    assert run.status == "Succeeded"
    assert log_of(run, "consume") == "rows=[1,2] mode=full token=s3cr3t\n"
    produced = api.get(f"/api/runs/{run.pk}/tasks/produce/outputs/").json()
    assert {p["name"]: p["value"] for p in produced["parameters"]} == {
        "rows": "[1,2]",
        "mode": "full",
        "token": "••••••",
    }
    consumed = api.get(f"/api/runs/{run.pk}/tasks/consume/outputs/").json()
    assert "s3cr3t" not in str(consumed)
    request = api.get(f"/api/runs/{run.pk}/tasks/consume/request/").json()
    assert "s3cr3t" not in str(request)  # the env var became secret


def test_a_missing_output_without_a_default_fails_the_task_and_names_it(project, user):
    run = run_to_end(
        parameters_workflow(project, user, "printf x > $FLOWDECK_OUTPUTS/token"), user
    )
    assert run.status == "Failed"
    attempt = Attempt.objects.get(task_run__run=run, task_run__name="produce")
    assert (attempt.status, attempt.reason) == ("Failed", "OutputMissing")
    assert "output parameter rows: /flowdeck/outputs/rows was not written" in (
        attempt.message
    )
    assert not AttemptOutput.objects.filter(attempt=attempt).exists()
    assert run.tasks.get(name="consume").status == "UpstreamFailed"


def test_an_output_over_its_cap_is_an_error_never_cut(project, user, settings):
    settings.FLOWDECK_OUTPUT_PARAMETER_MAX_BYTES = 100
    script = (
        "head -c 101 /dev/zero | tr '\\0' x > $FLOWDECK_OUTPUTS/rows; "
        "printf t > $FLOWDECK_OUTPUTS/token"
    )
    run = run_to_end(parameters_workflow(project, user, script), user)
    attempt = Attempt.objects.get(task_run__run=run, task_run__name="produce")
    assert (attempt.status, attempt.reason) == ("Error", "OutputTooLarge")
    assert attempt.message == (
        "output parameter rows is 101 bytes, over the cap of 100 bytes"
    )


def test_a_retry_keeps_the_outputs_it_does_not_rerun_and_replaces_the_rest(
    project, user, tmp_path
):
    marker = tmp_path / "second"
    doc = workflow_document(
        "retried",
        [
            shell_task("a", "echo $FLOWDECK_ATTEMPT-$FLOWDECK_RUN_ID"),
            shell_task(
                "b",
                f"test -e {marker} || {{ touch {marker}; exit 3; }}; "
                "echo b-$FLOWDECK_ATTEMPT",
                dependencies=["a"],
            ),
            shell_task(
                "c",
                "echo {{tasks.a.outputs.result}} {{tasks.b.outputs.result}}",
                dependencies=["b"],
            ),
        ],
    )
    workflow = create_workflow(doc, author=user, project=project)
    run = run_to_end(workflow, user)
    assert run.status == "Failed"
    retry_run(run.pk, user=user)
    reconcile.reconcile(run.pk)
    run = wait_for(run)
    assert run.status == "Succeeded"
    # a kept its first attempt's result; b's second attempt replaced its first.
    assert log_of(run, "c") == f"1-{run.pk} b-2\n"


def test_a_debug_run_reads_the_inputs_its_task_had(project, user):
    workflow = create_workflow(example("etl-values"), author=user, project=project)
    run = run_to_end(workflow, user)
    debug = debug_task(run.pk, "load", user=user)
    reconcile.reconcile(debug.pk)
    debug = wait_for(debug)
    assert debug.status == "Succeeded"
    assert log_of(debug, "load") == "[10, 20, 30, 40, 50]\n"


def test_a_task_whose_input_is_missing_ends_as_an_error_saying_which(project, user):
    doc = workflow_document(
        "holes",
        [
            shell_task(
                "a",
                "true",
                outputs={
                    "artifacts": [
                        {"name": "f", "path": "/flowdeck/outputs/f", "optional": True}
                    ]
                },
            ),
            shell_task(
                "b",
                "cat /flowdeck/inputs/f",
                dependencies=["a"],
                inputs={
                    "artifacts": [
                        {
                            "name": "f",
                            "from": "{{tasks.a.outputs.artifacts.f}}",
                            "path": "/flowdeck/inputs/f",
                        }
                    ]
                },
            ),
        ],
    )
    run = run_to_end(create_workflow(doc, author=user, project=project), user)
    attempt = Attempt.objects.get(task_run__run=run, task_run__name="b")
    assert (attempt.status, attempt.reason) == ("Error", "InputsUnavailable")
    assert attempt.message == "input artifact f: task 'a' left no artifact 'f'"
