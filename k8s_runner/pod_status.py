"""Read an attempt's Report from its Pod: what Kubernetes says, in Flowdeck's terms.

Pure: the standard library, `kubernetes.client.models` and Flowdeck's pure
states; the clock is passed in. The container's own state decides before the
pod's phase does, since the phase alone cannot tell an exit code from an
eviction. How each case is classified (docs/kubernetes.md has the table):

* Failed is the program's fault: a non-zero exit (message "exited with code
  N"), OOMKilled (the program outgrew its memory limit), DeadlineExceeded (it
  outlived the task's timeout), a command the runtime could not start.
* Error is the infrastructure's: eviction, preemption, a lost node, an image
  that cannot be pulled, a container the kubelet cannot configure (a missing
  secret or config map). `retry.on` can tell the two apart.
* Image pull failures and config errors may heal (a registry hiccup, a secret
  created a moment later), so they stay Pending, with the reason and message
  shown, until `image_pull_grace_seconds` after the pod started; an image
  name that can never be pulled is an Error at once.
* Unschedulable is Pending with the scheduler's message: the cluster may grow.
* A pod with a deletionTimestamp whose container has not ended is Cancelling:
  deleted (by a cancel, or by someone else) and stopping within its grace
  period; still using its node meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kubernetes.client.models import (
    V1ContainerStateTerminated,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodStatus,
)

from flowcore.reports import Report
from flowcore.states import AttemptStatus
from k8s_runner.manifests import CONTAINER, RUN_LABEL, attempt_id_of

# Waiting reasons that may heal, so they become an Error only after the grace.
PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"})
CONFIG_WAITING = frozenset({"CreateContainerConfigError", "CreateContainerError"})
# Waiting reasons that never heal by waiting.
HOPELESS_WAITING = frozenset({"InvalidImageName", "ErrImageNeverPull"})
_DEADLINE = "DeadlineExceeded"
_START_FAILURES = frozenset({"StartError", "ContainerCannotRun"})
_MESSAGE_LIMIT = 2000


def handle_of(pod: V1Pod) -> str:
    """The attempt's handle: the pod's `namespace/name`."""
    metadata = pod.metadata or V1ObjectMeta()
    return f"{metadata.namespace}/{metadata.name}"


def split_handle(handle: str) -> tuple[str | None, str]:
    """`namespace/name` -> (namespace, name); a bare name has no namespace."""
    namespace, _, name = handle.rpartition("/")
    return namespace or None, name


def report_for(
    pod: V1Pod, *, now: datetime, image_pull_grace_seconds: float
) -> Report | None:
    """What the pod says about its attempt now; None when it says nothing new
    (a pod not Flowdeck's, one being deleted before its container ended, a
    node that stopped reporting)."""
    metadata = pod.metadata or V1ObjectMeta()
    attempt_id = attempt_id_of(metadata.labels)
    if attempt_id is None:
        return None
    said = _Said(pod, attempt_id)
    status = pod.status or V1PodStatus()
    container = _main_container(pod)
    state = container.state if container else None
    terminated = state.terminated if state else None
    ended_at = terminated.finished_at if terminated and terminated.finished_at else now
    exit_code = terminated.exit_code if terminated else None
    pod_message = _trim(status.message or "")
    if status.reason == _DEADLINE:
        message = pod_message or "killed after the task's timeout"
        return said(AttemptStatus.FAILED, _DEADLINE, message, exit_code, ended_at)
    if status.phase == "Failed":
        disruption = (status.reason, pod_message) if status.reason else _disruption(pod)
        if disruption[0]:
            # Evicted, preempted, OutOfcpu and friends: the node's doing.
            reason, message = disruption
            return said(AttemptStatus.ERROR, reason, message, exit_code, ended_at)
    if terminated is not None:
        return _ended(said, terminated, ended_at)
    if metadata.deletion_timestamp is not None:
        if is_finished(pod):
            return None  # a clean-up of a finished pod: nothing new
        grace = metadata.deletion_grace_period_seconds
        within = f" within its grace period of {grace}s" if grace else ""
        message = f"the pod is being deleted; its container is stopping{within}"
        return said(AttemptStatus.CANCELLING, "Terminating", message)
    if status.phase == "Succeeded":
        return said(AttemptStatus.SUCCEEDED, exit_code=0, at=now)
    if status.phase == "Failed":
        message = pod_message or "the pod failed without a container status"
        return said(AttemptStatus.ERROR, "PodFailed", message, at=now)
    if status.phase == "Unknown":
        return None  # the node stopped reporting; it may come back
    if state is not None and state.running is not None:
        return said(AttemptStatus.RUNNING, at=state.running.started_at or now)
    waiting = state.waiting if state else None
    if waiting is not None and waiting.reason:
        reason, message = waiting.reason, _trim(waiting.message or "")
        may_heal = reason in PULL_WAITING or reason in CONFIG_WAITING
        if reason in HOPELESS_WAITING or (
            may_heal and _waited(pod, now) >= image_pull_grace_seconds
        ):
            return said(AttemptStatus.ERROR, reason, message, at=now)
        return said(AttemptStatus.PENDING, reason, message)
    scheduled = _condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        reason = scheduled.reason or "Unschedulable"
        return said(AttemptStatus.PENDING, reason, _trim(scheduled.message or ""))
    return said(AttemptStatus.PENDING)


def pending_deadline(pod: V1Pod, image_pull_grace_seconds: float) -> datetime | None:
    """When a pod waiting on something that may heal (an image pull, a missing
    secret) becomes an Error, so the watcher can look again then even if no
    event comes; None when it waits on nothing of the kind."""
    container = _main_container(pod)
    waiting = container.state.waiting if container and container.state else None
    if waiting is None or waiting.reason not in PULL_WAITING | CONFIG_WAITING:
        return None
    started = _started(pod)
    if started is None:
        return None
    return started + timedelta(seconds=image_pull_grace_seconds)


def is_finished(pod: V1Pod) -> bool:
    """Whether Kubernetes considers the pod done (its phase is final)."""
    return bool(pod.status and pod.status.phase in ("Succeeded", "Failed"))


class _Said:
    """Builds the pod's reports, each with its attempt, handle and run."""

    def __init__(self, pod: V1Pod, attempt_id: int) -> None:
        self.attempt_id = attempt_id
        self.handle = handle_of(pod)
        labels = (pod.metadata.labels if pod.metadata else None) or {}
        run = labels.get(RUN_LABEL, "")
        self.run_id = int(run) if run.isdigit() else None

    def __call__(
        self,
        status: AttemptStatus,
        reason: str = "",
        message: str = "",
        exit_code: int | None = None,
        at: datetime | None = None,
    ) -> Report:
        return Report(
            self.attempt_id,
            status,
            handle=self.handle,
            exit_code=exit_code,
            reason=reason,
            message=message,
            at=at,
            run_id=self.run_id,
        )


def _ended(said: _Said, terminated: V1ContainerStateTerminated, at: datetime) -> Report:
    code = terminated.exit_code
    reason = terminated.reason or ""
    detail = _trim(terminated.message or "")
    if code == 0:
        return said(AttemptStatus.SUCCEEDED, exit_code=0, at=at)
    if reason == "OOMKilled":
        message = f"exited with code {code}: out of memory (OOMKilled)"
        return said(AttemptStatus.FAILED, "OOMKilled", message, code, at)
    if reason in _START_FAILURES:
        message = detail or f"the container could not start ({reason})"
        return said(AttemptStatus.FAILED, "StartError", message, code, at)
    message = f"exited with code {code}" + (f": {detail}" if detail else "")
    return said(AttemptStatus.FAILED, reason or "Error", message, code, at)


def _main_container(pod: V1Pod) -> V1ContainerStatus | None:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    for status in statuses:
        if status.name == CONTAINER:
            return status
    return statuses[0] if statuses else None


def _condition(pod: V1Pod, kind: str) -> V1PodCondition | None:
    for condition in (pod.status.conditions if pod.status else None) or []:
        if condition.type == kind:
            return condition
    return None


def _disruption(pod: V1Pod) -> tuple[str, str]:
    """(reason, message) of the DisruptionTarget condition newer clusters set on
    a pod they stop (preemption, a taint, the eviction API); empty if none."""
    condition = _condition(pod, "DisruptionTarget")
    if condition is None or condition.status != "True":
        return "", ""
    return condition.reason or "DisruptionTarget", _trim(condition.message or "")


def _started(pod: V1Pod) -> datetime | None:
    if pod.status and pod.status.start_time:
        return pod.status.start_time
    return pod.metadata.creation_timestamp if pod.metadata else None


def _waited(pod: V1Pod, now: datetime) -> float:
    started = _started(pod)
    return (now - started).total_seconds() if started else 0.0


def _trim(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
