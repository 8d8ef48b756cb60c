"""Every number and instant a schedule, a backfill or the upcoming list takes
is held to its documented range (docs/schedules.md#ranges), through the API
and the pages alike; a refused request saves nothing, and no stored schedule
can break a list it is in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from schedules.models import Schedule

pytestmark = pytest.mark.django_db

BIG = 2**63
RANGE = "must be from 1970-01-01T00:00:00Z to 2999-12-31T23:59:59Z"


def body(stamped: Any, **values: Any) -> dict[str, Any]:
    return {
        "workflow": stamped.pk,
        "name": "nightly",
        "kind": "cron",
        "expression": "0 2 * * *",
        "timezone": "UTC",
        "parameters": {"when": "{{schedule.time}}"},
        **values,
    }


@pytest.fixture
def api(api: Any) -> Any:
    api.raise_request_exception = False  # a 500 is an answer to assert on
    return api


@pytest.fixture
def client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_a_start_in_the_year_9999_is_a_400_and_saves_nothing(api, stamped):
    values = {"expression": "59 23 31 12 *", "start_at": "9999-12-31T23:59:00+00:00"}
    response = api.post("/api/schedules/", body(stamped, **values), format="json")
    assert response.status_code == 400
    assert response.json() == {"start_at": [RANGE]}
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"end_at": "0001-01-01T00:00:00+00:00"}, "end_at", RANGE),
        ({"start_at": "1969-12-31T23:00:00+00:00"}, "start_at", RANGE),
        (
            {"kind": "interval", "expression": "every 99999999999999999d"},
            "expression",
            "the interval is longer than the maximum, every 366d",
        ),
        (
            {"expression": f"*/{BIG} * * * *"},
            "expression",
            "the minute field's step 922337203685... must be from 1 to 59",
        ),
        (
            {"expression": "² * * * *"},
            "expression",
            "the minute field has '²', which is not a number",
        ),
        ({"max_active": 1001}, "max_active", "less than or equal to 1000"),
        ({"catch_up_limit": BIG}, "catch_up_limit", "less than or equal to 1000"),
    ],
)
def test_a_value_out_of_its_range_is_a_400_naming_the_field(
    api, stamped, values, field, message
):
    response = api.post("/api/schedules/", body(stamped, **values), format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()[field][0]
    assert not Schedule.objects.exists()


def test_a_change_out_of_range_is_refused_and_the_schedule_stays(api, stamped):
    schedule = api.post("/api/schedules/", body(stamped), format="json").json()
    response = api.patch(
        f"/api/schedules/{schedule['id']}/",
        {"end_at": "0001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert Schedule.objects.get().end_at is None


def test_the_preview_of_unsaved_settings_holds_them_to_the_ranges_too(api):
    response = api.post(
        "/api/schedules/preview/",
        {"expression": "0 * * * *", "start_at": "0001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"start_at": [RANGE]}


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (f"hours={BIG}", "hours", "must be from 1 to 744"),
        ("hours=0", "hours", "must be from 1 to 744"),
        ("limit=1000000000", "limit", "must be from 1 to 500"),
        (f"limit={'9' * 5000}", "limit", "must be from 1 to 500"),
        ("limit=²", "limit", "must be a whole number"),
    ],
)
def test_upcoming_refuses_hours_and_limits_out_of_range(
    api, make_schedule, query, field, message
):
    make_schedule()
    response = api.get(f"/api/schedules/upcoming/?{query}")
    assert response.status_code == 400
    assert message in response.json()[field][0]


@pytest.mark.parametrize(
    ("start", "field"),
    [("0001-01-01T00:00:00+00:00", "start"), ("1900-01-01T00:00:00Z", "start")],
)
def test_a_backfill_from_before_1970_is_a_400_naming_its_start(
    api, make_schedule, start, field
):
    schedule = make_schedule()
    for url in ("backfills/preview/", "backfills/"):
        response = api.post(
            f"/api/schedules/{schedule.pk}/{url}",
            {"start": start, "end": "2020-01-02T00:00:00Z"},
            format="json",
        )
        assert response.status_code == 400, url
        assert response.json() == {field: [RANGE]}
    assert not schedule.backfills.exists()


def test_the_form_refuses_a_start_out_of_range_next_to_the_field(client, stamped):
    response = client.post(
        f"/workflows/{stamped.pk}/schedules/new/",
        {
            "name": "far",
            "kind": "cron",
            "expression": "59 23 31 12 *",
            "timezone": "UTC",
            "start_at": "9999-12-31T23:59",
            "enabled": "on",
            "overlap": "allow",
            "catch_up": "latest",
            "catch_up_limit": "10",
            "param.when": "x",
        },
    )
    assert response.status_code == 400
    assert RANGE in response.content.decode()
    assert not Schedule.objects.exists()


# --- a stored schedule breaks no list ---------------------------------------------


@pytest.fixture
def far_schedule(make_schedule: Any) -> Schedule:
    """Saved before the ranges, as the API let it: it fires once, at the last
    minute datetimes have."""
    schedule = make_schedule(name="far")
    last_minute = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    Schedule.objects.filter(pk=schedule.pk).update(
        expression="59 23 31 12 *", start_at=last_minute, next_fire_at=last_minute
    )
    return schedule


@pytest.fixture
def endless_schedule(make_schedule: Any) -> Schedule:
    schedule = make_schedule(name="endless")
    Schedule.objects.filter(pk=schedule.pk).update(
        kind="interval", expression="every 900000000d"
    )
    return schedule


def test_stored_schedules_out_of_range_break_no_list_or_page(
    api, client, stamped, make_schedule, far_schedule, endless_schedule
):
    make_schedule()  # an ordinary one, listed with them
    for url in (
        "/api/schedules/",
        f"/api/schedules/{far_schedule.pk}/",
        "/api/schedules/upcoming/?hours=744&limit=500",
        f"/api/schedules/?workflow={stamped.pk}",
    ):
        assert api.get(url).status_code == 200, url
    for url in (
        "/schedules/",
        f"/schedules/{far_schedule.pk}/",
        f"/schedules/{endless_schedule.pk}/",
        f"/workflows/{stamped.pk}/",
    ):
        assert client.get(url).status_code == 200, url
    listed = {s["name"]: s for s in api.get("/api/schedules/").json()["results"]}
    assert listed["far"]["next_fire_times"] == []  # past the last representable
    assert listed["endless"]["next_fire_times"] == []  # no longer a valid trigger
    assert len(listed["hourly"]["next_fire_times"]) == 5


def test_a_stored_schedule_out_of_range_can_still_be_paused(api, far_schedule):
    response = api.post(f"/api/schedules/{far_schedule.pk}/pause/")
    assert response.status_code == 200
    assert response.json()["enabled"] is False
