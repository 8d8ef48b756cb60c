"""The local backend's Job controller: runs one `kind: Job` attempt's
completions as processes, the way Kubernetes' Job controller runs its pods.

Run as a script (the standard library only: it is started by path, outside
the task's sandbox, as the attempt's command under the usual wrapper, so the
attempt keeps its one process group, exit file and restart safety):

    python local_job.py JOB.json

JOB.json says what to run: `completions`, `parallelism` (already held to the
backend's slots), `indexed`, `backoff_limit`, `deadline` (seconds or null),
`rules` (podFailurePolicy rules on exit codes), `argv` (one completion's
whole command line, sandbox included), `logs` (a path pattern with `{index}`)
and `status` (where the outcome goes).

As the controller documents: up to `parallelism` completions run at once; a
completion that fails is run again (its index, for an Indexed Job) until the
failures exceed `backoff_limit` (reason BackoffLimitExceeded); a rule of the
pod failure policy may fail the Job at once (FailJob, reason
PodFailurePolicy) or not count the failure (Ignore); past the deadline the
Job fails (DeadlineExceeded). An Indexed Job's completions see
JOB_COMPLETION_INDEX. Completions are numbered as pods, 1, 2, ... in the
order they start. The outcome (the condition, its reason and message,
each index's result) is written as JSON to `status`, the exit status is 0
when the Job completes and the failing completion's (or 1) otherwise. Each
index logs to a file of its own; the attempt's log gets a line per event.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from typing import Any

_PR_SET_PDEATHSIG = 1
_STOP_SECONDS = 5.0
_POLL_SECONDS = 0.05


def _die_with_parent() -> None:
    """In the child: SIGKILL when the controller dies (a kill -9 of the
    attempt's group must not leave completions running)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def rule_action(rules: list[dict[str, Any]], code: int) -> str:
    """The action of the first rule matching exit `code` ("Count" if none)."""
    for rule in rules:
        codes = rule.get("onExitCodes") or {}
        values = set(codes.get("values") or ())
        if not values:
            continue
        matches = code in values
        if codes.get("operator") == "NotIn":
            matches = not matches
        if matches:
            return str(rule.get("action", "Count"))
    return "Count"


class Controller:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.running: dict[int, subprocess.Popen[bytes]] = {}
        self.pending: deque[int] = deque(range(job["completions"]))
        self.results: dict[int, dict[str, Any]] = {}
        self.failures = 0
        self.runs = 0
        self.runs_of: dict[int, int] = {}  # the latest pod number of each index
        self.stopping = False

    def say(self, text: str) -> None:
        print(text, flush=True)

    def start(self, index: int) -> None:
        env = dict(os.environ)
        if self.job["indexed"]:
            env["JOB_COMPLETION_INDEX"] = str(index)
        self.runs += 1
        self.runs_of[index] = self.runs
        with open(self.job["logs"].format(index=index), "ab") as log:
            self.running[index] = subprocess.Popen(
                self.job["argv"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=_die_with_parent,
            )

    def stop_all(self) -> None:
        for process in self.running.values():
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_SECONDS
        while time.monotonic() < deadline and any(
            p.poll() is None for p in self.running.values()
        ):
            time.sleep(_POLL_SECONDS)
        for process in self.running.values():
            _signal(process, signal.SIGKILL)
            process.wait()
        self.running.clear()

    def run(self) -> tuple[str, str, str, int]:
        """(condition, reason, message, exit status)."""
        job = self.job
        started = time.monotonic()
        while self.pending or self.running:
            if self.stopping:
                self.stop_all()
                return "Failed", "Cancelled", "the attempt was stopped", 143
            deadline = job.get("deadline")
            if deadline is not None and time.monotonic() - started > deadline:
                self.stop_all()
                return (
                    "Failed",
                    "DeadlineExceeded",
                    f"Job was active longer than specified deadline ({deadline}s)",
                    1,
                )
            while self.pending and len(self.running) < job["parallelism"]:
                self.start(self.pending.popleft())
            for index, process in list(self.running.items()):
                code = process.poll()
                if code is None:
                    continue
                del self.running[index]
                ended = self.ended(index, code)
                if ended is not None:
                    self.stop_all()
                    return ended
            time.sleep(_POLL_SECONDS)
        total = job["completions"]
        return "Complete", "", f"{total} of {total} completions succeeded", 0

    def ended(self, index: int, code: int) -> tuple[str, str, str, int] | None:
        name = f"index {index}" if self.job["indexed"] else f"completion {index}"
        # As the Kubernetes backend writes it: "index I: pod N <how it ended>".
        said = f"index {index}: pod {self.runs_of[index]}"
        if code < 0:
            code = 128 - code
        if code == 0:
            self.results[index] = {"status": "Succeeded", "exit_code": 0}
            self.say(f"{said} succeeded")
            return None
        self.results[index] = {"status": "Failed", "exit_code": code}
        action = rule_action(self.job.get("rules") or [], code)
        if action == "FailJob":
            self.say(f"{said} failed with exit code {code} (the policy fails the Job)")
            return (
                "Failed",
                "PodFailurePolicy",
                f"{name} failed with exit code {code}, which the pod failure "
                "policy makes the Job's failure (FailJob)",
                code,
            )
        if action != "Ignore":
            self.failures += 1
        limit = self.job["backoff_limit"]
        counted = (
            "not counted (Ignore)"
            if action == "Ignore"
            else (f"{self.failures} of {limit + 1} failures allowed")
        )
        self.say(f"{said} failed with exit code {code} ({counted})")
        if self.failures > limit:
            return (
                "Failed",
                "BackoffLimitExceeded",
                f"Job has reached the specified backoff limit ({limit}): "
                f"{self.failures} failed pods, the last {name} with exit code {code}",
                code,
            )
        self.pending.appendleft(index)
        return None


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)


def main(path: str) -> int:
    with open(path) as file:
        job = json.load(file)
    controller = Controller(job)

    def stop(number: int, frame: object) -> None:
        controller.stopping = True

    signal.signal(signal.SIGTERM, stop)
    condition, reason, message, code = controller.run()
    status = {
        "condition": condition,
        "reason": reason,
        "message": message,
        "succeeded": sum(
            r["status"] == "Succeeded" for r in controller.results.values()
        ),
        "failed": controller.failures,
        "pods": controller.runs,
        "indexes": {str(i): r for i, r in sorted(controller.results.items())},
    }
    temporary = job["status"] + ".tmp"
    with open(temporary, "w") as file:
        json.dump(status, file)
    os.replace(temporary, job["status"])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
