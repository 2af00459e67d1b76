#!/usr/bin/env python3
"""Regenerate the dashboard screenshots of docs/dashboard.md (``make screenshots``).

Runs the screenshot harness (tests/browser/test_screenshots.py) at 1280 px against the
test database, with demo-like data, and has it write one small PNG per page to
docs/images/dashboard/<page>.png (the first screen at 0.6 device pixels per CSS pixel,
each under 150 KB). Needs Debian's Chromium (``make browser-deps``). The full-size
screenshots at every width land in tests/browser/artifacts/ as usual.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS_IMAGES = ROOT / "docs" / "images" / "dashboard"


def main() -> int:
    env = {**os.environ, "DOCS_SCREENSHOTS": str(DOCS_IMAGES)}
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
        "tests/browser/test_screenshots.py", "-k", "1280",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode == 0:
        for path in sorted(DOCS_IMAGES.glob("*.png")):
            print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
