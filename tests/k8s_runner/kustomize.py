"""A small kustomize: renders deploy/kubernetes (and an overlay of it) the way
`kubectl apply -k` does, for the features Flowdeck's base and the overlay of
docs/production.md use, so the tests need no kustomize binary.

Supported: `resources` (files, and directories holding a kustomization),
`namespace` (set on every namespaced object, the name of a Namespace object,
and the namespace of RoleBindings' subjects that name a ServiceAccount of the
same build, as kustomize does), `labels` (`pairs` on metadata.labels only:
neither includeSelectors nor includeTemplates), `images` (`newName`,
`newTag`, `digest`) and `patches` (strategic-merge patches, inline or by
`path`, maps merged key by key, lists replaced, `$patch: delete` removing
the object). Anything else in
a kustomization is an error, never silently ignored. Where kubectl is
installed, tests/k8s_runner/test_deploy_manifests.py checks that this and
`kubectl kustomize` render the same objects.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "patches",
}
# The kinds of the base that have no namespace.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


class KustomizeError(ValueError):
    pass


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize directory` prints, in file order."""
    directory = directory.resolve()
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN
    if unknown:
        raise KustomizeError(f"{directory}: unsupported fields {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            objects.extend(render(path))
        else:
            objects.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for patch in kustomization.get("patches", []):
        objects = _patched(objects, _patch_body(directory, patch))
    namespace = kustomization.get("namespace")
    if namespace:
        accounts = {
            d["metadata"]["name"] for d in objects if d["kind"] == "ServiceAccount"
        }
        for document in objects:
            _set_namespace(document, namespace, accounts)
    for label in kustomization.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise KustomizeError("labels: only metadata labels are supported")
        for document in objects:
            document["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in kustomization.get("images", []):
        for document in objects:
            for container in _containers(document):
                container["image"] = _new_image(container["image"], image)
    return objects


def _patch_body(directory: Path, patch: dict[str, Any]) -> dict[str, Any]:
    if set(patch) - {"patch", "path"}:
        raise KustomizeError(f"patches: only patch and path: {patch}")
    text = (
        patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text()
    )
    body = yaml.safe_load(text)
    if not isinstance(body, dict) or "kind" not in body:
        raise KustomizeError("patches: a strategic-merge patch with a kind")
    return body


def _patched(
    objects: list[dict[str, Any]], patch: dict[str, Any]
) -> list[dict[str, Any]]:
    name = patch["metadata"]["name"]
    matched = [
        d
        for d in objects
        if d["kind"] == patch["kind"] and d["metadata"]["name"] == name
    ]
    if len(matched) != 1:
        raise KustomizeError(f"patch of {patch['kind']}/{name} matches {len(matched)}")
    if patch.get("$patch") == "delete":
        return [d for d in objects if d is not matched[0]]
    _merge(matched[0], patch)
    return objects


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _set_namespace(
    document: dict[str, Any], namespace: str, accounts: set[str]
) -> None:
    if document["kind"] == "Namespace":
        document["metadata"]["name"] = namespace
        return
    if document["kind"] not in CLUSTER_SCOPED:
        document["metadata"]["namespace"] = namespace
    if document["kind"] in ("RoleBinding", "ClusterRoleBinding"):
        # Only subjects naming a ServiceAccount of this build: a binding to
        # an account elsewhere keeps its namespace (kustomize's name
        # references).
        for subject in document.get("subjects", []):
            if subject.get("kind") == "ServiceAccount" and (
                subject.get("name") in accounts
            ):
                subject["namespace"] = namespace


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec", {})
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec.get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _new_image(current: str, image: dict[str, Any]) -> str:
    name, _, tag = current.partition(":")
    if name != image["name"]:
        return current
    name = image.get("newName", name)
    if "digest" in image:
        return f"{name}@{image['digest']}"
    tag = str(image.get("newTag", tag))
    return f"{name}:{tag}" if tag else name


def write_overlay(
    directory: Path, base: Path, *, namespace: str, **fields: Any
) -> Path:
    """An overlay of `base` in `directory` that moves everything to
    `namespace`, FLOWDECK_K8S_NAMESPACE with it (as docs/production.md says an
    overlay must), plus any other kustomization `fields`."""
    directory.mkdir(parents=True, exist_ok=True)
    settings_patch = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "flowdeck-settings"},
        "data": {"FLOWDECK_K8S_NAMESPACE": namespace},
    }
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [_relative(base, directory)],
        "namespace": namespace,
        **fields,
    }
    kustomization["patches"] = [
        {"patch": yaml.safe_dump(settings_patch)},
        *fields.get("patches", []),
    ]
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


def _relative(path: Path, start: Path) -> str:
    import os

    # kustomize refuses absolute paths to a base.
    return os.path.relpath(path.resolve(), start.resolve())


def poster(api: Any) -> Any:
    """POST a rendered object as kubectl does (its kind's collection URL);
    True when the server answered `expect` instead of accepting it."""

    def post(document: dict[str, Any], *, dry_run: bool, expect: int = 0) -> bool:
        group_version = document["apiVersion"]
        prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        plural = PLURALS[document["kind"]]
        namespace = document["metadata"].get("namespace")
        path = (
            f"{prefix}/namespaces/{namespace}/{plural}"
            if document["kind"] != "Namespace"
            else f"{prefix}/{plural}"
        )
        request = api.param_serialize(
            method="POST",
            resource_path=path,
            query_params=[("dryRun", "All")] if dry_run else [],
            header_params={
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body=document,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(*request).response
        body = response.read().decode()
        if expect and response.status == expect:
            assert f'namespaces \\"{namespace}\\" not found' in body, body
            return True
        where = f"{document['kind']}/{document['metadata']['name']}"
        assert response.status == 201, f"{where}: {response.status} {body}"
        assert not expect, f"{where} was accepted, expected {expect}"
        return False

    return post


PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Deployment": "deployments",
    "CronJob": "cronjobs",
    "Job": "jobs",
    "Ingress": "ingresses",
}
