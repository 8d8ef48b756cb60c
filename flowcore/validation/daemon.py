"""Daemon tasks (`daemon: true`): a service that lives for the rest of the run,
its `ports`, its `readinessProbe` and, with `persistent: true`, its `storage`
(docs/spec.md, "Daemons").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial

from flowcore.spec_base import (
    DAEMON_FIELDS,
    MAX_PORT,
    MAX_PORTS,
    PROBE_KINDS,
    field_path,
)
from flowcore.validation.checks import _Check, _is_list
from flowcore.validation.pod import PodChecks

# A Service port's name (Kubernetes' IANA_SVC_NAME): at most 15 lowercase
# letters, digits and '-', with a letter, no '--', no '-' at either end.
_PORT_NAME = re.compile(r"(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*(?<!-)")
_MAX_PORT_NAME = 15
# What a daemon cannot have, and why.
_DAEMON_REFUSED = {
    "outputs": "a daemon leaves no outputs: its dependants read its address, "
    "{{tasks.NAME.ip}} and {{tasks.NAME.service}}",
    "inputs": "a daemon takes no input artifacts (it is a service, not a step): "
    "pass values in its command or env",
    "withItems": "a daemon runs once (one Service, one address): no fan-out",
    "withParam": "a daemon runs once (one Service, one address): no fan-out",
    "withSequence": "a daemon runs once (one Service, one address): no fan-out",
}


class DaemonChecks(PodChecks):
    """Checks of a daemon task's fields and of what goes with `daemon: true`."""

    def daemon_ports(self, value: object, path: str) -> None:
        items = self.items(value, path)
        if _is_list(value) and not items:
            self.error(path, "must have at least one port")
        elif len(items) > MAX_PORTS:
            self.error(path, f"must have at most {MAX_PORTS} ports")
        numbers: dict[object, str] = {}
        names: dict[object, str] = {}
        for where, item in items:
            checks: dict[str, _Check] = {
                "name": self.port_name,
                "port": partial(self.integer, low=1, high=MAX_PORT),
            }
            port = self.fields(item, where, checks, required=("port",))
            if port is None:
                continue
            for key, seen in (("port", numbers), ("name", names)):
                own = port.get(key)
                if own is None or not isinstance(own, str | int):
                    continue
                if own in seen:
                    self.error(
                        field_path(where, key),
                        f"duplicate {key} {own!r} (first at {seen[own]})",
                    )
                else:
                    seen[own] = where

    def port_name(self, value: object, path: str) -> None:
        if not self.string(value, path, nonempty=True):
            return
        if len(value) > _MAX_PORT_NAME or not _PORT_NAME.fullmatch(value):
            self.error(
                path,
                f"must be at most {_MAX_PORT_NAME} lowercase letters, digits and "
                "'-' with at least one letter (a Kubernetes port name)",
            )

    def readiness_probe(self, value: object, path: str) -> None:
        self.kubernetes_object(value, path, model="V1Probe")
        if not isinstance(value, Mapping):
            return
        kinds = [kind for kind in PROBE_KINDS if value.get(kind) is not None]
        if len(kinds) > 1:
            self.error(path, f"must have one of {', '.join(PROBE_KINDS)}, not several")

    def storage(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "size": self.storage_size,
            "storageClassName": self.dns_subdomain,
            "mountPath": self.absolute_path,
        }
        self.fields(value, path, checks, required=("size", "mountPath"))

    def storage_size(self, value: object, path: str) -> None:
        amount = self.quantity(value, path)
        if amount is not None and amount <= 0:
            self.error(path, "must be more than 0")

    def daemon_rules(self, task: Mapping[object, object], path: str) -> None:
        """What goes with `daemon: true`, and what cannot."""
        if task.get("daemon") is not True:
            for key in DAEMON_FIELDS:
                if task.get(key) is not None:
                    self.error(field_path(path, key), "needs daemon: true")
            return
        if task.get("kind") == "Job":
            self.error(
                field_path(path, "daemon"),
                "a daemon runs as a Deployment (a StatefulSet when persistent), "
                "not as a Job: leave out kind: Job",
            )
        if self.current_task_is_exit(task):
            self.error(
                field_path(path, "daemon"),
                "an exit handler cannot be a daemon: the run is ending",
            )
        if task.get("ports") is None:
            self.error(
                field_path(path, "ports"),
                "a daemon needs at least one port (its Service's, and what its "
                "readiness probe checks by default)",
            )
        if task.get("persistent") is True and task.get("storage") is None:
            self.error(
                field_path(path, "storage"),
                "is required with persistent: true (size and mountPath)",
            )
        if task.get("persistent") is not True and task.get("storage") is not None:
            self.error(field_path(path, "storage"), "needs persistent: true")
        for key, why in _DAEMON_REFUSED.items():
            if task.get(key) is not None:
                self.error(field_path(path, key), why)
        self.probe_port_rules(task, path)

    def current_task_is_exit(self, task: Mapping[object, object]) -> bool:
        name = task.get("name")
        return isinstance(name, str) and name in self.exit_tasks

    def probe_port_rules(self, task: Mapping[object, object], path: str) -> None:
        """A tcpSocket or httpGet probe's port is one the daemon declares."""
        probe = task.get("readinessProbe")
        ports = task.get("ports")
        if not isinstance(probe, Mapping) or not _is_list(ports):
            return
        declared = {
            own
            for item in ports
            if isinstance(item, Mapping)
            for own in (item.get("port"), item.get("name"))
            if own is not None
        }
        for kind in ("tcpSocket", "httpGet"):
            action = probe.get(kind)
            if not isinstance(action, Mapping) or "port" not in action:
                continue
            if action["port"] not in declared:
                self.error(
                    field_path(
                        field_path(field_path(path, "readinessProbe"), kind), "port"
                    ),
                    f"{action['port']!r} is not one of the daemon's ports",
                )
