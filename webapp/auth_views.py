"""The API token endpoint: trade a username and password for a token."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import AnonRateThrottle


class TokenThrottle(AnonRateThrottle):
    """Slows password guessing; per client address, in the default cache."""

    scope = "auth-token"
    rate = "20/minute"


class ObtainToken(ObtainAuthToken):
    """POST username and password, get the user's token (the same one each
    time); send it as `Authorization: Token <key>`."""

    # No authentication: a browser's session cookie would make DRF demand a
    # CSRF token here, and the credentials in the body are what count.
    authentication_classes = []
    throttle_classes = [TokenThrottle]

    @extend_schema(
        tags=["auth"],
        request=inline_serializer(
            "TokenRequest",
            {"username": serializers.CharField(), "password": serializers.CharField()},
        ),
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            400: OpenApiResponse(
                description="Missing fields, or the credentials are wrong "
                "(non_field_errors says which)."
            ),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        return super().post(request, *args, **kwargs)
