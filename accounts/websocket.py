"""Who is on the other end of a websocket: session, ticket or token.

A browser page connects with its session cookie (Channels' AuthMiddlewareStack).
An API client either asks for a ticket (POST /api/ws-ticket/: signed, names
its user and the token it asked with, expires within a minute, refused once
that token is revoked or expired) and connects with `?ticket=...`, or sends
`Authorization: Token <key>` on the handshake. A long-lived token never goes in
a URL, where proxies and logs would keep it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core import signing

from accounts.models import PersonalToken
from accounts.tokens import TokenError, authenticate_key

TICKET_SALT = "flowdeck.websocket-ticket"


def issue_ticket(user: Any, token: PersonalToken | None = None) -> str:
    """A signed ticket naming `user` and the token the request for it came
    with (None for a browser session), so the socket is refused if that token
    stops working before the ticket expires."""
    minted_by = "" if token is None else str(token.pk)
    return signing.TimestampSigner(salt=TICKET_SALT).sign(f"{user.pk}:{minted_by}")


def user_for_ticket(ticket: str) -> Any:
    """The ticket's active user, if the token that asked for the ticket still
    works; raises ValueError saying what is wrong."""
    signer = signing.TimestampSigner(salt=TICKET_SALT)
    try:
        value = signer.unsign(ticket, max_age=settings.FLOWDECK_WS_TICKET_SECONDS)
    except signing.SignatureExpired:
        raise ValueError("the ticket has expired; ask for a new one") from None
    except signing.BadSignature:
        raise ValueError("the ticket is not valid") from None
    user_id, separator, token_id = value.partition(":")
    if not separator:  # signed before tickets named their token
        raise ValueError("the ticket is not valid; ask for a new one")
    if token_id:
        token = PersonalToken.objects.filter(pk=token_id).first()
        if token is None:
            raise ValueError("the token that asked for the ticket no longer exists")
        if token.revoked_at is not None:
            raise ValueError("the token that asked for the ticket has been revoked")
        if token.expired:
            raise ValueError("the token that asked for the ticket has expired")
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise ValueError("the ticket's user is not active")
    return user


def user_for_token(key: str) -> Any:
    try:
        return authenticate_key(key).user
    except TokenError as error:
        raise ValueError(str(error)) from None


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for header, value in scope.get("headers", []):
        if header == name:
            return bytes(value).decode("latin1")
    return None


def _ticket(scope: dict[str, Any]) -> str | None:
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin1"))
    values = query.get("ticket")
    return values[-1] if values else None


def _token(scope: dict[str, Any]) -> str | None:
    header = _header(scope, b"authorization")
    if header is None:
        return None
    keyword, _, key = header.partition(" ")
    return key.strip() if keyword.lower() == "token" else ""


def has_explicit_credentials(scope: dict[str, Any]) -> bool:
    return _ticket(scope) is not None or _token(scope) is not None


class ExplicitCredentialsMiddleware:
    """Replaces the session's user when a ticket or token is given.

    A bad ticket or token leaves the connection anonymous with the reason in
    scope["auth_error"], so the consumer can say why it refuses.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        ticket, token = _ticket(scope), _token(scope)
        if ticket is not None or token is not None:
            scope = dict(scope)
            try:
                if ticket is not None:
                    user = await database_sync_to_async(user_for_ticket)(ticket)
                else:
                    user = await database_sync_to_async(user_for_token)(token or "")
            except ValueError as error:
                scope["user"], scope["auth_error"] = AnonymousUser(), str(error)
            else:
                scope["user"] = user
        return await self.app(scope, receive, send)


class OriginCheck:
    """Browsers always send Origin on a websocket handshake, and the cookie is
    what a hostile page could abuse: so a handshake must come from an allowed
    host, except a client without Origin that brings its own ticket or token
    (no cookie is used for it)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.validated = AllowedHostsOriginValidator(app)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if _header(scope, b"origin") is None and has_explicit_credentials(scope):
            return await self.app(scope, receive, send)
        return await self.validated(scope, receive, send)
