"""Slow password guessing: after FLOWDECK_LOGIN_MAX_FAILURES failed logins for
one username from one address within FLOWDECK_LOGIN_LOCKOUT_SECONDS, further
attempts are refused without checking the password until the window ends.

Counts live in Django's cache: per process with the default LocMemCache, shared
by every server with the Redis cache (REDIS_URL), which production should use.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache


def _key(username: str, address: str | None) -> str:
    # Hashed: usernames may hold characters some cache backends refuse in keys.
    raw = f"{username.strip().lower()}\0{address or '-'}".encode()
    return "login-failures:" + hashlib.sha256(raw).hexdigest()


def retry_after(username: str, address: str | None) -> int:
    """Seconds until `username` may try again from `address`; 0 when it may."""
    key = _key(username, address)
    failures = cache.get(key, 0)
    if failures < settings.FLOWDECK_LOGIN_MAX_FAILURES:
        return 0
    since = cache.get(key + ":since")
    window = settings.FLOWDECK_LOGIN_LOCKOUT_SECONDS
    if since is None:
        return window
    return max(1, math.ceil(since + window - time.time()))


def note_failure(username: str, address: str | None) -> None:
    key = _key(username, address)
    window = settings.FLOWDECK_LOGIN_LOCKOUT_SECONDS
    # The window starts at the first failure; incr keeps the key's expiry.
    if cache.add(key, 1, timeout=window):
        cache.set(key + ":since", time.time(), timeout=window)
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        cache.set(key + ":since", time.time(), timeout=window)


def reset(username: str, address: str | None) -> None:
    key = _key(username, address)
    cache.delete_many([key, key + ":since"])


def message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Too many failed sign-in attempts for this username from your address. "
        f"Try again in {minutes} {unit}."
    )
