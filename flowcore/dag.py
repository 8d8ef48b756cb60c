"""The task graph of a workflow: cycles, topological order, neighbours, closures.

Pure: plain names in, plain names out. Built once per workflow version and shared
by every plan of every run of that version, so everything here is precomputed.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


class CycleError(ValueError):
    """The dependencies have cycles; each reads in dependency order ("a -> b -> a":
    a depends on b, which depends on a)."""

    def __init__(self, cycles: list[list[str]]) -> None:
        super().__init__("; ".join(" -> ".join([*cycle, cycle[0]]) for cycle in cycles))
        self.cycles = cycles


def find_cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The cycles closed by the back edges of one depth-first search, each once,
    as name lists in edge order.

    `edges` maps each name to the names it has an edge to: the tasks it depends
    on (Graph.build), or the tasks that depend on it (the spec validator, which
    names a cycle from upstream to downstream). The search starts from names in
    the mapping's order and follows edges in their given order, so the result is
    deterministic; in a cycle [a, b, c], a -> b and b -> c are tree edges and the
    back edge c -> a closes it. Removing every closing edge leaves no cycle.
    Unknown names are ignored: reporting them is the spec validator's job.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    cycles: list[list[str]] = []
    closing_edges: set[tuple[str, str]] = set()
    for root in edges:
        if colour[root] != white:
            continue
        # Iterative DFS: deep chains (thousands of tasks) must not hit recursion limits.
        path: list[str] = [root]
        on_path_index = {root: 0}
        colour[root] = grey
        stack = [iter(edges[root])]
        while stack:
            advanced = False
            for target in stack[-1]:
                if target not in colour:
                    continue
                if colour[target] == grey:
                    # Each back edge closes a different cycle; only a repeated
                    # edge (a name listed twice) would close the same one again.
                    edge = (path[-1], target)
                    if edge not in closing_edges:
                        closing_edges.add(edge)
                        cycles.append(path[on_path_index[target] :])
                    continue
                if colour[target] == white:
                    colour[target] = grey
                    on_path_index[target] = len(path)
                    path.append(target)
                    stack.append(iter(edges[target]))
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
