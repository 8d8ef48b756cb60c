"""The tutorial as its users know it, with `prefect` in its imports: the tests
replace that word by `flowdeck` and change nothing else."""

from __future__ import annotations

import sys
import types

PREFECT_TUTORIAL = """
from prefect import task, Flow
from prefect.executors import LocalExecutor
from prefect.schedules import IntervalSchedule
from prefect.scheduling import schedule


@task
def extract():
    return [1, 2, 3, 4, 5]


@task
def transform(data):
    return [i * 10 for i in data]


@task
def load(data):
    print(data)


with Flow("my-flow") as flow:
    e = extract()
    t = transform(e)
    l = load(t)

every_10_seconds = IntervalSchedule(interval=10)


@schedule(every_10_seconds)
def run_pipeline():
    flow.run(executor=LocalExecutor())
"""


def load_tutorial(name: str = "flowdeck_tutorial") -> types.ModuleType:
    """The tutorial with only its imports changed, as an importable module
    (Dask's workers and `inspect.getsource` find it like a user's file)."""
    import importlib.util
    import tempfile
    from pathlib import Path

    source = PREFECT_TUTORIAL.replace("prefect", "flowdeck")
    assert source.count("flowdeck") == 4  # the four import lines, nothing else
    directory = Path(tempfile.mkdtemp(prefix="tutorial-"))
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
