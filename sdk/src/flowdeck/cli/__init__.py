"""`flowdeck`: drive a Flowdeck server from a terminal, the way kubectl or argo
drive theirs. Exit status 0 only on success (1: it failed, 2: wrong usage);
tables, JSON and YAML on stdout, progress and errors on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from flowdeck.client import FlowdeckError

EXAMPLES = {
    "login": """examples:
  flowdeck login http://127.0.0.1:8000             # asks for a username and password
  flowdeck login https://flowdeck.example.com --token   # paste an API token
  echo "$TOKEN" | flowdeck login https://flowdeck.example.com --token-stdin""",
    "projects": """examples:
  flowdeck projects
  flowdeck projects -o json""",
    "apply": """examples:
  flowdeck apply -f workflow.yaml                # create it, or save a new version
  flowdeck apply -f flows.py --project data      # every Flow defined in the file
  flowdeck apply -f etl.yaml -m "load twice a day\"""",
    "run": """examples:
  flowdeck run etl                               # start it; prints the run's id
  flowdeck run etl -p day=2026-01-01 --follow    # watch it live to the end
  flowdeck run etl --wait -o json | jq .status   # wait quietly; the run as JSON""",
    "get": """examples:
  flowdeck get workflows
  flowdeck get runs --workflow etl --status Failed,Error
  flowdeck get tasks 42 --status Failed --search load  # a run's tasks
  flowdeck get schedules -o yaml""",
    "describe": """examples:
  flowdeck describe run 42
  flowdeck describe workflow etl -o json""",
    "logs": """examples:
  flowdeck logs 42 transform                     # the latest attempt's log
  flowdeck logs 42 load --attempt 1
  flowdeck logs 42 load -f                       # follow it while it runs""",
    "retry": """examples:
  flowdeck retry 42                              # failed tasks and what depends on them
  flowdeck retry 42 --task load --downstream     # load and everything after it""",
    "cancel": """examples:
  flowdeck cancel 42""",
    "export": """examples:
  flowdeck export etl > etl.yaml
  flowdeck export etl --version 3 -o json
  flowdeck export etl --format argo > etl.argo.yaml       # an Argo Workflow
  flowdeck export etl --format argo --kind WorkflowTemplate""",
    "convert": """examples:
  flowdeck convert -f coinflip.yaml            # Flowdeck YAML out, the report on stderr
  flowdeck convert -f argo/ --out flowdeck/    # a directory, one file per workflow
  flowdeck convert -f argo/ --out flowdeck/ -o json   # what was written, as JSON""",
    "import": """examples:
  flowdeck import -f pipelines.yaml --project data    # Argo files into a project
  flowdeck import -f argo/ --project data --replace   # again, after changing them
  flowdeck import -f argo/ --dry-run                  # what the server makes of it""",
    "validate": """examples:
  flowdeck validate -f workflow.yaml             # the server's checks, offline
  flowdeck validate -f flows.py -o json""",
    "completion": """examples:
  source <(flowdeck completion bash)
  flowdeck completion zsh > "${fpath[1]}/_flowdeck\"""",
}


def _formats(command: argparse.ArgumentParser, default: str = "table") -> None:
    command.add_argument(
        "-o",
        "--output",
        choices=["table", "json", "yaml"],
        default=default,
        help=f"output format (default {default})",
    )


def _project(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--project",
        help="project name or id (needed when you are in more than one; "
        "default $FLOWDECK_PROJECT)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowdeck",
        description="Drive a Flowdeck server: workflows, runs, logs, schedules.",
        epilog="Server and token: `flowdeck login`, or FLOWDECK_SERVER and "
        "FLOWDECK_TOKEN. Exit status: 0 success, 1 failure, 2 usage.",
    )
    parser.add_argument("--server", help="the server's address (overrides login)")
    parser.add_argument("--token", help="an API token (overrides login)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help,
            epilog=EXAMPLES.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    login = command(
        "login", "Log in to a server and keep a token for the next commands"
    )
    login.add_argument("login_server", metavar="SERVER", help="http(s)://host:port")
    login.add_argument("-u", "--username", help="username (asked when not given)")
    login.add_argument(
        "--token", dest="use_token", action="store_true", help="paste an API token"
    )
    login.add_argument(
        "--token-stdin", action="store_true", help="read the API token from stdin"
    )
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )

    projects = command("projects", "List your projects and your role in each")
    _formats(projects)

    apply = command(
        "apply", "Create or update workflows from a YAML/JSON spec or Python"
    )
    apply.add_argument(
        "-f", "--file", required=True, help="workflow.yaml, .json or flows.py"
    )
    apply.add_argument("-m", "--message", default="", help="the new version's message")
    _project(apply)
    _formats(apply)

    run = command("run", "Start a run of a workflow")
    run.add_argument("workflow", metavar="NAME", help="workflow name (or id)")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (repeat for several)",
    )
    run.add_argument("--version", type=int, help="run this version (default latest)")
    run.add_argument(
        "--wait", action="store_true", help="wait for the end; exit 1 if it failed"
    )
    run.add_argument(
        "--follow", action="store_true", help="show it live (states, logs) to the end"
    )
    run.add_argument("--timeout", type=float, help="give up waiting after SECONDS")
    _project(run)
    _formats(run)

    get = command("get", "List workflows, runs, a run's tasks or schedules")
    get.add_argument(
        "kind",
        choices=[
            "workflows",
            "workflow",
            "wf",
            "runs",
            "run",
            "tasks",
            "task",
            "schedules",
            "schedule",
        ],
        metavar="workflows|runs|tasks|schedules",
    )
    get.add_argument("run", nargs="?", metavar="RUN", help="tasks: the run's id")
    get.add_argument("--workflow", help="only this workflow's (runs, schedules)")
    get.add_argument("--status", help="runs or tasks in these states, comma-separated")
    get.add_argument("--search", help="tasks whose name contains this")
    get.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    _project(get)
    _formats(get)

    describe = command(
        "describe", "Show one run (tasks, attempts, outputs) or workflow"
    )
    describe.add_argument("kind", choices=["run", "workflow"])
    describe.add_argument("name", metavar="ID|NAME")
    _project(describe)
    _formats(describe)

    logs = command("logs", "Print a task's log")
    logs.add_argument("run", type=int, metavar="RUN")
    logs.add_argument("task", metavar="TASK")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="follow it while it runs"
    )
    logs.add_argument("--attempt", type=int, help="this attempt (default the latest)")

    retry = command("retry", "Run the failed tasks of a finished run again")
    retry.add_argument("run", type=int, metavar="RUN")
    retry.add_argument("--task", help="retry from this task instead")
    retry.add_argument(
        "--downstream",
        action="store_true",
        help="with --task: and everything downstream of it (the server's only mode, "
        "so the default)",
    )
    _formats(retry)

    cancel = command("cancel", "Stop a run")
    cancel.add_argument("run", type=int, metavar="RUN")
    _formats(cancel)

    export = command("export", "Print a workflow's spec (to save or apply elsewhere)")
    export.add_argument("workflow", metavar="NAME")
    export.add_argument("--version", type=int, help="this version (default latest)")
    _project(export)
    export.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml")
    export.add_argument(
        "--format",
        choices=["flowdeck", "argo"],
        default="flowdeck",
        help="the spec as Flowdeck's (default) or as an Argo document",
    )
    export.add_argument(
        "--kind",
        choices=["Workflow", "WorkflowTemplate"],
        default="Workflow",
        help="with --format argo: the Argo kind (default Workflow)",
    )

    convert = command(
        "convert", "Convert Argo Workflows files to Flowdeck specs, offline"
    )
    convert.add_argument(
        "-f", "--file", required=True, help="an Argo file, or a directory of them"
    )
    convert.add_argument(
        "--out", help="write each workflow to DIR/<name>.yaml (default: stdout)"
    )
    convert.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default="text",
        help="with --out: what was written, as text or JSON",
    )

    importing = command(
        "import", "Import Argo Workflows files into a project (on the server)"
    )
    importing.add_argument(
        "-f", "--file", required=True, help="an Argo file, or a directory of them"
    )
    importing.add_argument(
        "--replace",
        action="store_true",
        help="save a new version of a workflow of the same name",
    )
    importing.add_argument(
        "--dry-run", action="store_true", help="convert and check only, save nothing"
    )
    importing.add_argument("-m", "--message", default="", help="the versions' message")
    _project(importing)
    _formats(importing)

    check = command("validate", "Check a spec offline with the server's own rules")
    check.add_argument(
        "-f", "--file", required=True, help="workflow.yaml, .json or flows.py"
    )
    check.add_argument("-o", "--output", choices=["text", "json"], default="text")

    completion = command("completion", "Print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from flowdeck.cli import commands

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return commands.dispatch(args, parser)
    except FlowdeckError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
