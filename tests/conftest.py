import os
import uuid
from pathlib import Path

import pytest
from django.db import connection

from absurd_core import engine
from tests import helpers

if os.environ.get("ABSURD_TEST_PGBOUNCER"):
    # make test-pooler: the web alias goes through PgBouncer in transaction mode.
    from tests.pgbouncer import django_db_setup  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def schema_still_latest_at_the_end(django_db_setup, django_db_blocker):
    """After the last test, the test database still has every migration applied: a test
    that migrates back and does not restore the latest schema leaves every later test of
    the session on an old one (tests/approvals/test_event_name_migration.py did)."""
    yield
    from django.db.migrations.executor import MigrationExecutor

    with django_db_blocker.unblock():
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    assert not plan, f"a test left migrations unapplied: {[m.__module__ for m, _ in plan]}"


def _commits_for_real(request) -> bool:
    """Whether the test's writes are committed (pytest-django's transactional tests and
    the live server), rather than rolled back at its end."""
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(scope="session")
def migrated_queues(django_db_setup, django_db_blocker) -> frozenset[str]:
    """The queues the migrations made (``approvals``): they exist before every test."""
    with django_db_blocker.unblock():
        return frozenset(_queues())


def _empty_queue(cursor, name: str) -> None:
    """Delete every task of ``name`` (its engine tables, truncated), if it has any."""
    cursor.execute("select to_regclass(%s)", [f'absurd."t_{name}"'])
    if cursor.fetchone()[0] is None:
        return
    cursor.execute(f'select exists (select 1 from absurd."t_{name}")')  # noqa: S608
    if not cursor.fetchone()[0]:
        return
    tables = []
    for prefix in ("t_", "r_", "c_", "e_", "w_"):
        cursor.execute("select to_regclass(%s)::text", [f'absurd."{prefix}{name}"'])
        (table,) = cursor.fetchone()
        if table:
            tables.append(table)
    cursor.execute(f"truncate {', '.join(tables)}")


def _queues() -> set[str]:
    """Every queue, read on the primary (engine.list_queues may read a replica)."""
    with connection.cursor() as cursor:
        cursor.execute("select queue_name from absurd.queues")
        return {name for (name,) in cursor.fetchall()}


@pytest.fixture(autouse=True)
def engine_left_as_found(request):
    """A test whose writes are committed drops the queues it created, and empties the
    queues the migrations made, as Django's flush empties the project's tables.

    The flush never touched the engine's ``absurd`` schema: a queue the test made
    (``demo`` often) kept its tasks, and so did ``approvals`` (every approval request
    spawns a delivery task there), so a later test that listed a tenant's tasks passed or
    failed with the order of the suite. Queues made by module- or session-scoped fixtures
    exist before the test starts and are left alone. A statement that waits 10 s for a
    lock fails the test's teardown: something the test started still holds the queue.
    """
    if not _commits_for_real(request):
        yield
        return
    migrated = request.getfixturevalue("migrated_queues")
    request.getfixturevalue("transactional_db")
    before = _queues()
    yield
    now = _queues()
    with connection.cursor() as cursor:
        cursor.execute("set lock_timeout = '10s'")
        try:
            for name in sorted(now - before):
                cursor.execute("select absurd.drop_queue(%s)", [name])
            for name in sorted(migrated & now):
                _empty_queue(cursor, name)
        finally:
            cursor.execute("reset lock_timeout")


@pytest.fixture
def role_user():
    """``role_user(username=None, tenant=None, role="viewer", *, memberships=None,
    superuser=False, **extra)``: tests.helpers.role_user, the one role-user helper. Log the
    user in with ``client.force_login(role_user(...))``."""
    return helpers.role_user


@pytest.fixture
def make_queue(db):
    """``make_queue()``: a fresh queue's name; every queue made is dropped after the test."""
    made = []

    def make() -> str:
        name = f"q_{uuid.uuid4().hex[:12]}"
        engine.create_queue(name)
        made.append(name)
        return name

    yield make
    for name in made:
        engine.drop_queue(name)


@pytest.fixture
def queue_name(make_queue):
    """A fresh queue, dropped after the test."""
    return make_queue()


@pytest.fixture
def side_effects(transactional_db):
    with connection.cursor() as cursor:
        from tests.fixtures.apps.testapp.tasks import SIDE_EFFECTS_DDL

        cursor.execute(SIDE_EFFECTS_DDL)
        cursor.execute("truncate test_side_effects")

    def count(task_id, step=None):
        with connection.cursor() as cursor:
            sql = "select count(*) from test_side_effects where task_id = %s"
            params = [task_id]
            if step:
                sql += " and step = %s"
                params.append(step)
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    return count


@pytest.fixture
def no_slots(transactional_db):
    """Start with no concurrency slots or parked runs (other tests may leave some behind)."""
    with connection.cursor() as cursor:
        cursor.execute("truncate absurd_control.running_slot, absurd_control.parked_run")


# -- Browser tests: Playwright driving Debian's Chromium (Playwright's own browser download
# is not used). One browser per session, shared by tests/browser and tests/e2e.


CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    f"Browser tests need Debian's Chromium at {CHROMIUM}: run `sudo apt-get install chromium` "
    "(make test does this when run as root)."
)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(INSTALL_HINT, pytrace=False)
        pytest.skip(f"SKIPPED BROWSER TESTS: {INSTALL_HINT}")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls
    # made by the test itself are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait for their condition up to 10 s (Playwright's default is 5): on this
    # 2-core machine, late in a full run, a page load behind the live server's other
    # requests has taken longer. A passing assertion returns as soon as it holds.
    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()
