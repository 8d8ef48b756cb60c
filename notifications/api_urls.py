"""Routes of the notifications API, mounted under /api/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from notifications.api import NotificationRuleViewSet

app_name = "notifications-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register(
    "notification-rules", NotificationRuleViewSet, basename="notification-rule"
)

urlpatterns = router.urls
