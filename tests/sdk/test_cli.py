"""The `flowdeck` command line against a live embedded server: every command,
its exit status, its JSON, and a run followed to its end. Each call runs the
installed console script in a process of its own, as a person's shell would."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.net import free_port
from tests.sdk.conftest import url_of
from tests.test_embedded import Server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
FLOWDECK = str(Path(sys.executable).parent / "flowdeck")  # the installed script


class Cli:
    """`flowdeck` with its own config file (and so its own login)."""

    def __init__(self, config: Path, server: Server) -> None:
        self.config = config
        self.server = server
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("FLOWDECK_")
        }
        self.env["FLOWDECK_CONFIG"] = str(config)

    def __call__(
        self, *argv: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FLOWDECK, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=ROOT,
            timeout=120,
        )

    def json(self, *argv: str) -> Any:
        done = self(*argv, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cli(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    command = Cli(tmp_path_factory.mktemp("home") / "flowdeck" / "config.json", server)
    done = command(
        "login",
        url_of(server),
        "-u",
        "admin",
        "--password-stdin",
        stdin="embedded-admin-pw\n",
    )
    assert done.returncode == 0, done.stderr
    yield command


def wait_for(cli: Cli, run_id: int, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = cli.json("describe", "run", str(run_id))
        if run["status"] in states:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached {states}")


def test_login_keeps_a_private_token_and_every_command_uses_it(cli: Cli) -> None:
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    saved = json.loads(cli.config.read_text())
    assert saved["server"] == url_of(cli.server) and saved["username"] == "admin"
    projects = cli.json("projects")
    assert [p["name"] for p in projects] == ["default"]
    table = cli("projects")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "NAME",
        "ROLE",
        "NAMESPACE",
        "DESCRIPTION",
    ]
    assert table.stderr == ""


def test_login_with_a_token_and_refusals_say_what_to_do(
    cli: Cli, tmp_path: Path
) -> None:
    other = Cli(tmp_path / "config.json", cli.server)
    token = json.loads(cli.config.read_text())["token"]
    done = other("login", url_of(cli.server), "--token-stdin", stdin=token + "\n")
    assert done.returncode == 0, done.stderr
    assert other.json("projects")[0]["name"] == "default"

    wrong = other(
        "login", url_of(cli.server), "-u", "admin", "--password-stdin", stdin="nope\n"
    )
    assert wrong.returncode == 1
    assert "refused the username or password" in wrong.stderr

    expired = other("projects", env={"FLOWDECK_TOKEN": "fdk_not-a-token"})
    assert expired.returncode == 1
    assert (
        "refused the token" in expired.stderr
        and "run `flowdeck login`" in expired.stderr
    )

    elsewhere = f"http://127.0.0.1:{free_port()}"
    nobody = other(
        "get", "runs", env={"FLOWDECK_SERVER": elsewhere, "FLOWDECK_TOKEN": token}
    )
    assert nobody.returncode == 1
    assert nobody.stderr == (
        f"error: cannot reach the Flowdeck server at {elsewhere}: is it running, "
        "and is the address right?\n"
    )
    # The saved token is for the saved server only: never sent elsewhere.
    stranger = other("get", "runs", env={"FLOWDECK_SERVER": elsewhere})
    assert (
        stranger.stderr
        == f"error: not logged in to {elsewhere}: run `flowdeck login`\n"
    )

    fresh = Cli(tmp_path / "none.json", cli.server)("get", "workflows")
    assert fresh.returncode == 1 and "flowdeck login" in fresh.stderr


def test_a_refused_permission_shows_the_servers_sentence(
    cli: Cli, tmp_path: Path
) -> None:
    cli.server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "from workflows.models import Membership, Project, Role; "
        "u = User.objects.create_user('viv', password='viewer-pw-123'); "
        "Membership.objects.create(user=u, role=Role.VIEWER, "
        "project=Project.objects.get(name='default'))",
    )
    viewer = Cli(tmp_path / "viewer.json", cli.server)
    done = viewer(
        "login",
        url_of(cli.server),
        "-u",
        "viv",
        "--password-stdin",
        stdin="viewer-pw-123\n",
    )
    assert done.returncode == 0, done.stderr
    refused = viewer("run", "hello-diamond")
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: your role in project default is viewer; "
        "running workflows needs operator\n"
    )


def test_apply_creates_then_versions_only_what_changed_and_export_gives_it_back(
    cli: Cli, tmp_path: Path
) -> None:
    spec = tmp_path / "greet.yaml"
    spec.write_text(
        textwrap.dedent("""\
        apiVersion: flowdeck.io/v1
        kind: Workflow
        metadata: {name: greet}
        spec:
          parameters: [{name: who, default: world}]
          tasks:
            - name: hello
              image: busybox
              command: [sh, -c, 'echo "hello {{params.who}}"']
        """)
    )
    assert cli.json("apply", "-f", str(spec))[0] | {"id": 0} == {
        "name": "greet",
        "id": 0,
        "project": "default",
        "version": 1,
        "state": "created",
    }
    again = cli("apply", "-f", str(spec))
    assert (again.returncode, again.stdout) == (
        0,
        "workflow/greet unchanged (version 1, project default)\n",
    )
    spec.write_text(spec.read_text().replace("hello ", "hi "))
    assert cli.json("apply", "-f", str(spec), "-m", "shorter")[0]["state"] == "updated"

    exported = cli("export", "greet")
    assert exported.returncode == 0
    assert yaml.safe_load(exported.stdout) == yaml.safe_load(spec.read_text())
    first = cli("export", "greet", "--version", "1", "-o", "json")
    assert (
        "hello {{params.who}}"
        in json.loads(first.stdout)["spec"]["tasks"][0]["command"][2]
    )
    missing = cli("export", "nothing-here")
    assert (missing.returncode, missing.stderr) == (
        1,
        "error: no workflow named 'nothing-here'\n",
    )


def test_apply_and_validate_refuse_an_invalid_spec_with_lines_and_paths(
    cli: Cli, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent("""\
        apiVersion: flowdeck.io/v1
        kind: Workflow
        metadata: {name: bad}
        spec:
          tasks:
            - name: extract
              image: busybox
              imagee: typo
            - name: load
              image: busybox
              dependencies: [extrct]
        """)
    )
    checked = cli("validate", "-f", str(bad))
    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        f"{bad}:8:7: spec.tasks[0].imagee: unknown field 'imagee'",
        f"{bad}:11:22: spec.tasks[1].dependencies[0]: unknown task 'extrct'",
    ]
    as_json = cli("validate", "-f", str(bad), "-o", "json")
    assert json.loads(as_json.stdout)["errors"][1] == {
        "path": "spec.tasks[1].dependencies[0]",
        "message": "unknown task 'extrct'",
        "line": 11,
        "column": 22,
    }
    refused = cli("apply", "-f", str(bad))
    assert refused.returncode == 1
    assert "spec.tasks[1].dependencies[0]: unknown task 'extrct'" in refused.stderr
    assert "bad" not in [w["name"] for w in cli.json("get", "workflows")]

    broken = tmp_path / "broken.yaml"
    broken.write_text("metadata: {name: x\nspec: [\n")
    syntax = cli("validate", "-f", str(broken))
    assert syntax.returncode == 1 and "invalid YAML at line" in syntax.stdout
    assert cli("validate", "-f", "examples/hello-diamond.yaml").returncode == 0


def test_a_python_file_applies_its_flows_and_runs_followed_to_the_end(cli: Cli) -> None:
    applied = cli.json("apply", "-f", "examples/python/tutorial.py")
    assert [(a["name"], a["state"]) for a in applied] == [("my-flow", "created")]

    followed = cli("run", "my-flow", "--follow")
    assert followed.returncode == 0, followed.stderr
    lines = followed.stderr.splitlines()
    assert "load: Succeeded" in lines
    assert "load | [10, 20, 30, 40, 50]" in lines  # its log, as it ended
    assert lines.index("transform: Succeeded") < lines.index("load: Running")
    run_id = int(followed.stdout.split()[1])
    assert followed.stdout == f"run {run_id} Succeeded\n"  # the result alone on stdout
    logs = cli("logs", str(run_id), "load")
    assert (logs.returncode, logs.stdout) == (0, "[10, 20, 30, 40, 50]\n")
    assert cli("logs", str(run_id), "load", "-f").stdout == "[10, 20, 30, 40, 50]\n"


def test_run_with_parameters_wait_and_json(cli: Cli) -> None:
    started = cli("run", "hello-diamond")
    assert started.returncode == 0 and started.stdout.startswith("run/")
    run = cli.json("run", "map-sum", "-p", "count=3", "--wait")
    assert (run["status"], run["parameters"]) == ("Succeeded", {"count": "3"})
    assert run["outputs"]["parameters"]["total"]["value"] == "14"
    described = cli("describe", "run", str(run["id"]))
    assert described.returncode == 0
    assert "Status:      Succeeded" in described.stdout
    assert "total: 14" in described.stdout
    assert "Tasks:       " in described.stdout
    squares = cli.json("get", "tasks", str(run["id"]), "--search", "SQUARE[")
    assert [t["name"] for t in squares] == ["square[0]", "square[1]", "square[2]"]
    assert cli.json("get", "tasks", str(run["id"]), "--status", "Failed") == []
    refused = cli("get", "tasks", str(run["id"]), "--status", "Done")
    assert refused.returncode == 1 and "unknown status 'Done'" in refused.stderr
    wrong = cli("run", "map-sum", "-p", "cuont=3")
    assert wrong.returncode == 1
    assert "parameters.cuont: unknown parameter" in wrong.stderr
    usage = cli("run", "map-sum", "-p", "count")
    assert usage.returncode == 1 and "KEY=VALUE" in usage.stderr


def test_a_failed_run_exits_non_zero_and_retry_reruns_what_failed(cli: Cli) -> None:
    failed = cli("run", "flaky-etl", "--wait")
    assert failed.returncode == 1
    run_id = int(failed.stdout.split()[1])
    assert failed.stdout == f"run {run_id} Failed: load Failed (exited with code 3)\n"
    assert cli("logs", str(run_id), "load", "--attempt", "1").stdout == (
        "warehouse unavailable\n"
    )
    retried = cli.json("retry", str(run_id))
    assert retried["rerun"] == ["load", "report"]
    assert wait_for(cli, run_id, "Succeeded", "Failed")["status"] == "Succeeded"
    again = cli("retry", str(run_id), "--task", "transform", "--downstream")
    assert again.returncode == 0
    assert again.stdout == f"run/{run_id} retried: transform, load, report run again\n"
    wait_for(cli, run_id, "Succeeded", "Failed")
    busy = cli("retry", str(run_id), "--task", "nope")
    assert busy.returncode == 1


def test_cancel_stops_a_run_and_a_finished_run_cannot_be_cancelled(
    cli: Cli, tmp_path: Path
) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(
        "apiVersion: flowdeck.io/v1\nkind: Workflow\nmetadata: {name: slow}\n"
        "spec:\n  tasks:\n    - {name: nap, image: busybox, command: [sleep, '60']}\n"
    )
    cli.json("apply", "-f", str(slow))
    run_id = int(cli("run", "slow").stdout.split()[0].split("/")[1])
    deadline = time.monotonic() + 30
    while cli.json("describe", "run", str(run_id))["tasks"][0]["status"] != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cancelled = cli("cancel", str(run_id))
    assert cancelled.returncode == 0, cancelled.stderr
    assert wait_for(cli, run_id, "Cancelled")["status"] == "Cancelled"
    assert cli("cancel", str(run_id)).returncode == 0  # again: a no-op
    done = cli.json("run", "hello-diamond", "--wait")
    late = cli("cancel", str(done["id"]))
    assert late.returncode == 1 and late.stderr.startswith("error: ")
    gone = cli("describe", "run", "99999")
    assert (gone.returncode, gone.stderr) == (
        1,
        "error: No Run matches the given query.\n",
    )


def test_get_lists_workflows_runs_and_schedules(cli: Cli) -> None:
    workflows = cli.json("get", "workflows")
    assert {"hello-diamond", "map-sum"} <= {w["name"] for w in workflows}
    runs = cli.json("get", "runs", "--workflow", "map-sum")
    assert runs and {r["workflow"]["name"] for r in runs} == {"map-sum"}
    table = cli("get", "runs", "--status", "Succeeded", "--limit", "2")
    assert table.returncode == 0 and len(table.stdout.splitlines()) == 3
    assert table.stdout.split()[:8] == [
        "ID",
        "WORKFLOW",
        "VERSION",
        "STATUS",
        "STARTED",
        "DURATION",
        "TRIGGER",
        "BY",
    ]
    cli.server.request(
        "POST",
        "/api/schedules/",
        {
            "workflow": cli.json("describe", "workflow", "map-sum")["id"],
            "name": "hourly",
            "kind": "interval",
            "expression": "every 1h",
        },
    )
    schedules = cli.json("get", "schedules")
    assert [(s["name"], s["expression"]) for s in schedules] == [("hourly", "every 1h")]
    assert "hourly" in cli("get", "schedules", "-o", "yaml").stdout
    assert cli("get", "nonsense").returncode == 2


@pytest.mark.parametrize(
    "command",
    [
        "login",
        "projects",
        "apply",
        "run",
        "get",
        "describe",
        "logs",
        "retry",
        "cancel",
        "export",
        "validate",
        "convert",
        "import",
        "completion",
    ],
)
def test_every_command_has_help_with_examples(cli: Cli, command: str) -> None:
    done = cli(command, "--help")
    assert done.returncode == 0
    examples = done.stdout.split("examples:\n", 1)[1]
    assert f"flowdeck {command}" in examples


def test_shell_completion_knows_every_command(cli: Cli) -> None:
    script = cli("completion", "bash").stdout
    checked = subprocess.run(
        ["bash", "-n"], input=script, text=True, capture_output=True
    )
    assert checked.returncode == 0, checked.stderr
    for command in ("apply", "describe", "validate", "--follow", "schedules"):
        assert command in script


ARGO = ROOT / "tests" / "fixtures" / "argo"


def test_convert_turns_argo_files_into_flowdeck_specs_offline(
    cli: Cli, tmp_path: Path
) -> None:
    one = cli("convert", "-f", str(ARGO / "conditionals.yaml"))
    assert one.returncode == 0, one.stderr
    document = yaml.safe_load(one.stdout)
    assert document["metadata"]["name"] == "conditional"
    assert one.stderr == (
        f"{ARGO / 'conditionals.yaml'}: spec.arguments.parameters[0].name: note: "
        "parameter 'should-print' is 'should_print' (letters, digits and _ only)\n"
    )
    out = tmp_path / "flowdeck"
    every = cli("convert", "-f", str(ARGO), "--out", str(out), "-o", "json")
    # Two files of the set cannot be imported: the exit status says so.
    assert every.returncode == 1
    written = json.loads(every.stdout)
    refused = {Path(w["file"]).name for w in written if not w["imported"]}
    assert refused == {"unsupported-resource.yaml", "unsupported-suspend.yaml"}
    assert "spec.templates[0].resource: cannot be imported" in every.stderr
    assert (out / "loop-dag.yaml").exists() and (out / "loop-dag-pair.yaml").exists()
    # What convert writes is what validate and apply take.
    valid = cli("validate", "-f", str(out / "dag-diamond.yaml"))
    assert valid.returncode == 0, valid.stdout
    missing = cli("convert", "-f", str(tmp_path / "nowhere"))
    assert (missing.returncode, missing.stderr) == (
        1,
        f"error: no such file or directory: {tmp_path / 'nowhere'}\n",
    )


def test_import_sends_argo_files_to_the_server_and_export_gives_argo_back(
    cli: Cli, tmp_path: Path
) -> None:
    folder = tmp_path / "argo"
    folder.mkdir()
    for name in ("steps.yaml", "cron.yaml", "unsupported-suspend.yaml"):
        (folder / name).write_text((ARGO / name).read_text())
    dry = cli("import", "-f", str(folder), "--dry-run", "-o", "json")
    assert dry.returncode == 1  # the suspend
    assert {row["workflow"]: row["state"] for row in json.loads(dry.stdout)} == {
        "hello-world": "checked",
        "steps": "checked",
    }
    done = cli("import", "-f", str(folder), "-o", "json")
    assert done.returncode == 1
    rows = {row["workflow"]: row for row in json.loads(done.stdout)}
    assert rows["steps"]["state"] == "created"
    assert rows["hello-world"]["schedules"] == ["hello-world"]
    assert "spec.templates[1].suspend: cannot be imported" in done.stderr
    again = cli("import", "-f", str(folder / "steps.yaml"), "--replace", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["state"] == "updated"

    exported = cli("export", "steps", "--format", "argo")
    assert exported.returncode == 0, exported.stderr
    argo_document = yaml.safe_load(exported.stdout)
    assert argo_document["kind"] == "Workflow"
    assert [t["name"] for t in argo_document["spec"]["templates"]][:1] == ["main"]
    template = cli("export", "steps", "--format", "argo", "--kind", "WorkflowTemplate")
    assert yaml.safe_load(template.stdout)["kind"] == "WorkflowTemplate"
    # The export converts back to the same workflow.
    (tmp_path / "back.yaml").write_text(exported.stdout)
    back = cli("convert", "-f", str(tmp_path / "back.yaml"))
    assert back.returncode == 0, back.stderr
    assert [t["name"] for t in yaml.safe_load(back.stdout)["spec"]["tasks"]] == [
        "hello1",
        "hello2a",
        "hello2b",
    ]
