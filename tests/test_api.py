"""The small public API in signcaps/__init__.py: every name resolves, and importing it stays light."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import signcaps

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


def test_import_signcaps_and_the_cli_do_not_import_torch():
    code = ("import sys, signcaps; assert 'torch' not in sys.modules, 'import signcaps loaded torch'; "
            "import signcaps.cli; heavy = [m for m in ('torch', 'mediapipe', 'onnxruntime') if m in sys.modules]; "
            "assert not heavy, heavy; print(signcaps.__file__)")
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == ROOT / "signcaps" / "__init__.py"  # this tree, not another install


@pytest.mark.parametrize("name", sorted(signcaps._API))
def test_every_public_name_resolves_to_its_module_object(name):
    value = getattr(signcaps, name)
    assert value is getattr(importlib.import_module(signcaps._API[name]), name)
    assert callable(value) and name in signcaps.__all__ and name in dir(signcaps)


def test_the_api_names_what_the_docs_promise():
    assert {"load_recipe", "build_model", "list_models", "load_classifier", "run_live",
            "Predictor"} <= set(signcaps._API)
    assert set(signcaps.__all__) == {"__version__", *signcaps._API}
    assert signcaps.list_models() == sorted(signcaps.list_models()) and "capsnet" in signcaps.list_models()


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        signcaps.nope  # noqa: B018


# ------------------------------------------------------------------ the README's three lines, for real

@pytest.mark.shared
def test_a_predictor_takes_photos_and_numpy_frames_and_returns_landmarks():
    import cv2
    import numpy as np
    from conftest import digit_images

    from signcaps.runtime.predict import PredictInputError

    path = digit_images(7, 1)[0]
    bgr = cv2.imread(str(path))
    with signcaps.Predictor() as predictor:
        by_file = predictor.predict(path)
        by_bgr = predictor.predict(bgr, bgr=True)  # OpenCV's frame as it comes
        by_rgb = predictor.predict(np.ascontiguousarray(bgr[..., ::-1]))
        with pytest.raises(PredictInputError, match="uint8"):
            predictor.predict(bgr.astype(np.float32))
        with pytest.raises(PredictInputError, match="height, width"):
            predictor.predict(np.zeros((4, 4, 2), np.uint8))
    assert by_file["hand"] and by_file["class"] in predictor.classes
    for row in (by_bgr, by_rgb):
        assert row["file"] == "<array>" and row["class"] == by_file["class"]
        assert row["confidence"] == pytest.approx(by_file["confidence"], abs=0.02)
    landmarks = np.array(by_file["landmarks"])
    assert landmarks.shape == (21, 3)
    assert (0 <= landmarks[:, 0]).all() and (landmarks[:, 0] <= bgr.shape[1]).all()  # pixels of the photo


@pytest.mark.shared
def test_run_live_calls_on_result_with_every_frame_and_its_landmarks(tmp_path):
    import videos

    clip = tmp_path / "clip.mp4"
    labels = videos.write_video(clip, videos.sign_frames([4], 10, blank_frames=2))
    seen = []
    summary = signcaps.run_live(signcaps.LiveConfig(source=str(clip), window=False),
                                on_result=lambda result, classes: seen.append(result.to_json(classes)))
    assert summary.frames == len(labels) == len(seen)
    with_hand = [row for row in seen if row["hands"]]
    assert len(with_hand) >= 8 and with_hand[0]["hands"][0]["best"] == "4"
    assert all(len(row["hands"][0]["landmarks"]) == 21 for row in with_hand)


@pytest.mark.shared
def test_the_api_answers_in_letters_mode(tmp_path):
    """`Predictor(signs="letters")` and `LiveConfig(signs="letters")`: the shipped letters model, a 9 is
    an F (one handshape) and a 3, which no letter has, is "none"."""
    import videos
    from conftest import digit_images

    with signcaps.Predictor(signs="letters") as predictor:
        nine, three = predictor.predict(digit_images(9, 1)[0]), predictor.predict(digit_images(3, 1)[0])
    assert predictor.classes[-1] == "none" and "A" in predictor.classes and "9" not in predictor.classes
    assert nine["class"] == "F" and three["status"] == "none"
    clip = tmp_path / "clip.mp4"
    videos.write_video(clip, videos.sign_frames([9], 10, blank_frames=2))
    seen = []
    signcaps.run_live(signcaps.LiveConfig(source=str(clip), window=False, signs="letters"),
                      on_result=lambda result, classes: seen.append(result.to_json(classes)))
    assert {row["hands"][0]["best"] for row in seen if row["hands"]} == {"F"}
