"""Small flows shared by the SDK tests (importable, so Dask's workers and
`inspect.getsource` find them as they would a user's module)."""

from __future__ import annotations

import json
import time

from flowdeck import Flow, Parameter, flow, task

CALLS: dict[str, int] = {}


@task
def numbers(count: int) -> list[int]:
    return list(range(1, count + 1))


@task
def square(n: int) -> int:
    return n * n


@task
def total(values: list[int], label: str) -> str:
    return f"{label}={sum(values)}"


@task(retries=2, retry_delay=0.05)
def flaky(key: str) -> str:
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] < 3:
        raise ConnectionError(f"call {CALLS[key]} of {key} failed")
    return key


@task(retries=2, retry_delay=0.05)
def patient(key: str) -> str:
    return key


@task
def broken() -> int:
    return 1 // 0


@task
def after(value: object) -> object:
    return value


@task(timeout=0.2)
def slow() -> str:
    time.sleep(2)
    return "late"


@task
def a_set() -> object:
    return {1, 2}


@task
def echo(text: str, data: object) -> str:
    return json.dumps([text, data])


def map_flow() -> Flow:
    with Flow("map-sum") as built:
        count = Parameter("count", default=4)
        squares = square.map(numbers(count))
        total(squares, Parameter("label", default="sum"))
    return built


@flow(name="decorated")
def decorated(count: int = 3, label: str = "n") -> None:
    total(square.map(numbers(count)), label)
