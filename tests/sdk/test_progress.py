"""How a followed run is shown: a redrawn line with counts and a bar on a
terminal, plain lines when piped, failures and logs as they happen."""

from __future__ import annotations

import io
from typing import Any

from flowdeck.follow import Progress, RunView, _apply, failure_summary


class FakeClient:
    def log(
        self, run_id: int, task: str, attempt: int | None = None
    ) -> tuple[str, str]:
        return f"{task} says hi\n", "complete"


def event(seq: int, task: str, status: str, message: str = "") -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": "task",
        "task": task,
        "attempt": 1,
        "status": status,
        "message": message,
    }


def drive(progress: Progress) -> None:
    view = RunView(7)
    snapshot = {
        "status": "Running",
        "tasks": [{"name": n, "status": "Pending"} for n in ("a", "b", "c")],
    }
    _apply(view, {"type": "snapshot", "seq": 3, "run": snapshot}, progress)
    _apply(view, {"type": "events", "events": [event(4, "a", "Running")]}, progress)
    _apply(
        view,
        {
            "type": "events",
            "events": [event(3, "a", "Pending"), event(5, "a", "Succeeded")],
        },
        progress,
    )
    _apply(
        view,
        {"type": "events", "events": [event(6, "b", "Failed", "exited with code 3")]},
        progress,
    )
    assert view.tasks == {"a": "Succeeded", "b": "Failed", "c": "Pending"}  # 3: seen
    _apply(
        view,
        {"type": "events", "events": [{"seq": 7, "kind": "run", "status": "Failed"}]},
        progress,
    )


def test_piped_output_is_one_plain_line_per_change_with_logs() -> None:
    stream = io.StringIO()
    drive(Progress(FakeClient(), "etl", stream=stream, live=False))  # type: ignore[arg-type]
    assert stream.getvalue().splitlines() == [
        "run 7 of etl: Running",
        "a: Running",
        "a: Succeeded",
        "a | a says hi",
        "b: Failed: exited with code 3",
        "b | b says hi",
    ]


def test_a_terminal_gets_a_redrawn_line_with_counts_a_bar_and_failures() -> None:
    stream = io.StringIO()
    drive(Progress(FakeClient(), "etl", stream=stream, live=True, logs=False))  # type: ignore[arg-type]
    screen = stream.getvalue()
    assert "\r\x1b[K" in screen
    last = screen.rsplit("\r\x1b[K", 1)[1]
    assert (
        last
        == "etl Failed █████████████░░░░░░░ 2/3  Failed 1 · Pending 1 · Succeeded 1\n"
    )
    assert "✗ b Failed: exited with code 3\n" in screen


def test_the_summary_names_the_failed_tasks_and_why() -> None:
    run = {
        "id": 3,
        "status": "Failed",
        "tasks": [
            {"name": "a", "status": "Succeeded"},
            {"name": "b", "status": "Failed", "message": "exited with code 3"},
            {"name": "c", "status": "UpstreamFailed"},
            {
                "name": "m",
                "status": "Failed",
                "reason": "InstancesFailed",
                "message": "",
            },
            {"name": "m[0]", "status": "Failed", "fan_group": "m"},
        ],
    }
    assert failure_summary(run) == (
        "run 3 Failed: b Failed (exited with code 3); m Failed (InstancesFailed)"
    )


def test_a_bounded_snapshot_counts_the_tasks_it_left_out_from_its_summary() -> None:
    view = RunView(7)
    snapshot = {
        "status": "Running",
        "tasks": [{"name": "w1", "status": "Running"}],
        "tasks_complete": False,
        "summary": {"by_status": {"Pending": 8, "Running": 1, "Succeeded": 3}},
    }
    _apply(view, {"type": "snapshot", "seq": 3, "run": snapshot}, lambda *_: None)
    assert view.counts() == {"Pending": 8, "Running": 1, "Succeeded": 3}
    started = {**event(4, "w2", "Running"), "previous": "Pending"}
    done = {**event(5, "w1", "Succeeded"), "previous": "Running"}
    _apply(view, {"type": "events", "events": [started, done]}, lambda *_: None)
    assert view.counts() == {"Pending": 7, "Running": 1, "Succeeded": 4}
