"""The ticking-thread lifecycle the kubelet simulator's controllers share
(kubelet_jobs.py, kubelet_daemons.py): a module of its own because
kubelet_sim.py imports those controllers."""

from __future__ import annotations

import logging
import threading

from kubernetes import client


class TickingController:
    """Calls `tick()` every `interval` seconds in a thread of its own.

    An error from a tick is logged and appended to `errors` (the simulator's:
    a test fails on any) unless it came while stopping, or is an API error
    whose status is in `quiet_statuses` (one the next tick sets right).
    """

    interval: float = 0.1
    name: str  # in the thread's name and before each of its errors
    label: str  # in the log
    quiet_statuses: tuple[int, ...] = ()

    def __init__(self, namespace: str, errors: list[str]) -> None:
        self.namespace = namespace
        self.errors = errors
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"kubelet-sim-{self.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(5)

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as error:
                quiet = (
                    isinstance(error, client.ApiException)
                    and error.status in self.quiet_statuses
                )
                if not quiet and not self._stop.is_set():
                    # The subclass's module logger, as each logged before.
                    logging.getLogger(type(self).__module__).exception(
                        "kubelet simulator: %s", self.label
                    )
                    self.errors.append(f"{self.name}: {error!r}")
            self._stop.wait(self.interval)
