"""`signcaps live` and `bench live` end to end on generated videos, plus the pieces they rest on.

The clip is built in the test from real dataset photos pasted into 640x480 frames (see
tests/videos.py). Prediction accuracy needs a trained model: the shipped default model, or
one named by $SIGNCAPS_TEST_LIVE_MODEL; everything else runs with whatever ONNX is at hand
(an untrained capsnet exported by `signcaps.training.export` when there is no default model).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
import videos  # noqa: E402  (tests/videos.py: synthetic clips)

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "signcaps" / "resources" / "default_model.onnx"
CLIP_DIGITS = [2, 5, 7, 0]
FRAMES_PER_DIGIT = 16


@pytest.fixture(scope="session")
def onnx_model() -> Path:
    """The shipped default model: what `live` uses out of the box."""
    assert DEFAULT_MODEL.is_file(), "signcaps/resources/default_model.onnx is missing"
    return DEFAULT_MODEL


@pytest.fixture(autouse=True)
def _hand_model(monkeypatch) -> None:
    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", str(videos.HAND_MODEL))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, list[int | None]]:
    """640x480, 30 fps: 3 empty frames, then four digits of 16 frames, 2 empty frames between them."""
    path = tmp_path_factory.mktemp("clip") / "signs.mp4"
    frames = videos.sign_frames(CLIP_DIGITS, FRAMES_PER_DIGIT, seed=4, blank_frames=3, gap=2)
    labels = videos.write_video(path, frames)
    return path, labels


def invoke(args: list[str]):
    from signcaps.cli import app

    return CliRunner().invoke(app, args)


@pytest.fixture(scope="module")
def live_run(clip, onnx_model, tmp_path_factory):
    """One `signcaps live --no-window --output --json` run on the clip, shared by the checks below."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SIGNCAPS_HAND_MODEL", str(videos.HAND_MODEL))
    out = tmp_path_factory.mktemp("live") / "annotated.mp4"
    try:
        result = invoke(["live", "--source", str(clip[0]), "--model", str(onnx_model), "--no-window",
                         "--output", str(out), "--json"])
    finally:
        mp.undo()
    return result, out


def test_live_writes_annotated_video_with_same_frames(live_run, clip):
    result, out = live_run
    assert result.exit_code == 0, result.output
    assert out.is_file()
    n = len(clip[1])
    assert videos.count_frames(out) == n
    cap_in, cap_out = cv2.VideoCapture(str(clip[0])), cv2.VideoCapture(str(out))
    assert int(cap_out.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640 and int(cap_out.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 480
    assert cap_out.get(cv2.CAP_PROP_FPS) == pytest.approx(cap_in.get(cv2.CAP_PROP_FPS), abs=0.01)
    for _ in range(10):  # frame 10 shows the first hand
        ok_in, frame_in = cap_in.read()
        ok_out, frame_out = cap_out.read()
    assert ok_in and ok_out
    diff = cv2.absdiff(frame_in, frame_out).max(axis=2)
    bars = diff[60:220, 30:150]  # the capsule-length bars of hand slot 0 (top left)
    assert (bars > 40).mean() > 0.05, "no overlay where the bars should be"
    assert diff[300:470, 180:460].mean() < diff[60:220, 30:150].mean()  # the frame itself is kept


def test_live_json_lines(live_run, clip):
    result, _ = live_run
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    labels = clip[1]
    assert len(lines) == len(labels)
    assert [row["frame"] for row in lines] == list(range(len(labels)))
    assert lines[1]["time"] == pytest.approx(1 / 30, abs=1e-3)
    assert lines[0]["state"] == "no_hand" and lines[0]["hands"] == []
    with_hand = [row for row in lines if row["hands"]]
    assert len(with_hand) >= 0.9 * sum(label is not None for label in labels)
    hand = with_hand[0]["hands"][0]
    assert set(hand) >= {"box", "class", "confidences", "handedness", "slot"}
    assert sorted(hand["confidences"]) == [str(d) for d in range(10)]
    assert all(0.0 <= v <= 1.0 for v in hand["confidences"].values())
    assert hand["handedness"] in ("Left", "Right")
    assert len(hand["box"]) == 4
    # the summary goes to stderr, never into the JSON stream
    assert "frames" in result.stderr and "detect" in result.stderr and "classify" in result.stderr


def test_live_predictions_match_the_signed_digits(live_run, clip):
    result, _ = live_run
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    hits = []
    for row, label in zip(lines, clip[1]):
        if label is None:
            hits.append(row["state"] == "no_hand")
        else:
            hits.append(bool(row["hands"]) and row["hands"][0]["class"] == str(label))
    assert np.mean(hits) >= 0.9, f"{np.mean(hits):.1%} of frames right"


def test_frame_folder_source_in_natural_order(onnx_model, tmp_path):
    """frame2 comes before frame10; small frames (320x240) work too; the frame rate is --fps; --explain draws."""
    frames = list(videos.sign_frames([3], 6, size=(320, 240), scale=1.2, seed=1, blank_frames=6))
    videos.write_folder(tmp_path / "frames", frames)  # frame0..frame5 blank, frame6..frame11 a hand
    result = invoke(["live", "--source", str(tmp_path / "frames"), "--model", str(onnx_model), "--no-window",
                     "--json", "--fps", "10", "--serial", "--explain", "--output", str(tmp_path / "explain.mp4")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["frame"] for row in lines] == list(range(12))
    assert lines[3]["time"] == pytest.approx(0.3)
    states = [row["state"] for row in lines]
    assert states[:6] == ["no_hand"] * 6
    assert sum(s != "no_hand" for s in states[6:]) >= 5
    # --explain measures the winner's pose error (the shipped model decodes the pose) even when its rule does not
    hands = [h for row in lines for h in row["hands"]]
    assert hands and all(h["pose_error"] > 0 and h["status"] in ("ok", "uncertain", "none") for h in hands)
    assert "320x240" in result.stderr
    assert videos.count_frames(tmp_path / "explain.mp4") == 12


def test_two_hands_keep_their_slots(onnx_model, tmp_path):
    """--hands 2: a right hand (left half) and a mirrored one (right half) moving towards each other."""
    right, left = videos.dataset_photo(3), cv2.flip(videos.dataset_photo(5), 1)
    colour = videos.background_colour(right)
    frames = []
    for k in range(12):
        frame = videos.compose(right, (640, 480), (170 + 2 * k, 240), 2.2, colour)
        frame[:, 320:] = videos.compose(left, (640, 480), (470 - 2 * k, 250), 2.2, colour)[:, 320:]
        frames.append((frame, None))
    videos.write_video(tmp_path / "two.mp4", frames)
    result = invoke(["live", "--source", str(tmp_path / "two.mp4"), "--model", str(onnx_model), "--no-window",
                     "--json", "--hands", "2", "--output", str(tmp_path / "two-out.mp4")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 12
    two = [row for row in rows if len(row["hands"]) == 2]
    assert len(two) >= 10
    side = {}  # slot -> which half of the frame its hand is in; must never change
    for row in two:
        assert sorted(h["slot"] for h in row["hands"]) == [0, 1]
        for hand in row["hands"]:
            half = (hand["box"][0] + hand["box"][2]) / 2 > 320
            assert side.setdefault(hand["slot"], half) == half
    assert len(set(side.values())) == 2


def _one_line_error(result, needle: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in result.output


def test_missing_camera_is_one_line_error_in_a_real_process(onnx_model, tmp_path):
    env = {**os.environ, "SIGNCAPS_HAND_MODEL": str(videos.HAND_MODEL), "COLUMNS": "200"}
    cli = [sys.executable, "-c", "from signcaps.cli import app; app()"]
    proc = subprocess.run([*cli, "live", "--source", "9", "--model", str(onnx_model), "--no-window"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot open camera 9")
    assert proc.stdout == ""


def test_missing_file_and_broken_video(onnx_model, tmp_path):
    _one_line_error(invoke(["live", "--source", str(tmp_path / "nope.mp4"), "--model", str(onnx_model), "--no-window"]),
                    "no such file or folder")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 50)
    _one_line_error(invoke(["live", "--source", str(broken), "--model", str(onnx_model), "--no-window"]),
                    "cannot open video")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(invoke(["live", "--source", str(empty), "--model", str(onnx_model), "--no-window"]),
                    "holds no images")


def test_bad_settings_are_one_line_errors(onnx_model, clip):
    _one_line_error(invoke(["live", "--source", str(clip[0]), "--smoothing", "0"]), "--smoothing")
    _one_line_error(invoke(["live", "--source", str(clip[0]), "--threshold", "1.5"]), "--threshold")
    _one_line_error(invoke(["live", "--source", str(clip[0]), "--hands", "9"]), "--hands")
    _one_line_error(invoke(["live", "--source", str(clip[0]), "--output", "x.txt"]), "--output")


# ------------------------------------------------------------------------ stalls and Ctrl-C


class FakeLiveSource:
    """A camera that delivers `good` frames, then blocks (stall) or raises (Ctrl-C)."""

    kind, name, fps, frame_count, live = "camera", "camera 7", 30.0, None, True

    def __init__(self, good: int, then: str) -> None:
        self.good, self.then, self.index = good, then, 0
        self.skipped: list[str] = []

    @property
    def size(self):
        return (160, 120)

    def read(self):
        from signcaps.live.capture import Frame

        if self.index >= self.good:
            if self.then == "interrupt":
                raise KeyboardInterrupt
            time.sleep(30)  # frames stop arriving
        image = np.full((120, 160, 3), 180, np.uint8)
        frame = Frame(image, self.index, self.index * 33)
        self.index += 1
        return frame

    def close(self) -> None:
        pass


@pytest.mark.parametrize("serial", [False, True])
def test_interrupt_ends_cleanly_with_summary(onnx_model, monkeypatch, serial):
    monkeypatch.setattr("signcaps.live.loop.open_source", lambda *a, **k: FakeLiveSource(4, "interrupt"))
    monkeypatch.setattr("signcaps.live.loop.parse_source", lambda spec: ("camera", 7))
    result = invoke(["live", "--source", "7", "--model", str(onnx_model), "--no-window", "--json",
                     *(["--serial"] if serial else [])])
    assert result.exit_code == 130, result.output
    assert isinstance(result.exception, SystemExit)
    assert len(result.stdout.splitlines()) == 4
    assert "interrupted: 4 frames" in result.stderr and "p95" in result.stderr


def test_stalled_source_ends_with_one_line_and_summary(onnx_model, monkeypatch):
    monkeypatch.setattr("signcaps.live.loop.open_source", lambda *a, **k: FakeLiveSource(3, "stall"))
    monkeypatch.setattr("signcaps.live.loop.parse_source", lambda spec: ("camera", 7))
    result = invoke(["live", "--source", "7", "--model", str(onnx_model), "--no-window", "--timeout", "0.5"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "3 frames" in result.stderr and "capture" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no frame from camera 7 for 0.5 s" in errors[0]
    assert "Traceback" not in result.output


def test_camera_whose_reads_fail_counts_as_gone(monkeypatch):
    from signcaps.live import capture

    class DeadCapture:
        def __init__(self, *a, **k):
            self.reads = 0

        def isOpened(self):
            return True

        def get(self, prop):
            return 0.0

        def set(self, *a):
            return True

        def read(self):
            self.reads += 1
            return False, None

        def release(self):
            pass

    monkeypatch.setattr(capture.cv2, "VideoCapture", DeadCapture)
    source = capture.open_source("0", max_failures=3)
    with pytest.raises(capture.CaptureError, match="camera 0 stopped delivering frames"):
        source.read()


def test_threaded_reader_keeps_order_and_ends(tmp_path):
    from signcaps.live.capture import ThreadedReader, open_source

    for i in range(7):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((20, 30, 3), i * 30, np.uint8))
    (tmp_path / "f3.png").write_bytes(b"broken")  # unreadable frames are skipped and counted
    source = open_source(tmp_path, fps=5)
    with ThreadedReader(source, depth=2) as reader:
        frames = []
        while (frame := reader.read()) is not None:
            frames.append(frame)
        assert reader.read() is None
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 30, 60, 120, 150, 180]
    assert [f.timestamp_ms for f in frames] == [0, 200, 400, 600, 800, 1000]
    assert source.skipped == ["f3.png"]


# ------------------------------------------------------------------------ smoothing and states


class _Hand:
    def __init__(self, x: float, y: float, handedness: str = "Right", side: float = 100.0) -> None:
        self.landmarks = np.array([[x - side / 2, y - side / 2], [x + side / 2, y + side / 2]], np.float32)
        self.handedness = handedness
        self.score = 0.9

    @property
    def is_left(self) -> bool:
        return self.handedness == "Left"

    @property
    def box(self):
        return (0, 0, 1, 1)


def test_ema_smoothing_and_reset_on_a_new_hand():
    from signcaps.live.loop import HandSlots

    slots = HandSlots(1, alpha=0.5, keep_frames=2)
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert slots.update([_Hand(100, 100)], a)[0][1].tolist() == [1.0, 0.0]
    assert slots.update([_Hand(105, 100)], b)[0][1].tolist() == [0.5, 0.5]
    assert slots.update([_Hand(110, 100)], b)[0][1].tolist() == [0.25, 0.75]
    # a hand far away is a new hand: no inherited average
    assert slots.update([_Hand(500, 400)], a)[0][1].tolist() == [1.0, 0.0]
    # a short gap keeps the average; a long one forgets it
    slots.update([], a)
    assert slots.update([_Hand(500, 400)], b)[0][1].tolist() == [0.5, 0.5]
    for _ in range(3):
        slots.update([], a)
    assert slots.update([_Hand(500, 400)], b)[0][1].tolist() == [0.0, 1.0]


def test_two_hands_keep_their_slots_when_order_changes():
    from signcaps.live.loop import HandSlots

    slots = HandSlots(2, alpha=0.5)
    left, right = _Hand(100, 200, "Left"), _Hand(500, 200, "Right")
    first = slots.update([left, right], np.array([[1.0, 0.0], [0.0, 1.0]]))
    second = slots.update([_Hand(510, 205, "Right"), _Hand(95, 200, "Left")], np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert [s for s, _ in first] == [0, 1]
    assert [s for s, _ in second] == [1, 0]  # matched by position, not by detection order
    assert second[0][1].tolist() == [0.0, 1.0] and second[1][1].tolist() == [1.0, 0.0]


class _FakeClassifier:
    classes = [str(d) for d in range(10)]
    has_reconstruction = True

    def __init__(self, lengths: np.ndarray) -> None:
        from signcaps.util.config import CropConfig, DetectConfig

        self.crop_cfg, self.detect_cfg = CropConfig(), DetectConfig()
        self.lengths = lengths

    def classify(self, batch):
        return np.repeat(self.lengths[None], len(batch), axis=0)

    def reconstruct(self, batch):
        return np.full((len(batch), 1, 32, 32), 0.5, np.float32)


def test_threshold_shows_question_mark_and_states():
    from signcaps.live.capture import Frame
    from signcaps.live.loop import LiveConfig, Recogniser

    low = np.full(10, 0.1, np.float32)
    low[4] = 0.3
    image = np.full((240, 320, 3), 128, np.uint8)
    frame = Frame(image, 0, 0)
    recogniser = Recogniser(_FakeClassifier(low), LiveConfig(threshold=0.5, explain=True).check())
    result = recogniser(image, [_Hand(160, 120)], frame, {})
    assert result.state == "uncertain"
    assert result.hands[0].label is None and result.hands[0].best == 4
    assert result.hands[0].reconstruction.shape == (32, 32, 3) and result.hands[0].crop.shape == (32, 32, 3)
    row = result.to_json(recogniser.classes)
    assert row["hands"][0]["class"] is None and row["hands"][0]["best"] == "4"
    assert recogniser(image, [], frame, {}).state == "no_hand"
    high = low.copy()
    high[4] = 0.95
    confident = Recogniser(_FakeClassifier(high),
                           LiveConfig(threshold=0.5).check())(image, [_Hand(160, 120)], frame, {})
    assert confident.state == "ok" and confident.hands[0].label == "4"


@pytest.mark.parametrize("size", [(96, 64), (640, 480), (1920, 1080), (480, 640)])
def test_overlay_draws_at_any_frame_size(size):
    from signcaps.live.overlay import HandView, draw_frame

    w, h = size
    image = np.full((h, w, 3), 100, np.uint8)
    marks = np.array([[w * 0.4 + i, h * 0.4 + 2 * i] for i in range(21)], np.float32)
    lengths = np.linspace(0.0, 0.9, 10).astype(np.float32)
    crop = np.zeros((32, 32, 3), np.uint8)
    views = [HandView(0, marks, (int(w * 0.3), int(h * 0.3), int(w * 0.6), int(h * 0.6)), lengths, "9", "Right", crop,
                      crop),
             HandView(1, marks + 5, None, lengths, None)]
    out = draw_frame(image, views, [str(d) for d in range(10)], 0.5, slots=2, fps=60.0, explain=True, paused=True,
                     note="saved x.png")
    assert out.shape == (h, w, 3) and (out != 100).any()


def test_headless_detection(monkeypatch):
    from signcaps.live.window import display_available

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        assert display_available() is False
    monkeypatch.setenv("DISPLAY", ":0")
    assert display_available(probe=False) is True


@pytest.mark.skipif(not sys.platform.startswith("linux") or bool(os.environ.get("DISPLAY")),
                    reason="needs a Linux machine without a display")
def test_unreachable_display_runs_headless_instead_of_aborting(onnx_model, clip, monkeypatch):
    """OpenCV's Qt aborts the process on a dead $DISPLAY; the probe must catch that first."""
    monkeypatch.setenv("DISPLAY", ":87")
    result = invoke(["live", "--source", str(clip[0]), "--model", str(onnx_model), "--max-frames", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    assert "no usable display" in result.stderr


@pytest.mark.skipif(not (Path("/usr/bin/Xvfb").exists() and Path("/usr/bin/xdotool").exists()),
                    reason="the window test needs Xvfb and xdotool")
def test_window_keys_screenshot_and_quit(onnx_model, clip, tmp_path):
    """A real window on a virtual display: `s` saves a screenshot, `q` quits with the summary."""
    display = ":%d" % (70 + os.getpid() % 20)
    xvfb = subprocess.Popen(["/usr/bin/Xvfb", display, "-screen", "0", "800x600x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        env = {**os.environ, "DISPLAY": display, "SIGNCAPS_HAND_MODEL": str(videos.HAND_MODEL), "COLUMNS": "200"}
        env.pop("WAYLAND_DISPLAY", None)
        cli = [sys.executable, "-c", "from signcaps.cli import app; app()"]
        live = subprocess.Popen([*cli, "live", "--source", str(clip[0]), "--model", str(onnx_model), "--fps", "10",
                                 "--screenshots", str(tmp_path / "shots")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            found = subprocess.run(["/usr/bin/xdotool", "search", "--sync", "--name", "signcaps live"], env=env,
                                   capture_output=True, text=True, timeout=30)
            window = found.stdout.split()[0]
            time.sleep(0.3)
            for key in ("s", "q"):
                subprocess.run(["/usr/bin/xdotool", "key", "--window", window, key], env=env, capture_output=True)
                time.sleep(0.5)
            _, err = live.communicate(timeout=30)
        finally:
            if live.poll() is None:
                live.kill()
    finally:
        xvfb.terminate()
        xvfb.wait()
    assert live.returncode == 0, err
    assert "quit:" in err
    shots = list((tmp_path / "shots").glob("signcaps-*.png"))
    assert len(shots) == 1 and cv2.imread(str(shots[0])).shape == (480, 640, 3)


# ------------------------------------------------------------------------ bench


def test_bench_live_reports_every_stage(clip, onnx_model):
    """--draw: the loop as a window or --output runs it, every stage timed (without it nothing is drawn)."""
    result = invoke(["bench", "live", "--source", str(clip[0]), "--model", str(onnx_model), "--json",
                     "--max-frames", "30", "--warmup", "5", "--mode", "pipelined", "--draw", "--pace", "0",
                     "--no-reuse"])
    assert result.exit_code == 0, result.output
    bench = json.loads(result.stdout)
    report = bench["pipelined"]
    assert report["frames"] == 30 and bench["draw"] is True
    assert set(report["stages"]) >= {"capture", "detect", "crop", "classify", "draw"}
    for stage in ("capture", "detect", "crop", "classify", "draw"):
        assert report["stages"][stage]["p95"] >= report["stages"][stage]["p50"] >= 0
    assert report["fps"] > 0 and 0 < report["classifier_share"] < 1
    assert report["size"] == [640, 480]
    assert report["reuse_rate"] is None and "agreement" not in bench and "paced" not in bench


def test_bench_live_compares_with_the_detector_alone(clip, onnx_model):
    result = invoke(["bench", "live", "--source", str(clip[0]), "--model", str(onnx_model), "--json",
                     "--max-frames", "30", "--warmup", "5", "--mode", "serial"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    alone = report["detector_alone"]
    assert alone["frames"] == 25 and alone["fps"] > 0 and alone["cpu_ms_per_frame"] > 0
    assert 0 < alone["with_hand"] <= 25
    assert report["ratio"]["serial"] == pytest.approx(report["serial"]["fps"] / alone["fps"], rel=0.01)
    text = invoke(["bench", "live", "--source", str(clip[0]), "--model", str(onnx_model), "--max-frames", "20",
                   "--warmup", "2", "--mode", "serial"])
    assert text.exit_code == 0, text.output
    assert "x the detector alone" in text.stdout and "detector alone:" in text.stdout


# ------------------------------------------------------------------------ compose


def _number_clip(path: Path, numbers: list[list[int]]) -> None:
    """Each number's digits 16 frames each with 3 blank frames between, 30 blank frames between numbers."""
    frames = []
    for n, digits in enumerate(numbers):
        frames += list(videos.sign_frames(digits, FRAMES_PER_DIGIT, seed=10 + n, blank_frames=30 if n else 3, gap=3))
    blank = np.empty_like(frames[0][0])
    blank[:] = frames[-1][0][0, 0]
    frames += [(blank, None)] * 5
    videos.write_video(path, frames)


def test_compose_returns_the_signed_numbers(onnx_model, tmp_path):
    """Two numbers, one with a repeated digit: the exact sequence comes back on stdout, in the JSON
    lines and in --compose-out."""
    clip = tmp_path / "numbers.mp4"
    _number_clip(clip, [[2, 5, 5, 7], [7, 0, 2]])
    plain = invoke(["live", "--source", str(clip), "--model", str(onnx_model), "--no-window", "--compose"])
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.split() == ["2557", "702"]
    assert "numbers: 2557, 702" in plain.stderr
    out_file = tmp_path / "numbers.txt"
    # --compose-end 4: the clip's last 5 blank frames finish the second number inside the JSON lines
    # (above, the end of the input finished it)
    result = invoke(["live", "--source", str(clip), "--model", str(onnx_model), "--no-window", "--json", "--serial",
                     "--compose-end", "4", "--compose-out", str(out_file), "--output", str(tmp_path / "composed.mp4")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert "".join(row["compose"]["committed"] or "" for row in rows) == "2557702"
    assert [row["compose"]["finished"] for row in rows if row["compose"]["finished"]] == ["2557", "702"]
    assert out_file.read_text().split() == ["2557", "702"]
    building = [row["compose"]["number"] for row in rows]
    assert "255" in building and "70" in building


def test_compose_settings_are_one_line_errors(onnx_model, clip):
    _one_line_error(invoke(["live", "--source", str(clip[0]), "--compose", "--compose-hold", "0"]), "--compose-hold")


# ------------------------------------------------------------------------ the rejection rule ("none")


class _RuleClassifier(_FakeClassifier):
    """Scripted lengths and pose errors, one row per call, and a rejection rule like a format-3 model's."""

    def __init__(self, rows: list[np.ndarray], errors: list[float] | None, rule) -> None:
        super().__init__(rows[0])
        self.rows, self.errors, self.rule, self.calls = rows, errors, rule, 0

    def classify(self, batch):
        assert self.errors is None, "a rule with a pose limit must get the pose error with the lengths"
        row = self.rows[min(self.calls, len(self.rows) - 1)]
        self.calls += 1
        return row[None]

    def classify_with_pose_error(self, feed):
        row, err = self.rows[min(self.calls, len(self.rows) - 1)], self.errors[min(self.calls, len(self.errors) - 1)]
        self.calls += 1
        return row[None], np.array([err], np.float32)


def _lengths(winner: int, value: float) -> np.ndarray:
    row = np.full(10, 0.05, np.float32)
    row[winner] = value
    return row


def _recognise(clf, threshold=None, smoothing=1.0, frames=None):
    from signcaps.live.capture import Frame
    from signcaps.live.loop import LiveConfig, Recogniser

    image = np.full((240, 320, 3), 128, np.uint8)
    # reuse off: the scripted rows change while the hand holds still, which reuse would answer from its cache
    recogniser = Recogniser(clf, LiveConfig(threshold=threshold, smoothing=smoothing, reuse=None).check())
    return recogniser, [recogniser(image, [_Hand(160, 120)], Frame(image, i, i * 33), {})
                        for i in range(frames or len(clf.rows))]


def test_the_models_rule_decides_none_apart_from_uncertain():
    from signcaps.signs.rejection import RejectionRule

    rule = RejectionRule(accept=0.7, none_below=0.4)
    clf = _RuleClassifier([_lengths(3, 0.9), _lengths(3, 0.5), _lengths(3, 0.2)], None, rule)
    recogniser, results = _recognise(clf)
    assert recogniser.rule == rule  # --threshold not given: the model's rule as it is
    assert [r.state for r in results] == ["ok", "uncertain", "none"]
    rows = [r.to_json(recogniser.classes)["hands"][0] for r in results]
    assert [(h["class"], h["status"], h["reason"], h["best"]) for h in rows] == [
        ("3", "ok", "", "3"), (None, "uncertain", "below threshold", "3"), (None, "none", "all capsules short", "3")]
    assert all("pose_error" not in h for h in rows) and rows[2]["confidences"]["3"] == 0.2  # bars: the lengths
    # --threshold overrides accept and takes none_below down with it
    recogniser, results = _recognise(_RuleClassifier(clf.rows, None, rule), threshold=0.3)
    assert recogniser.rule == RejectionRule(accept=0.3, none_below=0.3)
    assert [r.state for r in results] == ["ok", "ok", "none"]


def test_the_pose_error_is_smoothed_like_the_lengths():
    from signcaps.signs.rejection import RejectionRule

    rule = RejectionRule(max_pose_error=0.5)
    clf = _RuleClassifier([_lengths(5, 0.9)] * 4, [0.2, 1.0, 1.0, 0.1], rule)
    recogniser, results = _recognise(clf, smoothing=0.5)
    errors = [r.hands[0].pose_error for r in results]
    assert errors == pytest.approx([0.2, 0.6, 0.8, 0.45])  # EMA with weight 0.5 on the newest frame
    assert [r.state for r in results] == ["ok", "none", "none", "ok"]
    row = results[1].to_json(recogniser.classes)["hands"][0]
    assert (row["class"], row["status"], row["reason"], row["pose_error"]) == (None, "none", "pose disagrees", 0.6)


def test_a_none_class_never_is_the_highlighted_sign():
    from signcaps.live.capture import Frame
    from signcaps.live.loop import LiveConfig, Recogniser
    from signcaps.signs.rejection import RejectionRule

    clf = _RuleClassifier([np.array([0.1, 0.7, 0.9], np.float32)], None, RejectionRule(none_class="none"))
    clf.classes = ["a", "b", "none"]
    image = np.full((240, 320, 3), 128, np.uint8)
    recogniser = Recogniser(clf, LiveConfig().check())
    hand = recogniser(image, [_Hand(160, 120)], Frame(image, 0, 0), {}).hands[0]
    assert (hand.best, hand.label, hand.status, hand.reason) == (1, None, "none", "none class")


def _panel_colours(view, threshold=0.6, none_below=0.0, explain=False):
    from signcaps.live.overlay import draw_frame

    image = np.zeros((480, 640, 3), np.uint8)
    draw_frame(image, [view], [str(d) for d in range(10)], threshold, slots=1, explain=explain, none_below=none_below)
    return image


def test_the_overlay_writes_none_apart_from_the_question_mark():
    from signcaps.live.overlay import NONE, UNSURE, WIN, HandView, decision_lines

    marks = np.array([[300 + i, 250 + 2 * i] for i in range(21)], np.float32)
    lengths = _lengths(3, 0.45)

    def view(label, status, reason=""):
        return HandView(0, marks, (280, 230, 360, 320), lengths, label, "Right", status=status, reason=reason)

    header = (slice(8, 48), slice(8, 70))  # the big answer of the panel
    near_hand = (slice(170, 230), slice(270, 420))  # the answer next to the hand, above its box
    found = {}
    for status, label in (("none", None), ("uncertain", None), ("ok", "3")):
        image = _panel_colours(view(label, status))
        found[status] = {name: {region: bool((image[where] == colour).all(axis=2).any())
                                for region, where in (("panel", header), ("hand", near_hand))}
                         for name, colour in (("none", NONE), ("unsure", UNSURE), ("win", WIN))}
    assert found["none"]["none"] == {"panel": True, "hand": True}
    assert not found["none"]["unsure"]["panel"] and not found["none"]["unsure"]["hand"]
    assert found["uncertain"]["unsure"] == {"panel": True, "hand": True}
    assert not any(found["uncertain"]["none"].values())
    assert not any(found["ok"]["none"].values()) and not found["ok"]["unsure"]["panel"]
    # the winning bar takes the answer's colour; the rule's none_below is a line of its own
    bars = (slice(60, 260), slice(40, 150))
    assert (_panel_colours(view(None, "none"))[bars] == NONE).all(axis=2).any()
    assert not (_panel_colours(view(None, "uncertain"))[bars] == NONE).all(axis=2).any()
    assert (_panel_colours(view(None, "uncertain"), none_below=0.3)[bars] == NONE).all(axis=2).any()
    # --explain writes the decision, its pose error and its reason under the tiles
    pose = np.zeros((64, 64, 3), np.uint8)
    explained = HandView(0, marks, (280, 230, 360, 320), lengths, None, "Right", pose, None, pose, "none",
                         "pose disagrees", 0.73, 3)
    assert decision_lines(explained) == ["none  pose err 0.73", "pose disagrees"]
    assert decision_lines(view("3", "ok")) == ["3"]
    image = _panel_colours(explained, explain=True)
    below_tiles = (slice(290, 340), slice(8, 160))
    assert (image[below_tiles] == NONE).all(axis=2).any()


def _negative_clip(path: Path, items: list) -> list:
    """A clip of digits with real ASL letter photos (hands that sign no digit) between them, no pause in between."""
    from rejectmodels import letter_photo

    frames = list(videos.sign_frames([letter_photo(*item) if isinstance(item, tuple) else item for item in items],
                                     FRAMES_PER_DIGIT, seed=3, blank_frames=3))
    blank = np.empty_like(frames[0][0])
    blank[:] = frames[0][0][0, 0]
    return videos.write_video(path, frames + [(blank, None)] * 5)


def _steady(rows: list[dict], labels: list, negative: bool, skip: int = 5) -> list[dict]:
    """The first hand of the frames that show one item for at least `skip` frames (smoothing has settled)."""
    out, run = [], 0
    for k, (row, label) in enumerate(zip(rows, labels)):
        run = run + 1 if k and label == labels[k - 1] else 1
        if label is not None and (label == "none") == negative and run > skip and row["hands"]:
            out.append(row["hands"][0])
    return out


# Digits 2, 5, 5, 0 with no-digit hands before, between and after them: C (C-curve), I (pinky up), Y (thumb
# and pinky), another I (the default model of 2026-12 reads it as a confident "7" in this clip: without a
# rule the number would be 25570).
NEGATIVE_CLIP = [("C", "C22"), 2, ("I", "I13"), 5, ("Y", "Y13"), 5, ("I", "I19"), 0, ("C", "C22")]


def test_compose_with_negatives_between_the_digits_returns_the_signed_number(onnx_model, tmp_path):
    """Real onnxruntime, real MediaPipe, a real rule in the metadata of a copy of the shipped model: its
    thresholds are set from a first run of the same clip (the winner's pose error, else its length, halfway
    between what the digits and the negatives show), then `live --compose` must return exactly 2550 and answer
    "none" on the negatives."""
    from rejectmodels import with_rule

    from signcaps.signs.rejection import RejectionRule

    clip = tmp_path / "negatives.mp4"
    labels = _negative_clip(clip, NEGATIVE_CLIP)
    measuring = with_rule(onnx_model, tmp_path / "measure.onnx", RejectionRule(max_pose_error=1e6))
    first = invoke(["live", "--source", str(clip), "--model", str(measuring), "--no-window", "--json", "--serial",
                    "--compose"])
    assert first.exit_code == 0, first.output
    rows = [json.loads(line) for line in first.stdout.splitlines()]
    unruled = "".join(row["compose"]["committed"] or "" for row in rows)  # accept 0.6 alone, as before format 3
    digits, negatives = _steady(rows, labels, negative=False), _steady(rows, labels, negative=True)
    assert len(digits) >= 30 and len(negatives) >= 30
    gap_pose = min(h["pose_error"] for h in negatives) - max(h["pose_error"] for h in digits)
    gap_length = min(h["confidence"] for h in digits) - max(h["confidence"] for h in negatives)
    if gap_pose > 0:
        rule = RejectionRule(max_pose_error=max(h["pose_error"] for h in digits) + gap_pose / 2)
    else:
        assert gap_length > 0, (f"neither the pose error nor the length of the winner separates the digits from "
                                f"the negatives in this clip (gaps {gap_pose:.3f}, {gap_length:.3f})")
        cut = max(h["confidence"] for h in negatives) + gap_length / 2
        rule = RejectionRule(accept=max(cut, 0.6), none_below=cut)
    print(f"\nwithout a rule: {unruled}; rule from the first run: {rule} (pose gap {gap_pose:.3f}, length gap "
          f"{gap_length:.3f})")
    ruled = with_rule(onnx_model, tmp_path / "ruled.onnx", rule)
    result = invoke(["live", "--source", str(clip), "--model", str(ruled), "--no-window", "--json", "--serial",
                     "--compose"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    committed = "".join(row["compose"]["committed"] or "" for row in rows)
    assert committed == "2550", f"committed {committed} with {rule}"
    assert [row["compose"]["finished"] for row in rows if row["compose"]["finished"]] in ([], ["2550"])
    assert "numbers: 2550" in result.stderr
    steady = _steady(rows, labels, negative=True)
    assert sum(h["status"] == "none" and h["class"] is None for h in steady) >= 0.9 * len(steady)
    assert {row["state"] for row in rows} >= {"no_hand", "none", "ok"}


def test_compose_with_negatives_on_the_shipped_models_own_rule(onnx_model, tmp_path):
    """The shipped default's own rejection rule on a clip with fists (A, S, T) and other no-digit hands between
    the digits: exactly 2557. Waits for a default model that carries a rule."""
    from signcaps.runtime.classifier import load_classifier

    if "rejection" not in load_classifier(onnx_model).meta:
        pytest.skip("the shipped default model has no rejection rule yet (metadata format 3 'rejection')")
    clip = tmp_path / "fists.mp4"
    _negative_clip(clip, [("A", "A10"), 2, ("S", "S0"), 5, ("Y", "Y13"), 5, ("I", "I19"), 7, ("T", "T2")])
    result = invoke(["live", "--source", str(clip), "--model", str(onnx_model), "--no-window", "--compose"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["2557"]
# ------------------------------------------------------------------------ reuse of still hands (issue 21)


def test_reuse_never_changes_a_composed_number_or_a_state(onnx_model, tmp_path):
    """The same clip with and without reuse: the same numbers, the same state and label on every frame."""
    clip = tmp_path / "numbers.mp4"
    _number_clip(clip, [[2, 5, 5, 7], [7, 0, 2]])
    runs = {}
    for flag in ("--reuse", "--no-reuse"):
        result = invoke(["live", "--source", str(clip), "--model", str(onnx_model), "--no-window", "--json",
                         "--compose", "--serial", flag])
        assert result.exit_code == 0, result.output
        runs[flag] = [json.loads(line) for line in result.stdout.splitlines()]
    reuse, full = runs["--reuse"], runs["--no-reuse"]
    assert len(reuse) == len(full)
    assert [r["state"] for r in reuse] == [r["state"] for r in full]
    assert [[h["class"] for h in r["hands"]] for r in reuse] == [[h["class"] for h in r["hands"]] for r in full]
    assert [r["compose"] for r in reuse] == [r["compose"] for r in full]
    assert "".join(r["compose"]["committed"] or "" for r in reuse) == "2557702"
    # and the reuse did happen: some frames carry exactly the previous frame's raw lengths
    repeated = sum(1 for a, b in zip(reuse, reuse[1:]) if a["hands"] and b["hands"]
                   and a["hands"][0]["raw"] == b["hands"][0]["raw"])
    assert repeated > 0.3 * sum(1 for r in reuse if r["hands"])


def test_reuse_answers_equal_the_full_work_loop(onnx_model, tmp_path):
    """On a benchmark-style clip (a new participant's hand every 8 frames, drifting) and the test clip:
    the reuse loop's state and labels equal the full-work loop's on >= 99.5% of frames, on the same
    detections, while most hands are answered from the cache."""
    from signcaps.live.bench import reuse_agreement
    from signcaps.live.reuse import ReuseConfig

    bench = tmp_path / "bench.mp4"
    videos.write_video(bench, videos.changing_hands(320, 8, seed=5))
    agreement = reuse_agreement(str(bench), [ReuseConfig()], model=str(onnx_model))[0]
    assert agreement.frames == 320
    assert agreement.fraction >= 0.995, agreement.to_dict()
    assert agreement.reuse_rate > 0.4, agreement.to_dict()


def test_reuse_results_do_not_alias_across_frames():
    """A classifier that hands out one output buffer for every call: a frame's result keeps its values
    after later frames, whether its answer was computed or reused."""
    from signcaps.live.capture import Frame
    from signcaps.live.loop import LiveConfig, Recogniser

    class BufferClassifier(_FakeClassifier):
        def __init__(self) -> None:
            super().__init__(np.zeros(10, np.float32))
            self.out = np.zeros((4, 10), np.float32)
            self.calls = 0

        def classify(self, batch):
            self.calls += 1
            self.out[:] = 0.05
            self.out[:, self.calls % 10] = 0.95  # a new winner on every call
            return self.out[: len(batch)]

    clf = BufferClassifier()
    recogniser = Recogniser(clf, LiveConfig(smoothing=1.0).check())
    image = np.full((240, 320, 3), 128, np.uint8)
    results = [recogniser(image, [_Hand(160, 120)], Frame(image, i, i * 33), {}) for i in range(3)]
    results.append(recogniser(image, [_Hand(300, 200)], Frame(image, 3, 99), {}))  # moved: classified again
    assert clf.calls == 2
    assert [r.hands[0].best for r in results] == [1, 1, 1, 2]
    assert [float(r.hands[0].raw[1]) for r in results[:3]] == pytest.approx([0.95] * 3)
    for a, b in zip(results, results[1:]):
        assert not np.shares_memory(a.hands[0].raw, b.hands[0].raw)
    assert not any(np.shares_memory(r.hands[0].raw, clf.out) for r in results)


def test_paced_source_releases_frames_at_the_camera_pace(tmp_path):
    from signcaps.live.capture import PacedSource, open_source

    for i in range(6):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((20, 30, 3), i * 30, np.uint8))
    source = PacedSource(open_source(tmp_path), 50.0)
    start = time.perf_counter()
    frames = list(source)
    assert len(frames) == 6 and source.live
    stamps = [f.captured - frames[0].captured for f in frames]
    assert stamps == pytest.approx([k / 50.0 for k in range(6)], abs=1e-6)
    assert time.perf_counter() - start >= 5 / 50.0
    assert [f.timestamp_ms for f in frames] == [round(k * 1000 / 30) for k in range(6)]  # the folder's own clock


def test_bench_live_reports_latency_reuse_and_targets(clip, onnx_model):
    """Everything issue 21 asks of `bench live`, in --json and in the printed tables."""
    result = invoke(["bench", "live", "--source", str(clip[0]), "--model", str(onnx_model), "--json",
                     "--max-frames", "40", "--warmup", "5", "--pace", "30", "--pace-frames", "25"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["beyond_detector_ms"]) == {"serial", "pipelined"}
    assert report["serial"]["reuse_rate"] > 0 and report["draw"] is False
    agreement = report["agreement"]
    assert agreement["frames"] == 40 and 0 <= agreement["fraction"] <= 1 and agreement["reused"] > 0
    paced = report["paced"]
    assert paced["fps"] == 30 and paced["detector_alone"]["frames"] == 20
    assert paced["detector_alone"]["latency_p95"] >= paced["detector_alone"]["latency_p50"] > 0
    for mode in ("serial", "pipelined"):
        latency = paced[mode]["stages"]["latency"]
        assert latency["p95"] >= latency["p50"] > 0
        assert 0 < paced[mode]["cpu_share"] < 2.5 and paced[mode]["seconds"] >= 19 / 30 - 0.05
        assert paced["latency_p95_ratio"][mode] > 0
    assert set(report["targets"]) == {"serial_ratio", "pipelined_ratio", "serial_beyond_detector_ms",
                                      "pipelined_beyond_detector_ms", "same_answers", "serial_latency_p95_ratio",
                                      "pipelined_latency_p95_ratio"}
    assert all(t["met"] in (True, False) for t in report["targets"].values())
    text = invoke(["bench", "live", "--source", str(clip[0]), "--model", str(onnx_model), "--max-frames", "20",
                   "--warmup", "2", "--mode", "pipelined", "--pace-frames", "12"])
    assert text.exit_code == 0, text.output
    assert "answers equal to the full-work loop's" in text.stdout and "at a camera's pace" in text.stdout
    assert "capture to result" in text.stdout and "targets (issues 21, 27)" in text.stdout


def test_bench_live_pace_settings_are_one_line_errors(clip):
    _one_line_error(invoke(["bench", "live", "--source", str(clip[0]), "--pace", "-5"]), "--pace")
    _one_line_error(invoke(["bench", "live", "--source", str(clip[0]), "--pace-frames", "5"]), "--pace-frames")


def test_long_class_names_fit_their_panel():
    """A user's own signs ("I love you", "thumbs up and away") are written out beside their bars, and
    the big answer shrinks rather than run over the numbers or past the panel's edge."""
    from signcaps.live.overlay import HandView, bar_label, draw_frame, panel_size

    classes = ["three", "I love you", "ok", "thumbs up and away"]
    long_width, _ = panel_size((480, 640, 3), classes, False)
    digits_width, _ = panel_size((480, 640, 3), [str(d) for d in range(10)], False)
    assert long_width > digits_width == panel_size((480, 640, 3), 10, False)[0]
    assert bar_label("thumbs up and away") == "thumbs up and." and bar_label("three") == "three"
    marks = np.array([[560 + i, 400 + i] for i in range(21)], np.float32)  # the hand far from the panel
    image = np.zeros((480, 640, 3), np.uint8)
    lengths = np.array([0.2, 0.9, 0.1, 0.3], np.float32)
    draw_frame(image, [HandView(0, marks, (555, 395, 585, 425), lengths, "I love you", "Right")], classes, 0.6,
               slots=1)
    rows = slice(0, 140)  # the panel's rows; nothing drawn right of it there
    assert image[rows, 8:8 + long_width].any() and not image[rows, 8 + long_width + 2:500].any()


def test_an_annotated_video_shows_the_processing_rate(clip, onnx_model, tmp_path, monkeypatch):
    """The corner says how fast this machine recognised the frames (the loop's rate), not the file's own 30 fps,
    which the mp4 keeps in its container."""
    import signcaps.live.overlay

    shown = []
    draw = signcaps.live.overlay.draw_frame

    def recording(image, views, classes, threshold, slots, fps=None, *args, **kwargs):
        shown.append(fps)
        return draw(image, views, classes, threshold, slots, fps, *args, **kwargs)

    monkeypatch.setattr(signcaps.live.overlay, "draw_frame", recording)
    result = invoke(["live", "--source", str(clip[0]), "--model", str(onnx_model), "--no-window", "--output",
                     str(tmp_path / "out.mp4"), "--max-frames", "20"])
    assert result.exit_code == 0, result.output
    assert len(shown) == 20 and shown[0] is None  # no rate before a second frame
    assert all(rate > 0 for rate in shown[1:]) and len(set(shown[1:])) > 1 and 30.0 not in shown
