"""`signcaps collect`: hand crops from a video into an image-folder dataset that `data prepare` accepts."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
import videos  # noqa: E402  (tests/videos.py: synthetic clips)

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared

NAME = re.compile(r"^\d{8}-\d{6}-\d{5}\.png$")  # <date>-<time> of the recording, then the zero-padded frame


@pytest.fixture(autouse=True)
def _hand_model(monkeypatch) -> None:
    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", str(videos.HAND_MODEL))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Two webcam-like clips (640x480): digit 5 and digit 8, each at two positions."""
    folder = tmp_path_factory.mktemp("collect-clips")
    paths = {}
    for digit, nth in ((5, 0), (8, 3)):
        paths[str(digit)] = folder / f"sign{digit}.mp4"
        videos.write_video(paths[str(digit)], videos.sign_frames([digit, digit], 14, seed=digit, nth=nth, gap=2))
    return paths


def invoke(args: list[str]):
    from signcaps.cli import app

    return CliRunner().invoke(app, args)


def test_collected_crops_are_redetected_by_prepare(clips, tmp_path):
    dataset = tmp_path / "my-signs"
    for label, clip in clips.items():
        result = invoke(["collect", "--label", label, "--out", str(dataset), "--source", str(clip),
                         "--every", "4", "--max", "5", "--no-window", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["saved"] == 5 and report["reason"] == "max crops"
    for label in clips:
        files = sorted((dataset / label).iterdir())
        assert len(files) == 5
        assert all(NAME.match(f.name) for f in files), [f.name for f in files]
        image = cv2.imread(str(files[0]))
        assert image.shape == (160, 160, 3)
    # the same pipeline as any dataset: prepare finds the hand again in every saved crop
    result = invoke(["data", "prepare", "--src", str(dataset), "--set", f"data.cache_dir={tmp_path / 'cache'}",
                     "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["class"]: row for row in json.loads(result.stdout)["classes"]}
    assert set(rows) == {"5", "8"}
    for row in rows.values():
        assert row["images"] == 5 and row["hands"] == 5, row


def test_every_and_end_of_video(clips, tmp_path):
    result = invoke(["collect", "--label", "5", "--out", str(tmp_path), "--source", str(clips["5"]),
                     "--every", "10", "--max", "100", "--no-window", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["reason"] == "end of input"
    assert report["frames"] == 30
    assert report["with_hand"] >= 25
    assert report["saved"] == (report["with_hand"] + 9) // 10
    # a second session adds files, never overwrites
    again = invoke(["collect", "--label", "5", "--out", str(tmp_path), "--source", str(clips["5"]),
                    "--every", "10", "--no-window", "--json"])
    assert again.exit_code == 0, again.output
    assert len(list((tmp_path / "5").iterdir())) == report["saved"] + json.loads(again.stdout)["saved"]


@pytest.mark.parametrize("args, needle", [
    (["--label", "../escape"], "--label"),
    (["--label", "3", "--every", "0"], "--every"),
    (["--label", "3", "--margin", "0.1"], "--margin"),
    (["--label", "3", "--source", "9"], "cannot open camera 9"),
    (["--label", "3", "--source", "/no/such/clip.mp4"], "no such file or folder"),
])
def test_collect_errors_are_one_line(tmp_path, args, needle):
    result = invoke(["collect", "--out", str(tmp_path), "--no-window", *args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr
