"""Choosing the adapted rule's *lift* ("?" hands close to a shot answer as its sign) on validation data only:

    SIGNCAPS_DATA_DIR=../shared/datasets SIGNCAPS_HAND_MODEL=../shared/models/hand_landmarker.task \\
        python train/adapt_lift.py [--out runs/adapt-eval] [--test]

The validation part (never a reported group): digits mode, the shipped digits model's validation
participants (the proxies of train/adapt_eval.py on them) with the no-digit letters of the letters set's
valid/ as negatives; letters mode, 5 draws of 3 shots per letter from valid/ judged on the rest of valid/,
with the validation participants' digits no letter has as negatives. For each setting it prints the points
gained (right with the rule) and the points of negatives let through, against the adapted rule without a
lift. Two candidates: the nearest-shot lift (`runtime.adapt.Lift`: cosine, top-k, length floor; "?" only,
or "?" and "none") and per-class thresholds from the shots (a class's threshold lowered to the shortest of
its shots' own capsules, never below the longest refused validation negative). `--test` prints the chosen
settings on the reported groups (train/adapt_eval.py gives the full table).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import adapt_eval as ae  # noqa: E402

from signcaps.runtime.adapt import Lift, Prototypes, adapt_lengths, features, with_rule  # noqa: E402
from signcaps.signs.rejection import decide_all  # noqa: E402

LETTER_ONLY_DIGITS = ("1", "3", "4", "5", "7", "8")  # digits no letter of the letters view has


def lifted(clf, shots: ae.Read, judged: ae.Read, lift: Lift | None, lift_none: bool = False) -> np.ndarray:
    """The adapted lengths with `lift` (as `signcaps adapt` writes them); `lift_none` also lifts hands the
    rule says "none" for (by the none class or all capsules short): the variant measured and left out."""
    protos = with_rule(Prototypes(features(shots.capsules), shots.labels, judged.lengths.shape[1]), clf, lift)
    adapted = adapt_lengths(judged.lengths, judged.capsules, protos)
    if not lift_none or lift is None:
        return adapted
    cosine = features(judged.capsules) @ protos.vectors.T
    near = protos.classes[cosine.argmax(axis=1)]
    signs = judged.lengths * (1.0 - protos.none_mask())
    near_len = signs[np.arange(len(signs)), near]
    go = ((cosine.max(axis=1) >= lift.cosine) & ((signs > near_len[:, None]).sum(axis=1) < lift.top)
          & (near_len >= lift.floor))
    said_none = np.array([d.status == "none" for d in decide_all(judged.lengths, clf.classes, clf.rule)])
    out = adapted.copy()
    rows = np.flatnonzero(go & said_none)
    out[rows, near[rows]] = np.maximum(protos.lifted_length(), judged.lengths[rows].max(axis=1) + 1e-3)
    return out


def per_class(clf, shots: ae.Read, judged: ae.Read, floor: float) -> np.ndarray:
    """Per-class thresholds: a "?" hand is accepted as its (adapted) winner w when its length reaches w's
    shots' shortest own capsule, never below `floor` nor above the shipped threshold."""
    protos = with_rule(Prototypes(features(shots.capsules), shots.labels, judged.lengths.shape[1]), clf, None)
    adapted = adapt_lengths(judged.lengths, judged.capsules, protos)
    accept = np.full(adapted.shape[1], clf.rule.accept, np.float32)
    for c in np.unique(shots.labels):
        accept[c] = min(clf.rule.accept, max(floor, float(shots.lengths[shots.labels == c, c].min())))
    out = adapted.copy()
    for i, d in enumerate(decide_all(adapted, clf.classes, clf.rule)):
        if d.status == "uncertain" and adapted[i, d.index] >= accept[d.index]:
            out[i, d.index] = protos.lifted_length()
    return out


def refused_floor(clf, negatives: ae.Read) -> float:
    """The longest winning sign capsule among the negatives the shipped rule refuses."""
    decisions = decide_all(negatives.lengths, clf.classes, clf.rule)
    return max(float(negatives.lengths[i, d.index]) for i, d in enumerate(decisions) if d.status != "ok")


def rates(clf, data: ae.Read, groups, negatives: ae.Read, method) -> tuple[float, float, int, int]:
    """Right with the rule over all groups' judged hands, and the negatives accepted as a sign (mean over groups)."""
    right, accepted = [], []
    for _, shot_index, judged_index in groups:
        shots, judged = data.subset(shot_index), data.subset(judged_index)
        decisions = decide_all(method(shots, judged), clf.classes, clf.rule)
        right.extend(d.status == "ok" and d.index == label for d, label in zip(decisions, judged.labels))
        accepted.extend(d.status == "ok" for d in decide_all(method(shots, negatives), clf.classes, clf.rule))
    return float(np.mean(right)), float(np.mean(accepted)), len(right), len(accepted)


def validation_sets(out: Path) -> dict:
    sets = ae.load_sets(out)
    negs = sets["digits_negatives"]
    valid = np.array([i for i, p in enumerate(negs.paths) if p.startswith("valid/")])
    val_hands = ae.digit_sets(out)["val"]
    no_letter = np.array([label in LETTER_ONLY_DIGITS for label in val_hands.labels])
    letters_negs = ae.read(sets["letters_clf"], ae.subset_hands(val_hands, no_letter))
    dclf, lclf = sets["digits_clf"], sets["letters_clf"]
    val = {"digits val, 3 nearest": (dclf, sets["digits_val"], ae.digit_groups(sets["digits_val"]), negs.subset(valid)),
           "digits val, own photos": (dclf, sets["digits_val"], ae.own_photo_groups(sets["digits_val"]),
                                      negs.subset(valid)),
           "letters valid/ -> valid/": (lclf, sets["letters"], ae.letter_split_groups(sets["letters"], "valid/",
                                                                                      "valid/"), letters_negs)}
    test = {"digits test, 3 nearest": (dclf, sets["digits_test"], ae.digit_groups(sets["digits_test"]), negs),
            "digits test, own photos": (dclf, sets["digits_test"], ae.own_photo_groups(sets["digits_test"]), negs),
            "letters pool draws": (lclf, sets["letters"], ae.letter_groups(sets["letters"]), sets["letters_negatives"]),
            "letters valid/ -> test/": (lclf, sets["letters"], ae.letter_split_groups(sets["letters"]),
                                        sets["letters_negatives"])}
    return {"val": val, "test": test}


def candidates(clf, negatives: ae.Read) -> dict:
    """name -> method(shots, judged) for every setting tried."""
    out = {"no lift (v1)": lambda s, j: lifted(clf, s, j, None)}
    for cosine in (0.8, 0.85, 0.9, 0.95):
        for top in (1, 2):
            for floor in (0.3, 0.4):
                for lift_none in (False, True):
                    name = f"lift cos>={cosine} top{top} len>={floor}{' +none' if lift_none else ''}"
                    out[name] = (lambda c, t, f, n: lambda s, j: lifted(clf, s, j, Lift(c, t, f), n))(
                        cosine, top, floor, lift_none)
    floor = refused_floor(clf, negatives)
    out[f"per-class thresholds (floor {floor:.3f})"] = lambda s, j: per_class(clf, s, j, floor)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/adapt-eval"))
    parser.add_argument("--test", action="store_true", help="the reported groups (after choosing on validation)")
    args = parser.parse_args()
    sets = validation_sets(args.out)
    chosen = sets["test" if args.test else "val"]
    for name, (clf, data, groups, negatives) in chosen.items():
        print(f"\n{name} (points vs no lift: right with the rule / negatives accepted)")
        found = candidates(clf, sets["val"][next(k for k in sets["val"] if k.split()[0] == name.split()[0])][3])
        base = rates(clf, data, groups, negatives, found["no lift (v1)"])
        print(f"  no lift (v1): right {base[0]:.2%} of {base[2]}, negatives accepted {base[1]:.2%} of {base[3]} "
              "(negatives x groups)")
        for label, method in found.items():
            if label == "no lift (v1)":
                continue
            if args.test and label.startswith("lift") and label not in TEST_SETTINGS:
                continue
            right, accepted, _, _ = rates(clf, data, groups, negatives, method)
            print(f"  {label}: {100 * (right - base[0]):+.2f} / {100 * (accepted - base[1]):+.2f}")


TEST_SETTINGS = ("lift cos>=0.8 top2 len>=0.3", "lift cos>=0.8 top2 len>=0.3 +none", "lift cos>=0.85 top1 len>=0.3",
                 "lift cos>=0.9 top1 len>=0.3")

if __name__ == "__main__":
    main()
