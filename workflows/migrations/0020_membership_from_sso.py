from django.db import migrations, models


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
    ]
