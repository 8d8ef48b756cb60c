"""Collect what a finished attempt left for its dependants, and place what it
needs before it starts (docs/spec.md, "Data between tasks").

The same code runs wherever the task's files are: in the local backend (the
attempt's directory stands for /flowdeck) and in the Kubernetes helper
containers (the pod's shared emptyDir at /flowdeck, k8s_runner/helper.py). It
reads the declared files, enforces the caps (an output past one fails the
attempt with OutputTooLarge, never a silent truncation) and stores artifacts,
streamed, in the artifact store.

Declared paths are opened one component at a time without following symbolic
links: the reader runs with more rights than the task (the worker's data
directory, the helper's artifact-store credentials in its environment), so a
task must not be able to point an output at, say, /proc/self/environ.
"""

from __future__ import annotations

import os
import stat
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

from artifacts.store import ArtifactStore, StoreError, fetch
from flowcore.reports import CollectedOutputs, Report, StoredArtifact
from flowcore.states import AttemptStatus
from k8s_runner.pod_request import InputArtifactRequest, OutputsRequest

FLOWDECK_DIR = PurePosixPath("/flowdeck")
# The program's fault (it did not write what it declared, or wrote binary
# data): Failed. Anything else (a cap, the store) is an Error.
_PROGRAM_FAULTS = frozenset({"OutputMissing", "OutputUnreadable"})


class UnsafePath(OSError):
    """A declared output is reached through a symbolic link."""


def local_path(root: Path, container_path: str) -> Path:
    """Where the container's `/flowdeck/...` path is under `root`."""
    relative = PurePosixPath(container_path).relative_to(FLOWDECK_DIR)
    return root.joinpath(*relative.parts)


def _size_text(size: int) -> str:
    for unit, factor in (("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.4g} {unit}"
    return f"{size} bytes"


def _too_large(what: str, size: int, cap: int) -> CollectedOutputs:
    return CollectedOutputs(
        reason="OutputTooLarge",
        problem=f"{what} is {_size_text(size)}, over the cap of {_size_text(cap)}",
    )


def open_beneath(root: Path, container_path: str) -> int | None:
    """A read-only descriptor of the container's `/flowdeck/...` path under
    `root`, each component below `root` opened without following links; None
    when it does not exist. UnsafePath when a component is a symbolic link."""
    relative = PurePosixPath(container_path).relative_to(FLOWDECK_DIR)
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index, part in enumerate(relative.parts):
            last = index == len(relative.parts) - 1
            try:
                found = os.stat(part, dir_fd=directory, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat.S_ISLNK(found.st_mode):
                shown = FLOWDECK_DIR.joinpath(*relative.parts[: index + 1])
                raise UnsafePath(f"{shown} is a symbolic link")
            flags = os.O_RDONLY | os.O_NOFOLLOW | (0 if last else os.O_DIRECTORY)
            try:
                opened = os.open(part, flags, dir_fd=directory)
            except OSError as error:  # swapped for a link meanwhile: ELOOP
                raise UnsafePath(f"{container_path}: {error.strerror}") from error
            os.close(directory)
            directory = opened
        return directory
    except BaseException:
        os.close(directory)
        raise


def _read(root: Path, path: str, cap: int) -> tuple[int, bytes | None] | None:
    """(size, bytes) of a declared regular file, bytes None past `cap`; None
    when it is missing (or not a file)."""
    descriptor = open_beneath(root, path)
    if descriptor is None:
        return None
    with os.fdopen(descriptor, "rb") as source:
        status = os.fstat(source.fileno())
        if not stat.S_ISREG(status.st_mode):
            return None
        if status.st_size > cap:
            return status.st_size, None
        data = source.read(cap + 1)
    return max(status.st_size, len(data)), None if len(data) > cap else data


def collect(
    wanted: OutputsRequest,
    root: Path,
    *,
    log: Path | None = None,
    store: ArtifactStore | None = None,
) -> CollectedOutputs:
    """The attempt's outputs from the files under `root` (its /flowdeck) and
    its log; the first problem instead, when there is one."""
    return collect_counted(wanted, root, log=log, store=store)[0]


def collect_counted(
    wanted: OutputsRequest,
    root: Path,
    *,
    log: Path | None = None,
    store: ArtifactStore | None = None,
) -> tuple[CollectedOutputs, int]:
    """collect, and the bytes of parameters and result it counted against
    `max_total_bytes` (a result read later, from a log elsewhere, counts too:
    see result_from_log)."""
    try:
        return _collect(wanted, root, log=log, store=store)
    except UnsafePath as error:
        problem = f"{error} (outputs must be regular files or directories)"
        return CollectedOutputs(reason="OutputUnreadable", problem=problem), 0


def _collect(
    wanted: OutputsRequest,
    root: Path,
    *,
    log: Path | None,
    store: ArtifactStore | None,
) -> tuple[CollectedOutputs, int]:
    total = 0
    parameters: dict[str, str] = {}
    for name, path, default in wanted.parameters:
        read = _read(root, path, wanted.max_parameter_bytes)
        if read is None:
            if default is None:
                return CollectedOutputs(
                    reason="OutputMissing",
                    problem=f"output parameter {name}: {path} was not written "
                    "(and it has no default)",
                ), total
            parameters[name] = default
            continue
        size, data = read
        if data is None:
            return _too_large(
                f"output parameter {name}", size, wanted.max_parameter_bytes
            ), total
        problem = _text_problem(data)
        if problem:
            return CollectedOutputs(
                reason="OutputUnreadable", problem=f"output parameter {name} {problem}"
            ), total
        parameters[name] = data.decode()
        total += len(data)
    result: str | None = None
    if wanted.result and wanted.result_path:
        read = _read(root, wanted.result_path, wanted.max_result_bytes)
        if read is None:
            return CollectedOutputs(
                reason="OutputMissing",
                problem=f"result: {wanted.result_path} was not written",
            ), total
        outcome = _result(read, wanted.max_result_bytes)
        if isinstance(outcome, CollectedOutputs):
            return outcome, total
        result = outcome
        total += len(result.encode())
    elif wanted.result:
        result = ""
        if log is not None and log.is_file():
            cap = wanted.max_result_bytes
            outcome = _result(_read_log(log, cap), cap)
            if isinstance(outcome, CollectedOutputs):
                return outcome, total
            result = outcome
            total += len(result.encode())
    if total > wanted.max_total_bytes:
        return _too_large(
            "the task's outputs together", total, wanted.max_total_bytes
        ), total
    artifacts: list[StoredArtifact] = []
    for name, path, optional in wanted.artifacts:
        descriptor = open_beneath(root, path)
        if descriptor is None:
            if optional:
                continue
            return CollectedOutputs(
                reason="OutputMissing",
                problem=f"output artifact {name}: {path} was not written",
            ), total
        try:
            if store is None:
                return CollectedOutputs(
                    reason="ArtifactStoreUnavailable",
                    problem="no artifact store is configured for this backend",
                ), total
            try:
                artifacts.append(
                    _store(store, name, descriptor, local_path(root, path))
                )
            except (StoreError, OSError) as error:
                return CollectedOutputs(
                    reason="ArtifactStoreUnavailable",
                    problem=f"output artifact {name} could not be stored: {error}",
                ), total
        finally:
            os.close(descriptor)
    return CollectedOutputs(
        result=result, parameters=parameters, artifacts=tuple(artifacts)
    ), total


def _read_log(log: Path, cap: int) -> tuple[int, bytes | None]:
    size = log.stat().st_size
    with open(log, "rb") as source:
        data = source.read(cap + 1)
    return max(size, len(data)), None if len(data) > cap or size > cap else data


def _result(read: tuple[int, bytes | None], cap: int) -> str | CollectedOutputs:
    size, data = read
    if data is None:
        return _too_large("the result", size, cap)
    problem = _text_problem(data)
    if problem:
        return CollectedOutputs(
            reason="OutputUnreadable", problem=f"the result {problem}"
        )
    return data.decode().strip()


def result_from_log(
    outputs: CollectedOutputs, counted: int, wanted: OutputsRequest, log: Path
) -> CollectedOutputs:
    """`outputs` (read elsewhere: the Kubernetes helper) with the result taken
    from the task's log, held to the result's cap and, with the `counted`
    bytes of the rest, to the task's; the first problem instead."""
    if outputs.problem:
        return outputs
    result = ""
    if log.is_file():
        cap = wanted.max_result_bytes
        outcome = _result(_read_log(log, cap), cap)
        if isinstance(outcome, CollectedOutputs):
            return outcome
        result = outcome
    total = counted + len(result.encode())
    if total > wanted.max_total_bytes:
        return _too_large("the task's outputs together", total, wanted.max_total_bytes)
    return replace(outputs, result=result)


def apply_outputs(report: Report, outputs: CollectedOutputs) -> Report:
    """The Succeeded `report` with what the attempt left, or, when an output
    is wrong, the attempt's failure saying which: Failed when the program did
    not write what it declared (or wrote binary data), Error otherwise (a
    cap, the artifact store)."""
    if not outputs.problem:
        return replace(report, outputs=outputs)
    status = (
        AttemptStatus.FAILED
        if outputs.reason in _PROGRAM_FAULTS
        else AttemptStatus.ERROR
    )
    return replace(
        report, status=status, reason=outputs.reason, message=outputs.problem
    )


def _text_problem(data: bytes) -> str:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "is not UTF-8 text (pass binary data as an artifact)"
    if "\0" in text:
        return "contains a NUL character (pass binary data as an artifact)"
    return ""


def _store(
    store: ArtifactStore, name: str, descriptor: int, file: Path
) -> StoredArtifact:
    """Store the artifact open at `descriptor` (found at `file`)."""
    if stat.S_ISDIR(os.fstat(descriptor).st_mode):
        with tempfile.TemporaryDirectory(prefix="flowdeck-artifact-") as scratch:
            packed = Path(scratch) / f"{name}.tar.gz"
            # By its path, checked above to be no link; links inside it are
            # kept as links (tarfile does not follow them).
            with tarfile.open(packed, "w:gz") as archive:
                archive.add(file, arcname=".")
            blob = store.put_file(packed)
        return StoredArtifact(name, blob.sha256, blob.size, packed.name, directory=True)
    # The very file checked above, whatever happens to its path meanwhile.
    blob = store.put_file(Path(f"/proc/self/fd/{descriptor}"))
    return StoredArtifact(name, blob.sha256, blob.size, file.name)


def place_input(item: InputArtifactRequest, store: ArtifactStore, target: Path) -> None:
    """Fetch an input artifact to `target`: the file, or the directory unpacked."""
    if not item.directory:
        fetch(store, item.sha256, target)
        os.chmod(target, 0o644)
        return
    with tempfile.TemporaryDirectory(prefix="flowdeck-input-") as scratch:
        packed = Path(scratch) / "artifact.tar.gz"
        fetch(store, item.sha256, packed)
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(packed, "r:gz") as archive:
            archive.extractall(target, filter="data")
