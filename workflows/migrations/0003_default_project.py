"""Move the workflows made before projects existed into the project "default".

Their owners become its operators, so each keeps seeing, editing and running
their workflows (they now also see each other's: review the members of
"default" after upgrading). Nothing is created on a database without
workflows: `manage.py bootstrap` makes "default" for a new installation.
"""

from django.db import migrations


def move_to_default(apps, schema_editor):
    Workflow = apps.get_model("workflows", "Workflow")
    if not Workflow.objects.filter(project__isnull=True).exists():
        return
    Project = apps.get_model("workflows", "Project")
    Membership = apps.get_model("workflows", "Membership")
    project, _ = Project.objects.get_or_create(
        name="default",
        defaults={
            "namespace": "default",
            "description": "The workflows made before projects existed.",
        },
    )
    Workflow.objects.filter(project__isnull=True).update(project=project)
    owners = set(
        Workflow.objects.filter(project=project).values_list("owner_id", flat=True)
    )
    for owner_id in sorted(owners):
        Membership.objects.get_or_create(
            project=project, user_id=owner_id, defaults={"role": "operator"}
        )


class Migration(migrations.Migration):
    # Separate from the schema changes around it: PostgreSQL refuses to alter a
    # table with pending foreign-key checks in the same transaction.
    dependencies = [("workflows", "0002_projects")]

    operations = [
        migrations.RunPython(move_to_default, migrations.RunPython.noop),
    ]
