"""A task with a delayed start shows its start time on the runs list and the task page."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from absurd_core import engine, spawn
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(role_user, client):
    engine.create_queue("demo")
    client.force_login(role_user("op", Tenant.objects.create(slug="acme", name="Acme"), "operator"))
    return client


def test_runs_list_and_task_page_show_the_start(operator):
    later = spawn("demo.two_steps", {"i": 1}, tenant="acme", run_after=timedelta(minutes=30))
    now = spawn("demo.two_steps", {"i": 2}, tenant="acme")
    runs = operator.get(reverse("dashboard:runs")).content.decode()
    row_later = runs[runs.index(f'data-task="{later.task_id}"') :].split("</tr>")[0]
    row_now = runs[runs.index(f'data-task="{now.task_id}"') :].split("</tr>")[0]
    assert re.search(r"starts in (29|30) min", row_later)
    assert "starts in" not in row_now
    page = operator.get(reverse("dashboard:task", args=[later.task_id])).content.decode()
    assert 'id="task-starts"' in page
    assert re.search(r"\(starts in (29|30) min", page)
    other = operator.get(reverse("dashboard:task", args=[now.task_id])).content.decode()
    assert 'id="task-starts"' not in other
