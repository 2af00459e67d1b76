"""The per-queue tenant index; SQL in absurd_core/sql/0006_tenant_index.sql."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0006_tenant_index.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0005_lifecycle_sql")]
    # Reversing leaves the indexes (harmless) and the 0005 installer in place.
    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
