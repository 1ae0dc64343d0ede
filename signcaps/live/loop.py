"""Live recognition, the loop: frames -> hands (MediaPipe VIDEO mode) -> `Recogniser` -> consumers.

The steps per frame, each timed for the summary and `signcaps bench live`:

    capture   read + decode a frame (camera, video, folder, URL; `signcaps.live.capture`)
    detect    BGR->RGB and MediaPipe HandLandmarker in VIDEO mode (tracks between frames)
    crop      `preprocess.crop_hand` with the model's CropConfig + `to_batch` (the one
              preprocessing path shared with training)
    classify  the ONNX runtime: class-capsule lengths for every hand in one batch
    draw      the overlay (`signcaps.live.overlay`)
    compose   --compose only: numbers from digits, or spelling from letters (`signcaps.signs`)

A hand that has not moved or changed shape since its answer was computed skips crop and classify
(`signcaps.live.reuse`; both stages read 0 ms on such a frame, `--no-reuse` does the full work).

What happens to one frame's hands (crop, classify, smooth, threshold) is `signcaps.live.recognise`;
this module is the loop around it and its I/O, like whisper's `transcribe` around `decoding`.
The consumers of each annotated frame are the window and its keys (`signcaps.live.window`), the
video writer (`signcaps.live.writers`) and the caller's `on_result` (JSON lines).

By default the loop is pipelined: capture, detection and video writing run in their own
threads (OpenCV and MediaPipe release the GIL), overlapping detection of frame t+1 with the
classification and drawing of frame t. `pipeline=False` runs everything serially.

OpenCV's own worker threads are turned off while the loop runs (`cv2.setNumThreads(1)`): every
OpenCV call here is small (a colour conversion, a crop resize, drawing), and splitting it across
cores only makes it compete with MediaPipe for them. Measured with `bench live` on 2 loaded
cores (median of 4 interleaved runs of 200 frames): 20.1 instead of 22.0 ms CPU per frame serial,
21.0 instead of 21.7 pipelined; the detector alone did not change (17.9 vs 17.4).
"""
from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from signcaps.live.capture import BackgroundStage, CaptureError, Frame, ThreadedReader, open_source, parse_source
from signcaps.live.recognise import FrameResult, HandResult, HandSlots, Recogniser  # noqa: F401  (the loop's public types)
from signcaps.live.reuse import ReuseConfig
from signcaps.live.window import Window, paused_loop, save_screenshot, why_no_window, window_step
from signcaps.live.writers import VideoWriter
from signcaps.signs.compose import ComposeConfig, NumberComposer
from signcaps.signs.rejection import NONE
from signcaps.signs.spelling import SpellConfig, Speller, SpellStep
from signcaps.util.errors import UserError

STAGES = ("capture", "detect", "crop", "classify", "draw")
# Pipelined, FFMPEG decodes videos and streams on one thread (its own reader thread overlaps the rest):
# 0.27 instead of 0.29-0.41 ms of CPU per 640x480 frame (`capture.open_source`). Serially the decode
# is on every frame's path, and FFMPEG's own threads finish it sooner (0.25-0.40 against 0.44 ms wall).
PIPELINED_DECODE_THREADS = 1



class LiveError(UserError, ValueError):
    """Settings of the live loop that cannot work (one line)."""


@dataclass
class LiveConfig:
    """Everything `signcaps live` can be told; validated by `check()`."""

    source: str = "0"  # camera index, video file, folder of images or URL
    model: str | None = None  # ONNX file; None = the shipped default model
    signs: str | None = None  # "digits" or "letters": which capsules answer (None: the model's default mode)
    hand_model: str | None = None  # hand_landmarker.task; None = the usual resolution chain
    hands: int = 1  # hands to track, each with its own smoothing slot
    smoothing: float = 0.5  # EMA weight of the newest frame's capsule lengths (1 = no smoothing)
    # smoothed winning length below this shows "?" (state "uncertain"); None = the model's rejection rule
    # (its "accept", `rejection.DEFAULT_ACCEPT` = 0.6 for models without a rule)
    threshold: float | None = None
    keep_frames: int = 5  # a slot keeps its smoothing this many frames after its hand vanished
    window: bool = True  # show a window (ignored when there is no display)
    output: str | None = None  # annotated video (mp4v), same size and fps as the input
    json: bool = False  # one JSON line per frame on stdout
    explain: bool = False  # show the crop and the capsule reconstruction (if the model has one)
    fps: float | None = None  # override the source frame rate (folders default to 30)
    max_frames: int | None = None  # stop after this many frames
    stall_timeout: float = 10.0  # seconds without a frame before giving up
    max_failures: int = 30  # failed reads in a row before a camera/stream counts as gone
    threads: int = 1  # onnxruntime intra-op threads
    pipeline: bool = True  # capture/detect/write in threads (False = serial loop)
    screenshot_dir: str = "."  # where `s` saves the annotated frame
    camera_size: tuple[int, int] | None = None  # request this camera resolution (width, height)
    draw: bool | None = None  # draw the overlay; None = only when someone sees it (window or --output)
    warmup: int = 0  # frames left out of the latency statistics (model and detector warm-up)
    detect_every: int = 1  # run the hand detector on every n-th frame (others reuse its hands)
    compose: ComposeConfig | None = None  # compose numbers from held digits (live --compose)
    spell: SpellConfig | None = None  # spelling's timing when --compose runs on letters (None: the defaults)
    reuse: ReuseConfig | None = field(default_factory=ReuseConfig)  # keep a still hand's answer; None = full work
    pace: float | None = None  # play a recorded source at this frame rate, like a camera (bench live's latency)

    def check(self) -> "LiveConfig":
        if not 0.0 < self.smoothing <= 1.0:
            raise LiveError(f"--smoothing must be in (0, 1] (1 = no smoothing), got {self.smoothing:g}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise LiveError(f"--threshold must be in [0, 1], got {self.threshold:g}")
        if not 1 <= self.hands <= 4:
            raise LiveError(f"--hands must be 1 to 4, got {self.hands}")
        if self.fps is not None and not 0.1 <= self.fps <= 1000:
            raise LiveError(f"--fps must be between 0.1 and 1000, got {self.fps:g}")
        if self.pace is not None and not 0.1 <= self.pace <= 1000:
            raise LiveError(f"--pace must be between 0.1 and 1000 fps, got {self.pace:g}")
        if self.max_frames is not None and self.max_frames < 1:
            raise LiveError(f"--max-frames must be at least 1, got {self.max_frames}")
        if not 1 <= self.detect_every <= 10:
            raise LiveError(f"--detect-every must be 1 to 10, got {self.detect_every}")
        if self.keep_frames < 0:
            raise LiveError("keep_frames must be >= 0")
        if self.compose is not None:
            self.compose.check()
        if self.spell is not None:
            self.spell.check()
        if self.reuse is not None:
            self.reuse.check()
        shots = Path(self.screenshot_dir).expanduser()
        if shots.exists() and not shots.is_dir():  # found out at the first 's' otherwise
            from signcaps.util.inputs import file_kind

            kind = "a file" if shots.is_file() else file_kind(shots.stat().st_mode)
            raise LiveError(f"--screenshots {shots} is {kind}, not a folder")
        if self.output:
            suffix = Path(self.output).suffix.lower()
            if suffix not in (".mp4", ".m4v", ".mov", ".avi", ".mkv"):
                raise LiveError(f"--output must be a video file name (.mp4, .avi, …), got {self.output}")
            from signcaps.util.outputs import ensure_writable_file

            ensure_writable_file(self.output, "--output", inputs=[self.source, self.model])
        return self


# ------------------------------------------------------------------------------ statistics


class StageStats:
    """Per-stage latencies (ms) and frame times; p50/p95 for the summary and the benchmark."""

    def __init__(self, warmup: int = 0) -> None:
        self.warmup = warmup
        self.samples: dict[str, list[float]] = {}
        self.frames = 0
        self.counted = 0
        self._t_start: float | None = None  # wall clock when the counted frames began
        self._t_end: float | None = None
        self._excluded = 0.0
        self._cpu_start: float | None = None  # process CPU time (all threads, MediaPipe's too)
        self._cpu_end: float | None = None

    def start(self) -> None:
        """Call when the loop starts (after opening everything)."""
        self._t_start = time.perf_counter()
        self._cpu_start = time.process_time()

    def frame_done(self, timings: dict[str, float]) -> None:
        now = time.perf_counter()
        self.frames += 1
        if self._t_start is None:
            self._t_start = now
        if self.frames <= self.warmup:
            self._t_start = now
            self._cpu_start = time.process_time()
            return
        self.counted += 1
        self._t_end = now
        for stage, ms in timings.items():
            self.samples.setdefault(stage, []).append(ms)

    def finish(self) -> None:
        """Call when the loop ends: reads the process CPU time once (with MediaPipe's threads running a
        read took 8.5 us median, up to 91 us: not worth paying on every frame)."""
        if self.counted:
            self._cpu_end = time.process_time()

    def exclude(self, seconds: float) -> None:
        """Leave time out of the FPS (a pause)."""
        self._excluded += seconds

    @property
    def seconds(self) -> float:
        if self._t_start is None or self._t_end is None:
            return 0.0
        return max(self._t_end - self._t_start - self._excluded, 1e-9)

    @property
    def cpu_ms_per_frame(self) -> float | None:
        """Process CPU time per counted frame: on an idle machine with N cores, FPS <= N * 1000 / this."""
        if not self.counted or self._cpu_start is None or self._cpu_end is None:
            return None
        return (self._cpu_end - self._cpu_start) * 1000.0 / self.counted

    @property
    def cpu_share(self) -> float | None:
        """Process CPU time over wall time (1.0 = one core busy all the time): what the loop takes
        from the machine at the pace it ran."""
        cpu = self.cpu_ms_per_frame
        return None if cpu is None or self.seconds <= 0 else cpu * self.counted / 1000.0 / self.seconds

    @property
    def fps(self) -> float:
        return self.counted / self.seconds if self.counted and self.seconds > 0 else 0.0

    def table(self) -> dict[str, dict[str, float]]:
        result = {}
        order = [*STAGES, *sorted(set(self.samples) - set(STAGES))]
        for stage in order:
            values = self.samples.get(stage)
            if not values:
                continue
            array = np.asarray(values)
            result[stage] = {"p50": float(np.percentile(array, 50)), "p95": float(np.percentile(array, 95)),
                             "mean": float(array.mean()), "total_s": float(array.sum() / 1000.0)}
        return result

    def classifier_share(self) -> float | None:
        """Classifier time as a fraction of all measured stage time (the pipeline's CPU work)."""
        totals = {stage: sum(values) for stage, values in self.samples.items() if stage not in ("wait", "latency")}
        whole = sum(totals.values())
        return totals.get("classify", 0.0) / whole if whole > 0 else None


@dataclass
class LiveSummary:
    frames: int
    seconds: float
    fps: float
    stages: dict[str, dict[str, float]]
    classifier_share: float | None
    reason: str  # end of input | quit | interrupted | max frames | stopped (error)
    source: str
    size: tuple[int, int] | None
    dropped: int = 0
    skipped: int = 0
    states: dict[str, int] = field(default_factory=dict)
    output: str | None = None
    pipeline: bool = True
    error: UserError | None = None
    cpu_ms_per_frame: float | None = None
    numbers: list[str] | None = None  # finished numbers (live --compose, digits)
    text: str | None = None  # the text spelled (live --compose, letters; trailing space left out)
    cpu_share: float | None = None  # process CPU time / wall time
    reuse_rate: float | None = None  # fraction of hands answered from the reuse cache (None: reuse off)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "frames": self.frames, "seconds": round(self.seconds, 3), "fps": round(self.fps, 2),
            "size": list(self.size) if self.size else None, "reason": self.reason, "pipeline": self.pipeline,
            "dropped": self.dropped, "skipped": self.skipped, "states": self.states, "output": self.output,
            "classifier_share": None if self.classifier_share is None else round(self.classifier_share, 4),
            "stages": {k: {m: round(v, 3) for m, v in d.items()} for k, d in self.stages.items()},
            "error": str(self.error) if self.error else None,
            "cpu_ms_per_frame": None if self.cpu_ms_per_frame is None else round(self.cpu_ms_per_frame, 3),
            "numbers": self.numbers,
            "text": self.text,
            "cpu_share": None if self.cpu_share is None else round(self.cpu_share, 4),
            "reuse_rate": None if self.reuse_rate is None else round(self.reuse_rate, 4),
        }


# ------------------------------------------------------------------------------ the loop


def annotate(image: np.ndarray, result: FrameResult, recogniser: Recogniser, fps: float | None,
             paused: bool = False, note: str | None = None, last: str | None = None) -> np.ndarray:
    from signcaps.live.overlay import HandView, draw_frame, draw_number, draw_spelling

    cfg, rule = recogniser.cfg, recogniser.rule
    views = [HandView(h.slot, h.hand.landmarks, (h.crop_box.x0, h.crop_box.y0, h.crop_box.x1, h.crop_box.y1),
                      h.lengths, h.label, h.hand.handedness, h.crop, h.reconstruction, h.pose_tile, h.status,
                      h.reason, h.pose_error, h.best)
             for h in result.hands]
    draw_frame(image, views, recogniser.classes, rule.accept, cfg.hands, fps, recogniser.explain, paused, note,
               none_below=rule.none_below)
    if isinstance(result.compose, SpellStep):
        draw_spelling(image, result.compose.text, result.compose.progress)
    elif result.compose is not None:
        draw_number(image, result.compose.building, result.compose.progress, last)
    return image


class _DetectWorker:
    """Detection in its own thread: while the main thread classifies and draws frame t, this
    converts and detects frame t+1 (MediaPipe releases the GIL while it runs)."""

    def __init__(self, read: Callable[[], Frame | None], detect: _Detect, depth: int = 2) -> None:
        def produce() -> tuple | None:
            frame = read()
            return None if frame is None else detect(frame)

        self._stage = BackgroundStage(produce, depth, "signcaps-detect")

    def get(self) -> tuple | None:
        while True:
            try:
                return self._stage.get(timeout=0.5)
            except queue.Empty:
                if not self._stage.alive:
                    return None

    def close(self) -> None:
        self._stage.close(join_timeout=2.0)


class _Detect:
    """BGR->RGB and hand detection; with `every` > 1 the detector runs on every n-th frame only
    and the frames between reuse its hands (their landmarks lag by up to n-1 frames)."""

    def __init__(self, detector, every: int = 1) -> None:
        self.detector = detector
        self.every = max(1, int(every))
        self._hands: list = []
        self._count = 0

    def __call__(self, frame: Frame) -> tuple:
        t0 = time.perf_counter()
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        if self._count % self.every == 0:
            self._hands = self.detector.detect(rgb, frame.timestamp_ms)
        self._count += 1
        return frame, rgb, self._hands, (time.perf_counter() - t0) * 1000.0


def run_live(cfg: LiveConfig, classifier=None, on_result: Callable[[FrameResult, list[str]], None] | None = None,
             log: Callable[[str], None] = lambda _msg: None,
             on_number: Callable[[str], None] | None = None) -> LiveSummary:
    """Run the loop until the input ends, the user quits, or Ctrl-C; never raises for a source
    that stops mid-run (the summary carries the error). Opening errors are raised (UserError).
    With `cfg.compose`, each finished number goes to `on_number` (the last one when the run ends)."""
    return _run_live(cfg, classifier, on_result, log, on_number)


def _run_live(cfg: LiveConfig, classifier, on_result: Callable[[FrameResult, list[str]], None] | None,
              log: Callable[[str], None], on_number: Callable[[str], None] | None = None) -> LiveSummary:
    from signcaps.hands.detector import HandDetector
    from signcaps.util.assets import resolve_hand_model

    cfg.check()
    parse_source(cfg.source)  # a missing file fails before the models load
    if classifier is None:
        from signcaps.runtime.classifier import load_classifier

        classifier = load_classifier(cfg.model, threads=cfg.threads, signs=cfg.signs)
    recogniser = Recogniser(classifier, cfg)
    if cfg.explain and not recogniser.explain:
        log("this model has no reconstruction output; --explain shows nothing extra")
    detect_cfg = _detect_config(classifier, cfg.hands)
    hand_model = resolve_hand_model(cfg.hand_model, log=log)
    detector = HandDetector(hand_model, detect_cfg, mode="video")
    try:
        source = open_source(cfg.source, fps=cfg.fps, max_failures=cfg.max_failures, request_size=cfg.camera_size,
                             decode_threads=PIPELINED_DECODE_THREADS if cfg.pipeline else None)
        if cfg.pace:
            from signcaps.live.capture import PacedSource

            source = PacedSource(source, cfg.pace)
    except BaseException:
        detector.close()
        raise
    window = None
    if cfg.window:
        why = why_no_window()
        if why is None:
            window = Window()
        else:
            log(f"{why}: running without a window (use --output and/or --json to see results)")
    stats = StageStats(cfg.warmup)
    # nobody sees an overlay with neither window nor video (--json only): ~1 ms of CPU per frame saved
    draw = cfg.draw if cfg.draw is not None else bool(window is not None or cfg.output)
    states: dict[str, int] = {}
    reason, error = "end of input", None
    writer: VideoWriter | None = None
    reader: ThreadedReader | None = None
    worker: _DetectWorker | None = None
    fps_ema: float | None = None
    last_tick: float | None = None
    note, note_until = None, 0.0
    size: tuple[int, int] | None = None
    pace_origin: float | None = None
    detect = _Detect(detector, cfg.detect_every)
    composer = _composer(cfg, classifier)
    cv_threads: int | None = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        if cfg.pipeline:
            reader = ThreadedReader(source, depth=4, stall_timeout=cfg.stall_timeout)
            worker = _DetectWorker(reader.read, detect)
            next_item = worker.get
        else:  # serial; a camera or stream still reads in a thread so a stall can time out
            if source.live:
                reader = ThreadedReader(source, depth=1, stall_timeout=cfg.stall_timeout)
            read = reader.read if reader is not None else source.read

            def next_item() -> tuple | None:
                frame = read()
                return None if frame is None else detect(frame)
        stats.start()
        while True:
            if cfg.max_frames is not None and stats.frames >= cfg.max_frames:
                reason = "max frames"
                break
            t_wait = time.perf_counter()
            item = next_item()
            wait_ms = (time.perf_counter() - t_wait) * 1000.0
            if item is None:
                break
            frame, rgb, hands, detect_ms = item
            if size is None:
                size = (frame.image.shape[1], frame.image.shape[0])
            timings = {"capture": frame.read_ms, "detect": detect_ms}
            if cfg.pipeline:
                timings["wait"] = wait_ms
            result = recogniser(rgb, hands, frame, timings)
            if composer is not None:  # timed as its own stage: `bench live --compose` reports it
                t0 = time.perf_counter()
                result.compose = _compose(composer, result, on_number, recogniser.classes)
                timings["compose"] = (time.perf_counter() - t0) * 1000.0
            states[result.state] = states.get(result.state, 0) + 1
            now = time.perf_counter()
            if last_tick is not None:
                instant = 1.0 / max(now - last_tick, 1e-6)
                fps_ema = instant if fps_ema is None else 0.9 * fps_ema + 0.1 * instant
            last_tick = now
            image = frame.image
            if draw:
                t0 = time.perf_counter()
                # how fast this machine recognises frames, for a camera and a file alike (a file's own
                # rate is in its container; the corner is there to show whether the loop keeps up)
                image = annotate(image, result, recogniser, fps_ema, note=note if now < note_until else None,
                                 last=_last_number(composer))
                timings["draw"] = (time.perf_counter() - t0) * 1000.0
            if cfg.output:
                if writer is None:
                    writer = VideoWriter(cfg.output, source.fps, (image.shape[1], image.shape[0]),
                                         threaded=cfg.pipeline)
                t0 = time.perf_counter()
                writer.write(image)
                if not cfg.pipeline:
                    timings["write"] = (time.perf_counter() - t0) * 1000.0
            if on_result is not None:
                on_result(result, recogniser.classes)
            if frame.captured is not None:  # a paced source: capture to result, queues included
                timings["latency"] = (time.perf_counter() - frame.captured) * 1000.0
            stats.frame_done(timings)
            if window is not None:
                wait_ms = 1
                if not source.live:  # play files at their own frame rate while they are watched
                    if pace_origin is None:
                        pace_origin = time.perf_counter() - frame.timestamp_ms / 1000.0
                    wait_ms = max(1, int((pace_origin + frame.timestamp_ms / 1000.0 - time.perf_counter()) * 1000.0))
                action = window_step(window, image, wait_ms)
                if action in ("delete", "clear"):
                    _edit(composer, action)
                    action = None
                while action in ("pause", "shot"):
                    if action == "shot":
                        saved = save_screenshot(image, cfg.screenshot_dir, frame.index)
                        note, note_until = f"saved {saved.name}", time.perf_counter() + 2.0
                        log(f"screenshot: {saved}")
                        action = None
                        break
                    paused_at = time.perf_counter()
                    action = paused_loop(window, image, result.index, cfg.screenshot_dir, log)
                    stats.exclude(time.perf_counter() - paused_at)
                    last_tick = pace_origin = None
                if action == "quit":
                    reason = "quit"
                    break
                if window.open is False:  # imshow failed (no usable display): carry on headless
                    log("cannot show a window here: continuing without one")
                    window = None
    except KeyboardInterrupt:
        reason = "interrupted"
    except CaptureError as exc:
        reason, error = "stopped", exc
    finally:
        stats.finish()
        if cv_threads is not None:
            cv2.setNumThreads(cv_threads)
        if worker is not None:
            worker.close()
        if reader is not None:
            reader.close()
        else:
            source.close()
        detector.close()
        if writer is not None:
            writer.close()
            if writer.ms and cfg.pipeline:
                stats.samples["write"] = writer.ms[stats.warmup:] if len(writer.ms) > stats.warmup else []
        if window is not None:
            window.close()
        if composer is not None and (rest := composer.flush()) is not None and on_number is not None:
            on_number(rest)  # the input ended (or the user quit) while a number was being signed
    return LiveSummary(
        frames=stats.frames, seconds=stats.seconds, fps=stats.fps, stages=stats.table(),
        classifier_share=stats.classifier_share(), reason=reason, source=source.name,
        size=size, dropped=reader.dropped if reader else 0,
        skipped=len(getattr(source, "skipped", [])), states=states, output=writer.path if writer else None,
        pipeline=cfg.pipeline, error=error, cpu_ms_per_frame=stats.cpu_ms_per_frame,
        numbers=composer.finished if isinstance(composer, NumberComposer) else None, cpu_share=stats.cpu_share,
        text=(composer.flush() or "") if isinstance(composer, Speller) else None,
        reuse_rate=recogniser.reuse.reuse_rate if cfg.reuse is not None else None,
    )


def _composer(cfg: LiveConfig, classifier) -> NumberComposer | Speller | None:
    """--compose: a Speller for a letters model (or view), else a NumberComposer."""
    if cfg.compose is None:
        return None
    from signcaps.signs.modes import looks_like

    mode = getattr(classifier, "signs", None) or looks_like([str(c) for c in classifier.classes])
    return Speller(cfg.spell or SpellConfig()) if mode == "letters" else NumberComposer(cfg.compose)


def _last_number(composer: NumberComposer | Speller | None) -> str | None:
    return composer.finished[-1] if isinstance(composer, NumberComposer) and composer.finished else None


def _edit(composer: NumberComposer | Speller | None, action: str) -> None:
    """The window's delete and clear keys act on the text being spelled (numbers are left as they are)."""
    if isinstance(composer, Speller):
        if action == "delete":
            composer.delete()
        else:
            composer.clear()


def _compose(composer: NumberComposer | Speller, result: FrameResult, on_number: Callable[[str], None] | None,
             classes: list[str] | None = None):
    """Feed the first hand to the composer: its accepted label (None when the rule rejected it), and for
    spelling its landmarks and longest capsule too; hand a finished number on."""
    first = result.hands[0] if result.hands else None
    if isinstance(composer, Speller):
        return composer.update(result.time_s, None if first is None else first.hand.landmarks,
                               None if first is None else first.label,
                               None if first is None or classes is None else classes[first.best],
                               resting=first is not None and first.status == NONE)
    step = composer.update(first.label if first is not None else None, hand=first is not None)
    if step.finished is not None and on_number is not None:
        on_number(step.finished)
    return step


def _detect_config(classifier, hands: int):
    import dataclasses

    from signcaps.util.config import DetectConfig

    base = getattr(classifier, "detect_cfg", None) or DetectConfig()
    return dataclasses.replace(base, num_hands=hands)

