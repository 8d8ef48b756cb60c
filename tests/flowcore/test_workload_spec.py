"""The spec's workload fields: a task's init containers and sidecars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from flowcore.dataflow import DataFlow
from flowcore.secrets import MASK, mask_request
from flowcore.spec import (
    API_VERSION,
    KIND,
    ContainerSpec,
    JobSpec,
    Limits,
    dump_document,
    parse_document,
    parse_spec,
    render_task,
    validate,
)

ROOT = Path(__file__).resolve().parents[2]


def task(name: str = "a", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["true"], **fields}


def document(*tasks: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "wf"},
        "spec": {**spec, "tasks": list(tasks) or [task()]},
    }


def errors_of(doc: Any) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in validate(doc, Limits())]


def test_it_parses_init_containers_and_sidecars_with_the_tasks_image() -> None:
    doc = document(
        task(
            "load",
            imagePullPolicy="IfNotPresent",
            volumes=[{"name": "work", "emptyDir": {}}],
            initContainers=[
                {
                    "name": "fetch",
                    "command": ["sh", "-c", "echo hi > /work/x"],
                    "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                    "resources": {"requests": {"cpu": 0.5}},
                }
            ],
            sidecars=[
                {
                    "name": "proxy",
                    "image": "nginx:1.27",
                    "args": ["-g", "daemon off;"],
                    "env": [{"name": "PORT", "value": "8080"}],
                }
            ],
        )
    )
    spec = parse_spec(doc).tasks[0]
    assert spec.init_containers == (
        ContainerSpec(
            name="fetch",
            image="busybox",
            command=("sh", "-c", "echo hi > /work/x"),
            volume_mounts=({"name": "work", "mountPath": "/work"},),
            resources=spec.init_containers[0].resources,
            image_pull_policy="IfNotPresent",
        ),
    )
    assert dict(spec.init_containers[0].resources.requests) == {"cpu": "0.5"}
    (proxy,) = spec.sidecars
    assert (proxy.name, proxy.image, proxy.args) == (
        "proxy",
        "nginx:1.27",
        ("-g", "daemon off;"),
    )
    assert proxy.env[0].value == "8080"


def test_a_container_without_an_image_takes_the_default_image() -> None:
    doc = document(
        {"name": "a", "command": ["true"], "sidecars": [{"name": "s"}]},
        defaults={"image": "python:3.12"},
    )
    assert parse_spec(doc).tasks[0].sidecars[0].image == "python:3.12"


def test_it_names_each_bad_container_field() -> None:
    doc = document(
        task(
            initContainers=[
                {"name": "main"},
                {"name": "flowdeck-init"},
                {"name": "fetch", "imagee": "x"},
                {"command": ["true"]},
            ],
            sidecars=[
                {"name": "fetch"},
                {"name": "Proxy"},
                {"name": "p", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]},
                {"name": "q", "imagePullPolicy": "Sometimes", "workingDir": "rel"},
            ],
        )
    )
    assert errors_of(doc) == [
        (
            "spec.tasks[0].initContainers[0].name",
            "'main' is the task's own container: rename it",
        ),
        (
            "spec.tasks[0].initContainers[1].name",
            "names starting with 'flowdeck-' are Flowdeck's own",
        ),
        ("spec.tasks[0].initContainers[2].imagee", "unknown field 'imagee'"),
        ("spec.tasks[0].initContainers[3].name", "is required"),
        (
            "spec.tasks[0].sidecars[0].name",
            "duplicate container name 'fetch' "
            "(first at spec.tasks[0].initContainers[2])",
        ),
        (
            "spec.tasks[0].sidecars[1].name",
            "must be lowercase letters, digits and '-', starting and ending with a "
            "letter or digit",
        ),
        (
            "spec.tasks[0].sidecars[2].volumeMounts[0].name",
            "unknown volume 'nope': declare it in volumes",
        ),
        (
            "spec.tasks[0].sidecars[3].imagePullPolicy",
            "must be one of Always, IfNotPresent, Never",
        ),
        (
            "spec.tasks[0].sidecars[3].workingDir",
            "must be an absolute path (starting with '/')",
        ),
    ]


def test_a_container_refers_to_parameters_and_upstream_outputs_only() -> None:
    doc = document(
        task(
            "up",
            outputs={
                "parameters": [
                    {"name": "v", "valueFrom": {"path": "/flowdeck/outputs/v"}}
                ]
            },
        ),
        task(
            "down",
            dependencies=["up"],
            initContainers=[
                {
                    "name": "i",
                    "args": ["{{params.nope}}", "{{tasks.up.outputs.parameters.v}}"],
                }
            ],
        ),
    )
    assert errors_of(doc) == [
        (
            "spec.tasks[1].initContainers[0].args[0]",
            "refers to unknown parameter 'nope'",
        )
    ]
    del doc["spec"]["tasks"][1]["initContainers"][0]["args"][0]
    flow = DataFlow.of(parse_spec(doc))
    assert flow.upstreams_read("down") == {"up"}


def test_render_task_fills_in_the_containers_templates() -> None:
    doc = document(
        task(
            sidecars=[
                {
                    "name": "s",
                    "image": "img:{{params.tag}}",
                    "command": ["echo", "{{params.tag}}"],
                    "env": [{"name": "T", "value": "{{params.tag}}"}],
                }
            ]
        ),
        parameters=[{"name": "tag", "default": "1.0"}],
    )
    rendered = render_task(parse_spec(doc).tasks[0], {"tag": "2.0"})
    (sidecar,) = rendered.sidecars
    assert (sidecar.image, sidecar.command, sidecar.env[0].value) == (
        "img:2.0",
        ("echo", "2.0"),
        "2.0",
    )


def test_a_sub_workflow_task_has_no_extra_containers() -> None:
    doc = document(
        {"name": "a", "workflow": {"name": "other"}, "sidecars": [{"name": "s"}]},
    )
    assert (
        "spec.tasks[0].sidecars",
        "a task with workflow runs that workflow, not a container: leave sidecars out",
    ) in errors_of(doc)


def test_the_containers_round_trip_in_canonical_order() -> None:
    doc = document(
        task(sidecars=[{"args": ["x"], "image": "i", "name": "s"}]),
    )
    text = dump_document(doc)
    assert "  - name: s\n      image: i\n      args:" in text
    assert parse_document(text) == doc


def test_the_json_schema_knows_the_containers() -> None:
    schema = json.loads((ROOT / "flowcore" / "spec_schema.json").read_text())
    checker = jsonschema.Draft202012Validator(schema)
    good = document(task(initContainers=[{"name": "i", "command": ["true"]}]))
    bad = document(task(sidecars=[{"image": "x"}]))
    assert not errors_of(good) and checker.is_valid(good)
    assert errors_of(bad) and not checker.is_valid(bad)


def test_a_secret_value_is_for_the_tasks_own_env() -> None:
    doc = document(
        task(
            sidecars=[
                {"name": "s", "env": [{"name": "T", "value": "x", "secret": True}]}
            ]
        )
    )
    assert errors_of(doc) == [
        (
            "spec.tasks[0].sidecars[0].env[0].secret",
            "secret values are the task's own env only: give this container the "
            "secret with valueFrom.secretKeyRef",
        )
    ]


def test_an_attempts_request_masks_its_containers_secret_values() -> None:
    request = {
        "env": [],
        "sidecars": [
            {"name": "s", "env": [{"name": "T", "value": "tok", "secret": True}]}
        ],
    }
    masked = mask_request(request)
    assert masked["sidecars"][0]["env"][0]["value"] == MASK
    assert request["sidecars"][0]["env"][0]["value"] == "tok"


# --- kind: Job ----------------------------------------------------------------------


def test_a_job_task_parses_its_settings_with_kubernetes_defaults_made_explicit() -> (
    None
):
    doc = document(
        task(
            kind="Job",
            job={
                "completions": 4,
                "parallelism": 2,
                "completionMode": "Indexed",
                "backoffLimit": 3,
                "activeDeadlineSeconds": 600,
                "ttlSecondsAfterFinished": 60,
                "podFailurePolicy": {
                    "rules": [
                        {
                            "action": "FailJob",
                            "onExitCodes": {"operator": "In", "values": [42]},
                        }
                    ]
                },
            },
        ),
        task("plain"),
    )
    job, plain = parse_spec(doc).tasks
    assert job.job == JobSpec(
        completions=4,
        parallelism=2,
        completion_mode="Indexed",
        backoff_limit=3,
        active_deadline_seconds=600,
        ttl_seconds_after_finished=60,
        pod_failure_policy={
            "rules": [
                {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}
            ]
        },
    )
    assert job.job.indexed
    assert plain.job is None
    # Left out, a Job is one pod that is not retried by the Job controller:
    # Flowdeck's retry is the one that counts.
    bare = parse_spec(document(task(kind="Job"))).tasks[0].job
    assert bare == JobSpec(completions=1, parallelism=1, backoff_limit=0)


def test_a_job_tasks_mistakes_are_named_at_their_fields() -> None:
    doc = document(
        task("plain", job={"completions": 2}),
        task(
            "j",
            kind="Job",
            job={
                "completions": 0,
                "parallelism": 1001,
                "completionMode": "Sharded",
                "backoffLimit": -1,
                "podFailurePolicy": {"rules": [{"action": "FailJob", "bogus": 1}]},
            },
            outputs={"result": {"valueFrom": {"path": "/flowdeck/outputs/r"}}},
        ),
        task("reader", args=["{{tasks.j.outputs.result}}"], dependencies=["j"]),
        task("d", kind="Deployment"),
    )
    assert errors_of(doc) == [
        ("spec.tasks[0].job", "needs kind: Job"),
        ("spec.tasks[1].job.completions", "must be between 1 and 1000"),
        ("spec.tasks[1].job.parallelism", "must be between 1 and 1000"),
        ("spec.tasks[1].job.completionMode", "must be one of NonIndexed, Indexed"),
        ("spec.tasks[1].job.backoffLimit", "must be between 0 and 100"),
        ("spec.tasks[1].job.podFailurePolicy.rules[0].bogus", "unknown field 'bogus'"),
        (
            "spec.tasks[1].outputs",
            "a Job task has no outputs (which of its pods would they be?): leave it "
            "out, or run the task as a Pod",
        ),
        (
            "spec.tasks[2].args[0]",
            "{{tasks.j.outputs.result}}: task 'j' runs as a Job, which leaves no "
            "outputs",
        ),
        ("spec.tasks[3].kind", "must be one of Pod, Job"),
    ]


def test_the_json_schema_knows_jobs() -> None:
    schema = json.loads((ROOT / "flowcore" / "spec_schema.json").read_text())
    checker = jsonschema.Draft202012Validator(schema)
    good = document(
        task(kind="Job", job={"completions": 3, "completionMode": "Indexed"})
    )
    bad = document(task(kind="Job", job={"completions": 0}))
    assert not errors_of(good) and checker.is_valid(good)
    assert errors_of(bad) and not checker.is_valid(bad)
