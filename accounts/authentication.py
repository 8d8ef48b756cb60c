"""DRF authentication by personal API token: `Authorization: Token <key>`."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import PersonalToken
from accounts.tokens import TokenError, authenticate_key


class PersonalTokenAuthentication(BaseAuthentication):
    """A wrong, revoked or expired token is a 401; no header at all lets the
    next authentication class (the session) try."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, PersonalToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Invalid token header: expected 'Token <key>' with no spaces in "
                "the key."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeError:
            raise AuthenticationFailed("Invalid token.") from None
        try:
            token = authenticate_key(key)
        except TokenError as error:
            raise AuthenticationFailed(str(error)) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
