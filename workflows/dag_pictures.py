"""Pictures of a spec document's DAG: the list page's thumbnails (a tiny SVG
drawn here, no graphviz) and the editor's SVG/PNG export (graphviz's dot).

Both read only task names and dependencies, and tolerate a document that does
not validate (the editor exports what is on its canvas, mistakes included).
"""

from __future__ import annotations

import subprocess
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import graphviz

# dot takes seconds past a few hundred nodes; an export is worth waiting for,
# but not without a bound on the server's CPU.
MAX_EXPORT_TASKS = 1000
EXPORT_TIMEOUT_S = 30

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


class PictureError(Exception):
    """The picture cannot be drawn; the message says why."""


def document_graph(document: Any) -> tuple[list[str], dict[str, list[str]]]:
    """(task names in document order, each task's upstream names that exist)."""
    spec = document.get("spec") if isinstance(document, Mapping) else None
    tasks = spec.get("tasks") if isinstance(spec, Mapping) else None
    if not isinstance(tasks, list):
        return [], {}
    order: list[str] = []
    names: set[str] = set()
    for task in tasks:
        name = task.get("name") if isinstance(task, Mapping) else None
        if isinstance(name, str) and name not in names:
            order.append(name)
            names.add(name)
    upstream: dict[str, list[str]] = {name: [] for name in order}
    for task in tasks:
        if not (isinstance(task, Mapping) and task.get("name") in names):
            continue
        deps = task.get("dependencies")
        for dep in deps if isinstance(deps, list) else []:
            if (
                dep in names
                and dep != task["name"]
                and dep not in upstream[task["name"]]
            ):
                upstream[task["name"]].append(dep)
    return order, upstream


def _layers(
    order: Sequence[str], upstream: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Each task's depth (longest path from a root); tasks on a cycle get the
    depth reached before it closed."""
    depth: dict[str, int] = {}
    visiting: set[str] = set()
    for start in order:
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            name, state = stack.pop()
            if name in depth:
                continue
            parents = [p for p in upstream.get(name, ()) if p not in visiting]
            if state == 0:
                visiting.add(name)
                stack.append((name, 1))
                stack.extend((p, 0) for p in parents if p not in depth)
            else:
                visiting.discard(name)
                depth[name] = 1 + max((depth.get(p, -1) for p in parents), default=-1)
    return depth


THUMB_W, THUMB_H = 120, 44
MAX_THUMB_LAYERS, MAX_THUMB_PER_LAYER = 24, 8


def thumbnail_svg(order: Sequence[str], upstream: Mapping[str, Sequence[str]]) -> str:
    """A small left-to-right sketch of the DAG: a dot per task (wide layers and
    long chains are sampled), a line per dependency between drawn dots. Only
    numbers go into the SVG, so it is safe to inline."""
    if not order:
        return ""
    depth = _layers(order, upstream)
    layers: dict[int, list[str]] = {}
    for name in order:
        layers.setdefault(depth[name], []).append(name)
    count = len(layers)
    keep = sorted(layers)
    if count > MAX_THUMB_LAYERS:
        step = count / MAX_THUMB_LAYERS
        keep = [sorted(layers)[int(i * step)] for i in range(MAX_THUMB_LAYERS)]
    shown = len(keep)
    where: dict[str, tuple[float, float]] = {}
    for column, layer in enumerate(keep):
        members = layers[layer][:MAX_THUMB_PER_LAYER]
        x = 6 + (THUMB_W - 12) * (column / (shown - 1) if shown > 1 else 0.5)
        for row, name in enumerate(members):
            y = 5 + (THUMB_H - 10) * ((row + 0.5) / len(members))
            where[name] = (round(x, 1), round(y, 1))
    lines = []
    for name, (x2, y2) in where.items():
        for parent in upstream.get(name, ()):
            if parent in where:
                x1, y1 = where[parent]
                lines.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
    dots = [f'<circle cx="{x}" cy="{y}" r="2.6"/>' for x, y in where.values()]
    return (
        f'<svg class="dag-thumb" xmlns="http://www.w3.org/2000/svg" '
        f'width="{THUMB_W}" height="{THUMB_H}" viewBox="0 0 {THUMB_W} {THUMB_H}" '
        f'role="img" aria-label="DAG of {len(order)} tasks">'
        f'<g stroke="#9ca3af" stroke-width="0.8">{"".join(lines[:400])}</g>'
        f'<g fill="#2563eb">{"".join(dots)}</g></svg>'
    )


_THUMBNAILS: OrderedDict[int, str] = OrderedDict()
_THUMBNAIL_CACHE_SIZE = 1024


def version_thumbnail(version_id: int, document: Any) -> str:
    """The thumbnail of a stored version: versions are immutable, so the
    picture is cached by the version's id."""
    cached = _THUMBNAILS.get(version_id)
    if cached is None:
        cached = thumbnail_svg(*document_graph(document))
        _THUMBNAILS[version_id] = cached
        if len(_THUMBNAILS) > _THUMBNAIL_CACHE_SIZE:
            _THUMBNAILS.popitem(last=False)
    return cached


def render_document(document: Any, fmt: str) -> bytes:
    """The document's DAG drawn by dot, as SVG or PNG bytes; PictureError when
    it has no tasks, too many, or dot is missing or fails."""
    if fmt not in FORMATS:
        raise PictureError(f"unknown format {fmt!r}: use svg or png")
    order, upstream = document_graph(document)
    if not order:
        raise PictureError("the workflow has no tasks to draw")
    if len(order) > MAX_EXPORT_TASKS:
        raise PictureError(
            f"the workflow has {len(order)} tasks; pictures of more than "
            f"{MAX_EXPORT_TASKS} are not drawn"
        )
    spec = document.get("spec", {})
    ui = spec.get("ui") if isinstance(spec, Mapping) else None
    rankdir = "LR" if isinstance(ui, Mapping) and ui.get("direction") == "LR" else "TB"
    dot = graphviz.Digraph(
        name="dag",
        graph_attr={"rankdir": rankdir, "nodesep": "0.3", "bgcolor": "white"},
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": "#f3f4f6",
            "fontname": "Helvetica,Arial,sans-serif",
            "fontsize": "11",
        },
        edge_attr={"color": "#6b7280", "arrowsize": "0.7"},
    )
    for name in order:
        # escape(): no HTML labels, no backslash escapes; dot escapes the text
        # it writes into the SVG.
        dot.node(graphviz.escape(name), label=graphviz.nohtml(graphviz.escape(name)))
    for name in order:
        for parent in upstream[name]:
            dot.edge(graphviz.escape(parent), graphviz.escape(name))
    try:
        return subprocess.run(
            ["dot", f"-T{fmt}"],
            input=dot.source.encode(),
            capture_output=True,
            check=True,
            timeout=EXPORT_TIMEOUT_S,
        ).stdout
    except FileNotFoundError:
        raise PictureError("graphviz is not installed on the server") from None
    except subprocess.TimeoutExpired:
        raise PictureError("drawing took too long") from None
    except subprocess.CalledProcessError as error:
        message = error.stderr.decode(errors="replace").strip()[:200]
        raise PictureError(f"dot failed: {message}") from None
