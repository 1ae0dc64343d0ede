"""Checkpoint -> self-describing ONNX (+ optional int8), checked against torch on real crops.

The exported graph has one input ``input`` (N, C, H, W) float32 with a dynamic batch axis and
the outputs ``lengths`` (N, K) and, for capsule models with a decoder, ``reconstruction``
(N, C, H, W) in [0, 1], decoded from the longest capsule. The metadata key ``signcaps``
carries everything `signcaps.runtime.classifier` needs to reproduce the training preprocessing, and (format
3) the rejection rule every runtime applies (`signcaps.signs.rejection`): the checkpoint's own (its
``rejection`` entry, written by training), the default rule when it has none, or one given here
(`export_checkpoint(..., rejection=...)`, the CLI's --accept/--none-below/--max-pose-error).

A model is only written when onnxruntime reproduces torch on the real test crops: max
|lengths difference| <= 1e-4 and the same winning class on every crop.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from signcaps import __version__
from signcaps.data.splits import split_settings
from signcaps.hands.landmarks import NUM_JOINTS, POSE_META
from signcaps.runtime.classifier import (
    FORMAT,
    FORMAT_VERSION,
    INPUT_NAMES,
    LENGTHS,
    META_KEY,
    POSE_RECONSTRUCTION,
    RECONSTRUCTION,
    OnnxClassifier,
    int8_sibling,
)
from signcaps.runtime.signmodes import ALL_CAPSULES
from signcaps.signs.rejection import RejectionRule, RejectionRuleError, pose_error
from signcaps.signs.verdicts import refusal_warning, rule_rates
from signcaps.util.config import Recipe
from signcaps.util.errors import UserError
from signcaps.util.text import printable
from signcaps.util.timing import ms_per_crop

OPSET = 17
PARITY_ATOL = 1e-4
RECON_ATOL = 1e-3
INT8_MAX_DROP_POINTS = 0.5
CALIBRATION_SAMPLES = 256
QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")


class ExportError(UserError, RuntimeError):
    """Export or its verification failed (one-line message)."""


class _WithDecoders(nn.Module):
    """Exports lengths plus the decoders' views of the longest capsule: the image and/or the landmarks."""

    def __init__(self, model: nn.Module, outputs: list[str]) -> None:
        super().__init__()
        self.model, self.outputs = model, outputs

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        lengths, caps = self.model.forward_capsules(*xs)
        out = [lengths]
        if RECONSTRUCTION in self.outputs:
            out.append(self.model.reconstruct(caps))
        if POSE_RECONSTRUCTION in self.outputs:
            out.append(self.model.reconstruct_pose(caps))
        return tuple(out)


def model_kinds(model: nn.Module) -> tuple[str, ...]:
    """The model's inputs in forward order: "image" and/or "pose"."""
    return tuple(getattr(model, "inputs", ("image",)))


def has_reconstruction(model: nn.Module) -> bool:
    return bool(getattr(model, "has_decoder", False)) and hasattr(model,
                                                                  "forward_capsules") and hasattr(model, "reconstruct")


def has_pose_reconstruction(model: nn.Module) -> bool:
    return bool(getattr(model, "has_pose_decoder", False)) and hasattr(model, "reconstruct_pose")


def export_module(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """The module to trace and its output names."""
    outputs = [LENGTHS, *([RECONSTRUCTION] if has_reconstruction(model) else []),
               *([POSE_RECONSTRUCTION] if has_pose_reconstruction(model) else [])]
    if len(outputs) > 1:
        return _WithDecoders(model, outputs).eval(), outputs
    return model.eval(), outputs


def resolved_architecture(recipe: Recipe) -> dict[str, Any] | None:
    """The registry defaults merged with the recipe's overrides: the architecture actually exported."""
    from signcaps.models.registry import resolved_params

    return resolved_params(recipe.model)


def checkpoint_rule(state: dict[str, Any], classes: list[str]) -> RejectionRule:
    """The rejection rule a checkpoint carries (``state["rejection"]``, in `RejectionRule.to_meta` form),
    else the default rule."""
    try:
        return RejectionRule.from_meta(state.get("rejection"), [str(c) for c in classes])
    except RejectionRuleError as err:
        raise ExportError(f"the checkpoint's rejection rule cannot be exported: {err}") from None


def override_rule(rule: RejectionRule, accept: float | None = None, none_below: float | None = None,
                  max_pose_error: float | None = None) -> RejectionRule:
    """``rule`` with the thresholds a user gives at export (None keeps one; max_pose_error 0 turns the
    pose check off). A lower accept takes none_below down with it, as live's --threshold does."""
    import dataclasses

    rule = rule.with_accept(accept)
    changes: dict[str, Any] = {}
    if none_below is not None:
        changes["none_below"] = none_below
    if max_pose_error is not None:
        changes["max_pose_error"] = max_pose_error if max_pose_error != 0 else None
    return dataclasses.replace(rule, **changes) if changes else rule


def check_rule_fits(rule: RejectionRule, model: nn.Module, classes: list[str]) -> RejectionRule:
    """A rule the exported model can apply: its none class is one of the classes, its pose check has a pose decoder."""
    try:
        rule.check_classes([str(c) for c in classes])
    except RejectionRuleError as err:
        raise ExportError(str(err)) from None
    if rule.uses_pose_error and not (has_pose_reconstruction(model) and "pose" in model_kinds(model)):
        raise ExportError(f"a max_pose_error rule needs a model that reads and decodes the pose; "
                          f"{type(model).__name__} does not (pass --max-pose-error 0 or leave it out)")
    return rule


def build_metadata(recipe: Recipe, classes: list[str], state: dict[str, Any], outputs: list[str],
                   precision: str = "float32", model: nn.Module | None = None,
                   rejection: RejectionRule | None = None) -> dict[str, Any]:
    """The JSON stored under the metadata key ``signcaps``."""
    crop = recipe.crop
    kinds = model_kinds(model) if model is not None else ("image",)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "classes": [str(c) for c in classes],
        "input_size": crop.input_size,
        "channels": crop.channels,
        "colour": "gray" if crop.channels == 1 else "rgb",
        "mean": crop.mean,
        "std": crop.std,
        "margin": crop.margin,
        "mirror_left": crop.mirror_left,
        "fallback_whole_image": crop.fallback_whole_image,
        "detect": asdict(recipe.detect),
        "inputs": {kind: INPUT_NAMES[kind] for kind in kinds},
        **({"pose": {**POSE_META, "mirror_left": crop.mirror_left}} if "pose" in kinds else {}),
        "model": recipe.model.name,
        "model_params": recipe.model.params,
        "architecture": resolved_architecture(recipe),
        "parameters": sum(p.numel() for p in model.parameters()) if model is not None else None,
        "routing_iterations": recipe.model.routing_iterations,
        "recipe": recipe.name,
        "outputs": outputs,
        "precision": precision,
        "signcaps_version": __version__,
        "trained_with_version": state.get("version"),
        "data_fingerprint": state.get("data_fingerprint"),
        "split": state.get("split") or split_settings(recipe.data),  # + the val/test files (calibrate, eval)
        "epoch": int(state["epoch"]) + 1 if "epoch" in state else None,
        "val_acc": float(state["val_acc"]) if "val_acc" in state else None,
        "rejection": (rejection or checkpoint_rule(state, classes)).to_meta(),
        **({"signs": state["signs"]} if state.get("signs") else {}),  # a joint vocabulary's modes (signs.modes)
    }


def set_metadata(model_proto: Any, meta: dict[str, Any]) -> None:
    """Replace the ``signcaps`` metadata entry (other entries are kept)."""
    for i in reversed(range(len(model_proto.metadata_props))):
        if model_proto.metadata_props[i].key == META_KEY:
            del model_proto.metadata_props[i]
    entry = model_proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta, sort_keys=True)
    # protobuf strings must be UTF-8: a class folder name that is not (any bytes on Linux) is escaped
    # here for people reading the file; the metadata above keeps it exactly (JSON escapes it)
    model_proto.doc_string = printable(f"signcaps {meta['model']} ({meta['precision']}), classes "
                                       f"{', '.join(meta['classes'])}")


def save_onnx(model_proto: Any, path: Path) -> None:
    """Check, then write atomically (a failed export never leaves a half file behind)."""
    import onnx

    try:
        onnx.checker.check_model(model_proto, full_check=True)
    except onnx.checker.ValidationError as err:
        raise ExportError("onnx.checker rejects the exported graph: "
                          f"{str(err).strip().splitlines()[0][:200]}") from None
    from signcaps.util.outputs import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: onnx.save(model_proto, str(tmp)))


def export_onnx(model: nn.Module, recipe: Recipe, classes: list[str], state: dict[str, Any], path: Path,
                rejection: RejectionRule | None = None) -> list[str]:
    """Trace ``model`` to ONNX at ``path`` with metadata; returns the output names. No parity check.

    ``rejection``: the rule to ship; None = the checkpoint's (``state["rejection"]``) or the default."""
    import onnx

    rule = check_rule_fits(rejection or checkpoint_rule(state, classes), model, classes)
    module, outputs = export_module(model)
    crop = recipe.crop
    kinds = model_kinds(model)
    shapes = {"image": (crop.channels, crop.input_size, crop.input_size), "pose": (NUM_JOINTS, 3)}
    example = tuple(torch.zeros(2, *shapes[kind]) for kind in kinds)
    input_names = [INPUT_NAMES[kind] for kind in kinds]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from signcaps.util.outputs import new_temp_file, write_errors

    traced = new_temp_file(path)
    try:
        with write_errors(path), warnings.catch_warnings(), torch.no_grad():  # a full disk: one line
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(module, example, str(traced), dynamo=False, opset_version=OPSET,
                              input_names=input_names, output_names=outputs,
                              dynamic_axes={name: {0: "batch"} for name in [*input_names, *outputs]},
                              do_constant_folding=True, export_params=True)
            proto = onnx.load(str(traced))
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as err:
        raise ExportError(f"torch.onnx.export failed: {str(err).strip().splitlines()[0][:200]}") from None
    finally:
        traced.unlink(missing_ok=True)
    fix_output_shapes(proto, len(classes), (crop.channels, crop.input_size, crop.input_size))
    proto.producer_name = "signcaps"
    proto.producer_version = __version__
    set_metadata(proto, build_metadata(recipe, classes, state, outputs, model=model, rejection=rule))
    save_onnx(proto, path)
    return outputs


def fix_output_shapes(proto: Any, num_classes: int, image_shape: tuple[int, int, int]) -> None:
    """Declare the known output shapes: (batch, K) and (batch, C, H, W).

    The tracer cannot always infer them (e.g. through a Clip), and consumers of the graph
    should not have to run shape inference to learn the class count.
    """
    known = {LENGTHS: ["batch", num_classes], RECONSTRUCTION: ["batch", *image_shape],
             POSE_RECONSTRUCTION: ["batch", NUM_JOINTS, 3]}
    for output in proto.graph.output:
        if output.name not in known:
            continue
        shape = output.type.tensor_type.shape
        del shape.dim[:]
        for value in known[output.name]:
            dim = shape.dim.add()
            if isinstance(value, int):
                dim.dim_value = value
            else:
                dim.dim_param = value


def export_checkpoint_onnx(checkpoint: str | Path, path: str | Path,
                           rejection: RejectionRule | None = None) -> list[str]:
    """Export without the parity check (used by `bench` for a temporary model)."""
    from signcaps.models.checkpoint import build_from_checkpoint

    model, recipe, classes, state = build_from_checkpoint(checkpoint)
    return export_onnx(model, recipe, classes, state, Path(path), rejection=rejection)


def int8_path_for(path: Path) -> Path:
    """Where `--int8` writes the quantised model: `model.onnx` -> `model.int8.onnx`."""
    return int8_sibling(path)


# ----------------------------------------------------------------------------- verification


def _split(x: dict[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    return {k: v[start:stop] for k, v in x.items()}


def torch_outputs(model: nn.Module, x: dict[str, np.ndarray], batch_size: int = 64) -> dict[str, np.ndarray]:
    """Every exported output of ``model`` on real inputs ({"image": ..., "pose": ...}), computed by torch."""
    module, outputs = export_module(model)
    kinds = model_kinds(model)
    count = len(x[kinds[0]])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    with torch.no_grad():
        for start in range(0, count, batch_size):
            out = module(*(torch.from_numpy(x[k][start:start + batch_size]) for k in kinds))
            for name, value in zip(outputs, out if len(outputs) > 1 else (out,)):
                parts[name].append(value.numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}


def onnx_outputs(clf: OnnxClassifier, x: dict[str, np.ndarray], batch_size: int = 64,
                 reconstruct: bool = True) -> dict[str, np.ndarray]:
    """Lengths through the deployed (pruned) classification graph; decoder outputs through the full one."""
    count = len(next(iter(x.values())))
    result = {LENGTHS: np.concatenate([clf.classify(_split(x, s, s + batch_size))
                                       for s in range(0, count, batch_size)])}
    if reconstruct and (clf.has_reconstruction or clf.has_pose_reconstruction):
        chunks = [clf.explain_outputs(_split(x, s, s + batch_size)) for s in range(0, count, batch_size)]
        for name in chunks[0]:
            if name != LENGTHS:
                result[name] = np.concatenate([c[name] for c in chunks])
    return result


def parity_report(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, Any]:
    ref_lengths, got_lengths = ref[LENGTHS], got[LENGTHS]
    diff = float(np.abs(ref_lengths - got_lengths).max()) if len(ref_lengths) else 0.0
    agree = int((ref_lengths.argmax(1) == got_lengths.argmax(1)).sum())
    report = {"samples": int(len(ref_lengths)), "max_abs_diff": diff, "argmax_agree": agree, "atol": PARITY_ATOL}
    for name, key in ((RECONSTRUCTION, "reconstruction_max_abs_diff"),
                      (POSE_RECONSTRUCTION, "pose_reconstruction_max_abs_diff")):
        if name in ref and name in got and len(ref[name]):
            report[key] = float(np.abs(ref[name] - got[name]).max())
    report["ok"] = bool(diff <= PARITY_ATOL and agree == len(ref_lengths)
                        and report.get("reconstruction_max_abs_diff", 0.0) <= RECON_ATOL
                        and report.get("pose_reconstruction_max_abs_diff", 0.0) <= RECON_ATOL)
    return report


# ----------------------------------------------------------------------------- int8


class _BatchReader:
    """onnxruntime CalibrationDataReader over preprocessed model inputs ({"image": ..., "pose": ...})."""

    def __init__(self, x: dict[str, np.ndarray], batch_size: int = 32) -> None:
        self.x, self.batch_size, self.start = x, batch_size, 0
        self.count = len(next(iter(x.values())))

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.start >= self.count:
            return None
        batch = {INPUT_NAMES[k]: v[self.start:self.start + self.batch_size] for k, v in self.x.items()}
        self.start += self.batch_size
        return batch

    def rewind(self) -> None:
        self.start = 0


def nodes_to_quantize(model_proto: Any) -> tuple[list[str], list[str]]:
    """Weight-bearing Conv/Gemm/MatMul nodes, minus the first layer(s) reading the raw input.

    Routing MatMuls multiply two activations and stay float (agreement and couplings are
    sensitive); the first convolution stays float too, because quantising it alone cost 7 to 14
    points of test accuracy on two digits capsnets while every other layer cost none (u8 x s8
    saturation on AVX2; ``reduce_range`` also avoids it, keeping the layer float is simpler).
    """
    initializers = {i.name for i in model_proto.graph.initializer}
    chosen, excluded = [], []
    for node in model_proto.graph.node:
        if node.op_type not in QUANTIZED_OPS:
            continue
        if any(name in node.input for name in INPUT_NAMES.values()):
            excluded.append(node.name)
        elif any(name in initializers for name in node.input[1:]):
            chosen.append(node.name)
        else:
            excluded.append(node.name)
    return chosen, excluded


def quantize_int8(float_path: Path, out_path: Path, calibration: dict[str, np.ndarray],
                  meta: dict[str, Any]) -> dict[str, Any]:
    """Static QDQ int8 of a float export: int8 per-channel weights, uint8 MinMax-calibrated activations.

    U8S8 is onnxruntime's native integer path on x86-64; on this project's AVX2 CPU it was as
    fast as S8S8 at batch 1 and faster at batch 32, with the same test accuracy.
    """
    import onnx
    from onnxruntime import quantization as q

    from signcaps.util.outputs import new_temp_file, out_of_space

    prepped, quantized = new_temp_file(out_path), new_temp_file(out_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q.quant_pre_process(str(float_path), str(prepped), skip_symbolic_shape=True)
            chosen, excluded = nodes_to_quantize(onnx.load(str(prepped)))
            if not chosen:
                raise ExportError("int8: the model has no Conv/Gemm/MatMul layers with weights to quantise")
            q.quantize_static(str(prepped), str(quantized), _BatchReader(calibration),
                              quant_format=q.QuantFormat.QDQ, per_channel=True,
                              activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                              calibrate_method=q.CalibrationMethod.MinMax, nodes_to_quantize=chosen)
        proto = onnx.load(str(quantized))
    except ExportError:
        raise
    except Exception as err:  # onnxruntime.quantization raises assorted types
        if out_of_space(out_path.parent):
            raise ExportError(f"cannot write {out_path}: no space left on the device") from None
        raise ExportError(f"int8 quantisation failed: {type(err).__name__}: {str(err).strip()[:200]}") from None
    finally:
        prepped.unlink(missing_ok=True)
        quantized.unlink(missing_ok=True)
    info = {"scheme": "static QDQ, int8 per-channel weights, uint8 activations (MinMax calibration)",
            "calibration_samples": int(len(next(iter(calibration.values())))), "quantized_nodes": chosen,
            "float_nodes": excluded}
    set_metadata(proto, {**meta, "precision": "int8", "quantization": info})
    proto.producer_name, proto.producer_version = "signcaps", __version__
    save_onnx(proto, out_path)
    return info


def calibration_crops(recipe: Recipe, classes: list[str], hand_model: str | None, samples: int,
                      show_progress: bool, kinds: tuple[str, ...] = ("image",)) -> dict[str, np.ndarray]:
    """Up to ``samples`` preprocessed model inputs of the checkpoint's training split (fixed seed)."""
    from signcaps.data.crops import prepare
    from signcaps.data.folders import DatasetError
    from signcaps.data.splits import split_indices
    from signcaps.training.infer import inputs_of

    try:
        crops, scan, _ = prepare(recipe.data.root, recipe.data, recipe.crop, recipe.detect, hand_model,
                                 classes=classes, show_progress=show_progress)
    except DatasetError as err:
        raise ExportError(f"int8 calibration needs the training data of the checkpoint: {err}") from None
    train = crops.subset(split_indices(crops.paths, crops.labels, recipe.data, root=scan.root)["train"])
    if len(train) == 0:
        raise ExportError(f"int8 calibration: the training split of {recipe.data.root} is empty")
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(train), size=min(samples, len(train)), replace=False))
    inputs = inputs_of(train.subset(pick), recipe)
    return {kind: inputs[kind] for kind in kinds}


def decision_counts(rule: RejectionRule, classes: list[str], outputs: dict[str, np.ndarray],
                    x: dict[str, np.ndarray]) -> dict[str, int]:
    """How the shipped rule answers the parity crops (digits of the test split): ok / uncertain / none."""
    from signcaps.signs.rejection import STATUSES, decide_all, pose_error

    errors = (pose_error(outputs[POSE_RECONSTRUCTION], x["pose"])
              if rule.uses_pose_error and POSE_RECONSTRUCTION in outputs else None)
    statuses = [d.status for d in decide_all(outputs[LENGTHS], [str(c) for c in classes], rule, errors)]
    return {status: statuses.count(status) for status in STATUSES}


def _accuracy(lengths: np.ndarray, labels: np.ndarray) -> float:
    return float((lengths.argmax(1) == labels).mean()) if len(labels) else float("nan")


def _latency_b1(path: Path, x: dict[str, np.ndarray]) -> float:
    clf = OnnxClassifier(path, threads=1, signs=ALL_CAPSULES)
    one = _split(x, 0, 1)
    return ms_per_crop(lambda: clf.classify(one), 1, warmup=20, min_runs=100, budget_s=0.5)


# ----------------------------------------------------------------------------- the command


def export_checkpoint(checkpoint: str | Path, output: str | Path, data: str | Path | None = None, int8: bool = False,
                      hand_model: str | None = None, show_progress: bool = True,
                      calibration_samples: int = CALIBRATION_SAMPLES,
                      log: Callable[[str], None] = lambda _msg: None, rejection: RejectionRule | None = None,
                      accept: float | None = None, none_below: float | None = None,
                      max_pose_error: float | None = None,
                      routing_iterations: int | None = None, user_named: bool = True) -> dict[str, Any]:
    """Export, verify against torch on real crops, optionally quantise; returns the report.

    ``user_named``: the user named ``output`` (``-o``), so it is theirs and leaves its folder's
    record (`outputs.publish`); False where a command picks the name itself (`bench variants`).

    The rejection rule shipped: ``rejection``, else the checkpoint's (or the default), with the
    thresholds ``accept``, ``none_below``, ``max_pose_error`` overriding it where given.
    `routing_iterations` exports the checkpoint with another count of routing iterations (baked into
    the graph; the parity check runs torch with the same count)."""
    from signcaps.data.folders import DatasetError
    from signcaps.models.checkpoint import build_from_checkpoint, require_checkpoint_file
    from signcaps.training.evaluate import load_eval_crops
    from signcaps.training.infer import inputs_of
    from signcaps.util.outputs import check_not_inputs, claim_files, ensure_writable_file, new_temp_file, publish

    output = Path(output)
    if output.is_dir():
        raise ExportError(f"{output} is a folder; pass the ONNX file to write, e.g. {output / 'model.onnx'}")
    require_checkpoint_file(checkpoint)
    ensure_writable_file(output, "-o", inputs=[checkpoint, data])
    if int8:  # a name export picks itself: it may replace only an int8 model signcaps wrote there
        ensure_writable_file(int8_path_for(output), "the int8 output", inputs=[checkpoint, data, output])
        claim_files(output.parent, [int8_path_for(output).name], "the folder of -o")
    model, recipe, classes, state = build_from_checkpoint(checkpoint, routing_iterations)
    try:
        rule = override_rule(rejection or checkpoint_rule(state, classes), accept, none_below, max_pose_error)
    except RejectionRuleError as err:
        raise ExportError(str(err)) from None
    check_rule_fits(rule, model, classes)  # before any work
    if data is None:  # the parity check reads the training data of the checkpoint
        check_not_inputs(output, [recipe.data.root], "-o")
    staged = new_temp_file(output)
    log(f"exporting {recipe.model.name} to ONNX (opset {OPSET})")
    try:
        outputs = export_onnx(model, recipe, classes, state, staged, rejection=rule)
        log("loading real crops for the parity check")
        try:
            _, _, crops, split, _ = load_eval_crops(checkpoint, data, "auto", hand_model, show_progress=show_progress,
                                                    negatives=True)
        except DatasetError as err:
            raise ExportError(f"the parity check needs real crops: {err} (pass --data DIR, a "
                              "folder per class)") from None
        inputs = inputs_of(crops, recipe)
        x = {kind: inputs[kind] for kind in model_kinds(model)}
        clf = OnnxClassifier(staged, threads=1, signs=ALL_CAPSULES)
        got = onnx_outputs(clf, x)
        parity = parity_report(torch_outputs(model, x), got)
        parity.update(split=split, data=str(data or recipe.data.root))
        if not parity["ok"]:
            raise ExportError(
                f"ONNX does not reproduce torch on {parity['samples']} real crops: max |Δ lengths| "
                f"{parity['max_abs_diff']:.2e} (limit {PARITY_ATOL:g}), same class on {parity['argmax_agree']}/"
                f"{parity['samples']}" + "".join(f", max |Δ {key[:-13].replace('_', ' ')}| {parity[key]:.2e}"
                                                 for key in ("reconstruction_max_abs_diff",
                                                             "pose_reconstruction_max_abs_diff")
                                                 if key in parity) + "; nothing written")
        publish(staged, output, user_named=user_named)
    finally:
        staged.unlink(missing_ok=True)
    meta = clf.meta
    signs = ~crops.negative
    rates = rule_rates(got[LENGTHS], crops.labels, [str(c) for c in classes], rule,
                       pose_error(got[POSE_RECONSTRUCTION], x["pose"]) if rule.uses_pose_error else None)
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint), "output": str(output), "model": recipe.model.name, "classes": classes,
        "outputs": outputs, "opset": OPSET, "parity": parity, "rejection": rule.to_meta(),
        "decisions": decision_counts(rule, classes, got, x), "rule_rates": rates,
        "float": {"path": str(output), "size_bytes": output.stat().st_size,
                  "accuracy": _accuracy(got[LENGTHS][signs], crops.labels[signs])},
        "warnings": [w for w in [refusal_warning(rates, f"{split} split")] if w],
    }
    if not int8:
        return report

    q_path = int8_path_for(output)
    log(f"calibrating int8 on up to {calibration_samples} training crops")
    calib = calibration_crops(recipe, classes, hand_model, calibration_samples, show_progress, model_kinds(model))
    log("quantising to int8")
    info = quantize_int8(output, q_path, calib, meta)
    q_clf = OnnxClassifier(q_path, threads=1, signs=ALL_CAPSULES)
    q_lengths = onnx_outputs(q_clf, x, reconstruct=False)[LENGTHS]
    float_acc, q_acc = report["float"]["accuracy"], _accuracy(q_lengths[signs], crops.labels[signs])
    log("timing batch-1 latency")
    report["float"]["latency_ms"] = _latency_b1(output, x)
    report["int8"] = {"path": str(q_path), "size_bytes": q_path.stat().st_size, "accuracy": q_acc,
                      "latency_ms": _latency_b1(q_path, x),
                      "agree_with_float": int((q_lengths.argmax(1) == got[LENGTHS].argmax(1)).sum()),
                      "samples": int(len(crops)), "quantization": info}
    drop = (float_acc - q_acc) * 100.0
    report["int8_accuracy_drop_points"] = drop
    if drop > INT8_MAX_DROP_POINTS:
        report["warnings"].append(
            f"int8 loses {drop:.2f} points of {split} accuracy ({float_acc:.2%} -> {q_acc:.2%}, more than "
            f"{INT8_MAX_DROP_POINTS} points); deploy the float model")
    return report
