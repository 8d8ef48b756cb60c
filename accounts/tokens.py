"""Issue, check and revoke personal API tokens.

A token is "fdk_" and 40 random bytes (URL-safe base64). Only its SHA-256 is
stored, with its first characters for recognising it in lists; the secret is
returned once, by `issue`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.models import PersonalToken

TOKEN_PREFIX = "fdk_"
PREFIX_LENGTH = 12  # "fdk_" and 8 characters of the secret
# last_used_at is written at most this often per token, so a busy script does
# not turn every request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_EXPIRY_DAYS = 3650


class TokenError(Exception):
    """The key does not authenticate; the message says why (for a 401)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue(
    user: Any, name: str, *, expires_in_days: int | None = None
) -> tuple[PersonalToken, str]:
    """A new token for `user` and its secret, which is not stored anywhere."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(40)
    expires_at = None
    if expires_in_days:
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    token = PersonalToken.objects.create(
        user=user,
        name=name,
        prefix=key[:PREFIX_LENGTH],
        key_hash=hash_key(key),
        expires_at=expires_at,
    )
    return token, key


def revoke(token: PersonalToken) -> None:
    """Stop `token` from authenticating; revoking twice changes nothing."""
    PersonalToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def authenticate_key(key: str) -> PersonalToken:
    """The token whose secret is `key`, its user loaded; TokenError when it is
    unknown, revoked or expired, or its user is deactivated."""
    token = (
        PersonalToken.objects.select_related("user")
        .filter(key_hash=hash_key(key))
        .first()
    )
    if token is None:
        raise TokenError("Invalid token.")
    if token.revoked_at is not None:
        raise TokenError("This token has been revoked.")
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenError("This token has expired.")
    if not token.user.is_active:
        raise TokenError("User inactive or deleted.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
