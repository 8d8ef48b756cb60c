"""Flows run in this process (LocalExecutor): the tutorial, fan-out, retries,
timeouts, failures downstream, parameters, and schedules."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from flowdeck import Flow
from flowdeck.executors import LocalExecutor
from flowdeck.executors.scheduler import ParameterError
from flowdeck.schedules import CronSchedule, IntervalSchedule
from flowdeck.scheduling import run_on_schedule, schedule
from tests.sdk import flows
from tests.sdk.tutorial import load_tutorial


def test_the_tutorial_runs_on_the_local_executor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tutorial = load_tutorial()
    result = tutorial.flow.run(executor=tutorial.LocalExecutor())
    assert result.is_successful(), result.summary()
    assert result["load"].inputs == {"data": [10, 20, 30, 40, 50]}
    assert result[tutorial.t].value == [10, 20, 30, 40, 50]
    out, err = capsys.readouterr()
    assert out == "[10, 20, 30, 40, 50]\n"
    assert "my-flow load: Succeeded" in err  # each state on stderr


def test_a_map_fans_out_and_fans_in_in_item_order() -> None:
    result = flows.map_flow().run(parameters={"count": "6"}, quiet=True)
    assert result.state == "Succeeded"
    assert result["square"].value == [1, 4, 9, 16, 25, 36]
    assert result["total"].value == "sum=91"
    empty = flows.map_flow().run(parameters={"count": 0}, quiet=True)
    assert (empty["square"].value, empty["total"].value) == ([], "sum=0")


def test_a_failing_task_is_retried_until_it_succeeds() -> None:
    flows.CALLS.clear()
    with Flow("retries") as flow:
        flows.after(flows.flaky("x"))
    result = flow.run(quiet=True)
    assert result.state == "Succeeded"
    assert (result["flaky"].attempts, result["after"].value) == (3, "x")


def test_a_failure_fails_the_run_and_stops_what_is_downstream() -> None:
    with Flow("broken") as flow:
        flows.after(flows.broken())
        flows.square(3)
    result = flow.run(quiet=True)
    assert result.state == "Failed"
    states = {t.name: t.state for t in result}
    assert states == {
        "broken": "Failed",
        "after": "UpstreamFailed",
        "square": "Succeeded",
    }
    assert "ZeroDivisionError" in result["broken"].error
    assert result.summary() == (
        "broken: Failed (broken Failed: ZeroDivisionError: integer division or "
        "modulo by zero)"
    )


def test_a_task_past_its_timeout_fails_without_waiting_for_it() -> None:
    with Flow("slow") as flow:
        flows.slow()
    started = time.monotonic()
    result = flow.run(quiet=True)
    assert time.monotonic() - started < 1.5
    assert result["slow"].state == "Failed"
    assert result["slow"].error == "timed out after 0.2s"


def test_a_value_that_json_cannot_carry_fails_the_task_as_on_the_server() -> None:
    with Flow("sets") as flow:
        flows.a_set()
    result = flow.run(quiet=True)
    assert result["a-set"].state == "Failed"
    assert "is not JSON" in result["a-set"].error


def test_a_failed_instance_fails_its_fan_out() -> None:
    with Flow("instances") as flow:
        flows.after(flows.square.map(["a", 2]))
    result = flow.run(quiet=True)
    assert result["square"].state == "Failed"
    assert result["square"].error.startswith("1 of 2 instances did not succeed")
    assert result["after"].state == "UpstreamFailed"


def test_parameters_are_checked_and_decoded() -> None:
    flow = flows.map_flow()
    with pytest.raises(ParameterError, match="has no parameter 'cuont'"):
        flow.run(parameters={"cuont": 3}, quiet=True)
    assert flow.run(parameters={"count": "2"}, quiet=True)["square"].value == [1, 4]


def test_the_schedule_decorator_runs_the_tutorial_until_stopped() -> None:
    tutorial = load_tutorial("scheduled_tutorial")
    assert tutorial.every_10_seconds.interval == 10
    runs: list[float] = []
    every_second = IntervalSchedule(interval=0.3)

    @schedule(every_second, max_runs=3)
    def pipeline() -> None:
        tutorial.flow.run(executor=LocalExecutor(), quiet=True)
        runs.append(time.monotonic())

    pipeline()
    assert len(runs) == 3
    assert all(0.2 < b - a < 0.6 for a, b in zip(runs, runs[1:], strict=False))


def test_ctrl_c_stops_a_schedule_cleanly() -> None:
    calls = []

    def job() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return len(calls)

    assert run_on_schedule(IntervalSchedule(0.05), job) == 1
    stop = threading.Event()
    stop.set()
    assert run_on_schedule(IntervalSchedule(10), job, stop=stop) is None


def test_a_flow_with_a_schedule_runs_at_each_fire_time_until_ctrl_c() -> None:
    class Twice(IntervalSchedule):
        """Every 0.05 s; Ctrl-C while waiting for the third run."""

        asked = 0

        def next_after(self, moment: dt.datetime) -> dt.datetime:
            self.asked += 1
            if self.asked == 3:
                raise KeyboardInterrupt
            return super().next_after(moment)

    flow = flows.map_flow().schedule(Twice(0.05))
    result = flow.run(parameters={"count": 2}, quiet=True)
    assert result["square"].value == [1, 4]  # the last run's
    assert flow.current_schedule is not None and flow.current_schedule.asked == 3
    once = flow.run(parameters={"count": 1}, quiet=True, run_on_schedule=False)
    assert once["square"].value == [1]


def test_cron_fire_times_come_from_the_servers_code() -> None:
    morning = CronSchedule("0 6 * * *", timezone="Europe/Berlin")
    after = dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC)
    # The night clocks go forward in Berlin: 06:00 is 04:00 UTC from then on.
    assert morning.next_after(after) == dt.datetime(2026, 3, 29, 4, tzinfo=dt.UTC)
    assert morning.server_fields() == {
        "kind": "cron",
        "expression": "0 6 * * *",
        "timezone": "Europe/Berlin",
    }
    assert IntervalSchedule(interval=10).server_fields()["expression"] == "every 10s"


def test_the_larger_example_runs_here_with_its_retries() -> None:
    import runpy

    example = runpy.run_path("examples/python/orders.py", run_name="orders_example")
    result = example["flow"].run(
        parameters={"region": "apac", "limit": "2"}, run_on_schedule=False, quiet=True
    )
    assert result.state == "Succeeded", result.summary()
    assert result["price"].attempts == 4  # each of the 2 instances failed once
    assert result["report"].value == {"region": "apac", "orders": 2, "total": 45.0}
