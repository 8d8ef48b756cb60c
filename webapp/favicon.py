"""`/favicon.ico`: the same empty icon the site's pages declare (`data:,`), for
the pages that declare none (Django's admin), so a browser's request for it
is not a 404."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"", content_type="image/x-icon")
