"""Waiting for the clocks the stores keep."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def next_second() -> datetime:
    """Wait for the next whole second and return it: a blob stored before is
    older, one stored after is not, even by S3's whole-second clock."""
    now = datetime.now(UTC)
    boundary = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((boundary - now).total_seconds() + 0.05)
    return boundary
