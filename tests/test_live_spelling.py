"""Fingerspelling end to end (issue 27): clips made from real held-out ASL letter photos spell words with a
double letter (a sideways slide, then a second hold) and a space (frames without a hand); `live --json
--compose --signs letters` and `predict --compose` must return exactly the text signed. The speller
itself is tested frame by frame in test_spelling.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
import videos  # noqa: E402  (tests/videos.py: synthetic clips)

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared

FPS = 10.0  # the speller counts seconds, so a low frame rate keeps the test short


def invoke(args: list[str]):
    from signcaps.cli import app

    return CliRunner().invoke(app, args)


@pytest.fixture(autouse=True)
def _hand_model(monkeypatch) -> None:
    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", str(videos.HAND_MODEL))


def test_live_spells_words_with_a_double_letter_and_a_space(tmp_path):
    clip = tmp_path / "see-you.mp4"
    videos.write_video(clip, videos.spelling_frames(videos.spelling_plan("SEE YOU"), fps=FPS), fps=FPS)
    out_file = tmp_path / "text.txt"
    result = invoke(["live", "--source", str(clip), "--signs", "letters", "--no-window", "--json", "--compose",
                     "--compose-out", str(out_file), "--output", str(tmp_path / "spelled.mp4")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all("text" in row for row in rows)
    assert "".join(row["compose"]["committed"] or "" for row in rows) == "SEE YOU "  # no leading space
    assert rows[-1]["text"] == "SEE YOU "
    texts = [row["text"] for row in rows]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:]))  # it only grows: nothing undone
    assert out_file.read_text() == "SEE YOU\n"
    assert "text: 'SEE YOU'" in result.stderr and (tmp_path / "spelled.mp4").stat().st_size > 0


def test_predict_compose_spells_a_folder_of_frames(tmp_path):
    frames = tmp_path / "frames"
    videos.write_folder(frames, videos.spelling_frames(videos.spelling_plan("HELLO"), fps=FPS))
    result = invoke(["predict", str(frames), "--compose", "--signs", "letters", "--fps", str(FPS)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "HELLO\n"


@pytest.mark.exhaustive
@pytest.mark.parametrize("fps", [10.0, 15.0, 30.0])
@pytest.mark.parametrize("text", ["HELLO WORLD", "BOOK A SEAL", "ADD SOY"])
def test_live_spells_words_at_any_frame_rate(tmp_path, fps, text):
    clip = tmp_path / "words.mp4"
    videos.write_video(clip, videos.spelling_frames(videos.spelling_plan(text), fps=fps, seed=int(fps)), fps=fps)
    result = invoke(["live", "--source", str(clip), "--signs", "letters", "--no-window", "--compose"])
    assert result.exit_code == 0, result.output
    assert result.stdout == text + "\n"
