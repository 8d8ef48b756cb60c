"""The schedule pages: the card on the workflow page, the form with its
preview, pause and resume, backfill preview and start, upcoming runs."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEntry
from schedules.models import Backfill, Schedule
from schedules.services.firing import tick
from tests.conftest import member
from workflows.models import Role

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


def text_of(response: Any) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(**values: Any) -> dict[str, Any]:
    return {
        "name": "nightly",
        "kind": "cron",
        "expression": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "enabled": "on",
        "overlap": "forbid",
        "catch_up": "latest",
        "catch_up_limit": "10",
        "param.when": "{{schedule.time}}",
        "param.label": "",
        **values,
    }


def test_the_workflow_page_shows_schedules_with_next_times_and_last_fire(
    client, make_schedule, stamped
):
    schedule = make_schedule(timezone="Europe/Berlin")
    tick(schedule.next_fire_at)
    fire = schedule.fires.get()
    page = client.get(f"/workflows/{stamped.pk}/")
    assert page.status_code == 200
    text = text_of(page)
    assert "Schedules" in text and "hourly" in text
    assert "2026-01-05 12:00 CET · started" in text  # 11:00 UTC in Berlin
    assert f"run {fire.run_id}" in text
    assert text.count("CET<br>") >= 5  # its next five times, in its zone
    assert "Pause" in text and "New schedule" in text


def test_a_viewer_sees_schedules_without_the_buttons(
    make_schedule, stamped, project, django_user_model
):
    make_schedule()
    viewer = member(project, django_user_model.objects.create_user("vic"), Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    text = text_of(client.get(f"/workflows/{stamped.pk}/"))
    assert "hourly" in text
    assert "Pause" not in text and "New schedule" not in text


def test_the_form_previews_fire_times_without_saving(client, stamped):
    response = client.post(f"/workflows/{stamped.pk}/schedules/new/", form(preview="1"))
    assert response.status_code == 200
    text = text_of(response)
    assert text.count("02:30 CE") == 5
    assert "nothing is saved yet" in text
    assert not Schedule.objects.exists()


def test_the_form_saves_and_goes_back_to_the_workflow(client, stamped):
    response = client.post(
        f"/workflows/{stamped.pk}/schedules/new/",
        form(start_at="2026-03-29T02:30", end_at="2027-01-01T00:00"),
    )
    assert response.status_code == 302
    assert response["Location"] == f"/workflows/{stamped.pk}/"
    schedule = Schedule.objects.get()
    assert schedule.parameters == {"when": "{{schedule.time}}"}
    # Typed in the schedule's zone. 02:30 does not exist in Berlin that night
    # (clocks jump from 02:00 to 03:00): it reads with the offset before the
    # jump, +01:00.
    assert schedule.start_at.isoformat() == "2026-03-29T01:30:00+00:00"
    assert AuditEntry.objects.filter(action="schedule.create").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"expression": "99 * * * *"}, "the minute field has 99, outside 0-59"),
        ({"timezone": "Nowhere/Land"}, "unknown time zone 'Nowhere/Land'"),
        (
            {"start_at": "2026-02-01T00:00", "end_at": "2026-01-01T00:00"},
            "must be after start",
        ),
        ({"kind": "interval", "expression": "every 5s"}, "more often than"),
        ({"param.when": ""}, "parameters.when: is required"),
    ],
)
def test_the_form_shows_what_is_wrong(client, stamped, values, message):
    response = client.post(f"/workflows/{stamped.pk}/schedules/new/", form(**values))
    assert response.status_code == 400
    assert message in text_of(response)
    assert not Schedule.objects.exists()


def test_the_preview_endpoint_answers_as_the_form_would(client):
    ok = client.get("/schedules/preview/", form()).json()
    assert len(ok["local"]) == 5
    bad = client.get("/schedules/preview/", form(expression="* *"))
    assert bad.status_code == 400
    assert "5 fields" in bad.json()["errors"]["expression"][0]


def test_names_and_reasons_are_escaped(client, make_schedule, stamped):
    make_schedule(name=XSS)
    page = client.get(f"/workflows/{stamped.pk}/").content.decode()
    assert XSS not in page
    assert "&lt;script&gt;" in page


def test_editing_keeps_the_form_filled_in(client, make_schedule):
    schedule = make_schedule(timezone="Europe/Berlin", start_at=None)
    page = text_of(client.get(f"/schedules/{schedule.pk}/edit/"))
    assert 'value="0 * * * *"' in page
    assert 'value="{{schedule.time}}"' in page
    response = client.post(
        f"/schedules/{schedule.pk}/edit/", form(name="renamed", expression="@daily")
    )
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert (schedule.name, schedule.expression) == ("renamed", "@daily")


def test_pause_resume_and_delete(client, make_schedule, stamped):
    schedule = make_schedule()
    client.post(f"/schedules/{schedule.pk}/pause/")
    schedule.refresh_from_db()
    assert not schedule.enabled
    assert "paused" in text_of(client.get(f"/workflows/{stamped.pk}/"))
    back = client.post(f"/schedules/{schedule.pk}/resume/", {"next": "schedule"})
    assert back["Location"] == f"/schedules/{schedule.pk}/"
    schedule.refresh_from_db()
    assert schedule.enabled
    client.post(f"/schedules/{schedule.pk}/delete/")
    assert not Schedule.objects.exists()


def test_the_backfill_form_previews_then_starts(client, make_schedule, user):
    from tests.schedules.conftest import at

    schedule = make_schedule(now=at(0, day=1), catch_up="none")
    span = {
        "start": "2026-01-02T00:00",
        "end": "2026-01-02T03:00",
        "max_concurrent": "2",
    }
    preview = client.post(
        f"/schedules/{schedule.pk}/backfills/", {**span, "preview": "1"}
    )
    assert preview.status_code == 200
    text = text_of(preview)
    assert "4 fire times, 4 to run" in text
    assert "Start 4 runs" in text
    assert not Backfill.objects.exists()
    started = client.post(f"/schedules/{schedule.pk}/backfills/", span)
    assert started.status_code == 302
    backfill = Backfill.objects.get()
    assert backfill.fires.filter(status="started").count() == 2
    detail = text_of(client.get(f"/schedules/{schedule.pk}/"))
    assert "backfill 1" in detail or f"backfill {backfill.pk}" in detail
    client.post(f"/backfills/{backfill.pk}/cancel/")
    backfill.refresh_from_db()
    assert backfill.status == "cancelled"


def test_upcoming_lists_the_next_runs_by_day(client, make_schedule, stamped):
    make_schedule(expression="0 */6 * * *")
    page = client.get("/schedules/")
    assert page.status_code == 200
    text = text_of(page)
    assert "Upcoming runs" in text
    assert text.count("stamped") >= 20  # four a day for a week, and the list


def test_the_admin_shows_schedules_read_only(make_schedule, admin_user):
    from django.contrib import admin
    from django.urls import reverse

    schedule = make_schedule()
    client = Client()
    client.force_login(admin_user)
    for name in ("schedule", "scheduledfire", "backfill"):
        assert (
            client.get(reverse(f"admin:schedules_{name}_changelist")).status_code == 200
        )
    page = client.get(reverse("admin:schedules_schedule_change", args=[schedule.pk]))
    assert page.status_code == 200
    assert not admin.site._registry[Schedule].has_change_permission(page.wsgi_request)


@pytest.mark.parametrize(
    "path",
    [
        "/schedules/{id}/pause/",
        "/schedules/{id}/delete/",
        "/schedules/{id}/edit/",
        "/schedules/{id}/backfills/",
    ],
)
def test_schedule_forms_need_the_csrf_token(user, make_schedule, path):
    schedule = make_schedule()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(path.format(id=schedule.pk), form(name="changed"))
    assert response.status_code == 403
    schedule.refresh_from_db()
    assert (schedule.name, schedule.enabled) == ("hourly", True)
