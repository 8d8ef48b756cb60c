"""The `when` and `depends` expression languages: parsing with positions,
evaluation, and properties over random expressions."""

from __future__ import annotations

import json
import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcore.conditions import (
    ExpressionError,
    Unresolved,
    evaluate,
    evaluate_depends,
    parse_condition,
    parse_depends,
    references,
    show,
)
from flowcore.states import TaskStatus

VALUES = {
    "tasks.tests.outputs.result": "ok",
    "tasks.count.outputs.result": "12",
    "tasks.files.outputs.result": '["a.csv", "b.csv"]',
    "params.env": "prod",
}


def resolve(reference):
    return VALUES.get(reference.key)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{tasks.tests.outputs.result}} == ok", True),
        ("{{tasks.tests.outputs.result}} == 'ok'", True),
        ('{{tasks.tests.outputs.result}} != "ok"', False),
        ("{{tasks.count.outputs.result}} > 9", True),  # numbers, not text
        ("{{tasks.count.outputs.result}} < 100 && {{params.env}} == prod", True),
        ("{{tasks.count.outputs.result}} >= 12.0", True),
        ("!({{tasks.tests.outputs.result}} == ok)", False),
        ("{{params.env}} in [dev, staging]", False),
        ("{{params.env}} in [dev, prod]", True),
        ("a.csv in {{tasks.files.outputs.result}}", True),  # a JSON list value
        ("c.csv in {{tasks.files.outputs.result}}", False),
        ("false || {{tasks.tests.outputs.result}} == ok && 1 == 2", False),
        ("(false || {{tasks.tests.outputs.result}} == ok) && 1 == 1", True),
        ("true", True),
        ("FALSE", False),
        ("0", False),
        ("abc < abd", True),  # text when either side is not a number
    ],
)
def test_conditions_evaluate_as_documented(text, expected):
    assert evaluate(parse_condition(text), resolve) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "position 1: the expression is empty"),
        (
            "{{tasks.tests.outputs.result}} ==",
            "position 34: expected a value after '==', found the end",
        ),
        ("(a == b", "position 1: a '(' without its ')'"),
        ("a == b)", "position 7: unexpected ')'"),
        ("a = b", "position 3: unexpected '='"),
        ("'open", "position 1: an unterminated string"),
        (
            "{{tasks.x.outputs}} == 1",
            "position 1: {{tasks.x.outputs}}: a task reference is "
            "{{tasks.TASK.outputs.result}}, {{tasks.TASK.outputs.parameters.NAME}}, "
            "{{tasks.TASK.outputs.artifacts.NAME}}, or a daemon's "
            "{{tasks.TASK.ip}} or {{tasks.TASK.service}}",
        ),
        ("[a, b", "position 1: a '[' without its ']'"),
        ("!" * 60 + "a", "position 51: nested more than 50 deep"),
    ],
)
def test_a_bad_condition_names_the_position_and_the_problem(text, message):
    with pytest.raises(ExpressionError) as error:
        parse_condition(text)
    assert str(error.value) == message


def test_a_missing_value_is_reported_not_guessed():
    node = parse_condition("{{tasks.gone.outputs.result}} == x")
    with pytest.raises(Unresolved) as missing:
        evaluate(node, resolve)
    assert str(missing.value) == "{{tasks.gone.outputs.result}} has no value"


def test_show_puts_the_values_in_for_the_skip_message():
    node = parse_condition(
        "{{tasks.tests.outputs.result}} == fail && {{params.env}} in [a, b]"
    )
    assert show(node, resolve) == "ok == fail && prod in [a, b]"
    assert [r.reference.key for r in references(node)] == [
        "tasks.tests.outputs.result",
        "params.env",
    ]


STATUSES = {
    "a": TaskStatus.SUCCEEDED,
    "b": TaskStatus.FAILED,
    "c": TaskStatus.SKIPPED,
    "d": TaskStatus.ERROR,
    "e": TaskStatus.UPSTREAM_FAILED,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", True),
        ("c", True),  # a bare task: Succeeded or Skipped
        ("b", False),
        ("a.Succeeded && b.Failed", True),
        ("a.Failed || c.Skipped", True),
        ("!(d.Errored) || e.Omitted", True),
        ("d.Errored && !e.Omitted", False),
    ],
)
def test_depends_evaluates_over_upstream_results(text, expected):
    assert evaluate_depends(parse_depends(text), STATUSES.__getitem__) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a.Finished",
            "position 1: 'a.Finished': a task's result is one of Succeeded, "
            "Failed, Errored, Skipped, Omitted, Cancelled",
        ),
        (
            "a == b",
            "position 3: depends compares no values: use TASK.Succeeded, "
            "TASK.Failed, &&, || and !",
        ),
        ("a &&", "position 5: expected a task, found the end"),
    ],
)
def test_a_bad_depends_names_the_position_and_the_problem(text, message):
    with pytest.raises(ExpressionError) as error:
        parse_depends(text)
    assert str(error.value) == message


# --- properties --------------------------------------------------------------------

_WORDS = st.sampled_from(["ok", "fail", "1", "2", "10", "-3", "2.5", "abc", "true"])


@st.composite
def expressions(draw, depth=0):
    """(text, the truth computed by Python's own operators)."""
    kind = draw(
        st.sampled_from(["compare", "not", "and", "or"] if depth < 3 else ["compare"])
    )
    if kind == "compare":
        left, right = draw(_WORDS), draw(_WORDS)
        op = draw(st.sampled_from(["==", "!=", "<", ">", "<=", ">="]))
        try:
            a, b = float(left), float(right)
        except ValueError:
            a, b = left, right  # type: ignore[assignment]
        truth = {
            "==": operator.eq,
            "!=": operator.ne,
            "<": operator.lt,
            ">": operator.gt,
            "<=": operator.le,
            ">=": operator.ge,
        }[op](a, b)
        return f"{left} {op} {right}", truth
    if kind == "not":
        text, truth = draw(expressions(depth + 1))
        return f"!({text})", not truth
    (lt, lv), (rt, rv) = draw(expressions(depth + 1)), draw(expressions(depth + 1))
    if kind == "and":
        return f"({lt}) && ({rt})", lv and rv
    return f"({lt}) || ({rt})", lv or rv


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_random_conditions_evaluate_as_python_would(case):
    text, truth = case
    assert evaluate(parse_condition(text), lambda r: None) is truth


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_parsing_anything_raises_only_expression_errors(text):
    for parse in (parse_condition, parse_depends):
        try:
            parse(text)
        except ExpressionError as error:
            assert 0 <= error.position <= len(text) + 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["ok", 1, 2.5, "a b", True]), max_size=5),
    st.sampled_from(["ok", "1", "2.5", "zz"]),
)
def test_in_finds_a_value_in_a_json_list_value(items, needle):
    value = json.dumps(items)
    node = parse_condition(f"{needle} in {{{{tasks.x.outputs.result}}}}")
    found = evaluate(node, lambda r: value)
    as_text = [i if isinstance(i, str) else json.dumps(i) for i in items]
    expected = any(
        needle == item or (_num(needle) is not None and _num(needle) == _num(item))
        for item in as_text
    )
    assert found is expected


def _num(text):
    try:
        return float(text)
    except ValueError:
        return None
