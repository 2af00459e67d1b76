"""Workers on several hosts: network namespaces on this machine (tests/hosts/netns.py),
each with a real ``runworker`` reaching the one PostgreSQL over TCP through its own link.

- work spawned once is spread over both hosts, each worker registered under its host's name;
- a host cut off from the network (its link down) is shown dead, its runs are failed when
  their leases run out and claimed by the other host, and every step's effect happens
  once; when the link comes back, the cut-off worker finds its runs lost: its late
  completion is refused, logged, and it carries on.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from absurd_core import engine, spawn
from absurd_core.models import Worker
from absurd_core.queries.workers import workers_for
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tests.fixtures.apps.testapp.tasks import HOSTS_QUEUE
from tests.helpers import wait_for
from tests.hosts import netns

pytestmark = pytest.mark.django_db(transaction=True)

CLAIM_TIMEOUT = 4  # seconds: the lease a cut-off host's runs keep before another may claim


@pytest.fixture(scope="module")
def lab():
    why = netns.unavailable()
    if why is not None:
        message = f"!!! WORKER-HOST TESTS NOT RUN: cannot create network namespaces: {why} !!!"
        print(f"\n{message}", file=sys.stderr)
        pytest.skip(message)
    server = netns.Server.from_settings(connection.settings_dict)
    with netns.Lab(server, env={"DJANGO_SETTINGS_MODULE": "config.settings_test"}) as lab:
        lab.add_host()
        lab.add_host()
        yield lab
    assert netns.leftovers(lab.tag) == []


@pytest.fixture
def hosts(lab, transactional_db):
    """The lab, its workers pointed at the test database (named only once pytest-django
    made it), with the queue; each test's workers are stopped after it."""
    lab.server.dbname = connection.settings_dict["NAME"]
    engine.drop_queue(HOSTS_QUEUE)
    engine.create_queue(HOSTS_QUEUE)
    yield lab
    for worker in lab.workers:
        worker.stop()
    lab.workers.clear()
    engine.drop_queue(HOSTS_QUEUE)


def _worker(lab, host, concurrency=2):
    worker = lab.worker(
        host,
        "--queue",
        HOSTS_QUEUE,
        "--concurrency",
        str(concurrency),
        "--claim-timeout",
        str(CLAIM_TIMEOUT),
        "--poll-interval",
        "0.5",
    )
    wait_for(
        lambda: (
            Worker.objects.filter(worker_id=worker.worker_id, host=host.name).exists()
            or worker.proc.poll() is not None
        ),
        timeout=60,
    )
    assert worker.proc.poll() is None, worker.output
    return worker


def _runs(task_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "select run_id, attempt, state, claimed_by from absurd.r_hostsq"
            " where task_id = %s order by attempt",
            [task_id],
        )
        return cursor.fetchall()


def _task_state(task_id):
    with connection.cursor() as cursor:
        cursor.execute("select state from absurd.t_hostsq where task_id = %s", [task_id])
        return cursor.fetchone()[0]


def _open(gates: Path, run_id, gate: str) -> None:
    (gates / f"{run_id}-{gate}").touch()


def _status(worker_id):
    rows = {w.worker_id: w for w in workers_for(TenantScope(ALL_TENANTS), platform=True)}
    return rows[worker_id].status if worker_id in rows else None


def test_work_is_spread_over_two_hosts_each_registered_under_its_name(hosts, side_effects):
    lab = hosts
    one, two = lab.hosts
    workers = [_worker(lab, one, concurrency=1), _worker(lab, two, concurrency=1)]
    tasks = [spawn("test.hosts_effects", {"hold": 0.3}, tenant="hosts").task_id for _ in range(8)]
    wait_for(lambda: all(_task_state(t) == "completed" for t in tasks), timeout=60)

    claimers = {run[3] for t in tasks for run in _runs(t)}
    assert claimers == {w.worker_id for w in workers}, claimers  # both hosts did some
    assert all(side_effects(t, "one") == 1 and side_effects(t, "two") == 1 for t in tasks)
    registered = {w.worker_id: w.host for w in Worker.objects.filter(queues=[HOSTS_QUEUE])}
    assert registered == {workers[0].worker_id: one.name, workers[1].worker_id: two.name}
    assert {_status(w.worker_id) for w in workers} == {"alive"}


def test_a_cut_off_host_is_dead_its_runs_move_and_its_late_completion_is_refused(
    hosts, side_effects, tmp_path, admin_client
):
    lab = hosts
    one, two = lab.hosts
    gates = tmp_path
    zombie = _worker(lab, one)
    params = {"gate_dir": str(gates)}
    x = spawn("test.hosts_effects", params, tenant="hosts").task_id  # cut between its steps
    y = spawn("test.hosts_effects", params, tenant="hosts").task_id  # cut after both steps
    wait_for(lambda: side_effects(x, "one") == 1 and side_effects(y, "one") == 1, timeout=30)
    (x_run, _, _, x_owner), (y_run, _, _, y_owner) = _runs(x)[0], _runs(y)[0]
    assert x_owner == y_owner == zombie.worker_id
    _open(gates, y_run, "a")
    wait_for(lambda: side_effects(y, "two") == 1, timeout=30)

    rescuer = _worker(lab, two)
    lab.cut(one)

    # Its leases run out; the other host's claim fails those runs and takes the retries.
    def retried():
        runs = {t: _runs(t) for t in (x, y)}
        return all(len(r) == 2 and r[1][3] == rescuer.worker_id for r in runs.values()) and runs

    runs = wait_for(retried, timeout=30)
    assert [r[2] for r in (runs[x][0], runs[y][0])] == ["failed", "failed"]
    for task_id in (x, y):
        for gate in ("a", "b"):
            _open(gates, runs[task_id][1][0], gate)
    wait_for(lambda: _task_state(x) == "completed" and _task_state(y) == "completed", timeout=30)

    # Shown dead once its heartbeats stop arriving (3 missed), on the query and the page.
    wait_for(lambda: _status(zombie.worker_id) == "dead", timeout=30)
    assert _status(rescuer.worker_id) == "alive"
    page = admin_client.get(reverse("dashboard:workers")).content.decode()
    assert re.search(rf'data-worker="{re.escape(zombie.worker_id)}" data-status="dead"', page)

    # The link returns; the cut-off worker's handlers go on from where they were.
    lab.restore(one)
    for gate in ("a", "b"):
        _open(gates, x_run, gate)
    _open(gates, y_run, "b")
    try:
        wait_for(lambda: zombie.output.count("task.lost") >= 2, timeout=40)
    except AssertionError:
        raise AssertionError(f"no task.lost for both runs:\n{zombie.output}") from None
    wait_for(lambda: _status(zombie.worker_id) == "alive", timeout=30)  # and it carries on

    # Each step's effect once, by whichever run held the lease when it ran.
    for task_id in (x, y):
        assert side_effects(task_id, "one") == 1
        assert side_effects(task_id, "two") == 1
        assert [r[2] for r in _runs(task_id)] == ["failed", "completed"]
        assert _task_state(task_id) == "completed"
    lost = [line for line in zombie.output.splitlines() if "task.lost" in line]
    assert any(str(x) in line for line in lost) and any(str(y) in line for line in lost), lost
    assert zombie.proc.poll() is None  # it logged and moved on
