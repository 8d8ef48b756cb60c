"""Flows deployed to a live embedded server and run there: the tutorial with
only its imports changed, a flow with parameters, a map, retries and a
schedule, and KubernetesExecutor as "run it on the server"."""

from __future__ import annotations

import pytest

from flowdeck.client import Client, Invalid
from flowdeck.executors import KubernetesExecutor
from flowdeck.schedules import IntervalSchedule
from tests.sdk import flows
from tests.sdk.conftest import url_of
from tests.sdk.tutorial import load_tutorial
from tests.test_embedded import Server

pytestmark = pytest.mark.slow


def test_the_tutorial_deploys_and_runs_on_the_server(
    server: Server, capfd: pytest.CaptureFixture[str]
) -> None:
    client = Client(url_of(server), server.token)
    flow = load_tutorial("server_tutorial").flow
    deployment = flow.deploy(client)
    assert (deployment.state, deployment.version) == ("created", 1)

    result = flow.submit(wait=True)
    assert result.state == "Succeeded", result.summary()
    assert result["transform"].value == [10, 20, 30, 40, 50]
    assert result["load"].value is None
    assert client.log(result.run_id or 0, "load")[0] == "[10, 20, 30, 40, 50]\n"
    received = client.task_outputs(result.run_id or 0, "load")["inputs"]
    assert [i["value"] for i in received] == ["[10, 20, 30, 40, 50]"]
    _, err = capfd.readouterr()
    assert "load | [10, 20, 30, 40, 50]" in err  # the log, followed live
    assert f"run {result.run_id} Succeeded" in err

    again = flow.deploy(client)  # the same spec: no new version
    assert (again.state, again.version) == ("unchanged", 1)
    on_the_server = flow.run(executor=KubernetesExecutor(client), quiet=True)
    assert on_the_server.run_id != result.run_id
    assert on_the_server["transform"].value == [10, 20, 30, 40, 50]


def test_parameters_a_map_retries_and_a_schedule_on_the_server(server: Server) -> None:
    client = Client(url_of(server), server.token)
    flow = flows.map_flow()
    flow.name = "sdk-map-sum"
    flow.schedule(IntervalSchedule(interval=3600))
    deployment = flow.deploy(client)
    assert deployment.schedule is not None
    assert deployment.schedule["expression"] == "every 3600s"
    result = flow.submit({"count": 5, "label": "total"}, wait=True, quiet=True)
    assert result.state == "Succeeded", result.summary()
    assert result["square"].value == [1, 4, 9, 16, 25]
    assert result.outputs == {"total": "total=55"}

    flow.schedule(None)
    assert flow.deploy(client).schedule is None
    assert list(client.pages("/api/schedules/", workflow=deployment.id)) == []

    flow.schedule(IntervalSchedule(interval=10))
    with pytest.raises(Invalid) as refused:  # the server's minimum, as it says it
        flow.deploy(client)
    assert "expression" in str(refused.value)


def test_a_failing_flow_reports_its_failure_from_the_server(server: Server) -> None:
    client = Client(url_of(server), server.token)
    from flowdeck import Flow

    with Flow("sdk-broken") as flow:
        flows.after(flows.broken())
    result = flow.submit(wait=True, server=client, quiet=True)
    assert result.state == "Failed"
    assert result["broken"].state == "Failed"
    assert result["after"].state == "UpstreamFailed"
    assert "ZeroDivisionError" in client.log(result.run_id or 0, "broken")[0]


def test_the_larger_example_deploys_with_its_schedule_and_retries(
    server: Server,
) -> None:
    import runpy

    client = Client(url_of(server), server.token)
    flow = runpy.run_path("examples/python/orders.py", run_name="orders_example")[
        "flow"
    ]
    deployment = flow.deploy(client)
    assert deployment.schedule is not None
    assert (deployment.schedule["expression"], deployment.schedule["timezone"]) == (
        "0 6 * * *",
        "Europe/Berlin",
    )
    result = flow.submit({"region": "apac", "limit": 2}, wait=True, quiet=True)
    assert result.state == "Succeeded", result.summary()
    instances = list(client.run_tasks(result.run_id or 0, group="price"))
    assert [t["attempts_count"] for t in instances] == [2, 2]  # failed once, retried
    assert result.outputs == {"report": {"region": "apac", "orders": 2, "total": 45.0}}
