"""Run the pod watcher of the Kubernetes backend until SIGTERM or SIGINT.

It turns pod events into attempt reports, records them (and so launches the
successors of finished tasks itself), archives logs and deletes finished
pods. On start it recovers: adopts the pods of live attempts, relaunches
attempts never launched, deletes orphans.

With FLOWDECK_LEADER_ELECTION off, one such process per deployment. With it
on, any number: each campaigns for the lease (k8s_runner/election.py) and only
the leader watches, from a fresh recovery; one that loses the lease stops
watching, its pending writes refused by the fence, and campaigns again.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from k8s_runner import election, reconcile
from k8s_runner.backends.kubernetes import KubernetesBackend
from k8s_runner.watcher import PodWatcher
from webapp.metrics import serve_from_settings
from webapp.tracing import setup_watcher
from workflows.services import leadership

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
        # Every replica serves its metrics, the standby's too (its lease state).
        serve_from_settings()
        setup_watcher()
        elector = election.elector_for(leadership.WATCHER)
        if elector is None:
            self.watch(backend, stop)
        else:
            logger.info("%s campaigns for the pod watcher's lease", elector.identity)

            def lead(until: threading.Event) -> None:
                generation = elector.generation
                if generation is None:
                    return  # lost already
                # Kept after a loss: its generation is stale, so whatever the
                # report pump still holds is refused, never recorded unfenced.
                leadership.hold(
                    election.fence_of(elector, leadership.WATCHER, generation)
                )
                self.watch(backend, until)
                if stop.is_set():
                    self.drain()  # the lease is still renewed meanwhile
                else:
                    logger.warning("lost the lease: the pod watcher stands by")

            elector.lead(stop, lead)
            return
        self.drain()

    def watch(self, backend: KubernetesBackend, stop: threading.Event) -> None:
        reconcile.recover()
        logger.info(
            "watching pods in %s", ", ".join(sorted(backend.namespaces())) or "-"
        )
        PodWatcher.from_settings(backend).run_forever(stop)

    def drain(self) -> None:
        """Record what the watcher saw last before going."""
        deadline = time.monotonic() + _DRAIN_SECONDS
        while reconcile.report_pump.unrecorded() and time.monotonic() < deadline:
            time.sleep(0.05)
