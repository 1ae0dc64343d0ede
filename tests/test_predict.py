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
    from signcaps.data import load_cache

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
    from signcaps.runtime import OnnxClassifier

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
    for name, crop in expected.items():
        row = rows[name]
        assert row["status"] == "ok" and row["hand"] is True and row["handedness"] in ("Left", "Right")
        assert set(row["confidences"]) == set(clf.classes)
        # the same detector settings and crop path as the training cache -> the same numbers
        want = clf.classify_crops([crop])[0]
        assert row["class"] == clf.classes[int(want.argmax())]
        assert row["confidence"] == pytest.approx(float(want.max()), abs=1e-4)
        assert np.allclose([row["confidences"][c] for c in clf.classes], want, atol=1e-4)


def test_predict_table(tiny, mixed):
    folder, _ = mixed
    result = CliRunner().invoke(app,
                                ["predict", str(folder / "blank.png"), str(folder / "fake.jpg"),
                                      str(folder / "hand.jpg"),
                                      "--model", str(tiny["onnx"]), "--hand-model", str(HAND_MODEL)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "no hand" in out and "unreadable" in out and "confidence" in out
    assert "3 file(s): 1 classified, 1 without a hand, 1 unreadable" in out


def test_predict_bad_paths(tiny, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(tmp_path / "nope.jpg"), "--model", str(tiny["onnx"])])
    assert result.exit_code == 1 and "no such file or directory" in result.output and "Traceback" not in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["predict", str(tmp_path / "empty"), "--model", str(tiny["onnx"])])
    assert result.exit_code == 1 and "no image files" in result.output and "Traceback" not in result.output
