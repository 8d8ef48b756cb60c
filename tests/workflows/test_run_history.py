"""The runs list with a long history: keyset pages through the API, capped
dashboard counts, and the runs a member sees through workflow ids."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from workflows.listing import capped_counts, keyset_page, visible_runs
from workflows.models import Run, Workflow
from workflows.services.submit import submit_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def five(user: Any, diamond: Workflow) -> list[Run]:
    return [submit_run(diamond.latest_version, user=user) for _ in range(5)]


def test_the_api_pages_runs_by_cursor_newest_first_without_a_count(
    api: Any, five: list[Run]
) -> None:
    seen: list[int] = []
    answer = api.get("/api/runs/", {"page_size": 2}).json()
    assert "count" not in answer and answer["previous"] is None
    pages = 1
    while True:
        seen += [run["id"] for run in answer["results"]]
        if not answer["next"]:
            break
        answer = api.get(answer["next"]).json()
        pages += 1
    assert seen == [run.pk for run in reversed(five)]
    assert pages == 3
    back = api.get(answer["previous"]).json()
    assert [run["id"] for run in back["results"]] == [five[2].pk, five[1].pk]


def test_the_api_keeps_its_filters_across_pages(
    api: Any, five: list[Run], diamond: Workflow
) -> None:
    Run.objects.filter(pk__in=[five[0].pk, five[3].pk]).update(status="Failed")
    first = api.get("/api/runs/", {"status": "Failed", "page_size": 1}).json()
    second = api.get(first["next"]).json()
    ids = [run["id"] for run in first["results"] + second["results"]]
    assert ids == [five[3].pk, five[0].pk]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page": "2"}, "page"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "501"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
    ],
)
def test_a_bad_page_is_a_400_naming_it(
    api: Any, five: list[Run], query: dict[str, str], field: str
) -> None:
    response = api.get("/api/runs/", query)
    assert response.status_code == 400
    assert field in response.json()


def test_page_one_still_answers(api: Any, five: list[Run]) -> None:
    response = api.get("/api/runs/", {"page": "1"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 5


def test_a_member_sees_only_the_runs_of_their_projects(
    five: list[Run], other_user: Any, user: Any
) -> None:
    assert set(visible_runs(user).values_list("pk", flat=True)) == {
        run.pk for run in five
    }
    assert not visible_runs(other_user).exists()


def test_counts_stop_at_the_cap_and_say_so(five: list[Run]) -> None:
    counts = capped_counts(Run.objects.all(), ["Pending", "Failed"], cap=3)
    assert counts == {"Pending": "3+", "Failed": 0}
    assert capped_counts(Run.objects.all(), ["Pending"], cap=5) == {"Pending": 5}


def test_the_dashboard_shows_a_capped_count_with_a_plus(
    user: Any, five: list[Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workflows import listing

    monkeypatch.setattr(listing, "COUNT_CAP", 2)
    monkeypatch.setattr(listing.capped_counts, "__defaults__", (2,))
    client = Client()
    client.force_login(user)
    answer = client.get(reverse("run-list"), headers={"Accept": "application/json"})
    assert answer.json()["counts"]["Pending"] == "2+"
    page = client.get(reverse("run-list")).content.decode()
    assert '<span class="dashboard-number">2+</span>' in page


def test_a_keyset_page_reads_from_either_end(five: list[Run]) -> None:
    ids = [run.pk for run in five]
    newest = keyset_page(Run.objects.all(), before=None, after=None, size=2)
    assert [run.pk for run in newest.object_list] == [ids[4], ids[3]]
    assert (newest.newer, newest.older) == (None, ids[3])
    middle = keyset_page(Run.objects.all(), before=ids[3], after=None, size=2)
    assert [run.pk for run in middle.object_list] == [ids[2], ids[1]]
    assert (middle.newer, middle.older) == (ids[2], ids[1])
    last = keyset_page(Run.objects.all(), before=ids[1], after=None, size=2)
    assert [run.pk for run in last.object_list] == [ids[0]]
    assert last.older is None
    back = keyset_page(Run.objects.all(), before=None, after=ids[0], size=2)
    assert [run.pk for run in back.object_list] == [ids[2], ids[1]]
    assert (back.newer, back.older) == (ids[2], ids[1])


def test_a_time_range_finds_exactly_the_runs_made_in_it(
    api: Any, user: Any, diamond: Workflow
) -> None:
    """Ids narrow where a page looks (listing.created_between); the times
    decide, runs made within ORDER_SLACK of each other in either order."""
    from datetime import timedelta

    from django.utils import timezone

    from workflows.listing import ORDER_SLACK, created_between

    now = timezone.now()
    made = [
        now - timedelta(days=9),
        now - timedelta(days=5),
        now - timedelta(days=5) - ORDER_SLACK / 2,  # a later id, a time before
        now - timedelta(days=1),
    ]
    runs = []
    for moment in made:
        run = submit_run(diamond.latest_version, user=user)
        Run.objects.filter(pk=run.pk).update(created_at=moment)
        runs.append(run.pk)

    def between(since: Any, until: Any) -> set[int]:
        return set(
            created_between(Run.objects.all(), since, until).values_list(
                "pk", flat=True
            )
        )

    day = timedelta(days=1)
    assert between(now - 6 * day, None) == set(runs[1:])
    assert between(None, now - 5 * day) == set(runs[:3])
    assert between(None, now - 5 * day - ORDER_SLACK / 4) == {runs[0], runs[2]}
    assert between(now - 5 * day - ORDER_SLACK / 4, now - 2 * day) == {runs[1]}
    assert between(now + day, None) == set()
    assert between(None, now - 10 * day) == set()
    response = api.get("/api/runs/", {"until": (now - 5 * day).isoformat()})
    assert {run["id"] for run in response.json()["results"]} == set(runs[:3])
