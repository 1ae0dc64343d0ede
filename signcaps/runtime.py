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

from signcaps.config import CropConfig, DetectConfig, Recipe, check_values
from signcaps.errors import UserError

META_KEY = "signcaps"
FORMAT = "signcaps-onnx"
FORMAT_VERSION = 1
INPUT_NAME = "input"
LENGTHS = "lengths"
RECONSTRUCTION = "reconstruction"
DEFAULT_MODEL_NAME = "default_model.onnx"


class ModelLoadError(UserError, ValueError):
    """An ONNX file that cannot serve as a signcaps classifier (one-line message)."""


class ModelInputError(UserError, ValueError):
    """A batch whose shape does not fit the model input."""


def default_model_path() -> Path:
    """Where the shipped default model lives: ``signcaps/resources/default_model.onnx``."""
    return Path(str(resources.files("signcaps.resources").joinpath(DEFAULT_MODEL_NAME)))


def load_classifier(path: str | Path | None, threads: int = 1) -> "OnnxClassifier":
    """The model at ``path``, or the shipped default when ``path`` is None."""
    if path is None:
        default = default_model_path()
        if not default.is_file():
            raise ModelLoadError("no default model shipped; pass --model PATH")
        path = default
    return OnnxClassifier(path, threads=threads)


def _session_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(int(threads), 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: keep the terminal for our messages
    return options


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
    if version != FORMAT_VERSION:
        raise ModelLoadError(f"{source} uses signcaps ONNX format version {version!r}; "
                             f"this signcaps reads version {FORMAT_VERSION}")
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
    "classes": (lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(c, str) or _is_int(c) for c in v),
                "a non-empty list of class names", True),
    "input_size": (lambda v: _is_int(v) and 8 <= v <= 1024, "an integer from 8 to 1024", True),
    "channels": (lambda v: _is_int(v) and v in (1, 3), "1 or 3", True),
    "mean": (_is_number, "a number", True),
    "std": (lambda v: _is_number(v) and v > 0, "a positive number", True),
    "margin": (lambda v: _is_number(v) and v >= 0, "a non-negative number", True),
    "mirror_left": (lambda v: isinstance(v, bool), "true or false", True),
    "fallback_whole_image": (lambda v: isinstance(v, bool), "true or false", False),
    "detect": (_is_detect, "a mapping of detector settings to numbers", False),
}


def crop_config_from_meta(meta: dict[str, Any]) -> CropConfig:
    return CropConfig(
        input_size=int(meta["input_size"]),
        channels=int(meta["channels"]),
        margin=float(meta["margin"]),
        mirror_left=bool(meta["mirror_left"]),
        mean=float(meta["mean"]),
        std=float(meta["std"]),
        fallback_whole_image=bool(meta.get("fallback_whole_image", False)),
    )


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

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnx
        import onnxruntime as ort

        self.path = Path(path)
        self.threads = max(int(threads), 1)
        source = str(self.path)
        if not self.path.is_file():
            raise ModelLoadError(f"model not found: {source}")
        try:
            model = onnx.load(source)
        except Exception:  # protobuf's DecodeError, or onnx's own errors for foreign bytes
            raise ModelLoadError(f"{source} is not an ONNX model") from None
        if not model.graph.node or not model.graph.input or not model.opset_import:
            raise ModelLoadError(f"{source} is not an ONNX model")
        self.meta: dict[str, Any] = read_metadata(model, source)
        self.classes: list[str] = [str(c) for c in self.meta["classes"]]
        self.crop_cfg: CropConfig = crop_config_from_meta(self.meta)
        self.detect_cfg: DetectConfig = detect_config_from_meta(self.meta)
        self._check_signature(model, source)
        self.has_reconstruction: bool = any(o.name == RECONSTRUCTION for o in model.graph.output)
        self._model = model
        self._full = None
        graph = prune_to_outputs(model, [LENGTHS]) if len(model.graph.output) > 1 else model
        try:
            self._session = ort.InferenceSession(graph.SerializeToString(), _session_options(self.threads),
                                                 providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for invalid graphs
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ModelLoadError(f"onnxruntime cannot load {source}: {first[:200]}") from None

    def _check_signature(self, model: Any, source: str) -> None:
        inputs = [i for i in model.graph.input if i.name not in {init.name for init in model.graph.initializer}]
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            names = [i.name for i in inputs]
            raise ModelLoadError(f"{source} must have exactly one input named '{INPUT_NAME}', has {names}")
        got = _dims(inputs[0])
        want = [self.crop_cfg.channels, self.crop_cfg.input_size, self.crop_cfg.input_size]
        # A symbolic dim cannot disagree; a static one must match the metadata.
        if len(got) != 4 or any(isinstance(g, int) and g != w for g, w in zip(got[1:], want)):
            raise ModelLoadError(f"{source}: input shape {got} disagrees with its metadata (N, {want[0]}, {want[1]}, {want[2]})")
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

    def _as_batch(self, batch: np.ndarray) -> np.ndarray:
        array = np.ascontiguousarray(batch, dtype=np.float32)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or tuple(array.shape[1:]) != self.input_shape:
            raise ModelInputError(f"batch shape {tuple(np.shape(batch))} does not fit the model input (N, "
                                 f"{', '.join(map(str, self.input_shape))})")
        return array

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 preprocessed crops -> class-capsule lengths (N, K)."""
        array = self._as_batch(batch)
        if len(array) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return self._session.run([LENGTHS], {INPUT_NAME: array})[0]

    def classify_crops(self, crops_rgb: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """RGB uint8 hand crops (from ``preprocess.crop_hand``) -> lengths (N, K)."""
        from signcaps.preprocess import to_batch

        return self.classify(to_batch(crops_rgb, self.crop_cfg))

    def _full_session(self):
        if self._full is None:
            import onnxruntime as ort

            self._full = ort.InferenceSession(self._model.SerializeToString(), _session_options(self.threads),
                                              providers=["CPUExecutionProvider"])
        return self._full

    def classify_and_reconstruct(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Lengths and decoder images in one pass (reconstruction None for models without a decoder)."""
        if not self.has_reconstruction:
            return self.classify(batch), None
        array = self._as_batch(batch)
        if len(array) == 0:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, *self.input_shape), np.float32)
        lengths, recon = self._full_session().run([LENGTHS, RECONSTRUCTION], {INPUT_NAME: array})
        return lengths, recon

    def reconstruct(self, batch: np.ndarray) -> np.ndarray | None:
        """Decoder image (N, C, H, W) in [0, 1] of the longest capsule, or None without a decoder."""
        return self.classify_and_reconstruct(batch)[1]

    def __repr__(self) -> str:
        return (f"OnnxClassifier({str(self.path)!r}, model={self.meta.get('model')!r}, "
                f"classes={len(self.classes)}, threads={self.threads})")
