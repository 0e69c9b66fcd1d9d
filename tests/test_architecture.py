"""The shape of the code base: no import cycle among Barrage's modules (imports inside
functions included), small functions, and a map (docs/architecture.md) that names every
module.

The modules are the core's (``barrage/``) and the first-party plugins' import packages
(``barrage_plugins/<distribution>/<package>/``, e.g. ``barrage_plugins/barrage-tabular/
barrage_tabular/``); a plugin's module is named by its import name (``barrage_tabular.composed``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60


def package_folders() -> List[Path]:
    """The core package and each first-party plugin's import package."""
    plugins = sorted(p for p in (ROOT / "barrage_plugins").glob("*/barrage_*") if (p / "__init__.py").is_file())
    return [ROOT / "barrage", *plugins]


PACKAGES = tuple(folder.name for folder in package_folders())


def module_name(path: Path) -> str:
    """The import name of a source file (its path below the folder holding its package)."""
    folder = next(f for f in package_folders() if f in path.parents)
    parts = list(path.relative_to(folder.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files() -> List[Path]:
    return sorted(p for folder in package_folders() for p in folder.rglob("*.py"))


def test_the_plugin_packages_are_found():
    assert set(PACKAGES) >= {"barrage", "barrage_tabular", "barrage_text", "barrage_vision", "barrage_mlflow"}
    assert module_name(ROOT / "barrage_plugins" / "barrage-tabular" / "barrage_tabular" / "composed.py") == (
        "barrage_tabular.composed")


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)


def imported_modules(path: Path, known: Set[str]) -> Set[str]:
    """Every Barrage module ``path`` imports at run time, at any depth (functions too),
    leaving out ``if TYPE_CHECKING:`` blocks, which never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for block in ast.walk(tree) if _type_checking_block(block) for n in ast.walk(block)}
    this = module_name(path)
    found: Set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(_known_prefix(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # "from barrage import artifacts" imports a module
                found.add(_known_prefix(f"{node.module}.{alias.name}", known))
    found.discard("")
    found.discard(this)
    return found


def _known_prefix(name: str, known: Set[str]) -> str:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def import_graph() -> Dict[str, Set[str]]:
    """Each module's Barrage imports. A C extension (a ``.c`` source beside the modules,
    built into a module of that name) is a module too, importing nothing of Barrage."""
    files = source_files()
    extensions = {module_name(p) for folder in package_folders() for p in folder.rglob("*.c")}
    known = {module_name(p) for p in files} | extensions
    return {**{name: set() for name in extensions}, **{module_name(p): imported_modules(p, known) for p in files}}


def find_cycle(graph: Dict[str, Set[str]], ignore: Set[str]) -> Optional[List[str]]:
    """One import cycle, as the modules along it, or ``None``."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target in ignore:
                continue
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and start not in ignore:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_among_barrage_modules():
    # The package roots only re-export (every submodule import runs them first anyway).
    cycle = find_cycle(import_graph(), ignore=set(PACKAGES))
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph, set()) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}, set()) is None


def test_function_level_imports_count():
    module = ROOT / "barrage" / "runtime.py"
    assert "barrage.plugins" in imported_modules(module, {module_name(p) for p in source_files()})


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_are_small(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_architecture_map_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "```mermaid" in text
    missing = [name for name in map(_doc_name, source_files()) if f"`{name}`" not in text]
    assert not missing, f"docs/architecture.md does not mention {missing}"


def _doc_name(path: Path) -> str:
    """How the map names a module: ``barrage/sources/`` for a package's ``__init__.py``,
    else the file's path (``barrage/sources/columns.py``)."""
    relative = path.relative_to(ROOT)
    return f"{relative.parent.as_posix()}/" if path.name == "__init__.py" else relative.as_posix()
