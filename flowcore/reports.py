"""What a backend observes of an attempt: the Report it hands the services.

Pure (the standard library and the states), so pure code such as
k8s_runner.pod_status can build one; workflows.services.attempts records them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flowcore.states import AttemptStatus


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """An output artifact, in the artifact store under its content's sha256."""

    name: str
    sha256: str
    size: int
    filename: str  # what a download is called
    directory: bool = False  # a directory, stored as a .tar.gz of it


@dataclass(frozen=True, slots=True)
class CollectedOutputs:
    """What a finished attempt left for its dependants. A `problem` (an output
    over its cap, a file that must exist and does not) fails the attempt with
    `reason` instead: nothing is recorded half."""

    result: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    artifacts: tuple[StoredArtifact, ...] = ()
    reason: str = ""  # OutputTooLarge, OutputMissing, OutputUnreadable
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """One observation of an attempt by its backend."""

    attempt_id: int
    status: AttemptStatus
    handle: str = ""
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    log_path: str = ""
    at: datetime | None = None
    run_id: int | None = None  # saves a lookup when the backend knows it
    outputs: CollectedOutputs | None = None  # with Succeeded, when it declared some
    # Which attempt of that id was observed (attempt_stamp of when it was
    # recorded, kept on its pod or files); "" when the backend cannot tell.
    attempt_stamp: str = ""


def attempt_stamp(created_at: datetime | None) -> str:
    """When an attempt was recorded, as its backend's traces keep it: its id
    alone names its pod and files, and a database reset or restored gives the
    same id to another attempt. "" when not known."""
    return created_at.astimezone(UTC).isoformat() if created_at else ""
