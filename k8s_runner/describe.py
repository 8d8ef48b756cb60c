"""What an attempt asked for, shown to a person: the rendered task with secret
values masked, the resources it requested, the node it ran on and, for the
Kubernetes backend, the Pod manifest it was (or will be) created from."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from kubernetes.client import ApiClient

from flowcore.secrets import mask_request
from k8s_runner.backends.base import BackendError
from k8s_runner.logs import kubernetes_backend_of
from k8s_runner.manifests import ManifestSettings, pod_manifest
from k8s_runner.pod_request import pod_name
from k8s_runner.pod_status import split_handle
from workflows.models import Attempt, Run

logger = logging.getLogger(__name__)


def describe_attempt(attempt: Attempt) -> dict[str, Any]:
    """The attempt's request, resources, node and manifest (None where the
    backend has none); the caller checked that the person may see the run."""
    from k8s_runner.reconcile import launch_of, pod_request

    request = mask_request(attempt.request or {})
    described: dict[str, Any] = {
        "attempt": attempt.number,
        "backend": attempt.backend,
        "resources": request.get("resources") or {},
        "node": None,
        "request": request,
        "manifest": None,
    }
    if attempt.backend != "kubernetes":
        return described
    pod = pod_request(
        launch_of(attempt, request), attempt.task_run.run.workflow.project.namespace
    )
    backend = kubernetes_backend_of(attempt.backend, attempt.handle or "-")
    settings = backend.manifest_settings if backend else ManifestSettings()
    namespace = backend.namespace_for(pod) if backend else pod.namespace or ""
    manifest = pod_manifest(pod, namespace=namespace, settings=settings)
    described["manifest"] = ApiClient().sanitize_for_serialization(manifest)
    if backend is not None and attempt.handle:
        pod_namespace, name = split_handle(attempt.handle)
        try:
            live = backend.read_pod(pod_namespace or namespace, name)
        except BackendError as error:
            logger.warning("reading pod %s failed: %s", attempt.handle, error)
            live = None
        if live is not None and live.spec is not None:
            described["node"] = live.spec.node_name
    return described


def debug_access(run: Run, task: str) -> dict[str, Any]:
    """How a person reaches the one attempt of a debug run: kubectl commands
    for its pod (whose name derives from the attempt, see pod_name), or the
    log file a local worker writes."""
    from k8s_runner.backends.kubernetes import log_path_for
    from workflows.blueprints import blueprint_of

    if settings.FLOWDECK_BACKEND == "kubernetes":
        namespace = (
            blueprint_of(run).spec.namespace or run.workflow.project.default_namespace
        )
        pod = pod_name(run.workflow.name, run.pk, task, 1)
        return {
            "backend": "kubernetes",
            "namespace": namespace,
            "pod": pod,
            "exec": f"kubectl exec -it -n {namespace} {pod} -- sh",
            "logs": f"kubectl logs -f -n {namespace} {pod}",
            "log_path": None,
            "note": "exec works while the container runs: override the "
            "command with a sleep to keep it up",
        }
    path = log_path_for(Path(settings.DATA_DIR), run.pk, task, 1)
    return {
        "backend": settings.FLOWDECK_BACKEND,
        "namespace": None,
        "pod": None,
        "exec": None,
        "logs": None,
        "log_path": str(path),
        "note": "exec is not available: the local backend runs the task as "
        "a process on a worker, not in a pod; follow its log file or URL",
    }
