"""Projects and memberships; workflows get a (still optional) project."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Project",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        max_length=63,
                        unique=True,
                        validators=[
                            django.core.validators.RegexValidator(
                                "\\A(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\Z",
                                "must be a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, with at least one letter",
                            )
                        ],
                    ),
                ),
                ("description", models.TextField(blank=True)),
                (
                    "namespace",
                    models.CharField(
                        help_text="The Kubernetes namespace of the project's pods.",
                        max_length=63,
                        validators=[
                            django.core.validators.RegexValidator(
                                "\\A(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\Z",
                                "must be a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, with at least one letter",
                            )
                        ],
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="Membership",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("viewer", "Viewer"),
                            ("editor", "Editor"),
                            ("operator", "Operator"),
                            ("admin", "Admin"),
                        ],
                        max_length=16,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="workflows.project",
                    ),
                ),
            ],
            options={
                "ordering": ["project", "user__username"],
            },
        ),
        migrations.AddConstraint(
            model_name="membership",
            constraint=models.UniqueConstraint(
                fields=("project", "user"), name="unique_project_member"
            ),
        ),
        migrations.AddField(
            model_name="workflow",
            name="project",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="workflows",
                to="workflows.project",
            ),
        ),
    ]
