"""What the navigation bar offers: decided here, rendered by base.html."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from workflows.permissions import Action, is_site_admin, projects_where


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    site_admin = is_site_admin(user)
    return {
        "nav_site_admin": site_admin,
        # Called by the template only when it draws the bar: one query then.
        "nav_audit": lambda: (
            site_admin or projects_where(user, Action.VIEW_AUDIT).exists()
        ),
    }
