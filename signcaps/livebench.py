"""`signcaps bench live`: the live loop on a recorded source, per mode, without a window.

The command parses and prints; this module runs the modes and returns what was measured,
so a script can do the same: `bench_live_modes("clip.mp4")`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from signcaps.live import LiveConfig, LiveError, LiveSummary, run_live

MODES = ("pipelined", "serial", "both")


@dataclass
class LiveBench:
    """Summaries per mode (serial first), with the machine they ran on."""

    results: dict[str, LiveSummary]
    warmup: int
    cores: int | None
    load_before: float | None  # 1-minute load average before this process added its own
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**{name: summary.to_dict() for name, summary in self.results.items()}, **self.extra,
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
                     explain: bool = False, threads: int = 1, detect_every: int = 1) -> LiveBench:
    """Run the loop in each requested mode (`both` = serial, then pipelined) on the same source."""
    from signcaps.capture import parse_source
    from signcaps.runtime import load_classifier

    if mode not in MODES:
        raise LiveError(f"--mode must be pipelined, serial or both, not {mode!r}")
    if max_frames is None and parse_source(source)[0] in ("camera", "stream"):
        max_frames = 300  # a camera never ends by itself
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # before we add our own
    classifier = load_classifier(model, threads=threads)
    modes = ["serial", "pipelined"] if mode == "both" else [mode]
    results = {}
    for name in modes:
        cfg = LiveConfig(source=source, model=model, hand_model=hand_model, hands=hands, window=False,
                         max_frames=max_frames, warmup=warmup, explain=explain, threads=threads,
                         pipeline=name == "pipelined", detect_every=detect_every).check()
        results[name] = bench_live(cfg, classifier, repeat=repeat)
    return LiveBench(results, warmup, os.cpu_count(), load)
