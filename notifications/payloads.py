"""What a notification says: the JSON payload (docs/operations.md, "Payload"),
and the same as a chat message and an email."""

from __future__ import annotations

import html
from collections import deque
from pathlib import Path
from typing import Any

from django.conf import settings
from django.urls import reverse

from flowcore.states import TaskStatus
from notifications.models import Event, Notification
from workflows.models import Attempt, Run, TaskRun

SCHEMA_VERSION = 1
LOG_LINES = 20
_LOG_BYTES = 8192
_MAX_FAILED_TASKS = 20

HEADLINES = {
    Event.RUN_FAILED: "failed",
    Event.RUN_SUCCEEDED: "succeeded",
    Event.RUN_CANCELLED: "was cancelled",
    Event.TASK_FAILED: "has a task that failed its last retry",
    Event.DEADLINE_MISSED: "is still running past its SLA",
    Event.SCHEDULE_MISSED: "missed a scheduled start",
    Event.TEST: "(a test notification)",
}


def link(path: str) -> str:
    return settings.FLOWDECK_BASE_URL.rstrip("/") + path


def log_tail(path: str, lines: int = LOG_LINES) -> list[str]:
    """The last `lines` lines of a log file (at most 8 KiB of it)."""
    if not path:
        return []
    try:
        with Path(path).open("rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - _LOG_BYTES))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return list(deque(text.splitlines(), maxlen=lines))


def _failed_tasks(run: Run, only: str = "") -> list[dict[str, Any]]:
    tasks = TaskRun.objects.filter(
        run=run, status__in=[TaskStatus.FAILED, TaskStatus.ERROR]
    ).order_by("position", "fan_index")
    if only:
        tasks = tasks.filter(name=only)
    found = []
    for task in tasks[:_MAX_FAILED_TASKS]:
        attempt = Attempt.objects.filter(task_run=task).order_by("-number").first()
        found.append(
            {
                "name": task.name,
                "status": task.status,
                "reason": (attempt.reason if attempt else "") or task.reason,
                "message": task.message or (attempt.message if attempt else ""),
                "exit_code": attempt.exit_code if attempt else None,
                "attempts": task.attempts_count,
                "log_tail": log_tail(attempt.log_path if attempt else ""),
                "logs_url": link(reverse("task-logs", args=[run.pk, task.name])),
            }
        )
    return found


def _time(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def build(notification: Notification) -> dict[str, Any]:
    """The JSON payload of a notification."""
    rule = notification.rule
    payload: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "id": notification.key,
        "event": notification.event,
        "occurred_at": _time(notification.created_at),
        "project": {"id": rule.project_id, "name": rule.project.name},
        "rule": {"id": rule.pk, "name": rule.name},
    }
    if notification.detail:
        payload["schedule"] = notification.detail
    run = notification.run
    if run is None:
        return payload
    workflow = run.workflow
    payload["workflow"] = {
        "id": workflow.pk,
        "name": workflow.name,
        "version": run.version.number,
        "url": link(reverse("workflow-detail", args=[workflow.pk])),
    }
    payload["run"] = {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "message": run.message,
        "created_at": _time(run.created_at),
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "url": link(reverse("run-detail", args=[run.pk])),
    }
    if notification.event in (Event.RUN_FAILED, Event.TASK_FAILED):
        payload["failed_tasks"] = _failed_tasks(run, notification.task)
    if notification.event == Event.DEADLINE_MISSED:
        payload["sla_seconds"] = notification_sla(run)
    return payload


def notification_sla(run: Run) -> float | None:
    from workflows.blueprints import blueprint_of

    return blueprint_of(run).spec.sla


def subject(payload: dict[str, Any]) -> str:
    headline = HEADLINES.get(Event(payload["event"]), payload["event"])
    if "schedule" in payload:
        schedule = payload["schedule"]
        return (
            f"[Flowdeck] {schedule['workflow']}: schedule {schedule['name']} "
            f"{headline} ({schedule['fire_time']})"
        )
    if "run" in payload:
        return (
            f"[Flowdeck] {payload['workflow']['name']} run #{payload['run']['id']} "
            f"{headline}"
        )
    return f"[Flowdeck] {payload['project']['name']}: {headline}"


def text(payload: dict[str, Any]) -> str:
    """The plain-text body (an email's, a chat message's)."""
    lines = [subject(payload).removeprefix("[Flowdeck] ")]
    if "schedule" in payload:
        schedule = payload["schedule"]
        lines.append(f"Fire {schedule['status']}: {schedule['reason']}")
        lines.append(schedule["url"])
    if "run" in payload:
        run = payload["run"]
        lines.append(f"Project {payload['project']['name']}, status {run['status']}")
        lines.append(run["url"])
    for task in payload.get("failed_tasks", ()):
        lines.append("")
        lines.append(
            f"{task['name']}: {task['status']} ({task['reason'] or 'no reason'})"
            + (
                f", exit code {task['exit_code']}"
                if task["exit_code"] is not None
                else ""
            )
        )
        if task["message"]:
            lines.append(f"  {task['message']}")
        lines.extend(f"  | {line}" for line in task["log_tail"])
    return "\n".join(lines) + "\n"


def html_body(payload: dict[str, Any]) -> str:
    """The HTML part of an email (everything escaped)."""
    e = html.escape
    parts = [f"<h2>{e(subject(payload).removeprefix('[Flowdeck] '))}</h2>"]
    if "run" in payload:
        run = payload["run"]
        parts.append(
            f"<p>Project <b>{e(payload['project']['name'])}</b>, status "
            f"<b>{e(run['status'])}</b>. "
            f'<a href="{e(run["url"])}">Open the run</a></p>'
        )
    for task in payload.get("failed_tasks", ()):
        parts.append(
            f"<h3>{e(task['name'])}: {e(task['status'])}</h3>"
            f"<p>{e(task['reason'] or '')} {e(task['message'] or '')}</p>"
        )
        if task["log_tail"]:
            parts.append("<pre>" + e("\n".join(task["log_tail"])) + "</pre>")
    return "<html><body>" + "".join(parts) + "</body></html>"


def slack(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming webhook message (Mattermost and Teams'
    compatible endpoints read `text` too)."""
    message = text(payload)
    if "run" in payload:
        run = payload["run"]
        first, _, rest = message.partition("\n")
        message = f"<{run['url']}|{first}>\n{rest}"
    return {"text": message}
