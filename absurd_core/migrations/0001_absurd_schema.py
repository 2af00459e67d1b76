"""Install the Absurd engine schema (or adopt an existing one of the same version).

The SQL is upstream's, read from the pinned ``absurdctl`` package at run time;
see absurd_core/schema.py. A database holding another Absurd version stops the
migration with a message naming both versions and ``manage.py absurd_upgrade``.
"""

from django.db import migrations


def install_or_adopt(apps, schema_editor):
    from absurd_core.schema import install_or_adopt

    install_or_adopt(schema_editor.connection)


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        # Dropping the engine schema is never done by a migration rollback.
        migrations.RunPython(install_or_adopt, migrations.RunPython.noop, elidable=False),
    ]
