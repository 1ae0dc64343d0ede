"""`signcaps.runtime.classifier`: metadata, rejection of bad files with one-line errors, torch-free inference."""
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
from signcaps.util.config import CropConfig, DetectConfig
from signcaps.util.errors import UserError


@pytest.fixture(scope="session")
def real_image(tiny) -> Path:
    """A dataset image in which the detector found a hand (it is in the crop cache)."""
    from signcaps.data.crops import load_cache

    cache = next((tiny["data"].parent / "cache").glob("*.npz"))
    crops = load_cache(cache)
    return tiny["data"] / crops.paths[int(np.flatnonzero(~crops.fallback)[0])]


def test_reads_metadata(tiny):
    from signcaps.runtime.classifier import OnnxClassifier

    clf = OnnxClassifier(tiny["onnx"])
    assert clf.classes == [str(i) for i in range(10)]
    assert isinstance(clf.crop_cfg, CropConfig) and isinstance(clf.detect_cfg, DetectConfig)
    assert (clf.crop_cfg.input_size, clf.crop_cfg.channels, clf.crop_cfg.margin) == (32, 1, 0.2)
    assert clf.detect_cfg == DetectConfig()
    assert clf.has_reconstruction and clf.meta["model"] == "capsnet" and clf.threads == 1


def test_classify_shapes_and_threads(tiny):
    from signcaps.runtime.classifier import ModelInputError, OnnxClassifier

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
    from signcaps.runtime.classifier import prune_to_outputs

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

    from signcaps.runtime.classifier import load_classifier

    with pytest.raises(UserError, match=message):
        load_classifier(bad)


def test_default_model(monkeypatch, tmp_path, real_image):
    import signcaps.runtime.classifier as runtime

    path = runtime.default_model_path()
    assert (path.name == "default_model.onnx" and path.parent.name == "resources"
            and path.parent.parent.name == "signcaps")
    monkeypatch.setattr(runtime, "default_model_path", lambda signs=None: tmp_path / "default_model.onnx")
    with pytest.raises(UserError, match=r"no default model shipped; pass --model PATH"):
        runtime.load_classifier(None)
    result = CliRunner().invoke(app, ["predict", str(real_image)])
    assert result.exit_code == 1 and "no default model shipped; pass --model PATH" in result.output
    assert "Traceback" not in result.output


TORCH_FREE = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None  # any `import torch` now raises ImportError
    import numpy as np
    from signcaps.hands.detector import HandDetector
    from signcaps.hands.preprocess import crop_hand, read_image_rgb
    from signcaps.runtime.classifier import load_classifier

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


# ------------------------------------------------------------------ the rejection rule (format 3)


def _session_outputs(clf) -> list[str]:
    return [o.name for o in clf._session.get_outputs()]


def test_a_model_without_a_rule_gets_the_default_one_and_a_lengths_only_graph(tiny_pose_models, tmp_path):
    from rejectmodels import with_rule

    from signcaps.runtime.classifier import OnnxClassifier
    from signcaps.signs.rejection import RejectionRule

    for path in (tiny_pose_models["fused-capsnet"]["onnx"], with_rule(tiny_pose_models["fused-capsnet"]["onnx"],
                                                                       tmp_path / "v3-no-rule.onnx", None)):
        clf = OnnxClassifier(path)
        assert clf.rule == RejectionRule() and not clf.rule.can_say_none
        assert clf.session_outputs == ["lengths"] and _session_outputs(clf) == ["lengths"]
        x = {"image": np.zeros((2, 1, 32, 32), np.float32), "pose": np.zeros((2, 21, 3), np.float32)}
        lengths, errors = clf.classify_with_pose_error(x)
        assert errors is None and np.allclose(lengths, clf.classify(x))


def test_a_pose_rule_runs_the_pose_decoder_but_never_the_image_decoder(tiny_pose_models, tmp_path):
    """On real hands (two digits and an ASL fist): the pose error is the decoded skeleton's distance from the
    observed pose, computed by the pruned graph in the same pass as the lengths."""
    from conftest import DIGITS
    from rejectmodels import hand_inputs, letter_photo, with_rule

    from signcaps.runtime.classifier import OnnxClassifier
    from signcaps.signs.rejection import RejectionRule, decide_all, pose_error

    src = tiny_pose_models["fused-capsnet"]["onnx"]
    rule = RejectionRule(accept=0.5, none_below=0.2, max_pose_error=0.3)
    clf = OnnxClassifier(with_rule(src, tmp_path / "pose-rule.onnx", rule))
    assert clf.rule == rule and clf.meta["format_version"] == 3
    assert _session_outputs(clf) == ["lengths", "pose_reconstruction"]  # no "reconstruction": the image decoder
    x = hand_inputs(clf, [sorted((DIGITS / "3").glob("*.JPG"))[0], sorted((DIGITS / "5").glob("*.JPG"))[0],
                          letter_photo("S", "S0")])
    lengths, errors = clf.classify_with_pose_error(x)
    full = clf.explain_outputs(x)
    assert np.allclose(lengths, full["lengths"], atol=1e-6) and np.allclose(lengths, clf.classify(x), atol=1e-6)
    assert errors.shape == (3,) and np.allclose(errors, pose_error(full["pose_reconstruction"], x["pose"]), atol=1e-6)
    assert (errors > 0).all()
    assert clf.decide(x) == decide_all(lengths, clf.classes, rule, errors)
    assert clf.decide(x, rule.with_accept(0.99)) == decide_all(lengths, clf.classes, rule.with_accept(0.99), errors)
    none_at_all = RejectionRule(max_pose_error=float(errors.min()) / 2)  # every hand disagrees with its decoding
    assert {d.reason for d in clf.decide(x, none_at_all)} == {"pose disagrees"}
    empty = clf.classify_with_pose_error({k: v[:0] for k, v in x.items()})
    assert empty[0].shape == (0, 10) and empty[1].shape == (0,)


@pytest.mark.parametrize("case, message", [
    ("none_class", "'rejection': rejection 'none_class' 'nothing' is not one of the model's classes"),
    ("nan", "'rejection': rejection 'accept' should be a number"),
    ("order", "'rejection': rejection 'none_below' must be in [0, accept = 0.5]"),
    ("format", "'rejection': unknown rejection rule"),
    ("type", "signcaps metadata 'rejection' should be a rejection rule"),
    ("pose_without_decoder", "compares the decoded pose (max_pose_error) but the model has no"),
    ("version", "uses signcaps ONNX format version 4; this signcaps reads versions 1, 2, 3"),
])
def test_bad_rejection_rules_fail_with_one_line(tiny, real_image, tmp_path, case, message):
    import onnx
    from rejectmodels import with_rule

    from signcaps.signs.rejection import RULE_FORMAT

    rules = {"none_class": {"rule": RULE_FORMAT, "none_class": "nothing"},
             "nan": {"rule": RULE_FORMAT, "accept": float("nan")},
             "order": {"rule": RULE_FORMAT, "accept": 0.5, "none_below": 0.6},
             "format": {"rule": "reject-v0"}, "type": [0.6],
             "pose_without_decoder": {"rule": RULE_FORMAT, "max_pose_error": 0.5}, "version": None}
    bad = with_rule(tiny["onnx"], tmp_path / f"{case}.onnx", rules[case])  # an image-only capsnet
    if case == "version":
        model = onnx.load(str(bad))
        entry = next(p for p in model.metadata_props if p.key == "signcaps")
        entry.value = json.dumps({**json.loads(entry.value), "format_version": 4})
        onnx.save(model, str(bad))
    result = CliRunner().invoke(app, ["predict", str(real_image), "--model", str(bad)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output
    assert "Traceback" not in result.output
