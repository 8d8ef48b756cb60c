"""Flowdeck's helper containers (k8s_runner/helper.py), run here on a
directory standing for the pod's /flowdeck, against a real S3-protocol
server (moto's) where artifacts are involved; and the line they leave."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from artifacts.s3 import S3Store
from flowcore.reports import CollectedOutputs, StoredArtifact
from k8s_runner import helper
from k8s_runner.pod_request import (
    InputArtifactRequest,
    OutputsRequest,
    inputs_to_json,
)
from tests.s3 import S3Bucket

ROOT = Path(__file__).resolve().parents[2]


def request_env(
    wanted: OutputsRequest, bucket: S3Bucket | None = None
) -> dict[str, str]:
    env = {helper.REQUEST_ENV: wanted.to_json()}
    if bucket is not None:
        env.update(s3_env(bucket))
    return env


def s3_env(bucket: S3Bucket) -> dict[str, str]:
    env = dict(bucket.environment)
    env.pop("FLOWDECK_ARTIFACT_STORE")
    return env


def finished(root: Path, code: int = 0) -> Path:
    (root / "outputs").mkdir(exist_ok=True)
    (root / ".exit").write_text(f"{code}\n")
    return root


def run_outputs(root: Path, env: dict[str, str]) -> tuple[CollectedOutputs, int]:
    line = helper.outputs(root, env, poll_seconds=0.01)
    assert line.startswith(helper.MARKER) and "\n" not in line
    decoded = helper.decode_line(f"some warning\n{line}\n")
    assert decoded is not None
    outputs, counted, exit_code = decoded
    assert exit_code == 0
    return outputs, counted


# --- the line ------------------------------------------------------------------


def test_the_line_carries_any_text_and_reads_back_the_same() -> None:
    outputs = CollectedOutputs(
        result="[1, 2]\n\tdone ✓",
        parameters={"rows": 'a "quoted"\nline', "empty": ""},
        artifacts=(StoredArtifact("data", "a" * 64, 12, "data.csv"),),
    )
    line = helper.encode_line(outputs, counted=40, exit_code=0)
    assert "\n" not in line and line.isascii()
    assert helper.decode_line(line) == (outputs, 40, 0)


def test_the_last_line_wins_and_a_log_without_one_reads_as_none() -> None:
    first = helper.encode_line(CollectedOutputs(result="1"), counted=1, exit_code=0)
    last = helper.encode_line(CollectedOutputs(result="2"), counted=1, exit_code=0)
    decoded = helper.decode_line(f"{first}\nnoise\n{last}\n")
    assert decoded is not None and decoded[0].result == "2"
    assert helper.decode_line("Traceback ...\n") is None
    with pytest.raises(ValueError):
        helper.decode_line(helper.MARKER + "{not json")


def test_an_outputs_request_survives_its_json_form() -> None:
    wanted = OutputsRequest(
        parameters=(("rows", "/flowdeck/outputs/rows", None), ("m", "/x", "d")),
        artifacts=(("data", "/flowdeck/outputs/data", True),),
        result=True,
        result_path="/flowdeck/outputs/r",
        max_parameter_bytes=5,
        max_total_bytes=6,
        max_result_bytes=7,
    )
    assert OutputsRequest.from_json(wanted.to_json()) == wanted


# --- outputs ---------------------------------------------------------------------


def test_it_waits_for_the_exit_status_then_collects(tmp_path: Path) -> None:
    wanted = OutputsRequest(
        parameters=(
            ("rows", "/flowdeck/outputs/rows", None),
            ("mode", "/flowdeck/outputs/mode", "full"),
        ),
        result=True,
        result_path="/flowdeck/outputs/result.json",
    )
    (tmp_path / "outputs").mkdir()

    def task() -> None:
        time.sleep(0.2)
        (tmp_path / "outputs" / "rows").write_text("[1,2]")
        (tmp_path / "outputs" / "result.json").write_text(' {"ok": 1}\n')
        # Half-written: no newline yet. The helper must not take it.
        (tmp_path / ".exit").write_text("0")
        time.sleep(0.1)
        (tmp_path / ".exit").write_text("0\n")

    started = time.monotonic()
    writer = threading.Thread(target=task)
    writer.start()
    outputs, counted = run_outputs(tmp_path, request_env(wanted))
    writer.join()
    assert time.monotonic() - started >= 0.3
    assert outputs == CollectedOutputs(
        result='{"ok": 1}', parameters={"rows": "[1,2]", "mode": "full"}
    )
    assert counted == len("[1,2]") + len('{"ok": 1}')


def test_a_result_from_the_log_is_left_to_the_backend(tmp_path: Path) -> None:
    wanted = OutputsRequest(result=True)
    outputs, counted = run_outputs(finished(tmp_path), request_env(wanted))
    assert outputs.result is None and counted == 0


def test_a_failed_task_is_not_collected(tmp_path: Path) -> None:
    wanted = OutputsRequest(parameters=(("p", "/flowdeck/outputs/p", None),))
    finished(tmp_path, 3)
    line = helper.outputs(tmp_path, request_env(wanted), poll_seconds=0.01)
    assert helper.decode_line(line) == (CollectedOutputs(), 0, 3)


@pytest.mark.parametrize(
    ("files", "reason", "problem"),
    [
        (
            {},
            "OutputMissing",
            "output parameter p: /flowdeck/outputs/p was not written "
            "(and it has no default)",
        ),
        (
            {"p": b"x" * 11},
            "OutputTooLarge",
            "output parameter p is 11 bytes, over the cap of 10 bytes",
        ),
        (
            {"p": b"\xff"},
            "OutputUnreadable",
            "output parameter p is not UTF-8 text (pass binary data as an artifact)",
        ),
    ],
)
def test_an_output_that_is_missing_too_large_or_binary_says_so(
    tmp_path: Path, files: dict[str, bytes], reason: str, problem: str
) -> None:
    wanted = OutputsRequest(
        parameters=(("p", "/flowdeck/outputs/p", None),), max_parameter_bytes=10
    )
    finished(tmp_path)
    for name, content in files.items():
        (tmp_path / "outputs" / name).write_bytes(content)
    outputs, _ = run_outputs(tmp_path, request_env(wanted))
    assert (outputs.reason, outputs.problem) == (reason, problem)


def test_an_artifact_without_a_store_is_an_error_not_a_silent_loss(
    tmp_path: Path,
) -> None:
    wanted = OutputsRequest(artifacts=(("data", "/flowdeck/outputs/data.csv", False),))
    (finished(tmp_path) / "outputs" / "data.csv").write_text("a\n")
    outputs, _ = run_outputs(tmp_path, request_env(wanted))
    assert outputs.reason == "ArtifactStoreUnavailable"


def test_artifacts_go_to_s3_by_their_sha256(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    wanted = OutputsRequest(
        artifacts=(
            ("data", "/flowdeck/outputs/data.csv", False),
            ("tree", "/flowdeck/outputs/tree", False),
            ("maybe", "/flowdeck/outputs/nothing", True),
        )
    )
    outputs_dir = finished(tmp_path) / "outputs"
    content = b"id,name\n1,ada\n"
    (outputs_dir / "data.csv").write_bytes(content)
    (outputs_dir / "tree" / "sub").mkdir(parents=True)
    (outputs_dir / "tree" / "sub" / "f.txt").write_text("leaf")
    outputs, _ = run_outputs(tmp_path, request_env(wanted, s3_bucket))
    assert not outputs.problem, outputs.problem
    data, tree = outputs.artifacts
    digest = hashlib.sha256(content).hexdigest()
    assert data == StoredArtifact("data", digest, len(content), "data.csv")
    assert (tree.name, tree.filename, tree.directory) == ("tree", "tree.tar.gz", True)
    store = S3Store.connect(**s3_bucket.connect_kwargs)
    assert store.open(digest).read() == content
    blob = io.BytesIO(store.open(tree.sha256).read())
    with tarfile.open(fileobj=blob) as packed:
        leaf = packed.extractfile("./sub/f.txt")
        assert leaf is not None and leaf.read() == b"leaf"


# --- prepare -------------------------------------------------------------------------


def upload(bucket: S3Bucket, content: bytes) -> str:
    store = S3Store.connect(**bucket.connect_kwargs)
    path = Path(f"/tmp/flowdeck-upload-{os.getpid()}-{len(content)}")
    path.write_bytes(content)
    try:
        return store.put_file(path).sha256
    finally:
        path.unlink()


def test_prepare_makes_the_directories_and_places_the_inputs(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    csv = upload(s3_bucket, b"a,b\n1,2\n")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as archive:
        info = tarfile.TarInfo("./x.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"xyz"))
    tree = upload(s3_bucket, packed.getvalue())
    items = (
        InputArtifactRequest("people", "/flowdeck/inputs/people.csv", csv, "p.csv"),
        InputArtifactRequest("elsewhere", "/data/in.csv", csv, "p.csv"),
        InputArtifactRequest("tree", "/srv/tree", tree, "t.tar.gz", directory=True),
    )
    env = {helper.REQUEST_ENV: inputs_to_json(items), **s3_env(s3_bucket)}
    helper.prepare(tmp_path, env)
    for name in ("outputs", "inputs"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o777
    # Kept aside in the volume; the pod mounts each at its path (subPath).
    assert items[0].placed_at == ".inputs/people"
    assert (tmp_path / ".inputs" / "people").read_bytes() == b"a,b\n1,2\n"
    assert (tmp_path / ".inputs" / "elsewhere").read_bytes() == b"a,b\n1,2\n"
    assert (tmp_path / ".inputs" / "tree" / "x.txt").read_text() == "xyz"


def test_prepare_failing_says_why_in_the_termination_message(
    tmp_path: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = tmp_path / "termination-log"
    monkeypatch.setattr(helper, "TERMINATION_LOG", message)
    items = (InputArtifactRequest("gone", "/data/x", "b" * 64, "x"),)
    for key, value in {
        helper.REQUEST_ENV: inputs_to_json(items),
        **s3_env(s3_bucket),
    }.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "flowdeck"
    root.mkdir()
    assert helper.main(["prepare", "--root", str(root)]) == 1
    said = message.read_text()
    assert said.startswith("input artifact gone: artifact bbbbbbbbbbbb")
    assert len(said.encode()) <= 4096


def test_prepare_without_a_store_refuses_inputs(tmp_path: Path) -> None:
    items = (InputArtifactRequest("x", "/data/x", "b" * 64, "x"),)
    with pytest.raises(helper.Failure, match="need the S3 artifact store"):
        helper.prepare(tmp_path, {helper.REQUEST_ENV: inputs_to_json(items)})


# --- it runs in a pod -------------------------------------------------------------


def test_the_helper_imports_neither_django_nor_the_server() -> None:
    code = (
        "import sys, k8s_runner.helper; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'workflows', 'webapp', 'kubernetes', 'rest_framework')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert result.stdout.strip() == "[]"


def test_sigterm_ends_the_waiting_helper_at_once(tmp_path: Path) -> None:
    """PID 1 in its container ignores a signal it has no handler for; the
    helper installs one, so a deleted pod does not wait out its grace."""
    env: dict[str, Any] = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        helper.REQUEST_ENV: OutputsRequest(result=True).to_json(),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "k8s_runner.helper", "outputs", "--root", str(tmp_path)],
        env=env,
    )
    time.sleep(1.0)  # importing, then waiting for a .exit that never comes
    assert process.poll() is None
    process.terminate()
    assert process.wait(5) == 143
