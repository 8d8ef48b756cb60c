"""Build the Pod that runs one attempt: PodRequest -> V1Pod (names, labels, spec).

Pure: the standard library and `kubernetes.client.models` only, no API calls,
no Django, no settings read here; the backend passes what it needs in
ManifestSettings. The Kubernetes-shaped parts of a task (env sources,
tolerations, affinity, volumes, mounts, the security context) arrive in
Kubernetes' wire shape and become the client's models as they are; the spec
validated them when the workflow was saved.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubernetes.client.models import (
    V1Affinity,
    V1Container,
    V1EnvVar,
    V1EnvVarSource,
    V1LocalObjectReference,
    V1ObjectMeta,
    V1Pod,
    V1PodSecurityContext,
    V1PodSpec,
    V1ResourceRequirements,
    V1SeccompProfile,
    V1SecurityContext,
    V1Toleration,
    V1Volume,
    V1VolumeMount,
)

if TYPE_CHECKING:
    from k8s_runner.pod_request import PodRequest

CONTAINER = "main"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "flowdeck"
# Selects every pod Flowdeck manages: the watch, recovery and clean-up use it.
SELECTOR = f"{MANAGED_BY}={MANAGER}"
WORKFLOW_LABEL = "flowdeck.io/workflow"
RUN_LABEL = "flowdeck.io/run"
TASK_LABEL = "flowdeck.io/task"
ATTEMPT_LABEL = "flowdeck.io/attempt"
ATTEMPT_ID_LABEL = "flowdeck.io/attempt-id"
WORKFLOW_ANNOTATION = "flowdeck.io/workflow"
VERSION_ANNOTATION = "flowdeck.io/version"
TASK_ANNOTATION = "flowdeck.io/task"

# What an error about a privileged setting says (the spec says the same).
ALLOW_PRIVILEGED_HINT = (
    "is not allowed unless an administrator allows privileged containers"
    " (FLOWDECK_K8S_ALLOW_PRIVILEGED)"
)

_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_INVALID = re.compile(r"[^-A-Za-z0-9_.]+")
_MAX_LABEL = 63
_SYS_ADMIN = frozenset({"SYS_ADMIN", "CAP_SYS_ADMIN"})


@dataclass(frozen=True, slots=True)
class ManifestSettings:
    """What the deployment decides for every pod."""

    # The pod's seccomp profile; None leaves the container runtime's default.
    seccomp_profile: str | None = "RuntimeDefault"
    # The container's allowPrivilegeEscalation unless the task sets it (and left
    # out where Kubernetes would refuse it: privileged, or adding SYS_ADMIN).
    allow_privilege_escalation: bool | None = False


def label_value(text: str) -> str:
    """`text` as a valid label value (at most 63 characters of letters, digits,
    '-', '_' and '.', starting and ending with a letter or digit); a hash of the
    original is appended when it had to be changed, so values stay distinct."""
    if len(text) <= _MAX_LABEL and _LABEL_VALUE.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    cleaned = _LABEL_INVALID.sub("-", text)[: _MAX_LABEL - 9]
    cleaned = cleaned.strip("-_.")
    return f"{cleaned}-{digest}" if cleaned else digest


def labels_for(request: PodRequest) -> dict[str, str]:
    return {
        MANAGED_BY: MANAGER,
        WORKFLOW_LABEL: label_value(request.workflow),
        RUN_LABEL: str(request.run_id),
        TASK_LABEL: label_value(request.task),
        ATTEMPT_LABEL: str(request.attempt),
        ATTEMPT_ID_LABEL: str(request.attempt_id),
    }


def attempt_id_of(labels: Mapping[str, str] | None) -> int | None:
    """The attempt a pod runs, from its labels; None for a pod not ours."""
    if not labels or labels.get(MANAGED_BY) != MANAGER:
        return None
    try:
        return int(labels.get(ATTEMPT_ID_LABEL, ""))
    except ValueError:
        return None


def refused_privileges(security_context: Mapping[str, Any]) -> list[str]:
    """The fields of a task's security context that need an administrator's
    permission (privileged containers), as `field: value` texts."""
    refused = []
    if security_context.get("privileged") is True:
        refused.append("privileged: true")
    if security_context.get("allowPrivilegeEscalation") is True:
        refused.append("allowPrivilegeEscalation: true")
    if _capabilities_added(security_context):
        refused.append("capabilities.add")
    return refused


# Kubernetes refuses a pod whose activeDeadlineSeconds is past 2**31 - 1 (68 years).
_MAX_DEADLINE_SECONDS = 2**31 - 1


def _deadline_seconds(timeout: float | None) -> int | None:
    """The pod's activeDeadlineSeconds: the task's timeout rounded up to a whole
    second, capped at what Kubernetes accepts. The spec allows at most 365
    days, but a version saved before it had a maximum may ask for 10**30 s;
    the engine never times such an attempt out either."""
    if not timeout:
        return None
    if not timeout < _MAX_DEADLINE_SECONDS:  # inf and NaN included
        return _MAX_DEADLINE_SECONDS
    return math.ceil(timeout)


def pod_manifest(
    request: PodRequest, *, namespace: str, settings: ManifestSettings
) -> V1Pod:
    """The Pod for one attempt. Its name derives from the attempt's identity, so
    creating it twice fails with AlreadyExists instead of running it twice."""
    spec = V1PodSpec(
        restart_policy="Never",
        containers=[_container(request, settings)],
        node_selector=dict(request.node_selector) or None,
        tolerations=[V1Toleration.model_validate(dict(t)) for t in request.tolerations]
        or None,
        affinity=V1Affinity.model_validate(dict(request.affinity))
        if request.affinity
        else None,
        priority_class_name=request.priority_class_name,
        service_account_name=request.service_account_name,
        image_pull_secrets=[
            V1LocalObjectReference(name=name) for name in request.image_pull_secrets
        ]
        or None,
        volumes=[V1Volume.model_validate(dict(v)) for v in request.volumes] or None,
        active_deadline_seconds=_deadline_seconds(request.timeout),
        security_context=V1PodSecurityContext(
            seccomp_profile=V1SeccompProfile(type=settings.seccomp_profile)
        )
        if settings.seccomp_profile
        else None,
    )
    metadata = V1ObjectMeta(
        name=request.name,
        namespace=namespace,
        labels=labels_for(request),
        annotations={
            WORKFLOW_ANNOTATION: request.workflow,
            VERSION_ANNOTATION: str(request.version),
            TASK_ANNOTATION: request.task,
        },
    )
    return V1Pod(api_version="v1", kind="Pod", metadata=metadata, spec=spec)


def _container(request: PodRequest, settings: ManifestSettings) -> V1Container:
    resources = request.resources
    requests = dict(resources.get("requests") or {})
    limits = dict(resources.get("limits") or {})
    return V1Container(
        name=CONTAINER,
        image=request.image,
        image_pull_policy=request.image_pull_policy,
        command=list(request.command) or None,
        args=list(request.args) or None,
        working_dir=request.working_dir,
        env=_env(request),
        resources=V1ResourceRequirements(
            requests=requests or None, limits=limits or None
        )
        if requests or limits
        else None,
        volume_mounts=[
            V1VolumeMount.model_validate(dict(m)) for m in request.volume_mounts
        ]
        or None,
        security_context=_security_context(request.security_context, settings),
    )


def _env(request: PodRequest) -> list[V1EnvVar]:
    """The task's variables, after the ones Flowdeck sets (which the task may
    override, as on the local backend)."""
    own = {variable["name"] for variable in request.env}
    flowdeck = {
        "FLOWDECK_WORKFLOW": request.workflow,
        "FLOWDECK_RUN_ID": str(request.run_id),
        "FLOWDECK_TASK": request.task,
        "FLOWDECK_ATTEMPT": str(request.attempt),
    }
    env = [
        V1EnvVar(name=name, value=value)
        for name, value in flowdeck.items()
        if name not in own
    ]
    for variable in request.env:
        source = variable.get("value_from")
        if source:
            env.append(
                V1EnvVar(
                    name=variable["name"],
                    value_from=V1EnvVarSource.model_validate(dict(source)),
                )
            )
        else:
            env.append(
                V1EnvVar(name=variable["name"], value=variable.get("value") or "")
            )
    return env


def _security_context(
    own: Mapping[str, Any], settings: ManifestSettings
) -> V1SecurityContext | None:
    context = dict(own)
    default = settings.allow_privilege_escalation
    if (
        default is not None
        and "allowPrivilegeEscalation" not in context
        # Kubernetes refuses allowPrivilegeEscalation: false beside these.
        and context.get("privileged") is not True
        and not (_SYS_ADMIN & set(_capabilities_added(context)))
    ):
        context["allowPrivilegeEscalation"] = default
    return V1SecurityContext.model_validate(context) if context else None


def _capabilities_added(context: Mapping[str, Any]) -> list[str]:
    capabilities = context.get("capabilities") or {}
    return list(capabilities.get("add") or ())
