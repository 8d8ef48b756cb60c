"""Load a workflow spec document from JSON or YAML text, and dump one as YAML.

Pure: no Django, no Kubernetes. YAML is read with the YAML 1.2 core schema and
JSON's types only, since the document is stored as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Mapping
from typing import Any, TypeAlias

import yaml

from flowcore.spec_base import FieldError, SpecError

_YAML_TAG = "tag:yaml.org,2002:"
# YAML 1.2 core schema scalars. PyYAML implements YAML 1.1, where an unquoted `on`
# key (retry.on!) reads as True, `no` as False, 2024-01-01 as a date, 010 as 8 and
# 1:30 as 90: all silently wrong for this format.
_YAML12_SCALARS = (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
)


# libyaml's parser is about ten times faster and caps nesting depth itself.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc]
    """Safe loading with YAML 1.2 scalars and no duplicate keys."""

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Hashable, Any]:
        # A repeated key would otherwise silently drop the first value.
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = (key_node.tag, key_node.value)
            if key_node.tag == _YAML_TAG + "merge":
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Hashable, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_TOO_LONG = "a number has more digits than can be read (4300)"


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    try:
        return int(text, 10)
    except ValueError:
        if not text.lstrip("+-").isdigit():
            raise  # `!!int abc`, reported as it is
        raise yaml.constructor.ConstructorError(
            None, None, _TOO_LONG, node.start_mark
        ) from None


class _Dumper(yaml.SafeDumper):
    def represent_str(self, data: str) -> yaml.ScalarNode:
        # A reader turns a raw NEL (U+0085) into a line break, even inside quotes;
        # only the escape in a double-quoted string keeps it.
        style = '"' if "\x85" in data else None
        return self.represent_scalar(_YAML_TAG + "str", data, style=style)


_REPLACED_TAGS = {_YAML_TAG + name for name in ("bool", "int", "float", "timestamp")}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor(_YAML_TAG + "int", _construct_int)
# Only JSON's types: the document is stored as JSON. An explicit !!timestamp,
# !!binary, !!set, !!omap or !!pairs tag becomes a syntax error with its line.
for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    del _Loader.yaml_constructors[_YAML_TAG + _tag]
_Dumper.add_representer(str, _Dumper.represent_str)
for _name, _pattern, _first in _YAML12_SCALARS:
    _Loader.add_implicit_resolver(_YAML_TAG + _name, re.compile(_pattern), list(_first))
    # The dumper knows both schemas, so it quotes any string either would misread.
    _Dumper.add_implicit_resolver(_YAML_TAG + _name, re.compile(_pattern), list(_first))


class _DuplicateJSONKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateJSONKey
    return result


def _document_error(message: str) -> SpecError:
    return SpecError([FieldError("", message)])


def _line_and_column(text: str, position: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1


def _yaml_message(text: str, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        message = f"invalid YAML{where}: {problem}"
        if exc.problem and exc.context and exc.context_mark:
            context = exc.context_mark
            message += (
                f" ({exc.context} at line {context.line + 1},"
                f" column {context.column + 1})"
            )
        return message
    if isinstance(exc, yaml.reader.ReaderError):
        position = exc.position
        if _SafeLoader is not yaml.SafeLoader:  # libyaml counts UTF-8 bytes
            position = len(text.encode()[:position].decode(errors="ignore"))
        line, column = _line_and_column(text, position)
        return (
            f"invalid YAML at line {line}, column {column}: "
            f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        )
    return f"invalid YAML: {exc}"


def _load(text: str) -> Any:
    json_error = None
    if text.lstrip()[:1] in ("{", "["):
        # JSON first: it is what the editor sends, json is faster, and its error
        # messages fit JSON better than YAML's do.
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs)
        except _DuplicateJSONKey:
            pass  # YAML reports the duplicate with its line and column
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            json_error = f"invalid JSON at {where}: {exc.msg}"
        except ValueError:
            # Python reads no integer of more than 4300 digits (a guard against
            # quadratic conversions); YAML's reader below refuses it as well.
            json_error = f"invalid JSON: {_TOO_LONG}"
        except RecursionError:
            json_error = "invalid JSON: nested too deeply"
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        message = json_error or _yaml_message(text, exc)
    except RecursionError:
        message = json_error or "invalid YAML: nested too deeply"
    except (ValueError, TypeError, OverflowError) as exc:
        # Raised by constructors of explicit tags such as `!!int abc`.
        message = json_error or f"invalid YAML: {exc}"
    raise _document_error(message)


def parse_document(text: str | bytes) -> dict[str, Any]:
    """Load a JSON or YAML document into a mapping; a syntax error names its line."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = f"document is not valid UTF-8 (byte {exc.start})"
            raise _document_error(message) from None
    document = _load(text.removeprefix("\ufeff"))
    if not isinstance(document, dict):
        raise _document_error("document must be a mapping")
    return document


def parse_documents(text: str | bytes) -> list[Any]:
    """Every document of a YAML stream (`---` between them), read as
    parse_document reads one; empty ones left out. SpecError naming the line
    of a syntax error."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = f"document is not valid UTF-8 (byte {exc.start})"
            raise _document_error(message) from None
    text = text.removeprefix("\ufeff")
    try:
        loaded = list(yaml.load_all(text, Loader=_Loader))  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        message = _yaml_message(text, exc)
    except RecursionError:
        message = "invalid YAML: nested too deeply"
    except (ValueError, TypeError, OverflowError) as exc:
        message = f"invalid YAML: {exc}"
    else:
        return [document for document in loaded if document is not None]
    raise _document_error(message)


def dump_yaml(value: Any) -> str:
    """Any JSON-shaped value as YAML, keys in their order, strings quoted
    wherever a YAML 1.1 or 1.2 reader would take them for something else."""
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def dump_document(spec_document: Mapping[str, Any], *, blocks: bool = False) -> str:
    """The document as YAML for export, each object's fields in the format's
    order; parse_document reads it back unchanged. `blocks`: multi-line text
    (a script) as a literal block (`|`) wherever that keeps it exactly."""
    return yaml.dump(
        _plain(spec_document, _DOCUMENT),
        Dumper=_BlockDumper if blocks else _Dumper,
        sort_keys=False,
        allow_unicode=True,
    )


class _BlockDumper(_Dumper):
    def represent_str(self, data: str) -> yaml.ScalarNode:
        if "\n" in data and _BLOCK_SAFE.fullmatch(data):
            return self.represent_scalar(_YAML_TAG + "str", data, style="|")
        return super().represent_str(data)


# A literal block keeps text exactly unless a line ends in white space, or it
# holds a control character or a line break other than \n.
_BLOCK_SAFE = re.compile(
    r"(?:[^\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]*[^\s])?(?:\n(?:[^\x00-\x1f\x7f\x85\u2028\u2029\ufeff]*[^\s])?)*\n?"
)
_BlockDumper.add_representer(str, _BlockDumper.represent_str)


# PostgreSQL's jsonb keeps no key order: a stored document comes back with "args"
# before "name". So a dump lists each object's fields in the order docs/spec.md
# defines them, and any other keys (labels, nodeSelector, ui, resource names,
# unknown fields) after them in their own order. The items of a list share one
# shape; None means free-form.
_Shape: TypeAlias = Mapping[str, "_Shape | None"]

_KEY_REF: _Shape = dict.fromkeys(("name", "key", "optional"))
_RETRY: _Shape = {
    "limit": None,
    "backoff": dict.fromkeys(("delay", "factor", "maxDelay")),
    "on": None,
}
_KEY_PATHS: _Shape = dict.fromkeys(("key", "path", "mode"))
_SECURITY_CONTEXT: _Shape = {
    "runAsUser": None,
    "runAsGroup": None,
    "runAsNonRoot": None,
    "readOnlyRootFilesystem": None,
    "allowPrivilegeEscalation": None,
    "privileged": None,
    "capabilities": dict.fromkeys(("add", "drop")),
}
_AFFINITY: _Shape = dict.fromkeys(("nodeAffinity", "podAffinity", "podAntiAffinity"))
_ENV: _Shape = {
    "name": None,
    "value": None,
    "valueFrom": {"secretKeyRef": _KEY_REF, "configMapKeyRef": _KEY_REF},
    "secret": None,
}
_MOUNT: _Shape = dict.fromkeys(("name", "mountPath", "subPath", "readOnly"))
_CONTAINER: _Shape = {
    "name": None,
    "image": None,
    "imagePullPolicy": None,
    "command": None,
    "args": None,
    "workingDir": None,
    "env": _ENV,
    "resources": dict.fromkeys(("requests", "limits")),
    "volumeMounts": _MOUNT,
}
_TASK: _Shape = {
    "name": None,
    "image": None,
    "imagePullPolicy": None,
    "command": None,
    "args": None,
    "workingDir": None,
    "env": _ENV,
    "resources": dict.fromkeys(("requests", "limits")),
    "volumes": {
        "name": None,
        "emptyDir": dict.fromkeys(("medium", "sizeLimit")),
        "configMap": {"name": None, "items": _KEY_PATHS},
        "secret": {"secretName": None, "items": _KEY_PATHS},
        "persistentVolumeClaim": dict.fromkeys(("claimName", "readOnly")),
    },
    "volumeMounts": _MOUNT,
    "securityContext": _SECURITY_CONTEXT,
    "nodeSelector": None,
    "tolerations": dict.fromkeys(
        ("key", "operator", "value", "effect", "tolerationSeconds")
    ),
    "affinity": _AFFINITY,
    "priorityClassName": None,
    "serviceAccountName": None,
    "imagePullSecrets": None,
    "priority": None,
    "retry": _RETRY,
    "timeout": None,
    "dependencies": None,
    "initContainers": _CONTAINER,
    "sidecars": _CONTAINER,
    "kind": None,
    "job": dict.fromkeys(
        (
            "completions",
            "parallelism",
            "completionMode",
            "backoffLimit",
            "activeDeadlineSeconds",
            "ttlSecondsAfterFinished",
            "podFailurePolicy",
        )
    ),
    "daemon": None,
    "ports": dict.fromkeys(("name", "port")),
    "readinessProbe": None,
    "persistent": None,
    "storage": dict.fromkeys(("size", "storageClassName", "mountPath")),
}
_DOCUMENT: _Shape = {
    "apiVersion": None,
    "kind": None,
    "metadata": dict.fromkeys(("name", "description", "labels")),
    "spec": {
        "parameters": dict.fromkeys(("name", "default", "description")),
        "defaults": {
            "image": None,
            "imagePullPolicy": None,
            "securityContext": _SECURITY_CONTEXT,
            "affinity": _AFFINITY,
            "priorityClassName": None,
            "serviceAccountName": None,
            "imagePullSecrets": None,
            "retry": _RETRY,
            "timeout": None,
        },
        "parallelism": None,
        "failFast": None,
        "maxActiveRuns": None,
        "synchronization": dict.fromkeys(("semaphore", "mutex")),
        "timeout": None,
        "sla": None,
        "namespace": None,
        "tasks": _TASK,
        "ui": None,
    },
}


def _plain(value: Any, shape: _Shape | None) -> Any:
    """`value` as plain dicts and lists, a mapping's keys ordered by its shape."""
    if isinstance(value, Mapping):
        keys = list(value)
        if shape is not None:
            keys = [key for key in shape if key in value] + [
                key for key in keys if key not in shape
            ]
        return {
            key: _plain(value[key], None if shape is None else shape.get(key))
            for key in keys
        }
    if isinstance(value, list | tuple):
        return [_plain(item, shape) for item in value]
    return value
