"""Routes of the project page's notification rules."""

from __future__ import annotations

from django.urls import path

from notifications import views

urlpatterns = [
    path(
        "projects/<int:pk>/notifications/",
        views.rule_add,
        name="notification-rule-add",
    ),
    path(
        "projects/<int:pk>/notifications/<int:rule_id>/test/",
        views.rule_test,
        name="notification-rule-test",
    ),
    path(
        "projects/<int:pk>/notifications/<int:rule_id>/delete/",
        views.rule_delete,
        name="notification-rule-delete",
    ),
]
