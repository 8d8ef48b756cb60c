"""The Django admin's site: Django's own, with its login going through the same
lockout as every other login (accounts.throttling)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from accounts.forms import ThrottledAdminAuthenticationForm


class FlowdeckAdminSite(admin.AdminSite):
    login_form = ThrottledAdminAuthenticationForm

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        request.flowdeck_login_via = "admin"  # type: ignore[attr-defined]
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if getattr(form, "throttled", False):
            response.status_code = 429  # as the login page and the API answer
        return response
