"""Every workflow belongs to a project; names are unique per project."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("workflows", "0003_default_project")]

    operations = [
        migrations.AlterField(
            model_name="workflow",
            name="project",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="workflows",
                to="workflows.project",
            ),
        ),
        migrations.AlterField(
            model_name="workflow",
            name="name",
            field=models.CharField(max_length=63),
        ),
        migrations.AddConstraint(
            model_name="workflow",
            constraint=models.UniqueConstraint(
                fields=("project", "name"), name="unique_workflow_name_in_project"
            ),
        ),
    ]
