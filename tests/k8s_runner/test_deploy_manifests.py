"""deploy/kubernetes: every manifest is valid Kubernetes, the Role grants
exactly what the backend needs, and every container runs a real entry point."""

from __future__ import annotations

import importlib
import json
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.core.management import get_commands

from tests.k8s_runner.kustomize import poster, render, write_overlay
from tests.k8s_runner.test_manifests import SCHEMA_VERSIONS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUSTOMIZATION = DEPLOY / "kustomization.yaml"


def manifests() -> list[Path]:
    return sorted(p for p in DEPLOY.glob("*.yaml") if p != KUSTOMIZATION)


def documents() -> list[dict[str, Any]]:
    return [
        document
        for path in manifests()
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for document in documents() if document["kind"] == kind]


@pytest.mark.parametrize("path", manifests(), ids=lambda path: path.name)
@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_manifest_validates_strictly(path: Path, version: str) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, version, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    assert sorted(kustomization["resources"]) == [path.name for path in manifests()]
    assert [image["name"] for image in kustomization["images"]] == ["flowdeck"]


def test_the_role_grants_exactly_what_the_backend_calls() -> None:
    (role,) = of_kind("Role")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    verbs = ("create", "get", "list", "watch", "delete")
    assert granted == {
        *(("", "pods", verb) for verb in verbs),
        ("", "pods/log", "get"),
        ("", "events", "list"),
        ("", "events", "watch"),
        *(("batch", "jobs", verb) for verb in verbs),
        # Daemon tasks (k8s_runner/backends/kubernetes_daemons.py).
        *(
            ("apps", kind, verb)
            for kind in ("deployments", "statefulsets")
            for verb in ("create", "get", "list", "delete")
        ),
        *(
            ("", "services", verb)
            for verb in ("create", "get", "list", "patch", "delete")
        ),
        ("", "persistentvolumeclaims", "list"),
        ("", "persistentvolumeclaims", "delete"),
        # KubernetesLeaseLock: read, create, renew (replace). Nothing else.
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
    (binding,) = of_kind("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (account,) = of_kind("ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"]}
    ]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (document["metadata"]["name"], document["spec"]["template"]["spec"])
        for document in of_kind("Deployment") + of_kind("Job")
    ] + [
        (
            document["metadata"]["name"],
            document["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        )
        for document in of_kind("CronJob")
    ]


def entry_point(command: list[str]) -> None:
    """Fail unless `command` names something this code base has."""
    if command[0] == "sh":
        for part in command[2].split("&&"):
            entry_point(part.split())
        return
    if command[:2] == ["python", "manage.py"]:
        assert command[2] in get_commands(), command
    elif command[0] == "celery":
        assert command[1] == "-A"
        # `celery -A webapp` finds the app in webapp.celery.
        assert importlib.import_module(f"{command[2]}.celery").app, command
        assert command[3] in ("worker", "beat"), command
    elif command[0] == "daphne":
        module, _, name = command[-1].partition(":")
        assert getattr(importlib.import_module(module), name)
    else:
        raise AssertionError(f"unknown entry point {command}")


def test_every_container_runs_a_real_entry_point() -> None:
    commands = {
        name: container["command"]
        for name, spec in pod_specs()
        for container in spec["containers"]
    }
    assert set(commands) == {
        "flowdeck-web",
        "flowdeck-worker",
        "flowdeck-beat",
        "flowdeck-watcher",
        "flowdeck-migrate",
        "flowdeck-gc-artifacts",
    }
    for command in commands.values():
        entry_point(command)
    assert commands["flowdeck-watcher"] == ["python", "manage.py", "watch_pods"]
    assert commands["flowdeck-gc-artifacts"] == ["python", "manage.py", "gc_artifacts"]


def test_every_pod_runs_as_non_root_with_requests_and_the_image_placeholder() -> None:
    for name, spec in pod_specs():
        assert spec["serviceAccountName"] == "flowdeck", name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            assert container["image"] == "flowdeck:latest", name
            assert container["resources"]["requests"], name
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name


def test_the_web_server_is_probed_and_served() -> None:
    (web,) = [spec for name, spec in pod_specs() if name == "flowdeck-web"]
    (container,) = web["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (service,) = of_kind("Service")
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "flowdeck",
        "app.kubernetes.io/component": "web",
    }


def test_the_watcher_and_the_beat_run_two_elected_replicas_kept_by_a_budget() -> None:
    (settings,) = of_kind("ConfigMap")
    assert settings["data"]["FLOWDECK_LEADER_ELECTION"] == "kubernetes"
    budgets = {
        budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]: (
            budget["spec"]
        )
        for budget in of_kind("PodDisruptionBudget")
    }
    for document in of_kind("Deployment"):
        name = document["metadata"]["name"]
        if name not in ("flowdeck-beat", "flowdeck-watcher"):
            continue
        component = name.removeprefix("flowdeck-")
        assert document["spec"]["replicas"] == 2
        assert "strategy" not in document["spec"]  # rolling: the other leads
        assert budgets[component]["minAvailable"] == 1
        (container,) = document["spec"]["template"]["spec"]["containers"]
        assert {
            "name": "POD_NAME",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
        } in container["env"]
    assert set(budgets) == {"beat", "watcher"}
    beat = next(
        d for d in of_kind("Deployment") if d["metadata"]["name"] == "flowdeck-beat"
    )
    # Two beats must not share one shelve file on the shared volume.
    assert (
        "--schedule=/tmp/celerybeat-schedule"
        in (beat["spec"]["template"]["spec"]["containers"][0]["command"])
    )
    (collector,) = of_kind("CronJob")
    assert collector["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.slow
def test_the_api_server_accepts_every_manifest_in_a_dry_run(
    kube: Any, kube_namespace: str
) -> None:
    from kubernetes import client, utils

    with kube.api_client() as api:
        batch = {r.kind for r in client.BatchV1Api(api).get_api_resources().resources}
        served = served_versions(api)
        for document in documents():
            if document["kind"] == "CronJob" and "CronJob" not in batch:
                # batch/v1 CronJob is Kubernetes 1.21+; the test server is 1.20.
                # The strict schema check above holds it to 1.25 and 1.37.
                continue
            if document["apiVersion"] not in served:
                continue  # policy/v1 (1.21+), likewise
            utils.create_from_dict(
                api, document, namespace=kube_namespace, dry_run="All"
            )
        # A dry run stores nothing.
        names = [
            item.metadata.name
            for item in client.CoreV1Api(api)
            .list_namespaced_config_map(kube_namespace)
            .items
        ]
        assert "flowdeck-settings" not in names


def served_versions(api: Any) -> set[str]:
    """The API versions the API server serves: the base's policy/v1
    PodDisruptionBudgets are newer than the test server (1.20)."""
    from kubernetes import client

    groups = client.ApisApi(api).get_api_versions().groups
    return {"v1"} | {
        version.group_version for group in groups for version in group.versions
    }


def test_the_helper_image_is_the_image_flowdeck_runs() -> None:
    """Pods with outputs run Flowdeck's image beside the task; the setting
    must name the image the Deployments run (kustomize cannot rewrite it)."""
    (settings,) = of_kind("ConfigMap")
    images = {
        container["image"]
        for _, spec in pod_specs()
        for container in spec["containers"] + spec.get("initContainers", [])
    }
    assert images == {settings["data"]["FLOWDECK_K8S_HELPER_IMAGE"]}


# --- the rendered base: what `kubectl apply -k deploy/kubernetes` sends -----------


def test_the_base_renders_with_its_namespace_and_grants_exactly_it() -> None:
    """The Namespace is in the base, it is the one FLOWDECK_K8S_NAMESPACE
    names (where the default project's pods go), and the Role is bound there
    and nowhere else."""
    objects = render(DEPLOY)
    assert len(objects) == 16  # 14 + the two PodDisruptionBudgets
    (namespace,) = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    (settings,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert settings["data"]["FLOWDECK_K8S_NAMESPACE"] == namespace == "flowdeck"
    for document in objects:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == namespace, document["kind"]
    (binding,) = [o for o in objects if o["kind"] == "RoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "flowdeck", "namespace": namespace}
    ]
    assert {o["kind"] for o in objects}.isdisjoint(
        {"ClusterRole", "ClusterRoleBinding"}
    )


def _canonical(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True) for o in objects)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl here")
def test_the_renderer_renders_what_kubectl_kustomize_renders(tmp_path: Path) -> None:
    overlay = write_overlay(
        tmp_path / "overlay",
        DEPLOY,
        namespace="flowdeck-prod",
        images=[
            {
                "name": "flowdeck",
                "newName": "registry.example.com/fd",
                "newTag": "1.2.3",
            }
        ],
        patches=[
            {
                "patch": "apiVersion: v1\nkind: Secret\nmetadata:\n"
                "  name: flowdeck-secrets\n$patch: delete\n"
            }
        ],
    )
    for directory in (DEPLOY, overlay):
        printed = subprocess.run(
            ["kubectl", "kustomize", str(directory)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        expected = [d for d in yaml.safe_load_all(printed) if d]
        assert _canonical(render(directory)) == _canonical(expected), directory


@pytest.mark.slow
def test_the_rendered_base_passes_a_server_side_dry_run(
    kube: Any, tmp_path: Path
) -> None:
    """`kubectl apply -k` against the suite's kube-apiserver, done with the
    Python client: every rendered object POSTed with dryRun=All. The base is
    rendered through an overlay that only renames its namespace (the shared
    test cluster may hold a `flowdeck` already); the base's own namespace is
    checked above.

    What a dry run can and cannot show: the API server refuses an object
    whose namespace does not exist, and a dry-run Namespace creates nothing,
    so on an empty cluster every namespaced object of a dry run is refused
    until the Namespace exists for real (as on main, where nothing would ever
    create it). `kubectl apply -k` creates the Namespace first, for real;
    so does this test, then dry-runs everything else."""
    from kubernetes import client

    namespace = f"flowdeck-dry-{secrets.token_hex(3)}"
    objects = render(write_overlay(tmp_path / "overlay", DEPLOY, namespace=namespace))
    (ns_object,) = [o for o in objects if o["kind"] == "Namespace"]
    with kube.api_client() as api:
        batch = {r.kind for r in client.BatchV1Api(api).get_api_resources().resources}
        # batch/v1 CronJob is Kubernetes 1.21+; the test server is 1.20. The
        # strict schema check above holds it to 1.25 and 1.37.
        # policy/v1 PodDisruptionBudget is 1.21+ too.
        served = served_versions(api)
        rest = [
            o
            for o in objects
            if o["kind"] != "Namespace"
            and (o["kind"] != "CronJob" or "CronJob" in batch)
            and o["apiVersion"] in served
        ]
        post = poster(api)
        post(ns_object, dry_run=True)
        refused = [o for o in rest if post(o, dry_run=True, expect=404)]
        assert len(refused) == len(rest)
        post(ns_object, dry_run=False)  # what `kubectl apply -k` sends first
        accepted = []
        for document in rest:
            post(document, dry_run=True)
            accepted.append(document["kind"])
        assert len(accepted) >= 12, accepted
        # A dry run stores nothing.
        names = [
            item.metadata.name
            for item in client.CoreV1Api(api)
            .list_namespaced_config_map(namespace)
            .items
        ]
        assert "flowdeck-settings" not in names


# --- Flowdeck's rights in project namespaces --------------------------------------

PROJECT_NAMESPACES = DEPLOY.parent / "examples" / "project-namespaces"


def test_each_project_namespace_gets_a_role_and_a_binding_to_flowdeck() -> None:
    objects = render(PROJECT_NAMESPACES)
    assert sorted((o["kind"], o["metadata"]["namespace"]) for o in objects) == [
        ("Role", "team-a"),
        ("Role", "team-b"),
        ("RoleBinding", "team-a"),
        ("RoleBinding", "team-b"),
    ]
    assert not {"ClusterRole", "ClusterRoleBinding"} & {o["kind"] for o in objects}
    (base_role,) = of_kind("Role")
    for role in (o for o in objects if o["kind"] == "Role"):
        # The base's rules for task pods; the Leases stay in flowdeck's own.
        assert role["rules"] == [
            rule for rule in base_role["rules"] if rule["resources"] != ["leases"]
        ]
    for binding in (o for o in objects if o["kind"] == "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "flowdeck", "namespace": "flowdeck"}
        ]
    for document in objects:
        for version in SCHEMA_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)
    if shutil.which("kubectl"):
        printed = subprocess.run(
            ["kubectl", "kustomize", str(PROJECT_NAMESPACES)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        expected = [d for d in yaml.safe_load_all(printed) if d]
        assert _canonical(objects) == _canonical(expected)


@pytest.mark.slow
def test_the_project_namespace_rights_pass_a_server_side_dry_run(
    kube: Any, tmp_path: Path
) -> None:
    """Rendered for a fresh namespace, as an overlay of a platform team would."""
    namespace = kube.cluster.create_namespace()
    overlay = tmp_path / "one"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "namespace": namespace,
                "resources": [str(DEPLOY / "project-namespace")],
            }
        )
    )
    objects = render(overlay)
    assert {o["metadata"]["namespace"] for o in objects} == {namespace}
    with kube.api_client() as api:
        post = poster(api)
        for document in objects:
            post(document, dry_run=True)
