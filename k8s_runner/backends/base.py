"""The runner backend interface: what the dispatcher asks of any backend.

A backend starts, stops and observes attempts. It reports what it observes to a
Reporter (the dispatcher), never writing to the database itself, so the engine
and the services never know which backend runs a task.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflows.reports import Report

Reporter = Callable[[Report], None]


class BackendError(Exception):
    """A backend call failed. `permanent` faults fail the attempt (as Error);
    transient ones are tried again later."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class PodRequest:
    """One attempt of one task, rendered, as the backend receives it."""

    attempt_id: int
    run_id: int
    workflow: str
    version: int
    task: str
    attempt: int
    image: str | None
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[Mapping[str, Any], ...] = ()
    resources: Mapping[str, Any] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    priority: int = 0
    timeout: float | None = None
    # Kubernetes only; the mappings keep the Kubernetes wire shape (camelCase).
    image_pull_policy: str | None = None
    working_dir: str | None = None
    affinity: Mapping[str, Any] = field(default_factory=dict)
    priority_class_name: str | None = None
    service_account_name: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    security_context: Mapping[str, Any] = field(default_factory=dict)
    namespace: str | None = None  # the workflow's own spec.namespace
    # The run's project's namespace, used when the workflow names none; None
    # (and then `namespace` None too): the backend's FLOWDECK_K8S_NAMESPACE.
    project_namespace: str | None = None

    @property
    def name(self) -> str:
        """A stable name from the attempt's identity: a repeated launch of the
        same attempt finds the same name and so cannot start it twice."""
        return pod_name(self.workflow, self.run_id, self.task, self.attempt)


_INVALID = re.compile(r"[^a-z0-9-]+")


def pod_name(workflow: str, run_id: int, task: str, attempt: int) -> str:
    """`workflow-run-task-attempt`: a valid DNS label of at most 63 characters,
    distinct for distinct attempts.

    The plain name reads back one way only: the run id is the first part after
    the workflow's name that is all digits, the attempt the last part. When that
    would not hold (a later part of the workflow's name is all digits, as in
    `w-1`, run 2, task `t`, which would read like `w`, run 1, task `2-t`), or the
    name has to be trimmed or cleaned, a hash of the identity is appended.
    """
    full = f"{workflow}-{run_id}-{task}-{attempt}"
    name = _INVALID.sub("-", full.lower()).strip("-")
    readable = not any(part.isdigit() for part in workflow.split("-")[1:])
    if len(name) <= 63 and name == full and readable:
        return name
    identity = "\0".join((workflow, str(run_id), task, str(attempt)))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


@dataclass(frozen=True, slots=True)
class LiveAttempt:
    """An attempt the database believes live, as recover() is given it."""

    attempt_id: int
    handle: str  # "" when it was never recorded as started
    log_path: str = ""


class Backend(Protocol):
    name: str

    def launch(self, request: PodRequest) -> None:
        """Start the attempt; repeating it for a launched attempt does nothing.
        Progress arrives later through the reporter."""

    def cancel(self, attempt_id: int, handle: str) -> None:
        """Stop the attempt if it still runs; idempotent."""

    def status(self, attempt_id: int, handle: str) -> Report | None:
        """What the backend knows of the attempt now; None when it knows nothing."""

    def logs(self, log_path: str, handle: str, *, offset: int = 0) -> bytes:
        """The attempt's output from byte `offset` on."""

    def recover(self, live: list[LiveAttempt]) -> list[int]:
        """After a restart: given every attempt the database believes live,
        adopt what still runs, report what ended, and return the ids that were
        never started and must be launched again."""
