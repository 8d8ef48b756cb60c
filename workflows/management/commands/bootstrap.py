"""Create the admin account and load the example workflows, once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from workflows.models import Workflow
from workflows.services.submit import create_workflow
from workflows.spec import parse_document


class Command(BaseCommand):
    help = "Create the admin user (if missing) and load the example workflows."

    def handle(self, *args: Any, **options: Any) -> None:
        admin = self._admin()
        examples = Path(settings.BASE_DIR) / "examples"
        for path in sorted(examples.glob("*.yaml")):
            document = parse_document(path.read_text())
            name = document["metadata"]["name"]
            if not Workflow.objects.filter(name=name).exists():
                create_workflow(document, author=admin, message="example")
                self.stdout.write(f"loaded example workflow {name}")

    def _admin(self) -> Any:
        users = get_user_model()
        admin = users.objects.filter(username="admin").first()
        if admin is not None:
            return admin
        password = os.environ.get("FLOWDECK_ADMIN_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        admin = users.objects.create_superuser("admin", password=password)
        if generated:
            # Shown once, here: it is stored only as a hash.
            self.stdout.write(
                self.style.WARNING(
                    f"Created user 'admin' with password: {password}\n"
                    "Set FLOWDECK_ADMIN_PASSWORD to choose it; this is shown once."
                )
            )
        else:
            self.stdout.write(
                "Created user 'admin' (password from FLOWDECK_ADMIN_PASSWORD)"
            )
        return admin
