"""Error pages that stay JSON under /api/: Django's own 400, 403, 404 and 500
answers (a host it does not serve, a URL nothing routes, an exception no
handler caught) are HTML pages, which an API client cannot read."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "bad request"}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": str(exception) or "permission denied"}, status=403
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "not found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        # Django has logged the exception (django.request) before calling this.
        return JsonResponse(
            {
                "detail": "internal server error: the server logged it; whether "
                "the request changed anything is unknown (retry with the same "
                "Idempotency-Key to be safe)"
            },
            status=500,
        )
    return defaults.server_error(request)
