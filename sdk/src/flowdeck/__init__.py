"""Flowdeck's client: workflows as Python code.

    from flowdeck import task, Flow

    @task
    def extract():
        return [1, 2, 3]

    with Flow("my-flow") as flow:
        extract()

    flow.run()                      # here, in threads
    flow.deploy(); flow.submit(wait=True)   # on a Flowdeck server

Importing it loads nothing of the server (no Django): it needs requests,
websocket-client and PyYAML, and dask.distributed for DaskExecutor.
"""

from __future__ import annotations

from flowdeck.flows import Flow, flow
from flowdeck.graph import FlowDefinitionError, Parameter, Task, TaskRef, task
from flowdeck.results import FlowResult, TaskResult

__all__ = [
    "Flow",
    "FlowDefinitionError",
    "FlowResult",
    "Parameter",
    "Task",
    "TaskRef",
    "TaskResult",
    "flow",
    "task",
]
__version__ = "0.1.0"
