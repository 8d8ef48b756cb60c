"""The Kubernetes objects of a daemon attempt (docs/spec.md, "Daemons"): a
Deployment of one replica, or a StatefulSet with a volume claim template when
`persistent: true`, and a Service with a stable name (the run's and the
task's) in the run's namespace.

The pods carry DAEMON_ATTEMPT_ID_LABEL instead of the attempt-id label: the
pod watcher and recovery follow the attempt's workload, never its pods (which
the workload's controller restarts as it likes). Every object carries
DAEMON_LABEL and the run's label, which the sweep selects on to delete the
daemons of ended runs. The Service is owned by the workload (an
ownerReference, set once the workload exists), so on a real cluster deleting
the workload takes the Service (and the ReplicaSet and pods) with it; a
StatefulSet deletes its claims too on 1.27+ (persistentVolumeClaimRetentionPolicy).

Pure: `kubernetes.client.models` and the pod builder.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from kubernetes.client.models import (
    V1ContainerPort,
    V1Deployment,
    V1DeploymentSpec,
    V1LabelSelector,
    V1ObjectMeta,
    V1OwnerReference,
    V1PersistentVolumeClaim,
    V1PersistentVolumeClaimSpec,
    V1PodTemplateSpec,
    V1Probe,
    V1Service,
    V1ServicePort,
    V1ServiceSpec,
    V1StatefulSet,
    V1StatefulSetPersistentVolumeClaimRetentionPolicy,
    V1StatefulSetSpec,
    V1VolumeMount,
    V1VolumeResourceRequirements,
)

from k8s_runner.manifests import (
    ATTEMPT_ID_LABEL,
    MANAGED_BY,
    MANAGER,
    RUN_LABEL,
    TASK_LABEL,
    ManifestError,
    ManifestSettings,
    label_value,
    pod_manifest,
)
from k8s_runner.pod_request import PodRequest

DAEMON_LABEL = "flowdeck.io/daemon"
DAEMON_ATTEMPT_ID_LABEL = "flowdeck.io/daemon-attempt-id"
# Every daemon object of a run: `flowdeck.io/daemon=true,flowdeck.io/run=N`.
DAEMON_SELECTOR = f"{MANAGED_BY}={MANAGER},{DAEMON_LABEL}=true"
CLAIM_NAME = "data"
# Kubernetes' default, written so that a stuck rollout fails the attempt even
# without a task timeout.
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
PROGRESS_DEADLINE_SLACK_SECONDS = 30
CLAIM_RETENTION_SINCE = (1, 27)
_NOT_DNS_1035 = re.compile(r"[^a-z0-9-]+")


def service_name(workflow: str, run_id: int, task: str) -> str:
    """The Service's name: stable for a run's task (every attempt's is the
    same), a DNS-1035 label (a letter first, at most 63 characters)."""
    name = _NOT_DNS_1035.sub("-", f"{workflow}-{run_id}-{task}".lower()).strip("-")
    if not name[:1].isalpha():
        name = f"d-{name}"
    if len(name) <= 63 and name == f"{workflow}-{run_id}-{task}":
        return name
    digest = hashlib.sha256(f"{workflow}\0{run_id}\0{task}".encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


def daemon_labels(request: PodRequest) -> dict[str, str]:
    return {
        MANAGED_BY: MANAGER,
        DAEMON_LABEL: "true",
        RUN_LABEL: str(request.run_id),
        TASK_LABEL: label_value(request.task),
        DAEMON_ATTEMPT_ID_LABEL: str(request.attempt_id),
    }


def daemon_selector(run_id: int | None = None) -> str:
    """Every daemon object, or a run's."""
    if run_id is None:
        return DAEMON_SELECTOR
    return f"{DAEMON_SELECTOR},{RUN_LABEL}={run_id}"


def daemon_attempt_id_of(labels: dict[str, str] | None) -> int | None:
    if not labels or labels.get(MANAGED_BY) != MANAGER:
        return None
    try:
        return int(labels.get(DAEMON_ATTEMPT_ID_LABEL, ""))
    except ValueError:
        return None


def _probe(request: PodRequest) -> V1Probe:
    probe = dict((request.daemon or {}).get("readiness_probe") or {})
    probe.setdefault("periodSeconds", 2)
    try:
        return V1Probe.model_validate(probe)
    except ValueError as error:
        raise ManifestError(f"readinessProbe: {error}") from error


def workload_manifest(
    request: PodRequest,
    *,
    namespace: str,
    settings: ManifestSettings,
    server: tuple[int, int] = (1, 99),
) -> V1Deployment | V1StatefulSet:
    """The attempt's Deployment (its name is the attempt's pod name: a
    repeated launch meets AlreadyExists), or its StatefulSet when persistent."""
    daemon: dict[str, Any] = dict(request.daemon or {})
    pod = pod_manifest(request, namespace=namespace, settings=settings)
    assert pod.spec is not None and pod.metadata is not None
    spec = pod.spec
    # A workload's pods restart; the task's timeout bounds its readiness
    # (the backend's), not its life.
    spec.restart_policy = "Always"
    spec.active_deadline_seconds = None
    main = spec.containers[0]
    main.ports = [
        V1ContainerPort(container_port=p["port"], name=p.get("name") or None)
        for p in daemon.get("ports", ())
    ]
    main.readiness_probe = _probe(request)
    labels = daemon_labels(request)
    pod_labels = dict(pod.metadata.labels or {})
    pod_labels.pop(ATTEMPT_ID_LABEL, None)
    pod_labels.update(labels)
    template = V1PodTemplateSpec(
        metadata=V1ObjectMeta(labels=pod_labels, annotations=pod.metadata.annotations),
        spec=spec,
    )
    selector = V1LabelSelector(
        match_labels={
            RUN_LABEL: labels[RUN_LABEL],
            DAEMON_ATTEMPT_ID_LABEL: labels[DAEMON_ATTEMPT_ID_LABEL],
        }
    )
    metadata = V1ObjectMeta(
        name=request.name,
        namespace=namespace,
        labels=labels,
        annotations=pod.metadata.annotations,
    )
    if not daemon.get("persistent"):
        return V1Deployment(
            api_version="apps/v1",
            kind="Deployment",
            metadata=metadata,
            spec=V1DeploymentSpec(
                replicas=1,
                selector=selector,
                template=template,
                progress_deadline_seconds=_progress_deadline(request),
            ),
        )
    storage = daemon.get("storage") or {}
    main.volume_mounts = [
        *(main.volume_mounts or []),
        V1VolumeMount(name=CLAIM_NAME, mount_path=storage["mount_path"]),
    ]
    claim = V1PersistentVolumeClaim(
        metadata=V1ObjectMeta(name=CLAIM_NAME, labels=labels),
        spec=V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage.get("storage_class_name"),
            resources=V1VolumeResourceRequirements(
                requests={"storage": storage["size"]}
            ),
        ),
    )
    retention = (
        V1StatefulSetPersistentVolumeClaimRetentionPolicy(
            when_deleted="Delete", when_scaled="Delete"
        )
        if server >= CLAIM_RETENTION_SINCE
        else None
    )
    return V1StatefulSet(
        api_version="apps/v1",
        kind="StatefulSet",
        metadata=metadata,
        spec=V1StatefulSetSpec(
            replicas=1,
            selector=selector,
            template=template,
            service_name=service_name(request.workflow, request.run_id, request.task),
            volume_claim_templates=[claim],
            persistent_volume_claim_retention_policy=retention,
        ),
    )


def _progress_deadline(request: PodRequest) -> int:
    """The rollout's deadline: past the task's timeout, which decides first
    (and says DeadlineExceeded as for any task); Kubernetes' default without."""
    if request.timeout is None:
        return DEFAULT_PROGRESS_DEADLINE_SECONDS
    return int(request.timeout) + PROGRESS_DEADLINE_SLACK_SECONDS


def service_manifest(
    request: PodRequest,
    *,
    namespace: str,
    owner: V1Deployment | V1StatefulSet | None = None,
) -> V1Service:
    """The daemon's Service: its ports, selecting the attempt's pods; owned by
    `owner` (the workload, once created) so the garbage collector removes it
    with the workload."""
    daemon = request.daemon or {}
    labels = daemon_labels(request)
    owners = None
    if owner is not None and owner.metadata is not None and owner.metadata.uid:
        owners = [
            V1OwnerReference(
                api_version="apps/v1",
                kind=owner.kind or "Deployment",
                name=owner.metadata.name or request.name,
                uid=owner.metadata.uid,
                controller=True,
                block_owner_deletion=True,
            )
        ]
    return V1Service(
        api_version="v1",
        kind="Service",
        metadata=V1ObjectMeta(
            name=service_name(request.workflow, request.run_id, request.task),
            namespace=namespace,
            labels=labels,
            owner_references=owners,
        ),
        spec=V1ServiceSpec(
            type="ClusterIP",
            selector={
                RUN_LABEL: labels[RUN_LABEL],
                DAEMON_ATTEMPT_ID_LABEL: labels[DAEMON_ATTEMPT_ID_LABEL],
            },
            ports=[
                V1ServicePort(
                    name=p.get("name") or f"p{p['port']}",
                    port=p["port"],
                    target_port=p["port"],
                    protocol="TCP",
                )
                for p in daemon.get("ports", ())
            ],
        ),
    )
