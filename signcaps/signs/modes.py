"""Sign modes of one handshape vocabulary: which capsules answer in `--signs digits` or `--signs letters`.

A joint model has a capsule per handshape, digits and letters together; the shapes the two sets
share (V = 2, W = 6, F = 9, O ~ 0) are one capsule with a name in each mode. A mode answers with
its own capsules only: when a capsule of the other mode wins (a C in digits mode, a 3 in letters
mode) the hand signs nothing this mode knows, and the rule says "none" through its none class.

The modes travel in the ONNX metadata (key ``signs``, written from the checkpoint); the runtime
turns a model into one mode's view (`runtime.classifier`). Pure Python: the torch-free runtime and
the training side share it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from signcaps.util.errors import UserError
from signcaps.util.inputs import natural_key

SIGNS_FORMAT = "signcaps-signs-v1"
OTHER_SIGN = "none"  # the view's last output: the longest capsule no answer of this mode


class SignModeError(UserError, ValueError):
    """A --signs mode the model does not have, or modes metadata that cannot work (one line)."""


def sign_modes(data_cfg: Any, own: list[str], classes: list[str]) -> dict[str, Any] | None:
    """The modes of a model trained on `data_cfg`: the dataset's classes `own` answer in `data.mode`,
    the joined set's capsules (every class after them) and the shared ones (`join.same`) in
    `join.mode`. None when no sign set was joined: a one-mode model, as every model before."""
    join = data_cfg.join
    if not join.root:
        return None
    shared = {str(capsule): folder for folder, capsule in join.same.items()}
    joined = {c: shared.get(c, c) for c in classes if c not in own or c in shared}
    return {"format": SIGNS_FORMAT, "default": data_cfg.mode,
            "modes": {data_cfg.mode: {c: c for c in own}, join.mode: joined}}


@dataclass(frozen=True)
class ModeView:
    """One mode of a joint model: which capsules answer, under which names."""

    name: str
    indices: tuple[int, ...]  # capsule indices that answer in this mode, in the order of their names
    labels: tuple[str, ...]  # their names in this mode ("V" for the capsule "2" in letters mode)
    others: tuple[int, ...]  # the other capsules: one of them winning means "none"


def mode_names(meta_signs: dict[str, Any] | None) -> list[str]:
    return list((meta_signs or {}).get("modes", {}))


def mode_view(meta_signs: dict[str, Any] | None, classes: list[str], mode: str | None) -> ModeView | None:
    """The view for `mode` (None: the model's default) of a model with modes metadata; None for a
    one-mode model asked for no mode or for the mode its classes are (`check_plain_mode`)."""
    if not meta_signs:
        return None
    modes = meta_signs.get("modes")
    if meta_signs.get("format") != SIGNS_FORMAT or not isinstance(modes, dict) or not modes:
        raise SignModeError(f"unknown sign modes {str(meta_signs.get('format'))[:40]!r}; this signcaps reads "
                            f"'{SIGNS_FORMAT}'")
    name = mode or str(meta_signs.get("default") or next(iter(modes)))
    if name not in modes:
        raise SignModeError(f"this model has no --signs {name} (it has {', '.join(modes)})")
    answers = modes[name]
    if not isinstance(answers, dict) or not answers or any(str(c) not in classes for c in answers):
        raise SignModeError(f"sign mode {name!r} names capsules the model does not have")
    named = sorted(((str(answers[str(c)]), i) for i, c in enumerate(classes) if str(c) in answers),
                   key=lambda pair: natural_key(pair[0]))  # A B C ... in letters mode, whatever the capsule order
    indices = tuple(i for _, i in named)
    labels = tuple(label for label, _ in named)
    others = tuple(i for i in range(len(classes)) if i not in indices)
    return ModeView(name, indices, labels, others)


def looks_like(classes: list[str]) -> str | None:
    """The sign set a one-mode model's class names are: "digits" (0-9 only), "letters" (single
    letters; a none class aside), else None (a user's own signs)."""
    names = [c for c in classes if c != OTHER_SIGN]
    if names and all(c.isdigit() for c in names):
        return "digits"
    if names and all(len(c) == 1 and c.isalpha() for c in names):
        return "letters"
    return None


def plain_mode(classes: list[str], signs: str | None) -> str | None:
    """The mode of a one-mode model (no ``signs`` metadata) asked for `signs`: any model answers in
    its own classes, so None passes and so does the mode its class names are (ten digits, letters);
    another mode is refused in one line rather than read with the wrong names."""
    if signs is None:
        return None
    if looks_like(classes) != signs:
        raise SignModeError(f"this model knows one sign set ({', '.join(classes)[:80]}) and no --signs {signs} "
                            f"mode; leave --signs out to use it")
    return signs
