"""The client loads nothing of the server: importing every module of the SDK
(the CLI and the executors included) imports no Django."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import flowdeck

FORBIDDEN = {
    "django",
    "rest_framework",
    "channels",
    "celery",
    "kubernetes",
    "workflows",
    "k8s_runner",
    "schedules",
    "accounts",
    "webapp",
    "artifacts",
}


def test_importing_every_module_of_the_sdk_loads_nothing_of_the_server(
    tmp_path: Path,
) -> None:
    package = Path(flowdeck.__file__).parent
    modules = sorted(
        ".".join(
            ("flowdeck", *path.relative_to(package).with_suffix("").parts)
        ).removesuffix(".__init__")
        for path in package.rglob("*.py")
    )
    assert {"flowdeck.cli", "flowdeck.executors", "flowdeck.client"} <= set(modules)
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    # From an empty directory: the repository's packages are not on the path,
    # so only what the installed client brings can load.
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(result.stdout))
    assert "flowdeck" in loaded and "flowcore" in loaded
    assert loaded & FORBIDDEN == set()
