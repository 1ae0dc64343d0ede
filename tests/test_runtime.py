"""`signcaps.runtime`: metadata, rejection of bad files with one-line errors, torch-free inference."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import HAND_MODEL
from onnx import TensorProto, helper
from typer.testing import CliRunner

from signcaps.cli import app
from signcaps.config import CropConfig, DetectConfig
from signcaps.errors import UserError


@pytest.fixture(scope="session")
def real_image(tiny) -> Path:
    """A dataset image in which the detector found a hand (it is in the crop cache)."""
    from signcaps.data import load_cache

    cache = next((tiny["data"].parent / "cache").glob("*.npz"))
    crops = load_cache(cache)
    return tiny["data"] / crops.paths[int(np.flatnonzero(~crops.fallback)[0])]


def test_reads_metadata(tiny):
    from signcaps.runtime import OnnxClassifier

    clf = OnnxClassifier(tiny["onnx"])
    assert clf.classes == [str(i) for i in range(10)]
    assert isinstance(clf.crop_cfg, CropConfig) and isinstance(clf.detect_cfg, DetectConfig)
    assert (clf.crop_cfg.input_size, clf.crop_cfg.channels, clf.crop_cfg.margin) == (32, 1, 0.2)
    assert clf.detect_cfg == DetectConfig()
    assert clf.has_reconstruction and clf.meta["model"] == "capsnet" and clf.threads == 1


def test_classify_shapes_and_threads(tiny):
    from signcaps.runtime import ModelInputError, OnnxClassifier

    x = np.random.default_rng(1).uniform(-1, 1, (5, 1, 32, 32)).astype(np.float32)
    one, two = OnnxClassifier(tiny["onnx"], threads=1), OnnxClassifier(tiny["onnx"], threads=2)
    lengths = one.classify(x)
    assert lengths.shape == (5, 10) and lengths.dtype == np.float32
    assert ((lengths >= 0) & (lengths < 1)).all()
    assert np.allclose(two.classify(x), lengths, atol=1e-6)
    assert one.classify(x[:0]).shape == (0, 10)
    both, recon = one.classify_and_reconstruct(x)
    assert np.allclose(both, lengths, atol=1e-6) and recon.shape == (5, 1, 32, 32)
    with pytest.raises(ModelInputError):
        one.classify(np.zeros((2, 3, 32, 32), np.float32))


def test_classification_graph_skips_the_decoder(tiny):
    from signcaps.runtime import prune_to_outputs

    model = onnx.load(str(tiny["onnx"]))
    pruned = prune_to_outputs(model, ["lengths"])
    onnx.checker.check_model(pruned)
    assert [o.name for o in pruned.graph.output] == ["lengths"]
    assert len(pruned.graph.node) < len(model.graph.node)
    assert "Sigmoid" not in {n.op_type for n in pruned.graph.node}


def _add_model(path: Path) -> None:
    """A valid ONNX file that is not a signcaps model."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "add", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _wrong_shape_model(src: Path, path: Path) -> None:
    """The real export with metadata claiming 48x48 crops."""
    model = onnx.load(str(src))
    for prop in model.metadata_props:
        if prop.key == "signcaps":
            meta = json.loads(prop.value)
            meta["input_size"] = 48
            prop.value = json.dumps(meta)
    onnx.save(model, str(path))


@pytest.mark.parametrize("case, message", [
    ("corrupt", "is not an ONNX model"),
    ("truncated", "is not an ONNX model"),
    ("empty", "is not an ONNX model"),
    ("text", "is not an ONNX model"),
    ("foreign", "has no signcaps metadata"),
    ("wrong_shape", "disagrees with its metadata"),
    ("missing", "model not found"),
])
def test_bad_models_fail_with_one_line(tiny, real_image, tmp_path, case, message):
    bad = tmp_path / f"{case}.onnx"
    if case == "corrupt":
        bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif case == "truncated":
        data = tiny["onnx"].read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif case == "empty":
        bad.write_bytes(b"")
    elif case == "text":
        bad.write_text("hello, I am not a model\n")
    elif case == "foreign":
        _add_model(bad)
    elif case == "wrong_shape":
        _wrong_shape_model(tiny["onnx"], bad)
    result = CliRunner().invoke(app, ["predict", str(real_image), "--model", str(bad)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output

    from signcaps.runtime import load_classifier

    with pytest.raises(UserError, match=message):
        load_classifier(bad)


def test_default_model(monkeypatch, tmp_path, real_image):
    import signcaps.runtime as runtime

    path = runtime.default_model_path()
    assert (path.name == "default_model.onnx" and path.parent.name == "resources"
            and path.parent.parent.name == "signcaps")
    monkeypatch.setattr(runtime, "default_model_path", lambda: tmp_path / "default_model.onnx")
    with pytest.raises(UserError, match=r"no default model shipped; pass --model PATH"):
        runtime.load_classifier(None)
    result = CliRunner().invoke(app, ["predict", str(real_image)])
    assert result.exit_code == 1 and "no default model shipped; pass --model PATH" in result.output
    assert "Traceback" not in result.output


TORCH_FREE = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None  # any `import torch` now raises ImportError
    import numpy as np
    from signcaps.hands import HandDetector
    from signcaps.preprocess import crop_hand, read_image_rgb
    from signcaps.runtime import load_classifier

    model, image_path, hand_model = sys.argv[1:4]
    clf = load_classifier(model)
    image = read_image_rgb(image_path)
    with HandDetector(hand_model, clf.detect_cfg, mode="image") as detector:
        hand = detector.detect(image)[0]
    crop = crop_hand(image, hand.landmarks, hand.is_left, clf.crop_cfg)
    lengths = clf.classify_crops([crop])
    recon = clf.reconstruct(np.zeros((1, 1, 32, 32), np.float32))
    assert sys.modules["torch"] is None
    print("OK", clf.classes[int(lengths.argmax())], lengths.shape, recon.shape)
""")


def test_runtime_works_without_torch(tiny, real_image):
    result = subprocess.run([sys.executable, "-c", TORCH_FREE, str(tiny["onnx"]), str(real_image), str(HAND_MODEL)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("OK ") and "(1, 10) (1, 1, 32, 32)" in result.stdout
