"""Pod manifests: names, labels, the container and the pod spec, each manifest
checked against Kubernetes' own OpenAPI schema (strict: no unknown fields)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.client import ApiClient
from kubernetes.client.models import V1Pod

from flowcore.spec import Limits, parse_document, parse_spec, render_task
from k8s_runner.manifests import (
    HELPER_COMMAND,
    HELPER_REQUEST_ENV,
    WRAPPER,
    ArtifactBucket,
    ManifestError,
    ManifestSettings,
    attempt_id_of,
    label_value,
    pod_manifest,
    refused_privileges,
    task_of,
)
from k8s_runner.pod_request import (
    InputArtifactRequest,
    OutputsRequest,
    PodRequest,
    inputs_from_json,
    pod_name,
)
from k8s_runner.reconcile import pod_request
from tests.conftest import shell_task, workflow_document
from workflows.services.advance import Launch

ROOT = Path(__file__).resolve().parents[2]
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
# The oldest and the newest schemas kubernetes-validate ships; the client's
# models are generated from the newest.
SCHEMA_VERSIONS = ("1.25.0", "1.37.0")
SETTINGS = ManifestSettings()


def as_json(pod: V1Pod) -> dict[str, Any]:
    data: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
    return data


def assert_valid(pod: V1Pod) -> dict[str, Any]:
    data = as_json(pod)
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(data, version, strict=True)
    return data


def requests_of(
    document: dict[str, Any], limits: Limits | None = None
) -> list[PodRequest]:
    """Every task of a document as the dispatcher hands it to a backend."""
    spec = parse_spec(document, limits or Limits())
    parameters = {p.name: p.default or "x" for p in spec.parameters}
    requests = []
    for number, task in enumerate(spec.tasks, start=1):
        rendered = dataclasses.asdict(render_task(task, parameters))
        rendered["retry"]["on"] = sorted(rendered["retry"]["on"])  # as stored
        launch = Launch(100 + number, 7, spec.name, 3, task.name, 1, rendered)
        requests.append(pod_request(launch))
    return requests


def manifest(request: PodRequest, **settings: Any) -> V1Pod:
    return pod_manifest(
        request, namespace="flowdeck", settings=ManifestSettings(**settings)
    )


def request(**fields: Any) -> PodRequest:
    base: dict[str, Any] = {
        "attempt_id": 41,
        "run_id": 7,
        "workflow": "etl",
        "version": 3,
        "task": "load",
        "attempt": 2,
        "image": "busybox:1.36",
        "command": ("sh", "-c"),
        "args": ("echo hi",),
    }
    return PodRequest(**{**base, **fields})


# --- names and labels ---------------------------------------------------------


def test_a_short_name_reads_as_workflow_run_task_attempt() -> None:
    assert pod_name("diamond", 12, "b", 1) == "diamond-12-b-1"
    assert pod_name("nightly-etl", 3, "load-2", 4) == "nightly-etl-3-load-2-4"


def test_a_long_name_is_trimmed_and_keeps_a_hash_of_the_whole() -> None:
    long = pod_name("w" * 63, 123456, "t" * 63, 3)
    assert len(long) == 63
    assert long.startswith("w" * 54 + "-")
    assert long != pod_name("w" * 63, 123456, "t" * 63, 4)


def test_a_name_that_could_be_read_two_ways_gets_a_hash() -> None:
    # Without it, (w-1, run 2, t) and (w, run 1, 2-t) are both w-1-2-t-1.
    first, second = pod_name("w-1", 2, "t", 1), pod_name("w", 1, "2-t", 1)
    assert second == "w-1-2-t-1"
    assert first != second
    assert first.startswith("w-1-2-t-1-")


_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)


@given(
    st.tuples(_label, st.integers(1, 10**9), _label, st.integers(1, 10**6)),
    st.tuples(_label, st.integers(1, 10**9), _label, st.integers(1, 10**6)),
)
def test_pod_names_are_dns_labels_distinct_for_distinct_attempts(
    one: tuple[str, int, str, int], other: tuple[str, int, str, int]
) -> None:
    for identity in (one, other):
        name = pod_name(*identity)
        assert len(name) <= 63
        assert DNS_LABEL.fullmatch(name), name
    if one != other:
        assert pod_name(*one) != pod_name(*other)


@pytest.mark.parametrize(
    "text", ["load", "a" * 63, "a" * 64, "-x-", "Ä/b c", "", "x_", ".a."]
)
def test_label_values_are_valid_and_keep_a_plain_value(text: str) -> None:
    value = label_value(text)
    assert len(value) <= 63
    assert LABEL_VALUE.fullmatch(value), value
    if len(text) <= 63 and LABEL_VALUE.fullmatch(text):
        assert value == text


@given(st.text(max_size=100), st.text(max_size=100))
def test_label_values_stay_distinct(one: str, other: str) -> None:
    assert LABEL_VALUE.fullmatch(label_value(one))
    if one != other:
        assert label_value(one) != label_value(other)


def test_the_pod_is_named_and_labelled_for_its_attempt() -> None:
    pod = manifest(request())
    assert pod.metadata.name == "etl-7-load-2"
    assert pod.metadata.namespace == "flowdeck"
    assert pod.metadata.labels == {
        "app.kubernetes.io/managed-by": "flowdeck",
        "flowdeck.io/workflow": "etl",
        "flowdeck.io/run": "7",
        "flowdeck.io/task": "load",
        "flowdeck.io/attempt": "2",
        "flowdeck.io/attempt-id": "41",
    }
    assert pod.metadata.annotations == {
        "flowdeck.io/workflow": "etl",
        "flowdeck.io/version": "3",
        "flowdeck.io/task": "load",
    }
    assert attempt_id_of(pod.metadata.labels) == 41
    assert_valid(pod)


def test_an_instance_s_pod_is_labelled_with_its_task_and_index() -> None:
    """`square[2]` is no label value: the pod carries task=square and
    instance=2 (so a selector finds every instance of the fan-out), its own
    name in the annotation, and a pod name of its own."""
    pod = manifest(request(task="square[2]"))
    labels = pod.metadata.labels
    assert (labels["flowdeck.io/task"], labels["flowdeck.io/instance"]) == (
        "square",
        "2",
    )
    assert pod.metadata.annotations["flowdeck.io/task"] == "square[2]"
    assert task_of(labels, pod.metadata.annotations) == "square[2]"
    assert task_of(labels, {}) == "square[2]"  # the annotation removed
    assert "flowdeck.io/instance" not in manifest(request()).metadata.labels
    assert DNS_LABEL.fullmatch(pod.metadata.name), pod.metadata.name
    assert pod.metadata.name.startswith("etl-7-square-2-2-")
    # Neither the task `square-2` nor another instance has that name.
    others = {pod_name("etl", 7, "square-2", 2), pod_name("etl", 7, "square[3]", 2)}
    assert pod.metadata.name not in others
    assert_valid(pod)


def test_the_longest_instance_name_makes_a_valid_pod() -> None:
    task = "t" * 63  # the longest task name; its instance is 70 characters
    pods = [manifest(request(task=f"{task}[{i}]")) for i in (9999, 10000)]
    for pod in pods:
        assert len(pod.metadata.name) <= 63 and DNS_LABEL.fullmatch(pod.metadata.name)
        labels = pod.metadata.labels
        assert labels["flowdeck.io/task"] == task
        assert all(LABEL_VALUE.fullmatch(v) and len(v) <= 63 for v in labels.values())
        assert_valid(pod)
    assert pods[0].metadata.name != pods[1].metadata.name
    assert [p.metadata.labels["flowdeck.io/instance"] for p in pods] == [
        "9999",
        "10000",
    ]


_instance = st.builds(
    lambda task, index: f"{task}[{index}]", _label, st.integers(0, 10_000)
)


@given(
    st.tuples(_label, st.integers(1, 10**9), _instance | _label, st.integers(1, 50)),
    st.tuples(_label, st.integers(1, 10**9), _instance | _label, st.integers(1, 50)),
)
def test_instances_pod_names_are_dns_labels_distinct_for_distinct_attempts(
    one: tuple[str, int, str, int], other: tuple[str, int, str, int]
) -> None:
    for identity in (one, other):
        name = pod_name(*identity)
        assert len(name) <= 63
        assert DNS_LABEL.fullmatch(name), name
    if one != other:
        assert pod_name(*one) != pod_name(*other)


@pytest.mark.parametrize(
    "labels",
    [
        None,
        {},
        {"flowdeck.io/attempt-id": "4"},
        {"app.kubernetes.io/managed-by": "flowdeck"},
        {"app.kubernetes.io/managed-by": "flowdeck", "flowdeck.io/attempt-id": "x"},
        {"app.kubernetes.io/managed-by": "helm", "flowdeck.io/attempt-id": "4"},
    ],
)
def test_a_pod_without_our_labels_is_not_ours(labels: dict[str, str] | None) -> None:
    assert attempt_id_of(labels) is None


# --- the pod -----------------------------------------------------------------------


def test_the_pod_runs_once_with_a_safe_default_security_context() -> None:
    pod = manifest(request(timeout=90.2))
    spec = pod.spec
    assert spec.restart_policy == "Never"
    assert spec.active_deadline_seconds == 91
    assert spec.security_context.seccomp_profile.type == "RuntimeDefault"
    [container] = spec.containers
    assert container.name == "main"
    assert (container.image, container.command, container.args) == (
        "busybox:1.36",
        ["sh", "-c"],
        ["echo hi"],
    )
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.privileged is None
    data = assert_valid(pod)
    assert data["spec"]["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False
    }


@pytest.mark.parametrize(
    ("timeout", "deadline"),
    [(0.001, 1), (31536000, 31536000), (2**31 - 1.5, 2**31 - 1), (1e30, 2**31 - 1)],
)
def test_the_deadline_is_whole_seconds_within_what_kubernetes_accepts(
    timeout: float, deadline: int
) -> None:
    # A timeout stored before the spec bounded them (10**30 s) made a pod the
    # API server refuses: activeDeadlineSeconds must be 1 ... 2**31 - 1.
    pod = manifest(request(timeout=timeout))
    assert pod.spec.active_deadline_seconds == deadline
    assert_valid(pod)


def test_the_defaults_can_be_turned_off() -> None:
    pod = manifest(request(), seccomp_profile=None, allow_privilege_escalation=None)
    assert pod.spec.security_context is None
    assert pod.spec.containers[0].security_context is None
    assert_valid(pod)


def test_an_image_entrypoint_is_kept_when_the_task_gives_no_command() -> None:
    data = assert_valid(manifest(request(command=(), args=())))
    container = data["spec"]["containers"][0]
    assert "command" not in container and "args" not in container
    assert "activeDeadlineSeconds" not in data["spec"]


def test_flowdeck_variables_come_first_and_the_task_may_override_them() -> None:
    env = (
        {"name": "MODE", "value": "full", "value_from": None, "secret": False},
        {"name": "FLOWDECK_TASK", "value": "mine", "value_from": None, "secret": False},
        {
            "name": "PW",
            "value": None,
            "value_from": {"secretKeyRef": {"name": "db", "key": "pw"}},
            "secret": False,
        },
        {
            "name": "CONF",
            "value": None,
            "value_from": {
                "configMapKeyRef": {"name": "c", "key": "k", "optional": True}
            },
            "secret": False,
        },
        {"name": "EMPTY", "value": "", "value_from": None, "secret": False},
    )
    data = assert_valid(manifest(request(env=env)))
    assert data["spec"]["containers"][0]["env"] == [
        {"name": "FLOWDECK_WORKFLOW", "value": "etl"},
        {"name": "FLOWDECK_RUN_ID", "value": "7"},
        {"name": "FLOWDECK_ATTEMPT", "value": "2"},
        {"name": "MODE", "value": "full"},
        {"name": "FLOWDECK_TASK", "value": "mine"},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
        {
            "name": "CONF",
            "valueFrom": {
                "configMapKeyRef": {"name": "c", "key": "k", "optional": True}
            },
        },
        {"name": "EMPTY", "value": ""},
    ]


@pytest.mark.parametrize(
    ("context", "escalation"),
    [
        ({}, False),
        ({"runAsUser": 1000}, False),
        ({"allowPrivilegeEscalation": True}, True),
        ({"privileged": True}, None),
        ({"capabilities": {"add": ["SYS_ADMIN"]}}, None),
        ({"capabilities": {"add": ["CAP_SYS_ADMIN"]}}, None),
        ({"capabilities": {"add": ["NET_ADMIN"]}}, False),
        ({"privileged": False, "capabilities": {"drop": ["ALL"]}}, False),
    ],
)
def test_the_task_security_context_is_merged_over_the_default(
    context: dict[str, Any], escalation: bool | None
) -> None:
    pod = manifest(request(security_context=context))
    container = pod.spec.containers[0]
    assert container.security_context.allow_privilege_escalation is escalation
    data = assert_valid(pod)
    written = data["spec"]["containers"][0]["securityContext"]
    assert {key: written[key] for key in context} == context


@pytest.mark.parametrize(
    ("context", "refused"),
    [
        ({}, []),
        ({"privileged": False, "allowPrivilegeEscalation": False}, []),
        ({"capabilities": {"drop": ["ALL"], "add": []}}, []),
        ({"privileged": True}, ["privileged: true"]),
        (
            {"allowPrivilegeEscalation": True, "capabilities": {"add": ["NET_RAW"]}},
            ["allowPrivilegeEscalation: true", "capabilities.add"],
        ),
    ],
)
def test_it_names_what_needs_an_administrator(
    context: dict[str, Any], refused: list[str]
) -> None:
    assert refused_privileges(context) == refused


FULL_FIXTURE = ROOT / "tests" / "fixtures" / "full.yaml"


def _shapes() -> list[tuple[str, dict[str, Any]]]:
    volumes = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "ram", "emptyDir": {"medium": "Memory", "sizeLimit": 1}},
        {
            "name": "conf",
            "configMap": {
                "name": "conf",
                "items": [{"key": "a.ini", "path": "x/a.ini", "mode": 0o400}],
            },
        },
        {"name": "creds", "secret": {"secretName": "creds"}},
        {
            "name": "out",
            "persistentVolumeClaim": {"claimName": "out", "readOnly": True},
        },
    ]
    mounts = [
        {"name": "scratch", "mountPath": "/tmp"},
        {"name": "conf", "mountPath": "/etc/conf", "readOnly": True},
        {"name": "creds", "mountPath": "/creds/pw", "subPath": "pw"},
        {"name": "out", "mountPath": "/out", "readOnly": True},
    ]
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "disk", "operator": "In", "values": ["ssd"]}
                        ],
                        "matchFields": [
                            {
                                "key": "metadata.name",
                                "operator": "NotIn",
                                "values": ["bad-node"],
                            }
                        ],
                    }
                ]
            }
        },
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {
                        "matchExpressions": [{"key": "app", "operator": "Exists"}]
                    },
                    "namespaces": ["data"],
                    "topologyKey": "topology.kubernetes.io/zone",
                }
            ]
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {"flowdeck.io/task": "x"}},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        },
    }
    return [
        ("the bare minimum", shell_task("a")),
        ("no command", {"name": "a", "image": "nginx:1.27"}),
        (
            "resources",
            shell_task(
                "a",
                resources={
                    "requests": {"cpu": "250m", "memory": 0.5, "nvidia.com/gpu": 1},
                    "limits": {"cpu": 2, "memory": "1Gi", "nvidia.com/gpu": "1"},
                },
            ),
        ),
        (
            "scheduling",
            shell_task(
                "a",
                nodeSelector={"kubernetes.io/arch": "arm64"},
                tolerations=[
                    {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
                    {
                        "key": "spot",
                        "value": "yes",
                        "effect": "NoExecute",
                        "tolerationSeconds": 60,
                    },
                    {"operator": "Exists"},
                ],
                affinity=affinity,
                priorityClassName="batch.low",
            ),
        ),
        (
            "identity and pulls",
            shell_task(
                "a",
                imagePullPolicy="Always",
                serviceAccountName="runner",
                imagePullSecrets=["regcred", "mirror"],
                workingDir="/work",
            ),
        ),
        ("volumes", shell_task("a", volumes=volumes, volumeMounts=mounts)),
        (
            "a locked-down container",
            shell_task(
                "a",
                securityContext={
                    "runAsUser": 65534,
                    "runAsGroup": 65534,
                    "runAsNonRoot": True,
                    "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                    "privileged": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            ),
        ),
        (
            "a privileged container",
            shell_task(
                "a",
                securityContext={
                    "privileged": True,
                    "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]},
                },
            ),
        ),
        (
            "env and a timeout",
            shell_task(
                "a",
                env=[
                    {"name": "A", "value": "1"},
                    {"name": "T", "value": "s3cr3t", "secret": True},
                    {
                        "name": "B",
                        "valueFrom": {
                            "secretKeyRef": {"name": "s", "key": "k", "optional": False}
                        },
                    },
                ],
                timeout="250ms",
            ),
        ),
    ]


SHAPES = _shapes()


@pytest.mark.parametrize(
    "task", [task for _, task in SHAPES], ids=[name for name, _ in SHAPES]
)
def test_every_task_shape_makes_a_valid_pod(task: dict[str, Any]) -> None:
    document = workflow_document("shapes", [task], namespace="team-a")
    [request] = requests_of(document, Limits(allow_privileged=True))
    assert request.namespace == "team-a"
    assert_valid(manifest(request))
    assert_valid(manifest(request, seccomp_profile=None))


def test_the_full_fixture_makes_valid_pods_carrying_every_field() -> None:
    requests = requests_of(parse_document(FULL_FIXTURE.read_text()))
    pods = {r.task: assert_valid(manifest(r)) for r in requests}
    load = pods["load"]["spec"]
    container = load["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["workingDir"] == "/work"
    assert [m["mountPath"] for m in container["volumeMounts"]] == [
        "/work",
        "/etc/load",
        "/creds/password",
        "/out",
    ]
    assert load["volumes"][0] == {
        "name": "scratch",
        "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"},
    }
    assert load["volumes"][1]["configMap"]["items"] == [
        {"key": "load.ini", "path": "load.ini", "mode": 0o444}
    ]
    assert load["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    assert load["serviceAccountName"] == "loader"
    assert load["priorityClassName"] == "batch-high"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert load["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ] == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/arch",
                        "operator": "In",
                        "values": ["amd64", "arm64"],
                    }
                ]
            }
        ]
    }
    extract = pods["extract"]["spec"]
    assert extract["containers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi"},
    }
    assert extract["nodeSelector"] == {"disktype": "ssd"}
    assert extract["tolerations"][1] == {
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    assert extract["activeDeadlineSeconds"] == 600
    # The defaults reach a task that sets none of its own.
    assert extract["serviceAccountName"] == "etl-runner"
    assert extract["imagePullSecrets"] == [{"name": "regcred"}]
    assert "podAntiAffinity" in extract["affinity"]


def test_the_schema_check_would_catch_a_bad_manifest() -> None:
    data = as_json(manifest(request()))
    data["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"
    data["spec"]["containers"][0]["bogus"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(data, SCHEMA_VERSIONS[-1], strict=True)


def test_the_module_is_pure() -> None:
    code = (
        "import sys, k8s_runner.manifests; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'workflows') and m not in ('workflows', 'flowcore.reports', "
        "'flowcore.states')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


# --- data between tasks: Flowdeck's volume and containers ----------------------------

BUCKET = ArtifactBucket("flowdeck-artifacts", "artifacts/", "http://minio:9000", "eu")
WANTED = OutputsRequest(
    parameters=(("rows", "/flowdeck/outputs/rows", "[]"),),
    artifacts=(("data", "/flowdeck/outputs/data.csv", False),),
    result=True,
)
INPUTS = (
    InputArtifactRequest("people", "/flowdeck/inputs/people.csv", "a" * 64, "p.csv"),
    InputArtifactRequest("model", "/models/m.bin", "b" * 64, "m.bin"),
)


def data_manifest(request: PodRequest, **settings: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "artifact_bucket": BUCKET,
        "artifact_secret": "flowdeck-artifacts",
        "helper_image": "registry.example.com/flowdeck:1.2",
    }
    return assert_valid(manifest(request, **{**base, **settings}))


def containers(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = data["spec"]
    return {c["name"]: c for c in spec.get("initContainers", []) + spec["containers"]}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_a_task_with_outputs_shares_a_volume_with_flowdeck_s_containers() -> None:
    data = data_manifest(request(outputs=WANTED))
    spec = data["spec"]
    assert spec["volumes"] == [{"name": "flowdeck", "emptyDir": {}}]
    assert [c["name"] for c in spec["initContainers"]] == ["flowdeck-init"]
    assert [c["name"] for c in spec["containers"]] == ["main", "flowdeck-outputs"]
    main = spec["containers"][0]
    # The task's own command and args, run under the wrapper.
    assert main["command"] == ["sh", "-c", WRAPPER, "flowdeck-main", "sh", "-c"]
    assert main["args"] == ["echo hi"]
    assert main["volumeMounts"] == [{"name": "flowdeck", "mountPath": "/flowdeck"}]
    assert env_of(main)["FLOWDECK_OUTPUTS"] == "/flowdeck/outputs"
    assert env_of(main)["FLOWDECK_INPUTS"] == "/flowdeck/inputs"
    helper = spec["containers"][1]
    assert helper["image"] == "registry.example.com/flowdeck:1.2"
    assert helper["command"] == ["python", "-m", "k8s_runner.helper", "outputs"]
    assert helper["volumeMounts"] == [
        {"name": "flowdeck", "mountPath": "/flowdeck", "readOnly": True}
    ]
    assert helper["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    # The pod alone says what to collect: the watcher has no PodRequest.
    assert OutputsRequest.from_json(env_of(helper)["FLOWDECK_HELPER_REQUEST"]) == (
        WANTED
    )
    assert data["metadata"]["annotations"][
        "kubectl.kubernetes.io/default-container"
    ] == ("main")


def test_the_store_s_credentials_are_referenced_never_written() -> None:
    data = data_manifest(request(outputs=WANTED))
    env = env_of(containers(data)["flowdeck-outputs"])
    assert env["FLOWDECK_ARTIFACT_S3_BUCKET"] == "flowdeck-artifacts"
    assert env["FLOWDECK_ARTIFACT_S3_ENDPOINT"] == "http://minio:9000"
    assert env["FLOWDECK_ARTIFACT_S3_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "flowdeck-artifacts", "key": "accessKey"}
    }
    assert env["FLOWDECK_ARTIFACT_S3_SECRET_KEY"] == {
        "secretKeyRef": {"name": "flowdeck-artifacts", "key": "secretKey"}
    }
    # Without a Secret the pod's own identity (IRSA, workload identity) serves.
    bare = env_of(
        containers(data_manifest(request(outputs=WANTED), artifact_secret=""))[
            "flowdeck-outputs"
        ]
    )
    assert "FLOWDECK_ARTIFACT_S3_SECRET_KEY" not in bare
    # Outputs without artifacts need no store at all.
    plain = data_manifest(request(outputs=OutputsRequest(result=True)))
    assert not any(
        name.startswith("FLOWDECK_ARTIFACT_")
        for container in containers(plain).values()
        for name in env_of(container)
    )


def test_inputs_are_fetched_first_and_mounted_read_only_where_the_task_reads() -> None:
    data = data_manifest(request(input_artifacts=INPUTS))
    spec = data["spec"]
    # No outputs: no helper, and the command is the task's own, unwrapped.
    assert [c["name"] for c in spec["containers"]] == ["main"]
    main = spec["containers"][0]
    assert main["command"] == ["sh", "-c"]
    assert main["volumeMounts"] == [
        {"name": "flowdeck", "mountPath": "/flowdeck"},
        {
            "name": "flowdeck",
            "mountPath": "/flowdeck/inputs/people.csv",
            "subPath": ".inputs/people",
            "readOnly": True,
        },
        {
            "name": "flowdeck",
            "mountPath": "/models/m.bin",
            "subPath": ".inputs/model",
            "readOnly": True,
        },
    ]
    [init] = spec["initContainers"]
    assert init["command"] == ["python", "-m", "k8s_runner.helper", "prepare"]
    assert inputs_from_json(env_of(init)["FLOWDECK_HELPER_REQUEST"]) == INPUTS
    assert env_of(init)["FLOWDECK_ARTIFACT_S3_SECRET_KEY"] == {
        "secretKeyRef": {"name": "flowdeck-artifacts", "key": "secretKey"}
    }


def test_the_examples_make_valid_pods_on_kubernetes() -> None:
    upstream = {
        "tasks.extract.outputs.result": "[1, 2]",
        "tasks.transform.outputs.result": "[10, 20]",
    }
    for name in ("etl-values", "csv-line-count"):
        document = parse_document((ROOT / "examples" / f"{name}.yaml").read_text())
        spec = parse_spec(document, Limits())
        for task in spec.tasks:
            rendered = dataclasses.asdict(render_task(task, {}, upstream))
            rendered["retry"]["on"] = sorted(rendered["retry"]["on"])
            rendered["result_wanted"] = True  # as if someone read every result
            rendered["inputs"] = {
                "attempts": {},
                "artifacts": [
                    {"name": a.name, "path": a.path, "sha256": "c" * 64}
                    for a in task.input_artifacts
                ],
            }
            launch = Launch(1, 7, spec.name, 3, task.name, 1, rendered)
            pod = containers(data_manifest(pod_request(launch)))
            assert {"flowdeck-init", "main", "flowdeck-outputs"} == set(pod)


def test_a_guaranteed_task_keeps_its_pod_guaranteed() -> None:
    exact = {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    helper = containers(data_manifest(request(outputs=WANTED, resources=exact)))[
        "flowdeck-outputs"
    ]
    assert helper["resources"]["requests"] == helper["resources"]["limits"]
    burstable = containers(data_manifest(request(outputs=WANTED)))["flowdeck-outputs"]
    assert burstable["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"memory": "256Mi"},
    }


@pytest.mark.parametrize(
    ("fields", "chosen", "message"),
    [
        (
            {"outputs": WANTED, "command": (), "args": ("x",)},
            {},
            "a task with outputs needs a `command`",
        ),
        ({"input_artifacts": INPUTS}, {"artifact_bucket": None}, "need the S3"),
        (
            {"outputs": WANTED, "volumes": ({"name": "flowdeck", "emptyDir": {}},)},
            {},
            "the volume name 'flowdeck' is Flowdeck's own",
        ),
        (
            {
                "outputs": WANTED,
                "volumes": ({"name": "v", "emptyDir": {}},),
                "volume_mounts": ({"name": "v", "mountPath": "/flowdeck/outputs"},),
            },
            {},
            "volumeMounts at /flowdeck/outputs",
        ),
    ],
)
def test_what_cannot_work_is_refused_with_a_reason(
    fields: dict[str, Any], chosen: dict[str, Any], message: str
) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        manifest(request(**fields), **{"artifact_bucket": BUCKET, **chosen})


def test_the_pod_builder_and_the_helper_agree_and_the_kubelet_leaves_it_alone() -> None:
    from k8s_runner import helper

    assert HELPER_REQUEST_ENV == helper.REQUEST_ENV
    assert HELPER_COMMAND == ("python", "-m", "k8s_runner.helper")
    # The kubelet expands $(VAR) in command and args and turns $$ into $.
    assert "$(" not in WRAPPER and "$$" not in WRAPPER


def test_the_wrapper_keeps_the_exit_status_and_forwards_sigterm(tmp_path: Path) -> None:
    """The wrapper's shell, with /flowdeck standing at a temporary directory
    (the pod tests run it for real, as PID 1, in the kubelet simulator)."""
    wrapper = WRAPPER.replace("/flowdeck", str(tmp_path))
    (tmp_path / "outputs").mkdir()
    script = f"umask 077; echo secret > {tmp_path}/outputs/f; exit 3"
    done = subprocess.run(["sh", "-c", wrapper, "flowdeck-main", "sh", "-c", script])
    assert done.returncode == 3
    assert (tmp_path / ".exit").read_text() == "3\n"
    # Readable by the helper, whoever wrote it how.
    assert (tmp_path / "outputs" / "f").stat().st_mode & 0o044 == 0o044
    trapped = "trap 'echo stopping; exit 7' TERM; while :; do sleep 0.1; done"
    process = subprocess.Popen(
        ["sh", "-c", wrapper, "flowdeck-main", "sh", "-c", trapped],
        stdout=subprocess.PIPE,
    )
    time.sleep(0.5)
    process.terminate()
    out, _ = process.communicate(timeout=5)
    assert (process.returncode, out) == (7, b"stopping\n")
    assert (tmp_path / ".exit").read_text() == "7\n"


def test_the_projects_service_account_is_the_default_of_a_task_naming_none():
    def account(**fields: Any) -> Any:
        pod = pod_manifest(
            request(**fields), namespace="ns", settings=ManifestSettings()
        )
        return pod.spec.service_account_name

    assert account() is None
    assert account(project_service_account="runner") == "runner"
    assert (
        account(service_account_name="reader", project_service_account="runner")
        == "reader"
    )
