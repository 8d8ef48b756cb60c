"""Collect what a finished attempt left for its dependants, and place what it
needs before it starts (docs/spec.md, "Data between tasks").

The same code runs wherever the task's files are: in the local backend (the
attempt's directory stands for /flowdeck) and in the Kubernetes helper
container (the pod's shared emptyDir at /flowdeck). It reads the declared
files, enforces the caps (an output past one fails the attempt with
OutputTooLarge, never a silent truncation) and stores artifacts, streamed, in
the artifact store.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from artifacts.store import ArtifactStore, StoreError, fetch
from flowcore.reports import CollectedOutputs, StoredArtifact
from k8s_runner.pod_request import InputArtifactRequest, OutputsRequest

FLOWDECK_DIR = PurePosixPath("/flowdeck")


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


def _read_capped(path: Path, cap: int) -> bytes | None:
    """The file's bytes, or None when it holds more than `cap`."""
    with open(path, "rb") as source:
        data = source.read(cap + 1)
    return None if len(data) > cap else data


def collect(
    wanted: OutputsRequest,
    root: Path,
    *,
    log: Path | None = None,
    store: ArtifactStore | None = None,
) -> CollectedOutputs:
    """The attempt's outputs from the files under `root` (its /flowdeck) and
    its log; the first problem instead, when there is one."""
    total = 0
    parameters: dict[str, str] = {}
    for name, path, default in wanted.parameters:
        file = local_path(root, path)
        if not file.is_file():
            if default is None:
                return CollectedOutputs(
                    reason="OutputMissing",
                    problem=f"output parameter {name}: {path} was not written "
                    "(and it has no default)",
                )
            parameters[name] = default
            continue
        size = file.stat().st_size
        if size > wanted.max_parameter_bytes:
            return _too_large(
                f"output parameter {name}", size, wanted.max_parameter_bytes
            )
        data = _read_capped(file, wanted.max_parameter_bytes)
        if data is None:  # it grew meanwhile
            return _too_large(
                f"output parameter {name}", size, wanted.max_parameter_bytes
            )
        problem = _text_problem(data)
        if problem:
            return CollectedOutputs(
                reason="OutputUnreadable", problem=f"output parameter {name} {problem}"
            )
        parameters[name] = data.decode()
        total += len(data)
    result: str | None = None
    if wanted.result:
        source = local_path(root, wanted.result_path) if wanted.result_path else log
        if source is None or not source.is_file():
            if wanted.result_path:
                return CollectedOutputs(
                    reason="OutputMissing",
                    problem=f"result: {wanted.result_path} was not written",
                )
            result = ""
        else:
            size = source.stat().st_size
            data = _read_capped(source, wanted.max_result_bytes)
            if data is None:
                return _too_large("the result", size, wanted.max_result_bytes)
            problem = _text_problem(data)
            if problem:
                return CollectedOutputs(
                    reason="OutputUnreadable", problem=f"the result {problem}"
                )
            result = data.decode().strip()
            total += len(data)
    if total > wanted.max_total_bytes:
        return _too_large("the task's outputs together", total, wanted.max_total_bytes)
    artifacts: list[StoredArtifact] = []
    for name, path, optional in wanted.artifacts:
        file = local_path(root, path)
        if not file.exists():
            if optional:
                continue
            return CollectedOutputs(
                reason="OutputMissing",
                problem=f"output artifact {name}: {path} was not written",
            )
        if store is None:
            return CollectedOutputs(
                reason="ArtifactStoreUnavailable",
                problem="no artifact store is configured for this backend",
            )
        try:
            artifacts.append(_store(store, name, file))
        except (StoreError, OSError) as error:
            return CollectedOutputs(
                reason="ArtifactStoreUnavailable",
                problem=f"output artifact {name} could not be stored: {error}",
            )
    return CollectedOutputs(
        result=result, parameters=parameters, artifacts=tuple(artifacts)
    )


def _text_problem(data: bytes) -> str:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "is not UTF-8 text (pass binary data as an artifact)"
    if "\0" in text:
        return "contains a NUL character (pass binary data as an artifact)"
    return ""


def _store(store: ArtifactStore, name: str, file: Path) -> StoredArtifact:
    if file.is_dir():
        with tempfile.TemporaryDirectory(prefix="flowdeck-artifact-") as scratch:
            packed = Path(scratch) / f"{name}.tar.gz"
            with tarfile.open(packed, "w:gz") as archive:
                archive.add(file, arcname=".")
            blob = store.put_file(packed)
        return StoredArtifact(name, blob.sha256, blob.size, packed.name, directory=True)
    blob = store.put_file(file)
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
