"""`signcaps export` (float + int8) and `signcaps bench model` on a tiny capsnet trained on real crops."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import HAND_MODEL
from typer.testing import CliRunner

from signcaps.cli import app


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def real_crops(tiny: dict[str, Path]):
    """The cached real crops of the tiny dataset, through the checkpoint's own settings."""
    from signcaps.data.crops import prepare
    from signcaps.models.checkpoint import build_from_checkpoint

    model, recipe, classes, state = build_from_checkpoint(tiny["checkpoint"])
    crops, _, _ = prepare(recipe.data.root, recipe.data, recipe.crop, recipe.detect, str(HAND_MODEL),
                          classes=classes, show_progress=False)
    return model, recipe, classes, state, crops


def test_round_trip_matches_torch_on_real_crops(tiny):
    from signcaps.hands.preprocess import to_batch
    from signcaps.runtime.classifier import OnnxClassifier

    model, recipe, classes, _, crops = real_crops(tiny)
    assert len(crops) >= 20
    clf = OnnxClassifier(tiny["onnx"])
    got = clf.classify_crops(list(crops.crops))
    x = torch.from_numpy(to_batch(crops.crops, recipe.crop))
    with torch.no_grad():
        ref_lengths, caps = model.forward_capsules(x)
        ref_recon = model.reconstruct(caps).numpy()
    ref = ref_lengths.numpy()
    assert got.shape == (len(crops), len(classes))
    assert np.abs(got - ref).max() <= 1e-4
    assert (got.argmax(1) == ref.argmax(1)).all()
    recon = clf.reconstruct(x.numpy())
    assert recon.shape == (len(crops), 1, 32, 32)
    assert 0.0 <= recon.min() and recon.max() <= 1.0
    assert np.abs(recon - ref_recon).max() <= 1e-4
    # dynamic batch: one crop and an odd batch give the same rows
    assert np.allclose(clf.classify(x.numpy()[:1]), got[:1], atol=1e-5)
    assert np.allclose(clf.classify(x.numpy()[:7]), got[:7], atol=1e-5)


def test_graph_and_metadata(tiny):
    from signcaps.models.checkpoint import load_checkpoint

    model = onnx.load(str(tiny["onnx"]))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["lengths", "reconstruction"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 32, 32]
    lengths, recon = (o.type.tensor_type.shape.dim for o in model.graph.output)
    assert lengths[0].dim_param and lengths[1].dim_value == 10
    assert recon[0].dim_param and [d.dim_value for d in recon[1:]] == [1, 32, 32]
    assert {op.domain or "ai.onnx": op.version for op in model.opset_import}["ai.onnx"] == 17
    meta = json.loads({p.key: p.value for p in model.metadata_props}["signcaps"])
    state = load_checkpoint(tiny["checkpoint"])
    assert meta["format"] == "signcaps-onnx" and meta["format_version"] == 3 and meta["inputs"] == {"image": "input"}
    assert meta["rejection"] == {"rule": "signcaps-reject-v1", "accept": 0.6, "none_below": 0.0, "none_class": None,
                                 "max_pose_error": None}  # the checkpoint has no rule: the default one
    assert meta["classes"] == [str(c) for c in state["classes"]]
    assert (meta["input_size"], meta["channels"], meta["colour"]) == (32, 1, "gray")
    assert (meta["mean"], meta["std"], meta["margin"], meta["mirror_left"]) == (0.5, 0.5, 0.2, False)
    assert meta["detect"]["min_detection_confidence"] == state["recipe"]["detect"]["min_detection_confidence"]
    assert meta["data_fingerprint"] == state["data_fingerprint"]
    assert meta["model"] == "capsnet" and meta["signcaps_version"] and meta["precision"] == "float32"


def test_export_cli_prints_parity(tiny, runner, tmp_path):
    out = tmp_path / "m.onnx"
    result = runner.invoke(app, ["export", str(tiny["checkpoint"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "parity vs torch on" in result.output and "same class on" in result.output
    assert out.is_file() and not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.staged"))


def test_int8_export(tiny, runner, tmp_path, monkeypatch):
    from signcaps.runtime.classifier import OnnxClassifier

    out = tmp_path / "tiny.onnx"
    result = runner.invoke(app, ["export", str(tiny["checkpoint"]), "-o", str(out), "--int8", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    q_path = tmp_path / "tiny.int8.onnx"
    assert report["int8"]["path"] == str(q_path) and q_path.is_file()
    assert report["int8"]["size_bytes"] < report["float"]["size_bytes"]
    assert 0.0 <= report["int8"]["accuracy"] <= 1.0 and report["int8"]["latency_ms"] > 0
    assert report["int8"]["quantization"]["quantized_nodes"]
    drop = report["int8_accuracy_drop_points"]
    assert any("int8 loses" in w for w in report["warnings"]) == (drop > 0.5)
    clf = OnnxClassifier(q_path)
    assert clf.meta["precision"] == "int8" and clf.classes == report["classes"]
    ops = {n.op_type for n in onnx.load(str(q_path)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    # the table form; with a zero tolerance any measured change (even none) must be called out
    import signcaps.training.export as export

    monkeypatch.setattr(export, "INT8_MAX_DROP_POINTS", -1.0)
    result = runner.invoke(app, ["export", str(tiny["checkpoint"]), "-o", str(tmp_path / "again.onnx"), "--int8"])
    assert result.exit_code == 0, result.output
    assert "float vs int8" in result.output and "again.int8.onnx" in result.output
    assert "warning: int8 loses" in result.output and "deploy the float model" in result.output


def test_failed_parity_writes_nothing(tiny, tmp_path, monkeypatch):
    import signcaps.training.export as export
    from signcaps.util.errors import UserError

    monkeypatch.setattr(export, "PARITY_ATOL", -1.0)
    out = tmp_path / "never.onnx"
    with pytest.raises(UserError, match="does not reproduce torch"):
        export.export_checkpoint(tiny["checkpoint"], out, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_model_without_decoder_exports_lengths_only(tiny, tmp_path):
    from signcaps.models.checkpoint import save_checkpoint
    from signcaps.models.registry import build_model
    from signcaps.runtime.classifier import OnnxClassifier
    from signcaps.training.export import export_checkpoint_onnx
    from signcaps.util.config import recipe_from_dict

    recipe = recipe_from_dict({"model": {"name": "cnn", "params": {"channels": [4, 8], "fc_hidden": 16}}})
    torch.manual_seed(0)
    model = build_model(recipe.model, recipe.crop, 10).eval()
    ckpt = tmp_path / "cnn.pt"
    save_checkpoint({"recipe": recipe.to_dict(), "classes": [str(i) for i in range(10)], "version": "test",
                     "data_fingerprint": "none", "model_state": model.state_dict(), "epoch": 0, "val_acc": 0.0}, ckpt)
    assert export_checkpoint_onnx(ckpt, tmp_path / "cnn.onnx") == ["lengths"]
    clf = OnnxClassifier(tmp_path / "cnn.onnx")
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert not clf.has_reconstruction and clf.reconstruct(x) is None
    assert np.abs(clf.classify(x) - ref).max() <= 1e-5


def test_bench_json(tiny, runner):
    result = runner.invoke(app,
                           ["bench", "model", "--checkpoint", str(tiny["checkpoint"]), "--model", str(tiny["onnx"]),
                                 "--budget", "0.02", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    engines = {(r["engine"], r["threads"], r["batch"]) for r in report["rows"]}
    assert {("torch float32", 2, 1), ("torch float32", 2, 32), ("onnx float32", 1, 1),
            ("onnx float32", 2, 32)} <= engines
    assert all(r["ms_per_crop"] > 0 for r in report["rows"])
    assert report["summary"]["onnx_float_batch1_ms"] > 0 and "faster_than_torch" in report["summary"]


def test_export_rejects_a_non_checkpoint(runner, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = runner.invoke(app, ["export", str(bad), "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "error:" in result.output


@pytest.mark.parametrize("name", ["fused-capsnet", "pose-capsnet"])
def test_landmark_models_export_a_landmarks_input_that_matches_torch_on_real_hands(tiny_pose_models, name):
    """Format 2: a second input 'landmarks' (N, 21, 3) with its normalisation in the metadata;
    onnxruntime reproduces torch on the real hands' crops and poses, decoders included."""
    from signcaps.data.crops import prepare
    from signcaps.models.checkpoint import build_from_checkpoint
    from signcaps.runtime.classifier import OnnxClassifier
    from signcaps.training.export import torch_outputs
    from signcaps.training.infer import inputs_of

    paths = tiny_pose_models[name]
    proto = onnx.load(str(paths["onnx"]))
    inputs = [i.name for i in proto.graph.input]
    assert inputs == (["input", "landmarks"] if name == "fused-capsnet" else ["landmarks"])
    landmarks = next(i for i in proto.graph.input if i.name == "landmarks").type.tensor_type.shape.dim
    assert landmarks[0].dim_param and [d.dim_value for d in landmarks[1:]] == [21, 3]
    assert "pose_reconstruction" in [o.name for o in proto.graph.output]
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["signcaps"])
    assert meta["format_version"] == 3 and meta["inputs"]["pose"] == "landmarks"
    assert meta["pose"]["normalization"] == "wrist-centred-v1" and meta["pose"]["mirror_left"] is True

    model, recipe, classes, _ = build_from_checkpoint(paths["checkpoint"])
    crops, _, _ = prepare(recipe.data.root, recipe.data, recipe.crop, recipe.detect, str(HAND_MODEL),
                          classes=classes, show_progress=False)
    x = {k: v for k, v in inputs_of(crops, recipe).items() if k in model.inputs}
    ref = torch_outputs(model, x)
    clf = OnnxClassifier(paths["onnx"])
    assert clf.needs_pose
    got = clf.explain_outputs(x)
    assert np.abs(got["lengths"] - ref["lengths"]).max() <= 1e-4
    assert (got["lengths"].argmax(1) == ref["lengths"].argmax(1)).all()
    assert np.abs(got["pose_reconstruction"] - ref["pose_reconstruction"]).max() <= 1e-3
    assert np.allclose(clf.classify(x), got["lengths"], atol=1e-6)  # the pruned graph gives the same lengths
    with pytest.raises(ValueError, match="pose"):
        clf.classify({k: v for k, v in x.items() if k != "pose"})


# ----------------------------------------------------------------------------- the rejection rule


def _with_rule_state(checkpoint: Path, path: Path, rule: dict) -> Path:
    """A copy of a checkpoint whose state carries a rejection rule, as training writes it."""
    from signcaps.models.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(checkpoint)
    state.pop("format", None)
    save_checkpoint({**state, "rejection": rule}, path)
    return path


def test_export_ships_the_checkpoints_rule_and_the_users_overrides(tiny, runner, tmp_path):
    from signcaps.runtime.classifier import OnnxClassifier
    from signcaps.signs.rejection import RejectionRule

    rule = RejectionRule(accept=0.7, none_below=0.3)
    ckpt = _with_rule_state(tiny["checkpoint"], tmp_path / "ruled.pt", rule.to_meta())
    result = runner.invoke(app, ["export", str(ckpt), "-o", str(tmp_path / "a.onnx"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert OnnxClassifier(tmp_path / "a.onnx").rule == rule and report["rejection"] == rule.to_meta()
    assert sum(report["decisions"].values()) == report["parity"]["samples"]
    # --accept below the checkpoint's none_below takes it down; --none-below sets it again
    result = runner.invoke(app, ["export", str(ckpt), "-o", str(tmp_path / "b.onnx"), "--accept", "0.2"])
    assert result.exit_code == 0, result.output
    assert OnnxClassifier(tmp_path / "b.onnx").rule == RejectionRule(accept=0.2, none_below=0.2)
    assert "rejection rule: ok from 0.20, none below 0.20; on the" in result.output
    result = runner.invoke(app, ["export", str(tiny["checkpoint"]), "-o", str(tmp_path / "c.onnx"), "--accept", "0.9",
                                 "--none-below", "0.5"])
    assert result.exit_code == 0, result.output
    assert OnnxClassifier(tmp_path / "c.onnx").rule == RejectionRule(accept=0.9, none_below=0.5)


@pytest.mark.parametrize("args, message", [
    (["--none-below", "0.7"], "'none_below' must be in [0, accept = 0.6]"),
    (["--accept", "1.2"], "--accept must be >= 0 and <= 1"),  # the one table of option ranges
    (["--max-pose-error", "0.5"], "a max_pose_error rule needs a model that reads and decodes the pose"),
    (["--max-pose-error", "-1"], "--max-pose-error must be >= 0 and <= 100"),
])
def test_export_refuses_rules_that_cannot_work_before_writing(tiny, runner, tmp_path, args, message):
    result = runner.invoke(app, ["export", str(tiny["checkpoint"]), "-o", str(tmp_path / "x.onnx"), *args])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_rule_naming_an_unknown_class_is_refused(tiny, runner, tmp_path):
    ckpt = _with_rule_state(tiny["checkpoint"], tmp_path / "bad.pt", {"rule": "signcaps-reject-v1",
                                                                       "none_class": "nothing"})
    result = runner.invoke(app, ["export", str(ckpt), "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 1 and "'none_class' 'nothing' is not one of the model's classes" in result.output
    assert not (tmp_path / "x.onnx").exists()


def test_a_pose_rule_from_python_and_from_the_cli(tiny_pose_models, runner, tmp_path):
    """`export_onnx(..., rejection=rule)` for scripts (the lead's training); `--max-pose-error 0` turns it off."""
    from signcaps.models.checkpoint import build_from_checkpoint
    from signcaps.runtime.classifier import OnnxClassifier
    from signcaps.signs.rejection import RejectionRule
    from signcaps.training.export import export_onnx

    paths = tiny_pose_models["fused-capsnet"]
    model, recipe, classes, state = build_from_checkpoint(paths["checkpoint"])
    rule = RejectionRule(accept=0.5, none_below=0.1, max_pose_error=0.4)
    export_onnx(model, recipe, classes, state, tmp_path / "py.onnx", rejection=rule)
    clf = OnnxClassifier(tmp_path / "py.onnx")
    assert clf.rule == rule and clf.session_outputs == ["lengths", "pose_reconstruction"]
    ckpt = _with_rule_state(paths["checkpoint"], tmp_path / "pose.pt", rule.to_meta())
    result = runner.invoke(app, ["export", str(ckpt), "-o", str(tmp_path / "off.onnx"), "--max-pose-error", "0",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert OnnxClassifier(tmp_path / "off.onnx").rule == RejectionRule(accept=0.5, none_below=0.1)
