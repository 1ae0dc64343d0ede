"""A user's own signs (issues 25 and 29): a plain `train --data FOLDER` never fails for a dataset the user
never asked for, and reports how its model answers its own held-out photos."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from badinput import cli
from conftest import TINY_FUSED, digit_images

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared

TINY = json.dumps(TINY_FUSED).replace('"', "")


def flat(text: str) -> str:
    """Rich wraps long warnings at the terminal width: compare words, not lines."""
    return " ".join(text.split())


def test_own_digits_train_on_a_fresh_install_without_the_letters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The default recipe wants the ASL letters as negatives; a user's own 0-9 folder trains without
    them, with one warning that says what is missing and how to add it (issue 29, item 5)."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SIGNCAPS_DATA_DIR", str(tmp_path / "empty"))  # no dataset installed
    monkeypatch.setenv("SIGNCAPS_CACHE_DIR", str(tmp_path / "user-cache"))  # a user cache without them too
    data = tmp_path / "my-digits"
    for digit in range(10):
        (data / str(digit)).mkdir(parents=True)
        for image in digit_images(digit, 4):
            (data / str(digit) / image.name).symlink_to(image)
    run = cli(["train", "--data", data, "--run-dir", tmp_path / "run", "--epochs", "1",
               "--set", f"model.params={TINY}", "--set", "data.retakes=0"])  # tiny; the recipe's negatives as shipped
    assert run.code == 0, run.output
    said = flat(run.output)
    assert said.count("is not installed") == 1 and "signcaps data fetch asl-letters" in said
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and (tmp_path / "run" / "best.pt").is_file()


LETTERS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "asl-letters"


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's own three signs, A, B and C: 3 original photos x their 3 copies each (real shared
    photos, named as the letters set names them), and a none/ folder of 9 photos of other letters."""
    from signcaps.data.copies import copy_name

    root = tmp_path_factory.mktemp("my-letters")
    for sign in "ABC":
        photos = sorted((LETTERS / "train" / sign).glob("*.jpg"))
        originals = sorted({copy_name(p.name) for p in photos})[:3]
        (root / sign).mkdir()
        for path in photos:
            if copy_name(path.name) in originals:
                (root / sign / path.name).symlink_to(path)
    (root / "none").mkdir()
    for letter in "LVY":  # one copy each of 3 originals
        firsts = {}
        for path in sorted((LETTERS / "train" / letter).glob("*.jpg")):
            firsts.setdefault(copy_name(path.name), path)
        for path in list(firsts.values())[:3]:
            (root / "none" / path.name).symlink_to(path)
    return root


def test_a_small_set_trains_enough_steps_and_reports_the_rule_on_its_test_split(letters: Path, tmp_path: Path):
    """The default recipe on a tiny set: more epochs (train.min_steps, said in one line), then the rule's
    "accepted and right" and "refused" rates of its test split, from train and from export, and the warning
    when the rule refuses most of the model's own signs (here a rule that accepts only lengths >= 0.99)."""
    run = cli(["train", "--data", letters, "--set", f"model.params={TINY}", "--set", "data.retakes=0",
               "--set", "negatives.root=null", "--set", "train.min_steps=60", "--set", f"data.cache_dir={tmp_path}",
               "--set", "negatives.accept=0.99", "--set", "negatives.none_below=0.99", "--run-dir", tmp_path / "run"])
    said = flat(run.output)
    assert run.code == 0, run.output
    assert "small dataset: " in said and "training 60 epochs instead of 40" in said  # 1 batch an epoch: 60 steps
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    rates = metrics["test_rule"]
    assert metrics["epochs"] == 60 and rates["signs"] >= 3 and rates["negatives"] >= 1  # held-out originals, none/
    assert rates["accepted_right"] == 0 and rates["refused"] == rates["negatives"] and rates["signs_refused_rate"] == 1
    line = f"test split, with the model's rule: signs accepted and right 0.0% (0/{rates['signs']}), negatives refused "
    assert f"{line}100.0% ({rates['negatives']}/{rates['negatives']})" in said
    assert f"warning: the model refuses 100% of the signs of its own test split ({rates['signs']} photos)" in said
    exported = cli(["export", tmp_path / "run" / "best.pt", "-o", tmp_path / "model.onnx", "--json"])
    report, _ = json.JSONDecoder().raw_decode(exported.output[exported.output.index("{"):])  # then the warning
    assert exported.code == 0 and report["rule_rates"] == rates  # the ONNX, through onnxruntime, says the same
    assert report["warnings"] == [f"the model refuses 100% of the signs of its own test split ({rates['signs']} "
                                  f"photos): it would answer \"none\" or \"?\" for most of your signs; train "
                                  "longer (train.min_steps), add photos per sign, or make the none/ folder smaller "
                                  "than each sign's folder"]
    relaxed = cli(["export", tmp_path / "run" / "best.pt", "-o", tmp_path / "relaxed.onnx", "--accept", "0",
                   "--none-below", "0"])
    assert relaxed.code == 0 and "refuses" not in relaxed.output  # every hand shown: nothing to warn about
    assert "signs accepted and right" in flat(relaxed.output)


def test_the_recipes_letters_are_negatives_for_any_sign_set_but_its_own_signs():
    """The default recipe's ASL letters were chosen for the digits; a user's letters A, B, C get every
    other letter the recipe names as negatives, a partial digit set keeps V = 2 and O = 0 as its signs."""
    from signcaps.data.folders import negative_folders
    from signcaps.util.config import load_recipe

    neg = load_recipe("fused-capsnet").negatives
    digits = [str(d) for d in range(10)]
    assert negative_folders(neg, digits) == (tuple(neg.classes), {"V": 2, "W": 6, "F": 9, "O": 0})  # as shipped
    folders, signs = negative_folders(neg, ["A", "b", "C"])
    assert signs == {} and not {"A", "B", "C"} & set(folders) and {"L", "V", "W", "F", "O"} <= set(folders)
    folders, signs = negative_folders(neg, ["0", "1", "2", "3", "4"])
    assert signs == {"V": 2, "O": 0} and {"W", "F"} <= set(folders) and not {"V", "O"} & set(folders)
