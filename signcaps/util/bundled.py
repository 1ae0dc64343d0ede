"""Files that ship inside the wheel besides code: the training recipes and the web page's sources.

The repository keeps them where their users look for them (`train/recipes/*.yaml`,
`deploy/web/{src,package.json,package-lock.json}`); pyproject.toml maps both folders into the
wheel as `signcaps/resources/recipes` and `signcaps/resources/web`. An installed wheel finds
them there, a checkout (an editable install, or the source tree on PYTHONPATH) finds them in
the repository: one copy of each in git, and no command needs a checkout to find them.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # signcaps/, above util/
CHECKOUT = PACKAGE.parent  # the repository root when running from a checkout
RECIPE_SUFFIXES = (".yaml", ".yml")


def _shipped(inside: str, in_checkout: str, marker: str) -> Path:
    """The wheel's copy when there is one, else the repository's folder (both may lack `marker`)."""
    packaged = PACKAGE / "resources" / inside
    if (packaged / marker).exists():
        return packaged
    return CHECKOUT / in_checkout


def recipes_dir() -> Path:
    return _shipped("recipes", "train/recipes", "fused-capsnet.yaml")


def web_source_dir() -> Path:
    """The page's folder: `src/` (index.html and the ES modules), package.json, package-lock.json."""
    return _shipped("web", "deploy/web", "package-lock.json")


def recipe_names() -> list[str]:
    folder = recipes_dir()
    return sorted(p.stem for p in folder.glob("*") if p.suffix in RECIPE_SUFFIXES) if folder.is_dir() else []


def find_recipe(name_or_path: str | Path) -> Path | None:
    """A recipe file: the path as given when it exists, else the shipped recipe of that name
    (`fused-capsnet`, `fused-capsnet.yaml`); None when it is neither."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    text = str(name_or_path)
    stem = text[: -len(path.suffix)] if path.suffix in RECIPE_SUFFIXES else text
    if "/" not in text and "\\" not in text:
        for suffix in RECIPE_SUFFIXES:
            shipped = recipes_dir() / f"{stem}{suffix}"
            if shipped.is_file():
                return shipped
    return None
