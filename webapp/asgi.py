"""ASGI entry point: Django over HTTP, Channels over websockets."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from webapp.tracing import setup_web  # noqa: E402

setup_web()
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

if settings.FLOWDECK_SERVE_STATIC:
    # The embedded mode has no front proxy: serve /static/ from the app itself.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import ExplicitCredentialsMiddleware, OriginCheck  # noqa: E402
from workflows.routing import websocket_urlpatterns  # noqa: E402

# Session first, then a ticket or token replaces its user when one is given.
websocket_app = OriginCheck(
    AuthMiddlewareStack(ExplicitCredentialsMiddleware(URLRouter(websocket_urlpatterns)))
)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_app})
