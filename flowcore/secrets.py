"""Hide the values of secret env vars (`secret: true`) in spec documents.

Every document shown to a person or a client goes through `mask_secrets`;
every document saved goes through `restore_secrets`, which puts the stored
value back wherever the mask comes back unchanged, so a document read, edited
and saved keeps its secrets. What else may hold a secret value is masked by
the helpers below it: an attempt's rendered task (`mask_request`), a run's or
a schedule's parameters that a secret variable uses (`mask_parameters`) and a
debug run's overrides (`mask_overrides`). Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flowcore.spec import FieldError, SpecError
from flowcore.spec_base import PARAM_REF

MASK = "••••••"


def _secret_entries(
    document: Mapping[str, Any],
) -> Iterator[tuple[int, int, Mapping[str, Any], Mapping[str, Any]]]:
    """(task index, env index, task, env entry) of every env entry whose value
    is a string; malformed parts are skipped (validation reports them)."""
    spec = document.get("spec")
    tasks = spec.get("tasks") if isinstance(spec, Mapping) else None
    if not isinstance(tasks, list):
        return
    for t, task in enumerate(tasks):
        env = task.get("env") if isinstance(task, Mapping) else None
        if not isinstance(env, list):
            continue
        for e, entry in enumerate(env):
            if isinstance(entry, Mapping) and isinstance(entry.get("value"), str):
                yield t, e, task, entry


def mask_secrets(document: Mapping[str, Any] | None) -> Any:
    """A copy of `document` with the value of every secret env var replaced by
    MASK (the document itself is not changed)."""
    if not isinstance(document, Mapping):
        return document
    hidden = [
        (t, e) for t, e, _, entry in _secret_entries(document) if entry.get("secret")
    ]
    if not hidden:
        return document
    masked = dict(document)
    spec = masked["spec"] = dict(masked["spec"])
    tasks = spec["tasks"] = list(spec["tasks"])
    for t, e in hidden:
        task = tasks[t] = dict(tasks[t])
        env = task["env"] = list(task["env"])
        env[e] = {**env[e], "value": MASK}
    return masked


def _stored_secrets(previous: Mapping[str, Any] | None) -> dict[tuple[str, str], str]:
    if not isinstance(previous, Mapping):
        return {}
    return {
        (str(task.get("name")), str(entry.get("name"))): entry["value"]
        for _, _, task, entry in _secret_entries(previous)
        if entry.get("secret")
    }


def mask_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an attempt's rendered task (Attempt.request) whose secret env
    values read MASK."""
    masked = dict(request)
    env = masked.get("env")
    if isinstance(env, list):
        masked["env"] = [
            {**entry, "value": MASK}
            if isinstance(entry, Mapping) and entry.get("secret")
            else entry
            for entry in env
        ]
    # Extra containers' values are secret when they read a secret output.
    for key in ("init_containers", "sidecars"):
        containers = masked.get(key)
        if isinstance(containers, list):
            masked[key] = [
                mask_request(item) if isinstance(item, Mapping) else item
                for item in containers
            ]
    return masked


def secret_parameters(document: Mapping[str, Any] | None) -> frozenset[str]:
    """The names of the parameters whose value a secret env var takes in
    (`value: "{{params.token}}"`): a run's value for one is as secret."""
    if not isinstance(document, Mapping):
        return frozenset()
    return frozenset(
        match.group(1)
        for _, _, _, entry in _secret_entries(document)
        if entry.get("secret")
        for match in PARAM_REF.finditer(entry["value"])
    )


def mask_parameters(
    parameters: Mapping[str, Any] | None, document: Mapping[str, Any] | None
) -> Any:
    """A copy of a run's (or schedule's) `parameters` whose values that a
    secret env var of `document` uses read MASK."""
    if not isinstance(parameters, Mapping):
        return parameters
    hidden = secret_parameters(document)
    return {
        name: MASK if name in hidden else value for name, value in parameters.items()
    }


def mask_overrides(
    overrides: Mapping[str, Any] | None, document: Mapping[str, Any] | None, task: str
) -> Any:
    """A copy of a debug run's `overrides` of `task` whose env values read
    MASK where they replace a secret env var of the task in `document`."""
    if not isinstance(overrides, Mapping) or not isinstance(overrides.get("env"), list):
        return overrides
    secret = {
        name for task_name, name in _stored_secrets(document) if task_name == task
    }
    return {
        **overrides,
        "env": [
            {**entry, "value": MASK}
            if isinstance(entry, Mapping) and str(entry.get("name")) in secret
            else entry
            for entry in overrides["env"]
        ],
    }


def restore_secrets(
    document: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`document` with every MASK value of a secret env var replaced by the
    value the same task's same secret env var has in `previous` (the stored
    document). SpecError when a mask has no stored value to stand for, or when
    an entry keeping the mask is no longer marked secret (which would reveal
    the stored value)."""
    masked = [
        (t, e, task, entry)
        for t, e, task, entry in _secret_entries(document)
        if entry["value"] == MASK
    ]
    if not masked:
        return dict(document)
    stored = _stored_secrets(previous)
    errors: list[FieldError] = []
    restored = dict(document)
    spec = restored["spec"] = dict(restored["spec"])
    tasks = spec["tasks"] = list(spec["tasks"])
    for t, e, task, entry in masked:
        path = f"spec.tasks[{t}].env[{e}].value"
        key = (str(task.get("name")), str(entry.get("name")))
        if not entry.get("secret"):
            errors.append(
                FieldError(
                    path,
                    f"{MASK} stands for a hidden secret value; keep `secret: true` "
                    "or type the value",
                )
            )
        elif key not in stored:
            errors.append(
                FieldError(
                    path,
                    f"{MASK} stands for a hidden secret value, but task {key[0]!r} "
                    f"has no stored secret {key[1]!r}; type the value",
                )
            )
        else:
            copy = tasks[t] = dict(tasks[t])
            env = copy["env"] = list(copy["env"])
            env[e] = {**env[e], "value": stored[key]}
    if errors:
        raise SpecError(errors)
    return restored
