"""One sign mode of a joint handshape model as an ordinary model: its answers, then "none".

`signs.modes` says which capsules answer in a mode; this module rewrites the ONNX graph so the
``lengths`` output holds those capsules (under the mode's names) and one last entry: the longest
capsule that is no answer of the mode, a class named "none" that the rejection rule treats as its
none class. Every runtime then works unchanged on the view: predict, live, the composer, eval,
calibrate, and the browser page, which receives the viewed model from `web build`. The capsule
lengths of the whole vocabulary stay available as the ``capsule_lengths`` output.
"""
from __future__ import annotations

import copy
from typing import Any

from signcaps.signs.modes import OTHER_SIGN, ModeView
from signcaps.signs.rejection import RejectionRule

ALL_CAPSULES = "capsules"  # OnnxClassifier(signs=ALL_CAPSULES): the joint model as trained (export, eval)
CAPSULE_LENGTHS = "capsule_lengths"


def view_graph(model: Any, view: ModeView, lengths: str = "lengths") -> Any:
    """A copy of `model` whose `lengths` output is the view's answers plus the longest other capsule."""
    import onnx
    from onnx import TensorProto, helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    for node in graph.node:  # the decoders read the lengths too: they keep reading all capsules
        node.input[:] = [CAPSULE_LENGTHS if name == lengths else name for name in node.input]
        node.output[:] = [CAPSULE_LENGTHS if name == lengths else name for name in node.output]
    answers, others = f"{lengths}_answers", f"{lengths}_others"
    # a mode that answers with every capsule has no other: its "none" column is 0 (capsule 0 x 0)
    picked, scale = (list(view.others), 1.0) if view.others else ([0], 0.0)
    graph.initializer.extend([
        helper.make_tensor(f"{answers}_index", TensorProto.INT64, [len(view.indices)], list(view.indices)),
        helper.make_tensor(f"{others}_index", TensorProto.INT64, [len(picked)], picked),
        helper.make_tensor(f"{others}_scale", TensorProto.FLOAT, [], [scale]),
    ])
    graph.node.extend([
        helper.make_node("Gather", [CAPSULE_LENGTHS, f"{answers}_index"], [answers], axis=1),
        helper.make_node("Gather", [CAPSULE_LENGTHS, f"{others}_index"], [others], axis=1),
        helper.make_node("ReduceMax", [others], [f"{others}_max"], axes=[1], keepdims=1),
        helper.make_node("Mul", [f"{others}_max", f"{others}_scale"], [f"{others}_none"]),
        helper.make_node("Concat", [answers, f"{others}_none"], [lengths], axis=1),
    ])
    for output in graph.output:
        if output.name == lengths:
            output.type.tensor_type.shape.dim[1].dim_value = len(view.indices) + 1
    return out


def view_meta(meta: dict[str, Any], view: ModeView) -> dict[str, Any]:
    """The metadata of the view: the mode's class names plus "none", which the rule says "none" for."""
    out = copy.deepcopy(meta)
    out["classes"] = [*view.labels, OTHER_SIGN]
    rule = dict(out.get("rejection") or RejectionRule().to_meta())
    rule["none_class"] = OTHER_SIGN
    out["rejection"] = rule
    out["signs_view"] = view.name  # the mode it answers in; the modes themselves are gone from the view
    out.pop("signs", None)
    return out


def with_meta(model: Any, meta: dict[str, Any], key: str = "signcaps") -> bytes:
    """The serialised model with its ``signcaps`` metadata replaced by `meta` (a view's, for the
    browser page: it then runs the mode as an ordinary model)."""
    import json

    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    kept = [p for p in out.metadata_props if p.key != key]
    del out.metadata_props[:]
    out.metadata_props.extend(kept)
    entry = out.metadata_props.add()
    entry.key, entry.value = key, json.dumps(meta)
    return out.SerializeToString()
