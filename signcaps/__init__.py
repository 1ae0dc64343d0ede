"""signcaps: sign-language digit recognition with Capsule Networks.

The public API for scripts, without the CLI::

    import signcaps

    with signcaps.Predictor() as predictor:             # the shipped ONNX model + MediaPipe (no torch)
        print(predictor.predict("photo.jpg"))           # a file, or a numpy frame: predict(frame, bgr=True)
    signcaps.run_live(signcaps.LiveConfig(source="clip.mp4", window=False),
                      on_result=lambda result, classes: print(result.to_json(classes)))
    signcaps.run_live(signcaps.LiveConfig(source="clip.mp4", signs="letters", window=False,
                                          compose=signcaps.ComposeConfig())).text   # the fingerspelled text
    recipe = signcaps.load_recipe("fused-capsnet", ["train.epochs=5"])   # a shipped recipe by name, or a file
    print(signcaps.list_models())                       # every registered architecture (needs signcaps[train])
    model = signcaps.build_model(recipe.model, recipe.crop, num_classes=10)

Each name is imported on first use (module ``__getattr__``), so ``import signcaps`` and the CLI
start without torch, MediaPipe or onnxruntime; only what a script touches gets loaded.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it (one place each; nothing here computes anything)
_API = {
    "load_recipe": "signcaps.util.config",
    "build_model": "signcaps.models.registry",
    "list_models": "signcaps.models.registry",
    "load_classifier": "signcaps.runtime.classifier",
    "Predictor": "signcaps.runtime.predict",
    "LiveConfig": "signcaps.live.loop",
    "run_live": "signcaps.live.loop",
    "ComposeConfig": "signcaps.signs.compose",
    "SpellConfig": "signcaps.signs.spelling",
}

__all__ = ["__version__", "load_recipe", "build_model", "list_models", "load_classifier", "Predictor", "LiveConfig",
           "run_live", "ComposeConfig", "SpellConfig"]

if TYPE_CHECKING:  # for editors and type checkers only; at run time `__getattr__` imports on demand
    from signcaps.live.loop import LiveConfig, run_live
    from signcaps.models.registry import build_model, list_models
    from signcaps.runtime.classifier import load_classifier
    from signcaps.runtime.predict import Predictor
    from signcaps.signs.compose import ComposeConfig
    from signcaps.signs.spelling import SpellConfig
    from signcaps.util.config import load_recipe


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'signcaps' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
