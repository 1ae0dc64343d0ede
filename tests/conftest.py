"""Shared fixtures: the real dataset and hand model from ../shared, isolated caches."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SIGNCAPS_SHARED", ROOT.parent / "shared")).resolve()
DIGITS = SHARED / "datasets" / "sign-language-digits"
HAND_MODEL = SHARED / "models" / "hand_landmarker.task"

os.environ.setdefault("GLOG_minloglevel", "2")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not DIGITS.is_dir() or not HAND_MODEL.is_file():
        raise pytest.UsageError(f"tests need ../shared beside the project (looked in {SHARED})")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Real hand model, and a user cache that is never the developer's own."""
    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", str(HAND_MODEL))
    monkeypatch.setenv("SIGNCAPS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "user-cache"))


@pytest.fixture(scope="session")
def digits_root() -> Path:
    return DIGITS


@pytest.fixture(scope="session")
def hand_model() -> Path:
    return HAND_MODEL


def digit_images(digit: int, count: int, start: int = 0) -> list[Path]:
    return sorted((DIGITS / str(digit)).glob("*.JPG"))[start:start + count]


@pytest.fixture(scope="session")
def mini_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real dataset: the first 12 participants' runs of all ten digits (numbered files)."""
    root = tmp_path_factory.mktemp("mini-digits")
    for digit in range(10):
        (root / str(digit)).mkdir()
        for path in digit_images(digit, 12):
            shutil.copy(path, root / str(digit) / path.name)
    return root
