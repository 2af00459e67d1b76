"""Procrastinate 3.x for bench/peers.py: the app, its one job, and the worker as a script.

``python bench/peers_procrastinate.py URL CONCURRENCY`` runs a worker on the queue ``peers``
and prints procrastinate.ready once its LISTEN is in place; bench/peers.py imports make_app
(to defer with Task.batch_defer, one transaction) and setup (Procrastinate's schema).
The job is Procrastinate's closest shape to a two-step Absurd task: two upserts, each its own
autocommit statement (as each Absurd checkpoint is its own commit), but no step bookkeeping.
"""

from __future__ import annotations

import asyncio
import sys

import procrastinate

UPSERT = (
    "insert into peers_steps (job_id, step, state) values (%(job)s, %(step)s, %(state)s)"
    " on conflict (job_id, step) do update set state = excluded.state"
)

SCHEMA = (
    "create table if not exists peers_steps (job_id bigint, step text, state integer,"
    " primary key (job_id, step))"
)


def make_app(url: str, pool_size: int, name: str = "peers-procrastinate") -> procrastinate.App:
    """The app; ``name``: its connections' application_name (peers-bench: not counted)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=url,
        kwargs={"application_name": name},
        min_size=pool_size,
        max_size=pool_size,
    )
    app = procrastinate.App(connector=connector)

    @app.task(name="peers.two_upserts", queue="peers", pass_context=True)
    async def two_upserts(context: procrastinate.JobContext, i: int) -> int:
        job = context.job.id
        incremented = i + 1
        await app.connector.execute_query_async(
            UPSERT, job=job, step="increment", state=incremented
        )
        doubled = incremented * 2
        await app.connector.execute_query_async(UPSERT, job=job, step="double", state=doubled)
        return doubled

    return app


async def work(url: str, concurrency: int) -> None:
    # The pool: one connection for LISTEN, one per job in flight, one for fetching and
    # finishing jobs (Procrastinate's advice: concurrency + a few).
    app = make_app(url, concurrency + 2)
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=["peers"],
                concurrency=concurrency,
                name="peers",
                wait=True,
                delete_jobs="never",
                install_signal_handlers=True,
            )
        )
        # Ready once the worker's LISTEN is in place (its connection shows in pg_stat_activity).
        while not await listening(app):
            if worker.done():
                await worker
            await asyncio.sleep(0.02)
        print("procrastinate.ready", flush=True)
        await worker


async def listening(app: procrastinate.App) -> bool:
    row = await app.connector.execute_query_one_async(
        "select count(*) as n from pg_stat_activity where datname = current_database()"
        " and query ilike 'listen%%' and pid <> pg_backend_pid()"
    )
    return row["n"] > 0


def setup(url: str) -> None:
    """Procrastinate's schema and the table the job upserts into (a fresh database)."""
    app = make_app(url, 1, "peers-bench")
    with app.open():
        app.schema_manager.apply_schema()
        app.connector.get_sync_connector().execute_query(SCHEMA)


if __name__ == "__main__":
    asyncio.run(work(sys.argv[1], int(sys.argv[2])))
