"""JSON API throughput under gunicorn: POST /api/v1/tasks (spawn) against GET /api/v1/health.

gunicorn serves the project as in production: 2 workers of the ``gthread`` class
(4 threads each) with keep-alive, DEBUG off. The load generator keeps persistent
HTTP/1.1 connections (``http.client``, one per client thread, 8 threads) and
alternates rounds of the two endpoints, 5 rounds of 4 s each, so drift on a
shared machine hits both sides alike; each side's median round counts.

- spawn: ``POST /api/v1/tasks`` of ``demo.two_steps`` with a tenant API key
  (operator role): key verification, the tenant's spawn limiter (its bucket
  raised high enough never to refuse, so the limiter runs but does not throttle),
  the engine's spawn and its lifecycle triggers, one commit.
- baseline: ``GET /api/v1/health``, the cheapest database-backed endpoint
  through the same stack (one schema-version query, no auth).

Target: spawn throughput >= 60% of health's, 0 errors (any other status than
201/200, or a failed request). Afterwards every task id acknowledged with 201 is
looked up in the database: all must be there.

A reference follows, not a target: the same spawns with this project's SQL taken
out of the statement (the lifecycle triggers disabled and the spawn gate made a
no-op, in the scratch database only), again alternating with health. What
remains is the API key's lookup, the engine's own ``absurd.spawn_task`` and a
durable commit: the most that any change to our triggers or gate could give back.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from bench.common import ROOT, fresh_database, worker_env

WORKERS = 2
THREADS = 4
CLIENTS = 8
ROUNDS = 5
ROUND_SECONDS = 4.0
REFERENCE_ROUNDS = 3

# The reference's surgery on the scratch database: no lifecycle triggers on the
# queue's tables, and a spawn gate that admits everything without touching a row.
ENGINE_ONLY_SQL = [
    "alter table absurd.t_demo disable trigger user",
    "alter table absurd.r_demo disable trigger user",
    "create or replace function absurd_control_spawn_gate_or_raise("
    " p_tenant text, p_cost double precision) returns double precision"
    " language sql as 'select 0::double precision'",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_env(url: str) -> dict:
    env = worker_env(url)
    env.update(
        DEBUG="false",  # DEBUG keeps every query in memory; production runs without it
        SECRET_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_MANIFEST="false",
        LOG_LEVEL="WARNING",
    )
    return env


class Server:
    """gunicorn on a free port; its output goes to a file, so a full pipe never stalls it."""

    def __init__(self, url: str):
        self.port = free_port()
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--workers",
                str(WORKERS),
                "--worker-class",
                "gthread",
                "--threads",
                str(THREADS),
                "--keep-alive",
                "30",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=gunicorn_env(url),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.output()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"gunicorn not ready: {self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Load:
    """CLIENTS threads, each on one persistent connection, for one endpoint at a time."""

    def __init__(self, port: int, api_key: str):
        self.port = port
        self.api_key = api_key
        self.acknowledged: list[str] = []
        self.errors: list[str] = []
        self.reconnects = 0
        self.counter = 0
        self.lock = threading.Lock()
        self.connections = [self._connect() for _ in range(CLIENTS)]

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.connect()
        return conn

    def _reconnected(self) -> None:
        with self.lock:
            self.reconnects += 1

    def _spawn(self, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            self.counter += 1
            i = self.counter
        body = json.dumps({"task": "demo.two_steps", "params": {"i": i}})
        conn.request(
            "POST",
            "/api/v1/tasks",
            body=body,
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
            },
        )
        response = conn.getresponse()
        data = response.read()
        if response.will_close:
            self._reconnected()
        if response.status != 201:
            self.errors.append(f"spawn {response.status}: {data[:200]!r}")
            return
        task_id = json.loads(data)["task_id"]
        with self.lock:
            self.acknowledged.append(task_id)

    def _health(self, conn: http.client.HTTPConnection) -> None:
        conn.request("GET", "/api/v1/health")
        response = conn.getresponse()
        data = response.read()
        if response.will_close:
            self._reconnected()
        if response.status != 200:
            self.errors.append(f"health {response.status}: {data[:200]!r}")

    def rounds(self, endpoint: str, rounds: int) -> tuple[float, float]:
        """Medians of ``rounds`` alternating rounds: (health, ``endpoint``) requests/s."""
        health, other = [], []
        for _ in range(rounds):
            health.append(self.run("health", ROUND_SECONDS))
            other.append(self.run(endpoint, ROUND_SECONDS))
        return statistics.median(health), statistics.median(other)

    def run(self, endpoint: str, seconds: float) -> float:
        """Requests per second over ``seconds`` on every connection at once."""
        one = self._spawn if endpoint == "spawn" else self._health
        done = [0] * CLIENTS
        start = threading.Barrier(CLIENTS + 1)

        def client(n: int) -> None:
            conn = self.connections[n]
            start.wait()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                try:
                    one(conn)
                    done[n] += 1
                except (OSError, http.client.HTTPException) as exc:
                    self.errors.append(f"{endpoint}: {exc!r}")
                    conn.close()  # http.client reopens it on the next request
                    self._reconnected()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        return sum(done) / (time.perf_counter() - began)

    def close(self) -> None:
        for conn in self.connections:
            conn.close()


def measure() -> dict:
    """Runs in a child process whose DATABASE_URL is the bench database."""
    import django

    django.setup()
    from django.db import connection

    from absurd_core import engine
    from tenants.api_keys import issue_key
    from tenants.models import RateLimitPolicy, Tenant

    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    # An ordinary tenant, so the limiter runs on every spawn; its bucket never runs dry.
    RateLimitPolicy.objects.create(tenant=tenant, spawn_rate=1e6, spawn_burst=10**9)
    key = issue_key(tenant, "bench", role="operator").key
    connection.close()

    server = Server(os.environ["DATABASE_URL"])
    try:
        server.wait_ready()
        load = Load(server.port, key)
        load.run("health", 1.0)  # warm-up: connections, plans, imports
        load.run("spawn", 1.0)
        health, spawn = load.rounds("spawn", ROUNDS)
        acknowledged = list(load.acknowledged)
        errors = list(load.errors)
        with connection.cursor() as cursor:
            for statement in ENGINE_ONLY_SQL:
                cursor.execute(statement)
        connection.close()
        load.run("spawn", 1.0)  # warm-up of the changed statement
        reference_health, engine_only = load.rounds("spawn", REFERENCE_ROUNDS)
        load.close()
    finally:
        server.stop()

    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from absurd.t_demo where task_id = any(%s::uuid[])", [acknowledged]
        )
        found = cursor.fetchone()[0]
        cursor.execute("select count(*) from absurd.t_demo")
        in_queue = cursor.fetchone()[0]
    return {
        "workers": WORKERS,
        "threads": THREADS,
        "clients": CLIENTS,
        "rounds": ROUNDS,
        "round_seconds": ROUND_SECONDS,
        "health_rps": health,
        "spawn_rps": spawn,
        "reference_rounds": REFERENCE_ROUNDS,
        "reference_health_rps": reference_health,
        "engine_only_rps": engine_only,
        "reference_errors": len(load.errors) - len(errors),
        "errors": len(errors),
        "error_samples": errors[:5],
        "reconnects": load.reconnects,
        "acknowledged": len(acknowledged),
        "unique_acknowledged": len(set(acknowledged)),
        "found": found,
        "in_queue": in_queue,
    }


def run() -> dict:
    url = fresh_database()
    child = subprocess.run(
        [sys.executable, "-m", "bench.api", "--child"],
        cwd=ROOT,
        env=worker_env(url),
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        raise RuntimeError(child.stderr[-3000:])
    r = json.loads(child.stdout.strip().splitlines()[-1])
    r["ratio"] = r["spawn_rps"] / r["health_rps"]
    r["missing"] = r["unique_acknowledged"] - r["found"]
    r["engine_only_ratio"] = r["engine_only_rps"] / r["reference_health_rps"]
    print(
        f"api: gunicorn {r['workers']} gthread workers x {r['threads']} threads, keep-alive;"
        f" {r['clients']} persistent HTTP/1.1 connections, {r['rounds']} alternating rounds"
        f" of {r['round_seconds']:.0f} s, medians"
    )
    print(f"  GET  /api/v1/health (baseline)     {r['health_rps']:8.0f} requests/s")
    print(f"  POST /api/v1/tasks (spawn)         {r['spawn_rps']:8.0f} requests/s")
    print(f"  ratio {r['ratio']:.0%} (target >= 60%)")
    print(f"  errors {r['errors']} (target 0); reconnects {r['reconnects']}")
    for sample in r["error_samples"]:
        print(f"    {sample}")
    print(
        f"  reference, {r['reference_rounds']} more rounds with this project's triggers and"
        f" spawn gate taken out: {r['engine_only_rps']:.0f} spawns/s against"
        f" {r['reference_health_rps']:.0f} health/s, {r['engine_only_ratio']:.0%}"
        f" (errors {r['reference_errors']})"
    )
    print(
        f"  acknowledged spawns {r['acknowledged']:,}, found in the database {r['found']:,}"
        f" (missing {r['missing']}, duplicate ids {r['acknowledged'] - r['unique_acknowledged']});"
        f" tasks in the queue {r['in_queue']:,}"
    )
    return r


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        print(json.dumps(measure()))
    else:
        run()
