"""A flow on a Flowdeck server: deploy its compiled spec (and its schedule),
start runs, follow them and read back what its tasks returned."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowdeck.client import Client, FlowdeckError, NotFound
from flowdeck.follow import Progress, failure_summary, follow_run
from flowdeck.results import FlowResult, TaskResult

if TYPE_CHECKING:
    from flowdeck.flows import Flow

# The server schedule a flow's code owns (flow.schedule(...)): deploy keeps
# it in step with the code, and removes it when the code has none.
SCHEDULE_NAME = "flowdeck-sdk"


@dataclass
class Deployment:
    """A flow deployed: its workflow on the server and what deploy did."""

    client: Client
    workflow: dict[str, Any]
    state: str  # created, updated or unchanged
    schedule: dict[str, Any] | None = None

    @property
    def id(self) -> int:
        return int(self.workflow["id"])

    @property
    def version(self) -> int:
        return int(self.workflow["latest_version"]["number"])

    @property
    def name(self) -> str:
        return str(self.workflow["name"])


def deploy(
    flow: Flow, server: str | Client | None, *, project: str | None, message: str = ""
) -> Deployment:
    client = Client.of(server)
    workflow, state = client.apply(flow.to_spec(), project=project, message=message)
    schedule = sync_schedule(client, workflow["id"], flow)
    return Deployment(client, workflow, state, schedule)


def sync_schedule(
    client: Client, workflow_id: int, flow: Flow
) -> dict[str, Any] | None:
    existing = [
        s
        for s in client.pages("/api/schedules/", workflow=workflow_id)
        if s["name"] == SCHEDULE_NAME
    ]
    wanted = flow.current_schedule
    if wanted is None:
        for schedule in existing:
            client.request("DELETE", f"/api/schedules/{schedule['id']}/")
        return None
    body = {"workflow": workflow_id, "name": SCHEDULE_NAME, **wanted.server_fields()}
    if existing:
        response = client.request(
            "PATCH", f"/api/schedules/{existing[0]['id']}/", json_body=body
        )
    else:
        response = client.request("POST", "/api/schedules/", json_body=body)
    return dict(response.json())


def submit(
    deployment: Deployment,
    parameters: Mapping[str, Any] | None,
    *,
    wait: bool,
    quiet: bool = False,
    timeout: float | None = None,
) -> FlowResult:
    client = deployment.client
    run = client.start_run(deployment.id, _as_text(parameters))
    if not quiet:
        page = client.url(f"/runs/{run['id']}/")
        print(
            f"[flowdeck] run {run['id']} of {deployment.name} "
            f"(version {run.get('version')}): {page}",
            file=sys.stderr,
        )
    if wait:
        listener = (
            Progress(client, deployment.name, logs=True) if not quiet else _silent
        )
        follow_run(client, int(run["id"]), listener, timeout=timeout)
        run = client.run(int(run["id"]), tasks=True)
        if not quiet:
            print(f"[flowdeck] {failure_summary(run)}", file=sys.stderr)
    return result_of(client, run)


def _silent(*_: Any) -> None:
    return None


def _as_text(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Run parameters as the server takes them: strings, numbers, booleans
    as they are; lists and mappings as JSON text (what a task decodes)."""
    return {
        name: value
        if isinstance(value, str | int | float | bool)
        else json.dumps(value)
        for name, value in (parameters or {}).items()
    }


def result_of(client: Client, run: dict[str, Any]) -> FlowResult:
    """The run as a FlowResult; each task's value is read from the server
    when first asked for (its `result` output, decoded from JSON)."""
    run_id = int(run["id"])
    rows = run["tasks"] if "tasks" in run else list(client.run_tasks(run_id))
    tasks: dict[str, TaskResult] = {}
    instances: dict[str, list[dict[str, Any]]] = {}
    for task in rows:
        if task.get("fan_group"):
            instances.setdefault(task["fan_group"], []).append(task)
    for task in rows:
        if task.get("fan_group"):
            continue
        name = task["name"]
        error = " ".join(filter(None, (task.get("reason"), task.get("message"))))
        if name in instances:
            members = sorted(instances[name], key=lambda t: t.get("fan_index") or 0)
            load = _group_loader(client, run_id, [m["name"] for m in members])
        else:
            load = _loader(client, run_id, name)
        tasks[name] = TaskResult(
            name,
            task["status"],
            error=error if task["status"] != "Succeeded" else "",
            attempts=int(task.get("attempts_count") or 0),
            _load=load if task["status"] == "Succeeded" else None,
        )
    outputs = {
        name: _decoded(entry.get("value"))
        for name, entry in ((run.get("outputs") or {}).get("parameters") or {}).items()
    }
    return FlowResult(
        str((run.get("workflow") or {}).get("name", "")),
        run["status"],
        tasks,
        run_id=run_id,
        url=client.url(f"/runs/{run_id}/"),
        outputs=outputs,
    )


def _decoded(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _loader(client: Client, run_id: int, task: str) -> Any:
    def load() -> Any:
        try:
            return _decoded(client.task_outputs(run_id, task).get("result"))
        except NotFound:
            return None

    return load


def _group_loader(client: Client, run_id: int, members: list[str]) -> Any:
    def load() -> list[Any]:
        return [_loader(client, run_id, member)() for member in members]

    return load


__all__ = ["Deployment", "FlowdeckError", "deploy", "submit"]
