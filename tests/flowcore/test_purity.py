"""The pure core loads nothing of the server, the frameworks or Kubernetes.

The import-linter contracts (pyproject.toml) check the imports as written;
this checks what importing every module of the package actually loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import flowcore

ROOT = Path(__file__).resolve().parents[2]
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
}


def test_importing_every_module_of_the_core_loads_nothing_of_the_server() -> None:
    modules = sorted(
        f"flowcore.{path.stem}"
        for path in Path(flowcore.__file__).parent.glob("*.py")
        if path.stem != "__init__"
    )
    assert "flowcore.engine" in modules and "flowcore.spec" in modules
    code = (
        f"import json, sys, {', '.join(modules)}; "
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(result.stdout))
    assert loaded & FORBIDDEN == set()
