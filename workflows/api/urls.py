"""Routes of the REST API, mounted under /api/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from webapp.auth_views import ObtainToken
from workflows.api.views import RunViewSet, WorkflowViewSet

# A namespace: the pages use the same route names (workflow-detail, run-list, ...).
app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("runs", RunViewSet, basename="run")

urlpatterns = [
    path("auth/token/", ObtainToken.as_view(), name="auth-token"),
    *router.urls,
]
