"""Operating Flowdeck: Prometheus metrics and their exposition (docs/operations.md)."""

from __future__ import annotations

import os

# prometheus_client reads PROMETHEUS_MULTIPROC_DIR when first imported and
# writes a file there per process and metric type: the directory must exist.
if _directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_directory, mode=0o700, exist_ok=True)
