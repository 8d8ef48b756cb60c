"""Flows: a graph of task calls built with `with Flow(...)` or `@flow`, which
runs here (`run`), compiles to a workflow spec (`to_spec`), and deploys to and
runs on a Flowdeck server (`deploy`, `submit`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from flowdeck.graph import (
    FlowDefinitionError,
    Node,
    Parameter,
    Task,
    current_flow,
    enter_flow,
    leave_flow,
)

if TYPE_CHECKING:
    import contextvars

    from flowdeck.client import Client
    from flowdeck.executors import Executor
    from flowdeck.remote import Deployment
    from flowdeck.results import FlowResult
    from flowdeck.schedules import Schedule


class Flow:
    """A workflow written in Python.

    >>> with Flow("my-flow") as flow:
    ...     load(transform(extract()))
    >>> flow.run()
    """

    def __init__(
        self,
        name: str,
        *,
        schedule: Schedule | None = None,
        image: str | None = None,
        description: str = "",
        project: str | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.image = image
        self.project = project
        self.nodes: dict[str, Node] = {}
        self.parameters: dict[str, Parameter] = {}
        self._schedule = schedule
        self._tokens: list[contextvars.Token[Flow | None]] = []
        self._deployed: Deployment | None = None

    def __repr__(self) -> str:
        return f"<Flow {self.name}: {len(self.nodes)} tasks>"

    def __enter__(self) -> Flow:
        self._tokens.append(enter_flow(self))
        return self

    def __exit__(self, *exc: object) -> None:
        leave_flow(self._tokens.pop())

    # Building

    def add_parameter(self, parameter: Parameter) -> None:
        known = self.parameters.get(parameter.name)
        if known is not None and known is not parameter:
            raise FlowDefinitionError(
                f"flow {self.name!r} already has a parameter {parameter.name!r}"
            )
        self.parameters[parameter.name] = parameter

    def add_node(
        self,
        task: Task[..., Any],
        arguments: dict[str, Any],
        mapped: str | None,
        after: list[Node],
    ) -> Node:
        name = task.name
        number = 1
        while name in self.nodes:
            number += 1
            name = f"{task.name[: 63 - len(str(number)) - 1]}-{number}"
        node = Node(name, task, arguments, mapped, after)
        for parameter in node.parameters:
            self.add_parameter(parameter)
        for upstream in node.upstream:
            if self.nodes.get(upstream.name) is not upstream:
                raise FlowDefinitionError(
                    f"{name}: {upstream.name!r} belongs to another flow"
                )
        self.nodes[name] = node
        return node

    def schedule(self, schedule: Schedule | None) -> Flow:
        """Run on `schedule`: `flow.run()` repeats in this process until
        interrupted, `flow.deploy()` makes the server's schedule."""
        self._schedule = schedule
        return self

    @property
    def current_schedule(self) -> Schedule | None:
        return self._schedule

    # Running here

    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        executor: Executor | None = None,
        run_on_schedule: bool | None = None,
        quiet: bool = False,
    ) -> FlowResult:
        """Run the flow in this process (LocalExecutor, threads) or on the
        given executor, printing each task's state to standard error.

        With a schedule (and `run_on_schedule` not False) it runs at every
        fire time until interrupted (Ctrl-C), and returns the last result.
        """
        from flowdeck.executors import LocalExecutor, run_flow

        chosen = executor or LocalExecutor()
        if self._schedule is not None and run_on_schedule is not False:
            from flowdeck.scheduling import run_on_schedule as repeat

            return repeat(
                self._schedule,
                lambda: run_flow(self, parameters, chosen, quiet=quiet),
            )
        return run_flow(self, parameters, chosen, quiet=quiet)

    # Compiling

    def to_spec(self) -> dict[str, Any]:
        """The Flowdeck workflow document (apiVersion flowdeck.io/v1)."""
        from flowdeck.compile import compile_flow

        return compile_flow(self)

    def to_yaml(self) -> str:
        """The spec as YAML, scripts as literal blocks (`|`) to read."""
        from flowdeck.compile import to_yaml

        return to_yaml(self.to_spec())

    def validate(self) -> list[str]:
        """The server validator's complaints about the compiled spec, as
        `path: message` lines; empty when it is valid."""
        from flowcore.spec import validate

        return [f"{e.path}: {e.message}" for e in validate(self.to_spec())]

    # On a server

    def deploy(
        self,
        server: str | Client | None = None,
        *,
        project: str | None = None,
        message: str = "",
    ) -> Deployment:
        """Create the workflow on the server, or save a new version when its
        spec changed (an unchanged spec keeps the current version); with a
        schedule, create or update its server schedule too."""
        from flowdeck.remote import deploy

        self._deployed = deploy(
            self, server, project=project or self.project, message=message
        )
        return self._deployed

    def submit(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        wait: bool = False,
        server: str | Client | None = None,
        project: str | None = None,
        quiet: bool = False,
        timeout: float | None = None,
    ) -> FlowResult:
        """Start a run on the server (deploying first if this flow was not
        deployed in this process). With `wait=True` follow it live over the
        websocket, states and logs on standard error, until it ends."""
        from flowdeck.remote import submit

        if self._deployed is None or (server is not None or project is not None):
            self.deploy(server, project=project)
        assert self._deployed is not None
        return submit(
            self._deployed,
            parameters,
            wait=wait,
            quiet=quiet,
            timeout=timeout,
        )


class FunctionFlow(Flow):
    """A flow made by `@flow` from a function: calling it runs it here."""

    def __init__(self, fn: Callable[..., Any], name: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        signature = inspect.signature(fn)
        arguments: dict[str, Parameter] = {}
        with self:
            for parameter in signature.parameters.values():
                if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                    raise FlowDefinitionError(
                        f"@flow {fn.__name__}: name each parameter (no *args)"
                    )
                default = (
                    None if parameter.default is parameter.empty else parameter.default
                )
                kind = "json" if _annotated_json(parameter) else ""
                arguments[parameter.name] = Parameter(
                    parameter.name, default=default, kind=kind
                )
            fn(**arguments)
        self.signature = signature

    def __call__(self, *args: Any, **kwargs: Any) -> FlowResult:
        bound = self.signature.bind(*args, **kwargs)
        return self.run(parameters=dict(bound.arguments))


def _annotated_json(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    if isinstance(annotation, str):
        return annotation.split("[")[0] in ("int", "float", "bool", "list", "dict")
    return annotation in (int, float, bool, list, dict)


@overload
def flow(fn: Callable[..., Any], /) -> FunctionFlow: ...


@overload
def flow(
    *,
    name: str | None = None,
    schedule: Schedule | None = None,
    image: str | None = None,
    description: str = "",
    project: str | None = None,
) -> Callable[[Callable[..., Any]], FunctionFlow]: ...


def flow(
    fn: Callable[..., Any] | None = None, /, **options: Any
) -> FunctionFlow | Callable[[Callable[..., Any]], FunctionFlow]:
    """A flow from a function whose arguments are its parameters:
    `@flow` or `@flow(name="etl", schedule=...)`."""
    if current_flow() is not None:
        raise FlowDefinitionError("@flow inside a flow: use a sub-workflow instead")

    def build(function: Callable[..., Any]) -> FunctionFlow:
        name = options.pop("name", None) or function.__name__.replace("_", "-")
        return FunctionFlow(function, name, **options)

    if fn is not None:
        return build(fn)
    return build
