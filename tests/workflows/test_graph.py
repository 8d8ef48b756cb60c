"""The DAG drawings: a node per task, coloured by status, escaped, and skipped
when dot is missing or the DAG is too large."""

from __future__ import annotations

import shutil

import graphviz
import pytest

from flowcore.states import AttemptStatus, TaskStatus
from tests.conftest import drive_run, shell_task, workflow_document
from workflows import graph
from workflows.graph import (
    MAX_GRAPH_TASKS,
    STATUS_COLOURS,
    render_run_svg,
    render_version_svg,
)
from workflows.services.submit import create_workflow, submit_run

needs_dot = pytest.mark.skipif(not shutil.which("dot"), reason="graphviz not installed")


def node_titles(svg: str) -> list[str]:
    return [
        part.split("<title>", 1)[1].split("</title>", 1)[0]
        for part in svg.split('class="node"')[1:]
    ]


@needs_dot
@pytest.mark.django_db
def test_a_version_graph_has_a_node_per_task_and_no_xml_prolog(diamond):
    svg = render_version_svg(diamond.latest_version)
    assert svg.startswith("<svg")
    assert "<?xml" not in svg
    assert "<!DOCTYPE" not in svg
    assert sorted(node_titles(svg)) == ["a", "b", "c", "d"]
    assert svg.count('class="edge"') == 4


@needs_dot
@pytest.mark.django_db(transaction=True)
def test_a_run_graph_colours_each_task_by_status_and_links_its_logs(diamond, user):
    run = drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )
    svg = render_run_svg(run)
    assert sorted(node_titles(svg)) == ["a", "b", "c", "d"]
    for status in (
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.UPSTREAM_FAILED,
    ):
        assert f'fill="{STATUS_COLOURS[status][0]}"' in svg
        assert f">{status}</text>" in svg
    assert f'xlink:href="/runs/{run.pk}/tasks/b/logs/"' in svg


@needs_dot
@pytest.mark.django_db(transaction=True)
def test_a_run_graph_counts_attempts_when_there_were_several(user):
    document = workflow_document(
        "flaky", [shell_task("x", retry={"limit": 2, "backoff": {"delay": "1s"}})]
    )
    workflow = create_workflow(document, author=user)
    run = drive_run(
        submit_run(workflow.latest_version, user=user), {"x": AttemptStatus.FAILED}
    )
    assert ">3 attempts</text>" in render_run_svg(run)


@needs_dot
def test_labels_are_escaped_even_when_they_look_like_html():
    hostile = '<script>alert(1)</script>"&'
    svg = graph._render(
        (hostile, "b"),
        {hostile: (), "b": (hostile,)},
        lambda name: ([name, "Failed"], ("#fff", "#000"), None),
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert len(node_titles(svg)) == 2


def test_a_logs_url_that_dot_would_copy_unescaped_is_left_out():
    assert graph._logs_url(7, "build") == "/runs/7/tasks/build/logs/"
    assert graph._logs_url(7, "a&b") is None
    assert graph._logs_url(7, "a'b") is None


@pytest.mark.django_db
def test_without_dot_the_graph_is_empty(diamond, monkeypatch):
    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    assert render_version_svg(diamond.latest_version) == ""


@pytest.mark.django_db
def test_a_dag_larger_than_the_limit_is_not_drawn(user, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("dot should not run")

    monkeypatch.setattr(graphviz.Digraph, "pipe", never)
    tasks = [shell_task(f"t{i}") for i in range(MAX_GRAPH_TASKS + 1)]
    workflow = create_workflow(workflow_document("wide", tasks), author=user)
    run = submit_run(workflow.latest_version, user=user)
    assert render_version_svg(workflow.latest_version) == ""
    assert render_run_svg(run) == ""


@pytest.mark.django_db
def test_a_versions_picture_is_drawn_once(diamond, monkeypatch):
    first = render_version_svg(diamond.latest_version)
    assert "<svg" in first

    def never(*args, **kwargs):
        raise AssertionError("dot should not run again for the same version")

    monkeypatch.setattr(graphviz.Digraph, "pipe", never)
    assert render_version_svg(diamond.latest_version) == first
