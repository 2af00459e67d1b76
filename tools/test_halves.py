"""Run the test suite as two pytest processes side by side: what ``make test`` calls.

One process runs the folders in ``SECOND``, the other everything else, each on a test
database of its own (``TEST_DATABASE_NAME``, config/settings_test.py) and each in
pytest's own collection order, so a run orders its tests the same way every time (a
dynamic scheduler such as pytest-xdist's would not). The halves take about the same
time; on the 2-core machine the suite takes about 8 minutes instead of 14, because
much of a test's time is spent waiting on a worker, a browser or a lease.

The first half's output streams; the second's is printed when both are done. The exit
status is the first failing half's (0 when both pass). Arguments are passed to both
pytest processes (``python tools/test_halves.py -x``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The second half: about half of the suite's time (the browser, tenancy and plugin tests).
SECOND = ("tests/browser", "tests/e2e", "tests/hosts", "tests/plugins", "tests/tenants")


def main(argv: list[str]) -> int:
    base = os.environ.get("TEST_DATABASE_NAME", "test_absurd_control")
    pytest = [sys.executable, "-m", "pytest", *argv]
    first = [*pytest, *(f"--ignore={folder}" for folder in SECOND)]
    second = [*pytest, *SECOND]
    with tempfile.TemporaryFile(mode="w+") as second_log:
        other = subprocess.Popen(
            second,
            cwd=ROOT,
            env={**os.environ, "TEST_DATABASE_NAME": f"{base}_2"},
            stdout=second_log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            print("== tests, first half (all but the second half's folders)")
            sys.stdout.flush()
            first_status = subprocess.call(
                first, cwd=ROOT, env={**os.environ, "TEST_DATABASE_NAME": f"{base}_1"}
            )
            second_status = other.wait()
        finally:
            if other.poll() is None:
                other.terminate()
                other.wait()
        second_log.seek(0)
        print(f"\n== tests, second half ({' '.join(SECOND)})")
        sys.stdout.write(second_log.read())
    print(f"\n== first half: exit {first_status}; second half: exit {second_status}")
    return first_status or second_status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
