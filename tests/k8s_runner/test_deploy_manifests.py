"""deploy/kubernetes: every manifest is valid Kubernetes, the Role grants
exactly what the backend needs, and every container runs a real entry point."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.core.management import get_commands

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


def test_the_singletons_never_run_twice() -> None:
    for document in of_kind("Deployment"):
        if document["metadata"]["name"] in ("flowdeck-beat", "flowdeck-watcher"):
            assert document["spec"]["replicas"] == 1
            assert document["spec"]["strategy"] == {"type": "Recreate"}
    (collector,) = of_kind("CronJob")
    assert collector["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.slow
def test_the_api_server_accepts_every_manifest_in_a_dry_run(
    kube: Any, kube_namespace: str
) -> None:
    from kubernetes import client, utils

    with kube.api_client() as api:
        batch = {r.kind for r in client.BatchV1Api(api).get_api_resources().resources}
        for document in documents():
            if document["kind"] == "CronJob" and "CronJob" not in batch:
                # batch/v1 CronJob is Kubernetes 1.21+; the test server is 1.20.
                # The strict schema check above holds it to 1.25 and 1.37.
                continue
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
