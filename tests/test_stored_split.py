"""A model carries the split it was trained on (checkpoint, ONNX metadata); `eval` and
`calibrate` judge it on exactly those held-out files, wherever the folder lies, and refuse
to call other data's images a test split."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import DIGITS

from signcaps.data.folders import DatasetError

pytestmark = pytest.mark.shared


def test_the_export_stores_the_held_out_files_and_eval_uses_them_anywhere(tiny, tmp_path):
    from signcaps.runtime.classifier import load_classifier
    from signcaps.runtime.onnxeval import evaluate_onnx
    from signcaps.training.evaluate import evaluate_checkpoint

    held = json.loads((tiny["checkpoint"].parent / "split.json").read_text())
    record = load_classifier(tiny["onnx"]).meta["split"]
    assert record["method"] == "stratified" and record["seed"] == 0
    assert record["test"] == sorted(Path(p).as_posix() for p in held["test"])
    assert record["val"] == sorted(Path(p).as_posix() for p in held["val"])

    moved = tmp_path / "copy-of-the-data"  # the same photos elsewhere: still their test split
    shutil.copytree(tiny["data"], moved, symlinks=True)
    onnx = evaluate_onnx(tiny["onnx"], moved, "auto", None, tmp_path / "out")
    assert onnx["split"] == "test" and onnx["report"]["samples"] == len(record["test"])
    checkpoint = evaluate_checkpoint(tiny["checkpoint"], moved, "auto", None, tmp_path / "out", show_progress=False)
    assert checkpoint["split"] == "test" and checkpoint["report"]["samples"] == len(record["test"])


def test_other_data_is_never_called_a_test_split(tiny, tmp_path):
    from signcaps.runtime.calibration import calibrate
    from signcaps.runtime.onnxeval import evaluate_onnx
    from signcaps.training.evaluate import evaluate_checkpoint

    other = tmp_path / "other"  # photos the tiny model never saw, none of its held-out files
    for cls in sorted(p.name for p in DIGITS.iterdir() if p.is_dir()):
        (other / cls).mkdir(parents=True)
        for image in sorted((DIGITS / cls).iterdir())[10:12]:
            (other / cls / image.name).symlink_to(image)
    with pytest.raises(DatasetError, match="pass --split all"):
        calibrate(tiny["onnx"], other, "test", None, tmp_path / "cal", show_progress=False)
    with pytest.raises(DatasetError, match="pass --split all"):
        evaluate_checkpoint(tiny["checkpoint"], other, "test", None, tmp_path / "out", show_progress=False)
    assert evaluate_onnx(tiny["onnx"], other, "auto", None, tmp_path / "out")["split"] == "all"
    assert evaluate_checkpoint(tiny["checkpoint"], other, "auto", None, tmp_path / "out",
                               show_progress=False)["split"] == "all"
