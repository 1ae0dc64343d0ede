"""The import graph of the package points one way: no circles, and the library never reaches up.

Parses every module with `ast` (no imports run, so no torch or data needed), including imports
inside functions: a lazy import still makes the two modules depend on each other. The rule,
written out in docs/ARCHITECTURE.md:

- `cli.py` and `__main__.py` sit on top and may import anything;
- `signcaps/commands/*.py` parse and print: they may import the library, never `cli`;
- the library (every other `signcaps/*.py`) never imports `signcaps.commands`, `signcaps.cli`
  or the repository's top-level `train` folder, and takes nothing from the package
  `signcaps/__init__.py` but `__version__` (the public API there imports the library lazily);
- the training loop (`signcaps.train`) is a top of the library: the helpers it shares with
  evaluation, robustness and export live below it (`infer.py`), so only commands import it;
- no module imports itself back through a circle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "signcaps"
TOP = {"signcaps.cli", "signcaps.__main__"}
UPWARD = ("signcaps.commands", "signcaps.cli", "signcaps.__main__", "train")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    files = sorted(PACKAGE.glob("*.py")) + sorted((PACKAGE / "commands").glob("*.py"))
    return {_module_name(path): path for path in files}


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports, anywhere in the file (absolute names; `from a import b` -> a and a.b)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports. `from signcaps import __version__` is no edge:
    `__version__` is a constant set before anything in `__init__`, which imports the rest lazily."""
    graph = {}
    for name, path in MODULES.items():
        graph[name] = {dep for dep in _imports(name, path) if dep in MODULES and dep != name and dep != "signcaps"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_whole_package():
    graph = _graph()
    assert {"signcaps.cli", "signcaps.config", "signcaps.commands.common", "signcaps"} <= set(graph)
    # lazy imports inside functions count: the CLI reaches every command module from inside `_register`
    assert {"signcaps.commands.deploy", "signcaps.commands.live"} <= graph["signcaps.cli"]


def test_there_are_no_import_circles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n not in TOP and not n.startswith("signcaps.commands")))
def test_library_modules_do_not_import_upward(name):
    upward = sorted(dep for dep in _imports(name, MODULES[name])
                    if any(dep == top or dep.startswith(top + ".") for top in UPWARD))
    assert upward == [], f"{name} imports {upward}: the library must not reach the CLI layer or train/"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "signcaps" and n not in TOP))
def test_modules_take_only_the_version_from_the_package(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    taken = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "signcaps"
             and not node.level for alias in node.names}
    taken -= {"__version__"} | {n.rpartition(".")[2] for n in MODULES}  # submodules are fine
    assert taken == set(), f"{name} takes {sorted(taken)} from signcaps/__init__.py (the lazy public API)"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n not in TOP and not n.startswith("signcaps.commands")
                                         and n not in ("signcaps", "signcaps.train")))
def test_library_modules_do_not_take_helpers_from_the_training_loop(name):
    assert "signcaps.train" not in _imports(name, MODULES[name]), f"{name} imports signcaps.train: use signcaps.infer"


def test_commands_do_not_import_the_cli():
    for name in (n for n in MODULES if n.startswith("signcaps.commands")):
        assert not {"signcaps.cli", "signcaps.__main__"} & _imports(name, MODULES[name]), name


# Bottom-layer modules every runtime loads (Python, and copied to the browser page): numpy and the
# leaves only, never torch, onnx or OpenCV. Name -> the signcaps modules it may import.
NUMPY_ONLY = {"signcaps.rejection": {"signcaps.errors"}}
STDLIB_OK = {"__future__", "math", "dataclasses", "typing"}


@pytest.mark.parametrize("name", sorted(NUMPY_ONLY))
def test_runtime_rule_modules_import_numpy_and_leaves_only(name):
    imports = {dep for dep in _imports(name, MODULES[name]) if dep != "signcaps"}
    ours = {dep for dep in imports if dep.startswith("signcaps.")}
    assert {dep for dep in ours if dep in MODULES} <= NUMPY_ONLY[name], f"{name} imports {sorted(ours)}"
    others = {dep.split(".")[0] for dep in imports - ours}
    assert others <= STDLIB_OK | {"numpy"}, f"{name} imports {sorted(others - STDLIB_OK - {'numpy'})}"
