"""Benchmark the pure engine: plan() over 10,000-task DAGs, run to the end.

Each run is simulated in memory (flowcore.simulation) with incremental plans,
one plan per task event, as the services drive it. Prints a table of the
median time per plan call and per task, and, as a same-run baseline, the cost
of one full plan of the whole DAG. Control flow has two cases of its own: a
fan-out of 10,000 instances at most 100 at a time, and a DAG whose every
task has a `when` condition and a trigger rule other than the default.

    .venv/bin/python benchmarks/engine.py [--repeat 3] [--only fan-out]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowcore import engine  # noqa: E402
from flowcore.engine import Blueprint, RunState, TaskState  # noqa: E402
from flowcore.fanout import FanOut, Sequence_  # noqa: E402
from flowcore.simulation import T0, Simulation  # noqa: E402
from flowcore.spec import TaskSpec, WorkflowSpec  # noqa: E402
from flowcore.spec_base import TRIGGER_RULES  # noqa: E402
from flowcore.states import RunStatus, TaskStatus  # noqa: E402

Shape = tuple[WorkflowSpec, dict[str, str]]  # the spec, its values for conditions


def chain(n: int) -> dict[str, list[str]]:
    return {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(n)}


def fan_out(n: int) -> dict[str, list[str]]:
    return {"root": [], **{f"t{i}": ["root"] for i in range(n - 1)}}


def layers(count: int, width: int) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    for layer in range(count):
        previous = [f"l{layer - 1}-{i}" for i in range(width)] if layer else []
        for i in range(width):
            deps[f"l{layer}-{i}"] = previous
    return deps


def spec_of(deps: dict[str, list[str]]) -> Shape:
    tasks = tuple(
        TaskSpec(name=n, image="x", dependencies=tuple(d)) for n, d in deps.items()
    )
    return WorkflowSpec(name="bench", tasks=tasks), {}


def instances(items: int, parallelism: int) -> Shape:
    """root -> each (withSequence: `items` instances, `parallelism` at a
    time) -> gather (the fan-in)."""
    fan_out = FanOut(sequence=Sequence_(0, items - 1), parallelism=parallelism)
    tasks = (
        TaskSpec(name="root", image="x"),
        TaskSpec(name="each", image="x", dependencies=("root",), fan_out=fan_out),
        TaskSpec(name="gather", image="x", dependencies=("each",)),
    )
    return WorkflowSpec(name="bench", tasks=tasks), {}


def conditions(layers: int, width: int) -> Shape:
    """A root, then `layers` layers of `width` tasks, each depending on three of
    the layer above; every task but the root has a `when` reading a parameter
    and its first upstream's result, and a trigger rule other than the
    default (all five in turn: with every attempt succeeding, anyFailed and
    allFailed skip theirs, and the others run whatever was skipped)."""
    rules = TRIGGER_RULES[1:]
    tasks = [TaskSpec(name="root", image="x", when="{{params.mode}} != off")]
    values = {"tasks.root.outputs.result": "go"}
    for layer in range(layers):
        for i in range(width):
            if layer:
                deps = tuple(f"l{layer - 1}-{(i + k) % width}" for k in range(3))
            else:
                deps = ("root",)
            name = f"l{layer}-{i}"
            tasks.append(
                TaskSpec(
                    name=name,
                    image="x",
                    dependencies=deps,
                    when=f"{{{{params.mode}}}} != off && "
                    f"{{{{tasks.{deps[0]}.outputs.result}}}} != stop",
                    trigger_rule=rules[(layer * width + i) % len(rules)],
                )
            )
            values[f"tasks.{name}.outputs.result"] = "go"
    return WorkflowSpec(name="bench", tasks=tuple(tasks)), values


def measure(shape: Shape) -> dict[str, float]:
    spec, values = shape
    blueprint = Blueprint.of(spec)
    calls: list[float] = []
    sim = Simulation(
        blueprint,
        incremental=True,
        on_plan=calls.append,
        values=values,
        parameters={"mode": "full"},
    )
    started = time.perf_counter()
    sim.run_to_end([])
    wall = time.perf_counter() - started
    assert sim.run_status is RunStatus.SUCCEEDED and not sim.violations
    full_state = RunState(
        RunStatus.RUNNING,
        T0,
        {task.name: TaskState(TaskStatus.PENDING) for task in spec.tasks},
        {TaskStatus.PENDING: len(spec.tasks)},
        parameters={"mode": "full"},
        values=values,
    )
    full_started = time.perf_counter()
    engine.plan(blueprint, full_state, T0)
    full = time.perf_counter() - full_started
    # Tasks include a fan-out's instances.
    return {
        "tasks": len(sim.tasks),
        "edges": sum(len(task.dependencies) for task in spec.tasks),
        "calls": len(calls),
        "median_call_us": statistics.median(calls) * 1e6,
        "p99_call_us": sorted(calls)[int(len(calls) * 0.99)] * 1e6,
        "per_task_us": sum(calls) / len(sim.tasks) * 1e6,
        "sim_wall_s": wall,
        "full_plan_ms": full * 1e3,
    }


SHAPES: dict[str, Callable[[], Shape]] = {
    "chain 1,000": lambda: spec_of(chain(1_000)),
    "chain 10,000": lambda: spec_of(chain(10_000)),
    "fan-out 1,000": lambda: spec_of(fan_out(1_000)),
    "fan-out 10,000": lambda: spec_of(fan_out(10_000)),
    "layers 10x100 all-to-all": lambda: spec_of(layers(10, 100)),
    "layers 100x100 all-to-all": lambda: spec_of(layers(100, 100)),
    "instances 10,000 (parallelism 100)": lambda: instances(10_000, 100),
    "conditions 1,000 (when + trigger rules)": lambda: conditions(9, 111),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", default="", help="only the DAGs whose label contains this"
    )
    args = parser.parse_args()
    print(
        "| DAG | tasks | edges | plan calls | median µs/call | p99 µs/call "
        "| engine µs/task | one full plan (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, build in SHAPES.items():
        if args.only not in label:
            continue
        shape = build()
        results = [measure(shape) for _ in range(args.repeat)]

        def med(key: str, results: list[dict[str, float]] = results) -> float:
            return statistics.median(r[key] for r in results)

        print(
            f"| {label} | {med('tasks'):,.0f} | {med('edges'):,.0f} "
            f"| {med('calls'):,.0f} | {med('median_call_us'):.1f} "
            f"| {med('p99_call_us'):.1f} | {med('per_task_us'):.1f} "
            f"| {med('full_plan_ms'):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
