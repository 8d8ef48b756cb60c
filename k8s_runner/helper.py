"""Flowdeck's own containers in a task's pod: `python -m k8s_runner.helper`.

A pod whose task leaves outputs or takes input artifacts shares an emptyDir,
mounted at /flowdeck, between the task's container and two of Flowdeck's
(k8s_runner/manifests.py builds them; docs/kubernetes.md has the story):

* `prepare`, the init container `flowdeck-init`: makes /flowdeck/outputs and
  /flowdeck/inputs writable by whatever user the task runs as, and fetches
  the input artifacts from the artifact store (S3) to where the task reads
  them. A failure is written to the container's termination message, which
  the pod's status carries back to Flowdeck, and the container exits 1.
* `outputs`, the container `flowdeck-outputs`: waits for the task's wrapper to
  write its exit status to /flowdeck/.exit, and if it is 0 collects the
  declared outputs (k8s_runner/outputs.py: caps, missing files, artifacts
  uploaded to the store); then prints one line, MARKER followed by JSON, and
  exits 0. The backend reads that line from the container's log through the
  API once the container has terminated: nothing depends on a filesystem
  shared with Flowdeck or on exec into a finished container.

It runs in the pod, from Flowdeck's image: it imports neither Django nor the
server's packages (an import-linter contract in pyproject.toml), only the
pure request, the collection code and the artifact store.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from types import FrameType

from artifacts.store import ArtifactStore
from flowcore.reports import CollectedOutputs, StoredArtifact
from k8s_runner.outputs import collect_counted, place_input
from k8s_runner.pod_request import (
    FLOWDECK_DIR,
    OutputsRequest,
    inputs_from_json,
)

# Prefixes the one line the outputs helper prints; the version names its form.
MARKER = "flowdeck-outputs/v1 "
# What the task's wrapper writes when its command ends: the exit status.
EXIT_FILE = ".exit"
# The helper's request: the OutputsRequest (outputs) or the inputs (prepare).
REQUEST_ENV = "FLOWDECK_HELPER_REQUEST"
S3_ENV = (
    "FLOWDECK_ARTIFACT_S3_BUCKET",
    "FLOWDECK_ARTIFACT_S3_PREFIX",
    "FLOWDECK_ARTIFACT_S3_ENDPOINT",
    "FLOWDECK_ARTIFACT_S3_REGION",
    "FLOWDECK_ARTIFACT_S3_ACCESS_KEY",
    "FLOWDECK_ARTIFACT_S3_SECRET_KEY",
)
# Where the kubelet reads a container's termination message (its default
# terminationMessagePath), at most 4096 bytes of it.
TERMINATION_LOG = Path("/dev/termination-log")
_TERMINATION_MAX = 4096
_POLL_SECONDS = 0.2


# -- the line -----------------------------------------------------------------------


def encode_line(outputs: CollectedOutputs, *, counted: int, exit_code: int) -> str:
    """The line the outputs helper prints. Parameter values and the result
    travel base64-encoded: one line whatever they hold, at most 4/3 of their
    size (so the line stays bounded by the caps)."""
    body: dict[str, object] = {"exit": exit_code}
    if exit_code == 0:
        body.update(
            reason=outputs.reason,
            problem=outputs.problem,
            parameters={k: _b64(v) for k, v in outputs.parameters.items()},
            result=None if outputs.result is None else _b64(outputs.result),
            artifacts=[asdict(artifact) for artifact in outputs.artifacts],
            counted=counted,
        )
    return MARKER + json.dumps(body, separators=(",", ":"))


def decode_line(log: str) -> tuple[CollectedOutputs, int, int] | None:
    """(outputs, bytes counted, the task's exit status) from the last marker
    line of the helper's log; None when there is none. ValueError (or
    KeyError, TypeError) for a malformed one."""
    for line in reversed(log.splitlines()):
        if not line.startswith(MARKER):
            continue
        body = json.loads(line[len(MARKER) :])
        exit_code = int(body["exit"])
        if exit_code != 0:
            return CollectedOutputs(), 0, exit_code
        result = body.get("result")
        outputs = CollectedOutputs(
            result=None if result is None else _unb64(result),
            parameters={
                str(name): _unb64(value)
                for name, value in body.get("parameters", {}).items()
            },
            artifacts=tuple(
                StoredArtifact(**artifact) for artifact in body.get("artifacts", ())
            ),
            reason=str(body.get("reason", "")),
            problem=str(body.get("problem", "")),
        )
        return outputs, int(body.get("counted", 0)), 0
    return None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _unb64(text: str) -> str:
    return base64.b64decode(text, validate=True).decode()


# -- the commands ---------------------------------------------------------------


def store_from_env(env: Mapping[str, str]) -> ArtifactStore | None:
    """The S3 store the pod's environment names; None without a bucket."""
    bucket = env.get("FLOWDECK_ARTIFACT_S3_BUCKET", "")
    if not bucket:
        return None
    from artifacts.s3 import S3Store

    return S3Store.connect(
        bucket=bucket,
        prefix=env.get("FLOWDECK_ARTIFACT_S3_PREFIX", ""),
        endpoint_url=env.get("FLOWDECK_ARTIFACT_S3_ENDPOINT") or None,
        region=env.get("FLOWDECK_ARTIFACT_S3_REGION") or None,
        access_key=env.get("FLOWDECK_ARTIFACT_S3_ACCESS_KEY") or None,
        secret_key=env.get("FLOWDECK_ARTIFACT_S3_SECRET_KEY") or None,
    )


class Failure(Exception):
    """What the container's termination message should say."""


def prepare(root: Path, env: Mapping[str, str]) -> None:
    """The init container: the directories, then the input artifacts."""
    for name in ("outputs", "inputs"):
        directory = root / name
        directory.mkdir(exist_ok=True)
        # The task may run as any user; the emptyDir's own root is 0777 too.
        directory.chmod(0o777)
    items = inputs_from_json(env.get(REQUEST_ENV) or "[]")
    if not items:
        return
    store = store_from_env(env)
    if store is None:
        raise Failure("input artifacts need the S3 artifact store, and none is set")
    for item in items:
        target = root / item.placed_at
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            place_input(item, store, target)
        except Exception as error:
            raise Failure(f"input artifact {item.name}: {error}") from error
        print(f"placed input artifact {item.name} at {item.path}", flush=True)


def wait_for_exit(exit_file: Path, poll_seconds: float = _POLL_SECONDS) -> int:
    """The exit status the task's wrapper writes when its command ends (a
    line: a file without its newline is still being written)."""
    while True:
        try:
            text = exit_file.read_text()
        except FileNotFoundError:
            text = ""
        if text.endswith("\n"):
            try:
                return int(text)
            except ValueError:
                raise Failure(f"{exit_file} holds {text.strip()!r}") from None
        time.sleep(poll_seconds)


def outputs(
    root: Path, env: Mapping[str, str], *, poll_seconds: float = _POLL_SECONDS
) -> str:
    """The outputs container: wait for the task, collect, the line to print."""
    wanted = OutputsRequest.from_json(env[REQUEST_ENV])
    exit_code = wait_for_exit(root / EXIT_FILE, poll_seconds)
    if exit_code != 0:
        return encode_line(CollectedOutputs(), counted=0, exit_code=exit_code)
    store = store_from_env(env) if wanted.artifacts else None
    # A result from the task's log is read by the backend, which has the log.
    here = replace(wanted, result=bool(wanted.result and wanted.result_path))
    try:
        collected, counted = collect_counted(here, root, store=store)
    except OSError as error:
        collected = CollectedOutputs(
            reason="OutputUnreadable", problem=f"reading outputs failed: {error}"
        )
        counted = 0
    return encode_line(collected, counted=counted, exit_code=0)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # PID 1 in its container: without a handler SIGTERM would be ignored and
    # a deleted pod would wait out its whole grace period.
    raise SystemExit(128 + signum)


def _say(message: str) -> None:
    """Leave `message` where the kubelet reads the termination message."""
    # Not in a pod (or a read-only path): the log has it too.
    with contextlib.suppress(OSError):
        TERMINATION_LOG.write_text(
            message.encode()[:_TERMINATION_MAX].decode(errors="ignore")
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8s_runner.helper")
    parser.add_argument("command", choices=("prepare", "outputs"))
    parser.add_argument("--root", type=Path, default=Path(FLOWDECK_DIR))
    arguments = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    env = dict(os.environ)
    try:
        if arguments.command == "prepare":
            prepare(arguments.root, env)
        else:
            print(outputs(arguments.root, env), flush=True)
    except Failure as error:
        print(f"flowdeck helper: {error}", file=sys.stderr, flush=True)
        _say(str(error))
        return 1
    except Exception as error:
        traceback.print_exc()
        _say(f"{type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
