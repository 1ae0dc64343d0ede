"""Model registry: capsule networks and a CNN baseline, all built from the recipe's configs.

Every model's ``forward(x)`` maps (N, C, H, W) float32 crops to per-class scores in [0, 1]
(capsule lengths, or sigmoid scores for the CNN), so one margin loss, one evaluation path and
one ONNX export serve all of them. Shapes are computed at construction from ``CropConfig``, so
any crop size/channel count works as long as the layers still fit.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from signcaps.capsules import (
    Decoder,
    PrimaryCapsules,
    RoutingCapsules,
    capsule_lengths,
    conv_output_size,
)
from signcaps.config import CropConfig, ModelConfig
from signcaps.errors import UserError


class ModelConfigError(UserError, ValueError):
    """An unknown model name or architecture parameter (one line for the CLI)."""

ModelFactory = Callable[[ModelConfig, CropConfig, int], nn.Module]


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

    has_decoder = True

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


# ----------------------------------------------------------------------------- registry


def _as_int_tuple(value: Any, key: str, model: str) -> tuple[int, ...]:
    """YAML gives lists; the specs want tuples of ints."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ModelConfigError(f"model '{model}': param '{key}' must be a list of integers, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ModelConfigError(f"model '{model}': param '{key}' must be a list of integers, got {value!r}")
    return tuple(value)


def _coerce_param(value: Any, default: Any, key: str, model: str) -> Any:
    """Check one override against the type of its default value."""
    if isinstance(default, tuple):
        return _as_int_tuple(value, key, model)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ModelConfigError(f"model '{model}': param '{key}' must be true/false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ModelConfigError(f"model '{model}': param '{key}' must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelConfigError(f"model '{model}': param '{key}' must be a number, got {value!r}")
        return float(value)
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
    spec = CapsNetSpec(**merged)
    stem_lengths = {len(spec.stem_channels), len(spec.stem_kernels), len(spec.stem_strides), len(spec.stem_padding)}
    if len(stem_lengths) != 1:
        raise ModelConfigError(
            f"model '{model}': stem_channels, stem_kernels, stem_strides and stem_padding must have the same length"
        )
    return spec


def _capsnet_factory(name: str, defaults: dict[str, Any]) -> ModelFactory:
    def build(model_cfg: ModelConfig, crop_cfg: CropConfig, num_classes: int) -> nn.Module:
        spec = _capsnet_spec(name, merge_params(name, defaults, model_cfg.params))
        return CapsNet(spec, crop_cfg.channels, crop_cfg.input_size, num_classes, model_cfg.routing_iterations, name)

    build.__doc__ = f"Build '{name}' (defaults: {defaults})."
    return build


def _build_cnn(model_cfg: ModelConfig, crop_cfg: CropConfig, num_classes: int) -> nn.Module:
    """Build the CNN baseline; ``routing_iterations`` does not apply and is ignored."""
    spec = CNNSpec(**merge_params("cnn", CNN_DEFAULTS, model_cfg.params))
    return CNNBaseline(spec, crop_cfg.channels, crop_cfg.input_size, num_classes)


MODELS: dict[str, ModelFactory] = {
    "capsnet": _capsnet_factory("capsnet", CAPSNET_DEFAULTS),
    "capsnet-sabour": _capsnet_factory("capsnet-sabour", SABOUR_DEFAULTS),
    "cnn": _build_cnn,
}

MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "capsnet": CAPSNET_DEFAULTS,
    "capsnet-sabour": SABOUR_DEFAULTS,
    "cnn": CNN_DEFAULTS,
}


def build_model(model_cfg: ModelConfig, crop_cfg: CropConfig, num_classes: int) -> nn.Module:
    """Instantiate the registry entry ``model_cfg.name`` for this crop geometry and class count."""
    factory = MODELS.get(model_cfg.name)
    if factory is None:
        raise ModelConfigError(f"unknown model '{model_cfg.name}'; choose from: {', '.join(sorted(MODELS))}")
    return factory(model_cfg, crop_cfg, num_classes)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, or only those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)



def resolved_config(model_cfg: ModelConfig) -> ModelConfig:
    """The config with every architecture parameter spelled out (plain lists, no tuples).

    Checkpoints store this, so a later change of registry defaults can't break loading them.
    """
    if model_cfg.name not in MODEL_DEFAULTS:
        raise ModelConfigError(f"unknown model '{model_cfg.name}'; choose from: {', '.join(sorted(MODELS))}")
    merged = merge_params(model_cfg.name, MODEL_DEFAULTS[model_cfg.name], model_cfg.params)
    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}
    return ModelConfig(model_cfg.name, model_cfg.routing_iterations, plain)
