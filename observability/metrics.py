"""Every Prometheus metric Flowdeck exports, defined once (docs/operations.md).

Labels are bounded: a project's and a workflow's name, a status, a route's
pattern, a Kubernetes verb and HTTP code; never a run id, a task instance
(`task[3]`) or a pod's name, so the number of series grows with the number
of workflows, not with the number of runs.

In multiprocess mode (PROMETHEUS_MULTIPROC_DIR set before this module is
first imported) each process writes its samples to files in that directory
and every /metrics endpoint sums them (observability.exposition); gauges say
how: `livesum` adds the live processes' values, `max` takes the largest.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds, from a few milliseconds (an in-process launch) to a day-long run.
_SHORT = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LONG = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_WAIT = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

RUNS_STARTED = Counter(
    "flowdeck_runs_started",
    "Runs that started running (a retry of a finished run starts it again).",
    ["project", "workflow"],
)
RUNS_FINISHED = Counter(
    "flowdeck_runs_finished",
    "Runs that ended, by final status (Succeeded, Failed, Cancelled).",
    ["project", "workflow", "status"],
)
RUN_DURATION = Histogram(
    "flowdeck_run_duration_seconds",
    "From a run's start to its end, by final status.",
    ["project", "workflow", "status"],
    buckets=_LONG,
)
TASKS_STARTED = Counter(
    "flowdeck_tasks_started",
    "Task attempts started (the task moved to Running; retries count again).",
    ["project", "workflow"],
)
TASKS_FINISHED = Counter(
    "flowdeck_tasks_finished",
    "Tasks that ended, by final status (Succeeded, Failed, Error, Skipped, "
    "UpstreamFailed, Cancelled); a task retried ends once per round.",
    ["project", "workflow", "status"],
)
TASK_DURATION = Histogram(
    "flowdeck_task_duration_seconds",
    "From a task's live attempt's start to the task's end, by final status.",
    ["project", "status"],
    buckets=_LONG,
)
SCHEDULING_LATENCY = Histogram(
    "flowdeck_task_scheduling_latency_seconds",
    "From a task becoming Queued to its attempt's program running (its pod "
    "scheduled, images pulled, container started; a local process spawned).",
    ["project"],
    buckets=_WAIT,
)
LAUNCH_DELAY = Histogram(
    "flowdeck_task_launch_delay_seconds",
    "From the end of a task's last upstream (the moment it became ready) to "
    "the backend accepting its launch.",
    ["backend"],
    buckets=_WAIT,
)
POD_CREATE = Histogram(
    "flowdeck_pod_create_seconds",
    "How long the Kubernetes API took to create a task's pod.",
    buckets=_SHORT,
)
KUBE_API_ERRORS = Counter(
    "flowdeck_kubernetes_api_errors",
    "Kubernetes API calls that failed, by verb and HTTP status (0: no answer).",
    ["verb", "code"],
)
WATCHER_LAST_EVENT = Gauge(
    "flowdeck_watcher_last_event_timestamp_seconds",
    "When the pod watcher last received an event or bookmark (Unix time).",
    multiprocess_mode="max",
)
WATCHER_LAG = Gauge(
    "flowdeck_watcher_lag_seconds",
    "Seconds since the pod watcher's quietest namespace last received an "
    "event or bookmark (the apiserver sends a bookmark at least every minute).",
    multiprocess_mode="livemax",
)
WATCHER_EVENTS = Counter(
    "flowdeck_watcher_events",
    "Watch events the pod watcher received, by type (ADDED, MODIFIED, DELETED, "
    "BOOKMARK).",
    ["type"],
)
WATCHER_RELISTS = Counter(
    "flowdeck_watcher_relists",
    "Full lists of a namespace's pods: at start, after a 410 Gone, after a fault.",
)
RECONCILE_DURATION = Histogram(
    "flowdeck_reconcile_duration_seconds",
    "Planning a run and carrying out the plan: `reconcile` (a whole run), "
    "`reports` (a batch of backend reports and what they launched).",
    ["kind"],
    buckets=_SHORT,
)
SWEEP_DURATION = Histogram(
    "flowdeck_sweep_duration_seconds",
    "One sweep over every unfinished run.",
    buckets=_SHORT,
)
SCHEDULE_FIRES = Counter(
    "flowdeck_schedule_fires",
    "Schedule fire times handled, by outcome (submitted, skipped, failed).",
    ["outcome"],
)
SCHEDULE_LATENESS = Histogram(
    "flowdeck_schedule_lateness_seconds",
    "From a schedule's fire time to the submission of its run.",
    buckets=_WAIT,
)
WEBSOCKET_CLIENTS = Gauge(
    "flowdeck_websocket_clients",
    "Websocket clients connected, by consumer (run, runs).",
    ["consumer"],
    multiprocess_mode="livesum",
)
WEBSOCKET_MESSAGES = Counter(
    "flowdeck_websocket_messages_sent",
    "Messages sent to websocket clients, by consumer.",
    ["consumer"],
)
NOTIFICATION_ATTEMPTS = Counter(
    "flowdeck_notification_attempts",
    "Notification delivery attempts by channel (webhook, email, slack) and "
    "result: delivered, retry (failed, tried again later), failed (gave up).",
    ["channel", "result"],
)
HTTP_DURATION = Histogram(
    "flowdeck_http_request_duration_seconds",
    "HTTP requests by route pattern (never the raw path), method and status.",
    ["route", "method", "status"],
    buckets=_SHORT,
)
