"""Model registry: image, hand-pose and fused capsule networks plus CNN and landmark-MLP baselines.

Every model's ``forward(*inputs)`` maps its inputs (``model.inputs``, in that order: "image" =
(N, C, H, W) float32 crops, "pose" = (N, 21, 3) normalised landmarks) to per-class scores in
[0, 1] (capsule lengths, or sigmoid scores for the baselines), so one margin loss, one evaluation
path and one ONNX export serve all of them. Shapes are computed at construction from ``CropConfig``, so
any crop size/channel count works as long as the layers still fit.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from signcaps.hands.landmarks import NUM_JOINTS, PARTS, TIPS
from signcaps.models.capsules import (
    Decoder,
    PrimaryCapsules,
    RoutingCapsules,
    capsule_lengths,
    conv_output_size,
    mask_capsules,
    squash,
)
from signcaps.util.config import Check, ConfigError, CropConfig, ModelConfig, between, coerce
from signcaps.util.errors import UserError


class ModelConfigError(UserError, ValueError):
    """An unknown model name or architecture parameter (one line for the CLI)."""



# ----------------------------------------------------------------------------- capsule networks


@dataclass
class CapsNetSpec:
    """Architecture of a capsule network: conv stem -> primary capsules -> digit capsules -> decoder.

    The stem is one conv layer per entry of ``stem_channels`` (ReLU after each, BatchNorm before
    the ReLU when ``batch_norm``); ``stem_kernels``/``stem_strides``/``stem_padding`` must have
    the same length.
    """

    stem_channels: tuple[int, ...]
    stem_kernels: tuple[int, ...]
    stem_strides: tuple[int, ...]
    stem_padding: tuple[int, ...]
    batch_norm: bool
    primary_maps: int
    primary_dim: int
    primary_kernel: int
    primary_stride: int
    primary_padding: int
    digit_dim: int
    decoder_hidden: tuple[int, ...]
    routing_init_std: float = 0.01


# The paper's MNIST network (Sabour et al. 2017, section 4), for 28x28 input.
SABOUR_DEFAULTS: dict[str, Any] = {
    "stem_channels": (256,),
    "stem_kernels": (9,),
    "stem_strides": (1,),
    "stem_padding": (0,),
    "batch_norm": False,
    "primary_maps": 32,
    "primary_dim": 8,
    "primary_kernel": 9,
    "primary_stride": 2,
    "primary_padding": 0,
    "digit_dim": 16,
    "decoder_hidden": (512, 1024),
    "routing_init_std": 0.01,
}

# The default network for 32x32 grayscale hand crops on a 2-core CPU, chosen by measurement
# (train/README.md): 32 -> 28 -> 13 -> 6 -> a 4x4 grid of 16 primary capsule maps = 256 primary
# capsules routed to 10x16D digit capsules. Wider stems (32-64-128, 512 capsules) reached the same
# test accuracy at 3-4x the training time; a two-conv stride-2 stem lost about 0.4 points.
CAPSNET_DEFAULTS: dict[str, Any] = {
    "stem_channels": (16, 32, 64),
    "stem_kernels": (5, 3, 3),
    "stem_strides": (1, 2, 2),
    "stem_padding": (0, 0, 0),
    "batch_norm": True,
    "primary_maps": 16,
    "primary_dim": 8,
    "primary_kernel": 3,
    "primary_stride": 1,
    "primary_padding": 0,
    "digit_dim": 16,
    "decoder_hidden": (256, 512),
    "routing_init_std": 0.01,
}


def _conv_stem(in_channels: int, spec: CapsNetSpec) -> nn.Sequential:
    """Conv (+BN) + ReLU blocks; a conv followed by BN needs no bias."""
    layers: list[nn.Module] = []
    channels = in_channels
    for out, k, s, p in zip(spec.stem_channels, spec.stem_kernels, spec.stem_strides, spec.stem_padding):
        layers.append(nn.Conv2d(channels, out, k, s, p, bias=not spec.batch_norm))
        if spec.batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU(inplace=True))
        channels = out
    return nn.Sequential(*layers)


def _prefer_channels_last(*modules: nn.Module) -> None:
    """Store conv weights channels-last: oneDNN then runs the convolutions (and BatchNorm) in NHWC,
    about 1.3-1.6x faster on CPU. Results are unchanged; ``.to(device)`` and ``load_state_dict``
    keep the layout. Only conv blocks are converted (the 4-D routing weight must stay as is)."""
    for module in modules:
        module.to(memory_format=torch.channels_last)


class CapsNet(nn.Module):
    """Capsule network; ``forward`` returns only the class-capsule lengths (what ONNX exports)."""

    inputs = ("image",)
    has_decoder = True
    has_pose_decoder = False

    def __init__(
        self,
        spec: CapsNetSpec,
        in_channels: int,
        input_size: int,
        num_classes: int,
        routing_iterations: int = 3,
        name: str = "capsnet",
    ) -> None:
        super().__init__()
        self.spec = spec
        self.num_classes = num_classes
        self.input_shape = (in_channels, input_size, input_size)
        self.stem = _conv_stem(in_channels, spec)
        size = input_size
        for k, s, p in zip(spec.stem_kernels, spec.stem_strides, spec.stem_padding):
            size = conv_output_size(size, k, s, p)
        self.primary = PrimaryCapsules(
            spec.stem_channels[-1] if spec.stem_channels else in_channels,
            spec.primary_maps,
            spec.primary_dim,
            spec.primary_kernel,
            spec.primary_stride,
            spec.primary_padding,
            input_size=size,
        )
        grid = self.primary.grid
        if size < 1 or min(grid) < 1:
            raise ModelConfigError(
                f"model '{name}': input size {input_size} is too small for its layers "
                f"(primary capsule grid would be {grid[0]}x{grid[1]})"
            )
        self.num_primary = self.primary.num_capsules(size, size)
        self.digits = RoutingCapsules(
            self.num_primary,
            spec.primary_dim,
            num_classes,
            spec.digit_dim,
            routing_iterations,
            spec.routing_init_std,
        )
        self.decoder = Decoder(num_classes, spec.digit_dim, self.input_shape, spec.decoder_hidden)
        _prefer_channels_last(self.stem, self.primary)

    def forward_capsules(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) -> (lengths (N, K), digit capsules (N, K, digit_dim))."""
        caps = self.digits(self.primary(self.stem(x)))
        return capsule_lengths(caps), caps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> class-capsule lengths (N, K) in [0, 1]."""
        return self.forward_capsules(x)[0]

    def reconstruct(self, digit_caps: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder image (N, C, H, W) in [0, 1], masked by ``targets`` or the longest capsule."""
        return self.decoder(digit_caps, targets)


# ----------------------------------------------------------------------------- CNN baseline


@dataclass
class CNNSpec:
    """Conv (kernel x kernel, 'same' padding) + BN + ReLU + 2x2 max-pool per entry of ``channels``,
    then a dropout MLP head."""

    channels: tuple[int, ...]
    kernel: int
    fc_hidden: int
    dropout: float


# Roughly the parameter count of the capsnet encoder (the part used at inference).
CNN_DEFAULTS: dict[str, Any] = {
    "channels": (32, 64, 128),
    "kernel": 3,
    "fc_hidden": 384,
    "dropout": 0.3,
}


class CNNBaseline(nn.Module):
    """Plain CNN whose sigmoid scores stand in for capsule lengths (same loss, same export)."""

    inputs = ("image",)
    has_decoder = False

    def __init__(self, spec: CNNSpec, in_channels: int, input_size: int, num_classes: int, name: str = "cnn") -> None:
        super().__init__()
        self.spec = spec
        self.num_classes = num_classes
        self.input_shape = (in_channels, input_size, input_size)
        layers: list[nn.Module] = []
        channels, size = in_channels, input_size
        for out in spec.channels:
            layers += [
                nn.Conv2d(channels, out, spec.kernel, padding=spec.kernel // 2, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = out
            size = conv_output_size(conv_output_size(size, spec.kernel, 1, spec.kernel // 2), 2, 2)
        if size < 1:
            raise ModelConfigError(
                f"model '{name}': input size {input_size} is too small for {len(spec.channels)} pooling stages"
            )
        self.features = nn.Sequential(*layers)
        _prefer_channels_last(self.features)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(spec.dropout),
            nn.Linear(channels * size * size, spec.fc_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(spec.dropout),
            nn.Linear(spec.fc_hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> per-class sigmoid scores (N, K) in [0, 1]."""
        return torch.sigmoid(self.head(self.features(x)))


# ----------------------------------------------------------------------------- hand-pose capsules


@dataclass
class PoseSpec:
    """Part capsules from the hand's geometry, routed into the digit capsules.

    Each part of the hand (palm, thumb, four fingers: ``landmarks.PARTS``) gets its own small
    network that turns the part's joints (in the wrist frame and relative to the part's base)
    into ``caps_per_part`` capsules of ``part_dim`` dimensions; a seventh group reads the
    fingertip contacts (distances between tips, and from each tip to the wrist), which decide
    digits that differ only in which fingers touch.
    """

    caps_per_part: int
    part_dim: int
    part_hidden: int
    digit_dim: int
    decoder_hidden: tuple[int, ...]
    routing_init_std: float = 0.05


POSE_DEFAULTS: dict[str, Any] = {
    "caps_per_part": 8,
    "part_dim": 8,
    "part_hidden": 64,
    "digit_dim": 16,
    "decoder_hidden": (128, 256),
    "routing_init_std": 0.05,
}

_TIP_PAIRS = [(a, b) for i, a in enumerate(TIPS) for b in TIPS[i + 1:]]


class PoseEncoder(nn.Module):
    """(N, 21, 3) normalised pose -> (N, parts x caps_per_part, part_dim) squashed part capsules."""

    def __init__(self, caps_per_part: int, part_dim: int, hidden: int) -> None:
        super().__init__()
        self.caps_per_part, self.part_dim = caps_per_part, part_dim
        self.parts = [tuple(joints) for joints in PARTS.values()]
        widths = [6 * len(joints) for joints in self.parts] + [len(_TIP_PAIRS) + len(TIPS)]
        self.nets = nn.ModuleList(
            nn.Sequential(nn.Linear(w, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, caps_per_part * part_dim))
            for w in widths
        )
        self.num_capsules = len(widths) * caps_per_part

    def part_features(self, pose: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for joints in self.parts:
            part = pose[:, list(joints)]
            features.append(torch.cat([part.flatten(1), (part - part[:, :1]).flatten(1)], dim=1))
        tips = pose[:, list(TIPS)]
        first = pose[:, [a for a, _ in _TIP_PAIRS]]
        second = pose[:, [b for _, b in _TIP_PAIRS]]
        contacts = torch.linalg.vector_norm(first - second, dim=-1)
        features.append(torch.cat([contacts, torch.linalg.vector_norm(tips, dim=-1)], dim=1))
        return features

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        caps = [net(f).unflatten(1, (self.caps_per_part, self.part_dim))
                for net, f in zip(self.nets, self.part_features(pose))]
        return squash(torch.cat(caps, dim=1))


class PoseDecoder(nn.Module):
    """Masked digit capsules -> the 21 landmarks (N, 21, 3): the pose the winning capsule describes."""

    def __init__(self, num_caps: int, caps_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = num_caps * caps_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        layers.append(nn.Linear(width, NUM_JOINTS * 3))
        self.net = nn.Sequential(*layers)

    def forward(self, caps: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(mask_capsules(caps, targets)).unflatten(1, (NUM_JOINTS, 3))


class PoseCapsNet(nn.Module):
    """Hand-pose capsule network: part capsules of the landmarks -> routing -> digit capsules."""

    inputs = ("pose",)
    has_decoder = False
    has_pose_decoder = True

    def __init__(self, spec: PoseSpec, num_classes: int, routing_iterations: int = 3) -> None:
        super().__init__()
        self.spec, self.num_classes = spec, num_classes
        self.encoder = PoseEncoder(spec.caps_per_part, spec.part_dim, spec.part_hidden)
        self.digits = RoutingCapsules(self.encoder.num_capsules, spec.part_dim, num_classes, spec.digit_dim,
                                      routing_iterations, spec.routing_init_std)
        self.pose_decoder = PoseDecoder(num_classes, spec.digit_dim, spec.decoder_hidden)

    def forward_capsules(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        caps = self.digits(self.encoder(pose))
        return capsule_lengths(caps), caps

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        return self.forward_capsules(pose)[0]

    def reconstruct_pose(self, digit_caps: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        return self.pose_decoder(digit_caps, targets)


class FusedCapsNet(CapsNet):
    """Image capsules and pose capsules routed by agreement into the same digit capsules.

    The image still adds what landmarks miss (contact, shading, a finger MediaPipe misplaced);
    the pose adds what the image cannot be trusted with (a new wall, new light). During training
    a whole modality is dropped for some samples (``image_dropout``, ``pose_dropout``), so each
    alone must carry the class and neither can hide behind the other.
    """

    inputs = ("image", "pose")
    has_pose_decoder = True

    def __init__(self, spec: CapsNetSpec, pose: PoseSpec, in_channels: int, input_size: int, num_classes: int,
                 routing_iterations: int = 3, image_dropout: float = 0.0, pose_dropout: float = 0.0,
                 name: str = "fused-capsnet") -> None:
        super().__init__(spec, in_channels, input_size, num_classes, routing_iterations, name)
        if pose.part_dim != spec.primary_dim:
            raise ModelConfigError(f"model '{name}': part_dim ({pose.part_dim}) must equal primary_dim "
                                   f"({spec.primary_dim})")
        self.pose_spec = pose
        self.image_dropout, self.pose_dropout = image_dropout, pose_dropout
        self.encoder = PoseEncoder(pose.caps_per_part, pose.part_dim, pose.part_hidden)
        self.digits = RoutingCapsules(self.num_primary + self.encoder.num_capsules, spec.primary_dim, num_classes,
                                      spec.digit_dim, routing_iterations, spec.routing_init_std)
        self.pose_decoder = PoseDecoder(num_classes, spec.digit_dim, pose.decoder_hidden)

    def forward_capsules(self, x: torch.Tensor, pose: torch.Tensor,  # type: ignore[override]
                         image_present: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``image_present`` (N,) bool marks samples that have no real crop (synthetic negatives, whose
        landmarks were edited): their image capsules are zeroed, as the image dropout does."""
        image_caps, pose_caps = self.primary(self.stem(x)), self.encoder(pose)
        if self.training and (self.image_dropout > 0 or self.pose_dropout > 0):
            image_caps, pose_caps = self._drop_modalities(image_caps, pose_caps)
        if image_present is not None:
            image_caps = image_caps * image_present.to(image_caps.dtype)[:, None, None]
        caps = self.digits(torch.cat([image_caps, pose_caps], dim=1))
        return capsule_lengths(caps), caps

    def _drop_modalities(self, image_caps: torch.Tensor, pose_caps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = image_caps.shape[0]
        drop_image = torch.rand(n, device=image_caps.device) < self.image_dropout
        drop_pose = (torch.rand(n, device=image_caps.device) < self.pose_dropout) & ~drop_image
        return (image_caps * (~drop_image).to(image_caps.dtype)[:, None, None],
                pose_caps * (~drop_pose).to(pose_caps.dtype)[:, None, None])

    def forward(self, x: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.forward_capsules(x, pose)[0]

    def reconstruct_pose(self, digit_caps: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        return self.pose_decoder(digit_caps, targets)


# ----------------------------------------------------------------------------- landmark MLP baseline


@dataclass
class LandmarkMLPSpec:
    """What the landmark gesture apps ship: an MLP on the 63 normalised coordinates."""

    hidden: tuple[int, ...]
    dropout: float


MLP_DEFAULTS: dict[str, Any] = {"hidden": (128, 128), "dropout": 0.1}


class LandmarkMLP(nn.Module):
    inputs = ("pose",)
    has_decoder = False

    def __init__(self, spec: LandmarkMLPSpec, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = NUM_JOINTS * 3
        for h in spec.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(spec.dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        """(N, 21, 3) -> per-class sigmoid scores (N, K), standing in for capsule lengths."""
        return torch.sigmoid(self.net(pose))


# ----------------------------------------------------------------------------- registry


# What a default's type asks of an override, for `config.coerce` and for the one-line message.
_PARAM_TYPES: tuple[tuple[type, Any, str], ...] = (
    (tuple, tuple[int, ...], "a list of integers"),
    (bool, bool, "true/false"),  # before int: a bool is an int
    (int, int, "an integer"),
    (float, float, "a number"),
)


def _coerce_param(value: Any, default: Any, key: str, model: str) -> Any:
    """Check one override against the type of its default value, through `config.coerce` (strict:
    YAML already typed it). Defaults of other types take any value."""
    for kind, annotation, wanted in _PARAM_TYPES:
        if isinstance(default, kind):
            try:
                return coerce(value, annotation, f"model.params.{key}", strict=True)
            except ConfigError:
                raise ModelConfigError(f"model '{model}': param '{key}' must be {wanted}, got {value!r}") from None
    return value


def merge_params(model: str, defaults: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by ``params``; unknown or mistyped keys raise a one-line ValueError."""
    params = params or {}
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ModelConfigError(f"model '{model}': unknown param(s) {unknown}; known: {sorted(defaults)}")
    merged = dict(defaults)
    for key, value in params.items():
        merged[key] = _coerce_param(value, defaults[key], key, model)
    return merged


def _capsnet_spec(model: str, merged: dict[str, Any]) -> CapsNetSpec:
    spec = CapsNetSpec(**{k: v for k, v in merged.items() if k in CapsNetSpec.__dataclass_fields__})
    stem_lengths = {len(spec.stem_channels), len(spec.stem_kernels), len(spec.stem_strides), len(spec.stem_padding)}
    if len(stem_lengths) != 1:
        raise ModelConfigError(
            f"model '{model}': stem_channels, stem_kernels, stem_strides and stem_padding must have the same length"
        )
    return spec


def _pose_spec(merged: dict[str, Any], prefix: str = "") -> PoseSpec:
    fields_ = PoseSpec.__dataclass_fields__
    return PoseSpec(**{k: merged[prefix + k] for k in fields_ if prefix + k in merged})


# A factory gets (merged params, crop config, class count, routing iterations, registry name).
ModelFactory = Callable[[dict[str, Any], CropConfig, int, int, str], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """One registered architecture: how to build it, its default parameters, what it reads."""

    factory: ModelFactory
    defaults: dict[str, Any]
    inputs: tuple[str, ...]  # "image" (the crop) and/or "pose" (the normalised landmarks)
    summary: str


FUSED_DEFAULTS: dict[str, Any] = {
    **CAPSNET_DEFAULTS,
    "caps_per_part": 8,
    "part_hidden": 64,
    "pose_decoder_hidden": (128, 256),
    "image_dropout": 0.25,
    "pose_dropout": 0.1,
}


def _build_fused(p: dict[str, Any], crop: CropConfig, k: int, iters: int, name: str) -> nn.Module:
    pose = PoseSpec(p["caps_per_part"], p["primary_dim"], p["part_hidden"], p["digit_dim"], p["pose_decoder_hidden"])
    return FusedCapsNet(_capsnet_spec(name, p), pose, crop.channels, crop.input_size, k, iters,
                        p["image_dropout"], p["pose_dropout"], name)


REGISTRY: dict[str, ModelEntry] = {
    "capsnet": ModelEntry(
        lambda p, crop, k, iters, name: CapsNet(_capsnet_spec(name, p), crop.channels, crop.input_size, k, iters, name),
        CAPSNET_DEFAULTS, ("image",), "image capsules on the 32x32 hand crop (the first default)"),
    "capsnet-sabour": ModelEntry(
        lambda p, crop, k, iters, name: CapsNet(_capsnet_spec(name, p), crop.channels, crop.input_size, k, iters, name),
        SABOUR_DEFAULTS, ("image",), "the paper's MNIST CapsNet (Sabour et al. 2017)"),
    "pose-capsnet": ModelEntry(
        lambda p, crop, k, iters, name: PoseCapsNet(_pose_spec(p), k, iters),
        POSE_DEFAULTS, ("pose",), "hand-pose part capsules (palm, fingers, contacts) from the landmarks"),
    "fused-capsnet": ModelEntry(_build_fused, FUSED_DEFAULTS, ("image", "pose"),
                                "image capsules and pose capsules routed into the same digit capsules"),
    "cnn": ModelEntry(
        lambda p, crop, k, iters, name: CNNBaseline(CNNSpec(**p), crop.channels, crop.input_size, k),
        CNN_DEFAULTS, ("image",), "baseline: a plain CNN on the crop"),
    "landmark-mlp": ModelEntry(
        lambda p, crop, k, iters, name: LandmarkMLP(LandmarkMLPSpec(**p), k),
        MLP_DEFAULTS, ("pose",), "baseline: an MLP on the landmarks, what landmark gesture apps ship"),
}


def list_models() -> list[str]:
    """Names of every registered architecture (the CLI's help and the tests iterate these)."""
    return sorted(REGISTRY)


def model_entry(name: str) -> ModelEntry:
    entry = REGISTRY.get(name)
    if entry is None:
        raise ModelConfigError(f"unknown model '{name}'; choose from: {', '.join(list_models())}")
    return entry


# Allowed values of the architecture parameters, by name (the same name means the same thing in
# every registry entry), in the form of `config.CHECKS`; a list parameter checks each element. Then
# the model is built once on torch's "meta" device (shapes only, no memory) and its parameter count
# held to MAX_PARAMETERS: layer sizes from a recipe or a tampered checkpoint never ask for terabytes.
_WIDTH, _HIDDEN, _DIM = between(1, 2048), between(1, 16384), between(1, 128)
PARAM_CHECKS: dict[str, Check] = {
    "stem_channels": _WIDTH, "stem_kernels": between(1, 31), "stem_strides": between(1, 8),
    "stem_padding": between(0, 32), "primary_maps": between(1, 512), "primary_dim": _DIM,
    "primary_kernel": between(1, 31), "primary_stride": between(1, 8), "primary_padding": between(0, 32),
    "digit_dim": _DIM, "decoder_hidden": _HIDDEN, "routing_init_std": between(0, 10, lo_open=True),
    "channels": _WIDTH, "kernel": between(1, 31), "fc_hidden": _HIDDEN, "dropout": between(0, 1, hi_open=True),
    "caps_per_part": between(1, 128), "part_dim": _DIM, "part_hidden": _HIDDEN, "pose_decoder_hidden": _HIDDEN,
    "image_dropout": between(0, 1, hi_open=True), "pose_dropout": between(0, 1, hi_open=True), "hidden": _HIDDEN,
}
MAX_LAYERS = 16  # entries of a list parameter (stem layers, decoder layers)
MAX_PARAMETERS = 200_000_000  # the largest registered model (capsnet-sabour) has ~8 M


def check_params(model: str, params: dict[str, Any]) -> None:
    """PARAM_CHECKS on merged parameters; one ModelConfigError line naming the parameter."""
    for key, value in params.items():
        check = PARAM_CHECKS.get(key)
        if check is None:
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        if len(items) > MAX_LAYERS:
            raise ModelConfigError(f"model '{model}': param '{key}' has {len(items)} entries (at most {MAX_LAYERS})")
        for item in items:
            complaint = check(item)
            if complaint:
                raise ModelConfigError(f"model '{model}': param '{key}' {complaint}")


def check_model(model_cfg: ModelConfig, crop_cfg: CropConfig, num_classes: int = 2) -> dict[str, Any]:
    """The merged parameters, checked (PARAM_CHECKS) and sized on the meta device: one
    ModelConfigError line before any memory is taken or any work starts. Returns the parameters."""
    entry = model_entry(model_cfg.name)
    params = merge_params(model_cfg.name, entry.defaults, model_cfg.params)
    check_params(model_cfg.name, params)
    with torch.device("meta"):  # shapes only: the size is known before any memory is taken
        sized = entry.factory(params, crop_cfg, num_classes, model_cfg.routing_iterations, model_cfg.name)
    if (count := count_parameters(sized)) > MAX_PARAMETERS:
        raise ModelConfigError(f"model '{model_cfg.name}' would have {count:,} parameters (at most "
                               f"{MAX_PARAMETERS:,}); make its layers smaller")
    return params


def build_model(model_cfg: ModelConfig, crop_cfg: CropConfig, num_classes: int) -> nn.Module:
    """Instantiate the registry entry ``model_cfg.name`` for this crop geometry and class count."""
    entry = model_entry(model_cfg.name)
    params = check_model(model_cfg, crop_cfg, num_classes)
    model = entry.factory(params, crop_cfg, num_classes, model_cfg.routing_iterations, model_cfg.name)
    model.inputs = entry.inputs
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, or only those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def resolved_params(model_cfg: ModelConfig) -> dict[str, Any]:
    """Every architecture parameter of the config spelled out (plain lists, no tuples)."""
    merged = merge_params(model_cfg.name, model_entry(model_cfg.name).defaults, model_cfg.params)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}


def resolved_config(model_cfg: ModelConfig) -> ModelConfig:
    """The config with every architecture parameter spelled out.

    Checkpoints store this, so a later change of registry defaults can't break loading them.
    """
    return ModelConfig(model_cfg.name, model_cfg.routing_iterations, resolved_params(model_cfg))
