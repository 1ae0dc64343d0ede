"""Fingerspelling end to end (issue 27): clips made from real held-out ASL letter photos spell words with a
double letter (a sideways slide, then a second hold) and a space (frames without a hand); `live --json
--compose --signs letters` and `predict --compose` must return exactly the text signed. The speller
itself is tested frame by frame in test_spelling.py."""
from __future__ import annotations

import itertools
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
def test_random_words_are_exact_whenever_every_letter_is_read(tmp_path):
    """40 random texts (two words, a double letter) from `videos.SPELLING_POOL`'s 86 held-out photos at 10, 15
    or 30 fps: wherever the loop accepted each signed letter for the hold and a frame more, the text must be
    exact; the others are misses of recognition (a hand MediaPipe does not find there, a letter the model
    does not accept), counted apart. Measured when written: 30 of 40 exact; 12 clips had a letter never read
    for the hold (2 of them still came out right), and every clip whose letters were all read was exact."""
    import random

    from signcaps.live.loop import LiveConfig, run_live
    from signcaps.runtime.classifier import load_classifier
    from signcaps.signs.compose import ComposeConfig
    from signcaps.signs.spelling import SpellConfig

    clf, hold, rng = load_classifier(None, signs="letters"), SpellConfig().hold_s, random.Random(27)
    wrong, unread = [], 0
    for n in range(40):
        letters = rng.sample(sorted(videos.SPELLING_POOL), 5)
        d = rng.randrange(1, 5)
        word = letters[:d] + [letters[d - 1]] + letters[d:]
        text = "".join(word[:3]) + " " + "".join(word[3:])
        photos = {c: rng.choice(videos.SPELLING_POOL[c]) for c in sorted(set(word))}
        fps = rng.choice([10.0, 15.0, 30.0])
        plan = [(" ", None)] + [(c, None if c == " " else photos[c]) for c in text] + [(" ", None)]
        signed = videos.write_video(tmp_path / "words.mp4", videos.spelling_frames(plan, fps=fps, seed=n), fps=fps)
        shown: list[str | None] = []
        got = run_live(LiveConfig(source=str(tmp_path / "words.mp4"), signs="letters", window=False,
                                  compose=ComposeConfig()), clf,
                       on_result=lambda r, _c, out=shown: out.append(r.hands[0].label if r.hands else None)).text
        runs = []  # per signed letter: its longest stretch of frames accepted as that letter
        for letter, group in itertools.groupby(zip(signed, shown), key=lambda pair: pair[0]):
            if letter is not None:
                streaks = [len(list(g)) for ok, g in itertools.groupby(s == letter for _, s in group) if ok]
                runs.append(max(streaks, default=0))
        if min(runs) < (hold * fps) + 2:  # a letter never read for the hold: recognition's miss, not spelling's
            unread += 1
        elif got != text:
            wrong.append((text, got, fps, photos))
    assert not wrong, wrong
    assert unread <= 20, f"{unread} of 40 clips had a letter never read for {hold} s: too few test the speller"


def test_predict_compose_prints_the_numbers_of_a_digits_video(tmp_path):
    """Digits mode (the default): `predict --compose` gives the numbers, as `live --compose` does (--json: one
    object; the letters test above reads the plain output)."""
    clip = tmp_path / "digits.mp4"
    videos.write_video(clip, videos.sign_frames([2, 5, 5, 7], 16, seed=10, blank_frames=3, gap=3))
    result = invoke(["predict", str(clip), "--compose", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["numbers"] == ["2557"] and found["text"] is None and found["frames"] == 16 * 4 + 3 + 3 * 3


@pytest.mark.exhaustive
@pytest.mark.parametrize("fps", [10.0, 15.0, 30.0])
@pytest.mark.parametrize("text", ["HELLO WORLD", "BOOK A SEAL", "ADD SOY"])
def test_live_spells_words_at_any_frame_rate(tmp_path, fps, text):
    clip = tmp_path / "words.mp4"
    videos.write_video(clip, videos.spelling_frames(videos.spelling_plan(text), fps=fps, seed=int(fps)), fps=fps)
    result = invoke(["live", "--source", str(clip), "--signs", "letters", "--no-window", "--compose"])
    assert result.exit_code == 0, result.output
    assert result.stdout == text + "\n"


# ------------------------------------------------------------------------ the moving letters J and Z

# Held-out photos of the two handshapes that move, and the side their thumb is on in the picture (a J
# hooks toward the thumb): the shipped letters model reads them as I and D, MediaPipe tracks them in VIDEO
# mode (valid/D12 is read "?" on most frames: it is in the matrix as a hand that spells nothing).
DRAWERS = {"J": [("valid/I13", -1.0), ("test/I28", -1.0), ("test/I17", 1.0)],
           "Z": [("valid/D0", 1.0), ("valid/D12", 1.0)]}


def _drawn_clip(path: Path, items: list[tuple[str, str, float, dict]], fps: float) -> None:
    """Each item (photo, motion path, thumb side, drawing_frames settings) then 0.8 s without a hand."""
    frames = []
    for name, motion, thumb, extra in items:
        frames += list(videos.drawing_frames(name, motion, fps=fps, thumb=thumb, **extra))
        blank = frames[-1][0].copy()
        blank[:] = (200, 200, 200)
        frames += [(blank, None)] * int(round(0.8 * fps))
    videos.write_video(path, frames, fps=fps)


def test_live_spells_a_drawn_j_and_z(tmp_path):
    """An I photo moved along a J, a D along a Z (tests/motionpaths.py): the J and Z are spelled, and each
    replaces the I or D held before it was drawn."""
    clip = tmp_path / "jz.mp4"
    _drawn_clip(clip, [("valid/I13", "J", -1.0, {}), ("valid/D0", "Z", 1.0, {})], fps=15.0)
    result = invoke(["live", "--source", str(clip), "--signs", "letters", "--no-window", "--compose", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[-1]["text"] == "J Z "
    texts = [row["text"] for row in rows]
    assert "J" in texts and "J Z" in texts  # the I and the D held before each was drawn are replaced at once


def _spelled(clip: Path) -> str:
    from signcaps.live.loop import LiveConfig, run_live
    from signcaps.signs.compose import ComposeConfig

    return run_live(LiveConfig(source=str(clip), signs="letters", window=False, compose=ComposeConfig())).text


@pytest.mark.exhaustive
def test_drawn_j_and_z_at_sizes_speeds_and_frame_rates(tmp_path):
    """The issue's target: >= 90% of the drawn J and Z spelled right, across photos, sizes (1.2 and 2 palms),
    durations (0.6 and 1 s) and frame rates (15, 30 fps); measured 38 of 40 (95%) when written."""
    right, wrong = 0, []
    for letter, drawers in DRAWERS.items():
        for (name, thumb), size, duration, fps in itertools.product(drawers, (1.2, 2.0), (0.6, 1.0), (15.0, 30.0)):
            clip = tmp_path / "drawn.mp4"
            _drawn_clip(clip, [(name, letter, thumb, {"size": size, "duration_s": duration})], fps)
            text = _spelled(clip)
            right += text == letter
            wrong += [] if text == letter else [(name, size, duration, fps, text)]
    assert right >= 0.9 * (right + len(wrong)), wrong


DISTRACTIONS = ("line-down", "line-right", "line-diagonal", "circle", "arc", "jitter", "zigzag-v")


@pytest.mark.exhaustive
@pytest.mark.parametrize("motion", DISTRACTIONS)
def test_hands_that_move_without_drawing_spell_no_j_or_z(tmp_path, motion):
    """The same I and D hands along other paths spell no J or Z (an I or a double I: the travel is a slide)."""
    spelled = []
    for (name, thumb), size in itertools.product([*DRAWERS["J"], *DRAWERS["Z"]], (1.2, 2.0)):
        clip = tmp_path / "moved.mp4"
        _drawn_clip(clip, [(name, motion, thumb, {"size": size})], 15.0)
        spelled.append((name, size, _spelled(clip)))
    assert not [s for s in spelled if set(s[2]) & {"J", "Z"}], spelled


@pytest.mark.parametrize("flag, value", [("--spell-hold", "0"), ("--spell-release", "nan"), ("--spell-space", "61")])
def test_spelling_settings_are_one_line_errors(flag, value):
    result = invoke(["live", "--source", "0", "--signs", "letters", "--compose", flag, value])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and flag in result.output, result.output
