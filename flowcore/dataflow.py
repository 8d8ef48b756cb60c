"""Which task reads which upstream outputs: worked out once per version, so
that launching a task fetches exactly the values it uses and a task's end
keeps only what someone reads (docs/spec.md, "Data between tasks").

Pure: the standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flowcore.conditions import parse_condition, references
from flowcore.spec import TaskSpec, WorkflowSpec
from flowcore.templates import ARTIFACTS, RESULT, Reference, find_references


@dataclass(frozen=True, slots=True)
class DataFlow:
    # Per task: the upstream outputs it reads (in its texts and inputs).
    reads: Mapping[str, frozenset[Reference]]
    # The tasks whose result (their output, or outputs.result's file) is kept:
    # someone reads it, or the task declares where it comes from.
    results: frozenset[str]
    # The upstream outputs the workflow's own outputs read.
    workflow_reads: frozenset[Reference]

    @classmethod
    def of(cls, spec: WorkflowSpec) -> DataFlow:
        reads = {task.name: frozenset(_task_reads(task)) for task in spec.tasks}
        workflow_reads = frozenset(
            [
                *_references(p.value for p in spec.output_parameters),
                *(
                    Reference("tasks", a.task, ARTIFACTS, a.artifact)
                    for a in spec.output_artifacts
                ),
            ]
        )
        results = {
            ref.name
            for refs in [*reads.values(), workflow_reads]
            for ref in refs
            if ref.kind == RESULT
        }
        results.update(t.name for t in spec.tasks if t.outputs.result_path is not None)
        return cls(reads, frozenset(results), workflow_reads)

    def upstreams_read(self, task: str) -> frozenset[str]:
        """The tasks whose outputs `task` reads."""
        return frozenset(ref.name for ref in self.reads.get(task, ()))


def _references(texts: Iterable[str]) -> Iterable[Reference]:
    for text in texts:
        for found in find_references(text):
            if found.reference is not None and found.reference.root == "tasks":
                yield found.reference


def _task_reads(task: TaskSpec) -> Iterable[Reference]:
    texts = [*task.command, *task.args]
    if task.image is not None:
        texts.append(task.image)
    texts.extend(env.value for env in task.env if env.value is not None)
    for container in (*task.init_containers, *task.sidecars):
        texts += [*container.command, *container.args]
        if container.image is not None:
            texts.append(container.image)
        texts.extend(env.value for env in container.env if env.value is not None)
    # A condition's and withParam's references are values read the same way.
    if task.fan_out is not None and task.fan_out.param is not None:
        texts.append(task.fan_out.param)
    yield from _references(texts)
    if task.when is not None:
        for ref in references(parse_condition(task.when)):
            if ref.reference.root == "tasks":
                yield ref.reference
    for artifact in task.input_artifacts:
        yield Reference("tasks", artifact.task, ARTIFACTS, artifact.artifact)
