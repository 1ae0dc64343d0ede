"""Checkpoints: weights plus the recipe that built them, written atomically, loaded safely.

`torch.load(weights_only=True)` refuses pickled code, so a checkpoint from the internet can
never execute anything; everything stored is tensors, numbers, strings, lists and dicts.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from signcaps.util.config import ConfigError, Recipe, recipe_from_dict
from signcaps.util.errors import UserError

FORMAT = "signcaps-checkpoint/1"


class CheckpointError(UserError, RuntimeError):
    """A file that is not a usable signcaps checkpoint (one-line message)."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Written through `outputs.atomic_write`: an interrupted or failed save (a full disk) keeps the
    previous checkpoint and leaves no partial file."""
    from signcaps.util.outputs import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))


def require_checkpoint_file(path: str | Path) -> Path:
    """Fail early (before output folders are made or work starts) on a checkpoint that is not there
    (or is no regular file, or too large to be one)."""
    from signcaps.util.inputs import MAX_CHECKPOINT_BYTES, regular_file

    return regular_file(path, "checkpoint", MAX_CHECKPOINT_BYTES, CheckpointError)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = require_checkpoint_file(path)
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for foreign/corrupt files
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a signcaps checkpoint")
    check_entries(state, path, REQUIRED)
    return state


# What every checkpoint must hold, and what a resume point adds: key -> (type check, what it should be).
REQUIRED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "recipe": (lambda v: isinstance(v, dict), "a mapping"),
    "classes": (lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(c, str) for c in v)
                and len(set(v)) == len(v), "a non-empty list of distinct class names"),
    "model_state": (lambda v: isinstance(v, dict), "a mapping of tensors"),
}
RESUME: dict[str, tuple[Callable[[Any], bool], str]] = {
    "optimizer": (lambda v: isinstance(v, dict), "a mapping"),
    "scheduler": (lambda v: isinstance(v, dict), "a mapping"),
    "epoch": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an epoch number"),
    "best_val": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "history": (lambda v: isinstance(v, list), "a list"),
}


def check_entries(state: dict[str, Any], path: str | Path,
                  schema: dict[str, tuple[Callable[[Any], bool], str]]) -> None:
    """One line naming the first missing or mistyped entry (a tampered or foreign file)."""
    for key, (valid, expected) in schema.items():
        if key not in state:
            raise CheckpointError(f"{path} is not a usable signcaps checkpoint: it has no '{key}'")
        if not valid(state[key]):
            raise CheckpointError(f"{path} is not a usable signcaps checkpoint: '{key}' should be {expected}")


def checkpoint_recipe(state: dict[str, Any]) -> Recipe:
    try:
        return recipe_from_dict(state["recipe"])
    except (ConfigError, KeyError) as err:
        raise CheckpointError(f"checkpoint recipe is invalid: {err}") from None


def build_from_checkpoint(path: str | Path, routing_iterations: int | None = None
                          ) -> tuple[torch.nn.Module, Recipe, list[str], dict[str, Any]]:
    """Rebuild the model exactly as trained; a weights/architecture mismatch is a clear error.

    `routing_iterations` overrides the recipe's count of dynamic-routing iterations: the weights do
    not depend on it, so the same checkpoint runs (and exports) with fewer iterations at inference.
    """
    from signcaps.models.registry import build_model

    state = load_checkpoint(path)
    recipe = checkpoint_recipe(state)
    if routing_iterations is not None:
        if not 1 <= routing_iterations <= 10:
            raise CheckpointError(f"routing iterations must be 1 to 10, got {routing_iterations}")
        recipe.model.routing_iterations = int(routing_iterations)
    classes = list(state["classes"])
    model = build_model(recipe.model, recipe.crop, len(classes))
    load_weights(model, state["model_state"], f"{path}")
    model.eval()
    return model, recipe, classes, state


# Weights older checkpoints hold that no model reads: the pose decoder once kept an image decoder only for
# its masking (a Linear that never ran, and that DDP refused as a parameter without a gradient).
UNUSED_LEGACY = ("pose_decoder.masker.",)


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    """Load ``weights`` into ``model``; weights of another shape, or NaN/infinite ones (a diverged
    or tampered run), are one CheckpointError line."""
    weights = {k: v for k, v in weights.items() if not k.startswith(UNUSED_LEGACY)}
    bad = next((name for name, value in weights.items() if isinstance(value, torch.Tensor)
                and value.is_floating_point() and not bool(torch.isfinite(value).all())), None)
    if bad is not None:
        raise CheckpointError(f"{source} holds NaN or infinite weights ({bad}); it cannot be used")
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        detail = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(f"{source} does not fit this model configuration ({detail[:160]})") from None
