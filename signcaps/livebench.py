"""`signcaps bench live`: the live loop on a recorded source, per mode, without a window.

The command parses and prints; this module runs the modes and returns what was measured,
so a script can do the same: `bench_live_modes("clip.mp4")`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from signcaps.live import LiveConfig, LiveError, LiveSummary, run_live

MODES = ("pipelined", "serial", "both")


@dataclass
class DetectorAlone:
    """MediaPipe HandLandmarker by itself on the same frames: the floor the live loop can reach."""

    frames: int
    seconds: float  # wall time inside `detect` calls only (decode and colour conversion left out)
    cpu_ms_per_frame: float  # process CPU time inside those calls, per frame
    with_hand: int

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "seconds": round(self.seconds, 3), "fps": round(self.fps, 2),
                "cpu_ms_per_frame": round(self.cpu_ms_per_frame, 3), "with_hand": self.with_hand}


def detector_alone(source: str, hand_model: str | None = None, hands: int = 1, max_frames: int | None = None,
                   warmup: int = 10, detect_cfg=None) -> DetectorAlone:
    """Time only `HandDetector.detect` (VIDEO mode, as in `live`) on the frames of `source`.

    Each frame is read and converted to RGB outside the timed region, so this is what the
    detector costs by itself; `live fps / this fps` is how much of the detector's speed the
    whole loop keeps.
    """
    import dataclasses
    import time

    import cv2

    from signcaps.assets import resolve_hand_model
    from signcaps.capture import open_source
    from signcaps.config import DetectConfig
    from signcaps.hands import HandDetector

    cfg = dataclasses.replace(detect_cfg or DetectConfig(), num_hands=hands)
    detector = HandDetector(resolve_hand_model(hand_model), cfg, mode="video")
    seconds = cpu = 0.0
    frames = with_hand = 0
    try:
        with open_source(source) as frames_in:
            for n, frame in enumerate(frames_in):
                if max_frames is not None and n >= max_frames:
                    break
                rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
                t0, c0 = time.perf_counter(), time.process_time()
                found = detector.detect(rgb, frame.timestamp_ms)
                t1, c1 = time.perf_counter(), time.process_time()
                if n < warmup:
                    continue
                seconds += t1 - t0
                cpu += c1 - c0
                frames += 1
                with_hand += bool(found)
    finally:
        detector.close()
    return DetectorAlone(frames, seconds, cpu * 1000.0 / max(frames, 1), with_hand)


@dataclass
class LiveBench:
    """Summaries per mode (serial first), with the machine they ran on."""

    results: dict[str, LiveSummary]
    warmup: int
    cores: int | None
    load_before: float | None  # 1-minute load average before this process added its own
    detector: DetectorAlone | None = None

    def ratio(self, mode: str) -> float | None:
        """Live fps / detector-alone fps for a mode (1.0 = the loop costs nothing beyond detection)."""
        if self.detector is None or not self.detector.fps or mode not in self.results:
            return None
        return self.results[mode].fps / self.detector.fps

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.detector is not None:
            extra["detector_alone"] = self.detector.to_dict()
            extra["ratio"] = {mode: round(r, 4) for mode in self.results if (r := self.ratio(mode)) is not None}
        return {**{name: summary.to_dict() for name, summary in self.results.items()}, **extra,
                "machine": {"cores": self.cores,
                            "load_before": None if self.load_before is None else round(self.load_before, 2)}}

    @property
    def busy(self) -> bool:
        """Other processes competed for the CPU while measuring: the numbers are pessimistic."""
        return self.load_before is not None and bool(self.cores) and self.load_before > 0.5 * self.cores


def bench_live(cfg: LiveConfig, classifier=None, repeat: int = 1) -> LiveSummary:
    """The live loop on a recorded source without a window; the fastest of `repeat` runs."""
    cfg.window = False
    cfg.json = False
    if cfg.draw is None:
        cfg.draw = True  # measure the loop as a person watching it runs it
    best: LiveSummary | None = None
    for _ in range(max(1, repeat)):
        summary = run_live(cfg, classifier)
        if summary.error:
            raise summary.error
        if best is None or summary.fps > best.fps:
            best = summary
    assert best is not None
    return best


def bench_live_modes(source: str, model: str | None = None, hand_model: str | None = None, hands: int = 1,
                     max_frames: int | None = None, warmup: int = 10, repeat: int = 1, mode: str = "both",
                     explain: bool = False, threads: int = 1, detect_every: int = 1,
                     detector: bool = True) -> LiveBench:
    """Run the loop in each requested mode (`both` = serial, then pipelined) on the same source,
    after the detector alone on the same frames (`detector=False` leaves that out)."""
    from signcaps.capture import parse_source
    from signcaps.runtime import load_classifier

    if mode not in MODES:
        raise LiveError(f"--mode must be pipelined, serial or both, not {mode!r}")
    if repeat < 1:
        raise LiveError(f"--repeat must be at least 1, got {repeat}")
    if warmup < 0:
        raise LiveError(f"--warmup must be 0 or more, got {warmup}")
    if max_frames is not None and warmup >= max_frames:
        raise LiveError(f"--warmup {warmup} leaves none of the {max_frames} frames (--max-frames) to measure")
    if max_frames is None and parse_source(source)[0] in ("camera", "stream"):
        max_frames = 300  # a camera never ends by itself
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # before we add our own
    classifier = load_classifier(model, threads=threads)
    alone = None
    if detector:  # the fastest of `repeat` runs, like the modes: on a busy machine the best run is the least disturbed
        runs = [detector_alone(source, hand_model, hands, max_frames, warmup, getattr(classifier, "detect_cfg", None))
                for _ in range(max(1, repeat))]
        alone = max(runs, key=lambda run: run.fps)
    modes = ["serial", "pipelined"] if mode == "both" else [mode]
    results = {}
    for name in modes:
        cfg = LiveConfig(source=source, model=model, hand_model=hand_model, hands=hands, window=False,
                         max_frames=max_frames, warmup=warmup, explain=explain, threads=threads,
                         pipeline=name == "pipelined", detect_every=detect_every).check()
        results[name] = bench_live(cfg, classifier, repeat=repeat)
        if results[name].frames <= warmup:
            raise LiveError(f"{source} gave {results[name].frames} frame(s), all inside --warmup {warmup}: "
                            f"nothing left to measure; lower --warmup or use a longer source")
    return LiveBench(results, warmup, os.cpu_count(), load, alone)


def compare_hand_models(hand_models: list[str], source: str, model: str | None = None, data: str | None = None,
                        split: str = "test", max_frames: int | None = None, warmup: int = 10,
                        show_progress: bool = True) -> list[dict[str, Any]]:
    """Per hand model (a path, `full` or `lite`): detector-alone speed on a clip (VIDEO mode, as in
    `live`), and on the dataset split (IMAGE mode, as in `data prepare`) the hands found and the
    accuracy of `model` (the shipped default when None)."""
    from signcaps.assets import resolve_hand_model
    from signcaps.onnxeval import split_lengths
    from signcaps.runtime import load_classifier

    detect_cfg = load_classifier(model).detect_cfg
    rows = []
    for name in hand_models:
        path = resolve_hand_model(name)
        alone = detector_alone(source, str(path), 1, max_frames, warmup, detect_cfg)
        result = split_lengths(model, data, split, str(path), show_progress=show_progress)
        rows.append({"hand_model": name, "path": str(path), "size_bytes": path.stat().st_size,
                     "clip": alone.to_dict(), "dataset": result.summary()})
    return rows
