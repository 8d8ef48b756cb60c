"""Slow password guessing. Within FLOWDECK_LOGIN_LOCKOUT_SECONDS of the first
failure, after FLOWDECK_LOGIN_MAX_FAILURES failed logins for one username from
one address, or FLOWDECK_LOGIN_ADDRESS_MAX_FAILURES from one address whatever
the usernames, further attempts are refused without checking the password
until the window ends.

Every `authenticate()` goes through `LoginThrottleBackend` (first in
AUTHENTICATION_BACKENDS), so the pages, the Django admin and the token
endpoint share one lockout; failures are counted by the `user_login_failed`
signal (accounts.signals).

Counts live in Django's cache: per process with the default LocMemCache, shared
by every server with the Redis cache (REDIS_URL), which production should use.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

# The lockout an `authenticate()` refused, kept on its request for the caller.
_REFUSED = "flowdeck_login_lockout"


@dataclass(frozen=True)
class Lockout:
    seconds: int  # until the window ends
    limit: str  # "username" (this username from this address) or "address"

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        whose = "for this username " if self.limit == "username" else ""
        return (
            f"Too many failed sign-in attempts {whose}from your address. "
            f"Try again in {minutes} {unit}."
        )


def _hashed(prefix: str, raw: str) -> str:
    # Hashed: usernames may hold characters some cache backends refuse in keys.
    return prefix + hashlib.sha256(raw.encode()).hexdigest()


def _keys(username: str, address: str | None) -> dict[str, tuple[str, int]]:
    """The counters a login touches, by limit: (cache key, failures allowed).
    A login without an address (no request) counts by username alone."""
    keys = {
        "username": (
            _hashed("login-failures:", f"{username.strip().lower()}\0{address or '-'}"),
            settings.FLOWDECK_LOGIN_MAX_FAILURES,
        )
    }
    if address is not None:
        keys["address"] = (
            _hashed("login-failures-address:", address),
            settings.FLOWDECK_LOGIN_ADDRESS_MAX_FAILURES,
        )
    return keys


def _remaining(key: str, window: int) -> int:
    since = cache.get(key + ":since")
    if since is None:
        return window
    return max(1, math.ceil(float(since) + window - time.time()))


def lockout(username: str, address: str | None) -> Lockout | None:
    """Why `username` may not try now from `address`; None when it may."""
    window = settings.FLOWDECK_LOGIN_LOCKOUT_SECONDS
    keys = _keys(username, address)
    counts = cache.get_many([key for key, _ in keys.values()])
    refusals = [
        Lockout(_remaining(key, window), limit)
        for limit, (key, allowed) in keys.items()
        if counts.get(key, 0) >= allowed
    ]
    return max(refusals, key=lambda refusal: refusal.seconds, default=None)


def note_failure(username: str, address: str | None) -> None:
    window = settings.FLOWDECK_LOGIN_LOCKOUT_SECONDS
    for key, _ in _keys(username, address).values():
        # The window starts at the first failure; incr keeps the key's expiry.
        if cache.add(key, 1, timeout=window):
            cache.set(key + ":since", time.time(), timeout=window)
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)
            cache.set(key + ":since", time.time(), timeout=window)


def reset(username: str, address: str | None) -> None:
    """After a successful login: the username's count starts again. The
    address's does not, or guessing could be interleaved with one's own
    logins."""
    key, _ = _keys(username, address)["username"]
    cache.delete_many([key, key + ":since"])


def refused(request: Any) -> Lockout | None:
    """The lockout that made `authenticate(request, ...)` return None, if that
    is why; None after a plain wrong password."""
    return getattr(request, _REFUSED, None)


class LoginThrottleBackend:
    """Authenticates nobody: listed before the backends that check passwords,
    it stops every `authenticate()` during a lockout (Django then asks no
    other backend and sends `user_login_failed`). The refusal is recorded in
    the audit log here, once for every login path.

    No `get_user` (nor BaseBackend's): sessions are attributed to the backend
    that checked the password, never to this one (the test client's
    force_login picks the first backend that has one)."""

    def authenticate(
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        from accounts import audit

        if username is None:
            username = kwargs.get(str(get_user_model().USERNAME_FIELD))
        if username is None:
            return
        username = str(username)
        found = lockout(username, audit.client_address(request))
        if found is None:
            return
        if request is not None:
            setattr(request, _REFUSED, found)
        audit.record(
            request,
            "login.failure",
            None,
            audit.Outcome.DENIED,
            {"reason": "throttled", "via": login_via(request), "limit": found.limit},
            username=username[:150],
        )
        raise PermissionDenied(found.message)


def login_via(request: Any) -> str:
    """Which login path `request` came through, for the audit log: set by the
    token endpoint ("api") and the admin site ("admin"); pages by default."""
    if request is None:
        return "other"
    return str(getattr(request, "flowdeck_login_via", "page"))
