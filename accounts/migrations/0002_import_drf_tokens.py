"""Keep the tokens of Django REST framework's TokenAuthentication working.

Before personal tokens, `POST /api/auth/token/` handed out DRF tokens, stored
in clear in the table authtoken_token. Each becomes a personal token named
"api token (before personal tokens)" holding only its hash, so scripts keep
working; the old table is left as it was (drop it once nothing needs it).
"""

import hashlib

from django.db import migrations


def import_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    PersonalToken = apps.get_model("accounts", "PersonalToken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        key_hash = hashlib.sha256(key.encode()).hexdigest()
        if PersonalToken.objects.filter(key_hash=key_hash).exists():
            continue
        token = PersonalToken.objects.create(
            user_id=user_id,
            name="api token (before personal tokens)",
            prefix=key[:8],
            key_hash=key_hash,
        )
        PersonalToken.objects.filter(pk=token.pk).update(created_at=created)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.RunPython(import_drf_tokens, migrations.RunPython.noop),
    ]
