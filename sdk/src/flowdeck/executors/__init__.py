"""Where a flow's tasks run when it runs from Python.

`LocalExecutor` runs them in threads of this process, `DaskExecutor` on
dask.distributed (a LocalCluster it starts, or a scheduler's address), and
`KubernetesExecutor` is no executor of its own: it submits the flow to a
Flowdeck server, whose Kubernetes backend runs every task as a Pod.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.executors.scheduler import (
    Handle,
    Printer,
    Scheduler,
    Submitter,
    resolve_parameters,
)

if TYPE_CHECKING:
    from flowdeck.client import Client
    from flowdeck.flows import Flow
    from flowdeck.results import FlowResult

__all__ = ["DaskExecutor", "Executor", "KubernetesExecutor", "LocalExecutor"]


class Executor:
    """Runs the calls a Scheduler submits, inside `start()`."""

    def start(self) -> contextlib.AbstractContextManager[Submitter]:
        raise NotImplementedError


class _ThreadSubmitter:
    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool

    def submit(
        self, fn: Callable[..., Any], kwargs: dict[str, Any], key: str
    ) -> Handle:
        return self.pool.submit(fn, **kwargs)


class LocalExecutor(Executor):
    """Tasks in threads of this process (`max_workers` at once; Python's
    default when None). A timed-out task is given up, not stopped: its thread
    finishes in the background."""

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers

    @contextlib.contextmanager
    def start(self) -> Iterator[Submitter]:
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="flowdeck")
        try:
            yield _ThreadSubmitter(pool)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


class _DaskSubmitter:
    def __init__(self, client: Any) -> None:
        self.client = client

    def submit(
        self, fn: Callable[..., Any], kwargs: dict[str, Any], key: str
    ) -> Handle:
        future: Handle = self.client.submit(fn, **kwargs, pure=False)
        return future


class DaskExecutor(Executor):
    """Tasks on dask.distributed, each call a Dask task.

    Without `address` it starts a LocalCluster of `n_workers` worker processes
    (in a helper process, so a script needs no `if __name__ == "__main__"`
    guard) and stops it after the run; with `address="tcp://host:8786"` it
    uses that scheduler, whose workers need flowdeck-sdk and your modules.
    Functions travel by cloudpickle, values as JSON.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.client_kwargs = dict(client_kwargs or {})

    @contextlib.contextmanager
    def start(self) -> Iterator[Submitter]:
        try:
            from distributed import Client
        except ImportError:
            raise RuntimeError(
                "DaskExecutor needs dask.distributed: pip install 'flowdeck-sdk[dask]'"
            ) from None
        with contextlib.ExitStack() as stack:
            address = self.address
            if address is None:
                cluster = stack.enter_context(
                    LocalClusterProcess(self.n_workers, self.threads_per_worker)
                )
                address = cluster.address
            client = Client(address, **self.client_kwargs)  # type: ignore[no-untyped-call]
            stack.callback(client.close)
            yield _DaskSubmitter(client)


class LocalClusterProcess:
    """A dask LocalCluster of worker processes, run by a helper process
    (`python -m flowdeck.executors.dask_cluster`) for as long as this is open."""

    def __init__(self, n_workers: int, threads_per_worker: int = 1) -> None:
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.address = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalClusterProcess:
        directory = Path(tempfile.mkdtemp(prefix="flowdeck-dask-"))
        address_file = directory / "address"
        # The workers import what the caller can: its modules by reference.
        path = [p or os.getcwd() for p in sys.path]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flowdeck.executors.dask_cluster",
                str(address_file),
                str(self.n_workers),
                str(self.threads_per_worker),
            ],
            stdin=subprocess.PIPE,
            env=env,
        )
        deadline = time.monotonic() + 120
        while not address_file.exists() or not address_file.read_text().strip():
            if self.process.poll() is not None:
                raise RuntimeError("the Dask LocalCluster did not start")
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the Dask LocalCluster did not start in 120 s")
            time.sleep(0.1)
        self.address = address_file.read_text().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()  # the helper closes its cluster on EOF
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


class KubernetesExecutor:
    """Not an executor of this process: `flow.run(executor=KubernetesExecutor())`
    deploys the flow to a Flowdeck server and runs it there (`flow.submit(
    wait=True)`); on a server whose backend is Kubernetes every task is a Pod.
    `server` and `project` as for `flow.deploy`."""

    def __init__(
        self, server: str | Client | None = None, *, project: str | None = None
    ) -> None:
        self.server = server
        self.project = project


def run_flow(
    flow: Flow,
    parameters: Mapping[str, Any] | None,
    executor: Executor | KubernetesExecutor,
    *,
    quiet: bool = False,
) -> FlowResult:
    """One run of `flow` on `executor`."""
    if isinstance(executor, KubernetesExecutor):
        flow.deploy(executor.server, project=executor.project)
        return flow.submit(parameters, wait=True, quiet=quiet)
    values = resolve_parameters(flow, parameters)
    printer = Printer(flow.name, quiet)
    with executor.start() as submitter:
        return Scheduler(flow, values, submitter, printer).run()
