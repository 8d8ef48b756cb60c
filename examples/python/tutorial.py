"""The tutorial pipeline every orchestrator starts from, on Flowdeck: only the
imports differ from the Prefect original.

    python examples/python/tutorial.py    # every 10 seconds, here; Ctrl-C stops
    flowdeck apply -f examples/python/tutorial.py && flowdeck run my-flow --follow
"""

from flowdeck import Flow, task
from flowdeck.executors import LocalExecutor
from flowdeck.schedules import IntervalSchedule
from flowdeck.scheduling import schedule


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
    l = load(t)  # noqa: E741

every_10_seconds = IntervalSchedule(interval=10)


@schedule(every_10_seconds)
def run_pipeline():
    flow.run(executor=LocalExecutor())


if __name__ == "__main__":
    run_pipeline()
