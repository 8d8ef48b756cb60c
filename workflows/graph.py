"""Draw a version's DAG, or a run's DAG coloured by task status, as inline SVG."""

from __future__ import annotations

import logging
import re
import subprocess
from collections import OrderedDict
from collections.abc import Callable, Mapping

import graphviz
from django.urls import NoReverseMatch, reverse

from flowcore.states import TaskStatus
from workflows.blueprints import blueprint_for, blueprint_of
from workflows.models import Run, WorkflowVersion

logger = logging.getLogger(__name__)

# dot's layout time grows quickly past a few hundred nodes; a page should not
# wait seconds for a picture nobody can read anyway.
MAX_GRAPH_TASKS = 300

# (fill, font) per task status; static/css/flowdeck.css uses the same colours.
STATUS_COLOURS: Mapping[str, tuple[str, str]] = {
    TaskStatus.PENDING: ("#d1d5db", "#111827"),
    TaskStatus.QUEUED: ("#bae6fd", "#0c4a6e"),
    TaskStatus.RUNNING: ("#2563eb", "#ffffff"),
    TaskStatus.RETRYING: ("#f59e0b", "#111827"),
    TaskStatus.SUCCEEDED: ("#16a34a", "#ffffff"),
    TaskStatus.FAILED: ("#dc2626", "#ffffff"),
    TaskStatus.ERROR: ("#7f1d1d", "#ffffff"),
    TaskStatus.UPSTREAM_FAILED: ("#f5c2c7", "#4b5563"),
    TaskStatus.CANCELLED: ("#4b5563", "#ffffff"),
    TaskStatus.SKIPPED: ("#f1f5f9", "#475569"),
    TaskStatus.EXPANDED: ("#4f46e5", "#ffffff"),
}
_PLAIN = ("#f3f4f6", "#111827")

# dot copies a node's URL into the SVG without escaping it (checked with 2.43),
# so only a URL made of these characters is ever handed to it.
_SAFE_URL = re.compile(r"[A-Za-z0-9/_.~%?=-]+")


# A version never changes, nor does its picture: drawn once per process, not
# by a `dot` subprocess on every view of the workflow's page.
_VERSION_SVGS: OrderedDict[tuple[int, object], str] = OrderedDict()
_VERSION_SVGS_KEPT = 256


def render_version_svg(version: WorkflowVersion) -> str:
    """The version's DAG with plain nodes; "" when it cannot or should not be drawn."""
    # With its time: an id used again (a test database, a restored one) is
    # another version.
    key = (version.pk, version.created_at)
    cached = _VERSION_SVGS.get(key)
    if cached is not None:
        _VERSION_SVGS.move_to_end(key)
        return cached
    graph = blueprint_for(version.pk, version.document).graph
    svg = _render(graph.order, graph.upstream, lambda name: ([name], _PLAIN, None))
    if svg:  # a failure (no graphviz yet) is tried again next time
        _VERSION_SVGS[key] = svg
        while len(_VERSION_SVGS) > _VERSION_SVGS_KEPT:
            _VERSION_SVGS.popitem(last=False)
    return svg


def render_run_svg(run: Run) -> str:
    """The run's DAG, each task coloured by its status and linked to its logs;
    "" when it cannot or should not be drawn."""
    graph = blueprint_of(run).graph  # a debug run: its one task
    if len(graph) > MAX_GRAPH_TASKS:
        return ""
    tasks = {
        name: (status, attempts)
        for name, status, attempts in run.tasks.values_list(
            "name", "status", "attempts_count"
        )
    }

    def node(name: str) -> tuple[list[str], tuple[str, str], str | None]:
        status, attempts = tasks.get(name, (TaskStatus.PENDING, 0))
        lines = [name, status]
        if attempts > 1:
            lines.append(f"{attempts} attempts")
        return lines, STATUS_COLOURS.get(status, _PLAIN), _logs_url(run.pk, name)

    return _render(graph.order, graph.upstream, node)


def _render(
    order: tuple[str, ...],
    upstream: Mapping[str, tuple[str, ...]],
    node: Callable[[str], tuple[list[str], tuple[str, str], str | None]],
) -> str:
    if len(order) > MAX_GRAPH_TASKS:
        return ""
    dot = graphviz.Digraph(
        name="dag",
        engine="dot",
        graph_attr={"rankdir": "TB", "bgcolor": "transparent", "nodesep": "0.3"},
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fontname": "Helvetica,Arial,sans-serif",
            "fontsize": "11",
            "penwidth": "0.8",
        },
        edge_attr={"color": "#6b7280", "arrowsize": "0.7"},
    )
    for name in order:
        lines, (fill, font), url = node(name)
        # escape() stops graphviz from reading "<...>" as an HTML label and
        # backslashes as escapes; dot itself escapes text when writing SVG.
        label = "\\n".join(graphviz.escape(line) for line in lines)
        attrs = {"fillcolor": fill, "fontcolor": font, "tooltip": graphviz.escape(name)}
        if url is not None:
            attrs["URL"] = url
        dot.node(graphviz.escape(name), label=graphviz.nohtml(label), **attrs)
    for name in order:
        for parent in upstream[name]:
            dot.edge(graphviz.escape(parent), graphviz.escape(name))
    try:
        svg = dot.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        return ""
    except subprocess.CalledProcessError:
        logger.exception("dot failed to draw a graph of %d tasks", len(order))
        return ""
    # Inline SVG needs no XML prolog or DOCTYPE.
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def _logs_url(run_id: int, name: str) -> str | None:
    try:
        url = reverse("task-logs", args=[run_id, name])
    except NoReverseMatch:
        return None
    return url if _SAFE_URL.fullmatch(url) else None
