"""Tests for flowcore.spec: loading, validation, building and parameter rendering."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcore.spec import (
    API_VERSION,
    KIND,
    MAX_PRIORITY,
    MIN_PRIORITY,
    Backoff,
    EnvVar,
    FieldError,
    Limits,
    Parameter,
    Resources,
    RetryPolicy,
    SpecError,
    TaskSpec,
    WorkflowSpec,
    dump_document,
    parse_document,
    parse_duration,
    parse_spec,
    render_parameters,
    render_task,
    validate,
)
from flowcore.spec_base import field_path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*.yaml"))
DNS_LABEL = (
    "must be lowercase letters, digits and '-', starting and ending with a letter"
    " or digit"
)
QUANTITY_HINT = "use a number with an optional suffix, such as 250m, 1, 512Mi or 2Gi"
DURATION_HINT = "use numbers with units ms, s, m, h, d, such as '90s', '10m' or '1h30m'"
RESOURCE_HINT = (
    "use cpu, memory, ephemeral-storage or an extended resource such as nvidia.com/gpu"
)


def task(name: str = "a", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", **fields}


def document(*tasks: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "wf"},
        "spec": {**spec, "tasks": list(tasks) or [task()]},
    }


def fixture(name: str) -> dict[str, Any]:
    return parse_document((FIXTURES / name).read_text())


def errors_of(doc: Any, limits: Limits | None = None) -> list[tuple[str, str]]:
    errors = validate(doc, limits or Limits())
    return [(error.path, error.message) for error in errors]


# --- parse_document ----------------------------------------------------------


def test_it_loads_yaml_and_json_alike() -> None:
    as_yaml = fixture("diamond.yaml")
    assert parse_document(json.dumps(as_yaml)) == as_yaml
    assert parse_document(json.dumps(as_yaml).encode()) == as_yaml


@pytest.mark.parametrize(
    ("text", "start"),
    [
        # The wording after the position depends on whether PyYAML uses libyaml.
        ("a: 1\nb: 2\n c: 3\n", "invalid YAML at line 3, column 3: mapping values"),
        ("a: 1\nb: {x: 1\nc: 3\n", "invalid YAML at line 3, column 2: "),
        ("a: 1\nb: @x\n", "invalid YAML at line 2, column 4: found character"),
        (
            "a: 1\nb:\n  c: 1\n  c: 2\n",
            "invalid YAML at line 4, column 3: duplicate key 'c'",
        ),  # noqa: E501
        (
            "a: 1\n\x00",
            "invalid YAML at line 2, column 1: unacceptable character #x0000",
        ),  # noqa: E501
        (
            "é: 1\nbé\x00",
            "invalid YAML at line 2, column 3: unacceptable character #x0000",
        ),  # noqa: E501
        ('{"a": 1', "invalid JSON at line 1, column 8: Expecting ',' delimiter"),
        ("- a\n- b\n", "document must be a mapping"),
        ("", "document must be a mapping"),
        ("just text", "document must be a mapping"),
    ],
)
def test_it_rejects_a_bad_document_naming_the_line(text: str, start: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_document(text)
    [error] = raised.value.errors
    assert error.path == ""
    assert error.message.startswith(start)


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system [echo hi]",
        "a: !!int abc",
        "[" * 1200 + "]" * 1200,
        b"\xff\xfe\xfa",
        # Python refuses to read integers of more than 4300 digits.
        pytest.param('{"a": ' + "9" * 5000 + "}", id="a 5000-digit JSON number"),
        pytest.param("a: " + "9" * 5000, id="a 5000-digit YAML number"),
    ],
)
def test_it_turns_every_load_failure_into_a_spec_error(text: str | bytes) -> None:
    with pytest.raises(SpecError) as raised:
        parse_document(text)
    assert [error.path for error in raised.value.errors] == [""]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # YAML 1.1 would read these as True, False, a date, 8 and 90.
        ("on: [Failed]", {"on": ["Failed"]}),
        ("country: no", {"country": "no"}),
        ("day: 2024-01-01", {"day": "2024-01-01"}),
        ("n: 010", {"n": 10}),
        ("t: 1:30", {"t": "1:30"}),
        ("b: true\nc: False", {"b": True, "c": False}),
        (
            "x: 0x1F\ny: 0o17\nz: 1e3\nw: .5",
            {"x": 31, "y": 15, "z": 1000.0, "w": 0.5},
        ),
        ("e: ~\nf: null", {"e": None, "f": None}),
        (
            "base: &b {x: 1}\nmore:\n  <<: *b\n  x: 2",
            {"base": {"x": 1}, "more": {"x": 2}},
        ),
    ],
)
def test_it_reads_scalars_as_yaml_1_2_does(text: str, expected: Any) -> None:
    assert parse_document(text) == expected


def test_it_accepts_a_byte_order_mark_and_tabs_in_json() -> None:
    assert parse_document(b"\xef\xbb\xbfa: 1") == {"a": 1}
    assert parse_document('{\n\t"a": 1\n}') == {"a": 1}


# --- dump_document ------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.name)
def test_a_dumped_fixture_reads_back_unchanged(path: Path) -> None:
    original = parse_document(path.read_text())
    dumped = dump_document(original)
    assert parse_document(dumped) == original
    assert yaml.safe_load(dumped) == original  # plain YAML 1.1 readers agree


def test_dump_keeps_key_order_and_plain_containers() -> None:
    dumped = dump_document({"b": (1, 2), "a": {"on": "yes"}})
    assert dumped == "b:\n- 1\n- 2\na:\n  'on': 'yes'\n"


# Every field the format has, each object's fields in the documented order.
CANONICAL_YAML = """\
apiVersion: flowdeck.io/v1
kind: Workflow
metadata:
  name: etl
  description: Nightly load
  labels:
    app: etl
    team: data
spec:
  parameters:
  - name: day
    default: today
    description: The day to load
  defaults:
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    securityContext:
      runAsNonRoot: true
    affinity:
      podAntiAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 1
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
    priorityClassName: batch
    serviceAccountName: etl
    imagePullSecrets:
    - regcred
    retry:
      limit: 1
      backoff:
        delay: 5s
        factor: 2
        maxDelay: 1m
      'on':
      - Failed
    timeout: 10m
  parallelism: 2
  failFast: true
  timeout: 1h
  namespace: etl
  tasks:
  - name: extract
  - name: load
    image: alpine:3
    imagePullPolicy: Always
    command:
    - sh
    - -c
    args:
    - echo {{params.day}}
    workingDir: /work
    env:
    - name: TOKEN
      valueFrom:
        secretKeyRef:
          name: creds
          key: token
          optional: false
      secret: true
    resources:
      requests:
        cpu: 500m
      limits:
        cpu: '1'
        memory: 1Gi
    volumes:
    - name: scratch
      emptyDir:
        medium: Memory
        sizeLimit: 1Gi
    - name: settings
      configMap:
        name: etl-settings
        items:
        - key: a.ini
          path: conf/a.ini
          mode: 292
    - name: creds
      secret:
        secretName: etl-creds
    - name: out
      persistentVolumeClaim:
        claimName: out
        readOnly: false
    volumeMounts:
    - name: scratch
      mountPath: /scratch
    - name: settings
      mountPath: /etc/etl
      subPath: conf
      readOnly: true
    securityContext:
      runAsUser: 1000
      runAsGroup: 1000
      runAsNonRoot: true
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      privileged: false
      capabilities:
        add: []
        drop:
        - ALL
    nodeSelector:
      disk: ssd
      zone: a
    tolerations:
    - key: dedicated
      operator: Equal
      value: etl
      effect: NoSchedule
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions:
            - key: disk
              values:
              - ssd
              operator: In
    priorityClassName: batch-high
    serviceAccountName: loader
    imagePullSecrets:
    - regcred
    - mirror
    priority: 5
    retry:
      limit: 2
    timeout: 5m
    dependencies:
    - extract
  ui:
    zoom: 1
    positions:
      load:
      - 0
      - 1
"""


def _keys_as_jsonb_returns_them(value: Any) -> Any:
    """PostgreSQL's jsonb keeps no key order: shorter keys first, then bytewise."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: (len(key.encode()), key.encode()))
        return {key: _keys_as_jsonb_returns_them(value[key]) for key in keys}
    if isinstance(value, list):
        return [_keys_as_jsonb_returns_them(item) for item in value]
    return value


def test_a_stored_document_dumps_in_the_documented_key_order() -> None:
    stored = _keys_as_jsonb_returns_them(parse_document(CANONICAL_YAML))
    assert validate(stored) == []
    assert list(stored) == ["kind", "spec", "metadata", "apiVersion"]
    assert list(stored["spec"]["tasks"][1])[:3] == ["env", "args", "name"]
    dumped = dump_document(stored)
    assert dumped == CANONICAL_YAML
    assert parse_document(dumped) == stored


def test_dump_puts_other_keys_after_the_known_ones_in_their_own_order() -> None:
    document = {
        "extra": 1,
        "spec": {
            "ui": {"zoom": 1, "name": "not a field here"},
            "tasks": [{"x": 1, "image": "busybox", "name": "a", "b": 2}],
        },
        "apiVersion": API_VERSION,
    }
    assert dump_document(document) == (
        "apiVersion: flowdeck.io/v1\n"
        "spec:\n"
        "  tasks:\n"
        "  - name: a\n"
        "    image: busybox\n"
        "    x: 1\n"
        "    b: 2\n"
        "  ui:\n"
        "    zoom: 1\n"
        "    name: not a field here\n"
        "extra: 1\n"
    )


@settings(max_examples=500)
@given(st.text(st.characters(exclude_categories=("Cs",))))
def test_any_string_survives_a_dump_and_a_load(text: str) -> None:
    assert parse_document(dump_document({"value": text})) == {"value": text}


@settings(max_examples=500)
@given(
    st.lists(
        st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
        | st.sampled_from(["", " ", "  x", "\tx", "x ", "# c", "- a", "'q'"]),
        max_size=6,
    ).map("\n".join)
)
def test_any_text_survives_a_dump_with_literal_blocks(text: str) -> None:
    assert parse_document(dump_document({"value": text}, blocks=True)) == {
        "value": text
    }


def test_scripts_dump_as_literal_blocks_when_asked() -> None:
    script = "def f():\n    return 1\n"
    assert dump_document({"value": script}, blocks=True) == (
        "value: |\n  def f():\n      return 1\n"
    )
    assert "|" not in dump_document({"value": script})


# --- validate: the whole document --------------------------------------------


@pytest.mark.parametrize(
    ("name", "errors"),
    [
        ("diamond.yaml", []),
        ("full.yaml", []),
        (
            "cycle.yaml",
            [("spec.tasks[0].dependencies[0]", "dependency cycle: a -> b -> c -> a")],
        ),
    ],
)
def test_the_fixtures_validate_as_documented(
    name: str, errors: list[tuple[str, str]]
) -> None:
    assert errors_of(fixture(name)) == errors


def test_it_returns_every_error_at_once() -> None:
    doc = document(
        task("a", priority=5000),
        task("B"),
        task("c", dependencies=["nope"]),
    )
    assert errors_of(doc) == [
        ("spec.tasks[0].priority", "must be between -1000 and 1000"),
        (
            "spec.tasks[1].name",
            DNS_LABEL,
        ),
        ("spec.tasks[2].dependencies[0]", "unknown task 'nope'"),
    ]


@pytest.mark.parametrize(
    "command",
    [["sh", "-c", ""], ["bash", "-c", "  \n"], ["python", "-c", ""]],
)
def test_it_refuses_an_empty_script(command: list[str]) -> None:
    doc = document({"name": "a", "image": "busybox:1.36", "command": command})
    assert errors_of(doc) == [
        ("spec.tasks[0].command[2]", "the script is empty: write what the task runs")
    ]


def test_a_script_given_as_an_argument_is_not_an_empty_script() -> None:
    # `sh -c` with the script in args: the shape of tests.conftest.shell_task.
    doc = document(
        {"name": "a", "image": "busybox:1.36", "command": ["sh", "-c"], "args": ["x"]}
    )
    assert errors_of(doc) == []


@pytest.mark.parametrize("doc", [None, [], "text", 3, 1.5, True, [{"a": 1}]])
def test_it_rejects_a_document_that_is_not_a_mapping(doc: Any) -> None:
    assert errors_of(doc) == [("", "document must be a mapping")]


def _set(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    target = doc
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("where", "value", "path", "message"),
    [
        ("apiVersion", "v1", "apiVersion", "must be 'flowdeck.io/v1'"),
        ("apiVersion", _DELETE, "apiVersion", "is required"),
        ("kind", "CronWorkflow", "kind", "must be 'Workflow'"),
        ("kind", None, "kind", "is required"),
        ("metadata", _DELETE, "metadata", "is required"),
        ("metadata", "wf", "metadata", "must be a mapping"),
        ("spec", _DELETE, "spec", "is required"),
        ("metadata.name", _DELETE, "metadata.name", "is required"),
        ("metadata.name", None, "metadata.name", "is required"),
        ("metadata.name", "", "metadata.name", "must not be empty"),
        ("metadata.name", 7, "metadata.name", "must be a string"),
        ("metadata.name", "a" * 64, "metadata.name", "must be at most 63 characters"),
        (
            "metadata.name",
            "Nightly_ETL",
            "metadata.name",
            DNS_LABEL,
        ),
        (
            "metadata.name",
            "-etl",
            "metadata.name",
            DNS_LABEL,
        ),
        ("metadata.description", 1, "metadata.description", "must be a string"),
        ("metadata.labels", ["team"], "metadata.labels", "must be a mapping"),
        ("metadata.labels", {"team": 1}, "metadata.labels.team", "must be a string"),
        ("metadata.labels", {1: "x"}, "metadata.labels[1]", "keys must be strings"),
        ("spec.tasks", _DELETE, "spec.tasks", "is required"),
        ("spec.tasks", [], "spec.tasks", "must have at least one task"),
        ("spec.tasks", {"a": {}}, "spec.tasks", "must be a list"),
        ("spec.tasks", ["a"], "spec.tasks[0]", "must be a mapping"),
        ("spec.parallelism", 0, "spec.parallelism", "must be between 1 and 100000"),
        (
            "spec.parallelism",
            100001,
            "spec.parallelism",
            "must be between 1 and 100000",
        ),
        ("spec.parallelism", "10", "spec.parallelism", "must be an integer"),
        ("spec.parallelism", True, "spec.parallelism", "must be an integer"),
        ("spec.parallelism", 2.0, "spec.parallelism", "must be an integer"),
        ("spec.failFast", "no", "spec.failFast", "must be true or false"),
        ("spec.failFast", 1, "spec.failFast", "must be true or false"),
        (
            "spec.timeout",
            "6 hours",
            "spec.timeout",
            f"invalid duration '6 hours': {DURATION_HINT}",
        ),
        ("spec.timeout", 0, "spec.timeout", "must be greater than zero"),
        ("spec.timeout", 10**30, "spec.timeout", "must be at most 365d"),
        ("spec.timeout", "366d", "spec.timeout", "must be at most 365d"),
        (
            "spec.timeout",
            1.5,
            "spec.timeout",
            "must be a duration such as '90s' or a whole number of seconds",
        ),
        ("spec.ui", ["x"], "spec.ui", "must be a mapping"),
        ("spec.parameters", {"day": 1}, "spec.parameters", "must be a list"),
        ("spec.parameters", [{}], "spec.parameters[0].name", "is required"),
        (
            "spec.parameters",
            [{"name": "my-day"}],
            "spec.parameters[0].name",
            "must be letters, digits and '_', not starting with a digit",
        ),
        (
            "spec.parameters",
            [{"name": "day"}, {"name": "day"}],
            "spec.parameters[1].name",
            "duplicate parameter 'day' (first at spec.parameters[0])",
        ),
        (
            "spec.parameters",
            [{"name": "day", "default": ["x"]}],
            "spec.parameters[0].default",
            "must be a string, number or boolean",
        ),
        (
            "spec.parameters",
            [{"name": "day", "description": 3}],
            "spec.parameters[0].description",
            "must be a string",
        ),
        ("spec.defaults", "busybox", "spec.defaults", "must be a mapping"),
        ("spec.defaults", {"image": ""}, "spec.defaults.image", "must not be empty"),
        (
            "spec.defaults",
            {"retry": {"limit": 51}},
            "spec.defaults.retry.limit",
            "must be between 0 and 50",
        ),
        (
            "spec.defaults",
            {"retry": {"limit": -1}},
            "spec.defaults.retry.limit",
            "must be between 0 and 50",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"factor": 0.5}}},
            "spec.defaults.retry.backoff.factor",
            "must be a number between 1 and 10",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"factor": 1e308}}},
            "spec.defaults.retry.backoff.factor",
            "must be a number between 1 and 10",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"factor": 10**400}}},
            "spec.defaults.retry.backoff.factor",
            "must be a number between 1 and 10",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"delay": "99999999999d"}}},
            "spec.defaults.retry.backoff.delay",
            "must be at most 1d",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"delay": 86401}}},
            "spec.defaults.retry.backoff.delay",
            "must be at most 1d",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"maxDelay": "365d1ms"}}},
            "spec.defaults.retry.backoff.maxDelay",
            "must be at most 365d",
        ),
        (
            "spec.defaults",
            {"timeout": "8761h"},
            "spec.defaults.timeout",
            "must be at most 365d",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"factor": "2"}}},
            "spec.defaults.retry.backoff.factor",
            "must be a number",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"delay": "soon"}}},
            "spec.defaults.retry.backoff.delay",
            f"invalid duration 'soon': {DURATION_HINT}",
        ),
        (
            "spec.defaults",
            {"retry": {"backoff": {"maxDelay": "0s"}}},
            "spec.defaults.retry.backoff.maxDelay",
            "invalid duration '0s': must be greater than zero",
        ),
        (
            "spec.defaults",
            {"retry": {"on": ["Failed", "Crashed"]}},
            "spec.defaults.retry.on[1]",
            "must be one of Failed, Error",
        ),
        (
            "spec.defaults",
            {"retry": {"on": "Failed"}},
            "spec.defaults.retry.on",
            "must be a list",
        ),
    ],
)
def test_it_checks_the_document_fields(
    where: str, value: Any, path: str, message: str
) -> None:
    doc = _set(document(), where, value)
    assert errors_of(doc) == [(path, message)]


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"name": None}, "spec.tasks[0].name", "is required"),
        (
            {"name": "Extract"},
            "spec.tasks[0].name",
            DNS_LABEL,
        ),
        ({"name": "a" * 64}, "spec.tasks[0].name", "must be at most 63 characters"),
        (
            {"image": None},
            "spec.tasks[0].image",
            "is required here or in spec.defaults.image",
        ),
        ({"image": 3}, "spec.tasks[0].image", "must be a string"),
        ({"image": "  "}, "spec.tasks[0].image", "must not be empty"),
        ({"command": "echo hi"}, "spec.tasks[0].command", "must be a list"),
        ({"command": ["echo", 1]}, "spec.tasks[0].command[1]", "must be a string"),
        ({"args": [["x"]]}, "spec.tasks[0].args[0]", "must be a string"),
        ({"env": {"A": "b"}}, "spec.tasks[0].env", "must be a list"),
        ({"env": [{"value": "x"}]}, "spec.tasks[0].env[0].name", "is required"),
        (
            {"env": [{"name": "1A", "value": "x"}]},
            "spec.tasks[0].env[0].name",
            "must be letters, digits and '_', not starting with a digit",
        ),
        (
            {"env": [{"name": "A", "value": 1}]},
            "spec.tasks[0].env[0].value",
            "must be a string",
        ),
        (
            {"env": [{"name": "A", "value": "x", "secret": "yes"}]},
            "spec.tasks[0].env[0].secret",
            "must be true or false",
        ),
        (
            {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]},
            "spec.tasks[0].env[1].name",
            "duplicate env var 'A' (first at spec.tasks[0].env[0])",
        ),
        (
            {"env": [{"name": "A"}]},
            "spec.tasks[0].env[0]",
            "must set exactly one of value or valueFrom",
        ),
        (
            {
                "env": [
                    {
                        "name": "A",
                        "value": "x",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            },
            "spec.tasks[0].env[0]",
            "must set exactly one of value or valueFrom",
        ),
        (
            {"env": [{"name": "A", "valueFrom": {}}]},
            "spec.tasks[0].env[0].valueFrom",
            "must set exactly one of secretKeyRef or configMapKeyRef",
        ),
        (
            {
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {
                            "secretKeyRef": {"name": "s", "key": "k"},
                            "configMapKeyRef": {"name": "c", "key": "k"},
                        },
                    }
                ]
            },
            "spec.tasks[0].env[0].valueFrom",
            "must set exactly one of secretKeyRef or configMapKeyRef",
        ),
        (
            {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]},
            "spec.tasks[0].env[0].valueFrom.secretKeyRef.key",
            "is required",
        ),
        (
            {
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {"configMapKeyRef": {"name": "", "key": "k"}},
                    }
                ]
            },
            "spec.tasks[0].env[0].valueFrom.configMapKeyRef.name",
            "must not be empty",
        ),
        (
            {
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {
                            "secretKeyRef": {"name": "s", "key": "k", "optional": "no"}
                        },
                    }
                ]
            },
            "spec.tasks[0].env[0].valueFrom.secretKeyRef.optional",
            "must be true or false",
        ),
        (
            {"resources": {"requests": {"cpu": "lots"}}},
            "spec.tasks[0].resources.requests.cpu",
            f"invalid quantity 'lots': {QUANTITY_HINT}",
        ),
        (
            {"resources": {"limits": {"memory": "1 Gi"}}},
            "spec.tasks[0].resources.limits.memory",
            f"invalid quantity '1 Gi': {QUANTITY_HINT}",
        ),
        (
            {"resources": {"limits": {"memory": "NaN"}}},
            "spec.tasks[0].resources.limits.memory",
            f"invalid quantity 'NaN': {QUANTITY_HINT}",
        ),
        (
            {"resources": {"limits": {"memory": "-1Gi"}}},
            "spec.tasks[0].resources.limits.memory",
            "must not be negative",
        ),
        (
            {"resources": {"limits": {"cpu": True}}},
            "spec.tasks[0].resources.limits.cpu",
            "must be a quantity such as 250m, 1, 512Mi or 2Gi",
        ),
        (
            {"resources": {"requests": {"gpu": 1}}},
            "spec.tasks[0].resources.requests.gpu",
            f"unknown resource 'gpu': {RESOURCE_HINT}",
        ),
        (
            {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}},
            "spec.tasks[0].resources.requests.cpu",
            "must not exceed the limit (500m)",
        ),
        (
            {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": 1024}}},
            "spec.tasks[0].resources.requests.memory",
            "must not exceed the limit (1024)",
        ),
        (
            {"resources": {"requests": {"nvidia.com/gpu": 1}}},
            'spec.tasks[0].resources.requests["nvidia.com/gpu"]',
            "must also be set in limits for an extended resource",
        ),
        (
            {
                "resources": {
                    "requests": {"nvidia.com/gpu": 1},
                    "limits": {"nvidia.com/gpu": 2},
                }
            },
            'spec.tasks[0].resources.requests["nvidia.com/gpu"]',
            "must equal the limit for an extended resource",
        ),
        (
            {"resources": {"limits": {"nvidia.com/gpu": "500m"}}},
            'spec.tasks[0].resources.limits["nvidia.com/gpu"]',
            "must be a whole number for an extended resource",
        ),
        (
            # One error for a bad limit, not a second one on the request.
            {
                "resources": {
                    "requests": {"nvidia.com/gpu": 1},
                    "limits": {"nvidia.com/gpu": "x"},
                }
            },
            'spec.tasks[0].resources.limits["nvidia.com/gpu"]',
            f"invalid quantity 'x': {QUANTITY_HINT}",
        ),
        (
            {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": []}}},
            "spec.tasks[0].resources.limits.cpu",
            "must be a quantity such as 250m, 1, 512Mi or 2Gi",
        ),
        (
            {"resources": {"limits": "1"}},
            "spec.tasks[0].resources.limits",
            "must be a mapping",
        ),
        (
            {"nodeSelector": {"disktype": 1}},
            "spec.tasks[0].nodeSelector.disktype",
            "must be a string",
        ),
        ({"nodeSelector": ["ssd"]}, "spec.tasks[0].nodeSelector", "must be a mapping"),
        ({"tolerations": {"key": "x"}}, "spec.tasks[0].tolerations", "must be a list"),
        (
            {"tolerations": [{"key": "x", "operator": "Maybe"}]},
            "spec.tasks[0].tolerations[0].operator",
            "must be one of Exists, Equal",
        ),
        (
            {"tolerations": [{"key": "x", "effect": "Evict"}]},
            "spec.tasks[0].tolerations[0].effect",
            "must be one of NoSchedule, PreferNoSchedule, NoExecute",
        ),
        (
            {"tolerations": [{"key": "x", "operator": "Exists", "value": "y"}]},
            "spec.tasks[0].tolerations[0].value",
            "must be empty when operator is Exists",
        ),
        (
            {"tolerations": [{"value": "y"}]},
            "spec.tasks[0].tolerations[0].key",
            "is required unless operator is Exists",
        ),
        (
            {"tolerations": [{"key": "x", "tolerationSeconds": 30}]},
            "spec.tasks[0].tolerations[0].tolerationSeconds",
            "needs effect NoExecute to apply",
        ),
        (
            {
                "tolerations": [
                    {"key": "x", "effect": "NoExecute", "tolerationSeconds": -1}
                ]
            },
            "spec.tasks[0].tolerations[0].tolerationSeconds",
            "must be between 0 and 31536000",
        ),
        (
            {
                "tolerations": [
                    {"key": "x", "effect": "NoExecute", "tolerationSeconds": 10**30}
                ]
            },
            "spec.tasks[0].tolerations[0].tolerationSeconds",
            "must be between 0 and 31536000",
        ),
        (
            {"tolerations": [{"key": "x", "tolerationSeconds": True}]},
            "spec.tasks[0].tolerations[0].tolerationSeconds",
            "must be an integer",
        ),
        (
            {"tolerations": [{"operator": "Exists", "value": ["y"]}]},
            "spec.tasks[0].tolerations[0].value",
            "must be a string",
        ),
        (
            {"tolerations": [{"key": "x", "tolerationSeconds": "30"}]},
            "spec.tasks[0].tolerations[0].tolerationSeconds",
            "must be an integer",
        ),
        (
            {"priority": 1001},
            "spec.tasks[0].priority",
            "must be between -1000 and 1000",
        ),
        (
            {"priority": -1001},
            "spec.tasks[0].priority",
            "must be between -1000 and 1000",
        ),
        ({"priority": "high"}, "spec.tasks[0].priority", "must be an integer"),
        ({"retry": 3}, "spec.tasks[0].retry", "must be a mapping"),
        ({"retry": {"limit": 2.5}}, "spec.tasks[0].retry.limit", "must be an integer"),
        (
            {"retry": {"backoff": {"maxDelay": "-5m"}}},
            "spec.tasks[0].retry.backoff.maxDelay",
            f"invalid duration '-5m': {DURATION_HINT}",
        ),
        (
            {"timeout": "0s"},
            "spec.tasks[0].timeout",
            "invalid duration '0s': must be greater than zero",
        ),
        ({"timeout": -3}, "spec.tasks[0].timeout", "must be greater than zero"),
        ({"timeout": 31536001}, "spec.tasks[0].timeout", "must be at most 365d"),
        ({"dependencies": "b"}, "spec.tasks[0].dependencies", "must be a list"),
        ({"dependencies": [1]}, "spec.tasks[0].dependencies[0]", "must be a string"),
        (
            {"dependencies": ["a"]},
            "spec.tasks[0].dependencies[0]",
            "a task cannot depend on itself",
        ),
        (
            {"dependencies": ["zz"]},
            "spec.tasks[0].dependencies[0]",
            "unknown task 'zz'",
        ),
    ],
)
def test_it_checks_every_task_field(
    fields: dict[str, Any], path: str, message: str
) -> None:
    assert errors_of(document({**task("a"), **fields})) == [(path, message)]


CPU_MAX = "must be at most 100000"
BYTES_MAX = "must be at most 1Ei"


@pytest.mark.parametrize(
    ("resources", "path", "message"),
    [
        ({"requests": {"cpu": "1e100"}}, "requests.cpu", CPU_MAX),
        ({"requests": {"cpu": 2**63}}, "requests.cpu", CPU_MAX),
        ({"limits": {"cpu": 10**400}}, "limits.cpu", CPU_MAX),
        ({"limits": {"cpu": 1e100}}, "limits.cpu", CPU_MAX),
        ({"limits": {"cpu": "100001"}}, "limits.cpu", CPU_MAX),
        (
            {"requests": {"memory": "99999999999999999999Ei"}},
            "requests.memory",
            BYTES_MAX,
        ),
        ({"limits": {"memory": "1025Pi"}}, "limits.memory", BYTES_MAX),
        (
            {"limits": {"ephemeral-storage": "2E"}},
            "limits.ephemeral-storage",
            BYTES_MAX,
        ),
        (
            {"limits": {"x.io/gpu": 1000001}},
            'limits["x.io/gpu"]',
            "must be at most 1000000",
        ),
        # A value out of range is reported once, not compared with its pair.
        (
            {"requests": {"cpu": "200000"}, "limits": {"cpu": "1"}},
            "requests.cpu",
            CPU_MAX,
        ),
        (
            {"requests": {"memory": "1Gi"}, "limits": {"memory": "1e30"}},
            "limits.memory",
            BYTES_MAX,
        ),
    ],
)
def test_every_resource_quantity_has_a_maximum(
    resources: dict[str, Any], path: str, message: str
) -> None:
    # 1e100 CPUs used to be saved, then make submit fail (500) storing the
    # request in a 64-bit column.
    found = errors_of(document(task("a", resources=resources)))
    assert found == [(f"spec.tasks[0].resources.{path}", message)]


@settings(max_examples=1000)
@given(
    st.from_regex(
        r"[0-9]{0,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True
    ).flatmap(
        lambda number: st.sampled_from(
            [
                "",
                "n",
                "u",
                "m",
                "k",
                "K",
                "M",
                "G",
                "T",
                "P",
                "E",
                "Ki",
                "ki",
                "Mi",
                "Gi",
                "Ti",
                "Pi",
                "Ei",
                "mi",
                "x",
                "i",
            ]
        ).map(lambda suffix: number + suffix)
    )
)
def test_quantities_parse_the_same_with_or_without_the_kubernetes_package(
    text: str,
) -> None:
    from kubernetes.utils.quantity import parse_quantity

    from flowcore.spec_base import quantity_without_kubernetes

    def outcome(parse: Callable[[str], Any]) -> object:
        try:
            return Decimal(parse(text))
        except (ValueError, ArithmeticError):
            return "error"

    assert outcome(quantity_without_kubernetes) == outcome(parse_quantity)


def test_the_largest_quantities_are_accepted() -> None:
    doc = document(
        task(
            "a",
            resources={
                "requests": {"cpu": "100k", "memory": "1024Pi", "x.io/gpu": "1M"},
                "limits": {
                    "cpu": 100000,
                    "memory": "1Ei",
                    "ephemeral-storage": 2**60,
                    "x.io/gpu": 1000000,
                },
            },
            volumes=[{"name": "v", "emptyDir": {"sizeLimit": "1Ei"}}],
        )
    )
    assert errors_of(doc) == []


def test_an_empty_dir_size_limit_has_the_maximum_of_memory() -> None:
    doc = document(task("a", volumes=[{"name": "v", "emptyDir": {"sizeLimit": "2Ei"}}]))
    assert errors_of(doc) == [
        ("spec.tasks[0].volumes[0].emptyDir.sizeLimit", BYTES_MAX)
    ]


def test_a_stored_version_keeps_its_large_quantities() -> None:
    doc = document(task("a", resources={"requests": {"cpu": "1e100"}}))
    assert errors_of(doc, Limits(strict=False)) == []
    built = parse_spec(doc, Limits(strict=False)).task("a")
    assert built.resources.requests == {"cpu": "1e100"}


def test_an_image_in_defaults_serves_every_task() -> None:
    doc = document({"name": "a"}, defaults={"image": "busybox"})
    assert errors_of(doc) == []
    assert errors_of(document({"name": "a"})) == [
        ("spec.tasks[0].image", "is required here or in spec.defaults.image")
    ]


def test_it_names_the_first_of_two_tasks_with_one_name() -> None:
    doc = document(task("a"), task("b"), task("a"))
    assert errors_of(doc) == [
        ("spec.tasks[2].name", "duplicate task name 'a' (first at spec.tasks[0])")
    ]


def test_it_rejects_a_repeated_dependency() -> None:
    doc = document(task("a"), task("b", dependencies=["a", "a"]))
    assert errors_of(doc) == [
        ("spec.tasks[1].dependencies[1]", "duplicate dependency 'a'")
    ]


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("image", "repo/app:{{params.tag}}"),
        ("command", ["sh", "-c", "echo {{ params.tag }}"]),
        ("args", ["--day", "{{params.tag}}"]),
        ("env", [{"name": "TAG", "value": "{{params.tag}}"}]),
    ],
)
def test_it_rejects_a_reference_to_an_undeclared_parameter(
    where: str, text: Any
) -> None:
    declared = [{"name": "day", "default": "x"}]
    path = {
        "image": "spec.tasks[0].image",
        "command": "spec.tasks[0].command[2]",
        "args": "spec.tasks[0].args[1]",
        "env": "spec.tasks[0].env[0].value",
    }[where]
    doc = document(task("a", **{where: text}), parameters=declared)
    assert errors_of(doc) == [(path, "refers to unknown parameter 'tag'")]
    declared.append({"name": "tag"})
    assert errors_of(doc) == []


def test_it_checks_parameter_references_in_the_default_image() -> None:
    doc = document({"name": "a"}, defaults={"image": "app:{{params.v}}"})
    assert errors_of(doc) == [
        ("spec.defaults.image", "refers to unknown parameter 'v'")
    ]


def test_it_leaves_other_double_braces_alone() -> None:
    doc = document(task("a", args=["docker inspect -f '{{.State.Status}}' x"]))
    assert errors_of(doc) == []


# --- Kubernetes fields -------------------------------------------------------------

SUBDOMAIN = (
    "must be lowercase letters, digits, '-' and '.', each part between dots starting"
    " and ending with a letter or digit"
)
NOT_ALLOWED = (
    "is not allowed unless an administrator allows privileged containers"
    " (FLOWDECK_K8S_ALLOW_PRIVILEGED)"
)
ONE_SOURCE = (
    "must set exactly one of emptyDir, configMap, secret or persistentVolumeClaim"
)
NODE_TERMS = "nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"


def _node_affinity(**requirement: Any) -> dict[str, Any]:
    term = {"matchExpressions": [{"key": "disk", "operator": "In", **requirement}]}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [term]
            }
        }
    }


def _volume(name: str = "data", **source: Any) -> dict[str, Any]:
    return {"name": name, **(source or {"emptyDir": {}})}


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        (
            {"imagePullPolicy": "Sometimes"},
            "spec.tasks[0].imagePullPolicy",
            "must be one of Always, IfNotPresent, Never",
        ),
        ({"workingDir": 3}, "spec.tasks[0].workingDir", "must be a string"),
        (
            {"workingDir": "work"},
            "spec.tasks[0].workingDir",
            "must be an absolute path (starting with '/')",
        ),
        ({"workingDir": ""}, "spec.tasks[0].workingDir", "must not be empty"),
        (
            {"priorityClassName": "High"},
            "spec.tasks[0].priorityClassName",
            SUBDOMAIN,
        ),
        (
            {"serviceAccountName": "etl..runner"},
            "spec.tasks[0].serviceAccountName",
            SUBDOMAIN,
        ),
        (
            {"serviceAccountName": "a" * 254},
            "spec.tasks[0].serviceAccountName",
            "must be at most 253 characters",
        ),
        (
            {"imagePullSecrets": "regcred"},
            "spec.tasks[0].imagePullSecrets",
            "must be a list",
        ),
        (
            {"imagePullSecrets": [{"name": "regcred"}]},
            "spec.tasks[0].imagePullSecrets[0]",
            "must be a string",
        ),
        (
            {"imagePullSecrets": ["regcred", "regcred"]},
            "spec.tasks[0].imagePullSecrets[1]",
            "duplicate secret 'regcred' (first at spec.tasks[0].imagePullSecrets[0])",
        ),
        ({"affinity": []}, "spec.tasks[0].affinity", "must be a mapping"),
        (
            {"affinity": {"nodeSelector": {}}},
            "spec.tasks[0].affinity.nodeSelector",
            "unknown field 'nodeSelector'",
        ),
        (
            {"affinity": {"podAffinity": "near"}},
            "spec.tasks[0].affinity.podAffinity",
            "must be a mapping",
        ),
        (
            {"affinity": _node_affinity(values=["ssd"], operatr="In")},
            f"spec.tasks[0].affinity.{NODE_TERMS}.nodeSelectorTerms[0]"
            ".matchExpressions[0].operatr",
            "unknown field 'operatr'",
        ),
        (
            # Kubernetes' own wire names only, never the Python client's.
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "node_selector_terms": []
                        }
                    }
                }
            },
            f"spec.tasks[0].affinity.{NODE_TERMS}.node_selector_terms",
            "unknown field 'node_selector_terms'",
        ),
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {}
                    }
                }
            },
            f"spec.tasks[0].affinity.{NODE_TERMS}.nodeSelectorTerms",
            "is required",
        ),
        (
            {"affinity": _node_affinity(values="ssd")},
            f"spec.tasks[0].affinity.{NODE_TERMS}.nodeSelectorTerms[0]"
            ".matchExpressions[0].values",
            "must be a list",
        ),
        (
            {
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": "50",
                                "podAffinityTerm": {"topologyKey": "zone"},
                            }
                        ]
                    }
                }
            },
            "spec.tasks[0].affinity.podAntiAffinity"
            ".preferredDuringSchedulingIgnoredDuringExecution[0].weight",
            "must be an integer",
        ),
        (
            {
                "affinity": {
                    "podAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 101, "podAffinityTerm": {"topologyKey": "z"}}
                        ]
                    }
                }
            },
            "spec.tasks[0].affinity.podAffinity"
            ".preferredDuringSchedulingIgnoredDuringExecution[0].weight",
            "must be between 1 and 100",
        ),
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 0, "preference": {}},
                        ]
                    }
                }
            },
            "spec.tasks[0].affinity.nodeAffinity"
            ".preferredDuringSchedulingIgnoredDuringExecution[0].weight",
            "must be between 1 and 100",
        ),
        (
            {
                "affinity": {
                    "podAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {"labelSelector": {"matchLabels": {"app": "db"}}}
                        ]
                    }
                }
            },
            "spec.tasks[0].affinity.podAffinity"
            ".requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
            "is required",
        ),
        ({"volumes": {"data": {}}}, "spec.tasks[0].volumes", "must be a list"),
        (
            {"volumes": [{"emptyDir": {}}]},
            "spec.tasks[0].volumes[0].name",
            "is required",
        ),
        (
            {"volumes": [_volume("Data")]},
            "spec.tasks[0].volumes[0].name",
            DNS_LABEL,
        ),
        (
            {"volumes": [_volume(), _volume()]},
            "spec.tasks[0].volumes[1].name",
            "duplicate volume 'data' (first at spec.tasks[0].volumes[0])",
        ),
        ({"volumes": [{"name": "data"}]}, "spec.tasks[0].volumes[0]", ONE_SOURCE),
        (
            {"volumes": [_volume(emptyDir={}, secret={"secretName": "s"})]},
            "spec.tasks[0].volumes[0]",
            ONE_SOURCE,
        ),
        (
            {"volumes": [_volume(emptyDir={}, hostPath={"path": "/"})]},
            "spec.tasks[0].volumes[0].hostPath",
            "unknown field 'hostPath'",
        ),
        (
            {"volumes": [_volume(emptyDir={"medium": "Disk"})]},
            "spec.tasks[0].volumes[0].emptyDir.medium",
            "must be one of , Memory, HugePages",
        ),
        (
            {"volumes": [_volume(emptyDir={"sizeLimit": "lots"})]},
            "spec.tasks[0].volumes[0].emptyDir.sizeLimit",
            f"invalid quantity 'lots': {QUANTITY_HINT}",
        ),
        (
            {"volumes": [_volume(configMap={})]},
            "spec.tasks[0].volumes[0].configMap.name",
            "is required",
        ),
        (
            {"volumes": [_volume(configMap={"name": "Settings"})]},
            "spec.tasks[0].volumes[0].configMap.name",
            SUBDOMAIN,
        ),
        (
            {"volumes": [_volume(configMap={"name": "c", "items": [{"key": "k"}]})]},
            "spec.tasks[0].volumes[0].configMap.items[0].path",
            "is required",
        ),
        (
            {
                "volumes": [
                    _volume(
                        configMap={"name": "c", "items": [{"key": "k", "path": "/etc"}]}
                    )
                ]
            },
            "spec.tasks[0].volumes[0].configMap.items[0].path",
            "must be a relative path (not starting with '/')",
        ),
        (
            {
                "volumes": [
                    _volume(
                        secret={
                            "secretName": "s",
                            "items": [{"key": "k", "path": "a/../../b"}],
                        }
                    )
                ]
            },
            "spec.tasks[0].volumes[0].secret.items[0].path",
            "must not contain '..'",
        ),
        (
            {
                "volumes": [
                    _volume(
                        secret={
                            "secretName": "s",
                            "items": [{"key": "k", "path": "p", "mode": 0o1777}],
                        }
                    )
                ]
            },
            "spec.tasks[0].volumes[0].secret.items[0].mode",
            "must be between 0 and 511",
        ),
        (
            {
                "volumes": [
                    _volume(
                        secret={
                            "secretName": "s",
                            "items": [{"key": "a b", "path": "p"}],
                        }
                    )
                ]
            },
            "spec.tasks[0].volumes[0].secret.items[0].key",
            "must be letters, digits, '-', '_' and '.'",
        ),
        (
            {"volumes": [_volume(secret={"secretName": "s", "name": "s"})]},
            "spec.tasks[0].volumes[0].secret.name",
            "unknown field 'name'",
        ),
        (
            {"volumes": [_volume(persistentVolumeClaim={"readOnly": True})]},
            "spec.tasks[0].volumes[0].persistentVolumeClaim.claimName",
            "is required",
        ),
        (
            {
                "volumes": [
                    _volume(persistentVolumeClaim={"claimName": "c", "readOnly": "yes"})
                ]
            },
            "spec.tasks[0].volumes[0].persistentVolumeClaim.readOnly",
            "must be true or false",
        ),
        (
            {"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            "spec.tasks[0].volumeMounts[0].name",
            "unknown volume 'data': declare it in volumes",
        ),
        (
            {"volumes": [_volume()], "volumeMounts": [{"name": "data"}]},
            "spec.tasks[0].volumeMounts[0].mountPath",
            "is required",
        ),
        (
            {
                "volumes": [_volume()],
                "volumeMounts": [{"name": "data", "mountPath": "data"}],
            },
            "spec.tasks[0].volumeMounts[0].mountPath",
            "must be an absolute path (starting with '/')",
        ),
        (
            {
                "volumes": [_volume(), _volume("cache")],
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "cache", "mountPath": "/data"},
                ],
            },
            "spec.tasks[0].volumeMounts[1].mountPath",
            "duplicate mountPath '/data' (first at spec.tasks[0].volumeMounts[0])",
        ),
        (
            {
                "volumes": [_volume()],
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data", "subPath": "../etc"}
                ],
            },
            "spec.tasks[0].volumeMounts[0].subPath",
            "must not contain '..'",
        ),
        (
            {
                "volumes": [_volume()],
                "volumeMounts": [{"name": "data", "mountPath": "/d", "readOnly": 1}],
            },
            "spec.tasks[0].volumeMounts[0].readOnly",
            "must be true or false",
        ),
        (
            {"securityContext": {"runAsUser": -1}},
            "spec.tasks[0].securityContext.runAsUser",
            "must be between 0 and 2147483647",
        ),
        (
            {"securityContext": {"runAsGroup": "1000"}},
            "spec.tasks[0].securityContext.runAsGroup",
            "must be an integer",
        ),
        (
            {"securityContext": {"runAsNonRoot": "yes"}},
            "spec.tasks[0].securityContext.runAsNonRoot",
            "must be true or false",
        ),
        (
            {"securityContext": {"runAsNonRoot": True, "runAsUser": 0}},
            "spec.tasks[0].securityContext.runAsUser",
            "must not be 0 when runAsNonRoot is true",
        ),
        (
            {"securityContext": {"privileged": True}},
            "spec.tasks[0].securityContext.privileged",
            f"privileged: true {NOT_ALLOWED}",
        ),
        (
            {"securityContext": {"allowPrivilegeEscalation": True}},
            "spec.tasks[0].securityContext.allowPrivilegeEscalation",
            f"allowPrivilegeEscalation: true {NOT_ALLOWED}",
        ),
        (
            {"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}},
            "spec.tasks[0].securityContext.capabilities.add",
            f"adding capabilities {NOT_ALLOWED}",
        ),
        (
            {"securityContext": {"capabilities": {"drop": ["all"]}}},
            "spec.tasks[0].securityContext.capabilities.drop[0]",
            "must be a capability name in capitals, such as NET_ADMIN or ALL",
        ),
        (
            {"securityContext": {"capabilities": {"drop": "ALL"}}},
            "spec.tasks[0].securityContext.capabilities.drop",
            "must be a list",
        ),
        (
            {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            "spec.tasks[0].securityContext.seccompProfile",
            "unknown field 'seccompProfile'",
        ),
    ],
)
def test_it_checks_the_kubernetes_task_fields(
    fields: dict[str, Any], path: str, message: str
) -> None:
    assert errors_of(document({**task("a"), **fields})) == [(path, message)]


@pytest.mark.parametrize(
    ("where", "value", "path", "message"),
    [
        ("spec.namespace", "Team-A", "spec.namespace", DNS_LABEL),
        ("spec.namespace", "a" * 64, "spec.namespace", "must be at most 63 characters"),
        ("spec.namespace", 7, "spec.namespace", "must be a string"),
        (
            "spec.defaults",
            {"imagePullPolicy": "always"},
            "spec.defaults.imagePullPolicy",
            "must be one of Always, IfNotPresent, Never",
        ),
        (
            "spec.defaults",
            {"serviceAccountName": "Runner"},
            "spec.defaults.serviceAccountName",
            SUBDOMAIN,
        ),
        (
            "spec.defaults",
            {"securityContext": {"privileged": True}},
            "spec.defaults.securityContext.privileged",
            f"privileged: true {NOT_ALLOWED}",
        ),
        (
            "spec.defaults",
            {"affinity": {"nodeAffinity": []}},
            "spec.defaults.affinity.nodeAffinity",
            "must be a mapping",
        ),
        (
            "spec.defaults",
            {"volumes": []},
            "spec.defaults.volumes",
            "unknown field 'volumes'",
        ),
        (
            "spec.defaults",
            {"workingDir": "/w"},
            "spec.defaults.workingDir",
            "unknown field 'workingDir'",
        ),
    ],
)
def test_it_checks_the_kubernetes_workflow_fields(
    where: str, value: Any, path: str, message: str
) -> None:
    doc = _set(document(), where, value)
    assert errors_of(doc) == [(path, message)]


def test_privileged_containers_pass_once_an_administrator_allows_them() -> None:
    context = {
        "privileged": True,
        "allowPrivilegeEscalation": True,
        "capabilities": {"add": ["SYS_ADMIN"], "drop": ["NET_RAW"]},
    }
    doc = document(task("a", securityContext=context))
    doc["spec"]["defaults"] = {"securityContext": {"privileged": True}}
    assert len(errors_of(doc)) == 4
    assert errors_of(doc, Limits(allow_privileged=True)) == []
    built = parse_spec(doc, Limits(allow_privileged=True)).task("a")
    assert built.security_context == context


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"privileged": True, "allowPrivilegeEscalation": False},
            "must not be false when privileged is true",
        ),
        (
            {"allowPrivilegeEscalation": False, "capabilities": {"add": ["SYS_ADMIN"]}},
            "must not be false when adding SYS_ADMIN",
        ),
        (
            {
                "allowPrivilegeEscalation": False,
                "capabilities": {"add": ["CAP_SYS_ADMIN"]},
            },
            "must not be false when adding SYS_ADMIN",
        ),
    ],
)
def test_it_refuses_the_contradictions_kubernetes_refuses(
    context: dict[str, Any], message: str
) -> None:
    doc = document(task("a", securityContext=context))
    assert errors_of(doc, Limits(allow_privileged=True)) == [
        ("spec.tasks[0].securityContext.allowPrivilegeEscalation", message)
    ]


AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "disktype", "operator": "In", "values": ["ssd"]}
                    ]
                }
            ]
        },
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 10,
                "preference": {
                    "matchExpressions": [{"key": "zone", "operator": "Exists"}]
                },
            }
        ],
    },
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"flowdeck.io/task": "load"}},
                    "topologyKey": "kubernetes.io/hostname",
                },
            }
        ]
    },
}


def test_it_builds_the_kubernetes_fields() -> None:
    volumes = [
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {
            "name": "settings",
            "configMap": {
                "name": "etl-settings",
                "items": [{"key": "a.ini", "path": "a.ini", "mode": 0o444}],
            },
        },
        {"name": "creds", "secret": {"secretName": "etl-creds"}},
        {
            "name": "out",
            "persistentVolumeClaim": {"claimName": "out", "readOnly": None},
        },
    ]
    mounts = [
        {"name": "scratch", "mountPath": "/scratch"},
        {"name": "creds", "mountPath": "/creds", "readOnly": True, "subPath": "x"},
    ]
    doc = document(
        task(
            "a",
            imagePullPolicy="Always",
            workingDir="/work",
            volumes=volumes,
            volumeMounts=mounts,
            securityContext={"runAsUser": 1000, "runAsNonRoot": True},
        ),
        task("b", affinity=AFFINITY, imagePullSecrets=["other"]),
        namespace="team-a",
        defaults={
            "imagePullPolicy": "IfNotPresent",
            "serviceAccountName": "etl-runner",
            "priorityClassName": "batch.low",
            "imagePullSecrets": ["regcred"],
            "securityContext": {"readOnlyRootFilesystem": True},
            "affinity": {"podAffinity": {}},
        },
    )
    assert errors_of(doc) == []
    spec = parse_spec(doc)
    assert spec.namespace == "team-a"
    a, b = spec.tasks
    assert (a.image_pull_policy, a.working_dir) == ("Always", "/work")
    assert a.volumes[3] == {
        "name": "out",
        "persistentVolumeClaim": {"claimName": "out"},
    }
    assert a.volumes[1]["configMap"]["items"] == [
        {"key": "a.ini", "path": "a.ini", "mode": 0o444}
    ]
    assert a.volume_mounts == tuple(mounts)
    # A task's own value replaces the default whole; nothing is merged.
    assert a.security_context == {"runAsUser": 1000, "runAsNonRoot": True}
    assert a.affinity == {"podAffinity": {}}
    assert (a.service_account_name, a.priority_class_name) == (
        "etl-runner",
        "batch.low",
    )
    assert a.image_pull_secrets == ("regcred",)
    assert b.image_pull_policy == "IfNotPresent"
    assert b.working_dir is None
    assert b.security_context == {"readOnlyRootFilesystem": True}
    assert b.affinity == AFFINITY
    assert b.image_pull_secrets == ("other",)
    assert (a.namespace, b.namespace) == ("team-a", "team-a")


def test_the_kubernetes_fields_default_to_unset() -> None:
    built = parse_spec(document(task("a"))).task("a")
    assert built == TaskSpec("a", image="busybox")
    assert (built.image_pull_policy, built.namespace, built.volumes) == (None, None, ())
    assert parse_spec(document(task("a"))).namespace is None


def test_a_rendered_task_keeps_its_kubernetes_fields_as_plain_data() -> None:
    doc = document(
        task(
            "a",
            volumes=[_volume()],
            volumeMounts=[{"name": "data", "mountPath": "/data"}],
            affinity=AFFINITY,
        ),
        namespace="ns",
    )
    rendered = dataclasses.asdict(render_task(parse_spec(doc).task("a"), {}))
    assert json.loads(json.dumps(rendered, default=sorted))["volume_mounts"] == [
        {"name": "data", "mountPath": "/data"}
    ]
    assert rendered["namespace"] == "ns"
    assert rendered["affinity"] == AFFINITY


# --- characters --------------------------------------------------------------------

NUL = "must not contain a NUL character (U+0000)"


def _poisoned(node: Any, path: str = "") -> list[tuple[str, str, Callable[[], None]]]:
    """For every string in `node`, keys included: (its id, the path where a NUL
    put into it shows, a function that puts one there)."""
    found: list[tuple[str, str, Callable[[], None]]] = []
    if isinstance(node, dict):
        for key, item in list(node.items()):
            at = field_path(path, key)

            def rename(node: dict[str, Any] = node, key: str = key) -> None:
                node[f"{key}\x00"] = node.pop(key)

            found.append((f"{at} (key)", field_path(path, f"{key}\x00"), rename))
            found += _poisoned_item(node, key, item, at)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _poisoned_item(node, index, item, f"{path}[{index}]")
    return found


def _poisoned_item(
    parent: Any, key: Any, item: Any, at: str
) -> list[tuple[str, str, Callable[[], None]]]:
    if not isinstance(item, str):
        return _poisoned(item, at)

    def put(parent: Any = parent, key: Any = key, item: str = item) -> None:
        parent[key] = f"{item[:1]}\x00{item[1:]}"

    return [(at, at, put)]


_FULL_STRINGS = [name for name, _, _ in _poisoned(fixture("full.yaml"))]


@pytest.mark.parametrize("name", _FULL_STRINGS)
def test_a_nul_in_any_string_or_key_is_refused_at_its_path(name: str) -> None:
    # PostgreSQL cannot store a NUL and execve cannot pass one: wherever it
    # hides in a document, the document is refused there, not at save or launch.
    doc = fixture("full.yaml")
    [(where, poison)] = [(w, p) for n, w, p in _poisoned(doc) if n == name]
    poison()
    found = validate(doc)
    assert any(error.path == where for error in found), (where, found)


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"command": ["sh", "-c", "echo a\x00b"]}, "spec.tasks[0].command[2]", NUL),
        ({"args": ["x\x00"]}, "spec.tasks[0].args[0]", NUL),
        (
            {"env": [{"name": "A", "value": "\x00"}]},
            "spec.tasks[0].env[0].value",
            NUL,
        ),
        (
            {"env": [{"name": "A\x00", "value": "x"}]},
            "spec.tasks[0].env[0].name",
            NUL,
        ),
        ({"image": "busybox\x00"}, "spec.tasks[0].image", NUL),
        ({"workingDir": "/work\x00"}, "spec.tasks[0].workingDir", NUL),
        (
            {"args": ["\ud800"]},
            "spec.tasks[0].args[0]",
            "must not contain an unpaired surrogate (U+D800)",
        ),
        (
            {"nodeSelector": {"disk\x00": "ssd"}},
            'spec.tasks[0].nodeSelector["disk\\u0000"]',
            NUL,
        ),
        (
            {"resources": {"limits": {"x.io/gpu\x00": 1}}},
            'spec.tasks[0].resources.limits["x.io/gpu\\u0000"]',
            NUL,
        ),
        (
            {"image": "busybox\n"},
            "spec.tasks[0].image",
            "must not contain a control character (U+000A)",
        ),
        (
            {"workingDir": "/work\tdir"},
            "spec.tasks[0].workingDir",
            "must not contain a control character (U+0009)",
        ),
        (
            {
                "volumes": [_volume()],
                "volumeMounts": [{"name": "data", "mountPath": "/d\x1b[2J"}],
            },
            "spec.tasks[0].volumeMounts[0].mountPath",
            "must not contain a control character (U+001B)",
        ),
        (
            {
                "volumes": [_volume()],
                "volumeMounts": [{"name": "data", "mountPath": "/d", "subPath": "x\r"}],
            },
            "spec.tasks[0].volumeMounts[0].subPath",
            "must not contain a control character (U+000D)",
        ),
        (
            {
                "volumes": [
                    _volume(
                        configMap={
                            "name": "c",
                            "items": [{"key": "k", "path": "a\x7f"}],
                        }
                    )
                ]
            },
            "spec.tasks[0].volumes[0].configMap.items[0].path",
            "must not contain a control character (U+007F)",
        ),
        (
            {"affinity": _node_affinity(values=["ssd\x00"])},
            f"spec.tasks[0].affinity.{NODE_TERMS}.nodeSelectorTerms[0]"
            ".matchExpressions[0].values[0]",
            NUL,
        ),
    ],
)
def test_it_refuses_characters_no_process_or_path_can_take(
    fields: dict[str, Any], path: str, message: str
) -> None:
    assert errors_of(document({**task("a"), **fields})) == [(path, message)]


def test_command_lines_and_env_values_keep_tabs_newlines_and_escapes() -> None:
    script = "set -e\n\tprintf '\x1b[1mbold\x1b[0m\\n'\r\n"
    doc = document(
        task("a", command=["sh", "-c", script], args=["a\tb"]),
        task("b", env=[{"name": "PEM", "value": "-----BEGIN-----\nx\n"}]),
    )
    assert errors_of(doc) == []


def test_a_nul_in_a_parameter_default_or_the_ui_is_refused() -> None:
    doc = document(
        task("a", args=["{{params.p}}"]),
        parameters=[{"name": "p", "default": "x\x00"}],
        ui={"positions": {"a\x00": {"x": 0}}, "notes": ["ok", "\x00"]},
    )
    assert errors_of(doc) == [
        ("spec.parameters[0].default", NUL),
        ('spec.ui.positions["a\\u0000"]', NUL),
        ("spec.ui.notes[1]", NUL),
    ]


def test_a_shared_ui_node_is_checked_once_whatever_its_aliases() -> None:
    # An alias bomb must not make the check walk its expansion.
    layer: Any = ["\x00"]
    for _ in range(60):
        layer = [layer, layer]
    errors = errors_of(document(task("a"), ui={"bomb": layer}))
    assert ("spec.ui.bomb" + "[0]" * 61, NUL) in errors
    assert len([e for e in errors if e[1] == NUL]) == 1


def test_a_stored_version_is_read_without_the_character_rules() -> None:
    # Saved before the rules existed: runs of it must still be planned (the
    # backends refuse what cannot be launched).
    doc = document(task("a", args=["x\x00"], workingDir="/w\n"))
    lenient = Limits(strict=False)
    assert errors_of(doc, lenient) == []
    assert parse_spec(doc, lenient).task("a").args == ("x\x00",)


# --- unknown fields ------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ("status", "status"),
        ("metadata.namespace", "metadata.namespace"),
        ("spec.entrypoint", "spec.entrypoint"),
        ("spec.tasks.0.imagee", "spec.tasks[0].imagee"),
        ("spec.tasks.0.retry.limitt", "spec.tasks[0].retry.limitt"),
        ("spec.tasks.0.retry.backoff.jitter", "spec.tasks[0].retry.backoff.jitter"),
        ("spec.tasks.0.resources.claims", "spec.tasks[0].resources.claims"),
        ("spec.tasks.0.env.0.from", "spec.tasks[0].env[0].from"),
        (
            "spec.tasks.0.env.1.valueFrom.fieldRef",
            "spec.tasks[0].env[1].valueFrom.fieldRef",
        ),
        (
            "spec.tasks.0.env.1.valueFrom.secretKeyRef.namespace",
            "spec.tasks[0].env[1].valueFrom.secretKeyRef.namespace",
        ),
        ("spec.tasks.0.tolerations.0.key_", "spec.tasks[0].tolerations[0].key_"),
        ("spec.parameters.0.type", "spec.parameters[0].type"),
        (
            "spec.tasks.0.volumes.0.emptyDir.size",
            "spec.tasks[0].volumes[0].emptyDir.size",
        ),
        (
            "spec.tasks.0.volumes.1.configMap.optional",
            "spec.tasks[0].volumes[1].configMap.optional",
        ),
        (
            "spec.tasks.0.volumes.1.configMap.items.0.modes",
            "spec.tasks[0].volumes[1].configMap.items[0].modes",
        ),
        (
            "spec.tasks.0.volumeMounts.0.mountPropagation",
            "spec.tasks[0].volumeMounts[0].mountPropagation",
        ),
        (
            "spec.tasks.0.securityContext.capabilities.keep",
            "spec.tasks[0].securityContext.capabilities.keep",
        ),
        (
            "spec.tasks.0.securityContext.fsGroup",
            "spec.tasks[0].securityContext.fsGroup",
        ),
        (
            "spec.tasks.0.affinity.nodeAntiAffinity",
            "spec.tasks[0].affinity.nodeAntiAffinity",
        ),
        (
            "spec.tasks.0.affinity.podAffinity.preferred",
            "spec.tasks[0].affinity.podAffinity.preferred",
        ),
        (
            "spec.defaults.securityContext.sysctls",
            "spec.defaults.securityContext.sysctls",
        ),
        ("spec.defaults.resources", "spec.defaults.resources"),
        (
            "spec.defaults.retry.backoff.max_delay",
            "spec.defaults.retry.backoff.max_delay",
        ),
    ],
)
def test_an_unknown_field_is_an_error_at_every_level(where: str, path: str) -> None:
    doc = document(
        task(
            "a",
            retry={"backoff": {}},
            resources={},
            env=[
                {"name": "A", "value": "1"},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            ],
            tolerations=[{"operator": "Exists"}],
            volumes=[
                {
                    "name": "v",
                    "emptyDir": {},
                    "configMap": None,
                },
                {
                    "name": "w",
                    "configMap": {"name": "c", "items": [{"key": "k", "path": "p"}]},
                },
            ],
            volumeMounts=[{"name": "v", "mountPath": "/v"}],
            securityContext={"capabilities": {}},
            affinity={"podAffinity": {}},
        ),
        parameters=[{"name": "p", "default": "x"}],
        defaults={"retry": {"backoff": {}}, "securityContext": {}},
    )
    assert errors_of(doc) == []
    *parents, last = where.split(".")
    target: Any = doc
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[last] = {}
    name = path.rsplit(".", 1)[-1]
    assert errors_of(doc) == [(path, f"unknown field {name!r}")]


def test_free_form_maps_take_any_keys() -> None:
    doc = document(
        task("a", nodeSelector={"kubernetes.io/arch": "arm64", "anything": "x"}),
        ui={"positions": {"a": {"x": 0}}, "whatever": [1, None, {"deep": True}]},
    )
    doc["metadata"]["labels"] = {"app.kubernetes.io/name": "etl", "Any Key": "v"}
    assert errors_of(doc) == []


def test_a_null_field_counts_as_unset() -> None:
    doc = document(
        task("a", retry=None, timeout=None, env=None),
        parameters=None,
        defaults=None,
        ui=None,
    )
    doc["metadata"]["description"] = None
    assert errors_of(doc) == []
    spec = parse_spec(doc)
    assert spec.ui == {}
    assert spec.tasks[0].retry == RetryPolicy()


def test_it_explains_an_on_key_read_by_a_yaml_1_1_loader() -> None:
    doc = yaml.safe_load(
        "apiVersion: flowdeck.io/v1\nkind: Workflow\nmetadata: {name: wf}\n"
        "spec: {tasks: [{name: a, image: x, retry: {on: [Failed]}}]}\n"
    )
    [error] = validate(doc)
    assert error.path == "spec.tasks[0].retry[True]"
    assert "unquoted `on` key" in error.message


# --- cycles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tasks", "errors"),
    [
        (
            [task("a", dependencies=["b"]), task("b", dependencies=["a"])],
            [("spec.tasks[0].dependencies[0]", "dependency cycle: a -> b -> a")],
        ),
        (
            # Two separate loops: each is named once, where it closes.
            [
                task("a", dependencies=["b"]),
                task("b", dependencies=["a"]),
                task("c", dependencies=["d"]),
                task("d", dependencies=["c"]),
            ],
            [
                ("spec.tasks[0].dependencies[0]", "dependency cycle: a -> b -> a"),
                ("spec.tasks[2].dependencies[0]", "dependency cycle: c -> d -> c"),
            ],
        ),
        (
            # Two loops through one task.
            [
                task("a", dependencies=["b", "c"]),
                task("b", dependencies=["a"]),
                task("c", dependencies=["a"]),
            ],
            [
                ("spec.tasks[0].dependencies[0]", "dependency cycle: a -> b -> a"),
                ("spec.tasks[0].dependencies[1]", "dependency cycle: a -> c -> a"),
            ],
        ),
        (
            # A loop downstream of a root is named from where it is entered.
            [
                task("root"),
                task("x", dependencies=["root", "z"]),
                task("y", dependencies=["x"]),
                task("z", dependencies=["y"]),
            ],
            [("spec.tasks[1].dependencies[1]", "dependency cycle: x -> y -> z -> x")],
        ),
        (
            # A diamond has two paths to d but no loop.
            [
                task("a"),
                task("b", dependencies=["a"]),
                task("c", dependencies=["a"]),
                task("d", dependencies=["b", "c"]),
            ],
            [],
        ),
    ],
)
def test_it_rejects_a_cycle_and_names_it(
    tasks: list[dict[str, Any]], errors: list[tuple[str, str]]
) -> None:
    assert errors_of(document(*tasks)) == errors


def test_a_long_chain_does_not_exhaust_the_stack() -> None:
    count = 5000
    tasks = [task("t0", dependencies=[f"t{count - 1}"])]
    tasks += [task(f"t{i}", dependencies=[f"t{i - 1}"]) for i in range(1, count)]
    [(path, message)] = errors_of(document(*tasks), Limits(max_tasks=count))
    assert path == "spec.tasks[0].dependencies[0]"
    assert message.startswith("dependency cycle: t0 -> t1 -> t2 -> ")
    assert message.endswith(f" -> t{count - 1} -> t0")


# --- caps ----------------------------------------------------------------------


def test_it_caps_the_number_of_tasks() -> None:
    doc = document(task("a"), task("b"), task("c"))
    assert errors_of(doc, Limits(max_tasks=2)) == [
        ("spec.tasks", "must have at most 2 tasks (has 3)")
    ]
    assert errors_of(doc, Limits(max_tasks=3)) == []


def test_it_caps_the_size_of_the_document() -> None:
    doc = document()
    size = len(json.dumps(doc))
    assert errors_of(doc, Limits(max_spec_bytes=size)) == []
    assert errors_of(doc, Limits(max_spec_bytes=size - 1)) == [
        ("", f"document is larger than {size - 1} bytes as JSON")
    ]


def test_it_stops_measuring_an_alias_bomb_at_the_limit() -> None:
    # Nine levels of ten aliases each: a billion strings if expanded.
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    bomb = parse_document("\n".join(lines))
    doc = document(ui=bomb)
    assert ("", "document is larger than 1000 bytes as JSON") in errors_of(
        doc, Limits(max_spec_bytes=1000)
    )


@pytest.mark.parametrize(
    ("ui", "message"),
    [
        ({"when": date(2024, 1, 1)}, "document must contain only JSON values"),
        ({"tags": {"a", "b"}}, "document must contain only JSON values"),
        ({"zoom": float("nan")}, "document must not contain NaN or infinite numbers"),
        ({"zoom": float("inf")}, "document must not contain NaN or infinite numbers"),
    ],
)
def test_a_valid_document_is_always_storable_as_json(
    ui: dict[str, Any], message: str
) -> None:
    assert errors_of(document(ui=ui)) == [("", message)]


@pytest.mark.parametrize(
    "tag", ["!!timestamp 2024-01-01", "!!binary aGk=", "!!set {a: null}"]
)
def test_it_loads_only_json_types(tag: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_document(f"a: 1\nb: {tag}\n")
    [error] = raised.value.errors
    assert error.message.startswith("invalid YAML at line 2, column 4: ")


def test_it_reports_a_circular_ui_instead_of_looping() -> None:
    doc = document(ui={})
    doc["spec"]["ui"]["self"] = doc["spec"]["ui"]
    assert errors_of(doc) == [("", "document must not contain circular references")]


# --- durations -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("1m30s", 90.0),
        ("1d2h3m4s5ms", 93784.005),
    ],
)
def test_it_parses_a_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "use numbers with units"),
        ("0", "must be greater than zero"),
        ("0s", "must be greater than zero"),
        ("0h0m", "must be greater than zero"),
        ("-5s", "use numbers with units"),
        ("10 m", "use numbers with units"),
        (" 10s", "use numbers with units"),
        ("10x", "use numbers with units"),
        ("h", "use numbers with units"),
        ("1.s", "use numbers with units"),
        ("1.5", "use numbers with units"),
        ("1e3s", "use numbers with units"),
        ("inf", "use numbers with units"),
        ("\uff11\uff10s", "use numbers with units"),  # full-width digits
        ("9" * 400, "too large"),
        ("9" * 400 + "d", "too large"),
    ],
)
def test_it_rejects_a_bad_duration(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_the_longest_durations_and_largest_factor_are_accepted() -> None:
    doc = document(
        task(
            "a",
            timeout="365d",
            retry={"backoff": {"delay": "24h", "factor": 10, "maxDelay": 31536000}},
        ),
        timeout="8760h",
        defaults={"timeout": "525600m"},
    )
    assert errors_of(doc) == []


def test_a_stored_version_is_read_without_todays_maxima() -> None:
    # A version saved before durations had a maximum must still plan; the
    # engine clamps what it computes from them.
    doc = document(
        task(
            "a", timeout=10**30, retry={"backoff": {"delay": "999d", "factor": 1e308}}
        ),
        timeout="99999999999d",
    )
    lenient = Limits(strict=False)
    assert errors_of(doc, lenient) == []
    spec = parse_spec(doc, lenient)
    assert (spec.timeout, spec.tasks[0].timeout) == (99999999999 * 86400, 1e30)
    assert spec.tasks[0].retry.backoff.factor == 1e308


def test_a_factor_no_float_can_hold_is_refused_even_for_a_stored_version() -> None:
    doc = document(task("a", retry={"backoff": {"factor": 10**400}}))
    assert errors_of(doc, Limits(strict=False)) == [
        ("spec.tasks[0].retry.backoff.factor", "must be a number between 1 and 10")
    ]


# --- parse_spec ------------------------------------------------------------------


def test_parse_spec_raises_with_every_error() -> None:
    doc = document(task("a", priority="x", timeout="soon"))
    with pytest.raises(SpecError) as raised:
        parse_spec(doc)
    assert [error.path for error in raised.value.errors] == [
        "spec.tasks[0].priority",
        "spec.tasks[0].timeout",
    ]
    assert raised.value.errors[0].as_dict() == {
        "path": "spec.tasks[0].priority",
        "message": "must be an integer",
    }


def test_parse_spec_builds_the_diamond() -> None:
    spec = parse_spec(fixture("diamond.yaml"))
    assert spec.name == "diamond"
    assert [t.name for t in spec.tasks] == ["a", "b", "c", "d"]
    assert spec.task("d") == TaskSpec(
        name="d",
        image="busybox:1.36",
        command=("sh", "-c"),
        args=("echo d",),
        dependencies=("b", "c"),
    )
    assert spec.parallelism is None
    assert spec.fail_fast is False
    assert spec.timeout is None


def test_parse_spec_builds_every_field() -> None:
    spec = parse_spec(fixture("full.yaml"))
    assert spec.description == "Extract, transform and load one day of orders."
    assert spec.labels == {"team": "data", "app.kubernetes.io/part-of": "warehouse"}
    assert spec.parameters == (
        Parameter("day", "2024-01-01", "The day to load, as YYYY-MM-DD."),
        Parameter("region", None, "Required at submission; there is no default."),
        Parameter("batch_size", "500", ""),
    )
    assert (spec.parallelism, spec.fail_fast, spec.timeout) == (10, False, 21600.0)
    assert spec.ui["positions"]["load"] == {"x": 480, "y": 0}
    extract = spec.task("extract")
    assert extract.image == "registry.example.com/etl/extract:{{params.day}}"
    assert extract.env[2] == EnvVar("TOKEN", "s3cr3t", None, True)
    assert extract.env[3] == EnvVar(
        "PW", None, {"secretKeyRef": {"name": "db", "key": "password"}}
    )
    assert extract.resources == Resources(
        requests={"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "1Gi"},
        limits={"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi"},
    )
    assert extract.node_selector == {"disktype": "ssd"}
    assert extract.tolerations[1] == {
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    assert (extract.priority, extract.timeout) == (10, 600.0)
    assert [t.timeout for t in spec.tasks] == [600.0, 5400.0, 3600.0, 3600.0]
    assert spec.namespace == "warehouse"
    assert extract.service_account_name == "etl-runner"  # from the defaults
    assert extract.security_context == {"runAsNonRoot": True, "runAsUser": 1000}
    load = spec.task("load")
    assert (load.image_pull_policy, load.working_dir) == ("Always", "/work")
    assert [volume["name"] for volume in load.volumes] == [
        "scratch",
        "settings",
        "creds",
        "out",
    ]
    assert load.volumes[1]["configMap"]["items"][0]["mode"] == 0o444
    assert load.volume_mounts[2] == {
        "name": "creds",
        "mountPath": "/creds/password",
        "subPath": "password",
        "readOnly": True,
    }
    assert load.security_context["capabilities"] == {"drop": ["ALL"]}
    assert load.image_pull_secrets == ("regcred", "mirror")
    assert list(load.affinity) == ["nodeAffinity"]


@pytest.mark.parametrize(
    ("defaults", "own", "expected"),
    [
        (None, None, RetryPolicy()),
        ({"limit": 2}, None, RetryPolicy(limit=2)),
        (None, {"limit": 4}, RetryPolicy(limit=4)),
        ({"limit": 2}, {"limit": 0}, RetryPolicy(limit=0)),
        (
            {
                "limit": 2,
                "backoff": {"delay": "10s", "factor": 3, "maxDelay": "5m"},
                "on": ["Failed"],
            },
            {"backoff": {"delay": "1m"}},
            RetryPolicy(2, Backoff(60.0, 3.0, 300.0), frozenset({"Failed"})),
        ),
        (
            {"backoff": {"factor": 1.5}, "on": ["Failed", "Error"]},
            {"limit": 1, "backoff": {"maxDelay": "1h"}, "on": ["Error"]},
            RetryPolicy(1, Backoff(10.0, 1.5, 3600.0), frozenset({"Error"})),
        ),
        ({"limit": 3, "on": ["Failed"]}, {"on": []}, RetryPolicy(3, on=frozenset())),
        ({"limit": 3}, {"limit": None}, RetryPolicy(limit=3)),
    ],
)
def test_task_retry_merges_over_the_default_field_by_field(
    defaults: dict[str, Any] | None, own: dict[str, Any] | None, expected: RetryPolicy
) -> None:
    doc = document(task("a", retry=own), defaults={"retry": defaults})
    assert parse_spec(doc).task("a").retry == expected


@pytest.mark.parametrize(
    ("defaults", "fields", "image", "timeout"),
    [
        ({"image": "base"}, {}, "base", None),
        ({"image": "base"}, {"image": "own"}, "own", None),
        ({"image": "base", "timeout": "1h"}, {}, "base", 3600.0),
        ({"image": "base", "timeout": "1h"}, {"timeout": 30}, "base", 30.0),
    ],
)
def test_task_image_and_timeout_fall_back_to_the_defaults(
    defaults: dict[str, Any], fields: dict[str, Any], image: str, timeout: float | None
) -> None:
    doc = document({"name": "a", **fields}, defaults=defaults)
    built = parse_spec(doc).task("a")
    assert (built.image, built.timeout) == (image, timeout)


def test_numeric_quantities_become_strings() -> None:
    doc = document(task("a", resources={"limits": {"cpu": 2, "memory": 0.5}}))
    assert parse_spec(doc).task("a").resources.limits == {"cpu": "2", "memory": "0.5"}


# --- parameters ------------------------------------------------------------------


def _spec_with(*parameters: Parameter) -> WorkflowSpec:
    return WorkflowSpec(name="wf", tasks=(TaskSpec("a"),), parameters=parameters)


@pytest.mark.parametrize(
    ("supplied", "expected"),
    [
        ({"region": "eu"}, {"day": "2024-01-01", "region": "eu"}),
        ({"region": "eu", "day": "2025-02-02"}, {"day": "2025-02-02", "region": "eu"}),
        ({"region": 7}, {"day": "2024-01-01", "region": "7"}),
        ({"region": 1.5}, {"day": "2024-01-01", "region": "1.5"}),
        ({"region": True}, {"day": "2024-01-01", "region": "true"}),
        ({"region": ""}, {"day": "2024-01-01", "region": ""}),
    ],
)
def test_supplied_parameters_override_the_defaults(
    supplied: dict[str, Any], expected: dict[str, str]
) -> None:
    spec = _spec_with(Parameter("day", "2024-01-01"), Parameter("region"))
    assert render_parameters(spec, supplied) == expected


def test_a_parameter_number_too_long_to_write_is_an_error_not_a_crash() -> None:
    # Only Python callers can pass one (JSON and YAML refuse it when read);
    # validate() and render_parameters() must still not raise.
    doc = document(task("a"), parameters=[{"name": "p", "default": 10**5000}])
    assert errors_of(doc) == [
        ("", "document must not contain numbers of over 4300 digits"),
        ("spec.parameters[0].default", "must be a string, number or boolean"),
    ]
    with pytest.raises(SpecError):
        render_parameters(_spec_with(Parameter("p")), {"p": 10**5000})


def test_it_rejects_unknown_missing_and_unusable_parameters_at_once() -> None:
    spec = _spec_with(Parameter("day"), Parameter("region"), Parameter("n", "1"))
    with pytest.raises(SpecError) as raised:
        render_parameters(spec, {"dya": "x", "n": ["1"], "region": "eu"})
    assert raised.value.errors == [
        FieldError("parameters.dya", "unknown parameter"),
        FieldError("parameters.n", "must be a string, number or boolean"),
        FieldError("parameters.day", "is required"),
    ]


def test_a_parameter_value_with_a_nul_is_refused_naming_the_parameter() -> None:
    # The value is substituted into args and env, which execve cannot pass.
    spec = _spec_with(Parameter("day"), Parameter("region", "eu"))
    with pytest.raises(SpecError) as raised:
        render_parameters(spec, {"day": "2024\x00", "region": "\ud800"})
    assert raised.value.errors == [
        FieldError("parameters.day", NUL),
        FieldError(
            "parameters.region", "must not contain an unpaired surrogate (U+D800)"
        ),
    ]


def test_a_default_with_a_nul_from_a_stored_version_is_refused_at_submit() -> None:
    spec = _spec_with(Parameter("day", "x\x00"))
    with pytest.raises(SpecError) as raised:
        render_parameters(spec, {})
    assert raised.value.errors == [FieldError("parameters.day", f"default {NUL}")]
    assert render_parameters(spec, {"day": "x"}) == {"day": "x"}


def test_it_renders_parameters_into_a_task() -> None:
    original = TaskSpec(
        name="a",
        image="app:{{params.tag}}",
        command=("sh", "-c"),
        args=("echo {{ params.day }} {{params.day}}{{params.tag}}", "{{.Go}}"),
        env=(
            EnvVar("DAY", "{{params.day}}"),
            EnvVar("PW", value_from={"secretKeyRef": {"name": "s", "key": "k"}}),
        ),
    )
    rendered = render_task(original, {"day": "2024-01-01", "tag": "v1"})
    assert rendered.image == "app:v1"
    assert rendered.args == ("echo 2024-01-01 2024-01-01v1", "{{.Go}}")
    assert rendered.env[0] == EnvVar("DAY", "2024-01-01")
    assert rendered.env[1] is original.env[1]
    assert original.image == "app:{{params.tag}}"


def test_a_rendered_value_is_not_rendered_again() -> None:
    original = TaskSpec(name="a", image="x", args=("{{params.a}}",))
    rendered = render_task(original, {"a": "{{params.b}}", "b": "no"})
    assert rendered.args == ("{{params.b}}",)


def test_rendering_a_task_needs_every_referenced_value() -> None:
    original = TaskSpec(name="a", image="{{params.tag}}", args=("{{params.day}}",))
    with pytest.raises(SpecError) as raised:
        render_task(original, {})
    assert raised.value.errors == [
        FieldError("parameters.tag", "is required"),
        FieldError("parameters.day", "is required"),
    ]


def test_the_full_fixture_renders_end_to_end() -> None:
    spec = parse_spec(fixture("full.yaml"))
    values = render_parameters(spec, {"region": "eu-west-1"})
    extract = render_task(spec.task("extract"), values)
    assert extract.image == "registry.example.com/etl/extract:2024-01-01"
    assert extract.args == ("echo extracting 2024-01-01 for eu-west-1",)
    assert extract.env[1] == EnvVar("BATCH_SIZE", "500")


# --- robustness --------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "a", "x/y", "250m", "1Gi", "10s", "Failed", "{{params.a}}"])
)
_garbage = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4)
    ),
    max_leaves=30,
)


@st.composite
def _valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid document: dependencies only point at earlier tasks."""
    names = [f"t{i}" for i in range(draw(st.integers(1, 5)))]
    pick = partial(_pick, draw)
    tasks = []
    for i, name in enumerate(names):
        fields: dict[str, Any] = {
            "image": pick(["busybox", "app:{{params.p}}"]),
            "command": pick([["sh", "-c"], []]),
            "args": pick([["echo {{ params.p }}"], ["x", "y"]]),
            "env": pick(
                [
                    [{"name": "A", "value": "{{params.p}}", "secret": True}],
                    [
                        {
                            "name": "B",
                            "valueFrom": {
                                "configMapKeyRef": {
                                    "name": "c",
                                    "key": "k",
                                    "optional": False,
                                }
                            },
                        }
                    ],
                ]
            ),
            "resources": pick(
                [
                    {
                        "requests": {"cpu": "250m"},
                        "limits": {"cpu": 1, "memory": "1Gi"},
                    },
                    {"requests": {"x.io/gpu": 2}, "limits": {"x.io/gpu": "2"}},
                ]
            ),
            "nodeSelector": pick([{"disktype": "ssd"}]),
            "tolerations": pick(
                [
                    [{"operator": "Exists"}],
                    [
                        {
                            "key": "k",
                            "value": "v",
                            "effect": "NoExecute",
                            "tolerationSeconds": 5,
                        }
                    ],
                ]
            ),
            "priority": draw(st.integers(MIN_PRIORITY, MAX_PRIORITY)),
            "retry": pick(
                [
                    {"limit": 3},
                    {"backoff": {"delay": 5, "factor": 1.5}, "on": ["Error"]},
                ]
            ),
            "timeout": pick(["10m", 30, "1h30m", "250ms"]),
            "dependencies": draw(st.lists(st.sampled_from(names[:i]), unique=True))
            if i
            else [],
            "imagePullPolicy": pick(["Always", "IfNotPresent", "Never"]),
            "workingDir": pick(["/work"]),
            "serviceAccountName": pick(["etl", "etl.runner"]),
            "priorityClassName": pick(["batch"]),
            "imagePullSecrets": pick([["regcred"], []]),
            "affinity": pick([AFFINITY, {"podAffinity": {}}]),
            "volumes": [
                {
                    "name": "v",
                    "emptyDir": draw(st.sampled_from([{}, {"sizeLimit": 1}])),
                },
                {"name": "s", "secret": {"secretName": "s", "items": pick([[]])}},
            ],
            "volumeMounts": pick(
                [[{"name": "v", "mountPath": "/v"}], [{"name": "s", "mountPath": "/s"}]]
            ),
            "securityContext": pick(
                [
                    {"runAsUser": 1000, "runAsNonRoot": True},
                    {"capabilities": {"drop": ["ALL"]}, "privileged": False},
                ]
            ),
            "synchronization": pick([{"semaphore": "warehouse"}, {"mutex": "db"}]),
        }
        chosen = draw(st.sets(st.sampled_from(sorted(fields))))
        if "volumes" not in chosen:
            chosen.discard("volumeMounts")
        tasks.append({"name": name, **{key: fields[key] for key in sorted(chosen)}})
    spec: dict[str, Any] = {
        "parameters": [{"name": "p", "default": pick(["v", 1, True])}],
        "defaults": {
            "image": "busybox",
            "imagePullPolicy": pick(["IfNotPresent"]),
            "securityContext": pick([{"readOnlyRootFilesystem": True}]),
            "affinity": pick([AFFINITY]),
            "serviceAccountName": pick(["etl"]),
            "imagePullSecrets": pick([["regcred"]]),
            "retry": pick([{"limit": 1, "backoff": {"maxDelay": "5m"}}]),
            "timeout": pick(["1h"]),
        },
        "parallelism": pick([1, 10]),
        "failFast": pick([True, False]),
        "maxActiveRuns": pick([1, 10000]),
        "synchronization": pick([{"mutex": "lane"}, {"semaphore": "lanes"}]),
        "timeout": pick(["6h", 3600]),
        "namespace": pick(["team-a"]),
        "ui": pick([{"positions": {"t0": {"x": 0, "y": 0}}}]),
    }
    return document(*_drop_absent(draw(st.permutations(tasks))), **_drop_absent(spec))


_ABSENT = object()


def _drop_absent(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_absent(v) for k, v in value.items() if v is not _ABSENT}
    if isinstance(value, list):
        return [_drop_absent(item) for item in value]
    return value


def _pick(draw: st.DrawFn, choices: list[Any]) -> Any:
    return draw(st.sampled_from([_ABSENT, *choices]))


def _node_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _node_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += _node_paths(value, (*prefix, index))
    return paths


@st.composite
def _mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid document with a few nodes replaced by garbage, removed or added."""
    doc = draw(_valid_documents())
    for _ in range(draw(st.integers(1, 3))):
        *parents, last = draw(st.sampled_from(_node_paths(doc)))
        parent = doc
        for key in parents:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent[last], dict):
            parent[last][draw(st.text(max_size=6))] = draw(_garbage)
        else:
            parent[last] = draw(_garbage)
    return doc


# The first quantity check imports the kubernetes package, which is slow once.
_robust = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _assert_well_formed(doc: Any) -> None:
    errors = validate(doc)
    assert isinstance(errors, list)
    for error in errors:
        assert isinstance(error, FieldError)
        assert isinstance(error.path, str)
        assert isinstance(error.message, str)
        assert error.message
    if errors:
        with pytest.raises(SpecError):
            parse_spec(doc)
    else:
        assert isinstance(parse_spec(doc), WorkflowSpec)


@_robust
@given(_garbage)
def test_validate_never_raises_on_garbage(doc: Any) -> None:
    _assert_well_formed(doc)


@_robust
@given(_valid_documents())
def test_generated_valid_documents_validate_build_and_round_trip(
    doc: dict[str, Any],
) -> None:
    assert validate(doc) == []
    spec = parse_spec(doc)
    assert [task.name for task in spec.tasks] == [
        t["name"] for t in doc["spec"]["tasks"]
    ]  # noqa: E501
    assert parse_document(dump_document(doc)) == doc
    assert parse_document(json.dumps(doc)) == doc


@_robust
@given(_mutated_documents())
def test_validate_never_raises_on_nearly_valid_documents(doc: Any) -> None:
    _assert_well_formed(doc)


@_robust
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_parse_document_only_ever_raises_spec_errors(text: str | bytes) -> None:
    try:
        parse_document(text)
    except SpecError as error:
        assert [e.path for e in error.errors] == [""]


# --- boundaries ------------------------------------------------------------------


# The JSON Schema is a cross-check for editors and tools, not the validator, and
# The published JSON Schema must agree with the validator on valid documents.


def _toleration(seconds: int) -> dict[str, Any]:
    return {"key": "k", "effect": "NoExecute", "tolerationSeconds": seconds}


@cache
def _schema_validator() -> Any:
    import jsonschema

    schema = json.loads((ROOT / "flowcore" / "spec_schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


VALID_FIXTURES = [
    path for path in FIXTURE_FILES if not validate(parse_document(path.read_text()))
]


def test_the_fixtures_include_valid_ones_for_the_schema_check() -> None:
    assert {path.name for path in VALID_FIXTURES} >= {"diamond.yaml", "full.yaml"}


@pytest.mark.parametrize("path", VALID_FIXTURES, ids=lambda path: path.name)
def test_a_valid_fixture_also_passes_the_json_schema(path: Path) -> None:
    _schema_validator().validate(parse_document(path.read_text()))


@settings(max_examples=100, deadline=None)
@given(_valid_documents())
def test_a_generated_valid_document_passes_the_json_schema(
    doc: dict[str, Any],
) -> None:
    _schema_validator().validate(doc)


@pytest.mark.parametrize(
    "doc",
    [
        document(task("a", imagee="x")),
        document(task("Bad")),
        document(task("a", retry={"on": ["Crashed"]})),
        document(task("a", resources={"limits": {"gpu": 1}})),
        document(task("a", imagePullPolicy="Sometimes")),
        document(task("a", workingDir="relative")),
        document(task("a", affinity={"nodeSelector": {}})),
        document(task("a", volumes=[_volume(emptyDir={}, secret={"secretName": "s"})])),
        document(task("a", volumes=[{"name": "v"}])),
        document(
            task(
                "a",
                volumes=[_volume()],
                volumeMounts=[{"name": "data", "mountPath": "/d", "subPath": "../x"}],
            )
        ),
        document(task("a", securityContext={"runAsUser": -1})),
        document(task("a", imagePullSecrets=["Bad_Name"])),
        document(task("a"), namespace="Team"),
        document(task("a", command=["sh", "-c", "echo \x00"])),
        document(task("a", args=["\x00"])),
        document(task("a", env=[{"name": "A", "value": "\x00"}])),
        document(task("a", image="busybox\n")),
        document(task("a", workingDir="/w\x00rk")),
        document(
            task(
                "a",
                volumes=[_volume()],
                volumeMounts=[{"name": "data", "mountPath": "/d\n"}],
            )
        ),
        document(task("a"), parameters=[{"name": "p", "default": "\x00"}]),
        document(task("a", timeout=31536001)),
        document(task("a"), timeout=31536001),
        document(task("a"), defaults={"timeout": 31536001}),
        document(task("a", retry={"backoff": {"delay": 86401}})),
        document(task("a", retry={"backoff": {"maxDelay": 31536001}})),
        document(task("a", retry={"backoff": {"factor": 10.5}})),
        document(task("a", resources={"limits": {"cpu": 100001}})),
        document(task("a", resources={"requests": {"memory": 2**60 + 1}})),
        document(task("a", resources={"limits": {"ephemeral-storage": 1e30}})),
        document(task("a", resources={"limits": {"x.io/gpu": 1000001}})),
        document(task("a", volumes=[{"name": "v", "emptyDir": {"sizeLimit": 2**61}}])),
        document(task("a"), parallelism=100001),
        document(task("a", tolerations=[_toleration(-1)])),
        document(task("a", tolerations=[_toleration(31536001)])),
    ],
)
def test_the_json_schema_rejects_what_validate_rejects_by_shape(
    doc: dict[str, Any],
) -> None:
    assert validate(doc)
    assert not _schema_validator().is_valid(doc)
