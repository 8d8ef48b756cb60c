"""The task fields shaped like a Kubernetes Pod's: resources, volumes and their
mounts, the security context, affinity, tolerations, pull secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from decimal import Decimal
from functools import partial
from typing import Any

from flowcore.spec_base import (
    AFFINITY_KINDS,
    ALLOW_PRIVILEGED_SETTING,
    EMPTY_DIR_MEDIA,
    MAX_AFFINITY_WEIGHT,
    MAX_FILE_MODE,
    MAX_ID,
    MAX_TOLERATION_SECONDS,
    STANDARD_RESOURCES,
    TOLERATION_EFFECTS,
    TOLERATION_OPERATORS,
    VOLUME_SOURCES,
    FieldError,
    field_path,
    quantity_maximum,
    quantity_text,
    quantity_value,
)
from flowcore.validation.checks import (
    Checks,
    _Check,
    _is_list,
    _mapping_at,
    _name_of,
    _unknown_field,
)

_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")

_CAPABILITY = re.compile(r"[A-Z][A-Z0-9_]*")
# The Kubernetes model of each kind of affinity, checked field by field.

_AFFINITY_MODELS = {
    "nodeAffinity": "V1NodeAffinity",
    "podAffinity": "V1PodAffinity",
    "podAntiAffinity": "V1PodAntiAffinity",
}

_PYDANTIC_MESSAGES = {
    "missing": "is required",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}

_NOT_ALLOWED = (
    "is not allowed unless an administrator allows privileged containers"
    f" ({ALLOW_PRIVILEGED_SETTING})"
)

_MODEL_TYPE = re.compile(r"(List\[)?(V1\w+)\]?")


def _volumes_of(task: object) -> set[str]:
    """The names of the volumes a task declares, for its mounts to refer to."""
    entries = task.get("volumes") if isinstance(task, Mapping) else None
    if not _is_list(entries):
        return set()
    return {name for entry in entries if (name := _name_of(entry)) is not None}


def _path_to(path: str, location: Sequence[object]) -> str:
    for part in location:
        path = f"{path}[{part}]" if isinstance(part, int) else field_path(path, part)
    return path


def _kubernetes_shape(
    value: Mapping[Any, Any], model: str, path: str
) -> list[FieldError]:
    """What Kubernetes' own model `model` (V1NodeAffinity, ...) finds wrong with
    `value`: unknown fields (its wire names only), missing ones, wrong types."""
    # Imported here: the client is slow to import and only these fields need it.
    # Without it (the command line's offline check) the server checks them.
    try:
        import pydantic
        from kubernetes.client import models
    except ImportError:
        return []

    errors: list[FieldError] = []
    model_class = getattr(models, model)
    _unknown_kubernetes_fields(value, model_class, path, errors)
    try:
        model_class.model_validate(dict(value))
    except pydantic.ValidationError as exc:
        for problem in exc.errors():
            if problem["type"] == "extra_forbidden":
                continue  # reported above, with the wire names
            message = _PYDANTIC_MESSAGES.get(problem["type"], problem["msg"])
            errors.append(FieldError(_path_to(path, problem["loc"]), message))
    return errors


def _unknown_kubernetes_fields(
    value: object, model_class: Any, path: str, errors: list[FieldError]
) -> None:
    from kubernetes.client import models

    if not isinstance(value, Mapping):
        return  # a type error, which the model reports
    types = {
        wire: model_class.openapi_types[name]
        for name, wire in model_class.attribute_map.items()
    }
    for key, item in value.items():
        where = field_path(path, key)
        if key not in types:
            errors.append(FieldError(where, _unknown_field(key)))
            continue
        nested = _MODEL_TYPE.fullmatch(types[key])
        if nested is None or item is None:
            continue
        inner = getattr(models, nested.group(2))
        if nested.group(1) is None:
            _unknown_kubernetes_fields(item, inner, where, errors)
        elif _is_list(item):
            for i, element in enumerate(item):
                _unknown_kubernetes_fields(element, inner, f"{where}[{i}]", errors)


def _resource_name_ok(name: str) -> bool:
    return name in STANDARD_RESOURCES or "/" in name


def _valid_quantities(value: object) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        return {}
    result = {}
    for name, amount in value.items():
        if isinstance(name, str) and _resource_name_ok(name):
            # A bad or too large quantity is reported where quantities are
            # checked, not compared again.
            with suppress(ValueError):
                parsed = quantity_value(amount)
                if parsed <= quantity_maximum(name)[0]:
                    result[name] = parsed
    return result


class PodChecks(Checks):
    """Checks of the Kubernetes-shaped fields of a task."""

    def resources(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "requests": self.quantities,
            "limits": self.quantities,
        }
        resources = self.fields(value, path, checks)
        if resources is None:
            return
        written = resources.get("limits")
        written = written if isinstance(written, Mapping) else {}
        requests = _valid_quantities(resources.get("requests"))
        limits = _valid_quantities(written)
        for name, amount in requests.items():
            where = field_path(field_path(path, "requests"), name)
            limit = limits.get(name)
            if "/" in name and name not in written:
                # Kubernetes rejects a pod that overcommits an extended resource.
                self.error(where, "must also be set in limits for an extended resource")
            elif limit is None:
                continue  # no limit, or an invalid one reported where it is
            elif "/" in name and amount != limit:
                self.error(where, "must equal the limit for an extended resource")
            elif amount > limit:
                shown = quantity_text(written[name])
                self.error(where, f"must not exceed the limit ({shown})")

    def quantities(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return
        for name, amount in value.items():
            where = field_path(path, name)
            if isinstance(name, str) and not self.storable(name, where):
                continue
            if not isinstance(name, str) or not _resource_name_ok(name):
                self.error(
                    where,
                    f"unknown resource {name!r}: use cpu, memory, ephemeral-storage"
                    " or an extended resource such as nvidia.com/gpu",
                )
                continue
            parsed = self.quantity(amount, where, quantity_maximum(name))
            if parsed is None:
                continue
            if "/" in name and parsed != parsed.to_integral_value():
                self.error(where, "must be a whole number for an extended resource")

    def image_pull_secrets(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            if not self.dns_subdomain(item, where):
                continue
            if item in first:
                self.error(where, f"duplicate secret {item!r} (first at {first[item]})")
            else:
                first[item] = where

    def affinity(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            kind: partial(self.kubernetes_object, model=_AFFINITY_MODELS[kind])
            for kind in AFFINITY_KINDS
        }
        affinity = self.fields(value, path, checks)
        if affinity is not None:
            self.affinity_weights(affinity, path)

    def affinity_weights(self, affinity: Mapping[Any, Any], path: str) -> None:
        """Kubernetes' range for each preferred term's weight, which its model
        types but does not bound; a type error is the model's to report."""
        preferred = "preferredDuringSchedulingIgnoredDuringExecution"
        for kind in AFFINITY_KINDS:
            terms = _mapping_at(affinity, kind).get(preferred)
            if not _is_list(terms):
                continue
            where = field_path(field_path(path, kind), preferred)
            for i, term in enumerate(terms):
                weight = term.get("weight") if isinstance(term, Mapping) else None
                if type(weight) is int:
                    self.integer(weight, f"{where}[{i}].weight", 1, MAX_AFFINITY_WEIGHT)

    def kubernetes_object(self, value: object, path: str, model: str) -> None:
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return
        self.errors.extend(_kubernetes_shape(value, model, path))
        self.free_form(value, path)

    def volumes(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.volume_name, first=first, entry=where),
                "emptyDir": self.empty_dir,
                "configMap": self.config_map_volume,
                "secret": self.secret_volume,
                "persistentVolumeClaim": self.claim_volume,
            }
            volume = self.fields(item, where, checks, required=("name",))
            if volume is None:
                continue
            if sum(volume.get(key) is not None for key in VOLUME_SOURCES) != 1:
                self.error(
                    where,
                    "must set exactly one of emptyDir, configMap, secret or"
                    " persistentVolumeClaim",
                )

    def volume_name(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.dns_label(value, path):
            return
        if value in first:
            self.error(path, f"duplicate volume {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def empty_dir(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "medium": partial(self.choice, choices=EMPTY_DIR_MEDIA),
            "sizeLimit": self.quantity,
        }
        self.fields(value, path, checks)

    def config_map_volume(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "name": self.dns_subdomain,
            "items": self.key_paths,
        }
        self.fields(value, path, checks, required=("name",))

    def secret_volume(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "secretName": self.dns_subdomain,
            "items": self.key_paths,
        }
        self.fields(value, path, checks, required=("secretName",))

    def claim_volume(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "claimName": self.dns_subdomain,
            "readOnly": self.boolean,
        }
        self.fields(value, path, checks, required=("claimName",))

    def key_paths(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "key": self.config_key,
                "path": self.relative_path,
                "mode": partial(self.integer, low=0, high=MAX_FILE_MODE),
            }
            self.fields(item, where, checks, required=("key", "path"))

    def config_key(self, value: object, path: str) -> None:
        if self.string(value, path, nonempty=True) and not _CONFIG_KEY.fullmatch(value):
            self.error(path, "must be letters, digits, '-', '_' and '.'")

    def volume_mounts(self, value: object, path: str, declared: set[str]) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.mount_name, declared=declared),
                "mountPath": partial(self.mount_path, first=first, entry=where),
                "readOnly": self.boolean,
                "subPath": self.relative_path,
            }
            self.fields(item, where, checks, required=("name", "mountPath"))

    def mount_name(self, value: object, path: str, declared: set[str]) -> None:
        if self.string(value, path, nonempty=True) and value not in declared:
            self.error(path, f"unknown volume {value!r}: declare it in volumes")

    def mount_path(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.absolute_path(value, path):
            return
        if value in first:
            self.error(path, f"duplicate mountPath {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def security_context(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "runAsUser": partial(self.integer, low=0, high=MAX_ID),
            "runAsGroup": partial(self.integer, low=0, high=MAX_ID),
            "runAsNonRoot": self.boolean,
            "readOnlyRootFilesystem": self.boolean,
            "allowPrivilegeEscalation": self.privilege_flag,
            "privileged": self.privilege_flag,
            "capabilities": self.capabilities,
        }
        context = self.fields(value, path, checks)
        if context is not None:
            self.security_rules(context, path)

    def privilege_flag(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            self.error(path, "must be true or false")
        elif value and not self.limits.allow_privileged:
            name = path.rsplit(".", 1)[-1]
            self.error(path, f"{name}: true {_NOT_ALLOWED}")

    def capabilities(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "add": partial(self.capability_list, adding=True),
            "drop": partial(self.capability_list, adding=False),
        }
        self.fields(value, path, checks)

    def capability_list(self, value: object, path: str, adding: bool) -> None:
        items = self.items(value, path)
        for where, item in items:
            if self.string(item, where, nonempty=True) and not _CAPABILITY.fullmatch(
                item
            ):
                self.error(
                    where,
                    "must be a capability name in capitals, such as NET_ADMIN or ALL",
                )
        if adding and items and not self.limits.allow_privileged:
            self.error(path, f"adding capabilities {_NOT_ALLOWED}")

    def security_rules(self, context: Mapping[Any, Any], path: str) -> None:
        # The rules Kubernetes enforces, so the pod is not refused at run time.
        escalation = context.get("allowPrivilegeEscalation")
        if escalation is False:
            where = field_path(path, "allowPrivilegeEscalation")
            if context.get("privileged") is True:
                self.error(where, "must not be false when privileged is true")
            added = _mapping_at(context, "capabilities").get("add")
            if _is_list(added) and {"SYS_ADMIN", "CAP_SYS_ADMIN"} & {
                item for item in added if isinstance(item, str)
            }:
                self.error(where, "must not be false when adding SYS_ADMIN")
        user = context.get("runAsUser")
        if context.get("runAsNonRoot") is True and user == 0 and type(user) is int:
            self.error(
                field_path(path, "runAsUser"), "must not be 0 when runAsNonRoot is true"
            )

    def tolerations(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "key": self.string,
                "operator": partial(self.choice, choices=TOLERATION_OPERATORS),
                "value": self.string,
                "effect": partial(self.choice, choices=TOLERATION_EFFECTS),
                "tolerationSeconds": partial(
                    self.integer, low=0, high=MAX_TOLERATION_SECONDS
                ),
            }
            toleration = self.fields(item, where, checks)
            if toleration is not None:
                self.toleration_rules(toleration, where)

    def toleration_rules(self, toleration: Mapping[Any, Any], path: str) -> None:
        # The rules Kubernetes enforces, so the pod is not rejected at run time.
        # Each applies only to well-typed fields, which were checked just before.
        operator = toleration.get("operator") or "Equal"
        value, key = toleration.get("value"), toleration.get("key")
        if operator == "Exists" and isinstance(value, str) and value:
            self.error(
                field_path(path, "value"), "must be empty when operator is Exists"
            )
        if operator == "Equal" and key in (None, ""):
            self.error(field_path(path, "key"), "is required unless operator is Exists")
        seconds = toleration.get("tolerationSeconds")
        if (
            isinstance(seconds, int)
            and not isinstance(seconds, bool)
            and toleration.get("effect") != "NoExecute"
        ):
            self.error(
                field_path(path, "tolerationSeconds"), "needs effect NoExecute to apply"
            )
