"""Routes of the REST API, mounted under /api/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from accounts.api import AuditViewSet, ObtainToken, TokenViewSet, WebsocketTicket
from workflows.api.projects import ProjectViewSet
from workflows.api.views import RunViewSet, WorkflowViewSet

# A namespace: the pages use the same route names (workflow-detail, run-list, ...).
app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("runs", RunViewSet, basename="run")
router.register("projects", ProjectViewSet, basename="project")
router.register("tokens", TokenViewSet, basename="token")
router.register("audit", AuditViewSet, basename="audit")

urlpatterns = [
    path("auth/token/", ObtainToken.as_view(), name="auth-token"),
    path("ws-ticket/", WebsocketTicket.as_view(), name="ws-ticket"),
    *router.urls,
]
