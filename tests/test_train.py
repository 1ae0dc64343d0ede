"""Tiny real training runs: loss falls, resume replays exactly, mismatches fail clearly."""
import json

import pytest
import torch
from conftest import TINY_CAPS
from typer.testing import CliRunner

import signcaps.training.train
from signcaps.cli import app
from signcaps.models.checkpoint import CheckpointError, load_checkpoint
from signcaps.training.train import TrainingInterrupted, train
from signcaps.util.config import load_recipe

TINY = TINY_CAPS


def tiny_recipe(root, cache, *extra):
    return load_recipe(None, [f"data.root={root}", f"data.cache_dir={cache}", TINY, "train.batch_size=16",
                              "train.lr=0.005", "data.val_fraction=0.2", "data.test_fraction=0.2", *extra])


@pytest.fixture(scope="module")
def cache(crop_cache):
    return crop_cache


def test_tiny_training_learns_and_writes_a_run_folder(mini_digits, cache, tmp_path):
    summary = train(tiny_recipe(mini_digits, cache, "train.epochs=4"), tmp_path / "run", show_progress=False)
    losses = [h["train_loss"] for h in summary["history"]]
    assert losses[-1] < losses[0]
    for name in ("best.pt", "last.pt", "recipe.yaml", "metrics.json", "curves.png", "confusion.png", "split.json"):
        assert (tmp_path / "run" / name).is_file(), name
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["samples"] > 0 and 0 <= metrics["test_acc"] <= 1
    assert len(metrics["test"]["confusion"]) == 10


def test_resume_continues_and_matches_an_uninterrupted_run(mini_digits, cache, tmp_path, monkeypatch):
    straight = train(tiny_recipe(mini_digits, cache, "train.epochs=2"), tmp_path / "a", show_progress=False)
    real_epoch, calls = signcaps.training.train.run_epoch, []

    def ctrl_c_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(signcaps.training.train, "run_epoch", ctrl_c_in_second_epoch)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(tiny_recipe(mini_digits, cache, "train.epochs=2"), tmp_path / "b", show_progress=False)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 0  # epoch 1 (0-based 0) is safe
    monkeypatch.setattr(signcaps.training.train, "run_epoch", real_epoch)
    resumed = train(tiny_recipe(mini_digits, cache, "train.epochs=2"), tmp_path / "b", resume=True, show_progress=False)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["history"][1]["train_loss"] == pytest.approx(straight["history"][1]["train_loss"], rel=1e-5)
    a = load_checkpoint(tmp_path / "a" / "last.pt")["model_state"]
    b = load_checkpoint(tmp_path / "b" / "last.pt")["model_state"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_existing_run_needs_resume_and_matching_config(mini_digits, cache, tmp_path):
    train(tiny_recipe(mini_digits, cache, "train.epochs=1"), tmp_path / "r", show_progress=False)
    with pytest.raises(CheckpointError, match="--resume"):
        train(tiny_recipe(mini_digits, cache, "train.epochs=2"), tmp_path / "r", show_progress=False)
    other = tiny_recipe(mini_digits, cache, "train.epochs=2", TINY_CAPS.replace("[8, 16]", "[8, 32]"))
    with pytest.raises(CheckpointError, match="different model config"):
        train(other, tmp_path / "r", resume=True, show_progress=False)


def test_cli_train_and_eval(mini_digits, cache, tmp_path):
    runner = CliRunner()
    run = tmp_path / "cli-run"
    args = ["train", "--data", str(mini_digits), "--epochs", "1", "--run-dir", str(run), "--json",
            "--set", f"data.cache_dir={cache}", "--set", TINY, "--set", "train.batch_size=16"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["epochs"] == 1
    result = runner.invoke(app, ["eval", str(run / "best.pt"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["split"] == "test" and report["report"]["samples"] > 0

    bad = tmp_path / "bad-classes"
    (bad / "eleven").mkdir(parents=True)
    (bad / "eleven" / "a.jpg").write_bytes((mini_digits / "1").glob("*.JPG").__next__().read_bytes())
    result = runner.invoke(app, ["eval", str(run / "best.pt"), "--data", str(bad)])
    assert result.exit_code == 1
    assert "does not know" in result.output and "Traceback" not in result.output


def test_cli_reports_foreign_checkpoint(tmp_path):
    fake = tmp_path / "model.pt"
    fake.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(app, ["eval", str(fake)])
    assert result.exit_code == 1 and "not a readable checkpoint" in result.output


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_epoch(mini_digits, cache, tmp_path):
    """A real `kill` (SIGTERM) of the CLI mid-run: one-line message, last.pt kept, --resume finishes."""
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "killed"
    args = [sys.executable, "-m", "signcaps", "train", "--data", str(mini_digits), "--run-dir", str(run),
            "--set", f"data.cache_dir={cache}", "--set", TINY, "--set", "train.batch_size=16", "--epochs", "30"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "--resume" in stderr and "Traceback" not in stderr
    saved = load_checkpoint(run / "last.pt")["epoch"]
    result = subprocess.run([*args, "--resume", "--json"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert len(history) == 30 and history[saved]["epoch"] == saved + 1


def test_a_resume_without_a_recipe_continues_the_runs_own_recipe(tmp_path):
    from signcaps.training.train import run_recipe
    from signcaps.util.config import save_recipe

    saved = load_recipe(None, ["name=mine", "train.epochs=3", "model.name=cnn"])
    save_recipe(saved, tmp_path / "recipe.yaml")
    resumed = run_recipe(None, ["train.epochs=5"], tmp_path, resume=True)
    assert (resumed.name, resumed.model.name, resumed.train.epochs) == ("mine", "cnn", 5)
    from signcaps.runtime.classifier import default_recipe_name

    fresh = run_recipe(None, ["train.epochs=5"], tmp_path, resume=False)  # no resume: the shipped default's recipe
    default = load_recipe(default_recipe_name())
    assert (fresh.name, fresh.model.name, fresh.train.epochs) == (default.name, default.model.name, 5)
