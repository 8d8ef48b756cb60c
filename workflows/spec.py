"""Parse and validate a workflow spec document (JSON or YAML) into plain dataclasses.

Pure: no Django, no HTTP, no Kubernetes API calls. Every error carries the path of
the field it is about ("spec.tasks[3].resources.limits.cpu") so the API and the
editor can point at it. The format is documented in docs/spec.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any, TypeGuard

import yaml

API_VERSION = "flowdeck.io/v1"
KIND = "Workflow"
DEFAULT_MAX_TASKS = 2000
DEFAULT_MAX_SPEC_BYTES = 2 * 1024 * 1024
DEFAULT_RETRY_ON = ("Failed", "Error")
MAX_NAME_LENGTH = 63
MAX_RETRY_LIMIT = 50
MIN_PRIORITY = -1000
MAX_PRIORITY = 1000
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class SpecError(ValueError):
    """The document is not a valid workflow spec; `errors` lists every problem."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Backoff:
    delay: float = 10.0  # seconds before the first retry
    factor: float = 2.0
    max_delay: float = 300.0

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1 = first retry)."""
        return min(self.max_delay, self.delay * self.factor ** (retry_number - 1))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    limit: int = 0  # retries after the first attempt
    backoff: Backoff = field(default_factory=Backoff)
    on: frozenset[str] = frozenset(DEFAULT_RETRY_ON)  # task statuses that retry


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str | None = None
    value_from: Mapping[str, Any] | None = None  # Kubernetes EnvVarSource shape
    secret: bool = False  # the value is never shown back


@dataclass(frozen=True, slots=True)
class Resources:
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    default: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    image: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()
    resources: Resources = field(default_factory=Resources)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    priority: int = 0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None  # seconds per attempt
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    name: str
    tasks: tuple[TaskSpec, ...]
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    parameters: tuple[Parameter, ...] = ()
    parallelism: int | None = None  # max tasks running at once in one run
    fail_fast: bool = False
    timeout: float | None = None  # seconds for the whole run
    ui: Mapping[str, Any] = field(default_factory=dict)

    def task(self, name: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Limits:
    max_tasks: int = DEFAULT_MAX_TASKS
    max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES


# --- loading -------------------------------------------------------------------

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


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


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


def dump_document(spec_document: Mapping[str, Any]) -> str:
    """The document as YAML in its own key order, for export; parse_document reads
    it back unchanged."""
    return yaml.dump(
        _plain(spec_document), Dumper=_Dumper, sort_keys=False, allow_unicode=True
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


# --- scalars -------------------------------------------------------------------

_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PARAM_REF = re.compile(r"\{\{\s*params\.([^{}\s]*)\s*\}\}")
_SECONDS = re.compile(r"[0-9]+")
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Kubernetes' quantity grammar; parse_quantity alone also takes " 1", "NaN", "1_0".
_QUANTITY = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"  # the number
    r"(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"  # binary, decimal or exponent
)


def parse_duration(text: str) -> float:
    """'90s', '10m', '1h30m', '2h', '1d', '500ms' or '90' -> seconds; raises
    ValueError."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: must be a string")
    if _SECONDS.fullmatch(text):
        seconds = float(text)
    elif _DURATION.fullmatch(text):
        seconds = sum(
            float(number) * _UNIT_SECONDS[unit]
            for number, unit in _DURATION_PART.findall(text)
        )
    else:
        raise ValueError(
            f"invalid duration {text!r}: use numbers with units ms, s, m, h, d,"
            " such as '90s', '10m' or '1h30m'"
        )
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {text!r}: too large")
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be greater than zero")
    return seconds


def _seconds(value: object) -> float:
    """A duration field's value (a duration string or whole seconds) in seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("must be greater than zero")
        try:
            return float(value)
        except OverflowError:
            raise ValueError("is too large") from None
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("must be a duration such as '90s' or a whole number of seconds")


def _quantity_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("must be a quantity such as 250m, 1, 512Mi or 2Gi")


def _quantity(value: object) -> Decimal:
    return _parse_quantity(_quantity_text(value))


@lru_cache(maxsize=1024)  # specs repeat a handful of values many times over
def _parse_quantity(text: str) -> Decimal:
    # Imported here, not at the top: importing any part of the kubernetes package
    # loads its whole API client (about 0.4 s), which the pure core should not pay
    # on import.
    from kubernetes.utils.quantity import parse_quantity

    invalid = f"invalid quantity {text!r}: use a number with an optional suffix,"
    invalid += " such as 250m, 1, 512Mi or 2Gi"
    if not _QUANTITY.fullmatch(text):
        raise ValueError(invalid)
    try:
        amount = Decimal(parse_quantity(text))  # type: ignore[no-untyped-call]
    except (ValueError, ArithmeticError):
        raise ValueError(invalid) from None
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


def _parameter_text(value: object) -> str | None:
    """A parameter value as the string substituted into the task; None if the
    value is not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"  # the YAML/JSON spelling, not Python's
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _join(path: str, key: object) -> str:
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    # Keys such as nvidia.com/gpu would make a dotted path ambiguous.
    text = json.dumps(key) if isinstance(key, str) else repr(key)
    return f"{path}[{text}]"


def _is_list(value: object) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    return isinstance(value, list | tuple)


def _mapping_at(value: object, key: str) -> Mapping[Any, Any]:
    item = value.get(key) if isinstance(value, Mapping) else None
    return item if isinstance(item, Mapping) else {}


def _name_of(task: object) -> str | None:
    name = task.get("name") if isinstance(task, Mapping) else None
    return name if isinstance(name, str) else None


def _shares_containers(document: object) -> bool:
    """Whether one list or mapping appears twice (a YAML alias, or a cycle)."""
    seen: set[int] = set()
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if id(node) in seen:
            return True
        seen.add(id(node))
        pending.extend(children)
    return False


def _unknown_field(key: object) -> str:
    if key is True:
        return (
            "unknown field true (YAML 1.1 reads an unquoted `on` key as true;"
            " quote it or load the document with parse_document)"
        )
    return f"unknown field {key!r}"


# --- validation ----------------------------------------------------------------

_TASKS = "spec.tasks"
_Check = Callable[[Any, str], object]


def _declared_parameters(spec: Mapping[Any, Any]) -> set[str]:
    declared = spec.get("parameters")
    if not _is_list(declared):
        return set()
    return {name for item in declared if (name := _name_of(item)) is not None}


def _find_cycles(
    tasks: Sequence[Any], index: Mapping[str, int]
) -> dict[tuple[int, int], str]:
    """{(task index, dependency index): "a -> b -> a"} for the dependency entry
    that closes each cycle, found by one depth-first search in document order.

    Edges run upstream -> downstream. Each DFS back edge closes exactly one cycle,
    so every cycle reported is distinct; removing the reported entries removes
    every cycle.
    """
    downstream: list[list[tuple[int, int]]] = [[] for _ in tasks]
    for i, task in enumerate(tasks):
        own = _name_of(task)
        dependencies = task.get("dependencies") if isinstance(task, Mapping) else None
        if not _is_list(dependencies):
            continue
        seen: set[str] = set()
        for j, dependency in enumerate(dependencies):
            if not isinstance(dependency, str):
                continue
            if dependency != own and dependency not in seen and dependency in index:
                downstream[index[dependency]].append((i, j))
            seen.add(dependency)

    names = {position: name for name, position in index.items()}
    closing: dict[tuple[int, int], str] = {}
    done: set[int] = set()
    for root in range(len(tasks)):
        if root in done:
            continue
        # Iterative, because a chain of 2000 tasks would pass the recursion limit.
        path = [root]
        on_path = {root: 0}
        pending = [iter(downstream[root])]
        while pending:
            for child, entry in pending[-1]:
                if child in on_path:
                    loop = [*path[on_path[child] :], child]
                    cycle = " -> ".join(names[node] for node in loop)
                    closing[(child, entry)] = f"dependency cycle: {cycle}"
                elif child not in done:
                    on_path[child] = len(path)
                    path.append(child)
                    pending.append(iter(downstream[child]))
                    break
            else:
                finished = path.pop()
                del on_path[finished]
                done.add(finished)
                pending.pop()
    return closing


class _Validator:
    """One pass over a document that collects every error instead of stopping."""

    def __init__(self, document: Mapping[Any, Any], limits: Limits) -> None:
        self.errors: list[FieldError] = []
        self.limits = limits
        spec = _mapping_at(document, "spec")
        # Gathered up front so references can be checked where they occur.
        self.parameters = _declared_parameters(spec)
        tasks = spec.get("tasks")
        task_list = list(tasks) if _is_list(tasks) else []
        self.task_index: dict[str, int] = {}
        for i, task in enumerate(task_list):
            name = _name_of(task)
            if name is not None:
                self.task_index.setdefault(name, i)
        self.default_image = _mapping_at(spec, "defaults").get("image") is not None
        self.cycles = _find_cycles(task_list, self.task_index)

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def fields(
        self,
        value: object,
        path: str,
        checks: Mapping[str, _Check],
        required: Sequence[str] = (),
    ) -> Mapping[Any, Any] | None:
        """Check an object's fields in document order; null means not set."""
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return None
        for key, item in value.items():
            where = _join(path, key)
            if not isinstance(key, str) or key not in checks:
                self.error(where, _unknown_field(key))
            elif item is None:
                if key in required:
                    self.error(where, "is required")
            else:
                checks[key](item, where)
        for key in required:
            if key not in value:
                self.error(_join(path, key), "is required")
        return value

    def items(self, value: object, path: str) -> list[tuple[str, Any]]:
        if not _is_list(value):
            self.error(path, "must be a list")
            return []
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]

    # scalars

    def string(
        self, value: object, path: str, nonempty: bool = False
    ) -> TypeGuard[str]:
        if not isinstance(value, str):
            self.error(path, "must be a string")
            return False
        if nonempty and not value.strip():
            self.error(path, "must not be empty")
            return False
        return True

    def boolean(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            self.error(path, "must be true or false")

    def integer(
        self, value: object, path: str, low: int | None = None, high: int | None = None
    ) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, "must be an integer")
        elif low is not None and high is not None and not low <= value <= high:
            self.error(path, f"must be between {low} and {high}")
        elif low is not None and value < low:
            self.error(path, f"must be at least {low}")

    def number_at_least_one(self, value: object, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, "must be a number")
        elif not math.isfinite(value) or value < 1:
            self.error(path, "must be a number at least 1")

    def choice(self, value: object, path: str, choices: Sequence[str]) -> bool:
        if not isinstance(value, str) or value not in choices:
            self.error(path, f"must be one of {', '.join(choices)}")
            return False
        return True

    def constant(self, value: object, path: str, expected: str) -> None:
        if value != expected:
            self.error(path, f"must be {expected!r}")

    def duration(self, value: object, path: str) -> None:
        try:
            _seconds(value)
        except ValueError as exc:
            self.error(path, str(exc))

    def dns_label(self, value: object, path: str) -> TypeGuard[str]:
        if not self.string(value, path, nonempty=True):
            return False
        if len(value) > MAX_NAME_LENGTH:
            self.error(path, f"must be at most {MAX_NAME_LENGTH} characters")
        elif not _DNS_LABEL.fullmatch(value):
            self.error(
                path,
                "must be lowercase letters, digits and '-', starting and ending"
                " with a letter or digit",
            )
        else:
            return True
        return False

    def identifier(self, value: object, path: str) -> TypeGuard[str]:
        if not self.string(value, path, nonempty=True):
            return False
        if not _IDENTIFIER.fullmatch(value):
            self.error(
                path, "must be letters, digits and '_', not starting with a digit"
            )
            return False
        return True

    def template(self, value: object, path: str, nonempty: bool = False) -> None:
        if not self.string(value, path, nonempty=nonempty):
            return
        names = dict.fromkeys(m.group(1) for m in _PARAM_REF.finditer(value))
        for name in names:
            if name not in self.parameters:
                self.error(path, f"refers to unknown parameter {name!r}")

    def templates(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            self.template(item, where)

    def string_map(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return
        for key, item in value.items():
            where = _join(path, key)
            if not isinstance(key, str):
                self.error(where, "keys must be strings")
            else:
                self.string(item, where)

    # the document

    def document(self, document: object) -> None:
        if not isinstance(document, Mapping):
            self.error("", "document must be a mapping")
            return
        self.size(document)
        self.fields(
            document,
            "",
            {
                "apiVersion": partial(self.constant, expected=API_VERSION),
                "kind": partial(self.constant, expected=KIND),
                "metadata": self.metadata,
                "spec": self.spec,
            },
            required=("apiVersion", "kind", "metadata", "spec"),
        )

    def size(self, document: object) -> None:
        """The document is stored as JSON: it must be strict JSON, and small."""
        limit = self.limits.max_spec_bytes
        try:
            if _shares_containers(document):
                # YAML aliases: count chunk by chunk, so an alias bomb is cut off
                # at the limit instead of being expanded in full.
                size = 0
                for chunk in json.JSONEncoder(allow_nan=False).iterencode(document):
                    size += len(chunk)
                    if size > limit:
                        break
            else:
                size = len(json.dumps(document, allow_nan=False))
        except TypeError:
            self.error("", "document must contain only JSON values")
        except ValueError as exc:
            if "Circular" in str(exc):
                self.error("", "document must not contain circular references")
            else:
                self.error("", "document must not contain NaN or infinite numbers")
        except RecursionError:
            self.error("", "document is nested too deeply")
        else:
            if size > limit:
                self.error("", f"document is larger than {limit} bytes as JSON")

    def metadata(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "name": self.dns_label,
            "description": self.string,
            "labels": self.string_map,
        }
        self.fields(value, path, checks, required=("name",))

    def spec(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "parameters": self.parameters_,
            "defaults": self.defaults,
            "parallelism": partial(self.integer, low=1),
            "failFast": self.boolean,
            "timeout": self.duration,
            "tasks": self.tasks,
            "ui": self.ui,
        }
        self.fields(value, path, checks, required=("tasks",))

    def ui(self, value: object, path: str) -> None:
        # Free-form editor state: only its shape is checked.
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")

    def parameters_(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.parameter_name, first=first, entry=where),
                "default": self.parameter_default,
                "description": self.string,
            }
            self.fields(item, where, checks, required=("name",))

    def parameter_name(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.identifier(value, path):
            return
        if value in first:
            self.error(path, f"duplicate parameter {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def parameter_default(self, value: object, path: str) -> None:
        if _parameter_text(value) is None:
            self.error(path, "must be a string, number or boolean")

    def defaults(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "image": self.image,
            "retry": self.retry,
            "timeout": self.duration,
        }
        self.fields(value, path, checks)

    def image(self, value: object, path: str) -> None:
        self.template(value, path, nonempty=True)

    def retry(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "limit": partial(self.integer, low=0, high=MAX_RETRY_LIMIT),
            "backoff": self.backoff,
            "on": self.retry_on,
        }
        self.fields(value, path, checks)

    def backoff(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "delay": self.duration,
            "factor": self.number_at_least_one,
            "maxDelay": self.duration,
        }
        self.fields(value, path, checks)

    def retry_on(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            self.choice(item, where, DEFAULT_RETRY_ON)

    # tasks

    def tasks(self, value: object, path: str) -> None:
        items = self.items(value, path)
        if _is_list(value) and not items:
            self.error(path, "must have at least one task")
        elif len(items) > self.limits.max_tasks:
            limit = self.limits.max_tasks
            self.error(path, f"must have at most {limit} tasks (has {len(items)})")
        for index, (where, item) in enumerate(items):
            self.task(item, where, index)

    def task(self, value: object, path: str, index: int) -> None:
        checks: dict[str, _Check] = {
            "name": partial(self.task_name, index=index),
            "image": self.image,
            "command": self.templates,
            "args": self.templates,
            "env": self.env,
            "resources": self.resources,
            "nodeSelector": self.string_map,
            "tolerations": self.tolerations,
            "priority": partial(self.integer, low=MIN_PRIORITY, high=MAX_PRIORITY),
            "retry": self.retry,
            "timeout": self.duration,
            "dependencies": partial(
                self.dependencies, index=index, own=_name_of(value)
            ),
        }
        task = self.fields(value, path, checks, required=("name",))
        if task is not None and task.get("image") is None and not self.default_image:
            self.error(
                _join(path, "image"), "is required here or in spec.defaults.image"
            )

    def task_name(self, value: object, path: str, index: int) -> None:
        if not self.dns_label(value, path):
            return
        first = self.task_index.get(value, index)
        if first != index:
            self.error(
                path, f"duplicate task name {value!r} (first at {_TASKS}[{first}])"
            )

    def dependencies(
        self, value: object, path: str, index: int, own: str | None
    ) -> None:
        seen: set[str] = set()
        for position, (where, dependency) in enumerate(self.items(value, path)):
            if not self.string(dependency, where):
                continue
            if dependency == own:
                self.error(where, "a task cannot depend on itself")
            elif dependency in seen:
                self.error(where, f"duplicate dependency {dependency!r}")
            elif dependency not in self.task_index:
                self.error(where, f"unknown task {dependency!r}")
            elif (index, position) in self.cycles:
                self.error(where, self.cycles[(index, position)])
            seen.add(dependency)

    def env(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.env_name, first=first, entry=where),
                "value": self.template,
                "valueFrom": self.value_from,
                "secret": self.boolean,
            }
            entry = self.fields(item, where, checks, required=("name",))
            if entry is None:
                continue
            sources = [entry.get(key) is not None for key in ("value", "valueFrom")]
            if sum(sources) != 1:
                self.error(where, "must set exactly one of value or valueFrom")

    def env_name(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.identifier(value, path):
            return
        if value in first:
            self.error(path, f"duplicate env var {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def value_from(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "secretKeyRef": self.key_ref,
            "configMapKeyRef": self.key_ref,
        }
        source = self.fields(value, path, checks)
        if source is None:
            return
        if sum(source.get(key) is not None for key in checks) != 1:
            self.error(path, "must set exactly one of secretKeyRef or configMapKeyRef")

    def key_ref(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "name": partial(self.string, nonempty=True),
            "key": partial(self.string, nonempty=True),
            "optional": self.boolean,
        }
        self.fields(value, path, checks, required=("name", "key"))

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
            where = _join(_join(path, "requests"), name)
            limit = limits.get(name)
            if "/" in name and name not in written:
                # Kubernetes rejects a pod that overcommits an extended resource.
                self.error(where, "must also be set in limits for an extended resource")
            elif limit is None:
                continue  # no limit, or an invalid one reported where it is
            elif "/" in name and amount != limit:
                self.error(where, "must equal the limit for an extended resource")
            elif amount > limit:
                shown = _quantity_text(written[name])
                self.error(where, f"must not exceed the limit ({shown})")

    def quantities(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return
        for name, amount in value.items():
            where = _join(path, name)
            if not isinstance(name, str) or not _resource_name_ok(name):
                self.error(
                    where,
                    f"unknown resource {name!r}: use cpu, memory, ephemeral-storage"
                    " or an extended resource such as nvidia.com/gpu",
                )
                continue
            try:
                parsed = _quantity(amount)
            except ValueError as exc:
                self.error(where, str(exc))
                continue
            if "/" in name and parsed != parsed.to_integral_value():
                self.error(where, "must be a whole number for an extended resource")

    def tolerations(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "key": self.string,
                "operator": partial(self.choice, choices=TOLERATION_OPERATORS),
                "value": self.string,
                "effect": partial(self.choice, choices=TOLERATION_EFFECTS),
                "tolerationSeconds": self.integer,
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
            self.error(_join(path, "value"), "must be empty when operator is Exists")
        if operator == "Equal" and key in (None, ""):
            self.error(_join(path, "key"), "is required unless operator is Exists")
        seconds = toleration.get("tolerationSeconds")
        if (
            isinstance(seconds, int)
            and not isinstance(seconds, bool)
            and toleration.get("effect") != "NoExecute"
        ):
            self.error(
                _join(path, "tolerationSeconds"), "needs effect NoExecute to apply"
            )


def _resource_name_ok(name: str) -> bool:
    return name in STANDARD_RESOURCES or "/" in name


def _valid_quantities(value: object) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        return {}
    result = {}
    for name, amount in value.items():
        if isinstance(name, str) and _resource_name_ok(name):
            # A bad quantity is reported where quantities are checked.
            with suppress(ValueError):
                result[name] = _quantity(amount)
    return result


def validate(
    document: Mapping[str, Any],
    limits: Limits = Limits(),  # noqa: B008 - frozen, so sharing it is safe
) -> list[FieldError]:
    """Every problem with the document, in document order; empty when it is valid.

    Within an object, errors follow its keys; a missing field and checks across
    fields come after. Never raises, whatever the shape of `document`.
    """
    validator = _Validator(document, limits)
    validator.document(document)
    return validator.errors


# --- building ------------------------------------------------------------------


def _compact(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """The mapping without null fields (null means not set), nested ones too."""
    if value is None:
        return {}
    return {
        key: _compact(item) if isinstance(item, Mapping) else item
        for key, item in value.items()
        if item is not None
    }


def _optional_seconds(value: object) -> float | None:
    return None if value is None else _seconds(value)


def _build_retry(
    default: Mapping[str, Any] | None, own: Mapping[str, Any] | None
) -> RetryPolicy:
    base, override = _compact(default), _compact(own)
    merged = {**base, **override}
    backoff = {**base.get("backoff", {}), **override.get("backoff", {})}
    converted = {
        attribute: convert(backoff[key])
        for key, attribute, convert in (
            ("delay", "delay", _seconds),
            ("factor", "factor", float),
            ("maxDelay", "max_delay", _seconds),
        )
        if key in backoff
    }
    return RetryPolicy(
        limit=merged.get("limit", 0),
        backoff=Backoff(**converted),
        on=frozenset(merged.get("on", DEFAULT_RETRY_ON)),
    )


def _build_env(entry: Mapping[str, Any]) -> EnvVar:
    entry = _compact(entry)
    return EnvVar(
        name=entry["name"],
        value=entry.get("value"),
        value_from=entry.get("valueFrom"),
        secret=entry.get("secret", False),
    )


def _build_task(task: Mapping[str, Any], defaults: Mapping[str, Any]) -> TaskSpec:
    task = _compact(task)
    resources = task.get("resources", {})
    return TaskSpec(
        name=task["name"],
        image=task.get("image", defaults.get("image")),
        command=tuple(task.get("command", ())),
        args=tuple(task.get("args", ())),
        env=tuple(_build_env(entry) for entry in task.get("env", ())),
        resources=Resources(
            requests={
                name: _quantity_text(amount)
                for name, amount in resources.get("requests", {}).items()
            },
            limits={
                name: _quantity_text(amount)
                for name, amount in resources.get("limits", {}).items()
            },
        ),
        node_selector=dict(task.get("nodeSelector", {})),
        tolerations=tuple(_compact(item) for item in task.get("tolerations", ())),
        priority=task.get("priority", 0),
        retry=_build_retry(defaults.get("retry"), task.get("retry")),
        timeout=_optional_seconds(task.get("timeout", defaults.get("timeout"))),
        dependencies=tuple(task.get("dependencies", ())),
    )


def parse_spec(
    document: Mapping[str, Any],
    limits: Limits = Limits(),  # noqa: B008 - frozen, so sharing it is safe
) -> WorkflowSpec:
    """The validated spec with defaults applied to every task; raises SpecError."""
    errors = validate(document, limits)
    if errors:
        raise SpecError(errors)
    metadata = _compact(document["metadata"])
    # ui is free-form and kept exactly as given.
    spec = _compact({**document["spec"], "ui": None})
    defaults = spec.get("defaults", {})
    parameters = tuple(
        Parameter(
            name=item["name"],
            default=_parameter_text(item.get("default")),
            description=item.get("description", ""),
        )
        for item in map(_compact, spec.get("parameters", ()))
    )
    return WorkflowSpec(
        name=metadata["name"],
        tasks=tuple(_build_task(task, defaults) for task in spec["tasks"]),
        description=metadata.get("description", ""),
        labels=dict(metadata.get("labels", {})),
        parameters=parameters,
        parallelism=spec.get("parallelism"),
        fail_fast=spec.get("failFast", False),
        timeout=_optional_seconds(spec.get("timeout")),
        ui=document["spec"].get("ui") or {},
    )


# --- parameters ----------------------------------------------------------------


def render_parameters(
    spec: WorkflowSpec, supplied: Mapping[str, str]
) -> dict[str, str]:
    """The run's parameter values: defaults overridden by `supplied`; SpecError on
    an unknown name or a parameter with neither default nor value.

    Numbers and booleans are accepted and turned into strings ("true", "1.5").
    """
    declared = {parameter.name for parameter in spec.parameters}
    errors: list[FieldError] = []
    values: dict[str, str] = {}
    for name, value in supplied.items():
        where = _join("parameters", name)
        text = _parameter_text(value)
        if name not in declared:
            errors.append(FieldError(where, "unknown parameter"))
        elif text is None:
            errors.append(FieldError(where, "must be a string, number or boolean"))
        else:
            values[name] = text
    result: dict[str, str] = {}
    for parameter in spec.parameters:
        chosen = values.get(parameter.name, parameter.default)
        if chosen is not None:
            result[parameter.name] = chosen
        elif parameter.name not in supplied:
            where = _join("parameters", parameter.name)
            errors.append(FieldError(where, "is required"))
    if errors:
        raise SpecError(errors)
    return result


def render_task(task: TaskSpec, parameters: Mapping[str, str]) -> TaskSpec:
    """The task with every {{params.x}} in image, command, args and env replaced.

    One pass: a substituted value that itself contains {{params.y}} stays as it
    is. SpecError if a referenced parameter has no value.
    """
    missing: dict[str, None] = {}

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in parameters:
            return str(parameters[name])
        missing[name] = None
        return match.group(0)

    def render(text: str) -> str:
        return _PARAM_REF.sub(value_of, text)

    rendered = replace(
        task,
        image=None if task.image is None else render(task.image),
        command=tuple(map(render, task.command)),
        args=tuple(map(render, task.args)),
        env=tuple(
            env if env.value is None else replace(env, value=render(env.value))
            for env in task.env
        ),
    )
    if missing:
        raise SpecError(
            [FieldError(_join("parameters", name), "is required") for name in missing]
        )
    return rendered
