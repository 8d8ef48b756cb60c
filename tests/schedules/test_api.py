"""The schedules API: create, preview, change, pause, fires, backfills,
upcoming; 400s that name the field and say what is wrong; the schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import AuditEntry
from schedules.models import Backfill, Schedule
from tests.conftest import member
from workflows.models import Role

pytestmark = pytest.mark.django_db


def body(stamped: Any, **values: Any) -> dict[str, Any]:
    return {
        "workflow": stamped.pk,
        "name": "nightly",
        "kind": "cron",
        "expression": "0 2 * * *",
        "timezone": "Europe/Berlin",
        "parameters": {"when": "{{schedule.time}}"},
        **values,
    }


def test_an_editor_creates_a_schedule_and_sees_its_next_five_times(api, stamped):
    response = api.post("/api/schedules/", body(stamped, overlap="forbid"), "json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["workflow"] == stamped.pk
    assert data["overlap"] == "forbid"
    assert len(data["next_fire_times"]) == 5
    # 02:00 in Berlin, with Berlin's offset (winter or summer).
    assert all(
        t[11:19] == "02:00:00" and t[-6:] in ("+01:00", "+02:00")
        for t in data["next_fire_times"]
    )
    assert data["last_fire"] is None
    entry = AuditEntry.objects.get(action="schedule.create")
    assert (entry.target_id, entry.outcome) == (str(data["id"]), "success")


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"expression": "61 * * * *"}, "expression", "minute field has 61, outside"),
        ({"expression": "0 2 * *"}, "expression", "a cron expression has 5 fields"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "unknown time zone"),
        (
            {"start_at": "2026-05-01T00:00:00Z", "end_at": "2026-04-01T00:00:00Z"},
            "end_at",
            "must be after start",
        ),
        (
            {"kind": "interval", "expression": "every 10s"},
            "expression",
            "more often than the minimum interval, every 1m",
        ),
        ({"parameters": {"nope": "x"}}, "parameters.nope", "unknown parameter"),
        ({"parameters": {}}, "parameters.when", "is required"),
        ({"parameters": {"when": "{{schedule.soon}}"}}, "parameters.when", "unknown"),
        ({"parameters": {"when": "a\x00"}}, "parameters.when", "NUL character"),
        ({"overlap": "sometimes"}, "overlap", "is not a valid choice"),
        ({"catch_up_limit": 0}, "catch_up_limit", "greater than or equal to 1"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_the_problem(
    api, stamped, values, field, message
):
    response = api.post("/api/schedules/", body(stamped, **values), "json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert message in errors[field][0]
    assert not Schedule.objects.exists()


def test_the_minimum_interval_comes_from_the_setting(api, stamped, settings):
    settings.FLOWDECK_SCHEDULE_MIN_INTERVAL = 10
    interval = body(stamped, kind="interval", expression="every 10s")
    assert api.post("/api/schedules/", interval, "json").status_code == 201


def test_a_workflow_you_cannot_see_is_a_400_at_workflow(stamped, other_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(other_user)
    response = client.post("/api/schedules/", body(stamped), "json")
    assert response.status_code == 400
    assert "workflow" in response.json()


def test_a_viewer_sees_schedules_but_may_not_create_them(
    api, stamped, project, django_user_model
):
    from rest_framework.test import APIClient

    api.post("/api/schedules/", body(stamped), "json")
    viewer = member(project, django_user_model.objects.create_user("vic"), Role.VIEWER)
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get("/api/schedules/").json()["count"] == 1
    refused = client.post("/api/schedules/", body(stamped, name="mine"), "json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "your role in project team is viewer; creating schedules needs editor"
    )


def test_preview_shows_the_next_times_before_saving(api):
    response = api.post(
        "/api/schedules/preview/",
        {"expression": "30 2 * * *", "timezone": "Europe/Berlin", "count": 3},
        "json",
    )
    assert response.status_code == 200
    assert len(response.json()["fire_times"]) == 3
    bad = api.post("/api/schedules/preview/", {"expression": "@often"}, "json")
    assert bad.status_code == 400
    assert "unknown alias '@often'" in bad.json()["expression"][0]


def test_changing_pausing_and_resuming(api, stamped):
    created = api.post("/api/schedules/", body(stamped), "json").json()
    url = f"/api/schedules/{created['id']}/"
    changed = api.patch(url, {"expression": "@hourly"}, "json")
    assert changed.status_code == 200
    assert changed.json()["expression"] == "@hourly"
    bad = api.patch(url, {"end_at": "2000-01-01T00:00:00Z"}, "json")
    assert bad.status_code == 200  # an end in the past just ends it
    assert bad.json()["next_fire_at"] is None
    paused = api.post(url + "pause/").json()
    assert (paused["enabled"], paused["next_fire_times"]) == (False, [])
    api.patch(url, {"end_at": None}, "json")
    resumed = api.post(url + "resume/").json()
    assert resumed["enabled"] and resumed["next_fire_at"]
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"schedule.update", "schedule.pause", "schedule.resume"} <= actions
    assert api.delete(url).status_code == 204
    assert not Schedule.objects.exists()


def test_fires_backfill_preview_backfill_and_cancel(api, stamped):
    created = api.post("/api/schedules/", body(stamped, expression="@hourly"), "json")
    url = f"/api/schedules/{created.json()['id']}/"
    end = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    span = {
        "start": (end - timedelta(hours=3)).isoformat(),
        "end": end.isoformat(),
        "max_concurrent": 2,
    }
    preview = api.post(url + "backfills/preview/", span, "json").json()
    assert (preview["count"], preview["new"]) == (4, 4)
    made = api.post(url + "backfills/", span, "json")
    assert made.status_code == 201, made.content
    backfill = made.json()
    assert (backfill["total"], backfill["started"], backfill["pending"]) == (4, 2, 2)
    fires = api.get(url + "fires/").json()["results"]
    assert len(fires) == 4
    assert {f["status"] for f in fires} == {"started", "pending"}
    again = api.post(url + "backfills/preview/", span, "json").json()
    assert again["new"] == 0
    assert api.get(url + "backfills/").json()["count"] == 1
    cancelled = api.post(f"/api/backfills/{backfill['id']}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    assert Backfill.objects.get().status == Backfill.Status.CANCELLED
    future = {**span, "end": (timezone.now() + timedelta(days=1)).isoformat()}
    refused = api.post(url + "backfills/", future, "json")
    assert refused.status_code == 400
    assert "must not be in the future" in refused.json()["end"][0]


def test_upcoming_lists_fire_times_across_workflows_soonest_first(api, stamped):
    api.post("/api/schedules/", body(stamped, expression="*/30 * * * *"), "json")
    api.post(
        "/api/schedules/", body(stamped, name="hourly", expression="@hourly"), "json"
    )
    items = api.get("/api/schedules/upcoming/?hours=2").json()
    times = [item["fire_time"] for item in items]
    assert times == sorted(times)
    assert {item["schedule_name"] for item in items} == {"nightly", "hourly"}
    assert 5 <= len(items) <= 6
    assert items[0]["workflow"] == {"id": stamped.pk, "name": "stamped"}
    assert items[0]["local_time"][-6:] in ("+01:00", "+02:00")


def test_the_schema_describes_every_schedule_endpoint(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = set(schema["paths"])
    assert {
        "/api/schedules/",
        "/api/schedules/{id}/",
        "/api/schedules/{id}/pause/",
        "/api/schedules/{id}/resume/",
        "/api/schedules/{id}/fires/",
        "/api/schedules/{id}/backfills/",
        "/api/schedules/{id}/backfills/preview/",
        "/api/schedules/preview/",
        "/api/schedules/upcoming/",
        "/api/backfills/",
        "/api/backfills/{id}/",
        "/api/backfills/{id}/cancel/",
    } <= paths


def test_a_name_is_unique_within_its_workflow(api, stamped):
    first = api.post("/api/schedules/", body(stamped), "json").json()
    twin = api.post("/api/schedules/", body(stamped), "json")
    assert twin.status_code == 400
    assert twin.json() == {"name": ["the workflow has a schedule named 'nightly'"]}
    other = api.post("/api/schedules/", body(stamped, name="other"), "json").json()
    renamed = api.patch(f"/api/schedules/{other['id']}/", {"name": "nightly"}, "json")
    assert renamed.status_code == 400
    assert renamed.json() == {"name": ["the workflow has a schedule named 'nightly'"]}
    assert Schedule.objects.get(pk=first["id"]).name == "nightly"
    assert Schedule.objects.get(pk=other["id"]).name == "other"
