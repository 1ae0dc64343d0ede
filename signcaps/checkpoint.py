"""Checkpoints: weights plus the recipe that built them, written atomically, loaded safely.

`torch.load(weights_only=True)` refuses pickled code, so a checkpoint from the internet can
never execute anything; everything stored is tensors, numbers, strings, lists and dicts.
"""
from __future__ import annotations

from signcaps.errors import UserError

import os
from pathlib import Path
from typing import Any

import torch

from signcaps.config import ConfigError, Recipe, recipe_from_dict

FORMAT = "signcaps-checkpoint/1"


class CheckpointError(UserError, RuntimeError):
    """A file that is not a usable signcaps checkpoint (one-line message)."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temp file then rename: an interrupted save keeps the previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for foreign/corrupt files
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a signcaps checkpoint")
    return state


def checkpoint_recipe(state: dict[str, Any]) -> Recipe:
    try:
        return recipe_from_dict(state["recipe"])
    except (ConfigError, KeyError) as err:
        raise CheckpointError(f"checkpoint recipe is invalid: {err}") from None


def build_from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, Recipe, list[str], dict[str, Any]]:
    """Rebuild the model exactly as trained; a weights/architecture mismatch is a clear error."""
    from signcaps.models import build_model

    state = load_checkpoint(path)
    recipe = checkpoint_recipe(state)
    classes = list(state["classes"])
    model = build_model(recipe.model, recipe.crop, len(classes))
    load_weights(model, state["model_state"], f"{path}")
    model.eval()
    return model, recipe, classes, state


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        detail = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(f"{source} does not fit this model configuration ({detail[:160]})") from None
