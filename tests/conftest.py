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
# Hands are detected in the test's own process (subprocesses inherit it): the suite already runs a
# pytest worker per core, and tests/test_data.py checks worker processes against one, byte for byte.
os.environ.setdefault("SIGNCAPS_WORKERS", "1")


# Tests that need the real data say so: by asking for a data fixture (`shared`, `digits_root`,
# `hand_model`, `mini_digits`, `tiny`, ...), or with the `shared` marker where they read the
# constants above directly. Without ../shared those skip with this one line; the pure unit tests
# (capsules, config, landmarks, models, layering, ...) still run.
MISSING_SHARED = (None if DIGITS.is_dir() and HAND_MODEL.is_file() else
                  f"needs ../shared beside the project (looked in {SHARED}; set SIGNCAPS_SHARED to move it)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """$SIGNCAPS_RELIABILITY_TABLE=FILE: the bad-input suite's records (every module that ran cases)
    as the tables of docs/RELIABILITY.md."""
    import sys

    badinput = sys.modules.get("badinput")
    if badinput is not None:
        badinput.write_table(os.environ.get("SIGNCAPS_RELIABILITY_TABLE"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MISSING_SHARED:
        for item in items:
            if item.get_closest_marker("shared"):
                item.add_marker(pytest.mark.skip(reason=MISSING_SHARED))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder (dataset + hand model); skips the test when it is not there."""
    if MISSING_SHARED:
        pytest.skip(MISSING_SHARED)
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Real hand model, the datasets of ../shared for registered names (`digits`), and a user cache
    that is never the developer's own."""
    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", str(HAND_MODEL))
    monkeypatch.setenv("SIGNCAPS_DATA_DIR", str(SHARED / "datasets"))
    monkeypatch.setenv("SIGNCAPS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "user-cache"))


@pytest.fixture(scope="session")
def digits_root(shared: Path) -> Path:
    return DIGITS


@pytest.fixture(scope="session")
def hand_model(shared: Path) -> Path:
    return HAND_MODEL


def digit_images(digit: int, count: int, start: int = 0) -> list[Path]:
    return sorted((DIGITS / str(digit)).glob("*.JPG"))[start:start + count]


@pytest.fixture(scope="session")
def mini_digits(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real dataset: the first 12 participants' runs of all ten digits (numbered files)."""
    root = tmp_path_factory.mktemp("mini-digits")
    for digit in range(10):
        (root / str(digit)).mkdir()
        for path in digit_images(digit, 12):
            shutil.copy(path, root / str(digit) / path.name)
    return root


@pytest.fixture(scope="session")
def crop_cache(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One crop cache for the tests that train through the CLI's default recipe, shared by the
    pytest workers of a run: its external negatives (the ASL letters, about 1,000 photos, ~45 s of
    MediaPipe) are detected once per run instead of once per test. Cache files are named by the
    content and settings they hold, so sharing changes no result; tests of the cache itself keep
    their own folder."""
    from filelock import FileLock

    from signcaps.data.crops import prepare_negatives
    from signcaps.util.config import load_recipe

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the workers' common folder
    cache = root / "signcaps-shared-crop-cache"
    with FileLock(str(root / "signcaps-shared-crop-cache.lock")):
        if not (cache / "warm").is_file():
            # the registered name resolves through $SIGNCAPS_DATA_DIR, which the tests set after this
            recipe = load_recipe("fused-capsnet", [f"data.cache_dir={cache}",
                                                   f"negatives.root={SHARED / 'datasets' / 'asl-letters'}"])
            prepare_negatives(recipe.negatives, [str(d) for d in range(10)], recipe.data, recipe.crop, recipe.detect,
                              str(HAND_MODEL), show_progress=False)
            (cache / "warm").touch()
    return cache


# ---------------------------------------------------------------- tiny trained models, built once

# Every shape parameter spelled out, so a change of the registry defaults does not change this model.
TINY_PARAMS = {"stem_channels": [8, 16], "stem_kernels": [5, 3], "stem_strides": [2, 2], "stem_padding": [2, 1],
               "batch_norm": True, "primary_maps": 4, "primary_dim": 4, "primary_kernel": 3, "primary_stride": 2,
               "primary_padding": 1, "digit_dim": 8, "decoder_hidden": [32, 64]}
TINY_CAPS = ("model.params={stem_channels: [8, 16], stem_kernels: [5, 3], stem_strides: [2, 2], stem_padding: [2, 1], "
             "primary_maps: 4, primary_stride: 2, primary_padding: 1, decoder_hidden: [32, 64]}")
TINY_CNN = "model.params={channels: [8, 16], fc_hidden: 32}"


@pytest.fixture(scope="session")
def tiny(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """4 real images per class (symlinks), a tiny capsnet trained 3 epochs, and its ONNX export."""
    from signcaps.training.export import export_checkpoint
    from signcaps.training.train import train
    from signcaps.util.config import recipe_from_dict

    root = tmp_path_factory.getbasetemp() / "signcaps-tiny"
    paths = {"data": root / "data", "checkpoint": root / "run" / "best.pt", "onnx": root / "model.onnx"}
    for cls in sorted(p.name for p in DIGITS.iterdir() if p.is_dir()):
        (paths["data"] / cls).mkdir(parents=True, exist_ok=True)
        for image in sorted((DIGITS / cls).iterdir())[:4]:
            (paths["data"] / cls / image.name).symlink_to(image)
    recipe = recipe_from_dict({
        "name": "tiny",
        "data": {"root": str(paths["data"]), "split": "stratified", "val_fraction": 0.25, "test_fraction": 0.25,
                 "cache_dir": str(root / "cache")},
        "model": {"name": "capsnet", "params": TINY_PARAMS},
        "augment": {"enabled": False},
        "train": {"epochs": 3, "batch_size": 8, "lr": 0.01, "device": "cpu", "seed": 0},
    })
    train(recipe, root / "run", hand_model=str(HAND_MODEL), show_progress=False)
    export_checkpoint(paths["checkpoint"], paths["onnx"], hand_model=str(HAND_MODEL), show_progress=False)
    return paths


@pytest.fixture(scope="session")
def tiny_runs(mini_digits: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny capsnet and a tiny CNN (one epoch each) in <base>/capsnet and <base>/cnn."""
    from signcaps.training.train import train
    from signcaps.util.config import load_recipe

    base = tmp_path_factory.getbasetemp() / "signcaps-tiny-runs"
    cache = tmp_path_factory.getbasetemp() / "signcaps-tiny-crop-cache"
    common = [f"data.root={mini_digits}", f"data.cache_dir={cache}", "train.batch_size=16", "train.epochs=1",
              "data.val_fraction=0.2", "data.test_fraction=0.2"]
    train(load_recipe(None, [*common, TINY_CAPS]), base / "capsnet", show_progress=False)
    train(load_recipe(None, [*common, "model.name=cnn", TINY_CNN]), base / "cnn", show_progress=False)
    return base


TINY_FUSED = {**TINY_PARAMS, "caps_per_part": 2, "part_hidden": 16, "pose_decoder_hidden": [16, 32]}
TINY_POSE = {"caps_per_part": 2, "part_dim": 4, "part_hidden": 16, "digit_dim": 8, "decoder_hidden": [16, 32]}


@pytest.fixture(scope="session")
def tiny_pose_models(tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """A tiny fused-capsnet and a tiny pose-capsnet on the `tiny` data (3 epochs each), exported to ONNX."""
    from signcaps.training.export import export_checkpoint
    from signcaps.training.train import train
    from signcaps.util.config import recipe_from_dict

    root = tmp_path_factory.getbasetemp() / "signcaps-tiny-pose"
    models = {}
    for name, params in (("fused-capsnet", TINY_FUSED), ("pose-capsnet", TINY_POSE)):
        recipe = recipe_from_dict({
            "name": f"tiny-{name}",
            "data": {"root": str(tiny["data"]), "split": "stratified", "val_fraction": 0.25, "test_fraction": 0.25,
                     "cache_dir": str(root / "cache")},
            "crop": {"mirror_left": True},
            "negatives": {"synthetic": 0},  # no negatives: the default rule (tests/test_openset.py has both)
            "model": {"name": name, "params": params},
            "augment": {"enabled": False},
            "train": {"epochs": 3, "batch_size": 8, "lr": 0.01, "device": "cpu", "seed": 0},
        })
        run = root / name
        train(recipe, run, hand_model=str(HAND_MODEL), show_progress=False)
        export_checkpoint(run / "best.pt", run / "model.onnx", hand_model=str(HAND_MODEL), show_progress=False)
        models[name] = {"checkpoint": run / "best.pt", "onnx": run / "model.onnx", "data": tiny["data"]}
    return models
