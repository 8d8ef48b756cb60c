"""Read a `kind: Job` attempt's Report from its Job: the conditions the Job
controller writes, in Flowdeck's terms.

Pure: the standard library, `kubernetes.client.models` and Flowdeck's pure
states; the clock is passed in. The Job decides, never one of its pods (the
controller may run a failed pod again): condition Complete is Succeeded,
condition Failed is Failed with the controller's reason (BackoffLimitExceeded,
DeadlineExceeded, PodFailurePolicy) and message; a Job being deleted before
either is Cancelling; one with pods running (or done) is Running; else
Pending.
"""

from __future__ import annotations

from datetime import datetime

from kubernetes.client.models import V1Job, V1JobCondition, V1JobStatus, V1ObjectMeta

from flowcore.reports import Report
from flowcore.states import AttemptStatus
from k8s_runner.manifests import RUN_LABEL, attempt_id_of, stamp_of

JOB_HANDLE_PREFIX = "job:"


def job_handle(namespace: str, name: str) -> str:
    """A Job attempt's handle, `job:namespace/name` (a pod's has no prefix)."""
    return f"{JOB_HANDLE_PREFIX}{namespace}/{name}"


def split_job_handle(handle: str) -> tuple[str, str] | None:
    """(namespace, name) of a Job handle; None for any other handle."""
    if not handle.startswith(JOB_HANDLE_PREFIX):
        return None
    namespace, _, name = handle[len(JOB_HANDLE_PREFIX) :].rpartition("/")
    return namespace, name


def report_for_job(job: V1Job, *, now: datetime) -> Report | None:
    """What the Job says about its attempt now; None for a Job not Flowdeck's."""
    metadata = job.metadata or V1ObjectMeta()
    labels = metadata.labels or {}
    attempt_id = attempt_id_of(labels)
    if attempt_id is None:
        return None
    run = labels.get(RUN_LABEL, "")
    stamp = stamp_of(job)
    status = job.status or V1JobStatus()
    spec = job.spec
    completions = (spec.completions if spec else None) or 1
    handle = job_handle(metadata.namespace or "", metadata.name or "")

    def said(
        state: AttemptStatus,
        reason: str = "",
        message: str = "",
        at: datetime | None = None,
        exit_code: int | None = None,
    ) -> Report:
        return Report(
            attempt_id,
            state,
            handle=handle,
            reason=reason,
            message=message,
            at=at,
            exit_code=exit_code,
            run_id=int(run) if run.isdigit() else None,
            attempt_stamp=stamp,
        )

    complete = _condition(job, "Complete")
    if complete is not None:
        at = status.completion_time or complete.last_transition_time or now
        succeeded = status.succeeded or completions
        message = f"{succeeded} of {completions} completions succeeded"
        return said(AttemptStatus.SUCCEEDED, message=message, at=at, exit_code=0)
    failed = _condition(job, "Failed")
    if failed is not None:
        at = failed.last_transition_time or now
        reason = failed.reason or "JobFailed"
        message = failed.message or f"the Job failed ({reason})"
        counts = f" ({status.succeeded or 0} of {completions} completions succeeded"
        counts += f", {status.failed or 0} pods failed)"
        return said(AttemptStatus.FAILED, reason, message + counts, at)
    if metadata.deletion_timestamp is not None:
        return said(AttemptStatus.CANCELLING, "Terminating", "the Job is being deleted")
    if status.active or status.succeeded or status.failed:
        started = status.start_time or now
        return said(AttemptStatus.RUNNING, at=started)
    return said(AttemptStatus.PENDING)


def is_finished_job(job: V1Job) -> bool:
    return _condition(job, "Complete") is not None or (
        _condition(job, "Failed") is not None
    )


def _condition(job: V1Job, kind: str) -> V1JobCondition | None:
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.type == kind and condition.status == "True":
            return condition
    return None
