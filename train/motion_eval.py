"""J and Z from motion (issue 27): how each stroke judge does on real photos moved along paths.

    PYTHONPATH=$PWD .venv/bin/python train/motion_eval.py            # the table of train/README.md ("J and Z")
    PYTHONPATH=$PWD .venv/bin/python train/motion_eval.py --json out.json

Clips (tests/motionclips.py): photos of I (ASL letters) drawn along J paths, of D (letters) and 1
(digits) along Z paths, at random sizes (1-2.5 hand sizes; the hand 70-110 px from wrist to knuckle
in 640x480 frames), speeds (0.6-1.4 s of motion, 25 or 30 fps), places, mirrored or not, the
shape turned (up to 15 degrees), stretched (30%) and sheared (0.2) by a random amount, the hand
stopping at the corners or not; the same hands along distractor paths (lines, a circle, a U-shaped
arc, a vertical zigzag, a tick, a wave, an S, jitter, a short slide), and other handshapes (Y, L,
A) along J and Z paths.
Every frame goes through the real MediaPipe hand model (VIDEO mode) and the shipped letters model,
as in `live`; tracks are cached in data/cache/motion/ (the first run takes a few minutes).

The photos are split by original: thresholds (template, dtw) and the logistic model are fitted on
the "tune" half and every figure is reported on the "report" half, other photos and other draws.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from motionclips import SHARED, ClipSpec, Track, Tracker, cached_track, photo_sets, still_landmarks  # noqa: E402
from motionpaths import DISTRACTOR_PATHS  # noqa: E402

from signcaps.signs import strokes  # noqa: E402
from signcaps.signs.motion import MotionConfig, MotionSpotter  # noqa: E402

CACHE = ROOT / "data" / "cache" / "motion"


def clip_specs(part: str, seed: int) -> list[ClipSpec]:
    """The clips of one part: letters, distractors, other handshapes; random draws seeded per part."""
    rng = np.random.default_rng(seed + (0 if part == "tune" else 1000))
    sets = {kind: [p for p in paths if still_landmarks(p) is not None] for kind, paths in photo_sets(part).items()}

    def draw(photo: Path, kind: str, path: str) -> ClipSpec:
        return ClipSpec(str(photo.relative_to(SHARED)), kind, path, size=round(float(rng.uniform(1.0, 2.5)), 2),
                        duration=round(float(rng.uniform(0.6, 1.4)), 2), fps=float(rng.choice([25.0, 30.0])),
                        mirror=bool(rng.integers(2)), orient=float(rng.choice([-1.0, 1.0])),
                        seed=int(rng.integers(1 << 30)), hand_px=round(float(rng.uniform(70.0, 110.0)), 1),
                        distort=round(float(rng.uniform(0, 1)), 2), corner_stops=bool(rng.integers(2)))

    specs = [draw(p, "I", "J") for p in sets["I"] for _ in range(6)]
    specs += [draw(p, kind, "Z") for kind in ("D", "1") for p in sets[kind] for _ in range(4 if kind == "D" else 2)]
    index_hands = [("I", p) for p in sets["I"]] + [("D", p) for p in sets["D"]] + [("1", p) for p in sets["1"]]
    for n, path in enumerate(DISTRACTOR_PATHS):
        for k in range(12):
            kind, photo = index_hands[(n * 12 + k * 5) % len(index_hands)]
            specs.append(draw(photo, kind, path))
    for kind, path in (("Y", "J"), ("L", "Z"), ("A", "J"), ("A", "Z")):
        specs += [draw(p, kind, path) for p in sets[kind][:6]]
    return specs


def found_at_rest(track: Track, share: float = 0.8) -> bool:
    """Does MediaPipe find the hand in the rest before the motion? Clips where it does not measure the
    hand model on a pasted photo, not the spotter: they are counted apart and left out."""
    rest = track.times < 0.5 - 1e-9  # motionpaths.timeline's rest_s
    return bool(np.mean(~np.isnan(track.landmarks[rest, 0, 0])) >= share)


def strokes_of(track: Track, cfg: MotionConfig) -> list[tuple[np.ndarray, str, float]]:
    """Every stroke the spotter would judge in the track: (tip path, letter, thumb)."""
    seen: list[tuple[np.ndarray, str, float]] = []

    def record(path: np.ndarray, letter: str, thumb: float) -> bool:
        seen.append((path, letter, thumb))
        return False

    spotter = MotionSpotter(cfg, judge=record)
    for row in track.frames():
        spotter.update(*row)
    return seen


def landmarks_only(track: Track) -> Track:
    return Track(track.times, track.landmarks, [None] * len(track.labels), [None] * len(track.best))


def letters_of(track: Track, cfg: MotionConfig, judge) -> list[str]:
    spotter = MotionSpotter(cfg, judge=judge)
    return [letter for letter in (spotter.update(*row) for row in track.frames()) if letter]


def fit_threshold(scores: list[tuple[float, bool]]) -> float:
    """The largest distance accepted: midway between the farthest letter clip and the nearest other
    clip when they are apart; else just below the nearest other clip (no J or Z on them first)."""
    positives = sorted(d for d, pos in scores if pos)
    negatives = sorted(d for d, pos in scores if not pos)
    nearest_other = negatives[0] if negatives else 1.0
    kept = [d for d in positives if d < nearest_other]
    return (kept[-1] + nearest_other) / 2 if kept else nearest_other * 0.95


def tune(tracks: dict[ClipSpec, Track], cfg: MotionConfig) -> dict[str, object]:
    """Thresholds for template and dtw, the logistic model, fitted on the tuning clips."""
    per_clip = {spec: strokes_of(track, cfg) for spec, track in tracks.items() if found_at_rest(track)}
    fitted: dict[str, object] = {}
    for method, distance in (("template", strokes.template_distance), ("dtw", strokes.dtw_distance)):
        for gate in (False, True):  # the threshold alone, or after the turn check
            scores = []
            for spec, seen in per_clip.items():
                if spec.kind not in ("I", "D", "1"):  # other hands are told apart by their shape, not their path
                    continue
                own = [distance(p, letter, thumb) for p, letter, thumb in seen
                       if (spec.expect is None or letter == spec.expect)
                       and (not gate or strokes.turns_like(p, letter))]
                if own:
                    scores.append((min(own), spec.expect is not None))
            fitted[method + ("+" if gate else "")] = fit_threshold(scores)
    rows = [(path, letter, thumb, spec.expect == letter) for spec, seen in per_clip.items()
            for path, letter, thumb in seen]
    fitted["model"] = strokes.StrokeModel.fit(rows)
    return fitted


def judges(fitted: dict[str, object]) -> dict[str, object]:
    model: strokes.StrokeModel = fitted["model"]  # type: ignore[assignment]
    turn = strokes.turns_like
    return {
        "rule": lambda p, letter, thumb: strokes.rule_says(p, letter, thumb),
        "template": lambda p, letter, thumb: strokes.template_distance(p, letter, thumb) <= fitted["template"],
        "dtw": lambda p, letter, thumb: strokes.dtw_distance(p, letter, thumb) <= fitted["dtw"],
        "model": lambda p, letter, thumb: model.says(p, letter, thumb),
        "template + turn": lambda p, letter, thumb: (strokes.template_distance(p, letter, thumb) <= fitted["template+"]
                                                     and turn(p, letter)),
        "dtw + turn": lambda p, letter, thumb: (strokes.dtw_distance(p, letter, thumb) <= fitted["dtw+"]
                                                and turn(p, letter)),
    }


def score(tracks: dict[ClipSpec, Track], cfg: MotionConfig, judge) -> dict[str, list[int]]:
    """Per group: [clips right, clips]. Letter clips are right when exactly their letter came, other clips
    when no J or Z came."""
    out: dict[str, list[int]] = {}
    for spec, track in tracks.items():
        if not found_at_rest(track):
            out.setdefault("no hand at rest (left out)", [0, 0])[1] += 1
            continue
        got = letters_of(track, cfg, judge)
        if spec.expect:
            group, right = f"{spec.expect} ({'I' if spec.expect == 'J' else 'D, 1'})", got == [spec.expect]
        elif spec.kind in ("I", "D", "1"):
            group, right = "distractor paths", not got
        else:
            group, right = "other hands on J/Z paths", not got
        cell = out.setdefault(group, [0, 0])
        cell[0] += int(right)
        cell[1] += 1
        if not right:
            out.setdefault("errors", []).append(f"{spec.kind} {spec.path} size {spec.size} {spec.duration}s "
                                                f"{'mirror ' if spec.mirror else ''}-> {''.join(got) or '-'}")
    return out


def tracks_of(part: str, seed: int = 0, tracker: Tracker | None = None, cache: Path = CACHE) -> dict[ClipSpec, Track]:
    """Every clip of `part` with its (cached) track."""
    tracker = tracker or Tracker()
    return {spec: cached_track(spec, cache, tracker) for spec in clip_specs(part, seed)}


def measure_shipped(cfg: MotionConfig, seed: int = 0, cache: Path = CACHE) -> dict[str, list[int]]:
    """The report half judged by `MotionSpotter(cfg)` itself (its own method and threshold)."""
    return score(tracks_of("report", seed, cache=cache), cfg, None)


def cpu_per_frame(tracks: dict[ClipSpec, Track], cfg: MotionConfig) -> tuple[float, float, float]:
    """The shipped spotter's CPU time per `update` over every track: mean, 99th percentile and most (ms)."""
    import time

    spent = []
    for track in tracks.values():
        spotter = MotionSpotter(cfg)
        for row in track.frames():
            start = time.process_time()
            spotter.update(*row)
            spent.append(time.process_time() - start)
    ms = np.array(spent) * 1000.0
    return float(ms.mean()), float(np.percentile(ms, 99)), float(ms.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write every figure here")
    parser.add_argument("--errors", action="store_true", help="list the report clips each judge got wrong")
    args = parser.parse_args()
    tracker = Tracker()
    parts = {part: tracks_of(part, args.seed, tracker) for part in ("tune", "report")}
    cfg = MotionConfig()
    results = {}
    for inputs, view in (("landmarks + letters model", lambda t: t), ("landmarks only", landmarks_only)):
        tuned = {spec: view(t) for spec, t in parts["tune"].items()}
        report = {spec: view(t) for spec, t in parts["report"].items()}
        fitted = tune(tuned, cfg)
        for method, judge in judges(fitted).items():
            results[(inputs, method)] = score(report, cfg, judge)
            key = {"template + turn": "template+", "dtw + turn": "dtw+"}.get(method, method)
            if key in fitted and key != "model":
                results[(inputs, method)]["threshold"] = [round(float(fitted[key]), 4)]
    shipped = MotionConfig()
    results[("shipped: landmarks + letters model", f"{shipped.method} (MotionConfig())")] = {
        **score(parts["report"], shipped, None), "threshold": [shipped.threshold]}
    groups = ["J (I)", "Z (D, 1)", "distractor paths", "other hands on J/Z paths"]
    for part, tracks in parts.items():
        missing = sum(not found_at_rest(t) for t in tracks.values())
        print(f"{part}: {len(tracks)} clips, {missing} left out: MediaPipe finds no hand in the rest before the "
              "motion", file=sys.stderr)
    print(f"| handshape from | judge | {' | '.join(groups)} | threshold |")
    print("| --- | --- |" + " ---: |" * (len(groups) + 1))
    for (inputs, method), cells in results.items():
        row = [f"{cells[g][0]}/{cells[g][1]} ({100 * cells[g][0] / cells[g][1]:.0f}%)" for g in groups]
        thr = cells.get("threshold", ["-"])[0]
        print(f"| {inputs} | {method} | {' | '.join(row)} | {thr} |")
        if args.errors:
            for line in cells.get("errors", []):
                print(f"    {method}: {line}")
    mean, p99, most = cpu_per_frame(parts["report"], shipped)
    print(f"shipped spotter CPU per frame (report tracks): mean {mean:.3f} ms, 99th percentile {p99:.3f} ms, "
          f"most {most:.3f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({f"{k[0]} / {k[1]}": v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
