"""The DRF side of workflows.permissions: object checks for the viewsets."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from workflows.models import Project, Run, Workflow
from workflows.permissions import Action, require


def project_of(obj: Any) -> Project:
    if isinstance(obj, Project):
        return obj
    if isinstance(obj, Workflow):
        return obj.project
    if isinstance(obj, Run):
        return obj.workflow.project
    raise TypeError(f"{obj!r} belongs to no project")


class ProjectRole(BasePermission):
    """Once the object is found among those the user may see (else 404), the
    user's role in its project must allow the view's action (else 403): the
    viewset's `required_actions` maps its actions to permissions.Action, and
    anything not listed only needs to see."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        required: dict[str, Action] = getattr(view, "required_actions", {})
        action = required.get(getattr(view, "action", "") or "", Action.VIEW)
        try:
            require(request, action, project_of(obj), target=obj)
        except PermissionDenied as denied:
            # DRF's own exception: the browsable API expects one.
            raise exceptions.PermissionDenied(str(denied)) from None
        return True
