"""The event-naming helpers docs/tenants.md gives authors of other Absurd clients.

Both code blocks are read from the document itself and run, so the page cannot
drift from the rule the platform applies (absurd_core.event_names): the Python
one against a plain absurd-sdk TaskContext, the TypeScript one with Node (its
type annotations stripped) when Node is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from absurd_sdk import TaskContext

from absurd_core.event_names import tenant_event_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "tenants.md"

CASES = [
    ({"tenant": "acme"}, "order-1:paid"),
    ({"tenant": "acme"}, "tenant:acme:order-1:paid"),
    ({"tenant": "acme"}, "tenant:globex:order-1:paid"),
    ({"tenant": "acme"}, "tenant:acmex:x"),
    ({"tenant": "acme"}, "approval:6"),
    ({}, "deploy:done"),
    ({"tenant": ""}, "deploy:done"),
]


def block(language: str) -> str:
    section = DOC.read_text().split("### Other Absurd clients", 1)[1]
    return re.search(rf"```{language}\n(.*?)```", section, re.S)[1]


def expected(headers: dict, name: str) -> str:
    tenant = headers.get("tenant")
    return tenant_event_name(tenant, name) if tenant else name


def plain_sdk_context(headers: dict) -> TaskContext:
    """absurd-sdk's own context, as Absurd.start_worker builds it (only what the helper reads)."""
    ctx = object.__new__(TaskContext)
    ctx._task = {"headers": headers}
    return ctx


def test_the_python_helper_names_events_as_the_platform_does():
    namespace: dict = {}
    exec(compile(block("python"), str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    helper = namespace["tenant_event"]
    for headers, name in CASES:
        assert helper(plain_sdk_context(headers), name) == expected(headers, name)


def test_the_typescript_helper_names_events_as_the_platform_does():
    if shutil.which("node") is None:
        # Node.js comes with the machine; CI must not pass by skipping the check.
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("Node.js is needed to check the TypeScript helper in docs/tenants.md.")
        pytest.skip("Node.js is not installed: the TypeScript helper is not checked.")
    source = block("typescript").replace("export function", "function")
    # Strip the annotations the block uses; what remains is plain JavaScript.
    source = re.sub(r"\): string \{", ") {", source)
    source = re.sub(r": (Record<string, unknown> \| null|string)(?=[,)])", "", source)
    cases = [[headers, name] for headers, name in CASES]
    script = source + f"\nconsole.log(JSON.stringify({json.dumps(cases)}.map(([h, n]) => "
    script += "tenantEvent(h, n))));\n"
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [expected(h, n) for h, n in CASES]
