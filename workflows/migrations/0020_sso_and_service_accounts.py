from django.db import migrations, models

import workflows.models


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0019_project_extra_namespaces"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="from_sso",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="project",
            name="default_service_account",
            field=models.CharField(
                blank=True,
                help_text="The serviceAccountName of the project's pods when a task names none; empty: the namespace's default.",
                max_length=253,
                validators=[workflows.models.dns_subdomain],
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="service_accounts",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="More service accounts the project's workflows may name (serviceAccountName).",
                validators=[workflows.models.validate_service_account_list],
            ),
        ),
    ]
