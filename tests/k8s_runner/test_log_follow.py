"""Following an attempt's log as it is written (k8s_runner/logs.py follow_log):
the local backend's file by offset, a pod's log streamed through the real API
server from the kubelet simulator, resumed after a drop without repeating or
losing a line."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowcore.states import AttemptStatus, RunStatus
from k8s_runner import logs, reconcile
from k8s_runner.logs import LineBuffer, StreamResume, follow_log, timestamp_key
from tests.conftest import shell_task
from tests.k8s_runner.flowdeck_kube import Flowdeck, attempts_of, wait_until
from tests.k8s_runner.kubelet_behaviours import RunUntilDeleted, Succeed
from workflows.models import Attempt, Run, TaskRun, Workflow
from workflows.services.submit import submit_run

pytestmark = pytest.mark.django_db(transaction=True)


class Collector:
    """Iterates a follower in a thread of its own, as a consumer would."""

    def __init__(self, follower: logs.LogFollower) -> None:
        self.follower = follower
        self.batches: list[list[str]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for batch in self.follower:
                self.batches.append(batch)
        except BaseException as error:  # reported by the test
            self.error = error

    @property
    def lines(self) -> list[str]:
        return [line for batch in list(self.batches) for line in batch]

    def wait_for(self, condition: Callable[[list[str]], bool], what: str) -> None:
        wait_until(lambda: condition(self.lines), timeout=20, what=what)

    def join(self, timeout: float = 20) -> list[str]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the follower did not end"
        assert self.error is None, self.error
        return self.lines


# --- pure parts --------------------------------------------------------------------


def test_a_line_buffer_holds_an_unfinished_line_until_its_newline() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b"one\ntw") == ["one"]
    assert buffer.feed(b"o\nthr") == ["two"]
    assert buffer.flush() == ["thr"]
    assert buffer.flush() == []


def test_a_line_buffer_delivers_an_endless_line_in_bounded_pieces() -> None:
    buffer = LineBuffer()
    pieces = buffer.feed(b"x" * (logs.MAX_LINE_BYTES * 2 + 10))
    assert [len(piece) for piece in pieces] == [logs.MAX_LINE_BYTES] * 2
    assert buffer.flush() == ["x" * 10]


@pytest.mark.parametrize(
    ("text", "tail", "expected"),
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc\n", 5, b"a\nb\nc\n"),
        (b"a\nb\nc\nd", 2, b"b\nc\nd"),  # two whole lines and the one being written
        (b"a\nb\nc\n", 0, b""),
        (b"", 3, b""),
        (b"a\nb\n", None, b"a\nb\n"),
    ],
)
def test_the_tail_offset_starts_at_the_nth_last_line(
    text: bytes, tail: int | None, expected: bytes
) -> None:
    log = io.BytesIO(text)
    assert text[logs._tail_offset(log, tail) :] == expected


def test_the_tail_offset_reads_back_across_blocks(monkeypatch: Any) -> None:
    monkeypatch.setattr(logs, "_CHUNK", 4)
    text = b"".join(f"line {n}\n".encode() for n in range(10))
    log = io.BytesIO(text)
    assert text[logs._tail_offset(log, 3) :] == b"line 7\nline 8\nline 9\n"


def test_timestamps_order_whatever_their_digits() -> None:
    assert timestamp_key("2026-01-01T10:00:00.5Z") == timestamp_key(
        "2026-01-01T10:00:00.500000000Z"
    )
    assert timestamp_key("2026-01-01T10:00:00Z") < timestamp_key(  # type: ignore[operator]
        "2026-01-01T10:00:00.000000001Z"
    )
    assert timestamp_key("2026-01-01T11:00:00+01:00") == timestamp_key(
        "2026-01-01T10:00:00Z"
    )
    assert timestamp_key("not a timestamp") is None


T = "2026-01-01T10:00:0{}.{}Z"


def test_a_resumed_stream_drops_what_was_delivered_and_keeps_the_rest() -> None:
    resume = StreamResume()
    resume.begin(datetime.now(UTC))
    first = [f"{T.format(1, 1)} a", f"{T.format(1, 2)} b", f"{T.format(2, 1)} c"]
    assert resume.accept_all(first) == ["a", "b", "c"]
    assert resume.since_time() == "2026-01-01T10:00:02Z"
    # The next stream starts at the last whole second: c again, then new lines.
    resume.begin(datetime.now(UTC))
    again = [f"{T.format(2, 1)} c", f"{T.format(2, 2)} d", f"{T.format(3, 0)} e"]
    assert resume.accept_all(again) == ["d", "e"]


def test_lines_sharing_the_last_timestamp_are_told_apart_by_their_text() -> None:
    resume = StreamResume()
    resume.begin(datetime.now(UTC))
    same = T.format(5, 7)
    assert resume.accept_all([f"{same} x", f"{same} x", f"{same} y"]) == [
        "x",
        "x",
        "y",
    ]
    resume.begin(datetime.now(UTC))
    # The stream broke off after those three; the same instant held one more x.
    repeated = [f"{same} x", f"{same} x", f"{same} y", f"{same} x", f"{same} z"]
    assert resume.accept_all(repeated) == ["x", "z"]


def test_a_stream_without_lines_yet_resumes_from_the_start() -> None:
    resume = StreamResume()
    resume.begin(datetime.now(UTC))
    assert resume.since_time() is None
    assert resume.accept("plain line") == "plain line"


def delivered(*lines: str, stamp: str = T.format(1, 1)) -> StreamResume:
    """A resume that has delivered `lines` from a stream."""
    resume = StreamResume()
    resume.begin(datetime.now(UTC))
    resume.accept_all([f"{stamp} {line}" for line in lines])
    return resume


def test_an_archive_is_resumed_after_the_lines_delivered(tmp_path: Path) -> None:
    archive = tmp_path / "1.log"
    archive.write_text("a\nb\nc\nd\n")
    offset = logs._resume_offset(str(archive), delivered("a", "b"))
    assert archive.read_bytes()[offset:] == b"c\nd\n"


def test_after_a_tail_the_archive_is_resumed_where_the_last_lines_match(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "1.log"
    archive.write_text("x\ny\nx\ny\nz\nend\n")
    # The stream began with a tail of 2 ("y", "z"): count and window agree
    # on the place after z, not after the first y.
    offset = logs._resume_offset(str(archive), delivered("y", "z"))
    assert archive.read_bytes()[offset:] == b"end\n"


def test_an_archive_without_the_lines_delivered_is_not_repeated(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "1.log"
    archive.write_text("other\n")
    assert logs._resume_offset(str(archive), delivered("mine")) is None


# --- the local backend ---------------------------------------------------------------


@pytest.fixture
def attempt(diamond: Workflow, user: Any, tmp_path: Path) -> Attempt:
    """A running local attempt whose log is a file the test writes."""
    run = submit_run(diamond.latest_version, user=user)
    task = TaskRun.objects.get(run=run, name="a")
    log_path = tmp_path / "a.log"
    log_path.write_bytes(b"")
    return Attempt.objects.create(
        task_run=task,
        number=1,
        status=AttemptStatus.RUNNING,
        backend="local",
        handle="1:1",
        log_path=str(log_path),
    )


def write(attempt: Attempt, text: str) -> None:
    with open(attempt.log_path, "a") as log:
        log.write(text)


def end(attempt: Attempt) -> None:
    Attempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.SUCCEEDED)


def test_lines_written_while_following_arrive_and_it_ends_with_the_attempt(
    attempt: Attempt,
) -> None:
    write(attempt, "before\n")
    collector = Collector(follow_log(attempt.pk, poll_seconds=0.05))
    collector.wait_for(lambda lines: lines == ["before"], "the existing line")
    for n in range(5):
        write(attempt, f"line {n}\n")
    write(attempt, "half a li")
    collector.wait_for(lambda lines: len(lines) == 6, "the new lines")
    assert "half a li" not in collector.lines  # held until its newline
    write(attempt, "ne\nlast words")
    end(attempt)
    assert collector.join() == [
        "before",
        *(f"line {n}" for n in range(5)),
        "half a line",
        "last words",  # the end delivers the unfinished last line
    ]


def test_it_starts_with_the_last_n_lines(attempt: Attempt) -> None:
    write(attempt, "".join(f"line {n}\n" for n in range(500)))
    end(attempt)
    follower = follow_log(attempt.pk, tail_lines=3, poll_seconds=0.05)
    assert [line for batch in follower for line in batch] == [
        "line 497",
        "line 498",
        "line 499",
    ]
    everything = follow_log(attempt.pk, tail_lines=None, poll_seconds=0.05)
    assert len([line for batch in everything for line in batch]) == 500


def test_close_from_another_thread_stops_it_within_a_second(attempt: Attempt) -> None:
    write(attempt, "one\n")
    follower = follow_log(attempt.pk, poll_seconds=0.25)
    collector = Collector(follower)
    collector.wait_for(lambda lines: lines == ["one"], "the first line")
    started = time.monotonic()
    follower.close()
    collector.join(timeout=2)
    assert time.monotonic() - started < 1.0


def test_an_attempt_that_has_not_started_is_waited_for(attempt: Attempt) -> None:
    Attempt.objects.filter(pk=attempt.pk).update(
        status=AttemptStatus.LAUNCHING, log_path=""
    )
    collector = Collector(follow_log(attempt.pk, poll_seconds=0.05))
    time.sleep(0.2)
    write(attempt, "started\n")
    Attempt.objects.filter(pk=attempt.pk).update(
        status=AttemptStatus.RUNNING, log_path=attempt.log_path
    )
    collector.wait_for(lambda lines: lines == ["started"], "the first line")
    end(attempt)
    assert collector.join() == ["started"]


def test_an_attempt_that_ended_without_a_log_gives_nothing(attempt: Attempt) -> None:
    Attempt.objects.filter(pk=attempt.pk).update(
        status=AttemptStatus.ERROR, log_path=""
    )
    assert list(follow_log(attempt.pk)) == []


def test_a_fast_writer_is_read_in_bounded_batches(attempt: Attempt) -> None:
    line = "y" * 99
    write(attempt, f"{line}\n" * 20_000)  # 2 MB
    end(attempt)
    batches = list(follow_log(attempt.pk, tail_lines=None))
    assert sum(len(batch) for batch in batches) == 20_000
    # Each batch holds at most one read's worth: the follower never buffers
    # what its reader has not asked for.
    assert max(len(batch) for batch in batches) * 100 <= logs._CHUNK + 100


# --- the Kubernetes backend ---------------------------------------------------------


def running_attempt(run: Run, task: str) -> Attempt:
    return wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, task_run__name=task, status=AttemptStatus.RUNNING
        ).first(),
        what=f"{task} running",
    )


@pytest.mark.slow
def test_following_a_pod_across_dropped_streams_yields_every_line_once_in_order(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    expected = [f"line {n}" for n in range(120)]
    kubelet.script("talk", Succeed(logs=expected, line_interval=0.02))
    flowdeck.start_watcher()
    run = flowdeck.run("talk", [shell_task("talk")], user)
    attempt = running_attempt(run, "talk")
    collector = Collector(follow_log(attempt.pk, tail_lines=None, poll_seconds=0.05))
    collector.wait_for(lambda lines: len(lines) >= 20, "the first lines")
    kubelet.drop_log_streams()
    collector.wait_for(lambda lines: len(lines) >= 60, "lines after a drop")
    kubelet.drop_log_streams()
    lines = collector.join(timeout=40)
    assert lines == expected
    assert kubelet.log_follows >= 3  # it really followed three streams
    assert flowdeck.finish(run).status == RunStatus.SUCCEEDED


@pytest.mark.slow
def test_following_a_pod_starts_with_its_tail_and_ends_with_the_attempt(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("quiet", RunUntilDeleted(logs=[f"old {n}" for n in range(10)]))
    flowdeck.start_watcher()
    run = flowdeck.run("quiet", [shell_task("quiet")], user)
    attempt = running_attempt(run, "quiet")
    wait_until(
        lambda: reconcile.get_backend().logs("", attempt.handle).count(b"\n") == 10,
        what="the first lines",
    )
    collector = Collector(follow_log(attempt.pk, tail_lines=2, poll_seconds=0.05))
    collector.wait_for(lambda lines: lines == ["old 8", "old 9"], "the tail")
    # Quiet for longer than a read may wait: the stream is resumed, not repeated.
    time.sleep(2.5)
    namespace, name = attempt.handle.split("/")
    kubelet.write_log(namespace, name, "new")
    collector.wait_for(lambda lines: lines[-1:] == ["new"], "the new line")
    flowdeck.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    assert collector.join() == ["old 8", "old 9", "new"]


@pytest.mark.slow
def test_following_a_pod_waits_for_its_container_to_start(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("late", Succeed(logs=["up at last"], start_delay=1.5))
    flowdeck.start_watcher()
    run = flowdeck.run("late", [shell_task("late")], user)
    attempt = wait_until(
        lambda: Attempt.objects.filter(task_run__run=run).exclude(handle="").first(),
        what="the pod's handle",
    )
    assert attempt.status != AttemptStatus.RUNNING  # still ContainerCreating
    follower = follow_log(attempt.pk, poll_seconds=0.05)
    assert [line for batch in follower for line in batch] == ["up at last"]


@pytest.mark.slow
def test_a_finished_pods_log_is_read_from_its_archive(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("done", Succeed(logs=["first", "second", "third"]))
    flowdeck.start_watcher()
    run = flowdeck.finish(flowdeck.run("done", [shell_task("done")], user))
    wait_until(lambda: not flowdeck.pods(), what="the pod's deletion")
    [attempt] = attempts_of(run, "done")
    assert list(follow_log(attempt.pk, tail_lines=2)) == [["second", "third"]]
