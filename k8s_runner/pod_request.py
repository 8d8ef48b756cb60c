"""What a backend is asked to run: one attempt of one task, rendered.

Pure (the standard library only): the pod builder (k8s_runner.manifests)
turns it into a Pod, the backends carry it out, and the dispatcher makes it
from a recorded attempt.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from flowcore.fanout import split_instance
from flowcore.reports import attempt_stamp

# Where a task finds its outputs' and inputs' directories, in every backend.
FLOWDECK_DIR = "/flowdeck"
# What a task may leave for its dependants, by default (each a setting).
MAX_PARAMETER_BYTES = 256 * 1024
MAX_OUTPUT_BYTES = 1024 * 1024
MAX_RESULT_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class OutputsRequest:
    """Which outputs to collect when the attempt succeeds, and their caps.
    Paths are the container's (under /flowdeck/outputs/)."""

    parameters: tuple[tuple[str, str, str | None], ...] = ()  # name, path, default
    artifacts: tuple[tuple[str, str, bool], ...] = ()  # name, path, optional
    result: bool = False  # keep the result (someone reads it)
    result_path: str | None = None  # the result's file; None: the task's log
    max_parameter_bytes: int = MAX_PARAMETER_BYTES
    max_total_bytes: int = MAX_OUTPUT_BYTES
    max_result_bytes: int = MAX_RESULT_BYTES

    @property
    def wanted(self) -> bool:
        return bool(self.parameters or self.artifacts or self.result)

    def to_json(self) -> str:
        """Compact JSON, as a pod carries it to Flowdeck's helper container."""
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> OutputsRequest:
        """The request to_json wrote; ValueError (or KeyError, TypeError) for
        anything else."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("an outputs request is a JSON object")
        return cls(
            parameters=tuple(
                (str(name), str(path), None if default is None else str(default))
                for name, path, default in data.get("parameters", ())
            ),
            artifacts=tuple(
                (str(name), str(path), bool(optional))
                for name, path, optional in data.get("artifacts", ())
            ),
            result=bool(data.get("result", False)),
            result_path=data.get("result_path"),
            max_parameter_bytes=int(data["max_parameter_bytes"]),
            max_total_bytes=int(data["max_total_bytes"]),
            max_result_bytes=int(data["max_result_bytes"]),
        )


@dataclass(frozen=True, slots=True)
class InputArtifactRequest:
    """An upstream artifact to place at `path` before the command starts."""

    name: str
    path: str
    sha256: str
    filename: str
    size: int = 0
    directory: bool = False  # stored as .tar.gz, unpacked at `path`

    @property
    def placed_at(self) -> str:
        """Where a pod fetches it to, relative to its /flowdeck volume; it is
        mounted from there at `path`, read-only (names are unique in a task)."""
        return f".inputs/{self.name}"


def inputs_to_json(items: tuple[InputArtifactRequest, ...]) -> str:
    return json.dumps(
        [asdict(item) for item in items], separators=(",", ":"), ensure_ascii=False
    )


def inputs_from_json(text: str) -> tuple[InputArtifactRequest, ...]:
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("input artifacts are a JSON list")
    return tuple(InputArtifactRequest(**item) for item in data)


@dataclass(frozen=True, slots=True)
class ContainerRequest:
    """An init container or a sidecar of the attempt, rendered; the mappings
    keep the attempt request's shape (env entries as the main container's)."""

    name: str
    image: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[Mapping[str, Any], ...] = ()
    resources: Mapping[str, Any] = field(default_factory=dict)
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    working_dir: str | None = None
    image_pull_policy: str | None = None

    @classmethod
    def of(cls, recorded: Mapping[str, Any]) -> ContainerRequest:
        """From an attempt's recorded request (a rendered ContainerSpec)."""
        return cls(
            name=recorded["name"],
            image=recorded.get("image"),
            command=tuple(recorded.get("command", ())),
            args=tuple(recorded.get("args", ())),
            env=tuple(recorded.get("env", ())),
            resources=recorded.get("resources") or {},
            volume_mounts=tuple(recorded.get("volume_mounts", ())),
            working_dir=recorded.get("working_dir"),
            image_pull_policy=recorded.get("image_pull_policy"),
        )


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
    service_account_name: str | None = None  # the task's own
    # The run's project's default service account, used when the task names
    # none; None: the namespace's default.
    project_service_account: str | None = None
    # Every service account the run's project allows (its default too); the
    # backend refuses a pod with another. Empty: not checked.
    allowed_service_accounts: tuple[str, ...] = ()
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    security_context: Mapping[str, Any] = field(default_factory=dict)
    namespace: str | None = None  # the workflow's own spec.namespace
    # The run's project's namespace, used when the workflow names none; None
    # (and then `namespace` None too): the backend's FLOWDECK_K8S_NAMESPACE.
    project_namespace: str | None = None
    # Every namespace the run's project may use (its default first; "" is the
    # backend's): the backend refuses a pod elsewhere. Empty: not checked.
    allowed_namespaces: tuple[str, ...] = ()
    outputs: OutputsRequest = field(default_factory=OutputsRequest)
    input_artifacts: tuple[InputArtifactRequest, ...] = ()
    init_containers: tuple[ContainerRequest, ...] = ()
    sidecars: tuple[ContainerRequest, ...] = ()
    # kind: Job: the rendered JobSpec's fields (completions, parallelism,
    # completion_mode, backoff_limit, ...); None: one pod.
    job: Mapping[str, Any] | None = None
    # daemon: true: the rendered DaemonSpec's fields (ports, readiness_probe,
    # persistent, storage); None: a task that runs to its end.
    daemon: Mapping[str, Any] | None = None
    # When the attempt was recorded (None: not known). Its id alone names its
    # files and pod, and a database that was reset or restored gives the same
    # id to another attempt: this tells them apart.
    attempt_created_at: datetime | None = None

    @property
    def stamp(self) -> str:
        """attempt_stamp of the attempt: kept on its pod or files."""
        return attempt_stamp(self.attempt_created_at)

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
    name has to be trimmed or cleaned, a hash of the identity is appended. So
    does an instance of a fan-out, shown as `task-index`: `square[2]`, attempt
    1, of run 5 of map-sum is `map-sum-5-square-2-1-<hash>`.
    """
    full = f"{workflow}-{run_id}-{task}-{attempt}"
    base, index = split_instance(task)
    shown = task if index is None else f"{base}-{index}"
    name = _INVALID.sub("-", f"{workflow}-{run_id}-{shown}-{attempt}".lower())
    name = name.strip("-")
    readable = not any(part.isdigit() for part in workflow.split("-")[1:])
    if len(name) <= 63 and name == full and readable:
        return name
    identity = "\0".join((workflow, str(run_id), task, str(attempt)))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"
