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
               "--set", f"model.params={TINY}", "--set", "data.retakes=0"])  # tiny and quick; the recipe's negatives as shipped
    assert run.code == 0, run.output
    said = flat(run.output)
    assert said.count("is not installed") == 1 and "signcaps data fetch asl-letters" in said
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and (tmp_path / "run" / "best.pt").is_file()
