"""What an attempt shows its readers: its log (archived, or live from its pod,
read whole or followed as it is written) and its pod's Kubernetes Events. The
one place the pages, the API and the websocket consumers ask."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import urllib3

from flowcore.states import LIVE_ATTEMPT_STATUSES, TERMINAL_ATTEMPT_STATUSES
from k8s_runner.backends.base import BackendError

if TYPE_CHECKING:
    from k8s_runner.backends.kubernetes import KubernetesBackend
    from workflows.models import Attempt

logger = logging.getLogger(__name__)


def open_log(attempt: Attempt, index: int | None = None) -> IO[bytes] | None:
    """The attempt's log, readable from its start: the archived file when there
    is one; for a live Kubernetes attempt without one, what its pod has logged
    so far (read once, in memory); None when there is no log yet (the pod's
    container has not started, or the backend cannot be reached). The caller
    closes it. `index`: one completion's log of a kind: Job attempt
    (`<attempt>.<index>.log`, beside the attempt's), None when there is none."""
    if index is not None:
        if not attempt.log_path:
            return None
        try:
            shard = Path(attempt.log_path).with_suffix(f".{index}.log")
            return open(shard, "rb")  # noqa: SIM115 - the caller closes it
        except OSError:
            return None
    if attempt.log_path:
        try:
            return open(attempt.log_path, "rb")  # noqa: SIM115 - the caller closes it
        except OSError:
            pass  # a Kubernetes attempt names its archive before it is written
    data = _live_log(attempt)
    return io.BytesIO(data) if data else None


def read_tail(log: IO[bytes], limit: int) -> tuple[str, bool]:
    """The last `limit` bytes of `log` as text, from a line boundary when cut,
    and whether that is less than the whole log."""
    log.seek(0, io.SEEK_END)
    size = log.tell()
    truncated = size > limit
    log.seek(max(0, size - limit))
    data = log.read(limit)
    if truncated:
        # Start at a line boundary rather than mid-line (or mid-character).
        newline = data.find(b"\n")
        if newline >= 0:
            data = data[newline + 1 :]
    return data.decode("utf-8", errors="replace"), truncated


def pod_events(attempt: Attempt) -> list[dict[str, Any]] | None:
    """The Kubernetes Events of the attempt's pod, oldest first; None for an
    attempt that has no pod (another backend, not launched yet). An API fault
    gives an empty list: events are a diagnosis aid, never worth an error page."""
    backend = kubernetes_backend_of(attempt.backend, attempt.handle)
    if backend is None:
        return None
    try:
        return backend.events(attempt.handle)
    except BackendError as error:
        logger.warning("reading the events of %s failed: %s", attempt.handle, error)
        return []


def _live_log(attempt: Attempt) -> bytes:
    if attempt.status not in LIVE_ATTEMPT_STATUSES:
        return b""  # an ended attempt's log is its archive
    backend = kubernetes_backend_of(attempt.backend, attempt.handle)
    if backend is None:
        return b""
    from k8s_runner.pod_status import split_handle

    namespace, name = split_handle(attempt.handle)
    try:
        return backend.read_log(namespace or backend.namespace, name)
    except BackendError as error:
        logger.warning("reading the live log of %s failed: %s", attempt.handle, error)
        return b""


def kubernetes_backend_of(backend_name: str, handle: str) -> KubernetesBackend | None:
    """The deployment's Kubernetes backend when an attempt ran on it
    (`backend_name`) and has a pod (a `handle`), else None."""
    if backend_name != "kubernetes" or not handle:
        return None
    from k8s_runner import reconcile
    from k8s_runner.backends.kubernetes import KubernetesBackend

    try:
        backend = reconcile.get_backend()
    except BackendError:
        return None
    return backend if isinstance(backend, KubernetesBackend) else None


# -- following a log as it is written ---------------------------------------------

# Every blocking read waits at most this long, so close() is honoured within
# about a second even if shutting the socket down from another thread fails.
# A quiet pod's stream therefore reconnects about once a second (from the last
# timestamp seen, so nothing repeats).
STREAM_READ_TIMEOUT = 1.0
_CHUNK = 64 * 1024
# A line longer than this is delivered in pieces, which bounds the memory held
# for one unfinished line.
MAX_LINE_BYTES = 256 * 1024
# How many delivered lines are remembered to find one's place in an archive.
_RECENT_LINES = 64
_TERMINAL = frozenset(status.value for status in TERMINAL_ATTEMPT_STATUSES)


def follow_log(
    attempt_id: int, *, tail_lines: int | None = 200, poll_seconds: float = 0.25
) -> LogFollower:
    """Follow an attempt's log as it is written: iterate the LogFollower for
    batches of complete lines, starting with the last `tail_lines` (None:
    all), until the attempt has ended and all its output was delivered.
    Meant for a worker thread; close() from another thread stops it."""
    return LogFollower(attempt_id, tail_lines=tail_lines, poll_seconds=poll_seconds)


class LogFollower:
    """The lines of one attempt's log, live, in batches (`list[str]`, without
    their newlines; an unfinished last line waits for its newline or the end).

    Pull-driven: it reads at most one chunk ahead of its consumer, so a task
    that writes faster than the reader reads only costs a bounded buffer.
    The local backend's log file is tailed by offset; a pod's log is streamed
    with timestamps, resumed after a drop from the last timestamp seen (lines
    at or before it are dropped, comparing the text of lines that share the
    last timestamp), and read from the archive once the pod is gone. The
    attempt's end is read from the database between reads.
    """

    def __init__(
        self, attempt_id: int, *, tail_lines: int | None, poll_seconds: float
    ) -> None:
        if tail_lines is not None and tail_lines < 0:
            raise ValueError("tail_lines must be None or at least 0")
        self.attempt_id = attempt_id
        self.tail_lines = tail_lines
        self.poll_seconds = max(0.01, poll_seconds)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._response: urllib3.BaseHTTPResponse | None = None

    def close(self) -> None:
        """Stop following, from any thread: the iteration ends at its next read
        (at once when a stream is open: its socket is shut down)."""
        self._closed.set()
        with self._lock:
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __iter__(self) -> Iterator[list[str]]:
        try:
            seen = self._wait_for_a_log()
            if seen is None:
                return
            if seen.reads_pod:
                yield from self._follow_pod(seen)
            else:
                yield from self._follow_file(seen.log_path, offset=None)
        finally:
            self._hold(None)
            _give_back_connection()

    # -- the local backend's file, and archives ------------------------------------

    def _follow_file(self, path: str, *, offset: int | None) -> Iterator[list[str]]:
        """Tail the file from `offset` (None: its last tail_lines lines) until
        the attempt has ended and the file is read to its end."""
        try:
            log = open(path, "rb")  # noqa: SIM115 - closed below, across yields
        except OSError:
            return
        with log:
            log.seek(_tail_offset(log, self.tail_lines) if offset is None else offset)
            lines = LineBuffer()
            finished = False
            while not self.closed:
                data = log.read(_CHUNK)
                if data:
                    batch = lines.feed(data)
                    if batch:
                        yield batch
                    continue
                if finished:
                    # The attempt had ended before this read found the end:
                    # nothing more will be written.
                    rest = lines.flush()
                    if rest:
                        yield rest
                    return
                if self._wait():
                    return
                seen = self._seen()
                finished = seen is None or seen.finished

    # -- a pod's log -----------------------------------------------------------------

    def _follow_pod(self, seen: _Seen) -> Iterator[list[str]]:
        backend = kubernetes_backend_of(seen.backend, seen.handle)
        if backend is None:
            return
        from k8s_runner.backends.kubernetes import NoLog
        from k8s_runner.pod_status import split_handle

        namespace, name = split_handle(seen.handle)
        namespace = namespace or backend.namespace
        resume = StreamResume(from_now=self.tail_lines == 0)
        final = False  # the attempt ended: one last read without follow
        while not self.closed:
            try:
                response = backend.open_log_stream(
                    namespace,
                    name,
                    follow=not final,
                    tail_lines=None if resume.connected else self.tail_lines,
                    since_time=resume.since_time(),
                    read_timeout=STREAM_READ_TIMEOUT,
                )
            except BackendError as error:
                gone = isinstance(error, NoLog) and error.gone
                if error.permanent:
                    logger.warning("attempt %s: %s", self.attempt_id, error)
                    return
                if not gone and self._wait():
                    return
                latest = self._seen()
                if latest is None:
                    return
                if gone or (latest.finished and latest.has_log_file):
                    # The pod is gone: what is left is in its archive.
                    yield from self._follow_archive(latest, resume)
                    return
                if final and isinstance(error, NoLog):
                    return  # it ended without ever starting: no log at all
                continue
            resume.begin(datetime.now(UTC))
            self._hold(response)
            opened, delivered = time.monotonic(), resume.delivered
            try:
                yield from self._read_stream(response, resume, flush=final)
            finally:
                self._hold(None)
                response.release_conn()
            if final or self.closed:
                return
            quick = time.monotonic() - opened < STREAM_READ_TIMEOUT / 2
            if quick and resume.delivered == delivered and self._wait():
                # Ended at once with nothing new (the container exited and its
                # end is not recorded yet): not a reason to ask again at once.
                return
            latest = self._seen()
            if latest is None:
                return
            # However the stream ended (the container exited, a read timed out,
            # the API server went away), the attempt's end is what decides; a
            # drop can cut a stream short, so the end gets one more read.
            final = latest.finished

    def _read_stream(
        self, response: urllib3.BaseHTTPResponse, resume: StreamResume, *, flush: bool
    ) -> Iterator[list[str]]:
        """Deliver the stream's new lines. An unfinished last line is dropped
        when the stream breaks off (the next stream sends it again whole),
        and delivered at the end of the last one (`flush`)."""
        lines = LineBuffer()
        try:
            while not self.closed:
                data = response.read1(_CHUNK)
                if not data:
                    break
                batch = resume.accept_all(lines.feed(data))
                if batch:
                    yield batch
            else:
                return
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            logger.debug("log stream of attempt %s ended: %s", self.attempt_id, error)
            return
        if flush:
            batch = resume.accept_all(lines.flush())
            if batch:
                yield batch

    def _follow_archive(self, seen: _Seen, resume: StreamResume) -> Iterator[list[str]]:
        """The rest of the log from the archive the watcher wrote once the pod
        ended, after the lines the streams delivered."""
        while not (seen.finished and seen.has_log_file):
            # The pod is gone; its archive and the attempt's end come next.
            if seen.finished or self._wait():
                return
            latest = self._seen()
            if latest is None:
                return
            seen = latest
        if not resume.delivered and not resume.connected:
            yield from self._follow_file(seen.log_path, offset=None)
            return
        offset = _resume_offset(seen.log_path, resume)
        if offset is None:
            logger.warning(
                "attempt %s: the archive does not contain the lines already "
                "delivered; not repeating it",
                self.attempt_id,
            )
            return
        yield from self._follow_file(seen.log_path, offset=offset)

    # -- the database ------------------------------------------------------------------

    def _seen(self) -> _Seen | None:
        from workflows.models import Attempt

        _fresh_connection()
        row = (
            Attempt.objects.filter(pk=self.attempt_id)
            .values_list("status", "backend", "handle", "log_path")
            .first()
        )
        return None if row is None else _Seen(*row)

    def _wait_for_a_log(self) -> _Seen | None:
        """The attempt once it has something to read: a pod, or a log file;
        None when it ended without any (or is unknown)."""
        while True:
            seen = self._seen()
            if seen is None:
                return None
            if seen.reads_pod or (not seen.on_kubernetes and seen.has_log_file):
                return seen
            if seen.finished:
                return seen if seen.has_log_file else None
            if self._wait():
                return None

    def _wait(self) -> bool:
        """Sleep a poll interval; True when closed meanwhile."""
        return self._closed.wait(self.poll_seconds)

    def _hold(self, response: urllib3.BaseHTTPResponse | None) -> None:
        with self._lock:
            self._response = response
        if response is not None and self.closed:
            with contextlib.suppress(Exception):
                response.shutdown()


@dataclass(frozen=True, slots=True)
class _Seen:
    """The attempt's row as a follower reads it between reads."""

    status: str
    backend: str
    handle: str
    log_path: str

    @property
    def finished(self) -> bool:
        return self.status in _TERMINAL

    @property
    def on_kubernetes(self) -> bool:
        return self.backend == "kubernetes"

    @property
    def has_log_file(self) -> bool:
        import os

        return bool(self.log_path) and os.path.isfile(self.log_path)

    @property
    def reads_pod(self) -> bool:
        """A Kubernetes attempt is read from its pod until it is archived."""
        return (
            self.on_kubernetes
            and bool(self.handle)
            and not (self.finished and self.has_log_file)
        )


class LineBuffer:
    """Bytes in, complete lines out; holds at most one unfinished line (and
    delivers a line longer than MAX_LINE_BYTES in pieces)."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        *complete, self._partial = (self._partial + data).split(b"\n")
        lines = [_text(line) for line in complete]
        while len(self._partial) > MAX_LINE_BYTES:
            lines.append(_text(self._partial[:MAX_LINE_BYTES]))
            self._partial = self._partial[MAX_LINE_BYTES:]
        return lines

    def flush(self) -> list[str]:
        rest, self._partial = self._partial, b""
        return [_text(rest)] if rest else []


_STAMP = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)"
)


def timestamp_key(text: str) -> tuple[int, int] | None:
    """An RFC 3339 (nano) timestamp as (seconds since the epoch, nanoseconds),
    which orders correctly whatever the number of digits; None if it is not
    one."""
    match = _STAMP.fullmatch(text)
    if match is None:
        return None
    base, fraction, zone = match.groups()
    moment = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return int(moment.timestamp()), int((fraction or "").ljust(9, "0"))


def _whole_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StreamResume:
    """Where a timestamped log stream was, so that the next one resumes there.

    The API's `sinceTime` has whole seconds, so a resumed stream repeats the
    lines of the last second seen: lines before the last timestamp are
    dropped, and of the lines that share it, those already delivered (by
    their text, counted, since a program may print the same line twice in one
    instant)."""

    def __init__(self, *, from_now: bool = False) -> None:
        # tail_lines=0: only what is written after the first stream opened.
        self.from_now = from_now
        self.connected = False  # a stream was opened (its tail was applied)
        self.connected_at: datetime | None = None
        self.last: tuple[int, int] | None = None
        self.delivered = 0
        self.recent: deque[str] = deque(maxlen=_RECENT_LINES)
        self._at_last: Counter[str] = Counter()  # delivered with timestamp `last`
        self._replay: Counter[str] = Counter()  # of those, not yet seen again

    def begin(self, now: datetime) -> None:
        """A new stream starts: it may repeat the lines at `last`."""
        if not self.connected:
            self.connected, self.connected_at = True, now
        self._replay = Counter(self._at_last)

    def since_time(self) -> str | None:
        """The `sinceTime` to resume from; None: from the start (or the tail)."""
        if self.last is not None:
            return _whole_seconds(self.last[0])
        if self.from_now and self.connected_at is not None:
            # Nothing delivered yet: what was written since the first stream
            # opened (by this machine's clock, to the second).
            return _whole_seconds(int(self.connected_at.timestamp()))
        # Connected and nothing delivered: the log was empty then (any tail
        # but 0 would have sent something), so start from its start.
        return None

    def accept(self, raw: str) -> str | None:
        """The line without its timestamp if it is new, else None."""
        stamp, _, text = raw.partition(" ")
        key = timestamp_key(stamp)
        if key is None:
            text = raw  # not timestamped after all: nothing to compare
        elif self.last is not None and key < self.last:
            return None
        elif key == self.last:
            if self._replay[text] > 0:
                self._replay[text] -= 1
                return None
            self._at_last[text] += 1
        else:
            self.last = key
            self._at_last = Counter({text: 1})
            self._replay = Counter()
        self.delivered += 1
        self.recent.append(text)
        return text

    def accept_all(self, raws: list[str]) -> list[str]:
        return [text for text in map(self.accept, raws) if text is not None]


def _tail_offset(log: IO[bytes], lines: int | None) -> int:
    """Where the last `lines` complete lines (plus any unfinished one after
    them) start; read backwards a block at a time, holding one block."""
    if lines is None:
        return 0
    log.seek(0, io.SEEK_END)
    position = log.tell()
    wanted = lines + 1  # the newline before the first line wanted
    while position > 0:
        start = max(0, position - _CHUNK)
        log.seek(start)
        block = log.read(position - start)
        index = len(block)
        while wanted:
            index = block.rfind(b"\n", 0, index)
            if index < 0:
                break
            wanted -= 1
        if not wanted:
            return start + index + 1
        position = start
    return 0


def _resume_offset(path: str, resume: StreamResume) -> int | None:
    """The byte offset in the archive just after the lines already delivered:
    the first place, at or after line number `delivered`, where the last lines
    delivered appear (the streams may have begun with a tail, so the exact
    line number is unknown). 0 when nothing was delivered; None when they do
    not appear."""
    expected = list(resume.recent)
    if not expected:
        return 0
    window: deque[str] = deque(maxlen=len(expected))
    count = 0
    consumed = 0  # the file offset of data[0]
    partial = b""
    try:
        with open(path, "rb") as log:
            for chunk in iter(lambda: log.read(_CHUNK), b""):
                data = partial + chunk
                start = 0
                while True:
                    end = data.find(b"\n", start)
                    if end < 0:
                        if len(data) - start <= MAX_LINE_BYTES:
                            break
                        end = start + MAX_LINE_BYTES  # delivered in pieces, too
                        step = end
                    else:
                        step = end + 1
                    window.append(_text(data[start:end]))
                    count += 1
                    start = step
                    if (
                        count >= resume.delivered
                        and window[-1] == expected[-1]
                        and list(window) == expected
                    ):
                        return consumed + start
                consumed += start
                partial = data[start:]
    except OSError:
        return None
    return None


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")


def _fresh_connection() -> None:
    """Drop this thread's database connection if it is too old or broken (a
    follower lives as long as someone watches). Never inside a transaction."""
    from django.db import close_old_connections, connection

    if not connection.in_atomic_block:
        close_old_connections()


def _give_back_connection() -> None:
    """Close this thread's connection as the follower ends (its worker thread
    may never use the database again)."""
    from django.db import connection

    if not connection.in_atomic_block:
        with contextlib.suppress(Exception):
            connection.close()
