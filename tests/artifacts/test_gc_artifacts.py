"""`manage.py gc_artifacts` on both stores: runs past the retention lose their
artifacts, blobs nothing references go once the grace period has passed, and
a blob an attempt stores (or records) while the collector runs is kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from artifacts.store import ArtifactStore, Blob, StoredBlob
from tests.artifacts.timing import next_second
from tests.conftest import drive_run, submit_run
from workflows.models import AttemptOutput, Run, RunEvent
from workflows.services.advance import advance_run
from workflows.services.retention import sweep_blobs

pytestmark = pytest.mark.django_db(transaction=True)

RETENTION = "kept 30 days after the run finished (FLOWDECK_ARTIFACT_RETENTION_DAYS)"


@pytest.fixture
def put(configured_store: ArtifactStore, tmp_path: Path) -> Any:
    def put(content: bytes) -> Blob:
        source = tmp_path / "source"
        source.write_bytes(content)
        return configured_store.put_file(source)

    return put


def leave(run: Run, task: str, blob: Blob, name: str = "data") -> None:
    """Record that the task's latest attempt left `blob` as artifact `name`."""
    attempt = run.tasks.get(name=task).attempts.latest("number")
    AttemptOutput.objects.create(
        attempt=attempt,
        kind=AttemptOutput.Kind.ARTIFACT,
        name=name,
        size=blob.size,
        sha256=blob.sha256,
        filename=f"{name}.csv",
    )


def finished_run(
    diamond: Any, user: Any, finished_at: datetime, blobs: dict[str, Blob]
) -> Run:
    """A succeeded run whose tasks left `blobs` ({task: blob}), a result, and
    which returns the first as its output artifact `data`."""
    run = drive_run(submit_run(diamond.latest_version, user=user))
    for task, blob in blobs.items():
        leave(run, task, blob)
    attempt = run.tasks.get(name="d").attempts.get()
    AttemptOutput.objects.create(
        attempt=attempt, kind=AttemptOutput.Kind.RESULT, value="42", size=2
    )
    task, blob = next(iter(blobs.items()))
    outputs = {
        "parameters": {"answer": {"value": "42", "secret": False}},
        "artifacts": {
            "data": {
                "sha256": blob.sha256,
                "size": blob.size,
                "filename": "data.csv",
                "directory": False,
                "task": task,
                "artifact": "data",
            }
        },
    }
    Run.objects.filter(pk=run.pk).update(finished_at=finished_at, outputs=outputs)
    run.refresh_from_db()
    return run


def gc(*args: str) -> str:
    out = StringIO()
    call_command("gc_artifacts", *args, stdout=out)
    return out.getvalue()


def later(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> datetime:
    """Move the collector's clock (every blob so far is `delta` old)."""
    moved = timezone.now() + delta
    monkeypatch.setattr(timezone, "now", lambda: moved)
    return moved


def stored(store: ArtifactStore) -> set[str]:
    return set(store.keys())


def test_it_deletes_expired_artifacts_and_then_the_blobs_nothing_references(
    configured_store, put, diamond, user, settings, monkeypatch
):
    settings.FLOWDECK_ARTIFACT_RETENTION_DAYS = 30
    now = timezone.now()
    old_only, shared, recent_only, running_only, orphan = (
        put(f"{name}\n".encode() * 100)
        for name in ("old", "shared", "recent", "running", "orphan")
    )
    old = finished_run(diamond, user, now - timedelta(days=40), {"a": old_only})
    leave(old, "b", shared)
    recent = finished_run(diamond, user, now - timedelta(days=1), {"a": recent_only})
    leave(recent, "b", shared)
    running = submit_run(diamond.latest_version, user=user)
    advance_run(running.pk)  # a's attempt is launching
    leave(running, "a", running_only)
    before = {
        "rows": AttemptOutput.objects.count(),
        "blobs": stored(configured_store),
        "outputs": Run.objects.get(pk=old.pk).outputs,
    }
    later(monkeypatch, timedelta(days=2))  # past the grace period

    listed = gc("--dry-run")
    assert f"run {old.pk} " in listed and "a/data, b/data, data" in listed
    assert f"run {recent.pk} " not in listed
    assert {line.split()[1] for line in listed.splitlines() if line[:5] == "blob "} == {
        old_only.sha256,
        orphan.sha256,
    }
    assert listed.splitlines()[-1] == (
        "would delete the artifacts of 1 run(s) (2 row(s)) and 2 blob(s) "
        f"(1.1 KiB) from the {configured_store.name} store"
    )
    assert AttemptOutput.objects.count() == before["rows"]
    assert stored(configured_store) == before["blobs"]
    assert Run.objects.get(pk=old.pk).outputs == before["outputs"]

    done = gc()
    assert done.splitlines() == [
        "deleted the artifacts of 1 run(s) (2 row(s)) and 2 blob(s) (1.1 KiB) "
        f"from the {configured_store.name} store"
    ]
    assert stored(configured_store) == {
        shared.sha256,
        recent_only.sha256,
        running_only.sha256,
    }
    kinds = AttemptOutput.objects.filter(attempt__task_run__run=old)
    assert list(kinds.values_list("kind", flat=True)) == ["result"]
    old.refresh_from_db()
    assert old.outputs == {
        "parameters": {"answer": {"value": "42", "secret": False}},
        "artifacts": {},
        "missing": {"data": RETENTION},
    }
    event = old.events.latest("seq")
    assert (event.seq, event.kind, event.message) == (
        old.last_seq,
        RunEvent.Kind.MESSAGE,
        f"artifacts deleted: {RETENTION}",
    )
    assert event.data == {"artifacts": ["a/data", "b/data"], "outputs": ["data"]}
    assert recent.outputs == Run.objects.get(pk=recent.pk).outputs
    assert AttemptOutput.objects.filter(attempt__task_run__run=recent).count() == 3

    assert gc().startswith("deleted the artifacts of 0 run(s) (0 row(s)) and 0 blob")


def test_an_unreferenced_blob_is_kept_through_the_grace_period(
    configured_store, put, settings, monkeypatch
):
    settings.FLOWDECK_ARTIFACT_RETENTION_DAYS = 30
    blob = put(b"an attempt stored me; its end is not recorded yet\n")
    assert "0 blob(s)" in gc()
    later(monkeypatch, timedelta(hours=23))
    assert "0 blob(s)" in gc()  # the default grace is 24 hours
    assert "1 blob(s)" in gc("--grace-hours", "22")
    assert stored(configured_store) == set()
    assert blob.sha256 not in gc("-v", "2")


def test_with_no_retention_runs_keep_their_artifacts_and_orphans_still_go(
    configured_store, put, diamond, user, settings, monkeypatch
):
    settings.FLOWDECK_ARTIFACT_RETENTION_DAYS = 0
    kept = put(b"kept for ever\n")
    orphan = put(b"left by an attempt that failed later\n")
    run = finished_run(diamond, user, timezone.now() - timedelta(days=400), {"a": kept})
    later(monkeypatch, timedelta(days=2))
    output = gc("-v", "2")
    assert "FLOWDECK_ARTIFACT_RETENTION_DAYS is 0" in output
    assert f"blob {orphan.sha256}" in output
    assert stored(configured_store) == {kept.sha256}
    assert AttemptOutput.objects.filter(attempt__task_run__run=run).count() == 2


def test_runs_expire_in_batches(configured_store, put, diamond, user, settings):
    settings.FLOWDECK_ARTIFACT_RETENTION_DAYS = 1
    long_ago = timezone.now() - timedelta(days=3)
    runs = [
        finished_run(diamond, user, long_ago, {"a": put(f"{i}\n".encode())})
        for i in range(3)
    ]
    output = gc("--batch-size", "1", "-v", "2")
    for run in runs:
        assert f"run {run.pk} " in output
        run.refresh_from_db()
        assert run.outputs["missing"] == {
            "data": "kept 1 day after the run finished "
            "(FLOWDECK_ARTIFACT_RETENTION_DAYS)"
        }
    assert not AttemptOutput.objects.filter(kind="artifact").exists()
    assert "3 run(s) (3 row(s)) and 0 blob(s)" in output  # blobs: in grace


class StoredAgainWhileDeleting:
    """The store, with an attempt storing the same bytes again at the worst
    moment: after the collector listed the blob and found no row for it,
    just before it deletes it."""

    def __init__(self, store: ArtifactStore, source: Path) -> None:
        self.store, self.source = store, source
        self.name = store.name

    def blobs(self) -> Iterator[StoredBlob]:
        return self.store.blobs()

    def delete_stale(self, sha256: str, before: datetime) -> bool:
        self.store.put_file(self.source)
        return self.store.delete_stale(sha256, before)


def test_a_blob_stored_again_while_the_collector_deletes_it_is_kept(
    configured_store, tmp_path
):
    source = tmp_path / "again.csv"
    source.write_bytes(b"the same bytes, a new attempt\n")
    blob = configured_store.put_file(source)
    grace = timedelta(hours=1)
    boundary = next_second()  # the blob is older than this, by the store's clock
    racing: Any = StoredAgainWhileDeleting(configured_store, source)
    assert list(sweep_blobs(racing, now=boundary + grace, grace=grace)) == []
    assert configured_store.size(blob.sha256) == blob.size
    # The control: without the attempt, the same sweep a moment later deletes it.
    boundary = next_second()
    swept = list(sweep_blobs(configured_store, now=boundary + grace, grace=grace))
    assert [b.sha256 for b in swept] == [blob.sha256]
    assert configured_store.size(blob.sha256) is None


class RecordedWhileListing:
    """The store, with an attempt's end (and its artifact row) recorded
    while the collector lists the blobs."""

    def __init__(self, store: ArtifactStore, record: Any) -> None:
        self.store, self.record = store, record
        self.name = store.name

    def blobs(self) -> Iterator[StoredBlob]:
        yield from self.store.blobs()
        self.record()

    def delete_stale(self, sha256: str, before: datetime) -> bool:
        return self.store.delete_stale(sha256, before)


def test_a_blob_whose_row_is_recorded_while_the_collector_lists_is_kept(
    configured_store, put, diamond, user
):
    blob = put(b"uploaded; the report of the attempt's end is on its way\n")
    run = submit_run(diamond.latest_version, user=user)
    advance_run(run.pk)
    racing: Any = RecordedWhileListing(configured_store, lambda: leave(run, "a", blob))
    now = timezone.now() + timedelta(days=2)
    assert list(sweep_blobs(racing, now=now, grace=timedelta(hours=24))) == []
    assert configured_store.size(blob.sha256) == blob.size


def test_a_missing_bucket_fails_the_command_naming_it(settings, s3_bucket):
    for name, value in s3_bucket.environment.items():
        setattr(settings, name, value)
    settings.FLOWDECK_ARTIFACT_S3_BUCKET = "flowdeck-nowhere"
    with pytest.raises(CommandError, match="artifact store: listing s3://flowdeck-no"):
        gc()


def test_the_grace_period_is_at_least_an_hour():
    with pytest.raises(CommandError, match="at least 1"):
        gc("--grace-hours", "0")
