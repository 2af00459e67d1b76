"""A byte-for-byte picture of everything one tenant owns, for isolation proofs.

``tenant_snapshot(slug)`` reads B's engine rows (tasks, runs, checkpoints, waits,
the events B's tasks wait for or that live in B's namespace) and B's rows in our
own tables (approvals and their tokens and events, the event log, dead letters,
operator actions, memberships, API keys, limits). An attack by tenant A passes
when ``tenant_snapshot(b)`` is equal before and after it.

Engine rows are read as ``row_to_json(...)::text``, so any change of any column
(a payload, a state, a lease, a wake-up time) shows.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from psycopg import sql

from absurd_core.models import DeadLetter, OperatorAction, Schedule, TaskEvent
from approvals.models import ApprovalEvent, ApprovalRequest, ApprovalToken
from tenants.models import ApiKey, Membership, RateLimitPolicy, Tenant


def _rows(query: sql.Composable, params: list[Any]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        return sorted(row[0] for row in cursor.fetchall())


def engine_snapshot(slug: str) -> dict[str, list[str]]:
    """Every engine row of ``slug``'s tasks, per queue and table."""
    with connection.cursor() as cursor:
        cursor.execute("select queue_name from absurd.queues order by queue_name")
        queues = [row[0] for row in cursor.fetchall()]
    picture: dict[str, list[str]] = {}
    for queue in queues:
        t, r, c, w, e = (sql.Identifier(f"{p}_{queue}") for p in "trcwe")
        mine = sql.SQL("select task_id from absurd.{} where headers->>'tenant' = %s").format(t)
        picture[f"t_{queue}"] = _rows(
            sql.SQL("select row_to_json(x)::text from absurd.{} x where headers->>'tenant' = %s")
            .format(t), [slug]
        )  # fmt: skip
        for name, table in (("r", r), ("c", c), ("w", w)):
            picture[f"{name}_{queue}"] = _rows(
                sql.SQL("select row_to_json(x)::text from absurd.{} x where task_id in ({})")
                .format(table, mine), [slug]
            )  # fmt: skip
        # Events in B's namespace, and any event one of B's tasks waits or waited for.
        picture[f"e_{queue}"] = _rows(
            sql.SQL(
                "select row_to_json(x)::text from absurd.{} x"
                " where event_name like %s"
                "    or event_name in (select event_name from absurd.{} where task_id in ({}))"
                "    or event_name in (select wake_event from absurd.{} where task_id in ({}))"
            ).format(e, w, mine, r, mine),
            [f"tenant:{slug}:%", slug, slug],
        )
    return picture


def _model_rows(queryset) -> list[dict[str, Any]]:
    return list(queryset.order_by("pk").values())


def tenant_snapshot(slug: str) -> dict[str, Any]:
    """Everything ``slug`` owns, engine rows and ours; compare two with ``==``."""
    tenant = Tenant.objects.filter(slug=slug)
    return {
        "engine": engine_snapshot(slug),
        "tenant": _model_rows(tenant),
        "memberships": _model_rows(Membership.objects.filter(tenant__slug=slug)),
        "api_keys": _model_rows(ApiKey.objects.filter(tenant__slug=slug)),
        "limits": _model_rows(RateLimitPolicy.objects.filter(tenant__slug=slug)),
        "approvals": _model_rows(ApprovalRequest.objects.filter(tenant=slug)),
        "approval_tokens": _model_rows(ApprovalToken.objects.filter(tenant=slug)),
        "approval_events": _model_rows(ApprovalEvent.objects.filter(request__tenant=slug)),
        "task_events": _model_rows(TaskEvent.objects.filter(tenant=slug)),
        "dead_letters": _model_rows(DeadLetter.objects.filter(tenant=slug)),
        "operator_actions": _model_rows(OperatorAction.objects.filter(tenant=slug)),
        "schedules": _model_rows(Schedule.objects.filter(tenant=slug)),
    }


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Fail naming the first part of B's data that changed."""
    for part in before:
        if part == "engine":
            for table in before[part]:
                assert after[part].get(table) == before[part][table], f"B's {table} changed"
        else:
            assert after[part] == before[part], f"B's {part} changed"
    assert set(after["engine"]) >= set(before["engine"])
