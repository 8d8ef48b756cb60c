"""Celery beat's scheduler, elected: of several beats only the leader sends.

With FLOWDECK_LEADER_ELECTION off it is Celery's PersistentScheduler. With it
on, a thread campaigns for the beat's lease (k8s_runner/election.py) and
`apply_entry` sends a due task only while this beat leads; the schedules tick
carries the generation it leads with, so a tick sent by a beat deposed since
(it waited in the broker) claims no fire (schedules/tasks.py). The sweep is
idempotent and needs no fence: only the leader sends it.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry

logger = logging.getLogger(__name__)

TICK = "schedules.tasks.tick"


class LeaderScheduler(PersistentScheduler):  # type: ignore[misc]
    def setup_schedule(self) -> None:
        super().setup_schedule()
        import django
        from django.apps import apps

        if not apps.ready:  # set up again, it would undo Celery's logging
            django.setup()
        from k8s_runner import election
        from workflows.services import leadership

        self.elector = election.elector_for(leadership.BEAT)
        self._stop = threading.Event()
        if self.elector is not None:
            logger.info("%s campaigns for the beat's lease", self.elector.identity)
            threading.Thread(
                target=self.elector.lead,
                args=(self._stop, lambda until: until.wait()),
                name="beat-lease",
                daemon=True,
            ).start()

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        elector = getattr(self, "elector", None)
        if elector is None:
            super().apply_entry(entry, producer=producer)
            return
        generation = elector.generation
        if generation is None or not elector.is_leader():
            logger.debug("not the leader: %s not sent", entry.name)
            return
        if entry.task == TICK:
            entry = copy.copy(entry)
            entry.kwargs = {**(entry.kwargs or {}), "fence": generation}
        super().apply_entry(entry, producer=producer)

    def close(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()  # the lease is released for the next beat
        super().close()
