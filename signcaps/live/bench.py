"""`signcaps bench live`: the live loop on a recorded source, per mode, without a window.

The command parses and prints; this module runs the modes and returns what was measured,
so a script can do the same: `bench_live_modes("clip.mp4")`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from signcaps.live.loop import LiveConfig, LiveError, LiveSummary, run_live
from signcaps.live.reuse import ReuseConfig
from signcaps.signs.compose import ComposeConfig

MODES = ("pipelined", "serial", "both")


@dataclass
class DetectorAlone:
    """MediaPipe HandLandmarker by itself on the same frames: the floor the live loop can reach."""

    frames: int
    seconds: float  # wall time inside `detect` calls only (decode and colour conversion left out)
    cpu_ms_per_frame: float  # process CPU time inside those calls, per frame
    with_hand: int
    latency: list[float] | None = None  # paced: ms from the frame's release to the detector's result, per frame
    cpu_share: float | None = None  # paced: process CPU time / wall time over the whole run (decode included)
    pace: float | None = None  # the frame rate the source was played at (None: as fast as it decodes)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, q: float) -> float | None:
        return _percentile(self.latency, q)

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"frames": self.frames, "seconds": round(self.seconds, 3), "fps": round(self.fps, 2),
                               "cpu_ms_per_frame": round(self.cpu_ms_per_frame, 3), "with_hand": self.with_hand}
        if self.pace is not None:
            row.update(pace=self.pace, latency_p50=_round(self.latency_ms(50)), latency_p95=_round(self.latency_ms(95)),
                       cpu_share=_round(self.cpu_share, 4))
        return row


def _percentile(values: list[float] | None, q: float) -> float | None:
    import numpy as np

    return float(np.percentile(values, q)) if values else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def detector_alone(source: str, hand_model: str | None = None, hands: int = 1, max_frames: int | None = None,
                   warmup: int = 10, detect_cfg=None, pace: float | None = None) -> DetectorAlone:
    """Time only `HandDetector.detect` (VIDEO mode, as in `live`) on the frames of `source`.

    Each frame is read and converted to RGB outside the timed region, so this is what the
    detector costs by itself; `live fps / this fps` is how much of the detector's speed the
    whole loop keeps. With `pace` the source is played at that frame rate (`capture.PacedSource`)
    and the run also gives each frame's latency from its release to the detector's result
    (decode and conversion included, as in the loop) and the process's CPU share.
    """
    import dataclasses
    import time

    import cv2

    from signcaps.hands.detector import HandDetector
    from signcaps.live.capture import PacedSource, open_source
    from signcaps.util.assets import resolve_hand_model
    from signcaps.util.config import DetectConfig

    cfg = dataclasses.replace(detect_cfg or DetectConfig(), num_hands=hands)
    detector = HandDetector(resolve_hand_model(hand_model), cfg, mode="video")
    seconds = cpu = 0.0
    frames = with_hand = 0
    latency: list[float] = []
    run_start = cpu_start = run_end = cpu_end = None
    try:
        with open_source(source) as frames_in:
            if pace:
                frames_in = PacedSource(frames_in, pace)
            for n, frame in enumerate(frames_in):
                if max_frames is not None and n >= max_frames:
                    break
                if n == warmup:
                    run_start = frame.captured if frame.captured is not None else time.perf_counter()
                    cpu_start = time.process_time()
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
                if frame.captured is not None:
                    latency.append((t1 - frame.captured) * 1000.0)
                run_end, cpu_end = t1, c1
    finally:
        detector.close()
    share = None
    if pace and run_start is not None and run_end is not None and run_end > run_start:
        share = (cpu_end - cpu_start) / (run_end - run_start)
    return DetectorAlone(frames, seconds, cpu * 1000.0 / max(frames, 1), with_hand,
                         latency if pace else None, share, pace)


# The targets of issue 21 (2 CPU cores, one run of `bench live`): what `LiveBench.targets` checks.
TARGETS = {"pipelined_ratio": 0.95, "serial_ratio": 0.90, "beyond_detector_ms": 1.0, "same_answers": 0.995,
           "latency_p95_ratio": 1.5,
           "compose_ms": 0.2}  # issue 27: composition (numbers, spelling) adds at most this much per frame (mean)


@dataclass
class LiveBench:
    """Summaries per mode (serial first), with the machine they ran on; the detector alone on the
    same frames; the reuse loop's answers against the full-work loop's; and the same at a camera's
    pace (latency, CPU share)."""

    results: dict[str, LiveSummary]
    warmup: int
    cores: int | None
    load_before: float | None  # 1-minute load average before this process added its own
    detector: DetectorAlone | None = None
    agreement: Any = None  # Agreement of the reuse setting used, on the same source
    paced: dict[str, LiveSummary] | None = None  # mode -> the loop on the paced source
    paced_detector: DetectorAlone | None = None
    draw: bool = False
    load_after: float | None = None

    def ratio(self, mode: str) -> float | None:
        """Live fps / detector-alone fps for a mode (1.0 = the loop costs nothing beyond detection)."""
        if self.detector is None or not self.detector.fps or mode not in self.results:
            return None
        return self.results[mode].fps / self.detector.fps

    def beyond_detector_ms(self, mode: str) -> float | None:
        """CPU ms per frame the loop spends beyond the detector alone (decode, crop, classify, draw, threads)."""
        cpu = self.results[mode].cpu_ms_per_frame if mode in self.results else None
        if self.detector is None or cpu is None:
            return None
        return cpu - self.detector.cpu_ms_per_frame

    def latency_ratio(self, mode: str) -> float | None:
        """The loop's latency p95 at the camera's pace / the detector alone's p95 at the same pace."""
        if not self.paced or mode not in self.paced or self.paced_detector is None:
            return None
        loop, alone = self.paced[mode].stages.get("latency", {}).get("p95"), self.paced_detector.latency_ms(95)
        return loop / alone if loop is not None and alone else None

    def targets(self) -> dict[str, dict[str, Any]]:
        """Each target of issues 21 and 27 with the measured value and whether it is met (None: not measured)."""
        rows: dict[str, tuple[float | None, float, bool]] = {}
        for mode in self.results:
            rows[f"{mode}_ratio"] = (self.ratio(mode), TARGETS[f"{mode}_ratio"], True)
            rows[f"{mode}_beyond_detector_ms"] = (self.beyond_detector_ms(mode), TARGETS["beyond_detector_ms"], False)
            compose = self.results[mode].stages.get("compose")  # --compose: the mean of the compose stage
            if compose is not None:
                rows[f"{mode}_compose_ms"] = (compose["mean"], TARGETS["compose_ms"], False)
        if self.agreement is not None:
            rows["same_answers"] = (self.agreement.fraction, TARGETS["same_answers"], True)
        for mode in self.paced or {}:
            rows[f"{mode}_latency_p95_ratio"] = (self.latency_ratio(mode), TARGETS["latency_p95_ratio"], False)
        return {name: {"value": _round(value, 4), "target": target, "at_least" if higher else "at_most": target,
                       "met": None if value is None else (value >= target if higher else value <= target)}
                for name, (value, target, higher) in rows.items()}

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.detector is not None:
            extra["detector_alone"] = self.detector.to_dict()
            extra["ratio"] = {mode: round(r, 4) for mode in self.results if (r := self.ratio(mode)) is not None}
            extra["beyond_detector_ms"] = {mode: round(b, 3) for mode in self.results
                                           if (b := self.beyond_detector_ms(mode)) is not None}
        if self.agreement is not None:
            extra["agreement"] = self.agreement.to_dict()
        if self.paced is not None:
            extra["paced"] = {"fps": self.paced_detector.pace if self.paced_detector else None,
                              "detector_alone": self.paced_detector.to_dict() if self.paced_detector else None,
                              **{mode: summary.to_dict() for mode, summary in self.paced.items()},
                              "latency_p95_ratio": {mode: _round(self.latency_ratio(mode), 4) for mode in self.paced}}
        extra["targets"] = self.targets()
        return {**{name: summary.to_dict() for name, summary in self.results.items()}, **extra, "draw": self.draw,
                "machine": {"cores": self.cores, "load_before": _round(self.load_before, 2),
                            "load_after": _round(self.load_after, 2)}}

    @property
    def busy(self) -> bool:
        """Other processes competed for the CPU while measuring: the numbers are pessimistic."""
        return self.load_before is not None and bool(self.cores) and self.load_before > 0.5 * self.cores


def bench_live(cfg: LiveConfig, classifier=None, repeat: int = 1) -> LiveSummary:
    """The live loop on a recorded source without a window; the fastest of `repeat` runs."""
    cfg.window = False
    cfg.json = False
    if cfg.draw is None:
        cfg.draw = False  # as `live` runs headless: nothing is shown or written, so nothing is drawn
    best: LiveSummary | None = None
    for _ in range(max(1, repeat)):
        summary = run_live(cfg, classifier)
        if summary.error:
            raise summary.error
        if best is None or summary.fps > best.fps:
            best = summary
    assert best is not None
    return best


def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def bench_live_modes(source: str, model: str | None = None, hand_model: str | None = None, hands: int = 1,
                     max_frames: int | None = None, warmup: int = 10, repeat: int = 1, mode: str = "both",
                     explain: bool = False, threads: int = 1, detect_every: int = 1,
                     detector: bool = True, reuse: bool = True, draw: bool = False, pace: float | None = 30.0,
                     pace_frames: int = 600, agreement: bool = True, signs: str | None = None,
                     compose: bool = False, log: Callable[[str], None] = lambda _msg: None) -> LiveBench:
    """Run the loop in each requested mode (`both` = serial, then pipelined) on the same source,
    after the detector alone on the same frames (`detector=False` leaves that out); then, with
    reuse on, its answers against the full-work loop's on the same detections (`agreement`); then,
    with `pace`, the detector alone and each mode again on the source played at that frame rate
    for `pace_frames` frames: capture-to-result latency and CPU share at a camera's pace. `signs` picks the
    sign mode (letters: the letters model's view); `compose` adds composition (numbers, or spelling with
    letters), timed as the "compose" stage."""
    from signcaps.live.capture import parse_source
    from signcaps.runtime.classifier import load_classifier

    if mode not in MODES:
        raise LiveError(f"--mode must be pipelined, serial or both, not {mode!r}")
    if repeat < 1:
        raise LiveError(f"--repeat must be at least 1, got {repeat}")
    if warmup < 0:
        raise LiveError(f"--warmup must be 0 or more, got {warmup}")
    if max_frames is not None and warmup >= max_frames:
        raise LiveError(f"--warmup {warmup} leaves none of the {max_frames} frames (--max-frames) to measure")
    if pace is not None and pace != 0 and not 0.1 <= pace <= 1000:
        raise LiveError(f"--pace must be between 0.1 and 1000 fps (0 = leave the paced runs out), got {pace:g}")
    if pace and warmup >= pace_frames:
        raise LiveError(f"--warmup {warmup} leaves none of the {pace_frames} paced frames (--pace-frames) to measure")
    if max_frames is None and parse_source(source)[0] in ("camera", "stream"):
        max_frames = 300  # a camera never ends by itself
    camera = parse_source(source)[0] in ("camera", "stream")
    load = _load()  # before we add our own
    classifier = load_classifier(model, threads=threads, signs=signs)
    detect_cfg = getattr(classifier, "detect_cfg", None)
    alone = None
    if detector:  # the fastest of `repeat` runs, like the modes: on a busy machine the best run is the least disturbed
        log("the detector alone")
        runs = [detector_alone(source, hand_model, hands, max_frames, warmup, detect_cfg)
                for _ in range(max(1, repeat))]
        alone = max(runs, key=lambda run: run.fps)
    modes = ["serial", "pipelined"] if mode == "both" else [mode]
    reuse_cfg = ReuseConfig() if reuse else None

    def config(name: str, **extra: Any) -> LiveConfig:
        return LiveConfig(source=source, model=model, hand_model=hand_model, hands=hands, window=False,
                          max_frames=max_frames, warmup=warmup, explain=explain, threads=threads,
                          pipeline=name == "pipelined", detect_every=detect_every, reuse=reuse_cfg, draw=draw,
                          signs=signs, compose=ComposeConfig() if compose else None, **extra).check()

    results = {}
    for name in modes:
        log(f"the loop, {name}")
        results[name] = bench_live(config(name), classifier, repeat=repeat)
        if results[name].frames <= warmup:
            raise LiveError(f"{source} gave {results[name].frames} frame(s), all inside --warmup {warmup}: "
                            f"nothing left to measure; lower --warmup or use a longer source")
    same = None
    if agreement and reuse_cfg is not None and not camera and detect_every == 1:
        log("reuse against the full-work loop")
        same = reuse_agreement(source, [reuse_cfg], hand_model=hand_model, max_frames=max_frames, classifier=classifier,
                               cfg=config(modes[0]))[0]
    paced = paced_alone = None
    if pace and not camera:
        log(f"the detector alone at {pace:g} fps")
        paced_alone = detector_alone(source, hand_model, hands, pace_frames, warmup, detect_cfg, pace=pace)
        paced = {}
        for name in modes:
            log(f"the loop, {name}, at {pace:g} fps")
            cfg = config(name, pace=pace)
            cfg.max_frames = pace_frames
            paced[name] = bench_live(cfg, classifier)
    return LiveBench(results, warmup, os.cpu_count(), load, alone, same, paced, paced_alone, draw, _load())


def frame_answer(result) -> tuple:
    """What a frame says: its state and, per hand slot, the label shown ("?" = None). Two loops agree
    on a frame when these are equal."""
    return result.state, tuple((hand.slot, hand.label) for hand in result.hands)


@dataclass
class Agreement:
    """One reuse setting against the full-work loop on the same detections."""

    reuse: Any  # ReuseConfig, or None for the full-work loop itself
    frames: int
    same: int  # frames whose answer equals the full-work loop's
    reused: int  # hands answered from the cache
    computed: int  # hands classified
    max_length_diff: float  # largest |smoothed length difference| over all frames and hands

    @property
    def fraction(self) -> float:
        return self.same / self.frames if self.frames else 1.0

    @property
    def reuse_rate(self) -> float:
        total = self.reused + self.computed
        return self.reused / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"reuse": None if self.reuse is None else asdict(self.reuse), "frames": self.frames,
                "same": self.same, "fraction": round(self.fraction, 5), "reused": self.reused,
                "computed": self.computed, "reuse_rate": round(self.reuse_rate, 4),
                "max_length_diff": round(self.max_length_diff, 5)}


def reuse_agreement(source: str, reuse: list, model: str | None = None, hand_model: str | None = None,
                    hands: int = 1, max_frames: int | None = None, classifier=None,
                    cfg: LiveConfig | None = None) -> list[Agreement]:
    """Each reuse setting against the full-work loop, frame by frame, on the same detections.

    The source is decoded and MediaPipe run once per frame (VIDEO mode, as in `live`); every
    recogniser (the full-work one and one per setting) gets the same frame and hands, so any
    difference in the answers comes from the reuse alone, not from the detector.
    """
    import dataclasses

    import cv2
    import numpy as np

    from signcaps.hands.detector import HandDetector
    from signcaps.live.capture import open_source
    from signcaps.live.loop import _detect_config
    from signcaps.live.recognise import Recogniser
    from signcaps.runtime.classifier import load_classifier
    from signcaps.util.assets import resolve_hand_model

    classifier = classifier if classifier is not None else load_classifier(model)
    base = cfg if cfg is not None else LiveConfig(hands=hands)
    full = Recogniser(classifier, dataclasses.replace(base, reuse=None))
    others = [Recogniser(classifier, dataclasses.replace(base, reuse=setting)) for setting in reuse]
    same = [0] * len(others)
    diff = [0.0] * len(others)
    frames = 0
    detector = HandDetector(resolve_hand_model(hand_model), _detect_config(classifier, base.hands), mode="video")
    try:
        with open_source(source) as frames_in:
            for frame in frames_in:
                if max_frames is not None and frames >= max_frames:
                    break
                rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
                found = detector.detect(rgb, frame.timestamp_ms)
                reference = full(rgb, found, frame, {})
                answer = frame_answer(reference)
                for k, recogniser in enumerate(others):
                    result = recogniser(rgb, found, frame, {})
                    same[k] += frame_answer(result) == answer
                    for a, b in zip(result.hands, reference.hands):
                        diff[k] = max(diff[k], float(np.abs(a.lengths - b.lengths).max()))
                frames += 1
    finally:
        detector.close()
    return [Agreement(setting, frames, same[k], others[k].reuse.reused, others[k].reuse.computed, diff[k])
            for k, setting in enumerate(reuse)]


def compare_hand_models(hand_models: list[str], source: str, model: str | None = None, data: str | None = None,
                        split: str = "test", max_frames: int | None = None, warmup: int = 10,
                        show_progress: bool = True) -> list[dict[str, Any]]:
    """Per hand model (a path, `full` or `lite`): detector-alone speed on a clip (VIDEO mode, as in
    `live`), and on the dataset split (IMAGE mode, as in `data prepare`) the hands found and the
    accuracy of `model` (the shipped default when None)."""
    from signcaps.runtime.classifier import load_classifier
    from signcaps.runtime.onnxeval import split_lengths
    from signcaps.util.assets import resolve_hand_model

    detect_cfg = load_classifier(model).detect_cfg
    rows = []
    for name in hand_models:
        path = resolve_hand_model(name)
        alone = detector_alone(source, str(path), 1, max_frames, warmup, detect_cfg)
        result = split_lengths(model, data, split, str(path), show_progress=show_progress)
        rows.append({"hand_model": name, "path": str(path), "size_bytes": path.stat().st_size,
                     "clip": alone.to_dict(), "dataset": result.summary()})
    return rows
