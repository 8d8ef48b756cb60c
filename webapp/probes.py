"""Answer the health probes before anything checks the Host header.

A kubelet's HTTP probe sends the pod's IP as Host, which no
FLOWDECK_ALLOWED_HOSTS lists: past this middleware Django would answer 400
DisallowedHost, so pods would never be Ready and liveness would restart them.
The probes reveal nothing a host check protects (webapp/health.py), so they
are answered first, whatever the Host and over plain HTTP."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from webapp import health

PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": health.healthz,
    "/readyz": health.readyz,
}


class ProbeMiddleware:
    """First in MIDDLEWARE: /healthz and /readyz skip every other middleware
    (the host check, the HTTPS redirect, sessions, CSRF)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)
