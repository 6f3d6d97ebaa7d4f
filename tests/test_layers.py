"""The package's shape, checked: layers import only downwards, no private name crosses a module, and
modules and functions stay small enough to read (docs/architecture.md says why each rule holds)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hpsearch"
ARCHITECTURE = PACKAGE.parents[1] / "docs" / "architecture.md"
# Lowest first: a module may import its own layer and the layers before it, never one after it.
LAYERS = ["numbers", "errors", "trial", "search", "spec", "store", "train", "run", "results", "cli"]
MODULE_LAYERS = {"numbers", "errors", "trial"}  # a layer that is one module (numbers.py, errors.py, trial.py), not a folder
# What each layer may import of hpsearch beside itself: the "may import" column of docs/architecture.md's table
# (`test_the_allowed_imports_are_those_the_architecture_states` holds the two together).
ALLOWED = {
    "numbers": set(),
    "errors": set(),
    "trial": set(),
    "search": {"numbers", "errors"},
    "spec": {"numbers", "errors", "search"},
    "store": {"numbers", "errors", "trial", "search", "spec"},
    "train": {"numbers", "errors", "trial", "search", "spec"},
    "run": {"numbers", "errors", "trial", "search", "spec", "store", "train"},
    "results": {"numbers", "errors", "trial", "search", "spec", "store", "train", "run"},
    "cli": set(LAYERS[:-1]),
}
ENTRY_POINTS = {"hpsearch", "hpsearch.__main__"}  # the public API and `python -m hpsearch` reach every layer
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names taken from it) for every import of hpsearch, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hpsearch":
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if target in MODULES:  # `from hpsearch.run import worker` imports a module
                    found.append((node.lineno, target, []))
                else:
                    found.append((node.lineno, node.module, [alias.name]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "hpsearch"]
    return found


def test_every_layer_is_a_package_and_every_module_belongs_to_one():
    loose = [m for m in MODULES if layer(m) is None and m not in ENTRY_POINTS]
    assert loose == [], f"modules outside the layers {LAYERS}: {loose}"


def stated_imports() -> dict[str, set[str]]:
    """The "may import" column of docs/architecture.md's layer table, as layer -> the layers it names ("every
    layer above" and "everything": each one listed before it)."""
    stated = {}
    for row in re.findall(r"^\| `([a-z_]+)(?:\.py|/)` \|.*\| ([^|]+) \|$", ARCHITECTURE.read_text(), re.M):
        name, cell = row
        above = set(LAYERS[:LAYERS.index(name)]) if name in LAYERS else set()
        if cell.strip() in ("every layer above", "everything"):
            stated[name] = above
        else:
            stated[name] = {word for word in re.findall(r"[a-z]+", cell) if word in LAYERS}
    return stated


def test_the_allowed_imports_are_those_the_architecture_states():
    stated = stated_imports()
    assert list(stated) == LAYERS, "docs/architecture.md's table must list the layers, lowest first"
    assert stated == ALLOWED


def test_each_layer_imports_only_what_it_may():
    reaching = []
    for module, path in MODULES.items():
        if module in ENTRY_POINTS:
            continue
        own = layer(module)
        for line, target, _ in imports(path):
            theirs = layer(target)
            if theirs is not None and theirs != own and theirs not in ALLOWED[own]:
                reaching.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} ({own} may import "
                                f"{', '.join(sorted(ALLOWED[own])) or 'nothing'})")
    assert not reaching, "\n".join(reaching)


def test_layers_import_only_downwards():
    climbing = []
    for module, path in MODULES.items():
        if module in ENTRY_POINTS:
            continue
        own = LAYERS.index(layer(module))
        for line, target, _ in imports(path):
            theirs = layer(target)
            if theirs is not None and LAYERS.index(theirs) > own:
                climbing.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not climbing, "\n".join(climbing)


def test_no_private_name_is_imported_from_another_module():
    reaching = [f"{path.relative_to(PACKAGE.parent)}:{line} takes {target}.{name}"
                for module, path in MODULES.items()
                for line, target, names in imports(path) for name in names
                if name.startswith("_") and not name.startswith("__") and target != module]
    assert not reaching, "\n".join(reaching)


def test_no_import_cycle_between_modules():
    graph = {m: {t for _, t, _ in imports(p) if t in MODULES and t != m} for m, p in MODULES.items()
             if m not in ENTRY_POINTS}
    cycles = []

    def visit(node, trail):
        for nxt in graph.get(node, ()):
            if nxt in trail:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, trail + [nxt])

    seen: set[str] = set()
    for start in graph:
        if start not in seen:
            seen.add(start)
            visit(start, [start])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_small(module):
    path = MODULES[module]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{module} has {len(text.splitlines())} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_each_layer_says_what_it_owns_and_may_import():
    for name in (n for n in LAYERS if n not in MODULE_LAYERS):
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"hpsearch/{name}/__init__.py: its docstring must say what it may import"


def test_every_error_class_lives_in_errors_py():
    from hpsearch import errors

    error_names = {name for name, value in vars(errors).items() if isinstance(value, type)
                   and issubclass(value, BaseException)} | {"Exception", "BaseException"}
    elsewhere = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                 for module, path in MODULES.items() if module != "hpsearch.errors"
                 for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)
                 and any(getattr(base, "id", getattr(base, "attr", None)) in error_names for base in node.bases)]
    assert not elsewhere, "\n".join(elsewhere)


def test_test_modules_have_unique_names():
    """pytest imports test modules by their basename (tests/ folders are not packages): two alike collide."""
    names = [p.name for p in PACKAGE.parents[1].joinpath("tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
