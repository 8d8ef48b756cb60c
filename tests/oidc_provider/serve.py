"""Run the test OpenID Connect provider: migrate its SQLite database, make
its users, groups and the Flowdeck client, then serve on loopback.

    python -m tests.oidc_provider.serve PORT SEED_JSON

SEED_JSON: {"client_id", "client_secret", "redirect_uris": [...],
"post_logout_redirect_uris": [...], "users": {"name": {"password", "email",
"groups": [...]}}}. The RSA key and the database path come from the
environment (OIDC_PROVIDER_RSA_KEY, OIDC_PROVIDER_DB).
"""

from __future__ import annotations

import json
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1])
    seed = json.loads(sys.argv[2])
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0, interactive=False)
    for name, person in seed["users"].items():
        user = User.objects.create_user(
            name, email=person.get("email", ""), password=person["password"]
        )
        user.groups.set(
            [Group.objects.get_or_create(name=g)[0] for g in person.get("groups", [])]
        )
    Application.objects.create(
        name="flowdeck",
        client_id=seed["client_id"],
        client_secret=seed["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(seed["redirect_uris"]),
        post_logout_redirect_uris=" ".join(seed.get("post_logout_redirect_uris", [])),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
        hash_client_secret=True,
    )
    server = make_server(
        "127.0.0.1",
        port,
        get_wsgi_application(),
        server_class=_Server,
        handler_class=_QuietHandler,
    )
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
