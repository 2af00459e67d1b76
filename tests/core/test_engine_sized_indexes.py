"""Our indexes accept whatever the engine accepts (issue 14, defect 9).

absurd.spawn_task takes a task name or a ``headers.tenant`` of any length; a btree
entry cannot exceed about 2,700 bytes. Our indexes hold a 256-character prefix
(absurd_core/index_keys.py), and the readers still find such tasks, through the index.

The long values are random letters and digits: PostgreSQL compresses an index entry
before checking its size, so a repeated character would fit even a plain index.
"""

import hashlib
import json
import random
import re
import string
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from psycopg import sql

from absurd_core import engine
from absurd_core.models import DeadLetter, TaskEvent
from absurd_core.queries.dead_letters import dead_letters
from absurd_core.queries.history import events
from absurd_core.queries.task_list import TaskFilter, list_tasks
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tests.helpers import api

pytestmark = pytest.mark.django_db

LONG = 3200


def long_text(prefix: str = "") -> str:
    rng = random.Random()
    return prefix + "".join(rng.choices(string.ascii_letters + string.digits, k=LONG - len(prefix)))


@pytest.fixture
def acme(db):
    return Tenant.objects.create(slug=f"acme{uuid.uuid4().hex[:8]}", name="Acme")


@pytest.fixture
def raw_queue(db):
    """A queue made by absurd.create_queue itself, equipped by the event trigger."""
    name = f"q_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute("select absurd.create_queue(%s)", [name])
    yield name
    engine.drop_queue(name)


def raw_spawn(queue: str, name: str, *, tenant: str | None, max_attempts: int = 1):
    options = {"max_attempts": max_attempts}
    if tenant is not None:
        options["headers"] = {"tenant": tenant}
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_id from absurd.spawn_task(%s, %s, '{}'::jsonb, %s::jsonb)",
            [queue, name, json.dumps(options)],
        )
        return cursor.fetchone()[0]


def claim_and_fail(queue: str):
    with connection.cursor() as cursor:
        cursor.execute("select run_id from absurd.claim_task(%s, 'test', 60, 1)", [queue])
        (run_id,) = cursor.fetchone()
        cursor.execute(
            "select absurd.fail_run(%s, %s, %s::jsonb, null)",
            [queue, run_id, '{"name": "ValueError", "message": "boom"}'],
        )


def kinds(queue: str, task_id) -> list[str]:
    return list(
        TaskEvent.objects.filter(queue=queue, task_id=task_id)
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_a_3200_character_task_name_is_spawned_logged_and_found(client, acme, raw_queue):
    name = long_text()
    # Same first 256 characters, different after: found by the prefix, dropped by the full value.
    twin = name[:300] + long_text()[300:]
    task_id = raw_spawn(raw_queue, name, tenant=acme.slug)
    twin_id = raw_spawn(raw_queue, twin, tenant=acme.slug)
    claim_and_fail(raw_queue)  # the older task first: the long-named one

    assert kinds(raw_queue, task_id) == ["spawned", "claimed", "failed"]
    spawned = TaskEvent.objects.get(queue=raw_queue, task_id=task_id, kind="spawned")
    assert spawned.detail["task_name"] == name
    assert DeadLetter.objects.get(queue=raw_queue, task_id=task_id).task_name == name

    found = list_tasks(TenantScope(acme.slug), TaskFilter(queues=(raw_queue,), task_name=name))
    assert [row.task_id for row in found.items] == [task_id]

    key = issue_key(acme, "v", role="viewer").key
    response = api("get", f"/tasks?queue={raw_queue}&task={name}", key)
    assert response.status_code == 200, response.content[:500]
    assert [item["task_id"] for item in response.json()["items"]] == [str(task_id)]

    user = get_user_model().objects.create_user(f"u{uuid.uuid4().hex[:8]}", password="pw-12345")
    Membership.objects.create(user=user, tenant=acme, role="viewer")
    client.force_login(user)
    page = client.get(reverse("dashboard:runs"), {"queue": raw_queue, "task": name})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-task="{task_id}"' in html
    assert f'data-task="{twin_id}"' not in html


def test_a_3200_character_tenant_header_is_spawned_logged_and_found(acme, raw_queue):
    tenant = long_text()
    twin = tenant[:300] + long_text()[300:]
    task_id = raw_spawn(raw_queue, "job", tenant=tenant)
    twin_id = raw_spawn(raw_queue, "job", tenant=twin)
    claim_and_fail(raw_queue)

    assert kinds(raw_queue, task_id) == ["spawned", "claimed", "failed"]
    scope = TenantScope(tenant)
    assert {e.task_id for e in events(scope).filter(queue=raw_queue)} == {task_id}
    assert [d.task_id for d in dead_letters(scope)] == [task_id]

    found = list_tasks(scope, TaskFilter(queues=(raw_queue,)))
    assert [row.task_id for row in found.items] == [task_id]
    assert found.items[0].tenant == tenant
    everyone = list_tasks(TenantScope(ALL_TENANTS), TaskFilter(queues=(raw_queue,)))
    assert {row.task_id for row in everyone.items} == {task_id, twin_id}
    # A real tenant sees neither.
    assert list_tasks(TenantScope(acme.slug), TaskFilter(queues=(raw_queue,))).items == []


def test_every_queue_has_the_prefix_indexes_and_none_of_the_full_value_ones(raw_queue):
    """Including queues made before migration 0010 (the approvals queue of approvals 0001)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select q.queue_name, array_agg(i.indexrelid::regclass::text order by 1)"
            "  filter (where i.indexrelid is not null)"
            "  from absurd.queues q"
            "  left join pg_index i"
            "    on i.indrelid = absurd_control.queue_table('t_', q.queue_name)"
            "   and i.indexrelid::regclass::text like 'absurd.ac\\_%'"
            " where absurd_control.queue_table('t_', q.queue_name) is not null"
            " group by 1"
        )
        rows = dict(cursor.fetchall())
        cursor.execute(
            "select pg_get_indexdef(indexrelid) from pg_index"
            " where indexrelid::regclass::text like 'absurd.ac\\_%'"
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert "approvals" in rows and raw_queue in rows
    for queue, names in rows.items():
        suffix = engine_md5(queue)
        assert sorted(names) == [
            f"absurd.ac_name_pfx_{suffix}",
            f"absurd.ac_parent_{suffix}",  # children.sql: left(header, 256) too
            f"absurd.ac_root_{suffix}",
            f"absurd.ac_tenant_pfx_{suffix}",
        ]
    # No index of ours keys on a whole task name or tenant.
    whole_value = re.compile(r"USING btree \(\(*(task_name|headers ->> 'tenant'::text)\)*[,)]")
    assert definitions
    for definition in definitions:
        assert not whole_value.search(definition), definition


def engine_md5(queue: str) -> str:
    return hashlib.md5(queue.encode(), usedforsecurity=False).hexdigest()[:20]


# -- the readers still use an index -----------------------------------------------------------


@pytest.fixture
def big_queue(raw_queue):
    """A few thousand tasks over 20 names and 20 tenants, analysed."""
    table = sql.Identifier("absurd", f"t_{raw_queue}")
    with connection.cursor() as cursor:
        statement = sql.SQL(
            "insert into {} (task_id, task_name, params, headers, state, attempts)"
            " select absurd.portable_uuidv7(), 'job.' || (i % 20), '{{}}'::jsonb,"
            "        jsonb_build_object('tenant', 'tenant' || (i % 20)),"
            "        case when i % 3 = 0 then 'completed' else 'pending' end, 0"
            " from generate_series(1, 4000) i"
        ).format(table)
        cursor.execute(statement.as_string(cursor.connection))
        cursor.execute(sql.SQL("analyze {}").format(table).as_string(cursor.connection))
    return raw_queue


def _plan_of(run) -> dict:
    """The plan of the one task-table query ``run`` makes."""
    with CaptureQueriesContext(connection) as queries:
        run()
    statement = next(q["sql"] for q in queries.captured_queries if 'absurd."t_' in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("explain (format json) " + statement)
        plan = cursor.fetchone()[0]
    return plan if isinstance(plan, dict) else plan[0]


def _index_names(plan: dict) -> set[str]:
    names, stack = set(), [plan["Plan"]]
    while stack:
        node = stack.pop()
        if "Index Name" in node:
            names.add(node["Index Name"])
        stack.extend(node.get("Plans", []))
    return names


def test_runs_filtered_by_task_name_use_the_name_index(big_queue):
    plan = _plan_of(
        lambda: list_tasks(
            TenantScope(ALL_TENANTS), TaskFilter(queues=(big_queue,), task_name="job.7")
        )
    )
    assert f"ac_name_pfx_{engine_md5(big_queue)}" in _index_names(plan), plan


def test_runs_of_a_tenant_use_the_tenant_index(big_queue):
    plan = _plan_of(lambda: list_tasks(TenantScope("tenant7"), TaskFilter(queues=(big_queue,))))
    assert f"ac_tenant_pfx_{engine_md5(big_queue)}" in _index_names(plan), plan


def _generic_plan(queryset) -> dict:
    """The generic plan of ``queryset``'s statement, as a prepared statement gets it after
    psycopg's prepare_threshold under server-side binding: parameters stay parameters."""
    statement, params = queryset.query.sql_with_params()
    parts = statement.split("%s")
    numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
    with connection.cursor() as cursor:
        cursor.execute("set local plan_cache_mode = force_generic_plan")
        cursor.execute(f"prepare ac_generic as {numbered}")
        try:
            literals = sql.SQL(", ").join(sql.Literal(p) for p in params)
            explain = sql.SQL("explain (format json) execute ac_generic({})").format(literals)
            cursor.execute(explain.as_string(cursor.connection))
            plan = cursor.fetchone()[0]
        finally:
            cursor.execute("deallocate ac_generic")
    return plan if isinstance(plan, dict) else plan[0]


def test_orm_readers_of_a_tenant_use_the_prefix_indexes_in_a_generic_plan(raw_queue):
    with connection.cursor() as cursor:
        cursor.execute(
            "insert into absurd_control_task_event (tenant, queue, task_id, kind, to_state)"
            " select 'tenant' || (i %% 20), %s, absurd.portable_uuidv7(), 'spawned', 'pending'"
            " from generate_series(1, 4000) i",
            [raw_queue],
        )
        cursor.execute(
            "insert into absurd_control_dead_letter"
            " (tenant, queue, task_id, task_name, attempts, state)"
            " select 'tenant' || (i %% 20), %s, absurd.portable_uuidv7(), 'job', 1,"
            "        case when i %% 2 = 0 then 'open' else 'discarded' end"
            " from generate_series(1, 4000) i",
            [raw_queue],
        )
        cursor.execute("analyze absurd_control_task_event, absurd_control_dead_letter")
    scope = TenantScope("tenant7")
    recent = _generic_plan(events(scope).order_by("-id")[:50])
    assert "task_event_tenant_recent" in _index_names(recent), recent
    letters = _generic_plan(dead_letters(scope, state="open").order_by("-id")[:50])
    assert "dead_letter_tenant_state" in _index_names(letters), letters


def test_a_task_with_a_long_tenant_can_ask_for_an_approval(raw_queue):
    """Approval requests carry the task's tenant: their index holds a prefix too."""
    from datetime import timedelta

    from approvals.models import ApprovalRequest
    from approvals.requests import create_request, requests_for

    tenant = long_text()
    twin = tenant[:300] + long_text()[300:]
    made = {}
    for slug in (tenant, twin):
        task_id = raw_spawn(raw_queue, "demo.expense_approval", tenant=slug)
        made[slug] = create_request(
            tenant=slug,
            queue=raw_queue,
            task_id=task_id,
            run_id=None,
            task_name="demo.expense_approval",
            step_key="approval-request",
            title="Approve",
            description="",
            approvers=["boss@example.com"],
            policy="any",
            expires_in=timedelta(hours=1),
            context={},
            reject_on_expiry=True,
        )
    found = requests_for(TenantScope(tenant))
    assert list(found.values_list("pk", flat=True)) == [made[tenant].pk]
    assert ApprovalRequest.objects.count() == 2
