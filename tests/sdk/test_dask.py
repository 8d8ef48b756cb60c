"""Flows on dask.distributed: a real LocalCluster of two worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from flowdeck import Flow, task
from flowdeck.executors import DaskExecutor, LocalClusterProcess
from tests.sdk import flows
from tests.sdk.tutorial import load_tutorial

pytestmark = pytest.mark.slow


@task
def worker_pid(n: int) -> int:
    import os
    import time

    time.sleep(0.3)  # long enough that both workers take some
    return os.getpid()


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalClusterProcess]:
    with LocalClusterProcess(n_workers=2) as running:
        yield running


def test_the_tutorial_runs_on_a_local_cluster_of_two_worker_processes(
    cluster: LocalClusterProcess,
) -> None:
    from distributed import Client

    with Client(cluster.address) as client:
        worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids

    tutorial = load_tutorial("dask_tutorial")
    result = tutorial.flow.run(executor=DaskExecutor(address=cluster.address))
    assert result.is_successful(), result.summary()
    assert result["load"].inputs == {"data": [10, 20, 30, 40, 50]}

    with Flow("spread") as flow:
        worker_pid.map(list(range(6)))
    pids = flow.run(executor=DaskExecutor(address=cluster.address), quiet=True)
    assert set(pids["worker-pid"].value) == worker_pids


def test_retries_and_failures_behave_on_dask_as_they_do_here(
    cluster: LocalClusterProcess,
) -> None:
    executor = DaskExecutor(address=cluster.address)
    result = flows.map_flow().run(
        parameters={"count": 4}, executor=executor, quiet=True
    )
    assert result["total"].value == "sum=30"
    with Flow("broken") as flow:
        flows.after(flows.broken())
    failed = flow.run(executor=executor, quiet=True)
    assert failed.state == "Failed" and "ZeroDivisionError" in failed["broken"].error
    assert failed["after"].state == "UpstreamFailed"
    with Flow("slow") as flow:
        flows.slow()
    assert flow.run(executor=executor, quiet=True)["slow"].error == (
        "timed out after 0.2s"
    )


def test_without_an_address_it_starts_and_stops_its_own_local_cluster(
    capfd: pytest.CaptureFixture[str],
) -> None:
    tutorial = load_tutorial("own_cluster_tutorial")
    result = tutorial.flow.run(executor=tutorial_executor(), quiet=True)
    assert result["load"].inputs == {"data": [10, 20, 30, 40, 50]}
    out, _ = capfd.readouterr()
    assert "[10, 20, 30, 40, 50]\n" in out  # printed by a worker process


def tutorial_executor() -> DaskExecutor:
    return DaskExecutor()  # the tutorial's DaskExecutor(): a LocalCluster of 2
