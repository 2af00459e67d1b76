"""Worker "hosts" on this machine: network namespaces joined to the root namespace by
veth pairs, each running ``manage.py runworker`` against the one PostgreSQL over TCP.

Used by tests/hosts/ and bench/scale.py. Needs root (``ip netns add``) and iproute2
(``make netns-deps`` installs it); ``unavailable()`` says why not, for a loud skip.

One host is:

- a namespace ``<tag>h<n>`` (the tag is unique per run, so runs never collide and a
  leftover from a crashed run never blocks a new one), with ``lo`` up;
- a veth pair: ``<tag><n>r`` in the root namespace (address ``10.a.b.4n+1/30``) and
  ``<tag><n>n`` inside (``10.a.b.4n+2/30``): the host's only way out;
- a TCP relay (tests/hosts/relay.py) listening on the root side's address and joined to
  the database server (see relay.py for why the embedded server cannot listen there);
- its workers, started with ``ip netns exec`` inside a UTS namespace of their own whose
  host name is the namespace's name, so each registers as ``<ns>:<pid>`` with host
  ``<ns>`` (absurd_core/worker/housekeeping.py reads ``socket.gethostname()``).

``cut(host)`` takes the root side of the veth down: the host's connections stall and new
ones fail, as on a real network fault; ``restore(host)`` brings it back. Worker database
URLs carry ``connect_timeout`` and ``tcp_user_timeout`` (what
docs/scaling.md recommends for workers on other hosts), so a cut-off worker notices in
seconds, not after the kernel's default retransmission timeout of about 15 minutes.

``close()`` stops everything and removes the links and namespaces; call it from a
finaliser (``with Lab(...)`` does) so a failing test leaves nothing behind.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
RELAY = Path(__file__).with_name("relay.py")

#: libpq options for a worker on another host: give up on a connection attempt after 3 s
#: and on data the network did not acknowledge within 4 s. An idle connection (an
#: execution thread's, while task code runs) is left alone and survives a short cut.
WORKER_DB_OPTIONS = {"connect_timeout": "3", "tcp_user_timeout": "4000"}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None when they can): for a loud skip."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed (run `make netns-deps` as root)"
    if shutil.which("unshare") is None:
        return "util-linux's `unshare` is not installed"
    if os.geteuid() != 0:
        return "not root: `ip netns add` needs CAP_SYS_ADMIN"
    probe = f"acprobe{uuid.uuid4().hex[:6]}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "delete", probe, check=False)
    return None


@dataclass
class Host:
    name: str
    index: int
    root_if: str
    ns_if: str
    root_addr: str
    ns_addr: str
    relay: subprocess.Popen | None = None


@dataclass
class Server:
    """Where the database is, as Django's settings say (socket directory or TCP host)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = ""

    @classmethod
    def from_settings(cls, settings: dict) -> Server:
        return cls(
            host=settings.get("HOST") or "localhost",
            port=int(settings.get("PORT") or 5432),
            dbname=settings["NAME"],
            user=settings.get("USER") or "postgres",
            password=settings.get("PASSWORD") or "",
        )

    @property
    def relay_target(self) -> str:
        if self.host.startswith("/"):
            return f"unix:{self.host}/.s.PGSQL.{self.port}"
        return f"tcp:{self.host}:{self.port}"


class HostWorker:
    """One ``runworker`` inside a host; output read continuously (as tests/helpers.py's
    WorkerProcess does); stopped with SIGTERM."""

    def __init__(self, host: Host, argv: list[str], env: dict[str, str]):
        self.host = host
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    @property
    def worker_id(self) -> str:
        """What the worker registers as: the host's name and its pid (``ip netns exec``,
        ``unshare`` and ``sh -c exec`` all exec, so the pid is the worker's)."""
        return f"{self.host.name}:{self.proc.pid}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        return self.proc.returncode


@dataclass
class Lab:
    server: Server
    #: Extra environment for every worker (DJANGO_SETTINGS_MODULE, PLUGINS...).
    env: dict[str, str] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: "ac" + uuid.uuid4().hex[:5])
    hosts: list[Host] = field(default_factory=list)
    workers: list[HostWorker] = field(default_factory=list)

    def __post_init__(self) -> None:
        taken = _ip("-o", "-4", "addr", "show").stdout
        while True:
            self.prefix = f"10.{random.randint(100, 250)}.{random.randint(0, 250)}"
            if f" {self.prefix}." not in taken:
                break

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add_host(self) -> Host:
        n = len(self.hosts) + 1
        host = Host(
            name=f"{self.tag}h{n}",
            index=n,
            root_if=f"{self.tag}{n}r",
            ns_if=f"{self.tag}{n}n",
            root_addr=f"{self.prefix}.{4 * n + 1}",
            ns_addr=f"{self.prefix}.{4 * n + 2}",
        )
        self.hosts.append(host)  # before any step, so close() undoes a half-made host
        _ip("netns", "add", host.name)
        _ip("link", "add", host.root_if, "type", "veth", "peer", "name", host.ns_if)
        _ip("link", "set", host.ns_if, "netns", host.name)
        _ip("addr", "add", f"{host.root_addr}/30", "dev", host.root_if)
        _ip("link", "set", host.root_if, "up")
        ns = ("netns", "exec", host.name, "ip")
        _ip(*ns, "addr", "add", f"{host.ns_addr}/30", "dev", host.ns_if)
        _ip(*ns, "link", "set", host.ns_if, "up")
        _ip(*ns, "link", "set", "lo", "up")
        host.relay = subprocess.Popen(
            [
                sys.executable,
                str(RELAY),
                host.root_addr,
                str(self.server.port),
                self.server.relay_target,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert host.relay.stdout is not None
        if host.relay.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the relay for {host.name} did not start")
        return host

    def database_url(self, host: Host) -> str:
        s = self.server
        auth = quote(s.user) + (f":{quote(s.password)}" if s.password else "")
        query = "&".join(f"{k}={v}" for k, v in WORKER_DB_OPTIONS.items())
        return f"postgres://{auth}@{host.root_addr}:{s.port}/{s.dbname}?{query}"

    def run_in(self, host: Host, *argv: str) -> list[str]:
        """``argv`` inside ``host``: its namespace, and its own host name."""
        return [
            "ip",
            "netns",
            "exec",
            host.name,
            "unshare",
            "--uts",
            "sh",
            "-c",
            'hostname "$0" && exec "$@"',
            host.name,
            *argv,
        ]

    def worker(self, host: Host, *args: str) -> HostWorker:
        env = dict(os.environ)
        env.update(self.env)
        env.update(
            DATABASE_URL=self.database_url(host), PYTHONUNBUFFERED="1", ABSURD_CONTROL_QUIET_DB="1"
        )
        argv = self.run_in(host, sys.executable, "manage.py", "runworker", *args)
        worker = HostWorker(host, argv, env)
        self.workers.append(worker)
        return worker

    def cut(self, host: Host) -> None:
        _ip("link", "set", host.root_if, "down")

    def restore(self, host: Host) -> None:
        _ip("link", "set", host.root_if, "up")

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.stop(timeout=20)
            except Exception:  # clean up the rest whatever happens
                worker.proc.kill()
        for host in self.hosts:
            if host.relay is not None and host.relay.poll() is None:
                host.relay.terminate()
                try:
                    host.relay.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    host.relay.kill()
            _ip("link", "delete", host.root_if, check=False)  # removes its peer too
            _ip("netns", "delete", host.name, check=False)
        self.workers.clear()
        self.hosts.clear()


def leftovers(tag: str) -> list[str]:
    """Namespaces and links of ``tag`` still present (for the harness's own test)."""
    names = _ip("netns", "list").stdout.split()
    links = _ip("-o", "link", "show").stdout
    return [n for n in names if n.startswith(tag)] + [
        line.split(":")[1].strip().split("@")[0]
        for line in links.splitlines()
        if f": {tag}" in line
    ]
