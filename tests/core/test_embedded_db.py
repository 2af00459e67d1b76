"""The embedded server: concurrent first starts share one server; the last process out stops it."""

import subprocess
import sys
import textwrap

import psutil

from tests.helpers import ROOT, wait_for

ATTACH = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import psycopg
    from config.embedded_db import attach
    base = Path(sys.argv[1])
    server = attach(base, announce=False)
    with psycopg.connect(server.url) as conn:
        started = conn.execute("select pg_postmaster_start_time()::text").fetchone()[0]
    print(started, flush=True)
    release = base / "release"
    while not release.exists():
        time.sleep(0.02)
    """
)


def _postmaster_pid(pgdata):
    pidfile = pgdata / "postmaster.pid"
    return int(pidfile.read_text().splitlines()[0]) if pidfile.exists() else None


def test_concurrent_first_starts_share_one_server_and_the_last_one_stops_it(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ATTACH, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        started = [proc.stdout.readline().strip() for proc in procs]
        failed = [p for p, line in zip(procs, started, strict=True) if not line]
        for proc in failed:
            proc.wait(30)
        assert not failed, [p.stderr.read() for p in failed]
        assert len(set(started)) == 1  # one server, one start time
        pgdata = tmp_path / ".data" / "postgres"
        pid = _postmaster_pid(pgdata)
        assert pid and psutil.pid_exists(pid)
        (tmp_path / "release").touch()
        for proc in procs:
            assert proc.wait(60) == 0, proc.stderr.read()
        wait_for(
            lambda: (
                not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            ),
            timeout=30,
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def test_a_killed_process_does_not_keep_the_server_alive(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", ATTACH, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip()
    holder.kill()  # no exit handlers run: its pid stays in .handle_pids.json
    holder.wait()
    pgdata = tmp_path / ".data" / "postgres"
    pid = _postmaster_pid(pgdata)
    second = subprocess.Popen(
        [sys.executable, "-c", ATTACH, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert second.stdout.readline().strip()
    (tmp_path / "release").touch()
    assert second.wait(60) == 0
    # The dead pid was pruned, so the second process was the last one out.
    wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
        timeout=30,
    )
