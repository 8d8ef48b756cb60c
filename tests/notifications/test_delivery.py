"""Notifications from a run's change to a real receiver: the outbox row
written with the change, its delivery (signed webhook, Slack-compatible
webhook, email over SMTP), retries with backoff, the delivery log, deadline
misses and "Send test"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from flowcore.spec import SpecError
from flowcore.states import AttemptStatus, RunStatus
from notifications import delivery
from notifications.models import Delivery, Notification, NotificationRule
from tests.conftest import drive_run, shell_task, workflow_document
from tests.notifications.receivers import Receiver, SmtpServer, receiver_fixture, verify
from tests.observability.scrape import sample
from workflows.models import Attempt, Run
from workflows.services.advance import advance_run
from workflows.services.attempts import Report, record_report
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-test-signing-key"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiver_fixture()


@pytest.fixture
def fast_retries(settings: Any) -> None:
    settings.FLOWDECK_NOTIFY_RETRY_SECONDS = 0.2
    settings.FLOWDECK_NOTIFY_TIMEOUT_SECONDS = 5
    settings.FLOWDECK_BASE_URL = "https://flowdeck.example.com"


def rule(project: Any, url: str = "", **values: Any) -> NotificationRule:
    return NotificationRule.objects.create(
        project=project,
        name=values.pop("name", "on-call"),
        channel=values.pop("channel", "webhook"),
        url=url,
        events=values.pop("events", ["run.failed"]),
        secret=values.pop("secret", SECRET),
        **values,
    )


def fail_b(diamond: Any, user: Any) -> Run:
    run = drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )
    assert run.status == RunStatus.FAILED
    return run


def test_a_failed_run_is_delivered_signed_with_its_failed_tasks_and_links(
    diamond, user, project, receiver, fast_retries, tmp_path: Path
):
    hook = rule(project, receiver.url)
    run = fail_b(diamond, user)
    # The outbox row committed with the run's end, before any delivery.
    notification = Notification.objects.get(rule=hook)
    assert (notification.event, notification.status) == ("run.failed", "pending")
    failed = Attempt.objects.get(task_run__run=run, task_run__name="b")
    log = tmp_path / "b.log"
    log.write_text("".join(f"line {i}\n" for i in range(50)))
    Attempt.objects.filter(pk=failed.pk).update(log_path=str(log))

    assert delivery.deliver(notification.pk) == "delivered"
    (got,) = receiver.received
    assert verify(SECRET, got)
    assert got.headers["X-Flowdeck-Delivery"] == notification.key
    assert got.headers["X-Flowdeck-Event"] == "run.failed"
    payload = got.json()
    assert payload["event"] == "run.failed"
    assert payload["project"]["name"] == project.name
    assert payload["workflow"]["name"] == "diamond"
    assert payload["run"]["id"] == run.pk
    assert payload["run"]["status"] == "Failed"
    assert payload["run"]["url"] == f"https://flowdeck.example.com/runs/{run.pk}/"
    (task,) = payload["failed_tasks"]
    assert task["name"] == "b" and task["status"] == "Failed"
    assert task["exit_code"] == 1
    assert task["log_tail"] == [f"line {i}" for i in range(30, 50)]
    assert task["logs_url"].startswith("https://flowdeck.example.com/runs/")

    # A tampered body or an old timestamp does not verify.
    tampered = type(got)(got.path, got.headers, got.body.replace(b"Failed", b"Nope!!"))
    assert not verify(SECRET, tampered)
    assert not verify(SECRET, got, tolerance=-1)
    # Delivered once: asking again sends nothing.
    assert delivery.deliver(notification.pk) is None
    assert len(receiver.received) == 1
    log_entry = Delivery.objects.get(notification=notification)
    assert (log_entry.outcome, log_entry.response_code, log_entry.attempt) == (
        "delivered",
        200,
        1,
    )


def test_only_the_events_a_rule_asks_for_and_each_change_once(
    diamond, user, project, fast_retries
):
    on_success = rule(project, "http://127.0.0.1:9/", events=["run.succeeded"])
    on_failure = rule(project, "http://127.0.0.1:9/", name="failures")
    drive_run(submit_run(diamond.latest_version, user=user))
    assert Notification.objects.filter(rule=on_success).count() == 1
    assert not Notification.objects.filter(rule=on_failure).exists()

    run = submit_run(diamond.latest_version, user=user)
    launch = advance_run(run.pk).launch[0]
    for _ in range(3):  # a repeated report changes nothing, so notifies nothing
        record_report(Report(launch.attempt_id, AttemptStatus.RUNNING, handle="x"))
        record_report(Report(launch.attempt_id, AttemptStatus.FAILED, exit_code=2))
    assert Notification.objects.filter(rule=on_failure).count() == 1


def test_a_workflow_rule_hears_a_task_failing_its_last_retry_and_nothing_else(
    user, project, diamond, fast_retries
):
    flaky = create_workflow(
        workflow_document(
            "flaky",
            [shell_task("load", retry={"limit": 1, "backoff": {"delay": "1s"}})],
        ),
        author=user,
        project=project,
    )
    mine = rule(project, "http://127.0.0.1:9/", workflow=flaky, events=["task.failed"])
    run = drive_run(
        submit_run(flaky.latest_version, user=user), {"load": AttemptStatus.FAILED}
    )
    assert run.tasks.get().attempts_count == 2
    (notification,) = Notification.objects.filter(rule=mine)
    assert (notification.event, notification.task) == ("task.failed", "load")
    fail_b(diamond, user)  # another workflow's failure: not this rule's
    assert Notification.objects.filter(rule=mine).count() == 1


def test_a_receiver_that_fails_twice_gets_it_on_the_third_try_with_backoff(
    diamond, user, project, fast_retries
):
    flaky_receiver = Receiver(fail_first=2)
    retried = sample(
        "flowdeck_notification_attempts_total", channel="webhook", result="retry"
    )
    delivered = sample(
        "flowdeck_notification_attempts_total", channel="webhook", result="delivered"
    )
    try:
        hook = rule(project, flaky_receiver.url)
        fail_b(diamond, user)
        notification = Notification.objects.get(rule=hook)
        waits = []
        for expected in ("pending", "pending", "delivered"):
            deadline = time.monotonic() + 10
            while (status := delivery.deliver(notification.pk)) is None:
                assert time.monotonic() < deadline, "never due again"
                time.sleep(0.02)
            assert status == expected
            notification.refresh_from_db()
            if expected == "pending":
                last = Delivery.objects.filter(notification=notification).first()
                waits.append((notification.next_attempt_at - last.at).total_seconds())
        assert waits[0] == pytest.approx(0.2, abs=0.1)
        assert waits[1] == pytest.approx(0.4, abs=0.1)  # doubled
        assert flaky_receiver.answered == [500, 500, 200]
        log = list(
            Delivery.objects.filter(notification=notification)
            .order_by("attempt")
            .values_list("attempt", "outcome", "response_code")
        )
        assert log == [(1, "error", 500), (2, "error", 500), (3, "delivered", 200)]
        assert notification.attempts == 3 and notification.delivered_at
        keys = {r.headers["X-Flowdeck-Delivery"] for r in flaky_receiver.received}
        assert keys == {notification.key}  # one key, however many tries
        attempts = "flowdeck_notification_attempts_total"
        assert sample(attempts, channel="webhook", result="retry") == retried + 2
        assert sample(attempts, channel="webhook", result="delivered") == delivered + 1
    finally:
        flaky_receiver.stop()


def test_it_gives_up_after_the_last_attempt(
    diamond, user, project, settings, fast_retries
):
    settings.FLOWDECK_NOTIFY_MAX_ATTEMPTS = 2
    settings.FLOWDECK_NOTIFY_RETRY_SECONDS = 0.01
    hook = rule(project, "http://127.0.0.1:9/nobody-listens")
    fail_b(diamond, user)
    notification = Notification.objects.get(rule=hook)
    assert delivery.deliver(notification.pk) == "pending"
    time.sleep(0.05)
    assert delivery.deliver(notification.pk) == "failed"
    assert delivery.deliver(notification.pk) is None
    errors = Delivery.objects.filter(notification=notification)
    assert [d.outcome for d in errors] == ["error", "error"]
    assert "Connection refused" in errors[0].error


def test_email_goes_through_a_real_smtp_server_as_plain_text_and_html(
    diamond, user, project, settings, fast_retries
):
    with SmtpServer() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        settings.DEFAULT_FROM_EMAIL = "flowdeck@example.com"
        mail = rule(
            project,
            channel="email",
            recipients=["oncall@example.com", "lead@example.com"],
            secret="",
        )
        run = fail_b(diamond, user)
        assert delivery.deliver(Notification.objects.get(rule=mail).pk) == "delivered"
        (message,) = smtp.messages
    assert message["Subject"] == f"[Flowdeck] diamond run #{run.pk} failed"
    assert message["To"] == "oncall@example.com, lead@example.com"
    parts = {part.get_content_type(): part for part in message.walk()}
    plain = parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    assert f"https://flowdeck.example.com/runs/{run.pk}/" in plain
    assert "b: Failed" in plain
    assert "<h3>b: Failed</h3>" in html
    assert Delivery.objects.get().response_code is None


def test_a_slack_compatible_webhook_gets_a_text_message_with_the_link(
    diamond, user, project, receiver, fast_retries
):
    chat = rule(project, receiver.url, channel="slack", secret="")
    run = fail_b(diamond, user)
    assert delivery.deliver(Notification.objects.get(rule=chat).pk) == "delivered"
    (got,) = receiver.received
    text = got.json()["text"]
    assert text.startswith(f"<https://flowdeck.example.com/runs/{run.pk}/|diamond run")
    assert "b: Failed" in text
    assert "X-Flowdeck-Signature" not in got.headers


def test_a_run_past_its_sla_is_a_deadline_miss_notified_once(
    user, project, receiver, fast_retries
):
    slow = create_workflow(
        workflow_document("slow", [shell_task("wait")], sla="1m"),
        author=user,
        project=project,
    )
    hook = rule(project, receiver.url, events=["run.deadline_missed"])
    run = submit_run(slow.latest_version, user=user)
    advance_run(run.pk)
    delivery.sweep()
    assert not Notification.objects.filter(rule=hook).exists()  # not late yet
    Run.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - timedelta(minutes=2)
    )
    delivery.sweep()
    delivery.sweep()
    (notification,) = Notification.objects.filter(rule=hook)
    assert notification.status == "delivered"
    (got,) = receiver.received
    assert got.json()["event"] == "run.deadline_missed"
    assert got.json()["sla_seconds"] == 60


def test_an_sla_is_a_duration_of_at_most_a_year(user, project):
    with pytest.raises(SpecError, match="spec.sla"):
        create_workflow(
            workflow_document("late", [shell_task("a")], sla="400d"),
            author=user,
            project=project,
        )


def test_send_test_delivers_a_test_notification_and_logs_it(
    project, receiver, fast_retries
):
    hook = rule(project, receiver.url)
    notification = delivery.send_test(hook)
    assert delivery.deliver(notification.pk) == "delivered"
    (got,) = receiver.received
    assert verify(SECRET, got)
    assert got.json()["event"] == "test"
    assert got.json()["project"]["name"] == project.name
    assert Delivery.objects.get(notification__rule=hook).outcome == "delivered"
