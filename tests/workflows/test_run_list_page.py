"""The runs list's filters (who, time range) and its dashboard, as the page
and as the JSON its live script asks for when runs change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from flowcore.states import AttemptStatus
from tests.conftest import drive_run, member
from workflows.models import Role, Run, Workflow
from workflows.services.submit import submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def runs(user: Any, diamond: Workflow, django_user_model: Any, project: Any) -> Any:
    olga = member(project, django_user_model.objects.create_user("olga"), Role.OPERATOR)
    # Made first: ids follow creation times (listing.created_between).
    old = submit_run(diamond.latest_version, user=olga)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    failed = drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )
    pending = submit_run(diamond.latest_version, user=olga)
    return failed, old, pending


def shown(response: Any) -> set[int]:
    return {run.pk for run in response.context["page"].object_list}


def test_it_filters_by_who_started_the_run(alice: Client, runs: Any) -> None:
    failed, old, pending = runs
    assert shown(alice.get(reverse("run-list"), {"who": "olga"})) == {
        old.pk,
        pending.pk,
    }
    assert shown(alice.get(reverse("run-list"), {"who": "alice"})) == {failed.pk}


def test_it_filters_by_a_range_of_days(alice: Client, runs: Any) -> None:
    failed, old, pending = runs
    today = timezone.now().date()
    recent = alice.get(reverse("run-list"), {"since": today.isoformat()})
    assert shown(recent) == {failed.pk, pending.pk}
    before = (today - timedelta(days=5)).isoformat()
    assert shown(alice.get(reverse("run-list"), {"until": before})) == {old.pk}


def test_a_bad_date_is_no_filter(alice: Client, runs: Any) -> None:
    response = alice.get(reverse("run-list"), {"since": "2026-13-45"})
    assert len(shown(response)) == 3
    assert response.context["selected_since"] == ""


def test_the_dashboard_counts_every_status_and_lists_the_last_failures(
    alice: Client, runs: Any
) -> None:
    failed, _, _ = runs
    response = alice.get(reverse("run-list"), {"status": "Pending"})
    counts = dict(response.context["counts"])
    assert counts["Failed"] == 1 and counts["Pending"] == 2
    assert counts["Succeeded"] == 0
    page = response.content.decode()
    assert f'href="/runs/{failed.pk}/">#{failed.pk}</a>' in page
    assert 'id="flowdeck-runs-data"' in page


def test_the_live_script_gets_the_dashboard_as_json(alice: Client, runs: Any) -> None:
    failed, _, _ = runs
    answer = alice.get(
        reverse("run-list"), {"who": "alice"}, headers={"Accept": "application/json"}
    ).json()
    assert answer["counts"]["Failed"] == 1
    assert answer["counts"]["Pending"] == 0
    assert [failure["id"] for failure in answer["failures"]] == [failed.pk]
    assert answer["failures"][0]["url"] == reverse("run-detail", args=[failed.pk])


def test_the_dashboard_shows_only_runs_you_can_see(other_user: Any, runs: Any) -> None:
    bob = Client()
    bob.force_login(other_user)
    answer = bob.get(reverse("run-list"), headers={"Accept": "application/json"})
    assert sum(answer.json()["counts"].values()) == 0
    assert answer.json()["failures"] == []


def test_the_api_filters_runs_by_who_and_by_time_like_the_page(
    api: Any, runs: Any
) -> None:
    failed, old, pending = runs

    def ids(**query: str) -> set[int]:
        response = api.get("/api/runs/", query)
        assert response.status_code == 200, response.json()
        return {run["id"] for run in response.json()["results"]}

    assert ids(who="olga") == {old.pk, pending.pk}
    today = timezone.now().date()
    assert ids(since=today.isoformat()) == {failed.pk, pending.pk}
    assert ids(until=(today - timedelta(days=5)).isoformat()) == {old.pk}
    assert ids(since=(timezone.now() - timedelta(days=11)).isoformat()) == {
        failed.pk,
        old.pk,
        pending.pk,
    }


def test_the_api_names_a_bad_time(api: Any) -> None:
    response = api.get("/api/runs/", {"until": "last tuesday"})
    assert response.status_code == 400
    assert "until" in response.json()
