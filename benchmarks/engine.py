"""Benchmark the pure engine: plan() over 10,000-task DAGs, run to the end.

Each run is simulated in memory (flowcore.simulation) with incremental plans,
one plan per task event, as the services drive it. Prints a table of the
median time per plan call and per task, and, as a same-run baseline, the cost
of one full plan of the whole DAG.

    .venv/bin/python benchmarks/engine.py [--repeat 3]
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
from flowcore.simulation import T0, Simulation  # noqa: E402
from flowcore.spec import TaskSpec, WorkflowSpec  # noqa: E402
from flowcore.states import RunStatus, TaskStatus  # noqa: E402


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


def spec_of(deps: dict[str, list[str]]) -> WorkflowSpec:
    return WorkflowSpec(
        name="bench",
        tasks=tuple(
            TaskSpec(name=n, image="x", dependencies=tuple(d)) for n, d in deps.items()
        ),
    )


def measure(deps: dict[str, list[str]]) -> dict[str, float]:
    blueprint = Blueprint.of(spec_of(deps))
    calls: list[float] = []
    sim = Simulation(blueprint, incremental=True, on_plan=calls.append)
    started = time.perf_counter()
    sim.run_to_end([])
    wall = time.perf_counter() - started
    assert sim.run_status is RunStatus.SUCCEEDED and not sim.violations
    full_state = RunState(
        RunStatus.RUNNING,
        T0,
        {name: TaskState(TaskStatus.PENDING) for name in deps},
        {TaskStatus.PENDING: len(deps)},
    )
    full_started = time.perf_counter()
    engine.plan(blueprint, full_state, T0)
    full = time.perf_counter() - full_started
    return {
        "tasks": len(deps),
        "edges": sum(len(d) for d in deps.values()),
        "calls": len(calls),
        "median_call_us": statistics.median(calls) * 1e6,
        "p99_call_us": sorted(calls)[int(len(calls) * 0.99)] * 1e6,
        "per_task_us": sum(calls) / len(deps) * 1e6,
        "sim_wall_s": wall,
        "full_plan_ms": full * 1e3,
    }


SHAPES: dict[str, Callable[[], dict[str, list[str]]]] = {
    "chain 1,000": lambda: chain(1_000),
    "chain 10,000": lambda: chain(10_000),
    "fan-out 1,000": lambda: fan_out(1_000),
    "fan-out 10,000": lambda: fan_out(10_000),
    "layers 10x100 all-to-all": lambda: layers(10, 100),
    "layers 100x100 all-to-all": lambda: layers(100, 100),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        "| DAG | tasks | edges | plan calls | median µs/call | p99 µs/call "
        "| engine µs/task | one full plan (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, build in SHAPES.items():
        deps = build()
        results = [measure(deps) for _ in range(args.repeat)]

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
