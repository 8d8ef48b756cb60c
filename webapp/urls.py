"""URL routes: the REST API, its schema and docs, health checks, pages, admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from webapp import health, metrics
from webapp.favicon import favicon

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        # The split view: its initializer is a script file, not inline, so the
        # page runs under our Content-Security-Policy (webapp/csp.py).
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema"),
        name="api-docs",
    ),
    path("api/", include("interop.urls")),
    path("api/", include("schedules.api_urls")),
    path("api/", include("notifications.api_urls")),
    path("api/", include("workflows.api.urls")),
    path("", include("accounts.urls")),
    path("", include("workflows.urls_pages")),
    path("", include("schedules.urls")),
    path("", include("notifications.urls")),
]

# JSON under /api/, Django's pages elsewhere (webapp/errors.py).
handler400 = "webapp.errors.bad_request"
handler403 = "webapp.errors.permission_denied"
handler404 = "webapp.errors.page_not_found"
handler500 = "webapp.errors.server_error"
