"""The kubelet simulator's Deployment and StatefulSet controllers, for daemon
tasks: the test API server runs no controllers (no Deployment or ReplicaSet
controller, no StatefulSet controller, no garbage collector), so this writes
the status those controllers would once their one pod is running and passes
its readiness probe
(https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status):

* a Deployment, `ready_after` seconds after it was made: `observedGeneration`,
  `replicas`, `updatedReplicas`, `readyReplicas` and `availableReplicas` 1,
  conditions Available (MinimumReplicasAvailable) and Progressing
  (NewReplicaSetAvailable), all True;
* a StatefulSet likewise: `replicas`, `readyReplicas`, `currentReplicas` and
  `updatedReplicas` 1;
* a workload whose task is in `never_ready` gets `replicas` 1 and
  `unavailableReplicas` 1 (its pod runs, its probe never passes) and, once its
  `progressDeadlineSeconds` have passed, the Deployment controller's condition
  Progressing False, reason ProgressDeadlineExceeded.

Not played: the ReplicaSets, the pods themselves and their probes (Flowdeck
reads the workload's status only, never its pods), the claims a StatefulSet
makes from its volumeClaimTemplates. The Service's cluster IP is the API
server's own: it allocates one on create, as on any cluster.
"""

from __future__ import annotations

import datetime as dt

from kubernetes import client

from tests.k8s_runner.kubelet_controllers import TickingController

TASK_LABEL = "flowdeck.io/task"


class WorkloadController(TickingController):
    """Syncs every Deployment and StatefulSet of `namespace` each tick."""

    interval = 0.1
    name = "workloads"
    label = "workloads"
    quiet_statuses = (404, 409)  # gone, or changed: next tick

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        errors: list[str],
        *,
        ready_after: float = 0.5,
    ) -> None:
        super().__init__(namespace, errors)
        self.apps = client.AppsV1Api(api_client)
        self.ready_after = ready_after
        self.never_ready: set[str] = set()

    def tick(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for deployment in self.apps.list_namespaced_deployment(self.namespace).items:
            self._sync(deployment, now, stateful=False)
        for stateful in self.apps.list_namespaced_stateful_set(self.namespace).items:
            self._sync(stateful, now, stateful=True)

    def _sync(self, workload: object, now: dt.datetime, *, stateful: bool) -> None:
        metadata = workload.metadata  # type: ignore[attr-defined]
        spec = workload.spec  # type: ignore[attr-defined]
        status = workload.status  # type: ignore[attr-defined]
        if metadata.deletion_timestamp is not None:
            return
        age = (now - metadata.creation_timestamp).total_seconds()
        if age < self.ready_after:
            return
        task = (metadata.labels or {}).get(TASK_LABEL, "")
        ready = task not in self.never_ready
        if ready and status is not None and (status.ready_replicas or 0) >= 1:
            return  # already written
        if ready:
            new = {
                "observedGeneration": metadata.generation,
                "replicas": spec.replicas,
                "updatedReplicas": spec.replicas,
                "readyReplicas": spec.replicas,
            }
            if stateful:
                new["currentReplicas"] = spec.replicas
            else:
                new["availableReplicas"] = spec.replicas
                stamp = now.isoformat().replace("+00:00", "Z")
                new["conditions"] = [
                    {
                        "type": "Available",
                        "status": "True",
                        "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability.",
                        "lastUpdateTime": stamp,
                        "lastTransitionTime": stamp,
                    },
                    {
                        "type": "Progressing",
                        "status": "True",
                        "reason": "NewReplicaSetAvailable",
                        "message": f'ReplicaSet "{metadata.name}" has successfully '
                        "progressed.",
                        "lastUpdateTime": stamp,
                        "lastTransitionTime": stamp,
                    },
                ]
        else:
            new = {
                "observedGeneration": metadata.generation,
                "replicas": spec.replicas,
                "updatedReplicas": spec.replicas,
                "unavailableReplicas": spec.replicas,
            }
            deadline = getattr(spec, "progress_deadline_seconds", None)
            if not stateful and deadline is not None and age > deadline:
                stamp = now.isoformat().replace("+00:00", "Z")
                new["conditions"] = [
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": f'ReplicaSet "{metadata.name}" has timed out '
                        "progressing.",
                        "lastUpdateTime": stamp,
                        "lastTransitionTime": stamp,
                    }
                ]
            if (
                status is not None
                and status.unavailable_replicas == spec.replicas
                and ("conditions" not in new or status.conditions)
            ):
                return
        patch = {"status": new}
        if stateful:
            self.apps.patch_namespaced_stateful_set_status(
                metadata.name, self.namespace, patch
            )
        else:
            self.apps.patch_namespaced_deployment_status(
                metadata.name, self.namespace, patch
            )
