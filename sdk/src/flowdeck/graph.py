"""What a flow is made of: tasks, the calls that make its nodes, references to
their results, and parameters. Building a flow only records; nothing runs."""

from __future__ import annotations

import contextvars
import datetime as dt
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from flowdeck.flows import Flow

P = ParamSpec("P")
R = TypeVar("R")

_current: contextvars.ContextVar[Flow | None] = contextvars.ContextVar(
    "flowdeck_flow", default=None
)


def current_flow() -> Flow | None:
    """The flow being built (inside `with Flow(...)` or a `@flow` body)."""
    return _current.get()


def enter_flow(flow: Flow) -> contextvars.Token[Flow | None]:
    return _current.set(flow)


def leave_flow(token: contextvars.Token[Flow | None]) -> None:
    _current.reset(token)


class FlowDefinitionError(TypeError):
    """A flow that cannot be built as written (raised where it is written)."""


def seconds_of(value: float | dt.timedelta | None, what: str) -> float | None:
    """A duration given as seconds or a timedelta, as positive seconds."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise FlowDefinitionError(f"{what} must be seconds or a timedelta")
    if seconds <= 0:
        raise FlowDefinitionError(f"{what} must be more than 0 seconds")
    return float(seconds)


def dns_name(text: str) -> str:
    """A Python name as a workflow task name: lower case, `_` as `-`."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-") or "task"


def check_json(value: Any, where: str) -> None:
    """Refuse a value the server could not carry: tasks exchange JSON."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FlowDefinitionError(
            f"{where} is not JSON-serialisable ({exc}): values passed between "
            "tasks travel as JSON (str, int, float, bool, None, lists and dicts "
            "with string keys)"
        ) from None


class Reference:
    """Something whose value is known only when the flow runs."""

    @property
    def upstream(self) -> Node | None:
        return None


@dataclass(eq=False)
class Parameter(Reference):
    """A value given when the flow runs (a workflow parameter on the server).

    Its `default` (JSON) is used when a run does not give one; without a
    default the parameter is required. A parameter whose default is not text
    (a number, a bool, a list) is read as JSON when given as text (from the
    command line or the server), so `-p count=3` gives the int 3.
    """

    name: str
    default: Any = None
    required: bool = False
    description: str = ""
    kind: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise FlowDefinitionError(
                f"parameter {self.name!r}: use letters, digits and _, "
                "not starting with a digit"
            )
        # A parameter without a default must be given (the server's rule too).
        self.required = self.default is None
        if self.default is not None:
            check_json(self.default, f"the default of parameter {self.name!r}")
        if not self.kind:
            is_text = self.default is None or isinstance(self.default, str)
            self.kind = "text" if is_text else "json"
        flow = current_flow()
        if flow is not None:
            flow.add_parameter(self)

    def decode(self, value: Any) -> Any:
        """A value given for this parameter as the task will see it."""
        if isinstance(value, str) and self.kind == "json":
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value


@dataclass(eq=False)
class Node:
    """One call of a task in a flow: a task of the workflow."""

    name: str
    task: Task[..., Any]
    arguments: dict[str, Any]  # literal values and References
    mapped: str | None = None  # the argument fanned out over, with .map
    after: list[Node] = field(default_factory=list)  # upstream_tasks=

    def references(self) -> list[Reference]:
        return [v for v in self.arguments.values() if isinstance(v, Reference)]

    @property
    def upstream(self) -> list[Node]:
        """The nodes this one waits for, each once, in the order of first use."""
        seen: dict[int, Node] = {}
        for ref in self.references():
            node = ref.upstream
            if node is not None:
                seen.setdefault(id(node), node)
        for node in self.after:
            seen.setdefault(id(node), node)
        return list(seen.values())

    @property
    def parameters(self) -> list[Parameter]:
        return [ref for ref in self.references() if isinstance(ref, Parameter)]


class TaskRef(Reference):
    """The future result of a node: pass it to other tasks to make an edge."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @property
    def upstream(self) -> Node:
        return self.node

    @property
    def name(self) -> str:
        return self.node.name

    def __repr__(self) -> str:
        return f"<result of {self.node.name}>"

    def __iter__(self) -> Any:
        raise FlowDefinitionError(
            f"the result of {self.node.name!r} is not known while the flow is "
            "built: pass it to a task (or .map over it) instead of iterating it"
        )

    def __bool__(self) -> bool:
        raise FlowDefinitionError(
            f"the result of {self.node.name!r} is not known while the flow is "
            "built: decide inside a task"
        )


class Task(Generic[P, R]):
    """A Python function that is one task of a flow.

    Outside a flow, calling it calls the function. Inside one, calling it
    records a node and returns a `TaskRef`; `.map(items)` records a fan-out
    over its first argument.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        image: str | None = None,
        resources: Mapping[str, Mapping[str, str | int | float]] | None = None,
        retries: int = 0,
        retry_delay: float | dt.timedelta | None = None,
        timeout: float | dt.timedelta | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        node_selector: Mapping[str, str] | None = None,
        tolerations: Sequence[Mapping[str, Any]] | None = None,
        module: bool = False,
    ) -> None:
        if not callable(fn) or not inspect.isfunction(fn):
            raise FlowDefinitionError("@task decorates a function (def ...)")
        if fn.__name__ == "<lambda>":
            raise FlowDefinitionError("@task needs a def: a lambda has no name")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise FlowDefinitionError(f"{fn.__name__}: retries must be an int >= 0")
        self.fn = fn
        self.name = name or dns_name(fn.__name__)
        self.image = image
        self.resources = dict(resources) if resources else None
        self.retries = retries
        self.retry_delay = seconds_of(retry_delay, f"{fn.__name__}: retry_delay")
        self.timeout = seconds_of(timeout, f"{fn.__name__}: timeout")
        self.env = dict(env or {})
        self.secrets = dict(secrets or {})
        for variable, source in self.secrets.items():
            if source.count(":") != 1:
                raise FlowDefinitionError(
                    f"{fn.__name__}: secrets[{variable!r}] must be "
                    "'secret-name:key' (a Kubernetes Secret and its key)"
                )
        self.node_selector = dict(node_selector or {})
        self.tolerations = [dict(t) for t in tolerations or ()]
        self.module = module
        self.signature = inspect.signature(fn)
        for parameter in self.signature.parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise FlowDefinitionError(
                    f"{fn.__name__}: *args and **kwargs cannot be passed between "
                    "tasks; name each argument"
                )
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    @property
    def retry_delay_seconds(self) -> float:
        return self.retry_delay if self.retry_delay is not None else 10.0

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        flow = current_flow()
        if flow is None:
            return self.fn(*args, **kwargs)
        return TaskRef(self._record(flow, args, kwargs, mapped=False))

    def map(self, items: Any, *args: Any, **kwargs: Any) -> TaskRef:
        """Run the task once per item of `items` (a list, a task's result or a
        parameter holding a JSON list), each item as its first argument; the
        other arguments go whole to every instance. Its result downstream is
        the list of the instances' results, in item order."""
        flow = current_flow()
        if flow is None:
            raise FlowDefinitionError(
                f"{self.name}.map(...) builds a fan-out: call it inside a flow"
            )
        if not isinstance(items, Reference) and not isinstance(items, list | tuple):
            raise FlowDefinitionError(
                f"{self.name}.map: map over a list, a task's result or a "
                f"parameter, not {type(items).__name__}"
            )
        return TaskRef(self._record(flow, (items, *args), kwargs, mapped=True))

    def _record(
        self, flow: Flow, args: tuple[Any, ...], kwargs: dict[str, Any], mapped: bool
    ) -> Node:
        after = kwargs.pop("upstream_tasks", None)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise FlowDefinitionError(f"{self.name}: {exc}") from None
        arguments = dict(bound.arguments)
        mapped_name = next(iter(arguments)) if mapped and arguments else None
        if mapped and mapped_name is None:
            raise FlowDefinitionError(f"{self.name}.map: the task takes no argument")
        for key, value in arguments.items():
            if isinstance(value, Reference):
                continue
            _refuse_nested_references(value, f"{self.name}: argument {key!r}")
            if key == mapped_name:
                for index, item in enumerate(value):
                    check_json(item, f"{self.name}.map: item {index}")
            else:
                check_json(value, f"{self.name}: argument {key!r}")
        upstream_nodes = [_node_of(ref, self.name) for ref in _as_list(after)]
        return flow.add_node(self, arguments, mapped_name, upstream_nodes)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Reference):
        return [value]
    return list(value)


def _node_of(ref: Any, task: str) -> Node:
    if isinstance(ref, TaskRef):
        return ref.node
    raise FlowDefinitionError(
        f"{task}: upstream_tasks takes the results of task calls, not {ref!r}"
    )


def _refuse_nested_references(value: Any, where: str) -> None:
    if isinstance(value, Reference):
        raise FlowDefinitionError(
            f"{where}: a task's result or a parameter inside a list or dict "
            "cannot be passed; pass it as an argument of its own"
        )
    if isinstance(value, Mapping):
        for item in value.values():
            _refuse_nested_references(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_nested_references(item, where)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    image: str | None = None,
    resources: Mapping[str, Mapping[str, str | int | float]] | None = None,
    retries: int = 0,
    retry_delay: float | dt.timedelta | None = None,
    timeout: float | dt.timedelta | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] | None = None,
    module: bool = False,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None, /, **options: Any
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Make a function a task: `@task` or `@task(retries=2, image=...)`."""
    if fn is not None:
        return Task(fn, **options)

    def decorate(function: Callable[P, R]) -> Task[P, R]:
        return Task(function, **options)

    return decorate


def leaves(nodes: Iterable[Node]) -> list[Node]:
    """The nodes nothing else waits for, in the order they were made."""
    nodes = list(nodes)
    used = {id(up) for node in nodes for up in node.upstream}
    return [node for node in nodes if id(node) not in used]
