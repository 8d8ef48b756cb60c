"""The spec's daemon tasks: `daemon: true`, its ports, readiness probe and
storage, and the address its dependants read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from flowcore.dataflow import DataFlow
from flowcore.spec import (
    API_VERSION,
    KIND,
    DaemonPort,
    DaemonSpec,
    DaemonStorage,
    Limits,
    parse_document,
    parse_spec,
    render_task,
    validate,
)
from flowcore.templates import ADDRESS, Reference, parse_reference

ROOT = Path(__file__).resolve().parents[2]


def task(name: str = "a", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["true"], **fields}


def daemon(name: str = "db", **fields: Any) -> dict[str, Any]:
    return task(
        name, **{"daemon": True, "ports": [{"name": "pg", "port": 5432}], **fields}
    )


def document(*tasks: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "wf"},
        "spec": {**spec, "tasks": list(tasks)},
    }


def errors_of(doc: Any) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in validate(doc, Limits())]


def schema_errors(doc: Any) -> list[str]:
    schema = json.loads((ROOT / "flowcore" / "spec_schema.json").read_text())
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]


def test_it_parses_a_daemon_with_a_default_tcp_probe_on_its_first_port() -> None:
    doc = document(
        daemon(),
        task("client", dependencies=["db"], args=["{{tasks.db.ip}}:5432"]),
    )
    assert errors_of(doc) == []
    assert schema_errors(doc) == []
    spec = parse_spec(doc)
    assert spec.tasks[0].daemon == DaemonSpec(
        ports=(DaemonPort(5432, "pg"),),
        readiness_probe={"tcpSocket": {"port": 5432}},
    )
    assert spec.tasks[1].daemon is None
    assert DataFlow.of(spec).reads["client"] == {
        Reference("tasks", "db", ADDRESS, "ip")
    }


def test_it_parses_a_persistent_daemon_with_its_storage_and_own_probe() -> None:
    doc = document(
        daemon(
            readinessProbe={"exec": {"command": ["pg_isready"]}, "periodSeconds": 2},
            persistent=True,
            storage={
                "size": "1Gi",
                "storageClassName": "fast",
                "mountPath": "/var/lib/postgresql/data",
            },
        )
    )
    assert errors_of(doc) == []
    assert schema_errors(doc) == []
    own = parse_spec(doc).tasks[0].daemon
    assert own is not None
    assert own.readiness_probe == {
        "exec": {"command": ["pg_isready"]},
        "periodSeconds": 2,
    }
    assert own.persistent
    assert own.storage == DaemonStorage("1Gi", "/var/lib/postgresql/data", "fast")


def test_address_references_parse_and_render() -> None:
    assert parse_reference("tasks.db.ip") == Reference("tasks", "db", ADDRESS, "ip")
    assert str(parse_reference("tasks.db.service")) == "{{tasks.db.service}}"
    spec = parse_spec(
        document(
            daemon(),
            task(
                "client",
                dependencies=["db"],
                command=["psql", "-h", "{{tasks.db.service}}"],
                env=[{"name": "DB_IP", "value": "{{tasks.db.ip}}"}],
            ),
        )
    )
    rendered = render_task(
        spec.tasks[1],
        {},
        {"tasks.db.ip": "10.0.0.7", "tasks.db.service": "db-r1.ns.svc"},
    )
    assert rendered.command == ("psql", "-h", "db-r1.ns.svc")
    assert rendered.env[0].value == "10.0.0.7"


@pytest.mark.parametrize(
    ("tasks", "path", "message"),
    [
        (
            [daemon(kind="Job")],
            "spec.tasks[0].daemon",
            "a daemon runs as a Deployment (a StatefulSet when persistent), not as "
            "a Job: leave out kind: Job",
        ),
        (
            [task("db", daemon=True)],
            "spec.tasks[0].ports",
            "a daemon needs at least one port (its Service's, and what its "
            "readiness probe checks by default)",
        ),
        ([daemon(ports=[])], "spec.tasks[0].ports", "must have at least one port"),
        (
            [daemon(ports=[{"port": 70000}])],
            "spec.tasks[0].ports[0].port",
            "must be between 1 and 65535",
        ),
        (
            [daemon(ports=[{"port": 80}, {"port": 80}])],
            "spec.tasks[0].ports[1].port",
            "duplicate port 80 (first at spec.tasks[0].ports[0])",
        ),
        (
            [daemon(ports=[{"name": "Web_1", "port": 80}])],
            "spec.tasks[0].ports[0].name",
            "must be at most 15 lowercase letters, digits and '-' with at least "
            "one letter (a Kubernetes port name)",
        ),
        (
            [task("db", ports=[{"port": 80}])],
            "spec.tasks[0].ports",
            "needs daemon: true",
        ),
        (
            [task("db", persistent=True)],
            "spec.tasks[0].persistent",
            "needs daemon: true",
        ),
        (
            [daemon(persistent=True)],
            "spec.tasks[0].storage",
            "is required with persistent: true (size and mountPath)",
        ),
        (
            [daemon(storage={"size": "1Gi", "mountPath": "/data"})],
            "spec.tasks[0].storage",
            "needs persistent: true",
        ),
        (
            [daemon(persistent=True, storage={"size": "1Gi"})],
            "spec.tasks[0].storage.mountPath",
            "is required",
        ),
        (
            [daemon(readinessProbe={"tcpSocket": {"port": 80}})],
            "spec.tasks[0].readinessProbe.tcpSocket.port",
            "80 is not one of the daemon's ports",
        ),
        (
            [daemon(readinessProbe={"tcpSocket": {"port": 5432}, "exec": {}})],
            "spec.tasks[0].readinessProbe",
            "must have one of tcpSocket, exec, httpGet, not several",
        ),
        (
            [
                daemon(
                    outputs={"parameters": [{"name": "x", "path": "/tmp/x"}]},
                )
            ],
            "spec.tasks[0].outputs",
            "a daemon leaves no outputs: its dependants read its address, "
            "{{tasks.NAME.ip}} and {{tasks.NAME.service}}",
        ),
        (
            [daemon(withItems=[1, 2])],
            "spec.tasks[0].withItems",
            "a daemon runs once (one Service, one address): no fan-out",
        ),
        (
            [task("db"), task("b", dependencies=["db"], args=["{{tasks.db.ip}}"])],
            "spec.tasks[1].args[0]",
            "{{tasks.db.ip}}: task 'db' is not a daemon: only a daemon (daemon: "
            "true) has an address ({{tasks.db.ip}})",
        ),
        (
            [daemon(), task("b", args=["{{tasks.db.ip}}"])],
            "spec.tasks[1].args[0]",
            "{{tasks.db.ip}}: task 'db' is not upstream of 'b': add it to 'b''s "
            "dependencies (or to an upstream's)",
        ),
        (
            [
                daemon(),
                task("b", dependencies=["db"], args=["{{tasks.db.outputs.result}}"]),
            ],
            "spec.tasks[1].args[0]",
            "{{tasks.db.outputs.result}}: task 'db' is a daemon, which leaves no "
            "outputs: read its address, {{tasks.db.ip}} or {{tasks.db.service}}",
        ),
    ],
)
def test_it_refuses_a_bad_daemon_naming_the_field(
    tasks: list[dict[str, Any]], path: str, message: str
) -> None:
    assert (path, message) in errors_of(document(*tasks))


def test_an_exit_handler_cannot_be_a_daemon() -> None:
    doc = document(task("a"))
    doc["spec"]["onExit"] = [daemon("cleanup")]
    assert (
        "spec.onExit[0].daemon",
        "an exit handler cannot be a daemon: the run is ending",
    ) in errors_of(doc)


def test_the_daemon_example_validates() -> None:
    doc = parse_document((ROOT / "examples" / "daemon.yaml").read_text())
    assert errors_of(doc) == []
    assert schema_errors(doc) == []
    assert parse_spec(doc).tasks[0].daemon is not None
