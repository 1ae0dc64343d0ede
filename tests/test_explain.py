"""`signcaps explain` on a tiny real capsule model: the perturbation grid and its PNG."""
import shutil

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from signcaps.checkpoint import build_from_checkpoint
from signcaps.cli import app
from signcaps.config import load_recipe
from signcaps.explain import DELTAS, perturbation_grid, reconstruction
from signcaps.train import train

TINY_CAPS = "model.params={stem_channels: [8, 16], primary_maps: 4, decoder_hidden: [32, 64]}"
TINY_CNN = "model.params={channels: [8, 16], fc_hidden: 32}"


def tiny(root, cache, *extra):
    return load_recipe(None, [f"data.root={root}", f"data.cache_dir={cache}", "train.batch_size=16", "train.epochs=1",
                              "data.val_fraction=0.2", "data.test_fraction=0.2", *extra])


@pytest.fixture(scope="module")
def runs(mini_digits, tmp_path_factory):
    """A tiny capsnet and a tiny CNN (one epoch each) in runs/capsnet and runs/cnn; trained once per
    test session (test_robustness.py and test_explain.py share them; they only read the runs)."""
    base = tmp_path_factory.getbasetemp() / "signcaps-tiny-runs"
    if not (base / "done").is_file():
        shutil.rmtree(base, ignore_errors=True)
        cache = tmp_path_factory.getbasetemp() / "signcaps-tiny-crop-cache"
        train(tiny(mini_digits, cache, TINY_CAPS), base / "capsnet", show_progress=False)
        train(tiny(mini_digits, cache, "model.name=cnn", TINY_CNN), base / "cnn", show_progress=False)
        (base / "done").write_text("ok")
    return base


@pytest.fixture(scope="module")
def photo(mini_digits):
    return sorted((mini_digits / "3").glob("*.JPG"))[0]


def test_perturbation_grid_and_reconstruction(runs):
    model, recipe, _, _ = build_from_checkpoint(runs / "capsnet" / "best.pt")
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


def test_explain_writes_png_of_layout_size(runs, photo, tmp_path):
    png = tmp_path / "out" / "explain.png"
    result = CliRunner().invoke(app, ["explain", str(runs / "capsnet" / "best.pt"), str(photo), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert "predicted" in result.stdout and str(png) in result.stdout.replace("\n", "")
    image = cv2.imread(str(png))
    # layout for 32x32 crops: cells 32*3 = 96 px, gaps 4, row labels 56, column labels 24, caption 24,
    # header images 2 cells; 11 columns, 16 rows
    cell, pad = 96, 4
    width = 56 + 11 * cell + 12 * pad
    height = (pad + 24 + 2 * cell + pad) + 24 + 16 * (cell + pad) + pad
    assert image.shape == (height, width, 3) == (1852, 1160, 3)


def test_explain_rejects_cnn_and_handless_images(runs, photo, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["explain", str(runs / "cnn" / "best.pt"), str(photo), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "decoder" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.png").exists()

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    result = runner.invoke(app, ["explain", str(runs / "capsnet" / "best.pt"), str(blank), "--out", str(tmp_path / "b.png")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "no hand" in result.output and "--fallback" in result.output
    result = runner.invoke(app, ["explain", str(runs / "capsnet" / "best.pt"), str(blank), "--fallback", "--json",
                                 "--out", str(tmp_path / "b.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b.png").is_file()
