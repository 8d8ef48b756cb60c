"""A larger flow: parameters, a fan-out over a task's result (`.map`), a
flaky task that succeeds on its retry, and a daily schedule.

    python examples/python/orders.py                 # one run here
    flowdeck apply -f examples/python/orders.py      # the workflow and its schedule
    flowdeck run orders -p region=emea -p limit=4 --follow
"""

from __future__ import annotations

from flowdeck import Parameter, task
from flowdeck.flows import Flow
from flowdeck.schedules import CronSchedule


@task
def list_orders(region: str, limit: int) -> list[dict[str, object]]:
    """The day's orders of a region (made up here)."""
    return [
        {"id": f"{region}-{n}", "amount": n * 12.5, "items": n % 3 + 1}
        for n in range(1, limit + 1)
    ]


@task(retries=2, retry_delay=1, timeout=60)
def price(order: dict[str, object], vat: float) -> float:
    """One order's total with VAT. The warehouse API fails on the first call
    for each order and answers the retry: on a server the attempt number says
    which call this is; here a marker file remembers the first."""
    import os
    import tempfile

    attempt = os.environ.get("FLOWDECK_ATTEMPT")
    if attempt is None:
        marker = os.path.join(tempfile.gettempdir(), f"flowdeck-order-{order['id']}")
        first = not os.path.exists(marker)
        if first:
            open(marker, "w").close()
        else:
            os.remove(marker)
    else:
        first = attempt == "1"
    if first:
        raise ConnectionError("warehouse API timed out")
    return round(float(order["amount"]) * (1 + vat), 2)  # type: ignore[arg-type]


@task
def report(region: str, totals: list[float]) -> dict[str, object]:
    summary = {"region": region, "orders": len(totals), "total": round(sum(totals), 2)}
    print(summary)
    return summary


with Flow(
    "orders", schedule=CronSchedule("0 6 * * *", timezone="Europe/Berlin")
) as flow:
    region = Parameter("region", default="emea")
    limit = Parameter("limit", default=3)
    vat = Parameter("vat", default=0.2)
    orders = list_orders(region, limit)
    totals = price.map(orders, vat)
    report(region, totals)


if __name__ == "__main__":
    result = flow.run(run_on_schedule=False)
    print(result["report"].value)
