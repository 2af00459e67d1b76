"""Sync the schedules declared in code into the table (see absurd_core/declared_schedules.py):
after ``migrate`` (a post_migrate receiver) and when a worker starts, under a
transaction-scoped advisory lock, writing nothing for a declaration that did not change."""

from __future__ import annotations

import logging

from django.apps import apps
from django.conf import settings
from django.db import connections, transaction

from absurd_core.actions.schedules import validated
from absurd_core.declared_schedules import ScheduleSpec, schedule_specs
from absurd_core.models import Schedule
from absurd_core.registry import registry
from absurd_core.schedule_firing import db_now, due_at, recurrence
from absurd_core.schedule_times import Recurrence

logger = logging.getLogger("absurd_core.schedules")

DEFAULT_TENANT = "platform"
LOCK_KEY = "absurd_control.schedules.sync"


def declared() -> list[ScheduleSpec]:
    """Every schedule declared by registered tasks and installed plugins."""
    specs = [spec for task in registry for spec in getattr(task, "schedules", ())]
    for app_config in apps.get_app_configs():
        specs.extend(schedule_specs(getattr(app_config, "schedules", None)))
    return specs


def sync(using: str = "default") -> int:
    """Create or update the declared schedules; returns how many rows changed."""
    specs = declared()
    if not specs:
        return 0
    default_tenant = getattr(settings, "SCHEDULES_TENANT", "") or DEFAULT_TENANT
    changed = 0
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", [LOCK_KEY])
        now = db_now(using)
        for spec in specs:
            rule = Recurrence(spec.cron, spec.every_seconds, spec.timezone)
            fields = validated(
                {
                    "task_name": spec.task,
                    "params": spec.params,
                    "headers": dict(spec.headers or {}),
                    "catch_up": spec.catch_up,
                    "catch_up_cap": spec.catch_up_cap,
                    "jitter_seconds": spec.jitter_seconds,
                }
            )
            fields.update(cron=rule.cron, every_seconds=rule.every_seconds, timezone=rule.timezone)
            tenant = spec.tenant or default_tenant
            row = Schedule.objects.using(using).filter(tenant=tenant, name=spec.name).first()
            if row is None:
                row = Schedule(tenant=tenant, name=spec.name, code_owned=True, **fields)
            elif (
                all(getattr(row, key) == value for key, value in fields.items()) and row.code_owned
            ):
                continue
            else:
                replanned = any(
                    getattr(row, key) != fields[key]
                    for key in ("cron", "every_seconds", "timezone")
                )
                for key, value in fields.items():
                    setattr(row, key, value)
                row.code_owned = True
                if not replanned:
                    row.save(using=using)
                    changed += 1
                    continue
            row.next_fire_at = recurrence(row).next_after(now)
            row.due_at = due_at(row, row.next_fire_at)
            row.save(using=using)
            changed += 1
            logger.info("schedule.synced tenant=%s name=%s", tenant, spec.name)
    return changed


def sync_after_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate receiver (absurd_core only): the table exists now."""
    if getattr(sender, "name", None) != "absurd_core":
        return
    sync(using=using)
