"""The peers of bench/peers.py are the `bench` extra's business, never the test suite's.

`make test` installs `.[dev]` only; `make bench` installs `.[dev,bench]` (Procrastinate and
DBOS). These tests keep it so: the dev extra names neither, and the benchmark modules import
without them (bench/peers.py imports them only when it runs).
"""

import subprocess
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT

PEERS = {"procrastinate", "dbos"}


def extra(name: str) -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = (Requirement(line) for line in project["optional-dependencies"][name])
    return {canonicalize_name(r.name): r for r in requirements}


def test_the_bench_extra_names_the_peers_and_the_dev_extra_does_not():
    bench = extra("bench")
    assert set(bench) >= PEERS
    assert bench["procrastinate"].specifier.contains("3.10.0")
    assert not bench["procrastinate"].specifier.contains("4.0.0")
    assert not PEERS & set(extra("dev"))


def test_make_bench_installs_the_bench_extra():
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    stamp = target.split()[0]  # the prerequisite: the stamp of the .[dev,bench] install
    assert stamp == "$(BENCH_STAMP)"
    assert '$(PIP) -e ".[dev,bench]"' in makefile.split(f"\n{stamp}:", 1)[1].split("\n\n")[0]


def test_the_benchmarks_import_without_the_peers():
    # A None in sys.modules makes any import of the package fail, as if not installed.
    code = (
        "import sys\n"
        + "".join(f"sys.modules[{name!r}] = None\n" for name in sorted(PEERS))
        + "import bench.run_all, bench.peers\n"
        "assert bench.peers.SYSTEMS[0] == 'runworker'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
