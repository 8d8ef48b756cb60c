"""Run the pod watcher of the Kubernetes backend until SIGTERM or SIGINT.

One such process per deployment: it turns pod events into attempt reports,
records them (and so launches the successors of finished tasks itself),
archives logs and deletes finished pods. On start it recovers: adopts the
pods of live attempts, relaunches attempts never launched, deletes orphans.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from k8s_runner import reconcile
from k8s_runner.backends.kubernetes import KubernetesBackend
from k8s_runner.watcher import PodWatcher
from webapp.metrics import serve_from_settings
from webapp.tracing import setup_watcher

logger = logging.getLogger(__name__)

_DRAIN_SECONDS = 10.0


class Command(BaseCommand):
    help = (
        "Watch Flowdeck's pods and record what they do (FLOWDECK_BACKEND=kubernetes)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        backend = reconcile.get_backend()
        if not isinstance(backend, KubernetesBackend):
            raise CommandError(
                f"watch_pods needs FLOWDECK_BACKEND=kubernetes, not {backend.name!r}"
            )
        stop = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            logger.info("stopping the pod watcher (signal %s)", signum)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        serve_from_settings()
        setup_watcher()
        reconcile.recover()
        logger.info(
            "watching pods in %s", ", ".join(sorted(backend.namespaces())) or "-"
        )
        PodWatcher.from_settings(backend).run_forever(stop)
        # Record what the watcher saw last before going.
        deadline = time.monotonic() + _DRAIN_SECONDS
        while reconcile.report_pump.unrecorded() and time.monotonic() < deadline:
            time.sleep(0.05)
