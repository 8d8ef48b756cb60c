"""Collecting outputs (k8s_runner/outputs.py), the code both backends run
where the task's files are: declared paths are read without following links,
since the reader has more rights than the task."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowcore.reports import CollectedOutputs, Report
from flowcore.states import AttemptStatus
from k8s_runner.outputs import apply_outputs, collect, result_from_log
from k8s_runner.pod_request import OutputsRequest


def finished(root: Path) -> Path:
    (root / "outputs").mkdir()
    return root


@pytest.mark.parametrize("kind", ["parameter", "artifact", "directory"])
def test_an_output_that_links_out_of_flowdeck_is_refused(
    tmp_path: Path, kind: str
) -> None:
    """The reader has more rights than the task: its environment holds the
    store's credentials (the helper), the worker's secrets (the local
    backend). A link must not let a task read them."""
    root = finished(tmp_path)
    os.environ["FLOWDECK_TEST_SECRET"] = "s3cr3t"
    try:
        if kind == "directory":
            (root / "outputs" / "real").mkdir()
            (root / "outputs" / "real" / "f").write_text("x")
            (root / "outputs" / "dir").symlink_to(root / "outputs" / "real")
            path = "/flowdeck/outputs/dir/f"
        else:
            (root / "outputs" / "leak").symlink_to("/proc/self/environ")
            path = "/flowdeck/outputs/leak"
        if kind == "parameter":
            wanted = OutputsRequest(parameters=(("p", path, None),))
        else:
            wanted = OutputsRequest(artifacts=(("a", path, False),))
        outputs = collect(wanted, root, store=None)
    finally:
        del os.environ["FLOWDECK_TEST_SECRET"]
    assert outputs.reason == "OutputUnreadable"
    assert "is a symbolic link" in outputs.problem
    assert "s3cr3t" not in str(outputs)


# --- a result read from a log elsewhere (the Kubernetes backend) ----------------


@pytest.mark.parametrize(
    ("log", "counted", "expected"),
    [
        (b" [10,20]\n", 0, ("", "[10,20]")),
        (b"", 0, ("", "")),
        (b"x" * 11, 0, ("OutputTooLarge", "the result is 11 bytes, over the cap")),
        (b"12345", 16, ("OutputTooLarge", "the task's outputs together is 21 bytes")),
        (b"\xff\xfe", 0, ("OutputUnreadable", "the result is not UTF-8 text")),
    ],
)
def test_a_result_from_the_task_s_log_is_held_to_both_caps(
    tmp_path: Path, log: bytes, counted: int, expected: tuple[str, str]
) -> None:
    wanted = OutputsRequest(result=True, max_result_bytes=10, max_total_bytes=20)
    path = tmp_path / "main.log"
    path.write_bytes(log)
    outputs = result_from_log(
        CollectedOutputs(parameters={"p": "v"}), counted, wanted, path
    )
    reason, text = expected
    assert outputs.reason == reason
    if reason:
        assert outputs.problem.startswith(text)
    else:
        assert (outputs.result, outputs.parameters) == (text, {"p": "v"})


def test_a_problem_found_in_the_pod_is_kept(tmp_path: Path) -> None:
    missing = CollectedOutputs(reason="OutputMissing", problem="p was not written")
    wanted = OutputsRequest(result=True)
    assert result_from_log(missing, 0, wanted, tmp_path / "none.log") == missing


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("OutputMissing", AttemptStatus.FAILED),
        ("OutputUnreadable", AttemptStatus.FAILED),
        ("OutputTooLarge", AttemptStatus.ERROR),
        ("ArtifactStoreUnavailable", AttemptStatus.ERROR),
    ],
)
def test_the_program_s_faults_fail_the_rest_are_errors(
    reason: str, status: AttemptStatus
) -> None:
    succeeded = Report(1, AttemptStatus.SUCCEEDED, exit_code=0)
    report = apply_outputs(succeeded, CollectedOutputs(reason=reason, problem="why"))
    assert (report.status, report.reason, report.message) == (status, reason, "why")
    assert report.outputs is None
    fine = CollectedOutputs(result="1")
    assert apply_outputs(succeeded, fine).outputs == fine
