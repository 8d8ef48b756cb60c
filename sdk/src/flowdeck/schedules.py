"""When a flow runs by itself: every N seconds, or on a cron expression.

The same two kinds as the server's schedules (docs/schedules.md). Cron times
are computed by the server's own pure code (`flowcore.fire_times`), so a flow
that runs here on a cron schedule fires when its server schedule will.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from flowcore.fire_times import make_trigger, next_after


class Schedule:
    """`next_after(moment)` is the next fire time after `moment` (aware)."""

    timezone: str = "UTC"

    def server_fields(self) -> dict[str, Any]:
        """The fields of a schedule in the server's API."""
        raise NotImplementedError

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        raise NotImplementedError


class IntervalSchedule(Schedule):
    """Every `interval` (seconds, or a timedelta), counted from `start_date`
    (from the Unix epoch when not given, as on the server)."""

    def __init__(
        self,
        interval: float | dt.timedelta,
        start_date: dt.datetime | None = None,
        timezone: str = "UTC",
    ) -> None:
        seconds = (
            interval.total_seconds() if isinstance(interval, dt.timedelta) else interval
        )
        if isinstance(seconds, bool) or not seconds > 0:
            raise ValueError("interval must be more than 0 seconds")
        if start_date is not None and start_date.tzinfo is None:
            start_date = start_date.replace(tzinfo=dt.UTC)
        self.interval = float(seconds)
        self.start_date = start_date
        self.timezone = timezone

    def __repr__(self) -> str:
        return f"IntervalSchedule(interval={self.interval:g})"

    def server_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "kind": "interval",
            "expression": f"every {max(1, math.ceil(self.interval))}s",
            "timezone": self.timezone,
        }
        if self.start_date is not None:
            fields["start_at"] = self.start_date.isoformat()
        return fields

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        start = self.start_date or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        if moment < start:
            return start
        periods = math.floor((moment - start).total_seconds() / self.interval) + 1
        return start + dt.timedelta(seconds=periods * self.interval)


class CronSchedule(Schedule):
    """On a five-field cron expression (or `@daily`, ...) in `timezone`, an
    IANA zone, with daylight saving time handled as on the server."""

    def __init__(self, cron: str, timezone: str = "UTC") -> None:
        self.cron = cron
        self.timezone = timezone
        self._trigger = make_trigger("cron", cron, timezone, strict=True)

    def __repr__(self) -> str:
        return f"CronSchedule({self.cron!r}, timezone={self.timezone!r})"

    def server_fields(self) -> dict[str, Any]:
        return {"kind": "cron", "expression": self.cron, "timezone": self.timezone}

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        following = next_after(self._trigger, moment)
        if following is None:
            raise ValueError(f"{self!r} does not fire after {moment.isoformat()}")
        return following
