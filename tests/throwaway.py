"""A throwaway project in a temporary directory, tested with pytest in a subprocess.

What a workflow author has: their own app (on PYTHONPATH, loaded through PLUGINS),
their own conftest.py and tests, and this project installed, so the ``absurd``
fixture comes from the ``pytest11`` entry point, not from our conftest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import subprocess_env

PYTEST_INI = "[pytest]\nDJANGO_SETTINGS_MODULE = config.settings_test\n"


def write_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"pytest.ini": PYTEST_INI, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def run_pytest(
    root: Path, *args: str, apps: str, database: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``pytest`` in ``root`` with ``apps`` installed (PLUGINS) and a test database of its
    own (the outer run's is in use)."""
    env = subprocess_env(PLUGINS=apps, TEST_DATABASE_NAME=database, PYTHONPATH=str(root))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
