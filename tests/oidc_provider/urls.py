"""The provider's pages: its login form, django-oauth-toolkit's endpoints
under /o/, and /control/ through which a test changes groups and faults."""

from __future__ import annotations

import json
import os

from django.contrib.auth import views as auth_views
from django.contrib.auth.models import Group, User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from tests.oidc_provider import validator


@csrf_exempt
def control(request: HttpRequest) -> HttpResponse:
    """POST {"groups": {"user": ["group", ...]}, "faults": {...}}, with the
    shared secret the test started the provider with."""
    if request.headers.get("X-Control-Secret") != os.environ["OIDC_PROVIDER_CONTROL"]:
        return HttpResponse(status=403)
    body = json.loads(request.body)
    for username, groups in body.get("groups", {}).items():
        user = User.objects.get(username=username)
        user.groups.set([Group.objects.get_or_create(name=g)[0] for g in groups])
    if "faults" in body:
        validator.FAULTS.clear()
        validator.FAULTS.update(body["faults"])
    return JsonResponse({"ok": True})


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("control/", control),
]
