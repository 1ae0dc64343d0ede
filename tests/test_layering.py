"""The package's shape: stages as folders, imports pointing one way, torch behind one boundary.

Parses every module with `ast` (no imports run, so no torch or data needed), including imports
inside functions: a lazy import still makes two modules depend on each other. The rules, written
out in docs/ARCHITECTURE.md:

- the library lives in stage folders, listed bottom to top in `STAGES`; a module may import its
  own folder and the folders below it, never one above (so no circle between folders either);
- `commands/` parses and prints on top of the library; `cli.py` and `__main__.py` sit above all;
- torch and albumentations are imported only in the `TORCH_SIDE` folders, the top of the library:
  nothing the base install runs (every folder below them) can reach them;
- nothing in the library reaches the CLI or the repository's top-level `train` folder, and no
  module takes more from `signcaps/__init__.py` (the lazy public API) than `__version__`;
- no module imports itself back through a circle, inside a folder or across.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "signcaps"
# bottom to top: a folder imports only itself and the folders before it
STAGES = ("util", "hands", "signs", "data", "runtime", "live", "web", "models", "training", "commands")
TORCH_SIDE = ("models", "training")
TORCH_STACK = ("torch", "albumentations", "albucore", "torchvision")
TOP = {"signcaps.cli", "signcaps.__main__"}
PACKAGE_TOP = {"signcaps", *TOP}  # the only modules beside the folders
NOT_CODE = {"resources"}  # shipped files: the default model, manifests (recipes and web in a wheel)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    files = [p for p in sorted(PACKAGE.rglob("*.py")) if not NOT_CODE & set(p.relative_to(PACKAGE).parts)]
    return {_module_name(path): path for path in files}


MODULES = _modules()


def stage_of(name: str) -> str | None:
    """The stage folder a module lives in (`signcaps.hands.preprocess` -> `hands`); None for the top."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


@functools.cache
def _imports(name: str, path: Path) -> frozenset[str]:
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
    return frozenset(found)


def _module_level_imports(path: Path) -> set[str]:
    """Top-level names of what a module imports when it is loaded (not inside functions or classes)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports. `from signcaps import __version__` is no edge:
    `__version__` is a constant set before anything in `__init__`, which imports the rest lazily."""
    return {name: {dep for dep in _imports(name, path) if dep in MODULES and dep not in (name, "signcaps")}
            for name, path in MODULES.items()}


def _folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Stage folder -> the other stage folders its modules import."""
    folders: dict[str, set[str]] = {stage: set() for stage in STAGES}
    for name, deps in graph.items():
        if stage_of(name) is not None:
            folders[stage_of(name)] |= {stage_of(d) for d in deps if stage_of(d) not in (None, stage_of(name))}
    return folders


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
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
    assert {"signcaps.cli", "signcaps.util.config", "signcaps.commands.common", "signcaps",
            "signcaps.hands.preprocess", "signcaps.training.train"} <= set(graph)
    # lazy imports inside functions count: the CLI reaches every command module from inside `_register`
    assert {"signcaps.commands.deploy", "signcaps.commands.live"} <= graph["signcaps.cli"]


def test_the_listing_shows_the_stages():
    """Every module lives in a stage folder but the public API and the CLI's entry points; every
    folder says in its `__init__.py` docstring what it holds, and imports nothing (so importing a
    folder costs nothing and cannot pull in torch)."""
    stray = sorted(n for n in MODULES if stage_of(n) is None and n not in PACKAGE_TOP)
    assert stray == [], f"modules outside the stage folders: {stray} (add the folder to STAGES, or move them)"
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    assert set(folders) - NOT_CODE == set(STAGES)
    for stage in STAGES:
        init = PACKAGE / stage / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{init} needs a docstring saying what the folder holds"
        assert not [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], f"{init} imports something"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if stage_of(n) is not None))
def test_modules_import_only_their_folder_and_the_folders_below(name):
    rank = STAGES.index(stage_of(name))
    above = sorted(dep for dep in _graph()[name] if dep in TOP or dep == "signcaps" or
                   (stage_of(dep) is not None and STAGES.index(stage_of(dep)) > rank))
    assert above == [], f"{name} imports {above}: a folder imports only itself and {list(STAGES[:rank])}"


def test_there_are_no_import_circles_between_modules_or_folders():
    graph = _graph()
    assert _cycles(graph) == []
    assert _cycles(_folder_graph(graph)) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_folder_rule_catches_an_upward_import():
    graph = {"signcaps.hands.preprocess": {"signcaps.runtime.classifier"}, "signcaps.runtime.classifier": set()}
    assert _folder_graph(graph)["hands"] == {"runtime"}
    assert STAGES.index("runtime") > STAGES.index("hands")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if stage_of(n) not in TORCH_SIDE))
def test_torch_is_imported_only_on_the_training_side(name):
    """Not even lazily: everything outside models/ and training/ is what the base install runs."""
    reached = sorted({dep.split(".")[0] for dep in _imports(name, MODULES[name])} & set(TORCH_STACK))
    assert reached == [], f"{name} imports {reached}: only {TORCH_SIDE} may (the `[train]` extra)"


def test_the_torch_side_is_where_torch_is_imported():
    """The boundary is real: the folders named for it do import torch at module level."""
    for stage in TORCH_SIDE:
        assert any("torch" in _module_level_imports(path) for name, path in MODULES.items() if stage_of(name) == stage)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if stage_of(n) not in (None, "commands")))
def test_library_modules_do_not_import_upward(name):
    upward = sorted(dep for dep in _imports(name, MODULES[name])
                    if any(dep == top or dep.startswith(top + ".") for top in (*TOP, "signcaps.commands", "train")))
    assert upward == [], f"{name} imports {upward}: the library must not reach the CLI layer or train/"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n not in PACKAGE_TOP))
def test_modules_take_only_the_version_from_the_package(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    taken = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "signcaps"
             and not node.level for alias in node.names}
    taken -= {"__version__", *STAGES}  # sub-packages are fine
    assert taken == set(), f"{name} takes {sorted(taken)} from signcaps/__init__.py (the lazy public API)"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if stage_of(n) not in (None, "commands")
                                         and n != "signcaps.training.train"))
def test_library_modules_do_not_take_helpers_from_the_training_loop(name):
    assert "signcaps.training.train" not in _imports(name, MODULES[name]), \
        f"{name} imports the training loop: shared helpers live in signcaps.training.infer"


def test_commands_do_not_import_the_cli():
    for name in (n for n in MODULES if stage_of(n) == "commands"):
        assert not TOP & _imports(name, MODULES[name]), name


# Bottom-layer modules every runtime loads (Python, and copied to the browser page): numpy and the
# leaves only, never torch, onnx or OpenCV. Name -> the signcaps modules it may import.
NUMPY_ONLY = {"signcaps.signs.rejection": {"signcaps.util.errors"}}
STDLIB_OK = {"__future__", "math", "dataclasses", "typing"}


@pytest.mark.parametrize("name", sorted(NUMPY_ONLY))
def test_runtime_rule_modules_import_numpy_and_leaves_only(name):
    imports = {dep for dep in _imports(name, MODULES[name]) if dep != "signcaps"}
    ours = {dep for dep in imports if dep.startswith("signcaps.")}
    assert {dep for dep in ours if dep in MODULES} <= NUMPY_ONLY[name], f"{name} imports {sorted(ours)}"
    others = {dep.split(".")[0] for dep in imports - ours}
    assert others <= STDLIB_OK | {"numpy"}, f"{name} imports {sorted(others - STDLIB_OK - {'numpy'})}"
