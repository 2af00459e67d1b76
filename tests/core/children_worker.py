"""Run tasks in this process through the worker's own claim and executor (the real task
context): for child-workflow tests that need a parent asleep on its children."""

from __future__ import annotations

from psycopg.rows import dict_row

from absurd_core.registry import registry
from absurd_core.worker.connection import connect
from absurd_core.worker.executor import Executor
from absurd_core.worker.runner import CLAIM_SQL


class InProcessWorker:
    """Claims and runs every due task of ``queue`` here, as runworker's threads do."""

    def __init__(self, queue: str):
        self.queue = queue
        self.conn = connect(application_name="children-tests")
        self.executor = Executor(self.conn, registry, 60)

    def close(self) -> None:
        self.conn.close()

    def run_due(self) -> None:
        while True:
            with self.conn.cursor(row_factory=dict_row) as cursor:
                params = {"queue": self.queue, "worker": "kids-worker", "timeout": 60, "qty": 10}
                cursor.execute(CLAIM_SQL, params)
                claimed = [row for row in cursor.fetchall() if row["admitted"]]
            if not claimed:
                return
            for row in claimed:
                self.executor.run(self.queue, row)
