"""`signcaps explain` on a tiny real capsule model: the perturbation grid and its PNG."""

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from signcaps.cli import app
from signcaps.models.checkpoint import build_from_checkpoint
from signcaps.training.explain import DELTAS, perturbation_grid, reconstruction


@pytest.fixture(scope="module")
def photo(mini_digits):
    return sorted((mini_digits / "3").glob("*.JPG"))[0]


def test_perturbation_grid_and_reconstruction(tiny_runs):
    model, recipe, _, _ = build_from_checkpoint(tiny_runs / "capsnet" / "best.pt")
    batch = torch.rand(2, 1, 32, 32) * 2 - 1
    recon = reconstruction(model, batch)
    assert recon.shape == (2, 1, 32, 32) and recon.dtype == np.float32
    assert 0.0 <= recon.min() and recon.max() <= 1.0
    grid = perturbation_grid(model, batch[0].numpy())
    assert grid.shape == (16, len(DELTAS), 1, 32, 32) and len(DELTAS) == 11
    assert DELTAS[0] == -0.25 and DELTAS[-1] == 0.25 and DELTAS[5] == 0.0
    centre = grid[:, 5]  # delta 0: every row is the plain reconstruction
    assert np.allclose(centre, recon[0][None], atol=1e-6)
    assert not np.allclose(grid[:, 0], grid[:, -1])  # perturbing does change the picture
    from signcaps.training.explain import dimension_changes, rank_dimensions

    change = dimension_changes(grid)
    ranked = rank_dimensions(grid)
    assert len(ranked) == 5 and change[ranked[0]] == change.max()
    assert list(change[ranked]) == sorted(change[ranked], reverse=True)
    assert change[ranked[-1]] >= np.sort(change)[-5]  # the five largest, best first


def test_explain_writes_png_of_layout_size(tiny_runs, photo, tmp_path):
    png = tmp_path / "out" / "explain.png"
    result = CliRunner().invoke(app, ["explain", str(tiny_runs / "capsnet" / "best.pt"), str(photo), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert "predicted" in result.stdout and str(png) in result.stdout.replace("\n", "")
    image = cv2.imread(str(png))
    # layout for 32x32 crops: cells 32*3 = 96 px, gaps 4, row labels 56, column labels 24, caption 24,
    # header images 2 cells; 11 columns, 5 rows (the dimensions that change the reconstruction most)
    cell, pad = 96, 4
    width = 56 + 11 * cell + 12 * pad
    height = (pad + 24 + 2 * cell + pad) + 24 + 5 * (cell + pad) + pad
    assert image.shape == (height, width, 3) == (752, 1160, 3)
    assert "dimensions that change the image decoding most" in result.stdout


def test_explain_rejects_cnn_and_handless_images(tiny_runs, photo, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app,
                           ["explain", str(tiny_runs / "cnn" / "best.pt"), str(photo), "--out",
                                 str(tmp_path / "x.png")])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "decoder" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.png").exists()

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    result = runner.invoke(app,
                           ["explain", str(tiny_runs / "capsnet" / "best.pt"), str(blank), "--out",
                                 str(tmp_path / "b.png")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "no hand" in result.output and "--fallback" in result.output
    result = runner.invoke(app, ["explain", str(tiny_runs / "capsnet" / "best.pt"), str(blank), "--fallback", "--json",
                                 "--out", str(tmp_path / "b.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b.png").is_file()


def test_explain_shows_why_the_rule_refuses_a_hand(tiny_pose_models, photo, tmp_path):
    """A pose model: the decoded skeleton of the winner over the observed one, with the decision, its reason
    and the pose error written on it; the rule is the checkpoint's (what export ships)."""
    import json

    from signcaps.models.checkpoint import load_checkpoint, save_checkpoint
    from signcaps.signs.rejection import RejectionRule

    state = load_checkpoint(tiny_pose_models["fused-capsnet"]["checkpoint"])
    state.pop("format", None)
    strict = tmp_path / "strict.pt"
    save_checkpoint({**state, "rejection": RejectionRule(accept=0.0, max_pose_error=1e-4).to_meta()}, strict)
    png = tmp_path / "why.png"
    result = CliRunner().invoke(app, ["explain", str(strict), str(photo), "--out", str(png), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["status"], report["label"], report["reason"]) == ("none", None, "pose disagrees")
    assert report["pose_error"] > 1e-4 and report["best"] == report["class"]
    assert report["rule"]["max_pose_error"] == 1e-4 and report["pngs"] == [str(png), str(tmp_path / "why-pose.png")]
    # the note band on the decoded skeleton (the header's second picture) is light; without a rule it says ok/?
    figure = cv2.imread(str(tmp_path / "why-pose.png"))
    band = figure[4 + 24: 4 + 24 + 20, 56 + 4 + 192 + 4: 56 + 4 + 2 * 192 + 4]
    assert band.mean() > 150 and (band < 100).any()  # light background, dark text
    text = CliRunner().invoke(app, ["explain", str(strict), str(photo), "--out", str(png)])
    assert "rule: none (pose disagrees), pose error " in text.stdout
    plain = CliRunner().invoke(app, ["explain", str(tiny_pose_models["fused-capsnet"]["checkpoint"]), str(photo),
                                     "--out", str(tmp_path / "plain.png"), "--json", "--threshold", "0"])
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout)["status"] == "ok"  # the default rule with --threshold 0 accepts every hand
