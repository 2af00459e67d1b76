"""The overview's live part: sparklines, totals, backlog age, paused badge, estimates."""

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from absurd_core import spawn
from absurd_core.engine import TASK_STATES
from absurd_core.models import Worker
from absurd_core.queries.queues import QueueStats, Totals
from approvals.models import ApprovalRequest
from dashboard.presenters import Sparkline, human_duration, overview_row
from tenants.models import Membership, Tenant
from tests.helpers import pause_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_client(client):
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    user = get_user_model().objects.create_user("ann", password="pw-12345-long")
    Membership.objects.create(user=user, tenant=tenant, role="viewer")
    client.force_login(user)
    return client


def _q(sql, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _spawn(queue, tenant, **options):
    return spawn("test.overview", {}, queue=queue, tenant=tenant, **options).task_id


def _claim(queue):
    return _q("select run_id from absurd.claim_task(%s, 'test', 60, 1)", queue)[0][0]


def _complete(queue):
    _q("select absurd.complete_run(%s, %s, '{}'::jsonb)", queue, _claim(queue))


def _fail(queue):
    reason = json.dumps({"name": "ValueError", "message": "boom"})
    _q("select absurd.fail_run(%s, %s, %s::jsonb, null)", queue, _claim(queue), reason)


def _row(html: str, queue: str) -> str:
    return html.split(f'data-queue="{queue}"', 1)[1].split("</tr>", 1)[0]


def _live(client) -> str:
    response = client.get(reverse("dashboard:queue_table"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def test_sparkline_counts_the_tenants_completions_and_failures_of_the_last_hour(
    acme_client, queue_name
):
    for _ in range(3):
        _spawn(queue_name, "acme", max_attempts=1)
    _complete(queue_name)
    _complete(queue_name)
    _fail(queue_name)
    _spawn(queue_name, "globex")
    _complete(queue_name)  # globex's: not acme's to see

    row = _row(_live(acme_client), queue_name)
    assert 'role="img" aria-label="completed 2, failed 1 in the last hour"' in row
    assert 'data-completed="2" data-failed="1"' in row
    completed = re.search(r'<polyline class="completed" points="([^"]+)"', row).group(1)
    failed = re.search(r'<polyline class="failed" points="([^"]+)"', row).group(1)
    assert len(completed.split()) == len(failed.split()) == 60
    # The last minute holds the peak (2 completions): the line reaches the top there.
    assert completed.split()[-1].endswith(",1.0")
    assert re.search(r'data-state="completed"><a [^>]*>2</a>', row)
    assert re.search(r'data-state="failed"><a [^>]*>1</a>', row)


def test_sparkline_points_share_one_scale():
    line = Sparkline(completed=[0, 4, 2], failed=[0, 1, 0], width=10, height=10)
    assert line.completed_points == "1.0,9.0 5.0,1.0 9.0,5.0"
    assert line.failed_points == "1.0,9.0 5.0,7.0 9.0,9.0"
    assert line.label == "completed 6, failed 1 in the last hour"
    empty = Sparkline(completed=[0] * 60, failed=[0] * 60)
    assert set(p.split(",")[1] for p in empty.completed_points.split()) == {"23.0"}


def test_totals_link_to_their_pages_and_are_tenant_scoped(acme_client, queue_name):
    _spawn(queue_name, "acme", max_attempts=1)
    _fail(queue_name)  # a dead letter for acme
    _spawn(queue_name, "globex", max_attempts=1)
    _fail(queue_name)  # and one for globex
    now = timezone.now()
    Worker.objects.create(worker_id="w1", host="h", pid=1, concurrency=1, started_at=now,
                          last_seen=now)  # fmt: skip
    Worker.objects.create(
        worker_id="w2",
        host="h",
        pid=2,
        concurrency=1,
        started_at=now,
        last_seen=now - timedelta(hours=1),
    )  # fmt: skip  (dead)
    for tenant in ["acme", "acme", "globex"]:
        ApprovalRequest.objects.create(
            tenant=tenant, queue=queue_name, task_id=uuid.uuid4(), task_name="t",
            step_key=f"s{uuid.uuid4()}", title="Pay", expires_at=now + timedelta(days=1),
        )  # fmt: skip

    html = _live(acme_client)
    totals = html.split('id="totals"', 1)[1].split(f'data-queue="{queue_name}"', 1)[0]
    assert f'id="total-dead-letters"\n       href="{reverse("dashboard:dead_letters")}"' in totals
    assert f'href="{reverse("dashboard:workers")}"' in totals
    assert f'href="{reverse("dashboard:approvals")}?state=pending"' in totals
    assert 'data-total="dead_letters">1<' in totals
    assert 'data-total="workers">1<' in totals
    assert 'data-total="approvals">2<' in totals
    # The full page shows them too.
    page = acme_client.get(reverse("dashboard:overview")).content.decode()
    assert 'data-total="approvals">2<' in page


def test_backlog_age_is_the_oldest_pending_tasks_age(acme_client, queue_name):
    _q("select set_config('absurd.fake_now', (now() - interval '5 minutes')::text, false)")
    try:
        _spawn(queue_name, "acme")
    finally:
        _q("select set_config('absurd.fake_now', '', false)")
    _spawn(queue_name, "acme")  # younger: does not count
    row = _row(_live(acme_client), queue_name)
    age = re.search(
        r'data-backlog-age><a href="[^"]*state=pending[^"]*" class="count-link">'
        r'<time datetime="[^"]+" title="[^"]+">([^<]+)</time>',
        row,
    )
    assert age and age.group(1).startswith("5 min"), row


def test_no_backlog_says_so(acme_client, queue_name):
    _spawn(queue_name, "acme")
    _complete(queue_name)
    row = _row(_live(acme_client), queue_name)
    assert "nothing pending" in row and "<time" not in row


def test_paused_badge(acme_client, queue_name):
    assert 'data-badge="paused"' not in _row(_live(acme_client), queue_name)
    pause_queue(queue_name, "user:ops")
    row = _row(_live(acme_client), queue_name)
    assert 'data-paused="true"' in row and 'data-badge="paused"' in row
    page = acme_client.get(reverse("dashboard:overview")).content.decode()
    assert 'data-badge="paused"' in _row(page, queue_name)


def test_estimated_counts_are_marked():
    stats = QueueStats(
        name="big",
        counts=dict.fromkeys(TASK_STATES, 0) | {"pending": 1_234_567, "completed": 10},
        estimated=True,
        oldest_pending_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        paused=False,
    )
    row = overview_row(stats, None, datetime(2026, 1, 1, 14, 5, tzinfo=UTC))
    assert row.backlog_age == "2 h 5 min"
    html = render_to_string(
        "dashboard/_queue_table.html",
        {"queues": [row], "states": TASK_STATES, "totals": Totals(0, 0, 0)},
    )
    assert re.search(
        r'<td class="text-end estimate" title="estimate" data-state="pending">'
        r'<a href="/runs/\?queue=[^"&]+&amp;state=pending" class="count-link"[^>]*>'
        r"≈1,234,567</a></td>",
        html,
    )
    assert re.search(r'title="estimate" data-state="total"><a [^>]*>≈1,234,577<', html)
    assert 'aria-label="completed 0, failed 0 in the last hour"' in html


def test_exact_counts_are_plain_numbers(acme_client, queue_name):
    _spawn(queue_name, "acme")
    row = _row(_live(acme_client), queue_name)
    assert re.search(r'<td class="text-end" data-state="pending"><a [^>]*>1</a></td>', row)
    assert "estimate" not in row


def test_polling_pauses_while_the_tab_is_hidden(acme_client, queue_name):
    html = acme_client.get(reverse("dashboard:overview")).content.decode()
    # dashboard.js skips the requests of a data-poll-visible element while the tab is hidden
    # (htmx's [filter] expressions need eval, which the Content-Security-Policy forbids).
    assert 'hx-trigger="every 2s, visibilitychange from:document" data-poll-visible' in html
    assert f'hx-get="{reverse("dashboard:queue_table")}"' in html


def test_user_without_a_tenant_sees_no_totals(client):
    user = get_user_model().objects.create_user("nobody", password="pw-12345-long")
    client.force_login(user)
    html = client.get(reverse("dashboard:overview")).content.decode()
    assert 'id="totals"' not in html


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0 s"), (45, "45 s"), (60, "1 min"), (192, "3 min 12 s"), (7200, "2 h"),
     (7500, "2 h 5 min"), (86400 * 3, "3 d"), (86400 * 3 + 3600 * 4 + 5, "3 d 4 h"),
     (-5, "0 s")],
)  # fmt: skip
def test_human_duration(seconds, text):
    assert human_duration(timedelta(seconds=seconds)) == text
