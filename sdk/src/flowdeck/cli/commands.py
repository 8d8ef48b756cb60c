"""What each `flowdeck` command does."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flowdeck.cli import argo, output
from flowdeck.cli.completion import completion_script
from flowdeck.cli.output import age, duration, emit, note, table
from flowdeck.cli.validate import Problem, validate_document, validate_text
from flowdeck.client import (
    Client,
    FlowdeckError,
    NotLoggedIn,
    normalise_server,
    write_config,
)
from flowdeck.follow import (
    FAILED_TASK,
    Progress,
    RunView,
    failure_summary,
    follow_run,
)
from flowdeck.remote import sync_schedule

FAILED_RUN = 1


def dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    handler = {
        "login": login,
        "projects": projects,
        "apply": apply,
        "run": run,
        "get": get,
        "describe": describe,
        "logs": logs,
        "retry": retry,
        "cancel": cancel,
        "export": export,
        "convert": convert,
        "import": import_argo,
        "validate": validate,
        "completion": completion,
    }[args.command]
    return handler(args)


def client_of(args: argparse.Namespace) -> Client:
    return Client(args.server, args.token)


def project_of(args: argparse.Namespace) -> str | None:
    return getattr(args, "project", None) or os.environ.get("FLOWDECK_PROJECT") or None


# login, projects


def _secret(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    return getpass.getpass(prompt)


def login(args: argparse.Namespace) -> int:
    server = normalise_server(args.login_server)
    if args.use_token or args.token_stdin:
        token = _secret("API token: ", args.token_stdin)
        try:
            Client(server, token).projects()
        except NotLoggedIn as exc:
            raise FlowdeckError(f"the server at {server} refused this token") from exc
        username = ""
    else:
        client = Client(server, token="unused")
        client.token = None  # log in afresh, whatever token is saved or set
        client.session.headers.pop("Authorization", None)
        username = args.username or input("Username: ")
        password = _secret("Password: ", args.password_stdin)
        try:
            token = client.login(username, password)["token"]
        except FlowdeckError as exc:
            if exc.status == 400:
                raise FlowdeckError(
                    f"the server at {server} refused the username or password"
                ) from None
            raise
    path = write_config({"server": server, "token": token, "username": username})
    who = f" as {username}" if username else ""
    note(f"logged in to {server}{who}; token kept in {path}")
    return 0


def projects(args: argparse.Namespace) -> int:
    items = client_of(args).projects()
    emit(
        items,
        args.output,
        lambda: table(
            items,
            [
                ("name", lambda p: p["name"]),
                ("role", lambda p: p.get("role")),
                ("namespace", lambda p: p.get("namespace")),
                ("description", lambda p: p.get("description")),
            ],
        ),
    )
    return 0


# apply, export, validate


def _flows_in(file: Path) -> list[Any]:
    from flowdeck.flows import Flow

    sys.path.insert(0, str(file.resolve().parent))
    try:
        namespace = runpy.run_path(str(file), run_name="__flowdeck__")
    finally:
        sys.path.pop(0)
    found = [value for value in namespace.values() if isinstance(value, Flow)]
    if not found:
        raise FlowdeckError(f"{file} defines no Flow")
    return list({id(f): f for f in found}.values())


def _documents(file: Path) -> tuple[list[tuple[dict[str, Any], str | None, Any]], str]:
    """(document, its text when read from YAML, its Flow when from Python)."""
    if not file.exists():
        raise FlowdeckError(f"no such file: {file}")
    if file.suffix == ".py":
        return [(flow.to_spec(), None, flow) for flow in _flows_in(file)], "python"
    text = file.read_text()
    problems = validate_text(text)
    if problems and not problems[0].path and problems[0].line is None:
        # a syntax error: there is no document to go on with
        raise FlowdeckError(_problems_text(file, problems))
    from flowcore.spec import parse_document

    return [(parse_document(text), text, None)], "spec"


def _problems_text(file: Path, problems: list[Problem]) -> str:
    lines = [f"{file} is not a valid workflow ({len(problems)} problems):"]
    lines += [f"  {p.render(str(file))}" for p in problems]
    return "\n".join(lines)


def apply(args: argparse.Namespace) -> int:
    file = Path(args.file)
    documents, _ = _documents(file)
    for document, text, _flow in documents:
        problems = validate_document(document, text)
        if problems:
            raise FlowdeckError(_problems_text(file, problems))
    client = client_of(args)
    results = []
    for document, _, flow in documents:
        workflow, state = client.apply(
            document, project=project_of(args), message=args.message
        )
        entry = {
            "name": workflow["name"],
            "id": workflow["id"],
            "project": (workflow.get("project") or {}).get("name"),
            "version": (workflow.get("latest_version") or {}).get("number"),
            "state": state,
        }
        if flow is not None:
            schedule = sync_schedule(client, workflow["id"], flow)
            entry["schedule"] = schedule["expression"] if schedule else None
        results.append(entry)
    emit(
        results,
        args.output,
        lambda: "\n".join(
            f"workflow/{r['name']} {r['state']} (version {r['version']}, project "
            f"{r['project']})"
            + (f", schedule {r['schedule']}" if r.get("schedule") else "")
            for r in results
        ),
    )
    return 0


def export(args: argparse.Namespace) -> int:
    from flowcore.spec import dump_document

    client = client_of(args)
    workflow = client.workflow(args.workflow, project_of(args))
    if args.format == "argo":
        latest = int((workflow.get("latest_version") or {}).get("number") or 1)
        print(
            argo.export_argo(client, workflow, args.version or latest, args.kind),
            end="",
        )
        return 0
    document = workflow["document"]
    if args.version is not None:
        version = client.get(
            f"/api/workflows/{workflow['id']}/versions/{args.version}/"
        )
        document = version["document"]
    if args.output == "json":
        print(json.dumps(document, indent=2))
    else:
        print(dump_document(document, blocks=True), end="")
    return 0


def convert(args: argparse.Namespace) -> int:
    return argo.convert(args)


def import_argo(args: argparse.Namespace) -> int:
    return argo.import_files(args, client_of(args), project_of(args))


def validate(args: argparse.Namespace) -> int:
    file = Path(args.file)
    if not file.exists():
        raise FlowdeckError(f"no such file: {file}")
    if file.suffix == ".py":
        problems = []
        for flow in _flows_in(file):
            problems += [
                Problem(p.path, f"flow {flow.name}: {p.message}")
                for p in validate_document(flow.to_spec())
            ]
    else:
        problems = validate_text(file.read_text())
    if args.output == "json":
        print(
            json.dumps(
                {"valid": not problems, "errors": [p.as_dict() for p in problems]},
                indent=2,
            )
        )
    elif problems:
        for problem in problems:
            print(problem.render(str(file)))
    else:
        note(f"{file}: valid")
    return 1 if problems else 0


# runs


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise FlowdeckError(f"-p {pair!r}: write parameters as KEY=VALUE")
        parameters[key] = value
    return parameters


def run(args: argparse.Namespace) -> int:
    client = client_of(args)
    workflow = client.workflow(args.workflow, project_of(args))
    started = client.start_run(workflow["id"], _parameters(args.param), args.version)
    run_id = int(started["id"])
    page = client.url(f"/runs/{run_id}/")
    if not (args.wait or args.follow):
        emit(started, args.output, lambda: f"run/{run_id} started: {page}")
        return 0
    note(f"run/{run_id} of {workflow['name']} started: {page}")
    listener: Any = (
        Progress(client, workflow["name"], logs=True) if args.follow else _quiet
    )
    follow_run(client, run_id, listener, timeout=args.timeout)
    final = client.run(run_id)
    failed = list(client.run_tasks(run_id, status=",".join(FAILED_TASK)))
    summary = failure_summary(final, failed)
    emit(final, args.output, lambda: summary)
    if args.output != "table":
        note(summary)
    return 0 if final["status"] == "Succeeded" else FAILED_RUN


def _quiet(view: RunView, events: list[dict[str, Any]]) -> None:
    return None


def _run_rows(client: Client, args: argparse.Namespace) -> list[dict[str, Any]]:
    params: dict[str, Any] = {
        "project": project_of(args),
        "status": args.status,
        # The server pages runs by cursor, up to 500 a page: ask for no more
        # than will be shown (an older server ignores it).
        "page_size": max(1, min(args.limit, 500)),
    }
    if args.workflow:
        params["workflow"] = client.workflow(args.workflow, project_of(args))["id"]
    rows = []
    for item in client.pages("/api/runs/", **params):
        rows.append(item)
        if len(rows) >= args.limit:
            break
    return rows


def get(args: argparse.Namespace) -> int:
    client = client_of(args)
    kind = {"workflow": "workflows", "wf": "workflows", "run": "runs"}.get(
        args.kind, args.kind
    )
    kind = "tasks" if kind == "task" else kind
    if kind != "tasks" and args.run is not None:
        raise FlowdeckError(f"flowdeck get {args.kind} takes no run id")
    kind = "schedules" if kind == "schedule" else kind
    rows: list[dict[str, Any]]
    if kind == "workflows":
        rows = []
        for item in client.pages("/api/workflows/", project=project_of(args)):
            rows.append(item)
            if len(rows) >= args.limit:
                break
        columns: list[output.Column] = [
            ("id", lambda w: w["id"]),
            ("name", lambda w: w["name"]),
            ("project", lambda w: (w.get("project") or {}).get("name")),
            ("version", lambda w: (w.get("latest_version") or {}).get("number")),
            ("updated", lambda w: age(w.get("updated_at"))),
            ("description", lambda w: (w.get("description") or "")[:50]),
        ]
    elif kind == "tasks":
        if args.run is None or not args.run.isdigit():
            raise FlowdeckError("flowdeck get tasks RUN: name the run by its id")
        rows = []
        for item in client.run_tasks(
            int(args.run), status=args.status, search=args.search
        ):
            rows.append(item)
            if len(rows) >= args.limit:
                break
        columns = [
            ("task", lambda t: t["name"]),
            ("status", lambda t: t["status"]),
            ("attempts", lambda t: t.get("attempts_count")),
            ("started", lambda t: age(t.get("started_at"))),
            ("reason", lambda t: t.get("reason")),
            ("message", lambda t: (t.get("message") or "")[:60]),
        ]
    elif kind == "runs":
        rows = _run_rows(client, args)
        columns = [
            ("id", lambda r: r["id"]),
            ("workflow", lambda r: (r.get("workflow") or {}).get("name")),
            ("version", lambda r: r.get("version")),
            ("status", lambda r: r["status"]),
            ("started", lambda r: age(r.get("started_at") or r.get("created_at"))),
            ("duration", lambda r: duration(r.get("duration_seconds"))),
            ("trigger", lambda r: r.get("trigger")),
            ("by", lambda r: r.get("triggered_by")),
        ]
    else:
        params: dict[str, Any] = {}
        if args.workflow:
            params["workflow"] = client.workflow(args.workflow, project_of(args))["id"]
        rows = list(client.pages("/api/schedules/", **params))[: args.limit]
        columns = [
            ("id", lambda s: s["id"]),
            ("name", lambda s: s["name"]),
            ("workflow", lambda s: s.get("workflow_name")),
            ("kind", lambda s: s["kind"]),
            ("expression", lambda s: s["expression"]),
            ("timezone", lambda s: s.get("timezone")),
            ("enabled", lambda s: s.get("enabled")),
            ("next", lambda s: s.get("next_fire_at")),
        ]
    emit(rows, args.output, lambda: table(rows, columns))
    return 0


def describe(args: argparse.Namespace) -> int:
    client = client_of(args)
    if args.kind == "workflow":
        workflow = client.workflow(args.name, project_of(args))
        emit(workflow, args.output, lambda: _describe_workflow(workflow))
        return 0
    if not args.name.isdigit():
        raise FlowdeckError(f"a run's id is a number, not {args.name!r}")
    run_id = int(args.name)
    detail = client.run(run_id)
    # The first page only: a run may have 10,000 tasks (`flowdeck get tasks`
    # lists them all, or those of one status).
    page = client.get(f"/api/runs/{run_id}/tasks/", limit=DESCRIBED_TASKS)
    detail["tasks"] = page["tasks"]
    emit(detail, args.output, lambda: _describe_run(detail, page["count"]))
    return 0


DESCRIBED_TASKS = 200


def _describe_workflow(workflow: dict[str, Any]) -> str:
    spec = (workflow.get("document") or {}).get("spec") or {}
    lines = [
        f"Name:        {workflow['name']}",
        f"Project:     {(workflow.get('project') or {}).get('name')}",
        f"Version:     {(workflow.get('latest_version') or {}).get('number')}",
        f"Description: {workflow.get('description') or '-'}",
        f"Parameters:  {', '.join(p['name'] for p in spec.get('parameters', [])) or '-'}",  # noqa: E501
        "Tasks:",
    ]
    for task in spec.get("tasks", []):
        after = ", ".join(task.get("dependencies", []))
        lines.append(f"  {task['name']}" + (f"  (after {after})" if after else ""))
    return "\n".join(lines)


def _describe_run(run: dict[str, Any], total: int) -> str:
    parameters = ", ".join(f"{k}={v}" for k, v in (run.get("parameters") or {}).items())
    workflow = (run.get("workflow") or {}).get("name")
    project = (run.get("project") or {}).get("name")
    who = run.get("triggered_by") or run.get("trigger")
    lines = [
        f"Run:         {run['id']}",
        f"Workflow:    {workflow} (version {run.get('version')}, project {project})",
        f"Status:      {run['status']}"
        + (f": {run['message']}" if run.get("message") else ""),
        f"Started:     {run.get('started_at') or '-'} by {who}",
        f"Duration:    {duration(run.get('duration_seconds'))}",
        f"Parameters:  {parameters or '-'}",
        f"Tasks:       {_counts(run.get('summary') or {})}",
        "",
    ]
    tasks = run.get("tasks", [])
    lines.append(
        table(
            tasks,
            [
                ("task", lambda t: t["name"]),
                ("status", lambda t: t["status"]),
                ("attempts", lambda t: t.get("attempts_count")),
                ("exit", lambda t: (t.get("attempts") or [{}])[-1].get("exit_code")),
                ("reason", lambda t: t.get("reason")),
                ("message", lambda t: (t.get("message") or "")[:70]),
            ],
        )
    )
    if total > len(tasks):
        lines.append(
            f"({len(tasks)} of {total} tasks shown: "
            f"flowdeck get tasks {run['id']} lists them all)"
        )
    outputs = (run.get("outputs") or {}).get("parameters") or {}
    if outputs:
        lines += ["", "Outputs:"]
        lines += [f"  {k}: {v.get('value')}" for k, v in outputs.items()]
    return "\n".join(lines)


def _counts(summary: dict[str, Any]) -> str:
    by_status = summary.get("by_status") or {}
    parts = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
    return f"{summary.get('total', 0)}" + (f" ({parts})" if parts else "")


def logs(args: argparse.Namespace) -> int:
    client = client_of(args)
    if not args.follow:
        text, _ = client.log(args.run, args.task, args.attempt)
        sys.stdout.write(text)
        return 0
    import websocket

    query = f"ticket={client.ws_ticket()}&tail=100000"
    if args.attempt:
        query += f"&attempt={args.attempt}"
    url = client.ws_url(
        f"/ws/runs/{args.run}/tasks/{quote(args.task, safe='')}/logs/?{query}"
    )
    connection = websocket.create_connection(url, timeout=30)
    try:
        while True:
            try:
                raw = connection.recv()
            except websocket.WebSocketTimeoutException:
                continue
            if not raw:
                break
            message = json.loads(raw)
            if message["type"] == "lines":
                for line in message["lines"]:
                    print(line, flush=True)
                connection.send(json.dumps({"type": "ack", "batch": message["batch"]}))
            elif message["type"] == "end":
                note(f"{args.task}: {message.get('status')}")
                break
    except websocket.WebSocketConnectionClosedException:
        pass
    finally:
        connection.close()
    return 0


def retry(args: argparse.Namespace) -> int:
    client = client_of(args)
    if args.task:
        path = f"/api/runs/{args.run}/tasks/{quote(args.task, safe='')}/retry/"
    else:
        path = f"/api/runs/{args.run}/retry/"
    body = client.post(path)
    rerun = body.get("rerun", [])
    emit(
        body,
        args.output,
        lambda: f"run/{args.run} retried: {', '.join(rerun)} run again",
    )
    return 0


def cancel(args: argparse.Namespace) -> int:
    body = client_of(args).post(f"/api/runs/{args.run}/cancel/")
    emit(body, args.output, lambda: f"run/{args.run} {body.get('status', 'cancelled')}")
    return 0


def completion(args: argparse.Namespace) -> int:
    from flowdeck.cli import build_parser

    print(completion_script(build_parser(), args.shell))
    return 0
