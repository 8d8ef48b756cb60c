"""Websocket routes (docs/live.md)."""

from __future__ import annotations

from django.urls import URLPattern, path

from workflows import consumers

websocket_urlpatterns: list[URLPattern] = [
    path("ws/runs/", consumers.RunListConsumer.as_asgi()),
    path("ws/runs/<int:run_id>/", consumers.RunConsumer.as_asgi()),
    path(
        "ws/runs/<int:run_id>/tasks/<str:name>/logs/",
        consumers.LogConsumer.as_asgi(),
    ),
]
