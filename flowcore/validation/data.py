"""Data between tasks: a task's declared outputs and input artifacts, and the
workflow's own outputs (docs/spec.md, "Data between tasks").

Where an output is read or an input placed is a path in the task's container:
outputs under OUTPUTS_DIR, the scratch directory every backend gives a task
(a shared emptyDir on Kubernetes, the attempt's directory locally); inputs
anywhere but there and the kernel's own file systems.
"""

from __future__ import annotations

import posixpath
from functools import partial

from flowcore.spec_base import field_path
from flowcore.templates import ARTIFACTS, TEMPLATE, is_name, parse_reference
from flowcore.templates import ReferenceError_ as TemplateError
from flowcore.validation.checks import Checks, _Check

FLOWDECK_DIR = "/flowdeck"
OUTPUTS_DIR = "/flowdeck/outputs"
INPUTS_DIR = "/flowdeck/inputs"
# Where the kernel and the container runtime own the file system.
_RESERVED_INPUT_DIRS = ("/proc", "/sys", "/dev", OUTPUTS_DIR)


class DataChecks(Checks):
    """Checks of outputs, inputs and the workflow's outputs."""

    def outputs(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "result": self.result_output,
            "parameters": self.output_parameters,
            "artifacts": self.output_artifacts,
        }
        self.fields(value, path, checks)

    def result_output(self, value: object, path: str) -> None:
        self.fields(value, path, {"valueFrom": self.result_source})

    def result_source(self, value: object, path: str) -> None:
        self.fields(value, path, {"path": self.output_path}, required=("path",))

    def output_parameters(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.output_name, first=first, entry=where),
                "valueFrom": self.parameter_source,
                "secret": self.boolean,
                "description": self.string,
            }
            self.fields(item, where, checks, required=("name", "valueFrom"))

    def parameter_source(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "path": self.output_path,
            "default": self.string,
        }
        self.fields(value, path, checks, required=("path",))

    def output_artifacts(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        paths: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.output_name, first=first, entry=where),
                "path": self.output_path,
                "optional": self.boolean,
                "description": self.string,
            }
            entry = self.fields(item, where, checks, required=("name", "path"))
            place = entry.get("path") if entry is not None else None
            if isinstance(place, str):
                if place in paths:
                    self.error(
                        field_path(where, "path"),
                        f"two artifacts cannot be the same file (first at "
                        f"{paths[place]})",
                    )
                else:
                    paths[place] = where

    def output_name(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.string(value, path, nonempty=True):
            return
        if len(value) > 63 or not is_name(value):
            self.error(
                path,
                "must be at most 63 letters, digits, '_' and '-', not starting "
                "with '-'",
            )
        elif value in first:
            self.error(path, f"duplicate output {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def output_path(self, value: object, path: str) -> None:
        if not self.absolute_path(value, path):
            return
        if not _normal(value) or not value.startswith(OUTPUTS_DIR + "/"):
            self.error(
                path,
                f"must be a file under {OUTPUTS_DIR}/ (the directory every "
                f"backend keeps for a task's outputs), without '..' or '//'",
            )

    def inputs(self, value: object, path: str) -> None:
        self.fields(value, path, {"artifacts": self.input_artifacts})

    def input_artifacts(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        paths: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.output_name, first=first, entry=where),
                "from": self.artifact_source,
                "path": self.input_path,
                "optional": self.boolean,
            }
            entry = self.fields(item, where, checks, required=("name", "from", "path"))
            place = entry.get("path") if entry is not None else None
            if isinstance(place, str):
                if place in paths:
                    self.error(
                        field_path(where, "path"),
                        f"two inputs cannot be placed at one path (first at "
                        f"{paths[place]})",
                    )
                else:
                    paths[place] = where

    def artifact_source(self, value: object, path: str) -> None:
        """Exactly one `{{tasks.X.outputs.artifacts.Y}}`, nothing around it."""
        if not self.string(value, path, nonempty=True):
            return
        match = TEMPLATE.fullmatch(value.strip())
        if match is None:
            self.error(
                path,
                "must be one reference to an upstream task's artifact, such as "
                "{{tasks.extract.outputs.artifacts.data}}",
            )
            return
        try:
            reference = parse_reference(match.group(1))
        except TemplateError as error:
            self.error(path, f"{value.strip()}: {error}")
            return
        problem = self.reference_problem(reference, artifact=True)
        if problem is None and reference.kind != ARTIFACTS:
            problem = "must name an output artifact of an upstream task"
        if problem is not None:
            self.error(path, f"{value.strip()}: {problem}")

    def input_path(self, value: object, path: str) -> None:
        if not self.absolute_path(value, path):
            return
        if not _normal(value) or value == "/":
            self.error(path, "must be a file's absolute path, without '..' or '//'")
            return
        for reserved in _RESERVED_INPUT_DIRS:
            if value == reserved or value.startswith(reserved + "/"):
                self.error(path, f"must not be under {reserved}")
                return

    # -- spec.outputs: what a run returns ------------------------------------------

    def workflow_outputs(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "parameters": self.workflow_output_parameters,
            "artifacts": self.workflow_output_artifacts,
        }
        self.fields(value, path, checks)

    def workflow_output_parameters(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.output_name, first=first, entry=where),
                "value": partial(self.template, nonempty=True, env_value=True),
                "description": self.string,
            }
            self.fields(item, where, checks, required=("name", "value"))

    def workflow_output_artifacts(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.output_name, first=first, entry=where),
                "from": self.artifact_source,
                "description": self.string,
            }
            self.fields(item, where, checks, required=("name", "from"))


def _normal(path: str) -> bool:
    """Whether `path` is written the one way: no '..', '.', '//' or trailing '/'."""
    return posixpath.normpath(path) == path
