"""(d) for bench/peers.py: the engine's own SQL for a two-step task, no Python task code.

``python bench/_engine_sql_worker.py URL CONNECTIONS BATCH`` opens CONNECTIONS connections and
prints engine.ready; on a line on stdin (go), each connection claims BATCH runs at a time
(absurd.claim_task), writes the two checkpoints a two-step task writes
(absurd.set_task_checkpoint_state) and completes each run (absurd.complete_run), until a claim
comes back empty; it then prints engine.drained and keeps its connections open until stdin
closes, so that bench/peers.py reads their backends' CPU before they exit.
"""

from __future__ import annotations

import sys
import threading

import psycopg


def drain(conn: psycopg.Connection, index: int, batch: int) -> None:
    while True:
        rows = conn.execute(
            "select run_id, task_id from absurd.claim_task('demo', %s, 60, %s)",
            (f"engine-{index}", batch),
        ).fetchall()
        if not rows:
            return
        for run_id, task_id in rows:
            for step in ("increment", "double"):
                conn.execute(
                    "select absurd.set_task_checkpoint_state('demo', %s, %s, '1'::jsonb, %s, 60)",
                    (task_id, step, run_id),
                )
            conn.execute("select absurd.complete_run('demo', %s, '{}'::jsonb)", (run_id,))


def main() -> None:
    url, connections, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    conns = [
        psycopg.connect(url, autocommit=True, application_name=f"peers-engine-{i}")
        for i in range(connections)
    ]
    print("engine.ready", flush=True)
    sys.stdin.readline()
    threads = [
        threading.Thread(target=drain, args=(conn, i, batch)) for i, conn in enumerate(conns)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("engine.drained", flush=True)
    sys.stdin.read()
    for conn in conns:
        conn.close()


if __name__ == "__main__":
    main()
