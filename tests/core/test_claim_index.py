"""Claim cost does not depend on history: the candidate scan never visits completed runs."""

import json

import psycopg
import pytest
from django.db import connection

from absurd_core import engine
from tests.helpers import raw_connection

pytestmark = pytest.mark.django_db(transaction=True)

HISTORY = 20_000
LIVE = 3

# The candidate part of absurd.claim_task (0.5.1), used when auto_explain cannot be
# loaded (a non-superuser DATABASE_URL): same filter, order and limit.
CANDIDATE = """
select r.run_id from absurd.r_hist r join absurd.t_hist t on t.task_id = r.task_id
 where r.state in ('pending', 'sleeping') and t.state in ('pending', 'sleeping', 'running')
   and r.available_at <= absurd.current_time()
 order by r.available_at, r.run_id limit 4 for update skip locked
"""


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _candidate_scan(plans):
    for plan in plans:
        for node in _nodes(plan["Plan"]):
            conditions = json.dumps([node.get("Index Cond"), node.get("Filter")])
            if node.get("Relation Name") == "r_hist" and "available_at" in conditions:
                return node
    raise AssertionError("no scan of r_hist by available_at in the claim plan")


@pytest.fixture
def history_queue():
    engine.create_queue("hist")
    with connection.cursor() as cursor:
        cursor.execute(
            "insert into absurd.t_hist (task_id, task_name, params, state, attempts)"
            " select absurd.portable_uuidv7(), 'demo.two_steps', '{}'::jsonb, 'completed', 1"
            " from generate_series(1, %s)",
            [HISTORY],
        )
        cursor.execute(
            "insert into absurd.r_hist (run_id, task_id, attempt, state, available_at,"
            " completed_at) select absurd.portable_uuidv7(), task_id, 1, 'completed',"
            " now() - interval '1 hour', now() from absurd.t_hist"
        )
        for i in range(LIVE):
            cursor.execute(
                "select absurd.spawn_task('hist', 'demo.two_steps', %s::jsonb)",
                [json.dumps({"i": i})],
            )
        cursor.execute("analyze absurd.t_hist")
        cursor.execute("analyze absurd.r_hist")
    yield "hist"
    engine.drop_queue("hist")


def test_claim_candidate_scan_uses_the_live_index_and_skips_history(history_queue):
    plans = []
    with raw_connection() as conn:
        conn.add_notice_handler(lambda diag: plans.append(diag.message_primary))
        try:
            conn.execute("load 'auto_explain'")
        except psycopg.errors.InsufficientPrivilege:
            explained = conn.execute("explain (analyze, format json) " + CANDIDATE).fetchone()[0]
            found = explained
        else:
            for setting in (
                "auto_explain.log_min_duration = 0",
                "auto_explain.log_nested_statements = on",
                "auto_explain.log_analyze = on",
                "auto_explain.log_format = 'json'",
                "client_min_messages = log",
            ):
                conn.execute(f"set {setting}")
            rows = conn.execute("select * from absurd.claim_task('hist', 'w', 30, 4)").fetchall()
            assert len(rows) == LIVE
            found = [
                json.loads(message.split("\n", 1)[1])
                for message in plans
                if "with candidate" in message
            ]
    scan = _candidate_scan(found)
    assert scan["Node Type"] == "Index Scan", scan
    assert scan["Index Name"].startswith("ac_live_"), scan
    # Only live rows were read: nothing from the completed history was filtered away.
    assert scan.get("Rows Removed by Filter", 0) == 0
    assert scan["Actual Rows"] <= LIVE


def test_tasks_of_a_tenant_in_a_state_newest_first_use_the_tenant_index(history_queue):
    with raw_connection() as conn:
        conn.execute(
            "update absurd.t_hist set headers = jsonb_build_object('tenant',"
            " case when random() < 0.5 then 'acme' else 'globex' end)"
        )
        conn.execute("analyze absurd.t_hist")
        plan = conn.execute(
            "explain (format json) select task_id from absurd.t_hist"
            # As every reader filters (absurd_core/index_keys.py): the indexed prefix, then
            # the full value.
            " where left(headers->>'tenant', 256) = 'acme' and headers->>'tenant' = 'acme'"
            " and state = 'pending'"
            " order by task_id desc limit 50"
        ).fetchone()[0][0]["Plan"]
    names = {node.get("Index Name", "") for node in _nodes(plan)}
    assert any(name.startswith("ac_tenant_pfx_") for name in names), plan
    assert "Sort" not in {node["Node Type"] for node in _nodes(plan)}  # index order is used
