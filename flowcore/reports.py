"""What a backend observes of an attempt: the Report it hands the services.

Pure (the standard library and the states), so pure code such as
k8s_runner.pod_status can build one; workflows.services.attempts records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flowcore.states import AttemptStatus


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
