"""The client's credentials: where they are kept and where they are sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.client import Client, write_config


def test_the_saved_token_only_goes_to_the_server_it_was_made_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDECK_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.delenv("FLOWDECK_TOKEN", raising=False)
    monkeypatch.delenv("FLOWDECK_SERVER", raising=False)
    write_config({"server": "http://127.0.0.1:8000", "token": "fdk_saved"})
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    assert Client().token == "fdk_saved"
    assert Client("127.0.0.1:8000/").token == "fdk_saved"
    assert Client("http://elsewhere:8000").token is None
    monkeypatch.setenv("FLOWDECK_TOKEN", "fdk_env")
    assert Client("http://elsewhere:8000").token == "fdk_env"
