"""`signcaps explain` on an ONNX model, torch-free: the shipped model (or any export) explained in the base install.

An export carries its decoders (the `reconstruction` and `pose_reconstruction` outputs): each is the
sub-graph from the masked class capsules (the capsules times the winner's one-hot mask) to the
picture. `CapsuleDecoders` finds that mask in the graph, runs the model once more with the capsules
as an extra output, and cuts the image decoder out as a graph of its own that takes masked capsules,
so the winning capsule can be decoded again with each dimension nudged (the perturbation grid of
Sabour et al.), exactly as `training/explain.py` does with the checkpoint in torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from signcaps.runtime.classifier import LENGTHS, POSE_RECONSTRUCTION, RECONSTRUCTION, OnnxClassifier
from signcaps.runtime.explain_figure import DELTAS, ExplainError

MASK_SOURCES = {"OneHot", "Cast", "Unsqueeze", "Expand", "Reshape"}  # what lies between the argmax and the mask


class CapsuleDecoders:
    """The class capsules and the image decoder of an exported capsule network, as onnxruntime sessions."""

    def __init__(self, classifier: OnnxClassifier) -> None:
        import onnxruntime as ort

        if not classifier.has_reconstruction:
            raise ExplainError(f"{classifier.path} has no image decoder ('{RECONSTRUCTION}' output): explain needs "
                               "a capsule network's export (capsnet, fused-capsnet); for a pose-only model pass its "
                               "checkpoint (.pt)")
        self.classifier = classifier
        model = classifier._model
        self.masked, self.capsules = _decoder_input(model, RECONSTRUCTION)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        with_capsules = _with_outputs(model, [self.capsules])
        self._full = ort.InferenceSession(with_capsules.SerializeToString(), options,
                                          providers=["CPUExecutionProvider"])
        self._decoder = ort.InferenceSession(_subgraph(model, self.masked, RECONSTRUCTION).SerializeToString(),
                                             options, providers=["CPUExecutionProvider"])

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Lengths, reconstruction, pose reconstruction (where the model has one) and the capsules (N, K, D)."""
        names = [LENGTHS, RECONSTRUCTION, *([POSE_RECONSTRUCTION] if self.classifier.has_pose_reconstruction else []),
                 self.capsules]
        return dict(zip(names, self._full.run(names, feed)))

    def perturbation_grid(self, capsules: np.ndarray, target: int, deltas: tuple[float, ...] = DELTAS) -> np.ndarray:
        """(D, len(deltas), C, H, W) decodings of one sample's (K, D) capsules with capsule `target`'s dimension
        d shifted by deltas[j], masked to `target` (a perturbation never switches which capsule is drawn)."""
        num_dims = capsules.shape[1]
        batch = np.zeros((num_dims * len(deltas), *capsules.shape), np.float32)
        batch[:, target] = capsules[target]
        rows = np.repeat(np.arange(num_dims), len(deltas))
        batch[np.arange(len(batch)), target, rows] += np.tile(np.asarray(deltas, np.float32), num_dims)
        decoded = self._decoder.run([RECONSTRUCTION], {self.masked: batch})[0]
        return decoded.reshape(num_dims, len(deltas), *decoded.shape[1:])


def _producers(model: Any) -> dict[str, Any]:
    return {out: node for node in model.graph.node for out in node.output}


def _decoder_input(model: Any, output: str) -> tuple[str, str]:
    """(masked capsules, capsules): the inputs of the decoder's mask multiplication behind `output`,
    found by walking back from it to the first Mul whose other operand comes from a OneHot."""
    producers = _producers(model)

    def from_one_hot(name: str, depth: int = 0) -> bool:
        node = producers.get(name)
        if node is None or depth > 4 or node.op_type not in MASK_SOURCES:
            return False
        return node.op_type == "OneHot" or any(from_one_hot(i, depth + 1) for i in node.input)

    queue, seen = [output], set()
    while queue:
        name = queue.pop(0)
        node = producers.get(name)
        if node is None or name in seen:
            continue
        seen.add(name)
        if node.op_type == "Mul":
            masks = [from_one_hot(i) for i in node.input]
            if any(masks) and not all(masks):
                return node.output[0], node.input[masks.index(False)]
        queue += list(node.input)
    raise ExplainError(f"cannot find the class-capsule mask of '{output}' in this ONNX graph (not a signcaps "
                       "capsule export?)")


def _subgraph(model: Any, start: str, output: str) -> Any:
    """A model computing `output` from the tensor `start` (a new float input) with the original's nodes
    and weights: the decoder alone."""
    from onnx import TensorProto, helper

    producers = _producers(model)
    weights = {init.name: init for init in model.graph.initializer}
    needed, stack = set(), [output]
    while stack:
        name = stack.pop()
        if name == start or name in needed or name in weights or name not in producers:
            continue
        needed.add(name)
        stack += list(producers[name].input)
    nodes = [node for node in model.graph.node if any(out in needed for out in node.output)]
    used = {name for node in nodes for name in node.input}
    graph = helper.make_graph(nodes, "decoder", [helper.make_tensor_value_info(start, TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
                              [weights[name] for name in weights if name in used])
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def _with_outputs(model: Any, names: list[str]) -> Any:
    """A copy of `model` that also returns the intermediate tensors `names`."""
    from onnx import TensorProto, helper

    copy = type(model)()
    copy.CopyFrom(model)
    copy.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in names)
    return copy


def explain_onnx(model: str | Path | None, image: str | Path, out: str | Path | None = None,
                 hand_model: str | Path | None = None, fallback: bool = False,
                 threshold: float | None = None, signs: str | None = None) -> dict[str, Any]:
    """`explain_image` of training/explain.py for an ONNX model (None: the shipped one), in the base install:
    the hand found and cropped as `predict` does, the model's rule applied, and the figure written with
    the capsule dimensions that change the reconstruction most. Default PNG: explain-<image stem>.png
    beside the model (in the working folder for the shipped one, which lives inside the package).
    A joint model's figure shows its longest capsule of the whole vocabulary (what the decoders
    draw); the answer is the `signs` mode's (`runtime.signmodes`), as predict gives it."""
    from signcaps.hands.landmarks import normalize_pose
    from signcaps.hands.preprocess import crop_hand, to_tensor
    from signcaps.runtime.classifier import load_classifier
    from signcaps.runtime.explain_figure import (
        figure_paths,
        read_and_find_hand,
        render,
        shown_dimensions,
        verdict,
        write_png,
    )
    from signcaps.runtime.signmodes import ALL_CAPSULES
    from signcaps.signs.rejection import RejectionRuleError, decide, pose_error

    png, _ = figure_paths(out, Path(model).parent if model else Path("."), image, model)
    answer = load_classifier(model, signs=signs)  # what predict answers with (a joint model: the mode's view)
    classifier = load_classifier(answer.path, signs=ALL_CAPSULES) if answer.signs_view else answer
    decoders = CapsuleDecoders(classifier)
    try:
        rule = answer.rule.with_accept(threshold)
    except RejectionRuleError as err:
        raise ExplainError(f"{answer.path}: {err}") from None
    image = Path(image)
    rgb, hand = read_and_find_hand(image, classifier.detect_cfg, hand_model, fallback, classifier.needs_pose,
                                   classifier.meta.get("model"))
    crop_cfg = classifier.crop_cfg
    crop = crop_hand(rgb, None if hand is None else hand.landmarks, bool(hand and hand.is_left), crop_cfg)
    tensor = to_tensor(crop, crop_cfg)
    pose = normalize_pose(hand.points, hand.is_left, crop_cfg.mirror_left) if classifier.needs_pose else None
    feed, _ = classifier._feed({"image": tensor, **({} if pose is None else {"pose": pose})})
    outputs = decoders.run(feed)
    lengths = outputs[LENGTHS][0]
    predicted = int(lengths.argmax())
    pose_err = (float(pose_error(outputs[POSE_RECONSTRUCTION], pose[None])[0])
                if POSE_RECONSTRUCTION in outputs and pose is not None else None)
    answered = answer.classify(feed)[0] if answer is not classifier else lengths
    decision = decide(answered, answer.classes, rule, pose_err)
    grid = decoders.perturbation_grid(outputs[decoders.capsules][0], predicted)
    shown = shown_dimensions(grid)
    input01 = np.clip(tensor * crop_cfg.std + crop_cfg.mean, 0, 1)
    write_png(png, render(input01, outputs[RECONSTRUCTION][0], grid[shown["dims"]], lengths, classifier.classes,
                          predicted, note=verdict(decision, pose_err), dim_labels=shown["dims"]),
              user_named=out is not None)
    classes = classifier.classes
    return {"image": str(image), "png": str(png), "pngs": [str(png)], "class": classes[predicted],
            "class_index": predicted, "lengths": {name: float(v) for name, v in zip(classes, lengths)},
            "status": decision.status, "label": decision.label, "best": answer.classes[decision.index],
            "reason": decision.reason, "pose_error": pose_err, "rule": rule.to_meta(), "hand": hand is not None,
            "handedness": None if hand is None else hand.handedness, "model": classifier.meta.get("model"),
            "checkpoint": str(classifier.path), "dimensions": {"image": shown}}
