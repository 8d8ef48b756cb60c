"""The task graph of a workflow: cycles, topological order, neighbours, closures.

Pure: plain names in, plain names out. Built once per workflow version and shared
by every plan of every run of that version, so everything here is precomputed.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


class CycleError(ValueError):
    def __init__(self, cycles: list[list[str]]) -> None:
        super().__init__("; ".join(" -> ".join([*cycle, cycle[0]]) for cycle in cycles))
        self.cycles = cycles


def find_cycles(dependencies: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each elementary cycle found by a depth-first search, once, as a name list.

    Edges point from a task to the tasks it depends on; a cycle is reported in
    dependency order (`a` depends on `b` ... depends on `a`). Unknown names are
    ignored: reporting them is the spec validator's job.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(dependencies, white)
    cycles: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()
    for root in dependencies:
        if colour[root] != white:
            continue
        # Iterative DFS: deep chains (thousands of tasks) must not hit recursion limits.
        path: list[str] = [root]
        on_path_index = {root: 0}
        colour[root] = grey
        stack = [iter(dependencies[root])]
        while stack:
            advanced = False
            for upstream in stack[-1]:
                if upstream not in colour:
                    continue
                if colour[upstream] == grey:
                    cycle = path[on_path_index[upstream] :]
                    key = frozenset(cycle)
                    if key not in seen_cycles:
                        seen_cycles.add(key)
                        cycles.append(cycle)
                    continue
                if colour[upstream] == white:
                    colour[upstream] = grey
                    on_path_index[upstream] = len(path)
                    path.append(upstream)
                    stack.append(iter(dependencies[upstream]))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                done = path.pop()
                del on_path_index[done]
                colour[done] = black
    return cycles


@dataclass(frozen=True, slots=True)
class Graph:
    """An acyclic task graph with every lookup the engine needs precomputed."""

    order: tuple[str, ...]  # topological: every task after all its upstreams
    position: Mapping[str, int]
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]

    @classmethod
    def build(cls, dependencies: Mapping[str, Sequence[str]]) -> Graph:
        """Raises CycleError naming every cycle; names keep their given order
        wherever the dependencies allow (Kahn's algorithm, stable)."""
        cycles = find_cycles(dependencies)
        if cycles:
            raise CycleError(cycles)
        downstream: dict[str, list[str]] = {name: [] for name in dependencies}
        missing_upstreams: dict[str, int] = {}
        for name, deps in dependencies.items():
            missing_upstreams[name] = len(deps)
            for upstream in deps:
                downstream[upstream].append(name)
        given_order = {name: index for index, name in enumerate(dependencies)}
        ready = [name for name, count in missing_upstreams.items() if count == 0]
        order: list[str] = []
        # A heap keyed by given order keeps the result stable and readable.
        heap = [(given_order[name], name) for name in ready]
        heapq.heapify(heap)
        while heap:
            _, name = heapq.heappop(heap)
            order.append(name)
            for child in downstream[name]:
                missing_upstreams[child] -= 1
                if missing_upstreams[child] == 0:
                    heapq.heappush(heap, (given_order[child], child))
        # Tasks with the same upstreams share one tuple (fan-ins, all-to-all
        # layers), so the engine can judge readiness once per distinct set.
        shared: dict[tuple[str, ...], tuple[str, ...]] = {}
        shared_upstreams: dict[str, tuple[str, ...]] = {}
        for name, deps in dependencies.items():
            key = tuple(deps)
            shared_upstreams[name] = shared.setdefault(key, key)
        return cls(
            order=tuple(order),
            position={name: index for index, name in enumerate(order)},
            upstream=shared_upstreams,
            downstream={name: tuple(kids) for name, kids in downstream.items()},
        )

    def __len__(self) -> int:
        return len(self.order)

    def roots(self) -> list[str]:
        return [name for name in self.order if not self.upstream[name]]

    def downstream_closure(self, names: Iterable[str]) -> set[str]:
        """`names` and every task that depends on them, directly or not."""
        closure = set(names)
        frontier = list(closure)
        while frontier:
            name = frontier.pop()
            for child in self.downstream[name]:
                if child not in closure:
                    closure.add(child)
                    frontier.append(child)
        return closure

    def with_upstreams(self, names: Iterable[str]) -> set[str]:
        """`names` and their direct upstreams: what deciding their readiness reads."""
        result = set(names)
        seen: set[int] = set()
        for name in list(result):
            upstream = self.upstream[name]
            if id(upstream) not in seen:  # shared tuples are added once
                seen.add(id(upstream))
                result.update(upstream)
        return result
