"""What the kubelet simulator can do with a pod: the behaviours a test scripts.

Each is a frozen dataclass; `KubeletSimulator.script(key, *behaviours)` picks
them per pod (see kubelet_sim.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class Behaviour:
    """Base class of what the simulator does with a pod."""


@dataclass(frozen=True)
class Succeed(Behaviour):
    """Run for `after` seconds, writing `logs` (None: "ran <pod>"), exit 0.

    Log lines are written when the container starts, or one every
    `line_interval` seconds; the container exits once both `after` seconds
    have passed and every line is written. `start_delay` is the time spent
    in ContainerCreating.
    """

    after: float = 0.1
    logs: Sequence[str] | None = None
    line_interval: float = 0.0
    start_delay: float = 0.0


@dataclass(frozen=True)
class Fail(Behaviour):
    """Run like `Succeed`, then exit with `exit_code` (terminated `reason`)."""

    exit_code: int = 1
    after: float = 0.1
    logs: Sequence[str] = ()
    line_interval: float = 0.0
    start_delay: float = 0.0
    reason: str = "Error"


@dataclass(frozen=True)
class OOMKilled(Fail):
    """Killed by the kernel's OOM killer: exit 137, reason OOMKilled."""

    exit_code: int = 137
    reason: str = "OOMKilled"


@dataclass(frozen=True)
class RunUntilDeleted(Behaviour):
    """Start, write `logs`, and keep running until the pod is deleted; then
    take `stop_delay` seconds to stop (a program finishing its work within
    the grace period), the pod lingering with its deletionTimestamp."""

    logs: Sequence[str] = ()
    line_interval: float = 0.0
    start_delay: float = 0.0
    stop_delay: float = 0.0


@dataclass(frozen=True)
class Waiting(Behaviour):
    """The container never starts: it waits with `reason` (phase Pending).

    `message` may use `{image}`; None gives the kubelet's usual message.
    """

    reason: str = "ContainerCreating"
    message: str | None = None

    def describe(self, image: str) -> str | None:
        template = self.message or _WAITING_MESSAGES.get(self.reason)
        return template.format(image=image) if template else None


@dataclass(frozen=True)
class ImagePullBackOff(Waiting):
    reason: str = "ImagePullBackOff"


@dataclass(frozen=True)
class ErrImagePull(Waiting):
    reason: str = "ErrImagePull"


@dataclass(frozen=True)
class CreateContainerConfigError(Waiting):
    reason: str = "CreateContainerConfigError"


_WAITING_MESSAGES = {
    "ImagePullBackOff": 'Back-off pulling image "{image}"',
    "ErrImagePull": (
        'rpc error: code = NotFound desc = failed to pull and unpack image "{image}"'
        ": not found"
    ),
    "CreateContainerConfigError": 'secret "missing-secret" not found',
}


@dataclass(frozen=True)
class Evicted(Behaviour):
    """Run for `after` seconds, then be evicted: phase Failed, reason Evicted."""

    after: float = 0.1
    logs: Sequence[str] = ()
    message: str = (
        "The node was low on resource: memory. Container main was using "
        "2Gi, which exceeds its request of 0. "
    )


@dataclass(frozen=True)
class Unschedulable(Behaviour):
    """Never bound: PodScheduled=False, reason Unschedulable, `message`."""

    message: str = "0/3 nodes are available: 3 Insufficient cpu."


@dataclass(frozen=True)
class RunContainers(Behaviour):
    """Run the pod's containers for real, the way a kubelet would: init
    containers in order, then every container at once, as local processes
    sharing the pod's emptyDir volumes (kubelet_containers.py). The default
    for pods with Flowdeck's own containers (outputs, input artifacts)."""
