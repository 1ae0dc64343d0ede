"""Results checked before exit 0, names checked before work, and library noise (issue 26; classes 20,
23 and 25 of docs/RELIABILITY.md):

20. a negatives folder that does not exist or holds nothing held out is refused by `openset`; a
    `train/ valid/ test/<class>` layout is refused in one line, never trained as three classes; a
    one-class dataset stops; empty classes and classes without a found hand warn, and stop when
    fewer than two are left; `summarize` keeps runs of different datasets apart;
23. `bench variants --shift` checks its names in one line before any export;
25. a command started from a deleted folder is one line, not torch's oneMKL fatal error.

Cases go through `badinput.attempt` (recorded for the table of docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from badinput import ROOT, Outcome, attempt, cli
from conftest import DIGITS, TINY_CNN, TINY_PARAMS, digit_images
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.shared
DEFAULT_MODEL = ROOT / "signcaps" / "resources" / "default_model.onnx"


def tiny_train(data: Path, run: Path, cache: Path) -> list:
    return ["train", "--data", data, "--run-dir", run, "--epochs", "1", "--device", "cpu", "--model", "cnn",
            "--set", TINY_CNN, "--set", "data.split=stratified", "--set", "data.val_fraction=0.25",
            "--set", "data.test_fraction=0.25", "--set", f"data.cache_dir={cache}", "--set", "augment.enabled=false"]


def make_data(root: Path, layout: dict[str, int | str]) -> Path:
    """Class folder -> number of real photos of that digit (a class name that is a digit) or
    'blank' (4 plain grey pictures: no hand) or 0 (an empty folder)."""
    for folder, what in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        if what == "blank":
            for k in range(4):
                cv2.imwrite(str(root / folder / f"blank{k}.png"), np.full((120, 160, 3), 200, np.uint8))
        elif what:
            digit = int(Path(folder).name) if Path(folder).name.isdigit() else 0
            for image in digit_images(digit, int(what)):
                shutil.copy(image, root / folder / image.name)
    return root


# ------------------------------------------------------------------------ 20. results checked


@pytest.mark.parametrize("negatives", ["missing", "no held-out split"])
def test_openset_refuses_negatives_it_cannot_use(tmp_path: Path, negatives: str) -> None:
    root = tmp_path / "negatives"
    if negatives == "no held-out split":
        make_data(root, {"A": 2})
    outcome = attempt("openset", f"negatives folder: {negatives}",
                      lambda: cli(["openset", DEFAULT_MODEL, "--set", f"data.root={DIGITS}",
                                   "--set", f"negatives.root={root}", "--out", tmp_path / "out"]),
                      code=1, message="negatives folder", cls="r3-results")
    assert "Traceback" not in outcome.output and not (tmp_path / "out" / "openset.json").exists()


@pytest.mark.parametrize("command", ["train", "data prepare"])
def test_a_split_layout_is_recognised_not_trained_as_three_classes(tmp_path: Path, command: str) -> None:
    """A `train/ valid/ test/<class>` folder (issue 26 item 8: recognised or refused) is recognised: its
    classes are the folders inside, and `train` keeps the split it was published with (issue 29)."""
    data = make_data(tmp_path / "split", {f"{part}/{digit}": 2 for part in ("train", "valid", "test")
                                         for digit in ("0", "1")})
    args = (tiny_train(data, tmp_path / "run", tmp_path / "cache") if command == "train"
            else ["data", "prepare", "--src", data, "--set", f"data.cache_dir={tmp_path / 'cache'}"])
    outcome = attempt(command, "a train/ valid/ test/<class> layout", lambda: cli(args), code=0, cls="r3-results")
    assert "│ valid" not in outcome.output and "│ train" not in outcome.output  # never a class of its own
    if command == "train":
        split = json.loads((tmp_path / "run" / "split.json").read_text())
        assert {Path(p).parts[0] for p in split["test"]} == {"test"}
        assert {Path(p).parts[0] for p in split["val"]} == {"valid"}
        assert torch_classes(tmp_path / "run" / "best.pt") == ["0", "1"]


def torch_classes(checkpoint: Path) -> list[str]:
    import torch

    return list(torch.load(checkpoint, map_location="cpu", weights_only=False)["classes"])


def test_a_one_class_dataset_stops_in_one_line(tmp_path: Path) -> None:
    data = make_data(tmp_path / "one", {"0": 4})
    attempt("train", "a dataset with one class", lambda: cli(tiny_train(data, tmp_path / "run", tmp_path / "cache")),
            code=1, message="at least two classes", absent=[tmp_path / "run" / "best.pt"], cls="r3-results")


def test_empty_and_handless_classes_warn_and_stop_when_one_is_left(tmp_path: Path) -> None:
    data = make_data(tmp_path / "warn", {"0": 4, "1": 4, "2": 0, "3": "blank"})
    warned = attempt("train", "an empty class folder and a class where no hand is found",
                     lambda: cli(tiny_train(data, tmp_path / "run", tmp_path / "cache")), code=0,
                     note="trained, with a warning for each class", cls="r3-results")
    assert "have no images: 2" in warned.output and "have no photo where a hand was found: 3" in warned.output
    lone = make_data(tmp_path / "lone", {"0": 4, "3": "blank"})
    attempt("train", "two classes, one without any hand found",
            lambda: cli(tiny_train(lone, tmp_path / "run2", tmp_path / "cache")), code=1,
            message="at least two classes", absent=[tmp_path / "run2" / "best.pt"], cls="r3-results")


def metrics(recipe: str, seed: int, fingerprint: str | None, acc: float) -> dict:
    return {"model": "cnn", "recipe": recipe, "seed": seed, "params": 1000, "epochs": 1, "seconds_per_epoch": 1.0,
            "train_seconds": 1.0, "test_acc": acc, **({"data_fingerprint": fingerprint} if fingerprint else {})}


def test_summarize_keeps_runs_of_different_datasets_apart(tmp_path: Path) -> None:
    runs = []
    for k, (fingerprint, acc) in enumerate((("aaaaaaaaaaaaaaaa", 0.9), ("aaaaaaaaaaaaaaaa", 0.8),
                                            ("bbbbbbbbbbbbbbbb", 0.2))):
        (tmp_path / f"r{k}").mkdir()
        (tmp_path / f"r{k}" / "metrics.json").write_text(json.dumps(metrics("small", k, fingerprint, acc)))
        runs.append(tmp_path / f"r{k}")
    outcome = attempt("summarize", "runs of one recipe on two datasets", lambda: cli(["summarize", *runs, "--json"]),
                      code=0, note="two rows, one per dataset", cls="r3-results")
    rows = json.loads(outcome.output)
    assert sorted((r["data_fingerprint"], r["test_accs"]) for r in rows) == [
        ("aaaaaaaaaaaaaaaa", [0.9, 0.8]), ("bbbbbbbbbbbbbbbb", [0.2])]
    assert {r["model"] for r in rows} == {"small (cnn) on data aaaaaaaa", "small (cnn) on data bbbbbbbb"}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([None, "f1", "f2"]),
                          st.floats(0, 1)), min_size=1, max_size=8))
def test_summarize_never_averages_over_two_datasets(runs: list) -> None:
    from signcaps.training.summary import summarize

    rows = summarize([{**metrics(r, k, f, acc), "run_dir": str(k)} for k, (r, f, acc) in enumerate(runs)])
    assert len(rows) == len({(r, f) for r, f, _ in runs})
    assert sum(len(row["seeds"]) for row in rows) == len(runs)
    for row in rows:
        assert {f for k, (_, f, _) in enumerate(runs) if k in row["seeds"]} == {row["data_fingerprint"]}


# ------------------------------------------------------------------------ 23. unchecked names


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny capsnet checkpoint with untrained weights (the refusals happen before its numbers matter)."""
    import torch

    from signcaps.models.checkpoint import save_checkpoint
    from signcaps.models.registry import build_model
    from signcaps.util.config import recipe_from_dict

    recipe = recipe_from_dict({"data": {"root": str(DIGITS)}, "model": {"name": "capsnet", "params": TINY_PARAMS}})
    torch.manual_seed(0)
    model = build_model(recipe.model, recipe.crop, 10)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint({"recipe": recipe.to_dict(), "classes": [str(i) for i in range(10)], "version": "test",
                     "data_fingerprint": "none", "model_state": model.state_dict(), "epoch": 0, "val_acc": 0.0}, path)
    return path


@pytest.mark.parametrize("names", [["bogus"], ["blur", "Blur"], ["blur", ""]])
def test_bench_variants_checks_shift_names_before_any_export(tmp_path: Path, checkpoint: Path, names: list) -> None:
    out = tmp_path / "variants"
    args = ["bench", "variants", checkpoint, "--out", out, *[a for n in names for a in ("--shift", n)]]
    attempt("bench variants", f"--shift {' '.join(repr(n) for n in names)}", lambda: cli(args), code=1,
            message="unknown shift(s)", absent=[out], cls="r3-names")


# ------------------------------------------------------------------------ 25. library noise


def in_deleted_folder(args: list) -> Outcome:
    """`python -m signcaps ARGS` started from a folder deleted after the shell entered it."""
    script = 'mkdir -p "$1" && cd "$1" && rmdir "$1" && shift && exec "$@"'
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"signcaps-gone-{os.getpid()}"
    proc = subprocess.run(["sh", "-c", script, "sh", str(folder), sys.executable, "-m", "signcaps", *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return Outcome(proc.returncode, proc.stdout + proc.stderr)


def test_train_from_a_deleted_folder_is_one_line(tmp_path: Path) -> None:
    outcome = attempt("train", "started from a deleted working folder",
                      lambda: in_deleted_folder(tiny_train(DIGITS, tmp_path / "run", tmp_path / "cache")),
                      code=1, message="the current folder no longer exists", cls="r3-noise")
    assert "oneMKL" not in outcome.output
