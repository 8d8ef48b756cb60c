"""URL routes of the schedule pages."""

from __future__ import annotations

from django.urls import path, re_path

from schedules import views

urlpatterns = [
    path("schedules/", views.upcoming, name="schedule-upcoming"),
    path("schedules/preview/", views.schedule_preview, name="schedule-preview"),
    path(
        "workflows/<int:pk>/schedules/new/",
        views.schedule_create,
        name="schedule-create",
    ),
    path("schedules/<int:pk>/", views.schedule_detail, name="schedule-detail"),
    path("schedules/<int:pk>/edit/", views.schedule_edit, name="schedule-edit"),
    path("schedules/<int:pk>/delete/", views.schedule_delete, name="schedule-delete"),
    re_path(
        r"^schedules/(?P<pk>[0-9]+)/(?P<verb>pause|resume)/$",
        views.schedule_toggle,
        name="schedule-toggle",
    ),
    path(
        "schedules/<int:pk>/backfills/",
        views.schedule_backfill,
        name="schedule-backfill",
    ),
    path("backfills/<int:pk>/cancel/", views.backfill_cancel, name="backfill-cancel"),
]
