"""Schedule metrics on /metrics: the lag, and fires and refusals by schedule."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from absurd_core import engine
from absurd_core.models import Schedule
from tests.plugins.test_metrics import scrape, value

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_scrapes(settings):
    settings.DEBUG = True
    settings.METRICS_TOKEN = ""


def test_lag_fires_and_refusals(db):
    engine.create_queue("demo")
    due = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
    Schedule.objects.create(
        tenant="acme", name="late", task_name="demo.two_steps", queue="demo",
        every_seconds=60, next_fire_at=due, due_at=due, fires=7, refusals=2,
    )  # fmt: skip
    assert value(scrape(), "absurd_control_schedule_lag_seconds") == 0  # not due yet (real now)
    with connection.cursor() as cursor:
        cursor.execute("select set_config('absurd.fake_now', '2030-01-07T10:01:30Z', false)")
    try:
        samples = scrape()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("select set_config('absurd.fake_now', '', false)")
    assert value(samples, "absurd_control_schedule_lag_seconds") == 90
    labels = {"tenant": "acme", "schedule": "late"}
    assert value(samples, "absurd_control_schedule_fires_total", **labels) == 7
    assert value(samples, "absurd_control_schedule_refusals_total", **labels) == 2
