"""The kubelet simulator's Job controller (and its garbage collector for Job
pods): the test API server runs no controllers, so this plays what
kube-controller-manager's Job controller documents
(https://kubernetes.io/docs/concepts/workloads/controllers/job/):

* pods are made from the Job's template, named `<job>-<5 random characters>`,
  labelled `job-name` and `controller-uid` (plus the template's), owned by
  the Job (an ownerReference with controller: true); the kubelet side of the
  simulator then plays them like any pod (scripted by their task label);
* at most `parallelism` pods are active at once, and no more are started than
  `completions` still need; a failed pod is replaced by a new one;
* the status counts `active`, `succeeded` and `failed` pods and has
  `startTime`; once `succeeded` reaches `completions` the Job gets condition
  Complete (and `completionTime`); once `failed` exceeds `backoffLimit`
  (default 6) it gets condition Failed, reason BackoffLimitExceeded, message
  "Job has reached the specified backoff limit", and its active pods are
  deleted; past `activeDeadlineSeconds` from `startTime`, condition Failed,
  reason DeadlineExceeded, "Job was active longer than specified deadline";
* a Job that is gone has its pods deleted (the garbage collector's part).

Not played: Indexed Jobs, podFailurePolicy, ttlSecondsAfterFinished, suspend
and the backoff delay between pod retries (the 1.20 API server drops the
first three fields, and the delay is only slower).
"""

from __future__ import annotations

import datetime as dt
import secrets
import string

from kubernetes import client

from tests.k8s_runner.kubelet_controllers import TickingController

_ENDED = ("Succeeded", "Failed")


class JobController(TickingController):
    """Syncs every Job of `namespace` each tick, in a thread of its own."""

    interval = 0.05
    name = "jobs"
    label = "Job controller"

    def __init__(
        self, api_client: client.ApiClient, namespace: str, errors: list[str]
    ) -> None:
        super().__init__(namespace, errors)
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)

    def tick(self) -> None:
        jobs = self.batch.list_namespaced_job(self.namespace).items
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector="job-name"
        ).items
        owned: dict[str, list[client.V1Pod]] = {}
        for pod in pods:
            owned.setdefault(pod.metadata.labels["controller-uid"], []).append(pod)
        uids = {job.metadata.uid for job in jobs}
        for uid, orphans in owned.items():
            if uid not in uids:  # the Job is gone: the garbage collector's part
                for pod in orphans:
                    self._delete(pod)
        for job in jobs:
            if job.metadata.deletion_timestamp is None:
                self.sync(job, owned.get(job.metadata.uid, []))

    def sync(self, job: client.V1Job, pods: list[client.V1Pod]) -> None:
        spec, status = job.spec, job.status or client.V1JobStatus()
        if any(c.status == "True" for c in status.conditions or []):
            for pod in pods:  # finished: nothing may keep running
                if _active(pod):
                    self._delete(pod)
            return
        now = dt.datetime.now(dt.UTC)
        succeeded = sum(
            p.status is not None and p.status.phase == "Succeeded" for p in pods
        )
        failed = sum(p.status is not None and p.status.phase == "Failed" for p in pods)
        active = [p for p in pods if _active(p)]
        completions = spec.completions or 1
        backoff = 6 if spec.backoff_limit is None else spec.backoff_limit
        start = status.start_time or now
        condition = None
        if failed > backoff:
            condition = client.V1JobCondition(
                type="Failed",
                status="True",
                reason="BackoffLimitExceeded",
                message="Job has reached the specified backoff limit",
                last_probe_time=now,
                last_transition_time=now,
            )
        elif spec.active_deadline_seconds is not None and (
            (now - start).total_seconds() > spec.active_deadline_seconds
        ):
            condition = client.V1JobCondition(
                type="Failed",
                status="True",
                reason="DeadlineExceeded",
                message="Job was active longer than specified deadline",
                last_probe_time=now,
                last_transition_time=now,
            )
        elif succeeded >= completions:
            condition = client.V1JobCondition(
                type="Complete",
                status="True",
                last_probe_time=now,
                last_transition_time=now,
            )
        if condition is not None and condition.type == "Failed":
            for pod in active:
                self._delete(pod)
            active = []
        if condition is None:
            wanted = min(spec.parallelism or 1, completions - succeeded) - len(active)
            for _ in range(max(0, wanted)):
                active.append(self._create(job))
        new = client.V1JobStatus(
            active=len(active) or None,
            succeeded=succeeded or None,
            failed=failed or None,
            start_time=start,
            completion_time=now
            if condition is not None and condition.type == "Complete"
            else None,
            conditions=[condition] if condition is not None else None,
        )
        if _same(status, new):
            return
        job.status = new
        try:
            self.batch.replace_namespaced_job_status(
                job.metadata.name, self.namespace, job
            )
        except client.ApiException as error:
            if error.status not in (404, 409):  # gone, or changed: next tick
                raise

    def _create(self, job: client.V1Job) -> client.V1Pod:
        template = job.spec.template
        suffix = "".join(
            secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5)
        )
        labels = {
            **(template.metadata.labels or {}),
            "job-name": job.metadata.name,
            "controller-uid": job.metadata.uid,
        }
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(
                name=f"{job.metadata.name}-{suffix}",
                namespace=self.namespace,
                labels=labels,
                annotations=template.metadata.annotations,
                owner_references=[
                    client.V1OwnerReference(
                        api_version="batch/v1",
                        kind="Job",
                        name=job.metadata.name,
                        uid=job.metadata.uid,
                        controller=True,
                        block_owner_deletion=True,
                    )
                ],
            ),
            spec=template.spec,
        )
        created: client.V1Pod = self.core.create_namespaced_pod(self.namespace, pod)
        return created

    def _delete(self, pod: client.V1Pod) -> None:
        try:
            self.core.delete_namespaced_pod(pod.metadata.name, self.namespace)
        except client.ApiException as error:
            if error.status != 404:
                raise


def _active(pod: client.V1Pod) -> bool:
    phase = pod.status.phase if pod.status else None
    return phase not in _ENDED and pod.metadata.deletion_timestamp is None


def _same(old: client.V1JobStatus, new: client.V1JobStatus) -> bool:
    def key(status: client.V1JobStatus) -> tuple[object, ...]:
        return (
            status.active,
            status.succeeded,
            status.failed,
            status.start_time is not None,
            tuple((c.type, c.reason) for c in status.conditions or []),
        )

    return key(old) == key(new)
