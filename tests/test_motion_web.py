"""deploy/web/src/motion.js, the page's copy of the J and Z spotter, against signcaps.signs.motion (node).

Random synthetic tracks (tests/motionpaths.py: letters and other paths, both hands, any speed, size,
frame rate, landmark noise, lost frames, labels) go through both; every frame's letter and moving()
must be the same, and the template distances and end turns equal to 1e-9.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from motionpaths import DISTRACTOR_PATHS, LETTER_PATHS, synthetic_hand, timeline

from signcaps.signs import strokes
from signcaps.signs.motion import MotionConfig, MotionError, MotionSpotter

NODE = shutil.which("node")
WEB = Path(__file__).resolve().parents[1] / "deploy" / "web"
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")


def random_tracks(rng: np.random.Generator, count: int) -> list[dict]:
    tracks = []
    paths = LETTER_PATHS * 4 + DISTRACTOR_PATHS
    for n in range(count):
        path = paths[n % len(paths)]
        shape = {"J": "I", "Z": "index"}.get(path, "") if rng.random() < 0.6 else ""
        shape = shape or str(rng.choice(["I", "index", "fist"]))
        fps = float(rng.choice([15.0, 25.0, 30.0, 60.0]))
        palm = float(rng.uniform(30, 120))
        thumb = float(rng.choice([-1.0, 1.0]))
        hand = synthetic_hand(shape, palm, thumb) + rng.uniform(100, 500, 2)
        offsets = timeline(path, fps, float(rng.uniform(0.4, 1.5)), palm * float(rng.uniform(0.8, 2.6)), thumb,
                           rng=rng, distort=float(rng.uniform(0, 1)), corner_stops=bool(rng.integers(2)))
        noise = float(rng.choice([0.0, 0.5, 1.5]))
        lost = set(rng.choice(len(offsets), size=int(rng.integers(0, 4)), replace=False).tolist())
        label = rng.choice([None, "I", "D", "Y", "none"], p=[0.6, 0.1, 0.1, 0.1, 0.1])
        frames = [{"t": k / fps, "label": label, "best": "V" if label is None else label,
                   "landmarks": None if k in lost else (hand + off + rng.normal(0, noise, (21, 2))).tolist()}
                  for k, off in enumerate(offsets)]
        cfg = {} if n % 5 else {"threshold": float(rng.uniform(0.1, 0.4)), "min_extent": 0.3}
        tracks.append({"frames": frames, "cfg": cfg})
    return tracks


def test_js_spotter_equals_python(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tracks = random_tracks(rng, 100)
    distances = [{"path": (rng.normal(0, 1, (int(rng.integers(2, 40)), 2)).cumsum(axis=0)).tolist(),
                  "letter": str(rng.choice(["J", "Z"])), "thumb": float(rng.choice([-1.0, 0.0, 1.0]))}
                 for _ in range(200)]
    configs = [{}, {"window_s": 0}, {"still_speed": 2.0}, {"min_shape": 1.5}, {"method": "dtw"}, {"threshold": None},
               {"turn": 1}, {"turn": False}]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"tracks": tracks, "distances": distances, "configs": configs}))
    done = subprocess.run([NODE, str(WEB / "test" / "motion_parity.mjs"), str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    letters = 0
    for track, js in zip(tracks, got["tracks"], strict=True):
        spotter = MotionSpotter(MotionConfig(**track["cfg"]))
        want, moving = [], []
        for f in track["frames"]:
            marks = None if f["landmarks"] is None else np.array(f["landmarks"])
            want.append(spotter.update(f["t"], marks, f["label"], f["best"]))
            moving.append(spotter.moving())
        assert js["letters"] == want and js["moving"] == moving, track["cfg"]
        letters += sum(x is not None for x in want)
    assert letters >= 20  # the letters were reached, not only the "nothing" answers
    for case, js, turn in zip(distances, got["distances"], got["turns"], strict=True):
        assert abs(js - strokes.template_distance(np.array(case["path"]), case["letter"], case["thumb"])) < 1e-9
        assert abs(turn - strokes.end_turn(np.array(case["path"]))) < 1e-9
    for cfg, js in zip(configs, got["configs"], strict=True):
        if "method" in cfg:  # the page has the shipped judge only, and says so
            assert "not ported" in js
            continue
        try:
            MotionConfig(**cfg).check()
            assert js is None
        except MotionError:
            assert js is not None, cfg
