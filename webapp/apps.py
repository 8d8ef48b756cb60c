"""The Django admin, configured to use Flowdeck's admin site
(accounts.admin_site), whose login is throttled like every other."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class FlowdeckAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.FlowdeckAdminSite"
