"""Torch-free inference: an exported signcaps ONNX model on onnxruntime.

Everything inference needs travels inside the .onnx file (metadata key ``signcaps``): class
names, the crop/normalisation settings and the hand-detector settings used in training. This
module imports numpy, onnx, onnxruntime and the pure-numpy preprocessing only, never torch, so
a deployment can ship without it.

onnxruntime computes every node of a graph even when only some outputs are requested, so a
model with a ``reconstruction`` output is classified through a copy of its graph pruned to
``lengths`` (measured: the decoder is ~15% of the batch-1 time of the capsnet with a 256-512
decoder, ~35% with a 512-1024 one); the full graph is only loaded when a reconstruction is
asked for.

The model's rejection rule (metadata key ``rejection``, `signcaps.signs.rejection`) decides which outputs
the classification graph keeps: ``lengths`` alone, plus ``pose_reconstruction`` when the rule
compares the winner's decoded skeleton with the observed one (measured on the shipped fused
capsnet, batch 1: 0.37 ms CPU for lengths alone, 0.41 ms with the pose decoder, 0.55 ms for the
whole graph). A rule that does not use the pose error never runs the pose decoder.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.hands.landmarks import NUM_JOINTS, POSE_META
from signcaps.signs.rejection import Decision, RejectionRule, RejectionRuleError, decide_all, pose_error
from signcaps.util.config import CropConfig, DetectConfig, Recipe, check_values
from signcaps.util.errors import UserError

META_KEY = "signcaps"
FORMAT = "signcaps-onnx"
FORMAT_VERSION = 3  # 2: optional "landmarks" input ("inputs", "pose"); 3: the "rejection" rule
READABLE_VERSIONS = (1, 2, 3)
INPUT_NAME = "input"
POSE_INPUT = "landmarks"
INPUT_NAMES = {"image": INPUT_NAME, "pose": POSE_INPUT}  # model input kind -> ONNX graph input name
LENGTHS = "lengths"
RECONSTRUCTION = "reconstruction"
POSE_RECONSTRUCTION = "pose_reconstruction"
DEFAULT_MODEL_NAME = "default_model.onnx"
DEFAULT_SIGNS = "digits"
# The shipped model per sign mode (train/README.md, "Letters"): the digits model, and the joint
# handshape model for the letters (it knows the digits too: a digit no letter has is "none").
SHIPPED_MODELS = {"digits": DEFAULT_MODEL_NAME, "letters": "letters_model.onnx"}


class ModelLoadError(UserError, ValueError):
    """An ONNX file that cannot serve as a signcaps classifier (one-line message)."""


class ModelInputError(UserError, ValueError):
    """A batch whose shape does not fit the model input."""


def default_model_path(signs: str | None = None) -> Path:
    """Where the shipped model of a sign mode lives: ``signcaps/resources/default_model.onnx`` for the
    digits (and no mode), ``letters_model.onnx`` (the joint handshape model) for the letters."""
    name = SHIPPED_MODELS.get(signs or DEFAULT_SIGNS, DEFAULT_MODEL_NAME)
    return Path(str(resources.files("signcaps.resources").joinpath(name)))


def default_recipe_name() -> str:
    """The recipe the shipped default model was trained with (its metadata's `recipe`), a recipe
    that ships with the package: what `train` and `data prepare` use without --recipe."""
    import onnx

    path = default_model_path()
    return str(read_metadata(onnx.load(str(path), load_external_data=False), str(path))["recipe"])


def int8_sibling(path: Path) -> Path:
    """`model.onnx` -> `model.int8.onnx`: where `signcaps export --int8` writes the quantised model and
    where `bench model` looks for it. Here, below both, because `bench` must not need torch (`export` does)."""
    name = path.name[:-5] if path.name.endswith(".onnx") else path.name
    return path.with_name(f"{name}.int8.onnx")


def load_classifier(path: str | Path | None, threads: int = 1, signs: str | None = None) -> "OnnxClassifier":
    """The model at ``path``, or the shipped default when ``path`` is None, in sign mode ``signs``
    (`--signs digits|letters`; None: the model's default mode)."""
    if path is None:
        default = default_model_path(signs)
        if not default.is_file():
            raise ModelLoadError(f"no {signs or 'default'} model shipped; pass --model PATH")
        path = default
    return OnnxClassifier(path, threads=threads, signs=signs)


def _session_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(int(threads), 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: keep the terminal for our messages
    return options


def new_session(model: Any, threads: int = 1) -> Any:
    """An onnxruntime CPU session of a loaded ONNX model with this module's options (a graph edited in
    memory: `runtime.adapt`'s pose output and its adapted graph)."""
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), _session_options(threads),
                                providers=["CPUExecutionProvider"])


def prune_to_outputs(model: Any, outputs: list[str]) -> Any:
    """A copy of ``model`` that keeps only ``outputs`` and the nodes/initializers they need."""
    import onnx

    pruned = onnx.ModelProto()
    pruned.CopyFrom(model)
    graph = pruned.graph
    needed = set(outputs)
    keep = []
    for node in reversed(list(graph.node)):
        if any(name in needed for name in node.output):
            keep.append(node)
            needed.update(name for name in node.input if name)
    keep.reverse()
    kept_outputs = [o for o in graph.output if o.name in outputs]
    kept_inits = [i for i in graph.initializer if i.name in needed]
    kept_info = [v for v in graph.value_info if v.name in needed]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.output[:]
    graph.output.extend(kept_outputs)
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    del graph.value_info[:]
    graph.value_info.extend(kept_info)
    return pruned


def _dims(value_info: Any) -> list[int | str]:
    """Static dims as ints, symbolic ones as their name (or '?')."""
    dims: list[int | str] = []
    for dim in value_info.type.tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
    return dims


def read_metadata(model: Any, source: str) -> dict[str, Any]:
    """The ``signcaps`` metadata of a loaded ONNX model, checked for the keys inference needs."""
    props = {p.key: p.value for p in model.metadata_props}
    if META_KEY not in props:
        raise ModelLoadError(f"{source} has no signcaps metadata (not written by `signcaps export`)")
    try:
        meta = json.loads(props[META_KEY])
    except json.JSONDecodeError:
        raise ModelLoadError(f"{source}: the signcaps metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelLoadError(f"{source}: the signcaps metadata has no '{FORMAT}' format tag")
    version = meta.get("format_version")
    if not _is_int(version):
        raise ModelLoadError(f"{source}: signcaps metadata 'format_version' should be an integer, got {version!r:.60}")
    if version not in READABLE_VERSIONS:
        raise ModelLoadError(f"{source} uses signcaps ONNX format version {version!r}; "
                             f"this signcaps reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    meta.setdefault("inputs", {"image": INPUT_NAME})  # version 1: the image is the only input
    missing = [k for k, (_, _, required) in META_SCHEMA.items() if required and k not in meta]
    if missing:
        raise ModelLoadError(f"{source}: the signcaps metadata lacks {', '.join(missing)}")
    for key, (valid, expected, _) in META_SCHEMA.items():
        if key in meta and not valid(meta[key]):
            raise ModelLoadError(f"{source}: signcaps metadata '{key}' should be {expected}, got {meta[key]!r:.60}")
    return meta


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_detect(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and all(v is None or _is_number(v) for v in value.values()))


# What inference reads from the metadata: key -> (type check, what it should be, required).
# A tampered or foreign file gets one line naming the key instead of a traceback deep in the
# preprocessing. A new entry (e.g. a second input) is one more line here.
META_SCHEMA: dict[str, tuple[Callable[[Any], bool], str, bool]] = {
    "classes": (lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(c, str) or _is_int(c) for c in v)
                and len({str(c) for c in v}) == len(v), "a non-empty list of distinct class names", True),
    "input_size": (lambda v: _is_int(v) and 8 <= v <= 1024, "an integer from 8 to 1024", True),
    "channels": (lambda v: _is_int(v) and v in (1, 3), "1 or 3", True),
    "mean": (_is_number, "a number", True),
    "std": (lambda v: _is_number(v) and v > 0, "a positive number", True),
    "margin": (lambda v: _is_number(v) and v >= 0, "a non-negative number", True),
    "mirror_left": (lambda v: isinstance(v, bool), "true or false", True),
    "fallback_whole_image": (lambda v: isinstance(v, bool), "true or false", False),
    "detect": (_is_detect, "a mapping of detector settings to numbers", False),
    "inputs": (lambda v: isinstance(v, dict) and bool(v) and all(INPUT_NAMES.get(k) == n for k, n in v.items()),
               f"a mapping of input kinds to graph inputs, a part of {INPUT_NAMES}", False),
    "pose": (lambda v: isinstance(v, dict) and v.get("normalization") == POSE_META["normalization"]
             and v.get("joints") == NUM_JOINTS, f"a '{POSE_META['normalization']}' pose description", False),
    # format 3; checked in full (ranges, the none class among the classes) by RejectionRule.from_meta
    "rejection": (lambda v: v is None or isinstance(v, dict), "a rejection rule (signcaps.signs.rejection.RULE_FORMAT)",
                  False),
    # a joint vocabulary's sign modes; checked in full (format, capsules) by signs.modes.mode_view
    "signs": (lambda v: v is None or isinstance(v, dict), "sign modes (signcaps.signs.modes.SIGNS_FORMAT)", False),
    # `signcaps adapt`: what the model was adapted from (file, sha256, signs mode, shots per class, method, date)
    "adapted": (lambda v: isinstance(v, dict) and isinstance(v.get("method"), str), "a record of `signcaps adapt` "
                "(signcaps.runtime.adapt)", False),
}


def crop_config_from_meta(meta: dict[str, Any]) -> CropConfig:
    """The crop settings of training, held to the recipe's ranges (`config.CHECKS`): a tampered
    margin of 1e9 is refused here, not turned into a crop of the whole frame."""
    crop = CropConfig(
        input_size=int(meta["input_size"]),
        channels=int(meta["channels"]),
        margin=float(meta["margin"]),
        mirror_left=bool(meta["mirror_left"]),
        mean=float(meta["mean"]),
        std=float(meta["std"]),
        fallback_whole_image=bool(meta.get("fallback_whole_image", False)),
    )
    try:
        check_values(Recipe(crop=crop))
    except UserError as err:
        raise ModelLoadError(f"signcaps metadata crop settings are out of range: {err}") from None
    return crop


def rejection_rule_from_meta(meta: dict[str, Any], source: str = "the model") -> RejectionRule:
    """The model's rejection rule; models written before format 3 get the default rule (never "none")."""
    try:
        return RejectionRule.from_meta(meta.get("rejection"), [str(c) for c in meta["classes"]])
    except RejectionRuleError as err:
        raise ModelLoadError(f"{source}: signcaps metadata 'rejection': {err}") from None


def detect_config_from_meta(meta: dict[str, Any]) -> DetectConfig:
    """Detector settings from training; keys this version does not know are ignored."""
    values = meta.get("detect") or {}
    known = {f.name: f.type for f in fields(DetectConfig)}
    kwargs = {}
    for name, value in values.items():
        if name in known and value is not None:
            kwargs[name] = int(value) if name == "num_hands" else float(value)
    try:
        check_values(Recipe(detect=DetectConfig(**kwargs)))  # the same ranges as a recipe
    except UserError as err:
        raise ModelLoadError(f"signcaps metadata 'detect' is out of range: {err}") from None
    return DetectConfig(**kwargs)


class OnnxClassifier:
    """A signcaps ONNX model: preprocessed crops in, class-capsule lengths (and reconstructions) out.

    ``threads`` sets onnxruntime's intra-op threads; 1 gives the lowest batch-1 latency on a
    2-core CPU (see ``signcaps bench model``), more helps large batches.
    """

    def __init__(self, path: str | Path, threads: int = 1, signs: str | None = None) -> None:
        import onnx
        import onnxruntime as ort

        self.path = Path(path)
        self.threads = max(int(threads), 1)
        source = str(self.path)
        if not self.path.is_file():
            raise ModelLoadError(f"model not found: {source}")
        from signcaps.util.inputs import MAX_MODEL_BYTES, regular_file

        regular_file(self.path, "model", MAX_MODEL_BYTES, ModelLoadError)
        try:
            model = onnx.load(source)
        except Exception:  # protobuf's DecodeError, or onnx's own errors for foreign bytes
            raise ModelLoadError(f"{source} is not an ONNX model") from None
        if not model.graph.node or not model.graph.input or not model.opset_import:
            raise ModelLoadError(f"{source} is not an ONNX model")
        self.meta: dict[str, Any] = read_metadata(model, source)
        model = self._select_signs(model, signs, source)
        self.classes: list[str] = [str(c) for c in self.meta["classes"]]
        self.crop_cfg: CropConfig = crop_config_from_meta(self.meta)
        self.detect_cfg: DetectConfig = detect_config_from_meta(self.meta)
        self.inputs: dict[str, str] = dict(self.meta["inputs"])
        self._check_signature(model, source)
        self.has_reconstruction: bool = any(o.name == RECONSTRUCTION for o in model.graph.output)
        self.has_pose_reconstruction: bool = any(o.name == POSE_RECONSTRUCTION for o in model.graph.output)
        self.rule: RejectionRule = rejection_rule_from_meta(self.meta, source)
        if self.rule.uses_pose_error and not (self.has_pose_reconstruction and self.needs_pose):
            raise ModelLoadError(f"{source}: its rejection rule compares the decoded pose (max_pose_error) but the "
                                 f"model has no '{POSE_INPUT}' input and '{POSE_RECONSTRUCTION}' output")
        self._model = model
        self._full = None
        # the outputs the rule needs, no more: the image decoder stays pruned away
        self.session_outputs: list[str] = [LENGTHS, *([POSE_RECONSTRUCTION] if self.rule.uses_pose_error else [])]
        graph = (prune_to_outputs(model, self.session_outputs)
                 if {o.name for o in model.graph.output} != set(self.session_outputs) else model)
        try:
            self._session = ort.InferenceSession(graph.SerializeToString(), _session_options(self.threads),
                                                 providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for invalid graphs
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ModelLoadError(f"onnxruntime cannot load {source}: {first[:200]}") from None
        self._check_outputs(source)

    def _select_signs(self, model: Any, signs: str | None, source: str) -> Any:
        """A joint model's view for one sign mode (`runtime.signmodes`; the model itself for
        ALL_CAPSULES); a one-mode model is itself, and refuses a mode its classes are not."""
        from signcaps.runtime.signmodes import ALL_CAPSULES, view_graph, view_meta
        from signcaps.signs.modes import SignModeError, mode_names, mode_view, plain_mode

        self.signs: str | None = None
        self.modes: list[str] = mode_names(self.meta.get("signs"))  # a joint model's modes ([] for one-mode)
        if signs == ALL_CAPSULES:
            return model
        classes = [str(c) for c in self.meta["classes"]]
        try:
            view = mode_view(self.meta.get("signs"), classes, signs)
            if view is None:
                self.signs = plain_mode(classes, signs)
                return model
        except SignModeError as err:
            raise ModelLoadError(f"{source}: {err}") from None
        self.signs = view.name
        self.meta = view_meta(self.meta, view)
        return view_graph(model, view)

    def model_bytes(self) -> bytes:
        """The model as loaded, serialised: a joint model's sign-mode view with its metadata (what
        `web build` ships, so the page runs one mode as an ordinary model), else the file's bytes."""
        from signcaps.runtime.signmodes import with_meta

        return with_meta(self._model, self.meta, META_KEY) if self.signs_view else self.path.read_bytes()

    @property
    def graph(self) -> Any:
        """The ONNX model as loaded (a joint model's sign-mode view), for graph edits (`runtime.adapt`)."""
        return self._model

    def feed(self, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The checked onnxruntime feed of model inputs (`classify`'s argument), by graph input name."""
        return self._feed(inputs)[0]

    @property
    def signs_view(self) -> bool:
        """Whether this is a joint model's sign-mode view (`runtime.signmodes`)."""
        return "signs_view" in self.meta

    def _check_outputs(self, source: str) -> None:
        """One inference at load on a fixed input: the output must be (1, classes) and finite.
        A graph whose lengths width differs from its class list, or whose weights are NaN, is
        refused here instead of being used (or crashing) on the first frame."""
        rng = np.random.default_rng(0)
        probe = {"image": rng.normal(0, 0.5, (1, *self.input_shape)).astype(np.float32),
                 "pose": rng.normal(0, 0.5, (1, NUM_JOINTS, 3)).astype(np.float32)}
        try:
            lengths = self.classify(probe)
        except Exception as err:  # onnxruntime's own types for a graph that does not run
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ModelLoadError(f"{source} does not run on onnxruntime: {first[:200]}") from None
        if lengths.shape != (1, len(self.classes)):
            raise ModelLoadError(f"{source}: output '{LENGTHS}' has {lengths.shape[-1] if lengths.ndim else 0} "
                                 f"values per hand, its metadata names {len(self.classes)} classes")
        if not np.isfinite(lengths).all():
            raise ModelLoadError(f"{source} outputs NaN or infinite capsule lengths (broken weights); it cannot "
                                 "be used")

    def _check_signature(self, model: Any, source: str) -> None:
        inputs = {i.name: _dims(i) for i in model.graph.input
                  if i.name not in {init.name for init in model.graph.initializer}}
        if set(inputs) != set(self.inputs.values()):
            raise ModelLoadError(f"{source} has inputs {sorted(inputs)}, its metadata names "
                                 f"{sorted(self.inputs.values())}")
        expected = {INPUT_NAME: list(self.input_shape), POSE_INPUT: [NUM_JOINTS, 3]}
        for name, got in inputs.items():
            want = expected[name]
            # A symbolic dim cannot disagree; a static one must match the metadata.
            if len(got) != len(want) + 1 or any(isinstance(g, int) and g != w for g, w in zip(got[1:], want)):
                raise ModelLoadError(f"{source}: input '{name}' shape {got} disagrees with its metadata (N, "
                                     f"{', '.join(map(str, want))})")
        outputs = {o.name: _dims(o) for o in model.graph.output}
        if LENGTHS not in outputs:
            raise ModelLoadError(f"{source} has no '{LENGTHS}' output (outputs: {sorted(outputs)})")
        lengths = outputs[LENGTHS]
        if len(lengths) != 2 or (isinstance(lengths[1], int) and lengths[1] != len(self.classes)):
            raise ModelLoadError(f"{source}: output '{LENGTHS}' shape {lengths} disagrees with its "
                                 f"{len(self.classes)} classes")

    # ------------------------------------------------------------------ inference

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.crop_cfg.channels, self.crop_cfg.input_size, self.crop_cfg.input_size)

    @property
    def needs_pose(self) -> bool:
        """Whether the model reads hand landmarks (then every call must bring them)."""
        return "pose" in self.inputs

    def _feed(self, inputs: np.ndarray | dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        """ONNX feed from {"image": (N, C, H, W), "pose": (N, 21, 3)} (a bare array is the image)."""
        if not isinstance(inputs, dict):
            inputs = {"image": inputs}
        shapes = {"image": self.input_shape, "pose": (NUM_JOINTS, 3)}
        feed, count = {}, None
        for kind, name in self.inputs.items():
            if kind not in inputs:
                raise ModelInputError(f"this model needs its '{kind}' input "
                                      f"({'hand landmarks' if kind == 'pose' else 'crops'})")
            array = np.ascontiguousarray(inputs[kind], dtype=np.float32)
            if array.ndim == len(shapes[kind]):
                array = array[None]
            if array.ndim != len(shapes[kind]) + 1 or tuple(array.shape[1:]) != shapes[kind]:
                raise ModelInputError(f"{kind} batch shape {tuple(np.shape(inputs[kind]))} does not fit the "
                                      "model input "
                                      f"(N, {', '.join(map(str, shapes[kind]))})")
            if count is not None and len(array) != count:
                raise ModelInputError("the model's inputs hold different numbers of hands")
            feed[name], count = array, len(array)
        return feed, count or 0

    def classify(self, inputs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """Preprocessed model inputs ({"image": crops (N, C, H, W), "pose": (N, 21, 3)}; a bare
        array is the image batch) -> class-capsule lengths (N, K)."""
        feed, count = self._feed(inputs)
        if count == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return self._session.run([LENGTHS], feed)[0]

    def classify_with_pose_error(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Lengths (N, K) and, when the rule uses it, the winner's pose error (N,) (else None), in one pass
        of the classification graph. The pose error is `rejection.pose_error` of the decoded skeleton
        against the pose given in ``inputs["pose"]``."""
        if not self.rule.uses_pose_error:
            return self.classify(inputs), None
        feed, count = self._feed(inputs)
        if count == 0:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros(0, np.float32)
        lengths, decoded = self._session.run(self.session_outputs, feed)
        return lengths, pose_error(decoded, feed[self.inputs["pose"]])

    def decide(self, inputs: dict[str, np.ndarray], rule: RejectionRule | None = None) -> list[Decision]:
        """The rejection rule's decision for each hand of the batch (``rule``: another one, e.g.
        ``clf.rule.with_accept(0.8)``; it may only use the pose error when the model's own rule does)."""
        rule = rule or self.rule
        if rule.uses_pose_error and not self.rule.uses_pose_error:
            raise ModelInputError("this classifier's graph has no pose decoder output: load a model whose rule "
                                  "uses max_pose_error")
        lengths, errors = self.classify_with_pose_error(inputs)
        return decide_all(lengths, self.classes, rule, errors)

    def hand_inputs(self, crops_rgb: list[np.ndarray] | np.ndarray, poses: list[np.ndarray] | np.ndarray | None = None
                    ) -> dict[str, np.ndarray]:
        """RGB uint8 crops (`preprocess.crop_hand`) and normalised poses (`landmarks.normalize_pose`)
        -> the model's inputs, through the shared `to_batch`."""
        from signcaps.hands.preprocess import to_batch

        inputs = {"image": to_batch(crops_rgb, self.crop_cfg)}
        if poses is not None:
            inputs["pose"] = np.asarray(poses, np.float32).reshape(-1, NUM_JOINTS, 3)
        return inputs

    def classify_crops(self, crops_rgb: list[np.ndarray] | np.ndarray,
                       poses: list[np.ndarray] | np.ndarray | None = None) -> np.ndarray:
        """RGB uint8 hand crops (and their normalised poses, for models that read them) -> lengths (N, K)."""
        return self.classify(self.hand_inputs(crops_rgb, poses))

    def _full_session(self):
        if self._full is None:
            import onnxruntime as ort

            self._full = ort.InferenceSession(self._model.SerializeToString(), _session_options(self.threads),
                                              providers=["CPUExecutionProvider"])
        return self._full

    def explain_outputs(self, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Lengths plus every decoder output the model has (image and/or pose), in one pass."""
        names = [LENGTHS, *([RECONSTRUCTION] if self.has_reconstruction else []),
                 *([POSE_RECONSTRUCTION] if self.has_pose_reconstruction else [])]
        feed, count = self._feed(inputs)
        if count == 0:
            return {LENGTHS: np.zeros((0, len(self.classes)), np.float32)}
        if len(names) == 1:  # no decoder: the pruned graph, on the feed already checked
            return {LENGTHS: self._session.run([LENGTHS], feed)[0]}
        return dict(zip(names, self._full_session().run(names, feed)))

    def classify_and_reconstruct(self,
                                 inputs: np.ndarray | dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Lengths and decoder images in one pass (reconstruction None for models without an image decoder)."""
        if not self.has_reconstruction:
            return self.classify(inputs), None
        out = self.explain_outputs(inputs)
        return out[LENGTHS], out.get(RECONSTRUCTION, np.zeros((0, *self.input_shape), np.float32))

    def reconstruct(self, inputs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | None:
        """Decoder image (N, C, H, W) in [0, 1] of the longest capsule, or None without a decoder."""
        return self.classify_and_reconstruct(inputs)[1]

    def __repr__(self) -> str:
        return (f"OnnxClassifier({str(self.path)!r}, model={self.meta.get('model')!r}, "
                f"classes={len(self.classes)}, threads={self.threads})")
