"""requirements.lock pins what pyproject.toml asks for (see `make lock`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)
    }


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [Requirement(line) for line in wanted]


def test_every_requirement_is_pinned_with_a_version_it_allows():
    pins = _pins()
    problems = []
    for requirement in _requirements():
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} is outside {requirement}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_every_pin_carries_a_hash():
    blocks = re.split(
        r"\n(?=[A-Za-z0-9_.-]+==)", (ROOT / "requirements.lock").read_text()
    )
    unhashed = [
        block.split()[0]
        for block in blocks
        if "==" in block.split()[0] and "--hash=sha256:" not in block
    ]
    assert not unhashed
