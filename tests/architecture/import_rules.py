"""The import rules of docs/architecture.md, checked on source text with ``ast``.

Every ``import`` and ``from ... import`` counts, at module level or inside a function.
A module's imports are resolved to the most specific project module they name
(``from absurd_core import engine`` is an import of ``absurd_core.engine``), so the
circle check sees the modules that really depend on each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: The project's top-level packages (what the rules speak about).
PACKAGES = (
    "absurd_core",
    "tenants",
    "approvals",
    "dashboard",
    "config",
    "plugins",
    "absurd_control_pytest",
)

#: package -> packages it may never import.
FORBIDDEN = {
    "absurd_core": ("tenants", "approvals", "dashboard", "config", "plugins"),
    "tenants": ("approvals", "dashboard"),
    "approvals": ("dashboard", "config", "plugins"),
    # The pytest plugin drives the core and approvals as a worker and a link would.
    "absurd_control_pytest": ("dashboard", "config", "plugins", "tenants"),
}

#: What a built-in plugin (plugins/<name>/) may import of the project, besides itself.
PLUGIN_FACADES = (
    "absurd_core",
    "approvals.workflow",
    "approvals.notifiers",
    "approvals.statistics",
    "plugins.base",
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    path: str  # its file, relative to the root
    line: int
    target: str  # the project module imported (``from pkg import sub``: pkg.sub)
    named: str  # the module the statement names (``from pkg import sub``: pkg)
    name: str = ""  # the name taken from ``named`` (``from pkg import sub``: sub)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path) -> Iterable[Path]:
    for package in PACKAGES:
        base = root / package
        if base.is_dir():
            yield from sorted(p for p in base.rglob("*.py") if "migrations" not in p.parts)


def _resolve(name: str, known: set[str]) -> str | None:
    """The most specific known module ``name`` names (``a.b.c`` -> ``a.b`` if only that exists)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(root: Path) -> list[Import]:
    """Every import of a project module by a project module, once per line and target."""
    files = list(source_files(root))
    known = {module_name(root, f) for f in files}
    found: dict[Import, None] = {}
    for file in files:
        module = module_name(root, file)
        is_package = file.name == "__init__.py"
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in ast.walk(tree):
            names: list[str] = []
            named: str | None = None
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")
                    if not is_package:
                        anchor = anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # ``from pkg import sub`` imports the submodule when there is one.
                names = [f"{base}.{alias.name}" for alias in node.names] or [base]
                named = _resolve(base, known)
            for name in names:
                target = _resolve(name, known)
                if target is not None and target != module:
                    rel = file.relative_to(root).as_posix()
                    taken = name.rpartition(".")[2] if named else ""
                    found[Import(module, rel, node.lineno, target, named or target, taken)] = None
    return list(found)


def published_names(root: Path, module: str) -> set[str]:
    """The names ``module`` binds at its top level (its imports, definitions, assignments)
    and those its module ``__getattr__`` resolves through ``__all__``."""
    path = root.joinpath(*module.split("."))
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    if not file.exists():
        return set()
    names: set[str] = set()
    for node in ast.parse(file.read_text()).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                    if target.id == "__all__" and isinstance(node.value, ast.List):
                        names |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    return names


def _top(module: str) -> str:
    return module.split(".")[0]


def _builtin_plugin(root: Path, module: str) -> str | None:
    """``plugins.<name>`` when ``module`` belongs to a built-in plugin (plugins/<name>/)."""
    parts = module.split(".")
    if parts[0] == "plugins" and len(parts) >= 2 and (root / "plugins" / parts[1]).is_dir():
        return f"plugins.{parts[1]}"
    return None


def forbidden_imports(root: Path) -> list[str]:
    problems = []
    facade_names = {f: published_names(root, f) for f in PLUGIN_FACADES}
    for imp in imports_of(root):
        top, target_top = _top(imp.module), _top(imp.target)
        where = f"{imp.path}:{imp.line}: {imp.module} imports {imp.target}"
        if target_top in FORBIDDEN.get(top, ()):
            problems.append(where)
        elif own := _builtin_plugin(root, imp.module):
            if imp.target == own or imp.target.startswith(own + "."):
                continue
            if imp.target in PLUGIN_FACADES:
                continue
            # ``from absurd_core import engine``: a name the facade publishes.
            if imp.named in PLUGIN_FACADES and imp.name in facade_names[imp.named]:
                continue
            problems.append(where + " (a built-in plugin imports facades only)")
    return problems


def import_circles(root: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for imp in imports_of(root):
        graph.setdefault(imp.module, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


#: Where the private-name rule looks: the project's packages, its benchmarks and its tests.
PRIVATE_NAME_ROOTS = (*PACKAGES, "bench", "tests")


def private_imports(root: Path) -> list[str]:
    """``from x import _name``: a module taking another module's private name (a single
    leading underscore; dunders such as ``__version__`` are public). What another module
    needs is public, under a name that says so. Migrations count too. Only this project's
    modules (and relative imports) count: a pinned library's private name (absurd-sdk's
    checkpoint sentinel, used by our TaskContext subclass) is that pin's business, checked by
    the tests that exercise it."""
    problems = []
    for base in PRIVATE_NAME_ROOTS:
        for file in sorted(root.joinpath(base).rglob("*.py")):
            tree = ast.parse(file.read_text(), filename=str(file))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom):
                    continue
                for alias in node.names:
                    first_party = node.level or (node.module or "").split(".")[0] in (
                        PRIVATE_NAME_ROOTS
                    )
                    if (
                        first_party
                        and alias.name.startswith("_")
                        and not alias.name.startswith("__")
                    ):
                        named = "." * node.level + (node.module or "")
                        problems.append(
                            f"{file.relative_to(root).as_posix()}:{node.lineno}: "
                            f"imports the private name {alias.name} from {named}"
                        )
    return problems
