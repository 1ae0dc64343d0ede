"""The base install (no `[train]` extra) runs every command it promises with torch and
albumentations unimportable, and the training commands say in one line what to install.

Each command runs in a fresh interpreter whose import system refuses `torch`, `albumentations`
and `albucore` and writes a marker to stderr whenever something tries: a base command passes
only if nothing on its path even tried (a caught ImportError would hide a dependency the
wheel's base install does not have). tests/test_install.py checks the same on a real install.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, digit_images

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared

MARKER = "BLOCKED-IMPORT"
PRELUDE = f"""
import sys
class _RefuseTrainingStack:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "albumentations", "albucore"):
            sys.stderr.write("{MARKER} " + name + "\\n")
            raise ModuleNotFoundError("No module named " + repr(name) + " (refused by the test)", name=name)
        return None
sys.meta_path.insert(0, _RefuseTrainingStack())
sys.argv = ["signcaps", *sys.argv[1:]]
from signcaps.cli import app
app()
"""


def base_cli(args: list, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", PRELUDE, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    """Two real photos of each of three digits, and a short clip of dataset hands."""
    import videos

    root = tmp_path_factory.mktemp("no-torch")
    for digit in (1, 4, 7):
        (root / "data" / str(digit)).mkdir(parents=True)
        for path in digit_images(digit, 2):
            # other names than the dataset's: the shipped model's stored test split lists these photos
            shutil.copy(path, root / "data" / str(digit) / f"photo-{path.name}")
    videos.write_video(root / "clip.mp4", videos.sign_frames([1, 4], 8, blank_frames=1))
    return {"root": root, "data": root / "data", "clip": root / "clip.mp4", "photo": digit_images(7, 1)[0]}


def _ok(result: subprocess.CompletedProcess) -> str:
    assert MARKER not in result.stderr, result.stderr  # something on this path reached for torch
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return result.stdout


def test_predict_live_collect_and_bench_run_without_torch(small):
    rows = [json.loads(line) for line in _ok(base_cli(["predict", small["photo"], "--json"], small["root"]))
            .splitlines()]
    assert rows[0]["hand"] and len(rows[0]["landmarks"]) == 21
    frames = _ok(base_cli(["live", "--source", small["clip"], "--no-window", "--json"], small["root"])).splitlines()
    assert len(frames) == 17 and any(json.loads(f)["hands"] for f in frames)
    _ok(base_cli(["collect", "--label", "x", "--out", small["root"] / "mine", "--source", small["clip"], "--no-window",
                  "--max", "2"], small["root"]))
    assert len(list((small["root"] / "mine" / "x").glob("*.png"))) == 2
    _ok(base_cli(["bench", "model", "--budget", "0.05", "--json"], small["root"]))


def test_calibrate_eval_prepare_and_doctor_run_without_torch(small):
    out = small["root"] / "reports"
    _ok(base_cli(["calibrate", "--data", small["data"], "--split", "all", "--out", out, "--json"], small["root"]))
    report = json.loads(_ok(base_cli(["eval", ROOT / "signcaps" / "resources" / "default_model.onnx", "--data",
                                      small["data"], "--out", out, "--json"], small["root"])))
    assert report["split"] == "all" and report["report"]["samples"] >= 5  # other data: never a "test" split
    _ok(base_cli(["data", "prepare", "--src", small["data"], "--set", f"data.cache_dir={small['root'] / 'cache'}",
                  "--set", "data.retakes=0", "--json"], small["root"]))
    doctor = base_cli(["doctor", "--json"], small["root"])  # it looks for torch (find_spec), never imports it
    assert "Traceback" not in doctor.stderr, doctor.stderr
    torch_row = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "torch")
    assert torch_row["optional"] and not torch_row["ok"] and "signcaps[train]" in torch_row["detail"]


def test_explain_runs_on_the_shipped_onnx_without_torch(small):
    """`explain photo.jpg` explains the shipped model in the base install (issue 25): its figure shows the
    capsule dimensions that change the reconstruction most, ranked, not a 16 x 11 grid."""
    import cv2

    from signcaps.runtime.explain_figure import TOP_DIMENSIONS, figure_size

    png = small["root"] / "explained" / "why.png"
    report = json.loads(_ok(base_cli(["explain", small["photo"], "-o", png, "--json"], small["root"])))
    assert report["class"] == "7" and report["status"] == "ok" and report["pngs"] == [str(png)]
    shown = report["dimensions"]["image"]
    assert len(shown["dims"]) == TOP_DIMENSIONS and shown["change"] == sorted(shown["change"], reverse=True)
    assert cv2.imread(str(png)).shape[:2] == figure_size(32, TOP_DIMENSIONS)
    again = small["root"] / "explained" / "again.png"  # the shipped model named as a file: the same answer
    named = json.loads(_ok(base_cli(["explain", ROOT / "signcaps" / "resources" / "default_model.onnx", small["photo"],
                                     "-o", again, "--json"], small["root"])))
    assert named["lengths"] == report["lengths"] and again.is_file()


@pytest.mark.parametrize("args", [["train", "--epochs", "1"], ["export", "x.pt", "-o", "x.onnx"],
                                  ["eval", "x.pt"], ["explain", "x.pt", "x.jpg"], ["robustness", "a.pt"],
                                  ["models", "list"]])
def test_training_commands_name_the_extra_in_one_line(small, args):
    result = base_cli(args, small["root"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and MARKER not in line]
    assert len(lines) == 1 and lines[0].startswith("error:") and "pip install 'signcaps[train]'" in lines[0], lines


def test_web_build_runs_without_torch(small):
    from signcaps.web.site import missing_vendor_files

    if missing_vendor_files():  # tests never install npm packages; .ci/run does
        pytest.skip("npm packages missing: run `npm ci` in deploy/web")
    _ok(base_cli(["web", "build", small["root"] / "site", "--json"], small["root"]))
    assert (small["root"] / "site" / "index.html").is_file()


def test_adapt_runs_without_torch(small):
    """`signcaps adapt` is numpy and an ONNX graph edit: the base install adapts, and predict reads the result."""
    mine = small["root"] / "mine.onnx"
    report = json.loads(_ok(base_cli(["adapt", "--data", small["data"], "-o", mine, "--json"], small["root"])))
    assert report["shots"]["4"] == 2 and mine.is_file()
    rows = _ok(base_cli(["predict", small["photo"], "--model", mine, "--json"], small["root"])).splitlines()
    assert json.loads(rows[0])["hand"]
