"""Routes of the schedules API, mounted under /api/ next to the workflows'."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from schedules.api import BackfillViewSet, ScheduleViewSet

# Its own namespace, so route names cannot clash with workflows.api.urls.
app_name = "schedules-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("backfills", BackfillViewSet, basename="backfill")

urlpatterns = router.urls
