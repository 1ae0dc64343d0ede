"""Reliability of capsule lengths and the threshold rule (synthetic lengths); `signcaps calibrate` on real photos."""
import numpy as np
import pytest

from signcaps.runtime.calibration import reliability


def _lengths(winning: list[float], right: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.full((len(winning), 3), 0.05, np.float32)
    lengths[:, 0] = winning
    labels = np.array([0 if ok else 1 for ok in right])
    return lengths, labels


def test_bins_accuracy_and_ece():
    lengths, labels = _lengths([0.95] * 10 + [0.55] * 10, [True] * 10 + [True] * 5 + [False] * 5)
    rel = reliability(lengths, labels)
    top, mid = rel.bins[9], rel.bins[5]
    assert (top.count, top.accuracy) == (10, 1.0) and (mid.count, mid.accuracy) == (10, 0.5)
    assert rel.ece == pytest.approx((10 * 0.05 + 10 * 0.05) / 20, abs=1e-5)
    assert rel.accuracy == 0.75
    assert rel.threshold == 0.9


def test_threshold_starts_above_the_unreliable_bins():
    lengths, labels = _lengths([0.95] * 20 + [0.75] * 10 + [0.55] * 10, [True] * 32 + [False] * 8)
    rel = reliability(lengths, labels)
    assert rel.threshold == 0.7  # the 0.5 bin is mostly wrong; the lowest reliable populated bin starts at 0.7
    assert rel.kept == 0.75 and rel.kept_accuracy == 1.0


def test_one_miss_in_a_few_images_is_not_evidence_of_an_unreliable_bin():
    from signcaps.runtime.calibration import wilson_upper

    assert wilson_upper(5 / 6, 6) > 0.95 > wilson_upper(0.5, 10)
    lengths, labels = _lengths([0.95] * 100 + [0.65] * 6, [True] * 100 + [True] * 5 + [False])
    assert reliability(lengths, labels).threshold == 0.6


def test_the_threshold_never_goes_below_the_evidence():
    lengths, labels = _lengths([0.95] * 30 + [0.45] * 2 + [0.15] * 3, [True] * 30 + [False] * 2 + [True] * 3)
    assert reliability(lengths, labels).threshold == 0.9  # sparse bins below: no evidence to show guesses there
    lengths, labels = _lengths([0.95] * 30 + [0.75] * 8, [True] * 30 + [True] * 8)
    assert reliability(lengths, labels).threshold == 0.7
    lengths, labels = _lengths([0.95] * 10, [False] * 10)
    assert reliability(lengths, labels).threshold == 1.0  # nothing reliable: always "?"


@pytest.mark.shared
def test_calibrate_command_writes_the_diagram_and_the_table(tmp_path):
    """`signcaps calibrate` end to end on a small folder of real dataset photos (2 per digit)."""
    import json
    import shutil

    from conftest import DIGITS, HAND_MODEL
    from typer.testing import CliRunner

    from signcaps.cli import app

    for digit in range(10):
        (tmp_path / "data" / str(digit)).mkdir(parents=True)
        for photo in sorted((DIGITS / str(digit)).glob("*.JPG"))[:2]:
            shutil.copy(photo, tmp_path / "data" / str(digit) / photo.name)
    result = CliRunner().invoke(app, ["calibrate", "--data", str(tmp_path / "data"), "--split", "all", "--json",
                                      "--out", str(tmp_path / "out"), "--hand-model", str(HAND_MODEL)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 20 and report["hands_found"] >= 18
    assert sum(b["count"] for b in report["bins"]) == report["hands_found"]
    assert 0.0 <= report["threshold"] <= 1.0 and report["accuracy"] >= 0.8
    assert (tmp_path / "out" / "reliability-default_model-all.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "out" / "reliability-default_model-all.json").read_text())
    assert saved["threshold"] == report["threshold"]
    # the recommendation against the model's own rule, and the sample-size warnings (20 images, 2 per class)
    story = report["threshold_story"]
    assert story["model_accept"] == report["rule"]["accept"] and story["recommended"] == report["threshold"]
    assert story["agrees"] == (story["recommended"] == story["model_accept"]) and story["why"]
    assert any("only 20 images with a hand" in w or f"only {report['hands_found']} images" in w
               for w in report["warnings"])
    assert any("class(es) with fewer than 20 images" in w for w in report["warnings"])
    text = CliRunner().invoke(app, ["calibrate", "--data", str(tmp_path / "data"), "--split", "all", "--out",
                                    str(tmp_path / "out2"), "--hand-model", str(HAND_MODEL)])
    assert text.exit_code == 0 and "warning: only" in text.output and "Traceback" not in text.output
    assert ("the model's rule agrees" in text.output) != ("to adopt it: --threshold" in text.output)


def test_calibrate_says_why_it_differs_from_the_models_rule_and_what_adopting_changes():
    from signcaps.runtime.calibration import threshold_story

    lengths, labels = _lengths([0.95] * 100 + [0.65] * 3, [True] * 103)
    rel = reliability(lengths, labels)
    conf, right = lengths.max(axis=1), lengths.argmax(axis=1) == labels
    rows = {"model rule": [{"set": "signs (test)", "measure": "accepted and right", "rate": 1.0, "good": 103,
                            "images": 103}],
            "recommended threshold": [{"set": "signs (test)", "measure": "accepted and right", "rate": 0.9709,
                                       "good": 100, "images": 103}]}
    story = threshold_story(rel.threshold, 0.5, conf, right, rel.bins, rows)
    assert rel.threshold == 0.9 and not story["agrees"]
    assert "3 image(s) with a winning length from 0.5 to 0.9 (3 right)" in story["why"]
    assert "does not vouch" in story["why"]
    assert story["adopting"] == ["signs (test): accepted and right 100.00% -> 97.09% (-3 of 103)"]
    # images between the two shown to be wrong too often: said so
    lengths, labels = _lengths([0.95] * 100 + [0.65] * 10, [True] * 100 + [False] * 10)
    rel = reliability(lengths, labels)
    story = threshold_story(rel.threshold, 0.5, lengths.max(axis=1), lengths.argmax(axis=1) == labels, rel.bins, {})
    assert "right 0 times (0%)" in story["why"] and "too often wrong" in story["why"]
    agree = threshold_story(0.9, 0.9, lengths.max(axis=1), lengths.argmax(axis=1) == labels, rel.bins, {})
    assert agree["agrees"] and agree["adopting"] == []


def test_sample_size_warnings_below_200_images_or_20_of_a_class():
    from signcaps.runtime.calibration import sample_size_warnings

    classes = [str(d) for d in range(10)]
    assert sample_size_warnings(np.repeat(np.arange(10), 28), classes) == []  # the shipped test split: 26-29 each
    small = sample_size_warnings(np.repeat(np.arange(3), 4), ["A", "B", "C"])  # the 12-image split
    assert len(small) == 2 and "only 12 images" in small[0] and "A (4), B (4), C (4)" in small[1]
    uneven = sample_size_warnings(np.concatenate([np.repeat(np.arange(9), 30), np.full(5, 9)]), classes)
    assert len(uneven) == 1 and "9 (5)" in uneven[0]
