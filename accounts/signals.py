"""Logins and failed logins: recorded in the audit log, counted by the throttle."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts import audit, throttling


@receiver(user_logged_in, dispatch_uid="flowdeck-login-success")
def login_succeeded(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    address = audit.client_address(request)
    throttling.reset(user.get_username(), address)
    via = throttling.login_via(request)
    audit.record(request, "login.success", user, detail={"via": via}, actor=user)


@receiver(user_login_failed, dispatch_uid="flowdeck-login-failure")
def login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    if throttling.refused(request):
        return  # no password was checked; the throttle recorded the refusal
    # Django has already masked the password in `credentials`; only the
    # username is kept.
    username = str(credentials.get("username", ""))[:150]
    address = audit.client_address(request)
    throttling.note_failure(username, address)
    audit.record(
        request,
        "login.failure",
        None,
        audit.Outcome.DENIED,
        {"reason": "wrong username or password"},
        username=username,
    )
