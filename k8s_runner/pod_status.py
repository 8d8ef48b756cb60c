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
* A pod with outputs (Flowdeck's `flowdeck-outputs` container beside the
  task's) has not succeeded until that helper has ended too: the task's exit
  0 is Running (collecting) until then. Its Succeeded report carries no
  outputs yet: the backend reads them from the helper's log (outputs_wanted
  says what to expect). A failing init container `flowdeck-init` is an Error
  (InputsUnavailable), with its termination message.
* One of the task's own init containers that fails is the task's failure:
  Failed, InitContainerFailed. Sidecars (native ones are init containers
  that keep running) never decide: the task's container does, and a
  sidecar's exit code at the pod's end (143 after SIGTERM) is no failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kubernetes.client.models import (
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodStatus,
)

from flowcore.reports import Report
from flowcore.states import AttemptStatus
from k8s_runner.manifests import (
    CONTAINER,
    HELPER_REQUEST_ENV,
    INIT_CONTAINER,
    INIT_CONTAINERS_ANNOTATION,
    OUTPUTS_CONTAINER,
    RUN_LABEL,
    SIDECARS_ANNOTATION,
    attempt_id_of,
    stamp_of,
)
from k8s_runner.pod_request import OutputsRequest

# Waiting reasons that may heal, so they become an Error only after the grace.
PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"})
CONFIG_WAITING = frozenset({"CreateContainerConfigError", "CreateContainerError"})
# Waiting reasons that never heal by waiting.
HOPELESS_WAITING = frozenset({"InvalidImageName", "ErrImageNeverPull"})
_DEADLINE = "DeadlineExceeded"
_START_FAILURES = frozenset({"StartError", "ContainerCannotRun"})
_MESSAGE_LIMIT = 2000
_SHELL_HINT = " (a task with outputs runs under /bin/sh: its image needs one)"


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
    failed_init = _failed_init(pod)
    if failed_init is not None:
        name, ended = failed_init
        detail = _trim(ended.message or "") or f"exited with code {ended.exit_code}"
        at = ended.finished_at or now
        if name in _named(pod, INIT_CONTAINERS_ANNOTATION):
            # The task's own: its program failed, as the task's would.
            message = f"init container {name} exited with code {ended.exit_code}"
            if ended.message:
                message += f": {_trim(ended.message)}"
            return said(
                AttemptStatus.FAILED,
                "InitContainerFailed",
                message,
                ended.exit_code,
                at,
            )
        reason = "InputsUnavailable" if name == INIT_CONTAINER else "InitFailed"
        return said(AttemptStatus.ERROR, reason, f"{name}: {detail}", at=at)
    helper = has_outputs_helper(pod)
    if terminated is not None:
        if terminated.exit_code == 0 and helper:
            return _collecting(said, pod, terminated, now, image_pull_grace_seconds)
        return _ended(said, terminated, ended_at, wrapped=helper)
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
        started = state.running.started_at or now
        stuck = _stuck(said, pod, now, image_pull_grace_seconds)
        return stuck or said(AttemptStatus.RUNNING, at=started)
    blocked = _waiting_on(pod)
    if blocked is not None and blocked[1].reason:
        name, waiting = blocked
        reason, message = waiting.reason or "", _waiting_message(name, waiting)
        if _hopeless(reason, pod, now, image_pull_grace_seconds):
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
    blocked = _waiting_on(pod)
    waiting = blocked[1] if blocked else None
    if waiting is None or waiting.reason not in PULL_WAITING | CONFIG_WAITING:
        return None
    started = _started(pod)
    if started is None:
        return None
    return started + timedelta(seconds=image_pull_grace_seconds)


def has_sidecars(pod: V1Pod) -> bool:
    """Whether the task's sidecars run in `pod` (they may outlive the task's
    container on a server without native sidecars)."""
    return bool(_named(pod, SIDECARS_ANNOTATION))


def _named(pod: V1Pod, annotation: str) -> frozenset[str]:
    """The container names a comma-separated annotation lists."""
    annotations = (pod.metadata.annotations if pod.metadata else None) or {}
    return frozenset(
        name for name in annotations.get(annotation, "").split(",") if name
    )


def has_outputs_helper(pod: V1Pod) -> bool:
    """Whether Flowdeck's outputs helper runs beside the task in `pod`."""
    containers = (pod.spec.containers if pod.spec else None) or []
    return any(container.name == OUTPUTS_CONTAINER for container in containers)


def outputs_wanted(pod: V1Pod) -> OutputsRequest | None:
    """What the pod's outputs helper collects, read from its environment (the
    pod alone says it: a watcher has no PodRequest); None without a helper.
    ValueError when it cannot be read."""
    for container in (pod.spec.containers if pod.spec else None) or []:
        if container.name != OUTPUTS_CONTAINER:
            continue
        for variable in container.env or []:
            if variable.name == HELPER_REQUEST_ENV and variable.value:
                try:
                    return OutputsRequest.from_json(variable.value)
                except (KeyError, TypeError) as error:
                    raise ValueError(f"unreadable outputs request: {error}") from error
        raise ValueError(f"{OUTPUTS_CONTAINER} has no {HELPER_REQUEST_ENV}")
    return None


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
        self.stamp = stamp_of(pod)

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
            attempt_stamp=self.stamp,
        )


def _ended(
    said: _Said,
    terminated: V1ContainerStateTerminated,
    at: datetime,
    *,
    wrapped: bool = False,
) -> Report:
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
        if wrapped:
            message += _SHELL_HINT
        return said(AttemptStatus.FAILED, "StartError", message, code, at)
    message = f"exited with code {code}" + (f": {detail}" if detail else "")
    return said(AttemptStatus.FAILED, reason or "Error", message, code, at)


def _collecting(
    said: _Said,
    pod: V1Pod,
    task: V1ContainerStateTerminated,
    now: datetime,
    image_pull_grace_seconds: float,
) -> Report | None:
    """The task exited 0 in a pod with outputs: Succeeded once the helper has
    collected them (the attempt ends then: uploads are part of it), Running
    while it works."""
    helper = _status_named(pod, OUTPUTS_CONTAINER)
    done = helper.state.terminated if helper and helper.state else None
    if done is not None:
        at = done.finished_at or now
        if done.exit_code == 0:
            return said(AttemptStatus.SUCCEEDED, exit_code=0, at=at)
        detail = _trim(done.message or "")
        message = f"Flowdeck's outputs helper exited with code {done.exit_code}"
        message += f": {detail}" if detail else ""
        return said(AttemptStatus.ERROR, "OutputsHelperFailed", message, 0, at)
    metadata = pod.metadata or V1ObjectMeta()
    if metadata.deletion_timestamp is not None:
        message = "the pod is being deleted while its outputs were being collected"
        return said(AttemptStatus.CANCELLING, "Terminating", message)
    stuck = _stuck(said, pod, now, image_pull_grace_seconds)
    return stuck or said(AttemptStatus.RUNNING, at=task.started_at or now)


def _stuck(
    said: _Said, pod: V1Pod, now: datetime, image_pull_grace_seconds: float
) -> Report | None:
    """The Error of a running pod whose outputs helper cannot start (its image,
    its Secret) once that no longer may heal; None otherwise."""
    blocked = _waiting_on(pod)
    if blocked is None or not blocked[1].reason:
        return None
    name, waiting = blocked
    reason = waiting.reason or ""
    if not _hopeless(reason, pod, now, image_pull_grace_seconds):
        return None
    return said(AttemptStatus.ERROR, reason, _waiting_message(name, waiting), at=now)


def _hopeless(reason: str, pod: V1Pod, now: datetime, grace: float) -> bool:
    may_heal = reason in PULL_WAITING or reason in CONFIG_WAITING
    return reason in HOPELESS_WAITING or (may_heal and _waited(pod, now) >= grace)


def _waiting_on(pod: V1Pod) -> tuple[str, V1ContainerStateWaiting] | None:
    """The container the attempt waits on, and how: an init container not yet
    done, else the task's; else, with the task's running or done, the
    outputs helper if it cannot start (an image pull, a missing Secret)."""
    status = pod.status or V1PodStatus()
    sidecars = _named(pod, SIDECARS_ANNOTATION)
    for init in status.init_container_statuses or []:
        state = init.state
        if state is not None and state.terminated is not None:
            continue  # done (a failure is handled before)
        if state is not None and state.waiting is not None:
            return init.name, state.waiting
        if init.name in sidecars:
            continue  # a native sidecar runs beside what comes next
        return None  # running
    main = _main_container(pod)
    if main is not None and main.state is not None and main.state.waiting:
        return main.name, main.state.waiting
    helper = _status_named(pod, OUTPUTS_CONTAINER)
    waiting = helper.state.waiting if helper and helper.state else None
    if waiting is not None and waiting.reason in (
        PULL_WAITING | CONFIG_WAITING | HOPELESS_WAITING
    ):
        return helper.name if helper else OUTPUTS_CONTAINER, waiting
    return None


def _waiting_message(name: str, waiting: V1ContainerStateWaiting) -> str:
    message = _trim(waiting.message or "")
    if name == CONTAINER:
        return message
    return f"{name}: {message}" if message else name


def _failed_init(pod: V1Pod) -> tuple[str, V1ContainerStateTerminated] | None:
    """The init container that ended with a non-zero exit, if one did."""
    status = pod.status or V1PodStatus()
    sidecars = _named(pod, SIDECARS_ANNOTATION)
    for init in status.init_container_statuses or []:
        ended = init.state.terminated if init.state else None
        if ended is not None and ended.exit_code != 0 and init.name not in sidecars:
            return init.name, ended
    return None


def _status_named(pod: V1Pod, name: str) -> V1ContainerStatus | None:
    for status in (pod.status.container_statuses if pod.status else None) or []:
        if status.name == name:
            return status
    return None


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
