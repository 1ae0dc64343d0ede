"""`signcaps adapt`: a shipped model tuned to one signer from a few shots, by an ONNX graph edit (no torch).

The errors a trained model keeps are personal (one signer's 6 hides the little finger and reads 4).
The class capsules carry more than their lengths: each is a 16-D pose vector, and one person's shots
of a sign sit close together in the space of all class-capsule poses. The adapted model keeps every
shot's pose vector (all capsules flattened, unit length) and re-decides only *which* of the classes
that got shots wins:

    cos_j  = cosine similarity of the hand to shot j;  q_c = softmax_j(cos_j / T) summed over c's shots
    s_c    = q_c * length_c ** 2, divided by its largest value  (the shots vote, the shipped lengths weigh)
    s      = one-hot of the nearest shot's class instead, where that shot is a near copy (cos >= 0.99)
    new_c  = m * s_c for the classes with shots, m = the longest of their shipped capsules;
             every other capsule (and a sign-mode view's "none") as shipped

So the winner's length is exactly what the shipped model gave the longest shot class: the rule says
"none", "?" or a sign for every hand as the shipped model did, a class without shots answers as shipped
(its capsule, when longest, stays longest), and only which of the person's signs wins changes.

One exception, the *lift* (`Lift`, letters mode only): most of what a shipped letters model misses is a
right hand shown as "?", not a confusion. A hand the shipped rule shows as "?" (never one it says "none"
for) becomes its nearest shot's sign, at exactly the threshold, when that shot is close (cosine >= 0.8),
the sign is among the shipped model's 2 longest sign capsules and its capsule is >= 0.3 long. Chosen on
validation data only (train/adapt_lift.py); in digits mode it gained nothing there and let a no-digit
letter through, so digits keep no lift. Hands the rule refuses as "none" stay refused in both modes.

It is a few dozen ONNX nodes after the class capsules, so
`predict`, `live`, `web build` and the API run the adapted file like any model; adapting is numpy on
the model's own outputs for the shots, in the base install. T = 0.05, the exponent 2 and the 0.99
were chosen on the proxy of train/adapt_eval.py (train/README.md, "Adapting to a signer", with the
other answers the issue names and what the proxy can and cannot show).
"""
from __future__ import annotations

import copy
import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.signs.rejection import decide_all
from signcaps.util.errors import UserError

POSES = "class_poses"  # the class capsules (N, K, D) as an extra output of the graph
SHIPPED = "lengths_shipped"  # the shipped lengths, renamed inside the adapted graph
METHOD = "capsule-prototypes-v2"  # v2: v1 (re-pick among the shot classes) + the letters' lift
DEFAULT_TEMPERATURE = 0.05  # train/adapt_eval.py: the proxy groups
PRIOR = 2.0  # the exponent of the shipped lengths that weigh the votes
NEAR_COPY = 0.99  # a hand this similar to one shot answers as that shot
EPS = 1e-12
ADAPTED_KEY = "adapted"  # metadata entry: what the model was adapted from, on how many shots


@dataclass(frozen=True)
class Lift:
    """When a "?" hand answers as its nearest shot's sign (train/adapt_lift.py chose these on validation data)."""

    cosine: float = 0.8  # the nearest shot at least this similar (the features' cosine)
    top: int = 2  # its sign among the shipped model's `top` longest sign capsules
    floor: float = 0.3  # and its shipped capsule at least this long

    def to_meta(self) -> dict[str, float]:
        return {"cosine": float(self.cosine), "top": int(self.top), "floor": float(self.floor)}


LIFTS: dict[str, Lift] = {"letters": Lift()}  # digits: none (on validation it gained nothing, cost a refusal)


class AdaptError(UserError, ValueError):
    """Shots or a model that cannot be adapted (one line)."""


def class_pose_tensor(model: Any) -> str:
    """Name of the class capsules (N, K, D) in a signcaps capsule graph: the input of the norm
    (ReduceL2) that the ``lengths`` (or a sign-mode view's ``capsule_lengths``) are clipped from."""
    producers = {out: node for node in model.graph.node for out in node.output}
    name = "capsule_lengths" if "capsule_lengths" in producers else "lengths"
    for _ in range(4):  # lengths <- Clip <- ReduceL2(poses): a short walk, never a search of the graph
        node = producers.get(name)
        if node is None:
            break
        if node.op_type == "ReduceL2":
            return str(node.input[0])
        name = node.input[0]
    raise AdaptError("this model has no class capsules to adapt (only capsule networks exported by signcaps can be)")


def with_pose_output(model: Any) -> Any:
    """A copy of `model` with the class capsules as one more output (`POSES`), for the shots' features."""
    import onnx
    from onnx import TensorProto, helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    source = class_pose_tensor(out)
    out.graph.node.append(helper.make_node("Identity", [source], [POSES]))
    out.graph.output.append(helper.make_tensor_value_info(POSES, TensorProto.FLOAT, None))
    return out


def features(poses: np.ndarray) -> np.ndarray:
    """(N, K, D) class capsules -> (N, K*D) unit vectors: the space the prototypes live in."""
    flat = np.asarray(poses, np.float32).reshape(len(poses), -1)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)


@dataclass(frozen=True)
class Prototypes:
    """Every shot's feature vector with its class index, and the softmax temperature."""

    vectors: np.ndarray  # (S, F) unit vectors
    classes: np.ndarray  # (S,) class index of each shot
    num_classes: int  # K: the lengths' width
    temperature: float = DEFAULT_TEMPERATURE
    lift: Lift | None = None  # None: the rejection rule's status of every hand stays the shipped one
    accept: float = 0.5  # the rule's threshold, none_below and none class (the lift needs them)
    none_below: float = 0.0
    none_index: int | None = None

    @property
    def shot_classes(self) -> np.ndarray:
        """The classes that got shots (sorted)."""
        return np.unique(self.classes)

    def assignment(self) -> np.ndarray:
        """(S, K) one-hot: which class each shot votes for."""
        onehot = np.zeros((len(self.classes), self.num_classes), np.float32)
        onehot[np.arange(len(self.classes)), self.classes] = 1.0
        return onehot

    def mask(self) -> np.ndarray:
        """(K,) 1 for the classes with shots."""
        mask = np.zeros(self.num_classes, np.float32)
        mask[self.shot_classes] = 1.0
        return mask

    def none_mask(self) -> np.ndarray:
        """(K,) 1 at the rule's none class (all 0 without one)."""
        mask = np.zeros(self.num_classes, np.float32)
        if self.none_index is not None:
            mask[self.none_index] = 1.0
        return mask

    def lifted_length(self) -> np.float32:
        """The threshold as float32, never below it (the rule compares float32 lengths with a float)."""
        value = np.float32(self.accept)
        return value if float(value) >= self.accept else np.nextafter(value, np.float32(2))


def with_rule(protos: Prototypes, classifier: Any, lift: Lift | None) -> Prototypes:
    """`protos` with the classifier's rule (threshold, none_below, none class) and a lift (or none)."""
    import dataclasses

    rule = classifier.rule
    none = classifier.classes.index(rule.none_class) if rule.none_class is not None else None
    return dataclasses.replace(protos, lift=lift, accept=float(rule.accept), none_below=float(rule.none_below),
                               none_index=none)


def adapt_lengths(lengths: np.ndarray, poses: np.ndarray, protos: Prototypes) -> np.ndarray:
    """The adapted rule in numpy, node for node what `adapted_graph` adds (tests check they agree)."""
    lengths = np.asarray(lengths, np.float32)
    cosine = features(poses) @ protos.vectors.T  # (N, S)
    sims = cosine / np.float32(protos.temperature)
    sims = np.exp(sims - sims.max(axis=1, keepdims=True))
    weights = sims / sims.sum(axis=1, keepdims=True)
    mask, assignment = protos.mask(), protos.assignment()
    shot_lengths = lengths * mask
    mass = shot_lengths.max(axis=1, keepdims=True)  # lengths are >= 0: masked-out columns never win
    share = (weights @ assignment) * np.power(shot_lengths, np.float32(PRIOR))
    share = share / np.maximum(share.max(axis=1, keepdims=True), np.float32(EPS))
    share = np.where(cosine.max(axis=1, keepdims=True) >= np.float32(NEAR_COPY), assignment[cosine.argmax(axis=1)],
                     share)
    adapted = (lengths * (1.0 - mask) + mass * share).astype(np.float32)
    return adapted if protos.lift is None else lift_lengths(lengths, adapted, cosine, protos)


def lift_lengths(lengths: np.ndarray, adapted: np.ndarray, cosine: np.ndarray, protos: Prototypes) -> np.ndarray:
    """The lift: a hand the shipped rule shows as "?" (its longest sign in [none_below, accept), the none
    class strictly shorter) whose nearest shot is close, of a sign among the `top` longest and >= `floor`,
    gets that sign at exactly the threshold; every other capsule is already below it, so it wins as "ok"."""
    lift = protos.lift
    signs = lengths * (1.0 - protos.none_mask())
    best = signs.max(axis=1)
    none_len = (lengths * protos.none_mask()).max(axis=1)
    uncertain = (best >= np.float32(protos.none_below)) & (best < np.float32(protos.accept)) & (none_len < best)
    near = protos.assignment()[cosine.argmax(axis=1)]  # (N, K) one-hot: the nearest shot's class
    near_len = (lengths * near).max(axis=1)
    longer = (signs > near_len[:, None]).astype(np.float32).sum(axis=1)
    go = (uncertain & (cosine.max(axis=1) >= np.float32(lift.cosine)) & (longer < np.float32(lift.top))
          & (near_len >= np.float32(lift.floor)))
    return np.maximum(adapted, go[:, None].astype(np.float32) * near * protos.lifted_length()).astype(np.float32)


def adapted_graph(model: Any, protos: Prototypes) -> Any:
    """A copy of `model` whose ``lengths`` output is the adapted rule (`adapt_lengths`); the decoders keep
    reading the shipped lengths (they only pick which capsule to draw)."""
    import onnx
    from onnx import TensorProto, helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    poses = class_pose_tensor(out)
    for node in graph.node:
        node.input[:] = [SHIPPED if name == "lengths" else name for name in node.input]
        node.output[:] = [SHIPPED if name == "lengths" else name for name in node.output]

    def const(name: str, array: Any, dtype: int = TensorProto.FLOAT) -> str:
        array = np.asarray(array, np.int64 if dtype == TensorProto.INT64 else np.float32)
        graph.initializer.append(helper.make_tensor(f"adapt_const_{name}", dtype, list(array.shape),
                                                    array.reshape(-1).tolist()))
        return f"adapt_const_{name}"

    node = helper.make_node
    graph.node.extend([
        node("Reshape", [poses, const("flat_shape", [-1, protos.vectors.shape[1]], TensorProto.INT64)], ["adapt_flat"]),
        node("ReduceL2", ["adapt_flat"], ["adapt_norm"], axes=[1], keepdims=1),
        node("Max", ["adapt_norm", const("eps", 1e-6)], ["adapt_norm_safe"]),
        node("Div", ["adapt_flat", "adapt_norm_safe"], ["adapt_unit"]),
        node("MatMul", ["adapt_unit", const("shots", protos.vectors.T)], ["adapt_cosine"]),
        node("Mul", ["adapt_cosine", const("inv_temperature", 1.0 / protos.temperature)], ["adapt_sims"]),
        node("Softmax", ["adapt_sims"], ["adapt_weights"], axis=1),
        node("MatMul", ["adapt_weights", const("assignment", protos.assignment())], ["adapt_votes"]),
        node("Mul", [SHIPPED, const("mask", protos.mask())], ["adapt_shot_lengths"]),
        node("ReduceMax", ["adapt_shot_lengths"], ["adapt_mass"], axes=[1], keepdims=1),
        node("Pow", ["adapt_shot_lengths", const("prior", PRIOR)], ["adapt_prior"]),
        node("Mul", ["adapt_votes", "adapt_prior"], ["adapt_weighed"]),
        node("ReduceMax", ["adapt_weighed"], ["adapt_top"], axes=[1], keepdims=1),
        node("Max", ["adapt_top", const("tiny", EPS)], ["adapt_top_safe"]),
        node("Div", ["adapt_weighed", "adapt_top_safe"], ["adapt_voted"]),
        node("ArgMax", ["adapt_cosine"], ["adapt_nearest"], axis=1, keepdims=0),
        node("Gather", ["adapt_const_assignment", "adapt_nearest"], ["adapt_nearest_class"], axis=0),
        node("ReduceMax", ["adapt_cosine"], ["adapt_best"], axes=[1], keepdims=1),
        node("GreaterOrEqual", ["adapt_best", const("near_copy", NEAR_COPY)], ["adapt_is_copy"]),
        node("Where", ["adapt_is_copy", "adapt_nearest_class", "adapt_voted"], ["adapt_share"]),
        node("Mul", ["adapt_mass", "adapt_share"], ["adapt_new"]),
        node("Mul", [SHIPPED, const("keep", 1.0 - protos.mask())], ["adapt_kept"]),
        node("Add", ["adapt_kept", "adapt_new"], ["lengths" if protos.lift is None else "adapt_repicked"]),
    ])
    if protos.lift is not None:
        graph.node.extend(lift_nodes(protos, const))
    return out


def lift_nodes(protos: Prototypes, const: Any) -> list[Any]:
    """`lift_lengths` as ONNX nodes after the re-pick (``adapt_repicked`` -> ``lengths``)."""
    from onnx import TensorProto, helper

    node, lift = helper.make_node, protos.lift
    return [
        node("Mul", [SHIPPED, const("signs", 1.0 - protos.none_mask())], ["lift_signs"]),
        node("ReduceMax", ["lift_signs"], ["lift_best"], axes=[1], keepdims=1),
        node("Mul", [SHIPPED, const("none", protos.none_mask())], ["lift_none_all"]),
        node("ReduceMax", ["lift_none_all"], ["lift_none"], axes=[1], keepdims=1),
        node("GreaterOrEqual", ["lift_best", const("none_below", protos.none_below)], ["lift_not_short"]),
        node("Less", ["lift_best", const("accept", protos.accept)], ["lift_below"]),
        node("Less", ["lift_none", "lift_best"], ["lift_none_shorter"]),
        node("Mul", [SHIPPED, "adapt_nearest_class"], ["lift_near_all"]),
        node("ReduceMax", ["lift_near_all"], ["lift_near"], axes=[1], keepdims=1),
        node("Greater", ["lift_signs", "lift_near"], ["lift_longer_bool"]),
        node("Cast", ["lift_longer_bool"], ["lift_longer_each"], to=TensorProto.FLOAT),
        node("MatMul", ["lift_longer_each", const("ones", np.ones((protos.num_classes, 1)))], ["lift_longer"]),
        node("Less", ["lift_longer", const("top", lift.top)], ["lift_in_top"]),
        node("GreaterOrEqual", ["lift_near", const("floor", lift.floor)], ["lift_long_enough"]),
        node("GreaterOrEqual", ["adapt_best", const("cosine", lift.cosine)], ["lift_close"]),
        node("And", ["lift_not_short", "lift_below"], ["lift_and1"]),
        node("And", ["lift_and1", "lift_none_shorter"], ["lift_uncertain"]),
        node("And", ["lift_uncertain", "lift_in_top"], ["lift_and2"]),
        node("And", ["lift_and2", "lift_long_enough"], ["lift_and3"]),
        node("And", ["lift_and3", "lift_close"], ["lift_go"]),
        node("Cast", ["lift_go"], ["lift_go_f"], to=TensorProto.FLOAT),
        node("Mul", ["lift_go_f", "adapt_nearest_class"], ["lift_onehot"]),
        node("Mul", ["lift_onehot", const("lifted", protos.lifted_length())], ["lift_raise"]),
        node("Max", ["adapt_repicked", "lift_raise"], ["lengths"]),
    ]


def provenance(source: Path, signs: str | None, shots: dict[str, int], temperature: float,
               lift: Lift | None = None) -> dict[str, Any]:
    """What the adapted model records under the metadata key `ADAPTED_KEY`."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return {"method": METHOD, "from": source.name, "from_sha256": digest, "signs": signs,
            "shots": dict(shots), "temperature": float(temperature), "lift": lift and lift.to_meta(),
            "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}


def adapted_meta(meta: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The classifier's metadata (a sign-mode view's, so the adapted file is one mode's ordinary model)
    with the provenance; a model adapted before keeps its earlier records in `previous`."""
    out = copy.deepcopy(meta)
    earlier = out.get(ADAPTED_KEY)
    out[ADAPTED_KEY] = {**record, **({"previous": earlier} if earlier else {})}
    return out


class CapsuleReader:
    """A loaded classifier's lengths and class capsules for hands, in one onnxruntime pass."""

    def __init__(self, classifier: Any) -> None:
        from signcaps.runtime.classifier import LENGTHS, new_session, prune_to_outputs

        if ADAPTED_KEY in classifier.meta:
            record = classifier.meta[ADAPTED_KEY]
            raise AdaptError(f"{classifier.path} is adapted already (from {record.get('from', '?')}); adapt the "
                             "model it came from")
        self.classifier = classifier
        self.session = new_session(prune_to_outputs(with_pose_output(classifier.graph), [LENGTHS, POSES]),
                                   classifier.threads)

    def read(self, crops_rgb: np.ndarray, poses: np.ndarray | None, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """RGB crops (N, S, S, 3) and normalised poses (N, 21, 3) -> lengths (N, K), class capsules (N, K', D)."""
        lengths, capsules = [], []
        for i in range(0, len(crops_rgb), batch):
            feed = self.classifier.feed(self.classifier.hand_inputs(
                crops_rgb[i:i + batch], None if poses is None else poses[i:i + batch]))
            got = self.session.run(["lengths", POSES], feed)
            lengths.append(got[0])
            capsules.append(got[1])
        if not lengths:
            return np.zeros((0, len(self.classifier.classes)), np.float32), np.zeros((0, 0, 0), np.float32)
        return np.concatenate(lengths), np.concatenate(capsules)


@dataclass
class Shots:
    """The hands of a signer's shots: crops, normalised poses and class indices of the model's classes."""

    crops: np.ndarray  # (N, S, S, 3) uint8 RGB
    poses: np.ndarray  # (N, 21, 3) normalised (`landmarks.normalize_pose`)
    labels: np.ndarray  # (N,) class index
    skipped: list[tuple[str, str]]  # (file, why): no hand, unreadable

    def counts(self, classes: list[str]) -> dict[str, int]:
        """Usable shots per class name (every sign class of the model, 0 where none)."""
        return {name: int((self.labels == i).sum()) for i, name in enumerate(classes)}


def sign_classes(classifier: Any) -> list[str]:
    """The classes a signer can give shots of: all but the rule's none class (a view's "none")."""
    return [c for c in classifier.classes if c != classifier.rule.none_class]


def shots_from_folder(folder: str | Path, classifier: Any, hand_model: str | Path | None = None,
                      progress: Any = None) -> Shots:
    """Hands of a folder with one sub-folder per sign (any dataset's layout), found as `predict` finds them.
    A folder named after no sign of the model is refused in one line; a none/ folder is left out."""
    import dataclasses

    from signcaps.data.crops import crop_files
    from signcaps.data.folders import NEGATIVE, DatasetError, scan_folder
    from signcaps.hands.detector import HandDetector
    from signcaps.hands.landmarks import normalize_poses
    from signcaps.util.assets import resolve_hand_model

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise AdaptError(f"shots folder not found: {folder}")
    classes = sign_classes(classifier)
    try:
        scan = scan_folder(folder, classes, stretch_x=1.0)
    except DatasetError as err:
        hint = "" if classifier.signs == "letters" else "; letters: --signs letters"
        raise AdaptError(str(err).replace("the model does not know", "are no signs of the model") + hint) from None
    files = [(p, label) for p, label in scan.files if label != NEGATIVE]
    crop_cfg = dataclasses.replace(classifier.crop_cfg, fallback_whole_image=False)
    with HandDetector(resolve_hand_model(hand_model), dataclasses.replace(classifier.detect_cfg, num_hands=1),
                      mode="image") as detector:
        found = crop_files(detector, files, folder, 1.0, crop_cfg, progress)
    size = crop_cfg.input_size
    crops = np.stack(found.crops) if found.crops else np.zeros((0, size, size, 3), np.uint8)
    points = np.array(found.points, np.float32).reshape(-1, 21, 3)
    poses = normalize_poses(points, np.array(found.left, bool), crop_cfg.mirror_left)
    labels = np.array([classifier.classes.index(classes[label]) for label in found.labels], np.int64)
    return Shots(crops, poses, labels, found.skipped)


@dataclass
class Adapted:
    """An adapted model ready to write, and what went into it."""

    model: Any  # onnx.ModelProto with the adapted metadata
    meta: dict[str, Any]
    shots: dict[str, int]  # usable shots per sign class
    skipped: list[tuple[str, str]]
    seconds: float  # adapting: the shots through the model, the graph edit, the check
    shipped_right: int = 0  # shots the shipped model showed as their own sign (the rule's "ok" and right)

    @property
    def without_shots(self) -> list[str]:
        return [name for name, count in self.shots.items() if count == 0]


def adapt(classifier: Any, shots: Shots, temperature: float = DEFAULT_TEMPERATURE) -> Adapted:
    """The classifier (one sign mode of it) adapted to the shots: the graph edit, its metadata, checked to
    run and to agree with the numpy rule on the shots themselves."""
    import time

    from signcaps.runtime.classifier import META_KEY

    started = time.perf_counter()
    if not len(shots.labels):
        raise AdaptError("no hand found in any shot: nothing to adapt to (photos with one clear hand, 3 per sign)")
    reader = CapsuleReader(classifier)
    lengths, capsules = reader.read(shots.crops, shots.poses)
    from signcaps.signs.modes import looks_like

    signs = classifier.signs or looks_like(sign_classes(classifier))
    lift = LIFTS.get(signs or "")
    protos = with_rule(Prototypes(features(capsules), shots.labels, len(classifier.classes), float(temperature)),
                       classifier, lift)
    counts = shots.counts(sign_classes(classifier))
    model = adapted_graph(classifier.graph, protos)
    meta = adapted_meta(classifier.meta, provenance(classifier.path, signs, counts, temperature, lift))
    import onnx

    from signcaps.runtime.signmodes import with_meta

    model = onnx.load_from_string(with_meta(model, meta, META_KEY))
    check_parity(model, classifier, shots, adapt_lengths(lengths, capsules, protos))
    decisions = decide_all(lengths, classifier.classes, classifier.rule)
    right = sum(d.status == "ok" and d.index == label for d, label in zip(decisions, shots.labels))
    return Adapted(model, meta, counts, list(shots.skipped), time.perf_counter() - started, int(right))


def check_parity(model: Any, classifier: Any, shots: Shots, expected: np.ndarray) -> None:
    """The written graph must give the numpy rule's lengths on the shots (else it is not written)."""
    from signcaps.runtime.classifier import LENGTHS, new_session, prune_to_outputs

    feed = classifier.feed(classifier.hand_inputs(shots.crops, shots.poses))
    got = new_session(prune_to_outputs(model, [LENGTHS])).run([LENGTHS], feed)[0]
    if got.shape != expected.shape or not np.allclose(got, expected, atol=1e-4):
        raise AdaptError(f"the adapted graph disagrees with the adapted rule on the shots (max difference "
                         f"{float(np.abs(got - expected).max()):.2g}): not written")


def save(adapted: Adapted, output: str | Path) -> Path:
    """Write the adapted model atomically (a half-written file never replaces the old one)."""
    import onnx

    from signcaps.util.outputs import atomic_write

    return atomic_write(Path(output), lambda tmp: onnx.save(adapted.model, str(tmp)), user_named=True)
