"""`signcaps predict` on a mixed folder of real hands, a blank image and a fake JPEG."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import HAND_MODEL
from typer.testing import CliRunner

from signcaps.cli import app


@pytest.fixture(scope="module")
def mixed(tiny, tmp_path_factory):
    """hand.jpg + nested/deeper/hand2.jpg (real hands), blank.png, fake.jpg (text), notes.txt (ignored)."""
    from signcaps.data.crops import load_cache

    crops = load_cache(next((tiny["data"].parent / "cache").glob("*.npz")))
    with_hand = [i for i in range(len(crops)) if not crops.fallback[i]]
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "nested" / "deeper").mkdir(parents=True)
    picks = {"hand.jpg": with_hand[0], "nested/deeper/hand2.jpg": with_hand[-1]}
    for name, index in picks.items():
        (folder / name).write_bytes((tiny["data"] / crops.paths[index]).read_bytes())
    cv2.imwrite(str(folder / "blank.png"), np.full((240, 320, 3), 200, np.uint8))
    (folder / "fake.jpg").write_text("this is not a picture\n")
    (folder / "notes.txt").write_text("ignored: not an image name\n")
    expected = {name: crops.crops[index] for name, index in picks.items()}
    return folder, expected


def test_predict_json_on_a_mixed_folder(tiny, mixed):
    from signcaps.runtime.classifier import OnnxClassifier

    folder, expected = mixed
    result = CliRunner().invoke(app, ["predict", str(folder), "--model", str(tiny["onnx"]),
                                      "--hand-model", str(HAND_MODEL), "--json"])
    assert result.exit_code == 0, result.output
    rows = {Path(r["file"]).relative_to(folder).as_posix(): r for r in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {"blank.png", "fake.jpg", "hand.jpg", "nested/deeper/hand2.jpg"}

    blank, fake = rows["blank.png"], rows["fake.jpg"]
    assert (blank["status"], blank["hand"], blank["class"], blank["confidences"]) == ("no hand", False, None, None)
    assert (fake["status"], fake["hand"], fake["class"]) == ("unreadable", False, None)
    assert "not a decodable image" in fake["error"]

    clf = OnnxClassifier(tiny["onnx"])
    assert blank["best"] is None and blank["reason"] is None and "pose_error" not in blank
    for name, crop in expected.items():
        row = rows[name]
        assert row["hand"] is True and row["handedness"] in ("Left", "Right")
        assert set(row["confidences"]) == set(clf.classes)
        # the same detector settings and crop path as the training cache -> the same numbers
        want = clf.classify_crops([crop])[0]
        best = clf.classes[int(want.argmax())]
        assert row["best"] == best
        assert row["confidence"] == pytest.approx(float(want.max()), abs=1e-4)
        assert np.allclose([row["confidences"][c] for c in clf.classes], want, atol=1e-4)
        # the model's rule (none in its metadata: the default, 0.6) decides; a rejected hand has no class
        if want.max() >= 0.6:
            assert (row["status"], row["class"], row["reason"]) == ("ok", best, "")
        else:
            assert (row["status"], row["class"], row["reason"]) == ("uncertain", None, "below threshold")
        assert "pose_error" not in row  # the default rule does not measure it


def test_predict_table(tiny, mixed):
    folder, _ = mixed
    result = CliRunner().invoke(app,
                                ["predict", str(folder / "blank.png"), str(folder / "fake.jpg"),
                                      str(folder / "hand.jpg"),
                                      "--model", str(tiny["onnx"]), "--hand-model", str(HAND_MODEL)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "no hand" in out and "unreadable" in out and "confidence" in out and "best" in out
    assert "3 file(s): 1 classified (" in out and "), 1 without a hand, 1 unreadable" in out
    assert "rule: ok from 0.60" in out


def test_predict_bad_paths(tiny, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(tmp_path / "nope.jpg"), "--model", str(tiny["onnx"])])
    assert result.exit_code == 1 and "no such file or directory" in result.output and "Traceback" not in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["predict", str(tmp_path / "empty"), "--model", str(tiny["onnx"])])
    assert result.exit_code == 1 and "no image files" in result.output and "Traceback" not in result.output


def _rows(result, folder: Path) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    return {Path(r["file"]).relative_to(folder).as_posix(): r for r in map(json.loads, result.stdout.splitlines())}


def test_predict_applies_the_models_rejection_rule_and_threshold(tiny, mixed, tmp_path):
    """A rule in the metadata decides: "none" for short capsules or the none class, "?" below the threshold;
    --threshold overrides the rule's accept (and takes none_below down with it)."""
    from rejectmodels import with_rule

    from signcaps.runtime.classifier import OnnxClassifier
    from signcaps.signs.rejection import RejectionRule

    folder, expected = mixed
    hands = [str(folder / "hand.jpg"), str(folder / "nested/deeper/hand2.jpg")]
    clf = OnnxClassifier(tiny["onnx"])
    want = {name: clf.classify_crops([crop])[0] for name, crop in expected.items()}
    short = with_rule(tiny["onnx"], tmp_path / "short.onnx", RejectionRule(accept=1.0, none_below=1.0))
    args = ["--hand-model", str(HAND_MODEL), "--json"]
    rows = _rows(CliRunner().invoke(app, ["predict", *hands, "--model", str(short), *args]), folder)
    for name, row in rows.items():
        assert (row["status"], row["class"], row["reason"]) == ("none", None, "all capsules short")
        assert row["best"] == clf.classes[int(want[name].argmax())] and row["confidences"] is not None
    rows = _rows(CliRunner().invoke(app, ["predict", *hands, "--model", str(short), "--threshold", "0", *args]),
                 folder)
    assert {(r["status"], r["class"]) for r in rows.values()} == {("ok", r["best"]) for r in rows.values()}
    # the tiny model's answer on hand.jpg made the "no sign" class: the next best sign is shown as best
    picked = clf.classes[int(want["hand.jpg"].argmax())]
    none = with_rule(tiny["onnx"], tmp_path / "none-class.onnx", RejectionRule(accept=0.0, none_class=picked))
    rows = _rows(CliRunner().invoke(app, ["predict", *hands, "--model", str(none), *args]), folder)
    assert (rows["hand.jpg"]["status"], rows["hand.jpg"]["reason"]) == ("none", "none class")
    second = np.argsort(-want["hand.jpg"], kind="stable")[1]
    assert rows["hand.jpg"]["best"] == clf.classes[int(second)]
    # the table marks rejected hands: "none" and "?"
    result = CliRunner().invoke(app, ["predict", hands[0], "--model", str(short), "--hand-model", str(HAND_MODEL)])
    row = next(line for line in result.stdout.splitlines() if "hand.jpg" in line)
    assert result.exit_code == 0 and row.split("│")[2].split() == ["none", f"({picked})"], result.stdout
    assert "1 classified (0 a sign, 0 '?' uncertain, 1 none)" in result.output and "none below 1.00" in result.output
    high = with_rule(tiny["onnx"], tmp_path / "high.onnx", RejectionRule(accept=1.0))
    result = CliRunner().invoke(app, ["predict", hands[0], "--model", str(high), "--hand-model", str(HAND_MODEL)])
    row = next(line for line in result.stdout.splitlines() if "hand.jpg" in line)
    assert result.exit_code == 0 and row.split("│")[2].split()[0] == "?" and "1 '?' uncertain" in result.output


def test_predict_threshold_out_of_range_is_one_line(tiny, mixed):
    folder, _ = mixed
    result = CliRunner().invoke(app, ["predict", str(folder / "hand.jpg"), "--model", str(tiny["onnx"]),
                                      "--threshold", "1.5"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == ["error: --threshold must be >= 0 and <= 1, got 1.5"]


def test_predictor_api_takes_a_threshold(tiny, mixed):
    from signcaps.runtime.predict import Predictor

    folder, _ = mixed
    with Predictor(tiny["onnx"], HAND_MODEL, threshold=0.0) as predictor:
        row = predictor.predict(folder / "hand.jpg")
        assert predictor.rule.accept == 0.0 and (row["status"], row["class"]) == ("ok", row["best"])


def test_the_shipped_model_rejects_real_negatives_and_accepts_digits():
    """The shipped default's own rule on ASL letters whose handshape is no digit (the letters' test split) and
    on digit photos of unseen participants. Waits for a default model that carries a rejection rule."""
    from conftest import DIGITS
    from rejectmodels import LETTERS, NO_DIGIT_LETTERS
    from test_default_model import TEST_PHOTOS

    from signcaps.runtime.predict import Predictor

    with Predictor(None, HAND_MODEL) as predictor:
        if "rejection" not in predictor.clf.meta:
            pytest.skip("the shipped default model has no rejection rule yet (metadata format 3 'rejection')")
        negatives = [p for letter in NO_DIGIT_LETTERS for p in sorted((LETTERS / "test" / letter).glob("*.jpg"))]
        rows = [r for r in predictor.predict_all(negatives) if r["hand"]]
        digits = [predictor.predict(DIGITS / rel) for rel in TEST_PHOTOS]
    rejected = [r for r in rows if r["class"] is None]
    assert len(rows) >= 20 and len(rejected) >= 0.9 * len(rows), \
        f"{len(rows) - len(rejected)} of {len(rows)} no-digit letters accepted: " + ", ".join(
            f"{Path(r['file']).name[:4]} as {r['class']} ({r['confidence']:.2f})" for r in rows if r["class"])
    right = [r for r, rel in zip(digits, TEST_PHOTOS) if r["status"] == "ok" and r["class"] == rel.split("/")[0]]
    assert len(right) >= len(TEST_PHOTOS) - 1, [(r["file"], r["status"], r["best"]) for r in digits if r not in right]
