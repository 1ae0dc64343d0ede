"""Robustness sweeps on tiny real models: one accuracy per setting, identity = plain accuracy."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from signcaps.cli import app
from signcaps.commands.explain import print_comparison
from signcaps.commands.training import print_robustness
from signcaps.training.robustness import SWEEPS, affine, apply_transform, brightness


def test_transforms_are_deterministic_and_exact():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    for transform, (_, identity, _) in SWEEPS.items():
        assert apply_transform(crops, transform, identity) is crops, transform
    # 90 degrees about the exact pixel centre is a pure pixel permutation (counter-clockwise)
    assert np.array_equal(affine(crops, angle=90), np.rot90(crops, k=1, axes=(1, 2)))
    shifted = affine(crops, shift_x=0.25)  # 2 of 8 pixels right, left edge replicated
    assert np.array_equal(shifted[:, :, 2:], crops[:, :, :6])
    assert np.array_equal(shifted[:, :, 0], crops[:, :, 0]) and np.array_equal(shifted[:, :, 1], crops[:, :, 0])
    brighter = brightness(np.array([[[0, 100, 250]]], np.uint8), 0.1)
    assert brighter.tolist() == [[[26, 126, 255]]]
    assert np.array_equal(apply_transform(crops, "rotation", 30), apply_transform(crops, "rotation", 30))


def test_eval_robustness_gives_one_accuracy_per_setting_and_identity_is_plain_accuracy(tiny_runs, tmp_path, capsys):
    checkpoint = tiny_runs / "capsnet" / "best.pt"
    result = CliRunner().invoke(app, ["eval", str(checkpoint), "--robustness", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout.strip().splitlines()[-1])
    plain, sweep = evaluation["report"], evaluation["robustness"]
    assert sweep["model"] == "capsnet" and sweep["checkpoint"] == str(checkpoint)
    assert sweep["samples"] == plain["samples"] > 0
    for transform, (values, identity, _) in SWEEPS.items():
        rows = sweep[transform]
        assert [r["value"] for r in rows] == list(values)
        assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
        assert [r["accuracy"] for r in rows if r["value"] == identity] == [plain["accuracy"]], transform
    assert [r["value"] for r in sweep["rotation"]] == [-60, -45, -30, -15, 0, 15, 30, 45, 60]
    assert (tmp_path / "robustness.png").is_file()
    saved = json.loads((tmp_path / "robustness.json").read_text())
    assert saved["rotation"] == sweep["rotation"] and saved["samples"] == sweep["samples"]

    print_robustness(sweep)  # the table `eval --robustness` prints without --json
    printed = capsys.readouterr().out
    assert ("rotation -60°" in printed and "brightness +0.4" in printed
            and str(tmp_path / "robustness.png") in printed.replace("\n", ""))


def test_robustness_command_compares_checkpoints(tiny_runs, tmp_path, capsys):
    args = ["robustness", str(tiny_runs / "capsnet" / "best.pt"), str(tiny_runs / "cnn" / "best.pt"), "--out",
            str(tmp_path), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [m["model"] for m in report["models"]] == ["capsnet", "cnn"]
    assert all(len(m[t]) == len(SWEEPS[t][0]) for m in report["models"] for t in SWEEPS)
    for name in ("robustness-rotation.png", "robustness.png", "robustness-compare.json"):
        assert (tmp_path / name).is_file(), name

    print_comparison(report)  # the table printed without --json
    lines = capsys.readouterr().out.splitlines()
    assert any("capsnet" in line and "cnn" in line for line in lines)  # one column per model
    scale_rows = [line for line in lines if "scale x1.0" in line]
    assert len(scale_rows) == 1 and scale_rows[0].count("%") == 2
    assert sum("%" in line for line in lines) == sum(len(v) for v, _, _ in SWEEPS.values())  # one row per setting


def test_pose_models_turn_their_landmarks_with_the_rotated_crop(tiny_pose_models, tmp_path):
    """For models that read landmarks, a rotated crop comes with its pose rotated alike; scale, shift
    and brightness leave a normalised pose unchanged. The identity setting is the plain accuracy."""
    from signcaps.hands.landmarks import normalize_pose
    from signcaps.training.evaluate import evaluate_checkpoint
    from signcaps.training.robustness import compare_checkpoints, transform_poses

    pose = normalize_pose(np.random.default_rng(0).normal(0, 30, (21, 3)), False, False)[None]
    assert transform_poses(pose, "scale", 0.7) is pose and transform_poses(pose, "rotation", 0.0) is pose
    turned = transform_poses(pose, "rotation", 90.0)[0]
    assert np.allclose(turned[:, 0], pose[0, :, 1], atol=1e-5) and np.allclose(turned[:, 1], -pose[0, :, 0], atol=1e-5)

    checkpoint = tiny_pose_models["fused-capsnet"]["checkpoint"]
    result = compare_checkpoints([checkpoint], out_dir=tmp_path, show_progress=False)
    plain = evaluate_checkpoint(checkpoint, None, "auto", None, tmp_path, show_progress=False)["report"]["accuracy"]
    zero = next(r for r in result["models"][0]["rotation"] if r["value"] == 0)
    assert zero["accuracy"] == pytest.approx(plain)
