"""The local backend's pod: a task's init containers, sidecars and command as
one shell script, the attempt's session leader in place of the plain wrapper.

Init containers run one after the other, each to its end; the first that
fails writes `<code> init <name>` to the exit file and ends the attempt with
its code. Sidecars then start in the background, the command runs in the
foreground, and once it ends the sidecars get SIGTERM, SIGKILL after
`stop_seconds`. The exit file holds the command's status, as the plain
wrapper's does. Each extra container writes to a log of its own, so the
task's log (and a result read from it) is the command's alone. Everything
stays in the attempt's process group: a cancel stops it all.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

INIT_MARK = "init"
# The sidecars' grace period once the command has ended.
SIDECAR_STOP_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Step:
    """One extra container: its whole command line (environment and sandbox
    included) and its log."""

    name: str
    argv: tuple[str, ...]
    log: Path


def container_log(log: Path, name: str) -> Path:
    """Where an extra container of the attempt whose log is `log` writes."""
    return log.with_suffix(f".{name}.log")


def pod_script(
    init: list[Step], sidecars: list[Step], stop_seconds: float = SIDECAR_STOP_SECONDS
) -> str:
    """The script: `sh -c SCRIPT flowdeck-attempt EXIT_FILE PID_FILE COMMAND...`
    (PID_FILE for the local backend's gate, which opens the script)."""
    lines = ['exit_file=$1; shift 2; sidecars=""']
    for step in init:
        lines.append(f"{_run(step)}; code=$?")
        lines.append(
            'if [ "$code" -ne 0 ]; then '
            f'echo "$code {INIT_MARK} {step.name}" > "$exit_file"; exit "$code"; fi'
        )
    for step in sidecars:
        lines.append(f'{_run(step)} & sidecars="$sidecars $!"')
    lines.append('"$@"; code=$?')
    if sidecars:
        ticks = max(1, round(stop_seconds * 10))
        lines += [
            'for pid in $sidecars; do kill -TERM "$pid" 2>/dev/null; done',
            f'n=0; while [ "$n" -lt {ticks} ]; do alive=""; '
            'for pid in $sidecars; do kill -0 "$pid" 2>/dev/null && alive=1; done; '
            '[ -z "$alive" ] && break; sleep 0.1; n=$((n + 1)); done',
            'for pid in $sidecars; do kill -KILL "$pid" 2>/dev/null; done; wait',
        ]
    lines.append('echo "$code" > "$exit_file"; exit "$code"')
    return "\n".join(lines)


def init_failure(text: str) -> tuple[int, str] | None:
    """(exit code, init container) when an exit file's `text` says an init
    container failed; None for a plain exit status."""
    parts = text.split()
    if len(parts) != 3 or parts[1] != INIT_MARK:
        return None
    try:
        return int(parts[0]), parts[2]
    except ValueError:
        return None


def _run(step: Step) -> str:
    command = " ".join(shlex.quote(part) for part in step.argv)
    return f"{command} </dev/null >>{shlex.quote(str(step.log))} 2>&1"
