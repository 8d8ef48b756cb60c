"""The embedded mode's child processes: which commands `run_embedded` starts."""

from __future__ import annotations

from typing import Any

import pytest

from k8s_runner.management.commands.run_embedded import (
    child_commands,
    child_environment,
)


def _names(commands: list[list[str]]) -> list[str]:
    return [" ".join(command[1:5]) for command in commands]


def test_the_local_backend_runs_a_worker_and_the_web_server(settings: Any) -> None:
    settings.FLOWDECK_BACKEND = "local"
    commands = child_commands("127.0.0.1", 8000)
    assert len(commands) == 2
    assert "celery -A webapp" in _names(commands)[0]
    assert "daphne" in commands[1] and "webapp.asgi:application" in commands[1]
    assert not any("watch_pods" in command for command in commands)


def test_the_kubernetes_backend_adds_the_pod_watcher(settings: Any) -> None:
    settings.FLOWDECK_BACKEND = "kubernetes"
    commands = child_commands("0.0.0.0", 9000)
    assert len(commands) == 3
    assert commands[2][1:] == ["-m", "django", "watch_pods"]
    assert "9000" in commands[1]


def test_the_watcher_command_names_a_real_management_command() -> None:
    from django.core.management import get_commands

    assert "watch_pods" in get_commands()


def test_the_embedded_mode_elects_no_leader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDECK_LEADER_ELECTION", "kubernetes")
    assert child_environment()["FLOWDECK_LEADER_ELECTION"] == "off"
