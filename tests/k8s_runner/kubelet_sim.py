"""A kubelet simulator: plays scripted pod lives through a real kube-apiserver.

No containers run anywhere. The simulator registers a Ready Node
(`flowdeck-sim-node`, InternalIP 127.0.0.1) whose kubelet endpoint port is an
HTTPS log server it runs on loopback, so `pods/log` requests really go
through the API server's proxy to `/containerLogs/{ns}/{pod}/{container}`.
A watch thread sees each pod in its namespaces and, for each new one, starts
a player thread that

1. plays the scheduler: binds the pod to the node with a `pods/binding`
   (or, for `Unschedulable`, sets the PodScheduled=False condition a
   scheduler would write and leaves it Pending);
2. plays the kubelet: writes `pods/status` the way a kubelet does (phase,
   conditions, startTime, hostIP, podIP, containerStatuses with waiting /
   running / terminated states, exit codes and reasons) following the
   behaviour the test scripted for it; by default `Succeed()`: run for 0.1 s,
   log "ran <pod>", exit 0;
3. honours deletion: a pod with a deletionTimestamp gets its running
   containers terminated (exit code 143) and is then deleted with a grace
   period of 0, since no real kubelet will ever confirm it.

Scripts are chosen by pod name or by the `flowdeck.io/task` label:

    sim = KubeletSimulator(api_client, "t-1234").start()
    sim.script("extract", Fail(exit_code=3), Succeed(logs=["ok"]))  # 1st, 2nd pod
    sim.script("train", OOMKilled(after=0.5))
    ...
    sim.stop()

`RunContainers()` plays a pod for real instead: its init containers, then its
containers, run as local processes under bubblewrap with the pod's emptyDir
volumes, env (Secrets read from the API server), logs, termination messages
and exit codes (kubelet_containers.py). Pods with Flowdeck's own containers
(`flowdeck-init`, `flowdeck-outputs`: outputs and input artifacts) get it
unless a script names them.

Not simulated: image pulls, probes, restarts (restartPolicy is not looked at:
containers never restart), resource accounting, node heartbeats and leases,
`previous` logs. The scripted behaviours report init containers Completed at
once, and give every container of a pod the same behaviour and log lines.

The behaviours are in kubelet_behaviours.py (re-exported here), the log
server in kubelet_logs.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import urllib3
from kubernetes import client, watch

from tests.k8s_runner.kubelet_behaviours import (
    Behaviour,
    CreateContainerConfigError,
    ErrImagePull,
    Evicted,
    Fail,
    ImagePullBackOff,
    OOMKilled,
    RunContainers,
    RunUntilDeleted,
    Succeed,
    Unschedulable,
    Waiting,
)
from tests.k8s_runner.kubelet_containers import ContainerRunner
from tests.k8s_runner.kubelet_daemons import WorkloadController
from tests.k8s_runner.kubelet_jobs import JobController
from tests.k8s_runner.kubelet_logs import ContainerLog, LogServer, LogStore, now

__all__ = [
    "NODE_NAME",
    "TASK_LABEL",
    "Behaviour",
    "CreateContainerConfigError",
    "ErrImagePull",
    "Evicted",
    "Fail",
    "ImagePullBackOff",
    "KubeletSimulator",
    "OOMKilled",
    "RunContainers",
    "RunUntilDeleted",
    "Succeed",
    "Unschedulable",
    "Waiting",
]

logger = logging.getLogger(__name__)

NODE_NAME = "flowdeck-sim-node"
TASK_LABEL = "flowdeck.io/task"
NODE_IP = "127.0.0.1"
# Flowdeck's own containers: their pods run for real unless scripted.
FLOWDECK_CONTAINERS = frozenset({"flowdeck-init", "flowdeck-outputs"})
_ENDED = ("Succeeded", "Failed")


class _Deleted(Exception):
    """The pod got a deletionTimestamp."""


class _Gone(Exception):
    """The pod no longer exists (or the simulator stops)."""


class KubeletSimulator:
    """Scheduler + kubelet for pods in `namespaces` (None: every namespace).

    `api_client` is shared by the simulator's threads; `default` is played for
    pods no script names.
    """

    def __init__(
        self,
        api_client: client.ApiClient,
        namespaces: str | Iterable[str] | None = None,
        *,
        node_name: str = NODE_NAME,
        default: Behaviour | None = None,
    ) -> None:
        if isinstance(namespaces, str):
            namespaces = [namespaces]
        self.namespaces = None if namespaces is None else frozenset(namespaces)
        self.node_name = node_name
        self.default = default or Succeed()
        self.errors: list[str] = []  # unexpected failures in the threads
        self._core = client.CoreV1Api(api_client)
        # The Job controller's part, for a simulator of one namespace.
        self._jobs = (
            JobController(api_client, next(iter(self.namespaces)), self.errors)
            if self.namespaces is not None and len(self.namespaces) == 1
            else None
        )
        # The Deployment and StatefulSet controllers' part (daemon tasks).
        self.workloads = (
            WorkloadController(api_client, next(iter(self.namespaces)), self.errors)
            if self.namespaces is not None and len(self.namespaces) == 1
            else None
        )
        self._scripts: dict[str, list[Behaviour]] = {}
        self._lock = threading.Lock()
        self._players: dict[str, _Player] = {}
        self._stopping = threading.Event()
        self._store = LogStore()
        self._ips = itertools.count(2)
        self._server = LogServer(self._store)
        self._threads: list[threading.Thread] = []
        self._watch: watch.Watch | None = None

    # Public API.

    def start(self) -> KubeletSimulator:
        """Serve logs, register the Ready node, start watching pods."""
        server = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so that stop() is quick
            name="kubelet-sim-log-server",
            daemon=True,
        )
        watcher = threading.Thread(
            target=self._watch_loop, name="kubelet-sim-watch", daemon=True
        )
        self._threads = [server, watcher]
        server.start()
        self._register_node()
        watcher.start()
        if self._jobs is not None:
            self._jobs.start()
        if self.workloads is not None:
            self.workloads.start()
        return self

    def script(self, key: str, *behaviours: Behaviour) -> None:
        """Play `behaviours` for pods named `key` or labelled flowdeck.io/task=key.

        Successive pods take the behaviours in order (attempt 1, attempt 2,
        ...); the last one repeats.
        """
        if not behaviours:
            raise ValueError("script() needs at least one behaviour")
        with self._lock:
            self._scripts[key] = list(behaviours)

    def played(self) -> Counter[str]:
        """How many pods of each name this simulator has run (a pod deleted
        and created again under its name counts twice; a pod that had ended
        before the simulator saw it, not at all)."""
        with self._lock:
            return Counter(
                player.name
                for player in self._players.values()
                if player.behaviour is not None
            )

    def drop_log_streams(self) -> None:
        """End every log follow in progress, as a kubelet restart would."""
        self._store.drop_followers()

    @property
    def log_follows(self) -> int:
        """How many follow requests for logs the simulator has answered."""
        with self._store.changed:
            return self._store.follows

    def write_log(
        self, namespace: str, pod: str, line: str, container: str | None = None
    ) -> None:
        """Append a line to a started container's log (all containers if None)."""
        with self._store.changed:
            keys = [
                k
                for k in self._store.logs
                if k[:2] == (namespace, pod) and container in (None, k[2])
            ]
        for key in keys:
            self._store.update(key, lambda log: log.lines.append((now(), line)))

    def logged(self, namespace: str, pod: str, container: str) -> list[str]:
        """What a container wrote, kept after its pod is gone."""
        with self._store.changed:
            log = self._store.logs.get((namespace, pod, container))
            return [line for _, line in log.lines] if log else []

    def stop(self) -> None:
        """Stop the threads and the log server (the node stays registered)."""
        self._stopping.set()
        if self._jobs is not None:
            self._jobs.stop()
        if self.workloads is not None:
            self.workloads.stop()
        self._server.stopping = True
        self._store.close_all()
        if self._watch is not None:
            self._watch.stop()
            response = getattr(self._watch, "_resp", None)
            if response is not None:
                # Unblock the watch thread's read now rather than at the timeout.
                with contextlib.suppress(Exception):
                    response.shutdown()
        with self._lock:
            players = list(self._players.values())
        for player in players:
            player.wake.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in [*self._threads, *(p.thread for p in players)]:
            if thread.ident is not None:
                thread.join(5)

    def __enter__(self) -> KubeletSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log_port(self) -> int:
        return self._server.port

    # The node.

    def _register_node(self) -> None:
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "flowdeck.io/simulated": "true",
        }
        body = client.V1Node(
            api_version="v1",
            kind="Node",
            metadata=client.V1ObjectMeta(name=self.node_name, labels=labels),
        )
        try:
            self._core.create_node(body)
        except client.ApiException as error:
            if error.status != 409:
                raise
        capacity = {"cpu": "8", "memory": "32Gi", "pods": "110"}
        moment = now()
        conditions = [
            client.V1NodeCondition(
                type=kind,
                status=status,
                reason=reason,
                message=message,
                last_heartbeat_time=moment,
                last_transition_time=moment,
            )
            for kind, status, reason, message in (
                ("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                ("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                ("Ready", "True", "KubeletReady", "kubelet simulator is ready"),
            )
        ]
        node = self._core.read_node(self.node_name)
        node.status = client.V1NodeStatus(
            capacity=capacity,
            allocatable=capacity,
            conditions=conditions,
            addresses=[client.V1NodeAddress(type="InternalIP", address=NODE_IP)],
            daemon_endpoints=client.V1NodeDaemonEndpoints(
                kubelet_endpoint=client.V1DaemonEndpoint(port=self.log_port)
            ),
            node_info=client.V1NodeSystemInfo(
                architecture="amd64",
                boot_id=secrets.token_hex(8),
                container_runtime_version="simulated://0",
                kernel_version="0",
                kube_proxy_version="v0.0.0",
                kubelet_version="v0.0.0-simulated",
                machine_id=secrets.token_hex(16),
                operating_system="linux",
                os_image="kubelet simulator",
                system_uuid=secrets.token_hex(16),
            ),
        )
        self._core.replace_node_status(self.node_name, node)

    # Watching pods.

    def _watch_loop(self) -> None:
        resource_version: str | None = None
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    listed = self._list_pods()
                    for pod in listed.items:
                        self._on_pod("ADDED", pod)
                    resource_version = listed.metadata.resource_version
                self._watch = watch.Watch()
                for event in self._watch.stream(
                    self._list_function(),
                    **self._list_arguments(),
                    resource_version=resource_version,
                    timeout_seconds=30,
                ):
                    pod = event["object"]
                    resource_version = pod.metadata.resource_version
                    self._on_pod(event["type"], pod)
            except client.ApiException as error:
                if error.status == 410:  # compacted: list again
                    resource_version = None
                    continue
                if not self._stopping.is_set():
                    logger.warning("kubelet simulator watch: %s", error)
                    self._stopping.wait(0.5)
            except (OSError, urllib3.exceptions.HTTPError) as error:
                if not self._stopping.is_set():  # a reset connection: go on
                    logger.warning("kubelet simulator watch: %r", error)
                    self._stopping.wait(0.5)
            except Exception as error:
                # E.g. a pod the client cannot read: fail the test, list again.
                if not self._stopping.is_set():
                    logger.exception("kubelet simulator watch")
                    self.errors.append(f"watch: {error!r}")
                    resource_version = None
                    self._stopping.wait(0.5)

    def _list_function(self) -> Callable[..., Any]:
        if self.namespaces is not None and len(self.namespaces) == 1:
            return self._core.list_namespaced_pod
        return self._core.list_pod_for_all_namespaces

    def _list_arguments(self) -> dict[str, Any]:
        if self.namespaces is not None and len(self.namespaces) == 1:
            return {"namespace": next(iter(self.namespaces))}
        return {}

    def _list_pods(self) -> Any:
        return self._list_function()(**self._list_arguments())

    def _on_pod(self, event: str, pod: client.V1Pod) -> None:
        if self._stopping.is_set():
            return
        meta = pod.metadata
        if self.namespaces is not None and meta.namespace not in self.namespaces:
            return
        node = pod.spec.node_name
        if node not in (None, self.node_name):
            return  # another node's pod
        with self._lock:
            player = self._players.get(meta.uid)
            if event == "DELETED":
                if player is not None:
                    player.gone = True
                    player.wake.set()
                return
            if player is None:
                # A pod that already ended (seen again by a new simulator) is
                # not replayed: it only waits for its deletion.
                ended = pod.status is not None and pod.status.phase in _ENDED
                behaviour = None if ended else self._behaviour_for(pod)
                player = _Player(self, pod, behaviour)
                self._players[meta.uid] = player
                player.thread.start()
            elif meta.deletion_timestamp is not None:
                player.deleting = True
                player.wake.set()

    def _behaviour_for(self, pod: client.V1Pod) -> Behaviour:
        """The next scripted behaviour for this pod (caller holds _lock)."""
        labels = pod.metadata.labels or {}
        for key in (pod.metadata.name, labels.get(TASK_LABEL)):
            queue = self._scripts.get(key) if key else None
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        containers = [*(pod.spec.init_containers or []), *pod.spec.containers]
        if any(container.name in FLOWDECK_CONTAINERS for container in containers):
            return RunContainers()
        return self.default

    def _next_pod_ip(self) -> str:
        """A pod IP of its own (caller holds _lock)."""
        number = next(self._ips)
        return f"10.244.{number // 250 % 250}.{number % 250 + 1}"


class _Player:
    """One pod's life: bind, then play its behaviour; a thread of its own."""

    def __init__(
        self,
        sim: KubeletSimulator,
        pod: client.V1Pod,
        behaviour: Behaviour | None,
    ) -> None:
        self.sim = sim
        self.core = sim._core
        self.pod = pod
        self.runner: ContainerRunner | None = None
        self.name: str = pod.metadata.name
        self.namespace: str = pod.metadata.namespace
        self.uid: str = pod.metadata.uid
        self.bound = pod.spec.node_name is not None
        self.images = {c.name: c.image for c in pod.spec.containers}
        self.init_images = {c.name: c.image for c in pod.spec.init_containers or []}
        self.behaviour = behaviour
        self.deleting = pod.metadata.deletion_timestamp is not None
        self.gone = False
        self.wake = threading.Event()
        self.pod_ip = sim._next_pod_ip()
        self.start_time: dt.datetime | None = None
        self.started_at: dt.datetime | None = None
        self.finished = False
        self.container_id = secrets.token_hex(32)
        self.since: dict[str, tuple[str, dt.datetime]] = {}
        self.thread = threading.Thread(
            target=self.run, name=f"kubelet-sim-{self.name}", daemon=True
        )

    # The flow.

    def run(self) -> None:
        try:
            if self.deleting:
                raise _Deleted
            if self.behaviour is None:
                self.finished = True
            else:
                self.play(self.behaviour)
            if self.finished:  # a follow of the container's log ends here
                self.log(lambda log: setattr(log, "closed", True))
            while True:  # played out: wait for the deletion
                self.sleep(3600)
        except _Deleted:
            self.finish_deletion()
        except _Gone:
            pass
        except Exception as error:
            logger.exception("kubelet simulator: pod %s", self.name)
            self.sim.errors.append(f"{self.namespace}/{self.name}: {error!r}")
        finally:
            if self.runner is not None:
                self.runner.clean_up()  # a pod gone, or the simulator stopping
            self.log(lambda log: setattr(log, "closed", True))

    def sleep(self, seconds: float) -> None:
        """Wait, unless the pod is deleted or the simulator stops first."""
        if seconds > 0:
            self.wake.wait(seconds)
        if self.gone or self.sim._stopping.is_set():
            raise _Gone
        if self.deleting:
            raise _Deleted

    def play(self, behaviour: Behaviour) -> None:
        if isinstance(behaviour, Unschedulable):
            self.update(self.unschedulable(behaviour.message))
            return
        if isinstance(behaviour, RunContainers):
            if not self.bound:
                self.bind()
            self.start_time = now()
            self.runner = ContainerRunner(self, self.pod)
            self.runner.run()
            return
        # Log requests get "waiting to start" (not "not found") once bound.
        for container in self.images:
            self.sim._store.open((self.namespace, self.name, container))
        if not self.bound:
            self.bind()
        self.start_time = now()
        if isinstance(behaviour, Waiting):
            self.update(self.waiting(behaviour))
            self.log(lambda log: setattr(log, "waiting", behaviour.reason))
            return
        if not isinstance(behaviour, Succeed | Fail | RunUntilDeleted | Evicted):
            raise TypeError(f"unknown behaviour {behaviour!r}")
        self.update(self.waiting(Waiting()))
        self.sleep(getattr(behaviour, "start_delay", 0.0))

        self.started_at = now()
        self.log(lambda log: setattr(log, "waiting", None))
        self.update(self.running())
        lines = behaviour.logs
        if lines is None:
            lines = [f"ran {self.name}"]
        interval = getattr(behaviour, "line_interval", 0.0)
        for index, line in enumerate(lines):
            if index and interval:
                self.sleep(interval)
            self.log(lambda log, line=line: log.lines.append((now(), line)))
        if isinstance(behaviour, RunUntilDeleted):
            return
        self.sleep(behaviour.after - (now() - self.started_at).total_seconds())

        if isinstance(behaviour, Succeed):
            self.update(self.terminated(0, "Completed", "Succeeded"))
        elif isinstance(behaviour, Fail):
            self.update(
                self.terminated(behaviour.exit_code, behaviour.reason, "Failed")
            )
        else:
            self.update(
                self.terminated(
                    137, "Error", "Failed", reason="Evicted", message=behaviour.message
                )
            )

    def bind(self) -> None:
        body = client.V1Binding(
            api_version="v1",
            kind="Binding",
            metadata=client.V1ObjectMeta(name=self.name, uid=self.uid),
            target=client.V1ObjectReference(
                api_version="v1", kind="Node", name=self.sim.node_name
            ),
        )
        try:
            # The API answers with a Status, which the client cannot read as
            # a Binding: skip the deserialization.
            self.core.create_namespaced_pod_binding(
                self.name, self.namespace, body, _preload_content=False
            )
        except client.ApiException as error:
            if error.status in (404, 409):  # deleted, or bound by someone else
                raise _Gone from error
            raise
        self.bound = True

    def finish_deletion(self) -> None:
        """A deleted pod: stop its containers (SIGTERM: 143), then remove it.
        A behaviour with a `stop_delay` keeps running that long first (the
        pod lingers with its deletionTimestamp, as within a grace period)."""
        try:
            if self.runner is not None:
                self.runner.stop(self.grace_period())
            delay = getattr(self.behaviour, "stop_delay", 0.0)
            if delay and self.started_at is not None and not self.finished:
                self.sim._stopping.wait(delay)
            if self.started_at is not None and not self.finished:
                self.update(self.terminated(143, "Error", "Failed"))
            self.core.delete_namespaced_pod(
                self.name,
                self.namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0,
                    preconditions=client.V1Preconditions(uid=self.uid),
                ),
            )
        except _Gone:
            pass
        except client.ApiException as error:
            if error.status not in (404, 409):
                raise

    def grace_period(self) -> float:
        """The deleted pod's grace period, as the API server set it."""
        try:
            pod = self.core.read_namespaced_pod(self.name, self.namespace)
        except client.ApiException as error:
            if error.status == 404:
                return 0.0
            raise
        grace = pod.metadata.deletion_grace_period_seconds
        return 30.0 if grace is None else float(grace)

    def log(self, change: Callable[[ContainerLog], None]) -> None:
        for container in self.images:
            self.sim._store.update((self.namespace, self.name, container), change)

    # Writing pods/status.

    def update(self, change: Callable[[client.V1Pod], None]) -> None:
        """Read the pod, change its status, replace pods/status (retry on 409)."""
        for _ in range(20):
            try:
                pod = self.core.read_namespaced_pod(self.name, self.namespace)
            except client.ApiException as error:
                if error.status == 404:
                    raise _Gone from error
                raise
            if pod.metadata.uid != self.uid:
                raise _Gone
            change(pod)
            try:
                self.core.replace_namespaced_pod_status(self.name, self.namespace, pod)
                return
            except client.ApiException as error:
                if error.status == 404:
                    raise _Gone from error
                if error.status != 409:
                    raise
        raise RuntimeError(f"could not update the status of {self.name}: conflicts")

    def unschedulable(self, message: str) -> Callable[[client.V1Pod], None]:
        def change(pod: client.V1Pod) -> None:
            pod.status = client.V1PodStatus(
                phase="Pending",
                qos_class=pod.status.qos_class if pod.status else None,
                conditions=[
                    self.condition("PodScheduled", False, "Unschedulable", message)
                ],
            )

        return change

    def waiting(self, behaviour: Waiting) -> Callable[[client.V1Pod], None]:
        def state(image: str) -> client.V1ContainerState:
            return client.V1ContainerState(
                waiting=client.V1ContainerStateWaiting(
                    reason=behaviour.reason, message=behaviour.describe(image)
                )
            )

        return self.status("Pending", state, ready=False)

    def running(self) -> Callable[[client.V1Pod], None]:
        def state(image: str) -> client.V1ContainerState:
            return client.V1ContainerState(
                running=client.V1ContainerStateRunning(started_at=self.started_at)
            )

        return self.status("Running", state, ready=True)

    def terminated(
        self,
        exit_code: int,
        container_reason: str,
        phase: str,
        reason: str | None = None,
        message: str | None = None,
    ) -> Callable[[client.V1Pod], None]:
        self.finished = True
        finished_at = now()

        def state(image: str) -> client.V1ContainerState:
            return client.V1ContainerState(
                terminated=client.V1ContainerStateTerminated(
                    exit_code=exit_code,
                    reason=container_reason,
                    started_at=self.started_at,
                    finished_at=finished_at,
                    container_id=f"containerd://{self.container_id}",
                )
            )

        return self.status(phase, state, False, reason=reason, message=message)

    def status(
        self,
        phase: str,
        state: Callable[[str], client.V1ContainerState],
        ready: bool,
        reason: str | None = None,
        message: str | None = None,
    ) -> Callable[[client.V1Pod], None]:
        """A change that writes the status a kubelet would report."""
        started = self.started_at is not None
        if ready:
            why = None
        elif phase in ("Succeeded", "Failed"):
            why = "PodCompleted"
        else:
            why = "ContainersNotReady"
        unready = None
        if why == "ContainersNotReady":
            unready = f"containers with unready status: [{' '.join(self.images)}]"

        def change(pod: client.V1Pod) -> None:
            old = pod.status or client.V1PodStatus()
            scheduled = [c for c in old.conditions or [] if c.type == "PodScheduled"]
            pod.status = client.V1PodStatus(
                phase=phase,
                reason=reason,
                message=message,
                host_ip=NODE_IP,
                pod_ip=self.pod_ip,
                pod_ips=[client.V1PodIP(ip=self.pod_ip)],
                start_time=self.start_time,
                qos_class=old.qos_class,
                conditions=[
                    self.condition("Initialized", True),
                    self.condition("Ready", ready, why, unready),
                    self.condition("ContainersReady", ready, why, unready),
                    *scheduled,
                ],
                init_container_statuses=[
                    self.container_status(name, image, self.init_done(), True, False)
                    for name, image in self.init_images.items()
                ]
                or None,
                container_statuses=[
                    self.container_status(name, image, state(image), started, ready)
                    for name, image in self.images.items()
                ],
            )

        return change

    def init_done(self) -> client.V1ContainerState:
        return client.V1ContainerState(
            terminated=client.V1ContainerStateTerminated(
                exit_code=0,
                reason="Completed",
                started_at=self.start_time,
                finished_at=self.start_time,
            )
        )

    def container_status(
        self,
        name: str,
        image: str,
        state: client.V1ContainerState,
        started: bool,
        ready: bool,
    ) -> client.V1ContainerStatus:
        return client.V1ContainerStatus(
            name=name,
            image=image,
            image_id=f"{image}@sha256:{'0' * 64}" if started else "",
            container_id=f"containerd://{self.container_id}" if started else None,
            ready=ready,
            started=started and not self.finished,
            restart_count=0,
            state=state,
            last_state=client.V1ContainerState(),
        )

    def condition(
        self,
        kind: str,
        value: bool,
        reason: str | None = None,
        message: str | None = None,
    ) -> client.V1PodCondition:
        status = "True" if value else "False"
        if kind not in self.since or self.since[kind][0] != status:
            self.since[kind] = (status, now())
        return client.V1PodCondition(
            type=kind,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=self.since[kind][1],
        )
