"""Run a module as `python -m` would, stamping every pod create it sends.

benchmarks/production.py starts the Celery workers and the pod watcher through
this wrapper: each POST of a pod appends "<unix time> <pod name>" to the file
named by FLOWDECK_BENCH_STAMPS, at the moment the request is sent. Nothing
else changes; a forked child (a prefork worker) appends to the same file
(O_APPEND writes of a short line are atomic).

    python benchmarks/stamp_creates.py <module> [arguments...]
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

# This directory would hide the `kubernetes` package (benchmarks/kubernetes.py).
HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != HERE]
# The checkout it is started in (the baseline's, say), as `python -m` would.
sys.path.insert(0, os.getcwd())


def install(path: str) -> None:
    from kubernetes.client import ApiClient

    original = ApiClient.call_api

    def call_api(self: Any, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if method == "POST" and url.split("?")[0].endswith("/pods"):
            body = kw.get("body", args[1] if len(args) > 1 else None)
            name = getattr(getattr(body, "metadata", None), "name", None)
            if name is None and isinstance(body, dict):
                name = body.get("metadata", {}).get("name")
            line = f"{time.time():.6f} {name}\n".encode()
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line)
            finally:
                os.close(descriptor)
        return original(self, method, url, *args, **kw)

    ApiClient.call_api = call_api  # type: ignore[method-assign]


if __name__ == "__main__":
    install(os.environ["FLOWDECK_BENCH_STAMPS"])
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
