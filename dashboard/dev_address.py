"""``make run ADDR=host:port`` / ``PORT=n``: the address devserver listens on, and the
``BASE_URL`` derived from it when ``BASE_URL`` is not set (issue 19 item 10).

The banner (``bootstrap_demo``'s "Open ..."), the emailed approval links and every other
absolute link are built from ``settings.BASE_URL``; devserver hands the derived value to
its children, so they all name the address the server really listens on. A wildcard
address (0.0.0.0, ::) is not one a browser can open: the link names the loopback address.
"""

from __future__ import annotations

DEFAULT_ADDR = "127.0.0.1:8000"
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "[::]": "[::1]", "": "127.0.0.1"}  # noqa: S104


def normalise_addrport(value: str) -> str:
    """``8080`` -> ``127.0.0.1:8080``; ``host:port`` and ``[v6]:port`` as given."""
    value = value.strip()
    if not value:
        return DEFAULT_ADDR
    if value.isdigit():
        return f"127.0.0.1:{value}"
    return value


def base_url_for(addrport: str) -> str:
    """The browser URL for ``runserver``'s address, e.g. ``http://127.0.0.1:8080``."""
    addrport = normalise_addrport(addrport)
    host, _, port = addrport.rpartition(":")
    host = WILDCARDS.get(host, host)
    return f"http://{host}:{port}"
