"""The two small expression languages of control flow: a task's `when`
condition over values, and its `depends` expression over upstream results.
No eval: a tokenizer and a recursive-descent parser, property-tested.

`when` (docs/spec.md, "Conditions"):

    expr    := or
    or      := and ('||' and)*
    and     := unary ('&&' unary)*
    unary   := '!' unary | compare
    compare := operand (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in') operand)?
    operand := '(' expr ')' | '[' [operand (',' operand)*] ']' | reference
             | number | 'quoted' | "quoted" | word

A reference is `{{params.x}}` or `{{tasks.X.outputs.result|parameters.N}}`,
resolved when the condition is evaluated. Comparisons are numeric when both
sides read as numbers, textual otherwise; `in` looks for the left value in a
list literal or in a value that is a JSON list. An operand alone is true when
it reads `true` (any case) and false when `false`, `0` or empty.

`depends` (as Argo's): `a && (b.Failed || !c.Succeeded)`, where `TASK.RESULT`
is one of Succeeded, Failed, Errored, Skipped, Omitted (did not run because an
upstream failed) or Cancelled, and a bare `TASK` means `TASK.Succeeded ||
TASK.Skipped`.

Pure: the standard library only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from flowcore.states import TaskStatus
from flowcore.templates import Reference, ReferenceError_, parse_reference

MAX_LENGTH = 2000  # characters of one expression
MAX_DEPTH = 50  # nested parentheses, lists and negations


class ExpressionError(ValueError):
    """An expression that does not parse: `position` is its 0-based offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"position {position + 1}: {message}")
        self.position = position
        self.reason = message


# -- tokens ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    # op, lparen, rparen, lbracket, rbracket, comma, ref, number, string, word, end
    kind: str
    text: str
    position: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<ref>\{\{[^{}]*\}\})
  | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<lbracket>\[)
  | (?P<rbracket>\])
  | (?P<comma>,)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<number>-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?(?![\w.-]))
  | (?P<word>[A-Za-z0-9_.\-/:@+]+)
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters", MAX_LENGTH)
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text.startswith(("'", '"'), position):
                raise ExpressionError("an unterminated string", position)
            if text.startswith("{{", position):
                raise ExpressionError("an unterminated {{ reference", position)
            raise ExpressionError(f"unexpected {text[position]!r}", position)
        kind = match.lastgroup or ""
        if kind != "space":
            token = match.group()
            if kind == "word" and token == "in":
                kind = "op"
            tokens.append(Token(kind, token, position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# -- the tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Ref:
    reference: Reference
    text: str  # as written
    position: int


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # && or ||
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Result:
    """`task.Result` in a depends expression; `result` "" for a bare task."""

    task: str
    result: str
    position: int


Node = Literal | Ref | ListOf | Not | BoolOp | Compare | Result

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in")
RESULTS: Mapping[str, frozenset[TaskStatus]] = {
    "Succeeded": frozenset({TaskStatus.SUCCEEDED}),
    "Failed": frozenset({TaskStatus.FAILED}),
    "Errored": frozenset({TaskStatus.ERROR}),
    "Skipped": frozenset({TaskStatus.SKIPPED}),
    "Omitted": frozenset({TaskStatus.UPSTREAM_FAILED}),
    "Cancelled": frozenset({TaskStatus.CANCELLED}),
    "": frozenset({TaskStatus.SUCCEEDED, TaskStatus.SKIPPED}),
}


class _Parser:
    def __init__(self, text: str, depends: bool) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depends = depends
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty", 0)
        node = self.or_()
        if self.token.kind != "end":
            raise ExpressionError(
                f"unexpected {self.token.text!r}", self.token.position
            )
        return node

    def nested(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} deep", position)

    def or_(self) -> Node:
        node = self.and_()
        while self.token.kind == "op" and self.token.text == "||":
            self.take()
            node = BoolOp("||", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.unary()
        while self.token.kind == "op" and self.token.text == "&&":
            self.take()
            node = BoolOp("&&", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.token.kind == "op" and self.token.text == "!":
            token = self.take()
            self.nested(token.position)
            node = Not(self.unary())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        left = self.operand()
        if self.token.kind == "op" and self.token.text in _COMPARISONS:
            if self.depends:
                raise ExpressionError(
                    "depends compares no values: use TASK.Succeeded, "
                    "TASK.Failed, &&, || and !",
                    self.token.position,
                )
            op = self.take()
            right = self.operand(after=op)
            return Compare(op.text, left, right)
        return left

    def operand(self, after: Token | None = None) -> Node:
        token = self.token
        if token.kind == "lparen":
            self.take()
            self.nested(token.position)
            node = self.or_()
            self.depth -= 1
            if self.token.kind != "rparen":
                raise ExpressionError("a '(' without its ')'", token.position)
            self.take()
            return node
        if self.depends:
            return self.result()
        if token.kind == "lbracket":
            return self.list_()
        if token.kind == "ref":
            self.take()
            try:
                reference = parse_reference(token.text[2:-2].strip())
            except ReferenceError_ as error:
                raise ExpressionError(
                    f"{token.text}: {error}", token.position
                ) from None
            return Ref(reference, token.text, token.position)
        if token.kind == "string":
            self.take()
            return Literal(token.text[1:-1], quoted=True)
        if token.kind in ("number", "word"):
            self.take()
            return Literal(token.text)
        where = f" after {after.text!r}" if after is not None else ""
        found = "the end" if token.kind == "end" else repr(token.text)
        raise ExpressionError(f"expected a value{where}, found {found}", token.position)

    def list_(self) -> Node:
        opening = self.take()
        self.nested(opening.position)
        items: list[Node] = []
        if self.token.kind != "rbracket":
            while True:
                items.append(self.operand())
                if self.token.kind == "comma":
                    self.take()
                    continue
                break
        if self.token.kind != "rbracket":
            raise ExpressionError("a '[' without its ']'", opening.position)
        self.take()
        self.depth -= 1
        return ListOf(tuple(items))

    def result(self) -> Node:
        token = self.token
        if token.kind != "word":
            found = "the end" if token.kind == "end" else repr(token.text)
            raise ExpressionError(f"expected a task, found {found}", token.position)
        self.take()
        task, _, result = token.text.partition(".")
        if result not in RESULTS or (token.text.endswith(".") and not result):
            names = ", ".join(name for name in RESULTS if name)
            raise ExpressionError(
                f"{token.text!r}: a task's result is one of {names}", token.position
            )
        return Result(task, result, token.position)


def parse_condition(text: str) -> Node:
    """A `when` expression's tree; ExpressionError with a position."""
    return _Parser(text, depends=False).parse()


def parse_depends(text: str) -> Node:
    """A `depends` expression's tree; ExpressionError with a position."""
    return _Parser(text, depends=True).parse()


def walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Not):
        yield from walk(node.operand)
    elif isinstance(node, BoolOp | Compare):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, ListOf):
        for item in node.items:
            yield from walk(item)


def references(node: Node) -> list[Ref]:
    return [item for item in walk(node) if isinstance(item, Ref)]


def depended_tasks(node: Node) -> list[Result]:
    return [item for item in walk(node) if isinstance(item, Result)]


# -- evaluation -----------------------------------------------------------------------


class Unresolved(LookupError):
    """A reference in a condition had no value when it was evaluated."""

    def __init__(self, reference: Ref) -> None:
        super().__init__(f"{reference.text} has no value")
        self.reference = reference


Resolve = Callable[[Reference], str | None]


def _value(node: Node, resolve: Resolve) -> str | list[str]:
    if isinstance(node, Literal):
        return node.text
    if isinstance(node, Ref):
        value = resolve(node.reference)
        if value is None:
            raise Unresolved(node)
        return value
    if isinstance(node, ListOf):
        return [_text(_value(item, resolve)) for item in node.items]
    return "true" if evaluate(node, resolve) else "false"


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _truthy(value: str | list[str]) -> bool:
    if isinstance(value, list):
        return bool(value)
    lowered = value.strip().lower()
    return lowered not in ("", "false", "0", "no")


def _members(value: str | list[str]) -> list[str] | None:
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, list):
        return None
    return [item if isinstance(item, str) else json.dumps(item) for item in parsed]


def _equal(left: str, right: str) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return left.strip() == right.strip()


def _compare(op: str, left: str | list[str], right: str | list[str]) -> bool:
    if op == "in":
        members = _members(right)
        if members is None:  # text: a substring test, as in most languages
            return _text(left) in _text(right)
        return any(_equal(_text(left), member) for member in members)
    l_text, r_text = _text(left), _text(right)
    if op == "==":
        return _equal(l_text, r_text)
    if op == "!=":
        return not _equal(l_text, r_text)
    a, b = _number(l_text), _number(r_text)
    pair: tuple[float, float] | tuple[str, str] = (
        (a, b) if a is not None and b is not None else (l_text.strip(), r_text.strip())
    )
    if op == "<":
        return pair[0] < pair[1]  # type: ignore[operator]
    if op == "<=":
        return pair[0] <= pair[1]  # type: ignore[operator]
    if op == ">":
        return pair[0] > pair[1]  # type: ignore[operator]
    return pair[0] >= pair[1]  # type: ignore[operator]


def evaluate(node: Node, resolve: Resolve) -> bool:
    """A `when` condition's truth; Unresolved when a reference has no value."""
    if isinstance(node, BoolOp):
        left = evaluate(node.left, resolve)
        if node.op == "&&":
            return left and evaluate(node.right, resolve)
        return left or evaluate(node.right, resolve)
    if isinstance(node, Not):
        return not evaluate(node.operand, resolve)
    if isinstance(node, Compare):
        return _compare(
            node.op, _value(node.left, resolve), _value(node.right, resolve)
        )
    return _truthy(_value(node, resolve))


def evaluate_depends(node: Node, status: Callable[[str], TaskStatus]) -> bool:
    """A `depends` expression's truth over the upstreams' final statuses."""
    if isinstance(node, BoolOp):
        left = evaluate_depends(node.left, status)
        if node.op == "&&":
            return left and evaluate_depends(node.right, status)
        return left or evaluate_depends(node.right, status)
    if isinstance(node, Not):
        return not evaluate_depends(node.operand, status)
    assert isinstance(node, Result)
    return status(node.task) in RESULTS[node.result]


def show(node: Node, resolve: Resolve) -> str:
    """The expression with each reference replaced by its value (or `?`),
    for the message that says why a task was skipped."""

    def part(item: Node, top: bool = False) -> str:
        if isinstance(item, Literal):
            return repr(item.text) if item.quoted else item.text
        if isinstance(item, Ref):
            value = resolve(item.reference)
            return "?" if value is None else _shown_value(value)
        if isinstance(item, ListOf):
            return "[" + ", ".join(part(i) for i in item.items) + "]"
        if isinstance(item, Not):
            return "!" + part(item.operand)
        if isinstance(item, Result):
            return f"{item.task}.{item.result}" if item.result else item.task
        text = f"{part(item.left)} {item.op} {part(item.right)}"
        return text if top or isinstance(item, Compare) else f"({text})"

    return part(node, top=True)


def _shown_value(value: str) -> str:
    short = value if len(value) <= 60 else value[:57] + "..."
    return short if short and re.fullmatch(r"[\w.\-/:@+]+", short) else repr(short)
