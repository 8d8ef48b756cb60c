"""{% ui_entry "editor" %}: the tags that load one entry of the built browser UI.

Vite writes the bundle and a manifest (hashed file names) to static/ui/; this
reads the manifest and emits the entry's stylesheets, preloads and script.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from django import template
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

MANIFEST = "ui/manifest.json"
ENTRIES = {
    "editor": "src/editor/main.tsx",
    "run": "src/run/main.tsx",
    "runs": "src/runs/main.ts",
}


@lru_cache(maxsize=4)
def _manifest(path: str, mtime: float) -> dict[str, Any]:
    # Keyed by mtime so a rebuild during development is picked up.
    return json.loads(Path(path).read_text())


def load_manifest() -> dict[str, Any]:
    found = finders.find(MANIFEST)
    if not found:
        raise template.TemplateSyntaxError(
            f"{MANIFEST} is missing: build the UI with `npm run build` in frontend/"
        )
    path = str(found)
    return _manifest(path, Path(path).stat().st_mtime)


def _chunks(manifest: dict[str, Any], key: str, seen: set[str]) -> list[str]:
    """The chunk and every chunk it imports, each once, imports first."""
    if key in seen:
        return []
    seen.add(key)
    order: list[str] = []
    for imported in manifest[key].get("imports", []):
        order += _chunks(manifest, imported, seen)
    return [*order, key]


@register.simple_tag
def ui_entry(name: str) -> SafeString:
    manifest = load_manifest()
    entry = ENTRIES.get(name)
    if entry is None or entry not in manifest:
        raise template.TemplateSyntaxError(f"no UI entry named {name!r}")
    chunks = _chunks(manifest, entry, set())
    styles = [css for key in chunks for css in manifest[key].get("css", [])]
    preloads = [manifest[key]["file"] for key in chunks[:-1]]
    return format_html(
        "{}{}{}",
        format_html_join(
            "",
            '<link rel="stylesheet" href="{}">',
            ((static(f"ui/{css}"),) for css in styles),
        ),
        format_html_join(
            "",
            '<link rel="modulepreload" href="{}">',
            ((static(f"ui/{file}"),) for file in preloads),
        ),
        format_html(
            '<script type="module" src="{}"></script>',
            static(f"ui/{manifest[entry]['file']}"),
        ),
    )
