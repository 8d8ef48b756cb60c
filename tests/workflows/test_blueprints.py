"""Blueprints: a version's spec parsed once, with the server's limits."""

from __future__ import annotations

from typing import Any

from workflows.blueprints import spec_limits


def test_spec_limits_follow_the_privileged_setting(settings: Any) -> None:
    settings.FLOWDECK_K8S_ALLOW_PRIVILEGED = False
    assert spec_limits().allow_privileged is False
    settings.FLOWDECK_K8S_ALLOW_PRIVILEGED = True
    assert spec_limits().allow_privileged is True
