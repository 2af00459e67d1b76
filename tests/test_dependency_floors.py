"""pyproject.toml's lower bounds and constraints/floors.txt name the same versions.

`make test-floors` (run by CI after `make test`) installs the project with the floors file as
constraints and runs the API and dashboard tests on those versions. That proves the declared
floors only if the file pins exactly the bounds pyproject.toml declares: a bound raised in
one place and not the other fails here, in the ordinary suite.
"""

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT


def declared_floors() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    floors = {}
    for line in requirements:
        requirement = Requirement(line)
        specs = {spec.operator: spec.version for spec in requirement.specifier}
        if "==" in specs:
            continue  # pinned exactly (absurdctl, absurd-sdk): nothing lower to test
        assert ">=" in specs, f"{line}: every dependency needs a lower bound"
        floors[canonicalize_name(requirement.name)] = specs[">="]
        if requirement.name == "psycopg" and "binary" in requirement.extras:
            # pip's constraints take no extras: the extra's package is pinned by its name.
            floors["psycopg-binary"] = specs[">="]
    return floors


def pinned_floors() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints" / "floors.txt").read_text().splitlines():
        line = re.sub(r"#.*", "", line).strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{line}: the floors file pins exact versions"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_the_floors_file_pins_every_declared_lower_bound():
    assert pinned_floors() == declared_floors()


def test_the_floors_that_features_need():
    floors = declared_floors()
    assert floors["django-ninja"] == "1.6.0"  # ninja.Status
    assert floors["django-htmx"] == "1.23.0"  # {% htmx_script %}, htmx bundled


def test_ci_runs_the_floors_and_the_pooler_after_the_suite():
    steps = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("make ")
    ]
    assert steps == ["make test", "make test-floors", "make test-pooler"]
