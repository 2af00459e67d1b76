"""Two ways to drive every engine transition: our Python code, and raw SQL.

The parity tests run the same scenario through both and compare the event
log, dead letters and notifications they leave.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg.rows import dict_row

from absurd_core import engine
from absurd_core.registry import registry
from absurd_core.worker.connection import connect
from absurd_core.worker.executor import Executor
from absurd_core.worker.runner import CLAIM_SQL
from tests.helpers import raw_connection

QUEUE = "testq"
HEADERS = {"tenant": "acme"}


class SqlPath:
    """Calls absurd.* directly, as absurdctl or a psql session would."""

    name = "sql"

    def __init__(self):
        self.conn = raw_connection()

    def close(self):
        self.conn.close()

    def q(self, sql: str, *params: Any) -> list[dict]:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def spawn(self, task_name: str, params: dict, **options) -> Any:
        options = {"headers": HEADERS, **options}
        return self.q(
            "select task_id from absurd.spawn_task(%s, %s, %s::jsonb, %s::jsonb)",
            QUEUE,
            task_name,
            json.dumps(params),
            json.dumps(options),
        )[0]["task_id"]

    def claim(self) -> dict:
        rows = self.q("select * from absurd.claim_task(%s, 'sql-worker', 60, 1)", QUEUE)
        assert len(rows) == 1
        return rows[0]

    def complete(self, run: dict) -> None:
        self.q("select absurd.complete_run(%s, %s, '{\"ok\": true}'::jsonb)", QUEUE, run["run_id"])

    def fail(self, run: dict, message: str = "boom") -> None:
        reason = {"name": "ValueError", "message": message}
        self.q(
            "select absurd.fail_run(%s, %s, %s::jsonb, null)",
            QUEUE,
            run["run_id"],
            json.dumps(reason),
        )

    def sleep(self, run: dict) -> None:
        self.q(
            "select absurd.schedule_run(%s, %s, absurd.current_time() + interval '1 hour')",
            QUEUE,
            run["run_id"],
        )

    def await_event(self, run: dict, event: str) -> None:
        self.q(
            "select * from absurd.await_event(%s, %s, %s, %s, %s, null)",
            QUEUE,
            run["task_id"],
            run["run_id"],
            f"$awaitEvent:{event}",
            event,
        )

    def emit(self, event: str, payload: Any) -> None:
        self.q("select absurd.emit_event(%s, %s, %s::jsonb)", QUEUE, event, json.dumps(payload))

    def cancel(self, task_id) -> None:
        self.q("select absurd.cancel_task(%s, %s)", QUEUE, task_id)

    def retry(self, task_id) -> None:
        self.q("select * from absurd.retry_task(%s, %s, '{}'::jsonb)", QUEUE, task_id)


class PythonPath:
    """Our code: the engine module, and the worker's claim and executor."""

    name = "python"

    def __init__(self):
        self.conn = connect(application_name="parity-python")
        self.executor = Executor(self.conn, registry, 60)

    def close(self):
        self.conn.close()

    def spawn(self, task_name: str, params: dict, **options) -> Any:
        return engine.spawn_task(QUEUE, task_name, params, headers=HEADERS, **options).task_id

    def claim(self) -> dict:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                CLAIM_SQL, {"queue": QUEUE, "worker": "py-worker", "timeout": 60, "qty": 1}
            )
            rows = cursor.fetchall()
        assert len(rows) == 1
        return rows[0]

    def execute(self, run: dict) -> str:
        """Run the claimed task's code: completes, fails, sleeps or waits as the task does."""
        return self.executor.run(QUEUE, run).status

    def emit(self, event: str, payload: Any) -> None:
        engine.emit_event(QUEUE, event, payload)

    def cancel(self, task_id) -> None:
        engine.cancel_task(QUEUE, task_id)

    def retry(self, task_id) -> None:
        engine.retry_task(QUEUE, task_id)
