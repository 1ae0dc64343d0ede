"""How a model's rejection rule answers a labelled set, in the two numbers a user cares about: its signs
accepted and right, its negatives refused; and the warning when a model refuses its own signs.

Accuracy alone hid a broken custom model (issue 25): with a none/ folder, a 90-photo model showed
"val 76.9%" while its rule said "none" for 14 of 15 held-out signs. `train` and `export` report these
rates on the model's own test split and warn when it refuses most of its signs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from signcaps.signs.rejection import OK, RejectionRule, decide_all

NEGATIVE = -1  # data/folders.NEGATIVE (signs sits below data): a hand that signs none of the classes
REFUSES_MOST = 0.5  # a model that does not accept at least half of its own test signs is broken, not careful


def rule_rates(lengths: np.ndarray, labels: np.ndarray, classes: list[str], rule: RejectionRule,
               pose_errors: np.ndarray | None = None) -> dict[str, Any]:
    """{"signs", "accepted_right", "accepted_right_rate", "signs_refused_rate", "negatives", "refused",
    "refused_rate"} of the rule on (N, K) lengths with labels (NEGATIVE for a negative); a rate is None
    when its set is empty. A sign is accepted and right when the rule shows it (ok) as its own class; a
    negative is refused when the rule shows no sign (none or "?")."""
    labels = np.asarray(labels)
    decisions = decide_all(lengths, classes, rule, pose_errors) if len(labels) else []
    shown = np.array([d.status == OK for d in decisions], bool)
    right = np.array([d.status == OK and d.index == y for d, y in zip(decisions, labels)], bool)
    negative = labels == NEGATIVE
    signs, negatives = int((~negative).sum()), int(negative.sum())
    accepted_right, refused = int(right[~negative].sum()), int((~shown[negative]).sum())
    return {"signs": signs, "accepted_right": accepted_right,
            "accepted_right_rate": accepted_right / signs if signs else None,
            "signs_refused_rate": float((~shown[~negative]).mean()) if signs else None,
            "negatives": negatives, "refused": refused, "refused_rate": refused / negatives if negatives else None}


def describe(rates: dict[str, Any], where: str) -> str:
    """One line: "test split, with the model's rule: signs accepted and right 93.3% (14/15), negatives refused
    ..."."""
    parts = []
    if rates["signs"]:
        parts.append(f"signs accepted and right {rates['accepted_right_rate']:.1%} "
                     f"({rates['accepted_right']}/{rates['signs']})")
    if rates["negatives"]:
        parts.append(f"negatives refused {rates['refused_rate']:.1%} ({rates['refused']}/{rates['negatives']})")
    return f"{where}, with the model's rule: " + (", ".join(parts) or "no images")


def refusal_warning(rates: dict[str, Any], where: str) -> str | None:
    """The warning when the rule refuses most of the model's own signs (None otherwise)."""
    refused = rates["signs_refused_rate"]
    if refused is None or refused <= REFUSES_MOST:
        return None
    return (f"the model refuses {refused:.0%} of the signs of its own {where} ({rates['signs']} photos): it would "
            "answer \"none\" or \"?\" for most of your signs; train longer (train.min_steps), add photos per sign, "
            "or make the none/ folder smaller than each sign's folder")
