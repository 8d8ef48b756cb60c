"""Template helpers for the pages: status badges and elapsed times."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def status_badge(status: str) -> SafeString:
    """A status in a badge coloured like the DAG's nodes (see flowdeck.css)."""
    if not status:
        return format_html('<span class="badge">{}</span>', "none")
    return format_html(
        '<span class="badge status-{}">{}</span>', str(status).lower(), status
    )


@register.filter
def duration(value: timedelta | None) -> str:
    """A duration as "1h 02m", "3m 05s" or "4.2s"."""
    if value is None:
        return ""
    seconds = max(0.0, value.total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


@register.filter
def elapsed(item: Any) -> str:
    """How long a run, task or attempt has run so far (or ran, if finished)."""
    started: datetime | None = getattr(item, "started_at", None)
    if started is None:
        return ""
    finished: datetime | None = getattr(item, "finished_at", None)
    return duration((finished or timezone.now()) - started)


@register.filter
def compact_json(value: Any, limit: int = 60) -> str:
    """A value on one line, as JSON unless it is text (a fan-out's item), cut
    to `limit` characters with an ellipsis."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
