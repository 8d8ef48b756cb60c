"""System checks: tell an operator at start-up what the pages will miss."""

from __future__ import annotations

import shutil
from typing import Any

from django.core.checks import Warning, register


@register()
def graphviz_dot_installed(**kwargs: Any) -> list[Warning]:
    if shutil.which("dot"):
        return []
    return [
        Warning(
            "Graphviz's `dot` program is not on PATH, so run pages cannot draw "
            "the DAG.",
            hint="Install graphviz (Debian: apt-get install graphviz).",
            id="flowdeck.W001",
        )
    ]
