"""A cheaper spawn gate: no subtransaction, policy kept on the bucket row (see the SQL)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "history"
SQL = (SQL_DIR / "0006_spawn_gate_without_subtransaction.sql").read_text()
# Back to 0003's gate (its file is idempotent: create table if not exists, create or replace).
REVERSE = """
drop trigger if exists absurd_control_spawn_policy_changed on public.tenants_ratelimitpolicy;
drop trigger if exists absurd_control_spawn_policy_changed on public.tenants_tenant;
drop trigger if exists absurd_control_spawn_policies_truncated on public.tenants_ratelimitpolicy;
drop trigger if exists absurd_control_spawn_policies_truncated on public.tenants_tenant;
drop function if exists absurd_control_spawn_policy_changed();
drop function if exists absurd_control_spawn_policies_truncated();
drop function if exists absurd_control_spawn_gate(text, double precision);
drop function if exists absurd_control_spawn_gate_full(text, double precision);
alter table absurd_control_spawn_bucket
  drop column if exists rate, drop column if exists burst;
alter table absurd_control_spawn_bucket set logged;
""" + (SQL_DIR / "0003_spawn_bucket.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0005_api_key_scope_validation")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
