"""Sending one notification through its rule's channel: a signed webhook, a
Slack-compatible webhook or an email. Each returns the HTTP status (None for
email) or raises SendFailed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from notifications import payloads
from notifications.models import Channel, NotificationRule

SIGNATURE_HEADER = "X-Flowdeck-Signature"
TIMESTAMP_HEADER = "X-Flowdeck-Timestamp"
DELIVERY_HEADER = "X-Flowdeck-Delivery"
EVENT_HEADER = "X-Flowdeck-Event"


class SendFailed(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the HMAC-SHA256 of `<timestamp>.<body>` under the secret:
    a receiver recomputes it, compares in constant time, and refuses a
    timestamp too far from its clock (a replay)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, body, {"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(
            request, timeout=settings.FLOWDECK_NOTIFY_TIMEOUT_SECONDS
        ) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        raise SendFailed(f"HTTP {error.code} {error.reason}", error.code) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise SendFailed(f"{type(error).__name__}: {error}") from None


def send(rule: NotificationRule, payload: dict[str, Any]) -> int | None:
    if rule.channel == Channel.WEBHOOK:
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: payload["id"],
            "Idempotency-Key": payload["id"],
            EVENT_HEADER: payload["event"],
            "User-Agent": "Flowdeck-Notifications/1",
        }
        if rule.secret:
            headers[SIGNATURE_HEADER] = signature(rule.secret, timestamp, body)
        return _post(rule.url, body, headers)
    if rule.channel == Channel.SLACK:
        body = json.dumps(payloads.slack(payload)).encode()
        return _post(rule.url, body, {"User-Agent": "Flowdeck-Notifications/1"})
    if rule.channel == Channel.EMAIL:
        message = EmailMultiAlternatives(
            subject=payloads.subject(payload),
            body=payloads.text(payload),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(rule.recipients),
            headers={"X-Flowdeck-Delivery": payload["id"]},
        )
        message.attach_alternative(payloads.html_body(payload), "text/html")
        try:
            message.send(fail_silently=False)
        except (OSError, Exception) as error:  # smtplib's errors are OSErrors
            raise SendFailed(f"{type(error).__name__}: {error}") from None
        return None
    raise SendFailed(f"unknown channel {rule.channel!r}")
