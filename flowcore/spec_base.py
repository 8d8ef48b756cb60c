"""The ground the spec modules share: field errors, the format's constants and
limits, and its scalar grammar (durations, quantities, parameter references).

Pure: the standard library only; `kubernetes` is imported lazily, on the first
quantity parsed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

API_VERSION = "flowdeck.io/v1"
KIND = "Workflow"
DEFAULT_MAX_TASKS = 10_000
DEFAULT_MAX_SPEC_BYTES = 8 * 1024 * 1024
DEFAULT_RETRY_ON = ("Failed", "Error")
MAX_NAME_LENGTH = 63
MAX_RETRY_LIMIT = 50
MIN_PRIORITY = -1000
MAX_PRIORITY = 1000
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
IMAGE_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
AFFINITY_KINDS = ("nodeAffinity", "podAffinity", "podAntiAffinity")
VOLUME_SOURCES = ("emptyDir", "configMap", "secret", "persistentVolumeClaim")
EMPTY_DIR_MEDIA = ("", "Memory", "HugePages")
# What runs a task: one Pod, or a Kubernetes Job of pods (docs/spec.md).
TASK_KINDS = ("Pod", "Job")
COMPLETION_MODES = ("NonIndexed", "Indexed")
MAX_COMPLETIONS = 1000  # a Job's completions and parallelism
MAX_BACKOFF_LIMIT = 100  # a Job's pod failures before it fails
# A daemon task (`daemon: true`): a service for the rest of the run, reached on
# its declared ports once its readiness probe passes (docs/spec.md, Daemons).
MAX_PORT = 65535
MAX_PORTS = 20
PROBE_KINDS = ("tcpSocket", "exec", "httpGet")
# What only a daemon may set.
DAEMON_FIELDS = ("ports", "readinessProbe", "persistent", "storage")
MAX_SUBDOMAIN_LENGTH = 253
MAX_FILE_MODE = 0o777
MAX_ID = 2**31 - 1  # runAsUser, runAsGroup: Kubernetes' int64, capped as Linux does
# Durations, in seconds. Long enough for any real task, short enough that a
# deadline or a retry time (now + it) is a valid datetime for millennia.
DAY = 86400
MAX_TIMEOUT = 365 * DAY  # timeouts (task, defaults, run) and backoff.maxDelay
MAX_RETRY_DELAY = DAY  # backoff.delay
MAX_TOLERATION_SECONDS = MAX_TIMEOUT  # longer is "forever": leave it out
MAX_PARALLELISM = 100_000  # above any run's task count: "no limit"
# spec.maxActiveRuns, and a project semaphore's limit (docs/spec.md,
# "Concurrency"): far above any real need, small enough to count cheaply.
MAX_ACTIVE_RUNS = 10_000
MAX_AFFINITY_WEIGHT = 100  # Kubernetes' range for preferred terms, from 1
# With the delay at most a day and at most 50 retries, delay × factor^(n−1)
# stays below 1e56 seconds: a float, never an overflow.
MAX_BACKOFF_FACTOR = 10
# Resource quantities: (the largest value, as it is shown). Bytes stop at 1Ei
# (2**60), well inside the signed 64-bit columns requests are stored in
# (TaskRun.memory_request_bytes) and Kubernetes' own int64; CPU at 100000
# cores (10**8 millicores); an extended resource (GPUs, ...) at a million.
MAX_CPU = (Decimal(100_000), "100000")
MAX_BYTES = (Decimal(2**60), "1Ei")  # memory, ephemeral-storage, sizeLimit
MAX_EXTENDED = (Decimal(1_000_000), "1000000")
# The setting an administrator turns on to allow privileged containers.
ALLOW_PRIVILEGED_SETTING = "FLOWDECK_K8S_ALLOW_PRIVILEGED"


# When a task may start, given its upstreams' outcomes (docs/spec.md,
# "Trigger rules"); the first is the default.
TRIGGER_RULES = (
    "allSucceeded",
    "allDone",
    "anyFailed",
    "anySucceeded",
    "noneFailed",
    "allFailed",
)


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


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def field_path(path: str, key: object) -> str:
    """`path` followed by `key`: spec.defaults.image, limits["nvidia.com/gpu"]."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    # Keys such as nvidia.com/gpu would make a dotted path ambiguous.
    text = json.dumps(key) if isinstance(key, str) else repr(key)
    return f"{path}[{text}]"


@dataclass(frozen=True, slots=True)
class Limits:
    max_tasks: int = DEFAULT_MAX_TASKS
    max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES
    # Privileged containers, allowPrivilegeEscalation: true and added capabilities.
    allow_privileged: bool = False
    # False for a version already stored: the rules a document must meet to be
    # saved today (the characters strings may hold, the ranges of numbers and
    # durations) may be stricter than when it was saved, which must not make it
    # unreadable. Only what building the spec needs is checked; the engine and
    # the backends cope with the values older rules let through.
    strict: bool = True
    # Tasks outside the document whose outputs its references may use: a debug
    # run's task alone reads what its upstreams left in the run it debugs.
    external_tasks: frozenset[str] = frozenset()
    # The most instances one fan-out may have (withItems, withSequence here;
    # withParam's list when the run expands it).
    max_fan_out: int = 10_000


# --- scalars -------------------------------------------------------------------

# No string of a document may hold these: PostgreSQL's jsonb cannot store NUL
# (U+0000), and no argument, environment entry or path given to execve can carry
# it; an unpaired surrogate cannot be encoded as UTF-8 at all.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
# Control characters (C0 and DEL): never part of an image reference or a path,
# where one is a typo or an attempt to forge log lines. Command lines and env
# values keep them (a shell script has newlines and tabs).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def text_problem(text: str) -> str | None:
    """Why `text` can be neither stored nor given to a process; None if it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain a NUL character (U+0000)"
    return f"must not contain an unpaired surrogate (U+{ord(found.group()):04X})"


def control_problem(text: str) -> str | None:
    """Why `text` cannot be an image or a path; None if it can."""
    problem = text_problem(text)
    found = _CONTROL.search(text) if problem is None else None
    if found is None:
        return problem
    return f"must not contain a control character (U+{ord(found.group()):04X})"


# {{params.x}} in image, command, args and env values.
PARAM_REF = re.compile(r"\{\{\s*params\.([^{}\s]*)\s*\}\}")
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


def to_seconds(value: object) -> float:
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


def quantity_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("must be a quantity such as 250m, 1, 512Mi or 2Gi")


def quantity_value(value: object) -> Decimal:
    return _parse_quantity(quantity_text(value))


def quantity_maximum(resource: str) -> tuple[Decimal, str]:
    """The largest quantity of `resource` (cpu, memory, nvidia.com/gpu, ...)."""
    if resource == "cpu":
        return MAX_CPU
    if resource in ("memory", "ephemeral-storage"):
        return MAX_BYTES
    return MAX_EXTENDED


_SUFFIX_EXPONENTS = {"n": -3, "u": -2, "m": -1, "K": 1, "k": 1, "M": 2, "G": 3}
_SUFFIX_EXPONENTS |= {"T": 4, "P": 5, "E": 6}


def quantity_without_kubernetes(text: str) -> Decimal:
    """kubernetes.utils.quantity.parse_quantity, rule for rule, for a client
    that validates offline without the kubernetes package (the command line);
    tests/flowcore/test_spec.py holds the two to the same answers."""
    number, suffix = text, ""
    if len(text) >= 2 and text[-1] == "i":
        if text[-2] in _SUFFIX_EXPONENTS:
            number, suffix = text[:-2], text[-2:]
    elif text and text[-1] in _SUFFIX_EXPONENTS:
        number, suffix = text[:-1], text[-1:]
    try:
        amount = Decimal(number)
    except ArithmeticError:
        raise ValueError(f"Invalid number format: {number}") from None
    if not suffix:
        return amount
    if suffix == "ki":
        raise ValueError(f"{text} has unknown suffix")
    base = 1024 if suffix.endswith("i") else 1000
    return amount * (base ** Decimal(_SUFFIX_EXPONENTS[suffix[0]]))


@lru_cache(maxsize=1024)  # specs repeat a handful of values many times over
def _parse_quantity(text: str) -> Decimal:
    # Imported here, not at the top: importing any part of the kubernetes package
    # loads its whole API client (about 0.4 s), which the pure core should not pay
    # on import. A client without it (flowdeck validate) uses the same rules.
    parse: Callable[[str], Any]
    try:
        from kubernetes.utils.quantity import parse_quantity as parse
    except ImportError:
        parse = quantity_without_kubernetes

    invalid = f"invalid quantity {text!r}: use a number with an optional suffix,"
    invalid += " such as 250m, 1, 512Mi or 2Gi"
    if not _QUANTITY.fullmatch(text):
        raise ValueError(invalid)
    try:
        amount = Decimal(parse(text))
    except (ValueError, ArithmeticError):
        raise ValueError(invalid) from None
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


def parameter_text(value: object) -> str | None:
    """A parameter value as the string substituted into the task; None if the
    value is not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"  # the YAML/JSON spelling, not Python's
    if isinstance(value, str | int | float):
        try:
            return str(value)
        except ValueError:  # an int of more than 4300 digits: not a usable value
            return None
    return None
