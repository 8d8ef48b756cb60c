"""Content-Security-Policy on every response: a second wall behind escaping.

Scripts come only from our own static files (the UI bundle, Swagger UI's split
initializer, Django's admin): an injected <script> or on*= attribute does not
run even if some output escaped escaping. Styles may be inline because React
Flow positions nodes with style attributes; nothing loads from another origin
(the product runs air-gapped), and no page may be framed.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

_DIRECTIVES = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    # 'self' covers ws:// and wss:// to this host (CSP level 3).
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]
POLICY = "; ".join(_DIRECTIVES)


def policy() -> str:
    """POLICY, with single sign-on's provider as a form target: signing out
    posts to /logout/, which redirects to the provider's end_session_endpoint,
    and browsers apply form-action to a form's redirects too."""
    from django.conf import settings

    issuer = getattr(settings, "FLOWDECK_OIDC_ISSUER", "")
    if not issuer:
        return POLICY
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    return POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", policy())
        return response
