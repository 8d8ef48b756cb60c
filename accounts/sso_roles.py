"""Pure: the identity provider's groups -> Flowdeck project roles.

FLOWDECK_OIDC_GROUP_ROLES is a JSON object from a group name to the project
roles its members get, each a [project name, role] pair:

    {"data-eng": [["etl", "editor"], ["reports", "viewer"]],
     "platform": [["etl", "admin"]]}

A person in several groups that name the same project gets the highest of
their roles there (admin > operator > editor > viewer). No Django here: the
settings parse it at start-up and the login applies it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

# Weakest first, as workflows.models.Role lists them (a test checks they agree).
ROLE_ORDER = ("viewer", "editor", "operator", "admin")

GroupRoles = dict[str, list[tuple[str, str]]]


def parse_group_roles(text: str) -> GroupRoles:
    """The mapping in `text` (empty: no mapping); ValueError says what is
    wrong and where."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not JSON: {error.msg} at character {error.pos}") from None
    if not isinstance(raw, dict):
        raise ValueError('must be a JSON object: {"group": [["project", "role"]]}')
    mapping: GroupRoles = {}
    for group, grants in raw.items():
        if not isinstance(grants, list):
            raise ValueError(f"[{group!r}] must be a list of [project, role] pairs")
        pairs: list[tuple[str, str]] = []
        for index, grant in enumerate(grants):
            where = f"[{group!r}][{index}]"
            if (
                not isinstance(grant, list)
                or len(grant) != 2
                or not all(isinstance(part, str) and part for part in grant)
            ):
                raise ValueError(f"{where} must be a [project, role] pair of names")
            project, role = grant
            if role not in ROLE_ORDER:
                raise ValueError(
                    f"{where}: role {role!r} is not one of {', '.join(ROLE_ORDER)}"
                )
            pairs.append((project, role))
        mapping[str(group)] = pairs
    return mapping


def roles_for(
    groups: Iterable[str], mapping: Mapping[str, list[tuple[str, str]]]
) -> dict[str, str]:
    """Project name -> role for someone in `groups`: the highest role any of
    their groups grants in each project. Groups the mapping does not name
    grant nothing."""
    best: dict[str, str] = {}
    for group in set(groups):
        for project, role in mapping.get(group, ()):
            current = best.get(project)
            if current is None or ROLE_ORDER.index(role) > ROLE_ORDER.index(current):
                best[project] = role
    return best


def groups_from_claim(value: object) -> list[str]:
    """The groups claim as a list of names: providers send a list, some a
    single string or a space/comma-separated one; anything else is none."""
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split() if part]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str) and item]
    return []
