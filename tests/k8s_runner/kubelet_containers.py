"""The kubelet simulator's RunContainers: a pod's containers really run.

What a kubelet does with a pod, with local processes for containers (images
are ignored: commands run on this machine, where sh and python3 exist):

* each `emptyDir` volume is a fresh directory (mode 0777, as the kubelet
  makes it), shown at every mountPath that names it, `subPath` mounts at
  their own path, read-only where the mount says so;
* init containers run one after the other, each to its end; one that fails
  ends the pod (phase Failed: restartPolicy Never) and the others never run;
* then every container starts at once, each its own process;
* a container's environment is its `env`, `valueFrom.secretKeyRef` and
  `configMapKeyRef` read from the real Secret or ConfigMap in the API server
  (missing: the container waits in CreateContainerConfigError, looked at
  again every second, as a kubelet would); `$(VAR)` references in command
  and args are expanded, `$$` is a `$`;
* a container's standard output and error are its log (served by the
  simulator's log server), complete before its terminated state is written;
* a container's command is PID 1 of its own PID namespace (bubblewrap's
  --as-pid-1), so it gets no signal it has no handler for, exactly as in a
  container; a file is bound at its terminationMessagePath and read, at most
  4096 bytes, into the terminated state's message;
* container statuses carry the real exit codes; the pod's phase follows
  (Succeeded when every container exited 0, else Failed);
* a deleted pod's containers get SIGTERM, then SIGKILL once the pod's grace
  period is over; a pod removed at once (grace 0) has them killed.

Each container runs under bubblewrap (`bwrap`): a tmpfs root holding the
host's top-level directories read-only (as the local backend's sandbox does),
its own /dev, /proc and /tmp, and the pod's volumes at their mount paths. The
repository is on PYTHONPATH and the test interpreter's directory first on
PATH, so `python -m k8s_runner.helper` is Flowdeck's helper as the image
would run it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client

from k8s_runner.backends.local import _shown
from tests.k8s_runner.kubelet_logs import LOOPBACK, now

if TYPE_CHECKING:
    from tests.k8s_runner.kubelet_sim import _Player

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
_TERMINATION_MAX = 4096
_CONFIG_RETRY_SECONDS = 1.0
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """What keeps a container in CreateContainerConfigError."""


@dataclass
class Container:
    """One container of the pod and what became of it."""

    spec: client.V1Container
    init: bool
    state: client.V1ContainerState = field(
        default_factory=lambda: client.V1ContainerState(
            waiting=client.V1ContainerStateWaiting(reason="PodInitializing")
        )
    )
    process: subprocess.Popen[bytes] | None = None
    pid: int | None = None  # its PID 1, as the host sees it
    started_at: Any = None
    exited: threading.Event = field(default_factory=threading.Event)
    termination: Path | None = None

    @property
    def name(self) -> str:
        return str(self.spec.name)

    @property
    def running(self) -> bool:
        return self.process is not None and not self.exited.is_set()


def bubblewrap() -> str | None:
    """bwrap's path when it can make the PID 1 sandboxes used here."""
    program = shutil.which("bwrap")
    if program is None:
        return None
    trial = subprocess.run(
        [program, "--ro-bind", "/", "/", "--unshare-pid", "--as-pid-1", "true"],
        capture_output=True,
        timeout=10,
    )
    return program if trial.returncode == 0 else None


class ContainerRunner:
    """Plays one pod's containers for its _Player (whose thread runs run())."""

    def __init__(self, player: _Player, pod: client.V1Pod) -> None:
        self.player = player
        self.pod = pod
        self.changed = threading.Event()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"kubelet-sim-{player.name}-"))
        self.volumes: dict[str, Path] = {}
        self.init = [Container(c, True) for c in pod.spec.init_containers or []]
        self.main = [Container(c, False) for c in pod.spec.containers]
        self.initialized = False
        self.program = bubblewrap()
        if self.program is None:
            raise RuntimeError("RunContainers needs bubblewrap (bwrap)")

    @property
    def containers(self) -> list[Container]:
        return [*self.init, *self.main]

    # -- the pod's life ---------------------------------------------------------

    def run(self) -> None:
        player = self.player
        for container in self.containers:
            player.sim._store.open(self.key(container))
        self.make_volumes()
        self.write()
        for container in self.init:
            self.start_when_configured(container)
            self.wait_for(lambda c=container: c.exited.is_set())
            if self.exit_code(container) != 0:
                self.finish()
                return
        self.initialized = True
        pending = list(self.main)
        while pending:
            for container in list(pending):
                if self.start(container):
                    pending.remove(container)
            self.write()
            if pending:
                self.wait_for(lambda: False, _CONFIG_RETRY_SECONDS)
        self.wait_for(lambda: all(c.exited.is_set() for c in self.main))
        self.finish()

    def finish(self) -> None:
        self.player.finished = True
        self.write()

    def wait_for(self, done: Callable[[], bool], limit: float | None = None) -> None:
        """Write statuses as containers end until `done`; _Deleted/_Gone (from
        player.sleep) when the pod is deleted or the simulator stops."""
        deadline = None if limit is None else time.monotonic() + limit
        while not done():
            if deadline is not None and time.monotonic() >= deadline:
                return
            if self.changed.wait(0.05):
                self.changed.clear()
                self.write()
            self.player.sleep(0)

    def stop(self, grace: float) -> None:
        """A deleted pod: SIGTERM, then SIGKILL after `grace` seconds."""
        for container in self.containers:
            if container.running and container.pid is not None:
                _signal(container.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(c.running for c in self.containers):
            time.sleep(0.05)
        self.kill()
        for container in self.containers:
            if container.process is not None:
                container.exited.wait(10)
        self.player.finished = True
        self.write()

    def kill(self) -> None:
        for container in self.containers:
            if container.running and container.pid is not None:
                _signal(container.pid, signal.SIGKILL)

    def clean_up(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- volumes and processes --------------------------------------------------

    def make_volumes(self) -> None:
        for volume in self.pod.spec.volumes or []:
            if volume.empty_dir is None:
                continue
            path = self.workdir / "volumes" / volume.name
            path.mkdir(parents=True)
            path.chmod(0o777)
            self.volumes[volume.name] = path

    def start_when_configured(self, container: Container) -> None:
        while not self.start(container):
            self.write()
            self.wait_for(lambda: False, _CONFIG_RETRY_SECONDS)

    def start(self, container: Container) -> bool:
        """Start the container; False while its configuration is missing."""
        try:
            env = self.environment(container.spec)
        except ConfigError as error:
            container.state = client.V1ContainerState(
                waiting=client.V1ContainerStateWaiting(
                    reason="CreateContainerConfigError", message=str(error)
                )
            )
            return False
        argv = [
            _expand(part, env)
            for part in [*(container.spec.command or []), *(container.spec.args or [])]
        ]
        if not argv:
            raise RuntimeError(
                f"{container.name}: RunContainers runs commands, not images"
            )
        container.termination = self.workdir / f"{container.name}.termination"
        container.termination.touch()
        read, write = os.pipe()
        command = [*self.sandbox(container, write), "--", *argv]
        try:
            container.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write,),
                start_new_session=True,
            )
        finally:
            os.close(write)
        try:
            container.pid = _child_pid(read)
        finally:
            os.close(read)
        container.started_at = now()
        container.state = client.V1ContainerState(
            running=client.V1ContainerStateRunning(started_at=container.started_at)
        )
        self.player.sim._store.update(
            self.key(container), lambda log: setattr(log, "waiting", None)
        )
        if self.player.started_at is None and not container.init:
            self.player.started_at = container.started_at
        reader = threading.Thread(target=self.read_log, args=(container,), daemon=True)
        reader.start()
        threading.Thread(
            target=self.wait_exit, args=(container, reader), daemon=True
        ).start()
        return True

    def sandbox(self, container: Container, info: int) -> list[str]:
        assert self.program is not None and container.termination is not None
        spec = container.spec
        targets = {mount.mount_path for mount in spec.volume_mounts or []}
        arguments = [self.program, "--tmpfs", "/", *_shown("/", targets)]
        arguments += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        arguments += ["--unshare-pid", "--as-pid-1", "--die-with-parent"]
        arguments += ["--info-fd", str(info)]
        for mount in spec.volume_mounts or []:
            source = self.volumes.get(mount.name)
            if source is None:
                raise RuntimeError(
                    f"{container.name}: RunContainers mounts emptyDir volumes "
                    f"only, not {mount.name}"
                )
            if mount.sub_path:
                source = source / mount.sub_path
            bind = "--ro-bind" if mount.read_only else "--bind"
            arguments += [bind, str(source), mount.mount_path]
        where = spec.termination_message_path or "/dev/termination-log"
        arguments += ["--bind", str(container.termination), where]
        arguments += ["--chdir", spec.working_dir or "/"]
        return arguments

    def environment(self, spec: client.V1Container) -> dict[str, str]:
        """The image's (PATH, with this interpreter first) and the container's."""
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOSTNAME": self.player.name,
        }
        for variable in spec.env or []:
            if variable.value_from is None:
                env[variable.name] = _expand(variable.value or "", env)
                continue
            value = self.reference(variable.value_from)
            if value is not None:
                env[variable.name] = value
        return env

    def reference(self, source: client.V1EnvVarSource) -> str | None:
        core = self.player.core
        namespace = self.player.namespace
        if source.secret_key_ref is not None:
            ref, kind = source.secret_key_ref, "secret"
            read: Callable[..., Any] = core.read_namespaced_secret
        elif source.config_map_key_ref is not None:
            ref, kind = source.config_map_key_ref, "configmap"
            read = core.read_namespaced_config_map
        else:
            return None  # fieldRef and friends: not played
        try:
            found = read(ref.name, namespace)
        except client.ApiException as error:
            if error.status != 404:
                raise
            if ref.optional:
                return None
            raise ConfigError(f'{kind} "{ref.name}" not found') from error
        data = found.data or {}
        if ref.key not in data:
            if ref.optional:
                return None
            shown = "Secret" if kind == "secret" else "ConfigMap"
            raise ConfigError(
                f"couldn't find key {ref.key} in {shown} {namespace}/{ref.name}"
            )
        value = data[ref.key]
        return base64.b64decode(value).decode() if kind == "secret" else str(value)

    def read_log(self, container: Container) -> None:
        assert container.process is not None and container.process.stdout
        store = self.player.sim._store
        key = self.key(container)
        for raw in container.process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            store.update(key, lambda log, line=line: log.lines.append((now(), line)))

    def wait_exit(self, container: Container, reader: threading.Thread) -> None:
        assert container.process is not None
        code = container.process.wait()
        reader.join()  # the log is complete before the status says it ended
        self.player.sim._store.update(
            self.key(container), lambda log: setattr(log, "closed", True)
        )
        assert container.termination is not None
        try:
            written = container.termination.read_bytes()
        except FileNotFoundError:
            written = b""  # the pod was deleted and its directory removed
        message = written[:_TERMINATION_MAX].decode("utf-8", errors="replace")
        container.state = client.V1ContainerState(
            terminated=client.V1ContainerStateTerminated(
                exit_code=code,
                reason="Completed" if code == 0 else "Error",
                message=message or None,
                started_at=container.started_at,
                finished_at=now(),
                container_id=f"sim://{self.player.uid}/{container.name}",
            )
        )
        container.exited.set()
        self.changed.set()

    def exit_code(self, container: Container) -> int | None:
        ended = container.state.terminated
        return None if ended is None else ended.exit_code

    def key(self, container: Container) -> tuple[str, str, str]:
        return (self.player.namespace, self.player.name, container.name)

    # -- pods/status -------------------------------------------------------------

    def write(self) -> None:
        self.player.update(self.status)

    def status(self, pod: client.V1Pod) -> None:
        player = self.player
        codes = [self.exit_code(c) for c in self.containers]
        failed_init = any(self.exit_code(c) not in (None, 0) for c in self.init)
        if failed_init or (
            self.main and all(self.exit_code(c) is not None for c in self.main)
        ):
            phase = (
                "Failed"
                if any(code not in (None, 0) for code in codes)
                else ("Succeeded")
            )
        elif self.initialized and any(c.running for c in self.main):
            phase = "Running"
        else:
            phase = "Pending"
        ready = phase == "Running" and all(c.running for c in self.main)
        if ready:
            why = None
        elif phase in ("Succeeded", "Failed"):
            why = "PodCompleted"
        else:
            why = "ContainersNotReady"
        old = pod.status or client.V1PodStatus()
        scheduled = [c for c in old.conditions or [] if c.type == "PodScheduled"]
        pod.status = client.V1PodStatus(
            phase=phase,
            host_ip=LOOPBACK,
            pod_ip=player.pod_ip,
            pod_ips=[client.V1PodIP(ip=player.pod_ip)],
            start_time=player.start_time,
            qos_class=old.qos_class,
            conditions=[
                player.condition(
                    "Initialized",
                    self.initialized or not self.init,
                    None if self.initialized else "ContainersNotInitialized",
                ),
                player.condition("Ready", ready, why),
                player.condition("ContainersReady", ready, why),
                *scheduled,
            ],
            init_container_statuses=[self.container_status(c) for c in self.init]
            or None,
            container_statuses=[self.container_status(c) for c in self.main],
        )

    def container_status(self, container: Container) -> client.V1ContainerStatus:
        started = container.process is not None
        return client.V1ContainerStatus(
            name=container.name,
            image=container.spec.image,
            image_id=f"{container.spec.image}@sha256:{'0' * 64}" if started else "",
            container_id=f"sim://{self.player.uid}/{container.name}"
            if started
            else None,
            ready=container.running and not container.init,
            started=container.running,
            restart_count=0,
            state=container.state,
            last_state=client.V1ContainerState(),
        )


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: a defined variable's value, `$$` a `$`,
    anything else kept as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def _child_pid(read: int) -> int:
    """The sandboxed PID 1's host pid, from bwrap's --info-fd JSON."""
    data = b""
    while not data.rstrip().endswith(b"}"):
        chunk = os.read(read, 4096)
        if not chunk:
            break
        data += chunk
    return int(json.loads(data)["child-pid"])


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
