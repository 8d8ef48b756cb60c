"""The Django admin shows tokens and the audit log; it changes neither."""

from __future__ import annotations

from django.contrib import admin

from accounts.models import AuditEntry, PersonalToken
from workflows.admin import ReadOnlyAdmin


@admin.register(PersonalToken)
class PersonalTokenAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["key_hash"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "username",
        "action",
        "outcome",
        "target_type",
        "target_repr",
        "project",
        "remote_addr",
    ]
    list_select_related = ["project"]
    list_filter = ["outcome", "action", "project"]
    search_fields = ["username", "action", "target_repr", "=target_id"]
    date_hierarchy = "created_at"
