"""Create the admin account and the "default" project (admin its admin member),
and load the example workflows into it, once, with the semaphores they name."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from flowcore.spec import parse_document
from workflows.models import Membership, Project, Role, Semaphore, Workflow
from workflows.services.concurrency import named_semaphores
from workflows.services.semaphores import create_semaphore
from workflows.services.submit import create_workflow, default_project

# The semaphores the examples share, made with the first example naming one
# (a workflow naming an undefined semaphore cannot be saved): name -> limit.
EXAMPLE_SEMAPHORES = {"warehouse": 1}


class Command(BaseCommand):
    help = (
        "Create the admin user and the 'default' project (if missing) and load "
        "the example workflows into it, with the semaphores they name."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        admin = self._admin()
        project = default_project()
        _, added = Membership.objects.get_or_create(
            project=project, user=admin, defaults={"role": Role.ADMIN}
        )
        if added:
            self.stdout.write(f"made {admin.username} an admin of project {project}")
        examples = Path(settings.BASE_DIR) / "examples"
        for path in sorted(examples.glob("*.yaml")):
            document = parse_document(path.read_text())
            name = document["metadata"]["name"]
            if not Workflow.objects.filter(project=project, name=name).exists():
                self._semaphores_for(project, document)
                create_workflow(
                    document, project=project, author=admin, message="example"
                )
                self.stdout.write(f"loaded example workflow {name}")

    def _semaphores_for(self, project: Project, document: dict[str, Any]) -> None:
        for _, name in named_semaphores(document):
            if Semaphore.objects.filter(project=project, name=name).exists():
                continue
            limit = EXAMPLE_SEMAPHORES.get(name, 1)
            create_semaphore(
                project,
                name=name,
                limit=limit,
                description="shared by the example workflows",
            )
            self.stdout.write(f"defined semaphore {name} (limit {limit})")

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
