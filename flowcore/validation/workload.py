"""What runs a task: its `kind` (a Pod, or a Job and its `job` settings) and
its extra containers (`initContainers` and `sidecars`, each shaped like the
main container and sharing the task's volumes).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from flowcore.spec_base import (
    COMPLETION_MODES,
    IMAGE_PULL_POLICIES,
    MAX_BACKOFF_LIMIT,
    MAX_COMPLETIONS,
    MAX_TIMEOUT,
    TASK_KINDS,
    field_path,
)
from flowcore.validation.checks import _Check, _is_list, _name_of
from flowcore.validation.pod import PodChecks

# Fields a Job task cannot have (yet): which of its pods' outputs would count?
JOB_REFUSED = ("outputs", "inputs")

# The main container's name, and the prefix of Flowdeck's own containers
# (flowdeck-init, flowdeck-outputs): a task's containers may take neither.
MAIN_CONTAINER = "main"
RESERVED_PREFIX = "flowdeck-"
CONTAINER_LISTS = ("initContainers", "sidecars")


def container_names(task: object) -> dict[str, str]:
    """Each extra container's name -> the path of its first declaration."""
    first: dict[str, str] = {}
    if not isinstance(task, Mapping):
        return first
    for key in CONTAINER_LISTS:
        entries = task.get(key)
        if not _is_list(entries):
            continue
        for i, entry in enumerate(entries):
            name = _name_of(entry)
            if name is not None:
                first.setdefault(name, f"{key}[{i}]")
    return first


class WorkloadChecks(PodChecks):
    """Checks of a task's extra containers."""

    # The main container's checks, which the document's Validator defines.
    def image(self, value: object, path: str) -> None:
        raise NotImplementedError

    def env(self, value: object, path: str) -> None:
        raise NotImplementedError

    def containers(
        self, value: object, path: str, declared: set[str], names: dict[str, str]
    ) -> None:
        """`initContainers` or `sidecars` at `path`; `declared` are the task's
        volumes, `names` every extra container's first place (container_names)."""
        task, _, key = path.rpartition(".")
        for i, (where, item) in enumerate(self.items(value, path)):
            checks: dict[str, _Check] = {
                "name": partial(
                    self.container_name,
                    names=names,
                    place=f"{key}[{i}]",
                    task=task,
                ),
                "image": self.image,
                "imagePullPolicy": partial(self.choice, choices=IMAGE_PULL_POLICIES),
                "command": self.templates,
                "args": self.templates,
                "workingDir": self.absolute_path,
                "env": self.container_env,
                "resources": self.resources,
                "volumeMounts": partial(self.volume_mounts, declared=declared),
            }
            self.fields(item, where, checks, required=("name",))

    def container_env(self, value: object, path: str) -> None:
        self.env(value, path)
        for where, entry in self.items(value, path) if _is_list(value) else ():
            if isinstance(entry, Mapping) and entry.get("secret") is True:
                self.error(
                    f"{where}.secret",
                    "secret values are the task's own env only: give this "
                    "container the secret with valueFrom.secretKeyRef",
                )

    def container_name(
        self, value: object, path: str, names: dict[str, str], place: str, task: str
    ) -> None:
        if not self.dns_label(value, path):
            return
        if value == MAIN_CONTAINER:
            self.error(path, f"{value!r} is the task's own container: rename it")
        elif value.startswith(RESERVED_PREFIX):
            self.error(
                path, f"names starting with {RESERVED_PREFIX!r} are Flowdeck's own"
            )
        elif names.get(value, place) != place:
            self.error(
                path,
                f"duplicate container name {value!r} (first at {task}.{names[value]})",
            )

    def task_kind(self, value: object, path: str) -> None:
        self.choice(value, path, TASK_KINDS)

    def job(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "completions": partial(self.integer, low=1, high=MAX_COMPLETIONS),
            "parallelism": partial(self.integer, low=1, high=MAX_COMPLETIONS),
            "completionMode": partial(self.choice, choices=COMPLETION_MODES),
            "backoffLimit": partial(self.integer, low=0, high=MAX_BACKOFF_LIMIT),
            "activeDeadlineSeconds": partial(self.integer, low=1, high=MAX_TIMEOUT),
            "ttlSecondsAfterFinished": partial(self.integer, low=0, high=MAX_TIMEOUT),
            "podFailurePolicy": partial(
                self.kubernetes_object, model="V1PodFailurePolicy"
            ),
        }
        self.fields(value, path, checks)

    def job_rules(self, task: Mapping[object, object], path: str) -> None:
        """`job` goes with `kind: Job`; a Job leaves no outputs (yet)."""
        if task.get("kind") != "Job":
            if task.get("job") is not None:
                self.error(field_path(path, "job"), "needs kind: Job")
            return
        for key in JOB_REFUSED:
            if task.get(key) is not None:
                self.error(
                    field_path(path, key),
                    f"a Job task has no {key} (which of its pods would they be?): "
                    "leave it out, or run the task as a Pod",
                )
