"""The embedded mode fires schedules: an every-minute schedule fires through
the real tick in its own process at a time the test sets, its run goes through
the real worker, and the worker's own Celery beat fires a schedule due now."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.test_embedded import Server

pytestmark = pytest.mark.slow

STAMP = """
apiVersion: flowdeck.io/v1
kind: Workflow
metadata: {name: stamp}
spec:
  parameters: [{name: when}]
  tasks:
    - name: say
      image: busybox
      command: [sh, -c]
      args: ["echo fired for {{params.when}}"]
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "data")
    server.env["FLOWDECK_SCHEDULE_TICK_SECONDS"] = "1"
    server.manage("migrate", "--noinput")
    server.manage("bootstrap")
    server.start()
    server.login()
    yield server
    server.stop()


def _workflow(server: Server) -> int:
    status, workflow = server.request(
        "POST", "/api/workflows/", STAMP, content_type="application/yaml"
    )
    assert status == 201, workflow
    return int(workflow["id"])


def _fires(server: Server, schedule_id: int) -> list[dict[str, Any]]:
    status, page = server.request("GET", f"/api/schedules/{schedule_id}/fires/")
    assert status == 200, page
    return list(page["results"])


def test_an_every_minute_schedule_fires_once_through_the_tick(server: Server) -> None:
    workflow = _workflow(server)
    status, schedule = server.request(
        "POST",
        "/api/schedules/",
        {
            "workflow": workflow,
            "name": "every-minute",
            "expression": "* * * * *",
            "timezone": "Europe/Berlin",
            "catch_up": "none",
            "parameters": {"when": "{{schedule.time}}"},
            # Ten minutes ahead: the worker's own beat (real time) cannot reach
            # the first fire time while the test pretends to be there.
            "start_at": (
                datetime.now().astimezone() + timedelta(minutes=10)
            ).isoformat(),
        },
    )
    assert status == 201, schedule
    due = datetime.fromisoformat(schedule["next_fire_at"])
    # Pretend it is one second past the due minute, in a separate process as
    # beat's worker would be; the real clock is not waited for.
    now = (due + timedelta(seconds=1)).isoformat()
    output = server.manage("tick_schedules", "--now", now)
    assert output.strip() == "started 1, skipped 0, queued 0, failed 0"
    # A second scheduler at the same moment finds the time claimed.
    again = server.manage("tick_schedules", "--now", now)
    assert again.strip() == "started 0, skipped 0, queued 0, failed 0"
    fires = [
        f
        for f in _fires(server, schedule["id"])
        if f["fire_time"] == schedule["next_fire_at"]
    ]
    assert len(fires) == 1 and fires[0]["status"] == "started"
    run = server.wait_for_run(fires[0]["run"])
    assert run["status"] == "Succeeded"
    assert run["trigger"] == "schedule"
    local = due.astimezone(ZoneInfo("Europe/Berlin"))
    status, log = server.request("GET", f"/api/runs/{run['id']}/tasks/say/logs/")
    assert log == f"fired for {local.isoformat()}\n"


def test_the_embedded_worker_beat_fires_a_schedule_that_is_due(server: Server) -> None:
    workflow = _workflow(server)
    start = datetime.now().astimezone() + timedelta(seconds=2)
    status, schedule = server.request(
        "POST",
        "/api/schedules/",
        {
            "workflow": workflow,
            "name": "soon",
            "kind": "interval",
            "expression": "every 1h",
            "start_at": start.isoformat(),
            "parameters": {"when": "{{schedule.time_utc}}"},
        },
    )
    assert status == 201, schedule
    deadline = time.monotonic() + 30
    fires: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not fires:
        fires = [f for f in _fires(server, schedule["id"]) if f["run"]]
        time.sleep(0.3)
    assert fires, "beat did not fire the schedule:\n" + server.output()
    run = server.wait_for_run(fires[0]["run"])
    assert run["status"] == "Succeeded"
    assert len(_fires(server, schedule["id"])) == 1
