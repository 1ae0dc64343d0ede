"""Adapting to a signer, the proxy evaluation of train/README.md ("Adapting to a signer"); rerunnable:

    SIGNCAPS_DATA_DIR=../shared/datasets SIGNCAPS_HAND_MODEL=../shared/models/hand_landmarker.task \\
        python train/adapt_eval.py [--out runs/adapt-eval] [--json]

Groups (a signer, or the nearest thing the shared photos have; train/README.md says what they cannot show):
- digits: the shipped digits model's 29 held-out participants (`data.splits.participant_groups`) photographed
  each digit once, so no person has "other photos" of a digit. Two proxies per participant:
  *3 nearest participants*: the shots are the photos (as taken) of the 3 held-out participants nearest in
  photo number (the same room and day, as near as the set allows), the participant's own photos are judged
  as taken and under other light (each photo dimmed and warm, or lit harshly from one side, its hand
  detected again); *own photos*: the shots are their own photo of each digit plus those of the 2 nearest
  participants, the judged ones their own photos relit.
- letters: no signer ids (README of the letters set). The letters model never trained on the valid/ and
  test/ photos: 5 seeded draws of 3 photos per letter from them are the shots, the rest is judged.

Each method judged: the shipped model; the adapted one (`runtime.adapt`); the nearest capsule shot and the
nearest landmark shot (the shipped rule's status kept); the adapted rule on the capsule lengths. The
negatives: digits mode, the held-out no-digit letters; letters mode, the held-out digits no letter has,
each under every group's adapted model. The digits' validation participants were used to look at the
settings (`--temperature`); the tables report the test participants.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signcaps.data.crops import crop_sample, stretch  # noqa: E402
from signcaps.data.datasets import known_stretch, resolve_root  # noqa: E402
from signcaps.data.folders import scan_folder  # noqa: E402
from signcaps.data.splits import participant_groups  # noqa: E402
from signcaps.hands.preprocess import read_image_rgb  # noqa: E402
from signcaps.hands.scenes import colour_cast, light, side_light  # noqa: E402

SHOTS = 3
NO_DIGIT_LETTERS = ("A", "C", "E", "I", "L", "M", "N", "S", "T", "X", "Y")


def other_light(image: np.ndarray, index: int) -> np.ndarray:
    """One changed lighting per photo, alternating: dim and warm (tungsten), or harsh from one side."""
    if index % 2 == 0:
        return colour_cast(light(image, 0.45, 1.4), 0.3)
    return light(side_light(image, 0.8, 0.0), 1.3, 0.85)


@dataclass
class Hands:
    """Photos whose hand was found: crops, landmarks, labels (names), paths; as photographed and relit."""

    crops: np.ndarray
    points: np.ndarray
    left: np.ndarray
    labels: list[str]
    paths: list[str]
    lit: np.ndarray  # True: the relit copy


def detect(files: list[tuple[Path, str]], root: Path, stretch_x: float, cache: Path,
           relight: Callable[[np.ndarray, int], np.ndarray] | None = other_light, taken: bool = True) -> Hands:
    """Hands of each file, as photographed (unless not `taken`) and relit by `relight` (photo, index ->
    photo; None: not relit), cached in `cache` (.npz)."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            return Hands(npz["crops"], npz["points"], npz["left"], meta["labels"], meta["paths"], npz["lit"])
    from signcaps.hands.detector import HandDetector
    from signcaps.runtime.classifier import load_classifier
    from signcaps.util.assets import resolve_hand_model

    clf = load_classifier(None)
    rows: list[tuple] = []
    with HandDetector(resolve_hand_model(None), replace(clf.detect_cfg, num_hands=1), mode="image") as detector:
        for i, (path, label) in enumerate(files):
            image = stretch(read_image_rgb(path), stretch_x)
            frames = ([(False, image)] if taken else []) + ([(True, relight(image, i))] if relight else [])
            for lit, frame in frames:
                hands = detector.detect(frame)
                if hands:
                    crop, points, _, left = crop_sample(frame, hands[0], clf.crop_cfg)
                    rows.append((crop, points, left, label, str(path.relative_to(root)), lit))
    crops, points, left, labels, paths, lit = zip(*rows)
    hands = Hands(np.stack(crops), np.stack(points).astype(np.float32), np.array(left), list(labels), list(paths),
                  np.array(lit))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, crops=hands.crops, points=hands.points, left=hands.left, lit=hands.lit,
             meta=np.array(json.dumps({"labels": hands.labels, "paths": hands.paths})))
    return hands


def digit_sets(out: Path) -> dict[str, Hands]:
    """The shipped digits model's validation and test participants' photos."""
    from signcaps.runtime.classifier import load_classifier

    root = resolve_root("digits")
    meta = load_classifier(None).meta["split"]
    scan = scan_folder(root)
    by_rel = {p.relative_to(root).as_posix(): (p, scan.classes[c]) for p, c in scan.files}
    return {part: detect([by_rel[rel] for rel in meta[part]], root, 1.0, out / f"digits-{part}.npz")
            for part in ("val", "test")}


def letter_set(out: Path) -> Hands:
    """The letters set's valid/ and test/ photos (the letters model never trained on them)."""
    root = resolve_root("asl-letters")
    files = [(p, p.parent.name) for split in ("valid", "test") for p in sorted((root / split).glob("*/*"))
             if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return detect(files, root, known_stretch("asl-letters"), out / "letters-heldout.npz")


@dataclass
class Read:
    """One model's outputs for a set of hands: lengths (N, K), class capsules (N, K', D), poses (N, 21, 3)."""

    lengths: np.ndarray
    capsules: np.ndarray
    poses: np.ndarray
    labels: np.ndarray  # class index in the model's classes (-1: not one of them)
    lit: np.ndarray
    paths: list[str]

    def subset(self, index: np.ndarray) -> "Read":
        return Read(self.lengths[index], self.capsules[index], self.poses[index], self.labels[index],
                    self.lit[index], [self.paths[i] for i in index])


def read(classifier, hands: Hands) -> Read:
    from signcaps.hands.landmarks import normalize_poses
    from signcaps.runtime.adapt import CapsuleReader

    poses = normalize_poses(hands.points, hands.left, classifier.crop_cfg.mirror_left)
    lengths, capsules = CapsuleReader(classifier).read(hands.crops, poses)
    names = {c: i for i, c in enumerate(classifier.classes)}
    labels = np.array([names.get(label, -1) for label in hands.labels])
    return Read(lengths, capsules, poses, labels, hands.lit, hands.paths)


METHODS = ("shipped", "adapted", "adapted v1 (no lift)", "nearest capsule shot", "prototypes on lengths",
           "nearest landmark shot")
REFUSING = ("shipped", "adapted", "adapted v1 (no lift)", "prototypes on lengths")  # negatives measured for these


def unit(x: np.ndarray) -> np.ndarray:
    x = x.reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


def relabelled(lengths: np.ndarray, label: np.ndarray, shot_classes: np.ndarray) -> np.ndarray:
    """The shipped lengths with the longest shot-class capsule moved to `label` (the rule's status kept)."""
    mask = np.zeros(lengths.shape[1], np.float32)
    mask[shot_classes] = 1.0
    mass = (lengths * mask).max(1)
    out = lengths * (1 - mask)
    out[np.arange(len(out)), label] = mass
    return out


def method_lengths(method: str, shots: Read, judged: Read, temperature: float, classifier=None) -> np.ndarray:
    """(N, K) lengths of the judged hands under `method`. The nearest-shot methods answer with the class of
    the most similar shot and keep the shipped rule's status (the same guard as the adapted rule).
    "adapted" is what `signcaps adapt` writes (with its mode's lift, `runtime.adapt.LIFTS`), "adapted v1"
    the re-pick alone (round 1's rule)."""
    from signcaps.runtime.adapt import LIFTS, Prototypes, adapt_lengths, features, with_rule

    k = judged.lengths.shape[1]
    if method == "shipped":
        return judged.lengths
    if method in ("adapted", "adapted v1 (no lift)"):
        protos = Prototypes(features(shots.capsules), shots.labels, k, temperature)
        if method == "adapted":
            protos = with_rule(protos, classifier, LIFTS.get(classifier.signs or ""))
        return adapt_lengths(judged.lengths, judged.capsules, protos)
    if method == "prototypes on lengths":
        return adapt_lengths(judged.lengths, judged.lengths[..., None],
                             Prototypes(features(shots.lengths[..., None]), shots.labels, k, temperature))
    query, bank = {"nearest capsule shot": (judged.capsules, shots.capsules),
                   "nearest landmark shot": (judged.poses, shots.poses)}[method]
    nearest = shots.labels[(unit(query) @ unit(bank).T).argmax(1)]
    return relabelled(judged.lengths, nearest, np.unique(shots.labels))


def scores(classifier, lengths: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Right with the model's rule (accepted and right), right by the longest capsule, count."""
    from signcaps.signs.rejection import decide_all

    decisions = decide_all(lengths, classifier.classes, classifier.rule)
    ok = np.array([d.status == "ok" and d.index == label for d, label in zip(decisions, labels)])
    return {"right_rule": float(ok.mean()) if len(ok) else float("nan"),
            "right_argmax": float((lengths.argmax(1) == labels).mean()) if len(labels) else float("nan"),
            "n": len(labels)}


def refused(classifier, lengths: np.ndarray) -> dict[str, float]:
    """Negatives: said "none", and not accepted as a sign (none or ?)."""
    from signcaps.signs.rejection import decide_all

    decisions = decide_all(lengths, classifier.classes, classifier.rule)
    return {"none": float(np.mean([d.status == "none" for d in decisions])),
            "not_accepted": float(np.mean([d.status != "ok" for d in decisions])), "n": len(decisions)}


def photo_number(rel: str) -> int:
    import re

    return int(re.findall(r"[0-9]+", Path(rel).stem)[-1])


def participants(data: Read) -> list[tuple[str, np.ndarray, list[np.ndarray]]]:
    """Per held-out participant (`data.splits.participant_groups`, in photo order): name, the index of
    their hands (as taken and relit), and the photos as taken of the other participants, nearest in
    photo number first (the same room and day, as near as the set allows)."""
    numbers = np.array([photo_number(p) for p in data.paths])
    taken = np.flatnonzero(~data.lit)
    people = participant_groups([data.paths[i] for i in taken], data.labels[taken])
    of_path = {data.paths[i]: int(g) for i, g in zip(taken, people)}
    person = np.array([of_path.get(p, -1) for p in data.paths])
    start = {int(g): int(numbers[person == g].min()) for g in np.unique(people)}
    out = []
    for group in sorted(start, key=start.get):
        nearest = sorted((g for g in start if g != group), key=lambda g: abs(start[g] - start[group]))
        out.append((f"IMG_{start[group]}", np.flatnonzero(person == group),
                    [np.flatnonzero((person == g) & ~data.lit) for g in nearest]))
    return out


def digit_groups(data: Read) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, shot index, judged index) per held-out participant: the shots are the photos (as taken) of
    the 3 participants nearest in photo number, the judged ones that participant's own, as taken and relit."""
    return [(name, np.concatenate(near[:SHOTS]), mine) for name, mine, near in participants(data)]


def own_photo_groups(data: Read) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, shot index, judged index) per held-out participant: the shots are their own photo of each
    digit as taken and those of the 2 nearest participants (3 per digit), the judged ones their own
    photos relit (other light, the hand detected again): one person under one light, then another."""
    return [(name, np.concatenate([mine[~data.lit[mine]], *near[:SHOTS - 1]]), mine[data.lit[mine]])
            for name, mine, near in participants(data)]


def letter_groups(data: Read, draws: int = 5) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, shot index, judged index) per seeded draw of 3 photos (as taken) per letter from the held-out
    pool; the judged ones are the other photos, as taken and relit (a photo's relit copy follows it)."""
    out = []
    photos = sorted({p for p, lit in zip(data.paths, data.lit) if not lit})
    label_of = {p: int(c) for p, c, lit in zip(data.paths, data.labels, data.lit) if not lit}
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        chosen = set()
        for label in sorted(set(label_of.values())):
            mine = [p for p in photos if label_of[p] == label]
            chosen.update(rng.choice(mine, size=min(SHOTS, len(mine) - 1), replace=False).tolist())
        shots = np.array([i for i, (p, lit) in enumerate(zip(data.paths, data.lit)) if p in chosen and not lit])
        judged = np.array([i for i, p in enumerate(data.paths) if p not in chosen])
        out.append((f"draw {seed}", shots, judged))
    return out


def letter_split_groups(data: Read, shots_from: str = "valid/", judged_from: str = "test/", draws: int = 5,
                        seed: int = 100) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, shot index, judged index) per seeded draw of 3 photos (as taken) per letter from `shots_from`,
    the judged ones every photo of `judged_from` but the shots (as taken and relit). valid/ -> test/: the
    judged photos are never the shots nor the photos train/adapt_lift.py chose the lift on (valid/ -> valid/)."""
    photos = sorted({p for p, lit in zip(data.paths, data.lit) if not lit and p.startswith(shots_from)})
    label_of = {p: int(c) for p, c, lit in zip(data.paths, data.labels, data.lit) if not lit}
    keep_one = 1 if shots_from == judged_from else 0
    out = []
    for draw in range(draws):
        rng = np.random.default_rng(seed + draw)
        chosen: set[str] = set()
        for label in sorted({label_of[p] for p in photos}):
            mine = [p for p in photos if label_of[p] == label]
            chosen.update(rng.choice(mine, size=min(SHOTS, len(mine) - keep_one), replace=False).tolist())
        shots = np.array([i for i, (p, lit) in enumerate(zip(data.paths, data.lit)) if p in chosen and not lit])
        judged = np.array([i for i, p in enumerate(data.paths) if p not in chosen and p.startswith(judged_from)])
        out.append((f"draw {draw}", shots, judged))
    return out


def evaluate(classifier, data: Read, groups, negatives: Read, temperature: float) -> list[dict]:
    """Per group and method: right with the rule (as taken, relit), and the negatives refused."""
    rows = []
    for name, shots, judged in groups:
        part = data.subset(judged)
        shot = data.subset(shots)
        for method in METHODS:
            lengths = method_lengths(method, shot, part, temperature, classifier)
            row = {"group": name, "method": method, "shots": len(shots)}
            for light_name, mask in (("as taken", ~part.lit), ("relit", part.lit)):
                row[light_name] = scores(classifier, lengths[mask], part.labels[mask])
            if method in REFUSING:
                row["negatives"] = refused(classifier, method_lengths(method, shot, negatives, temperature, classifier))
            rows.append(row)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per method: the mean over groups, the worst group, and the groups it gains or loses on."""
    out = []
    base = {r["group"]: r for r in rows if r["method"] == "shipped"}
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        entry = {"method": method, "groups": len(mine)}
        for light_name in ("as taken", "relit"):
            right = np.array([r[light_name]["right_rule"] for r in mine])
            argmax = np.array([r[light_name]["right_argmax"] for r in mine])
            counts = np.array([r[light_name]["n"] for r in mine])
            shipped = np.array([base[r["group"]][light_name]["right_rule"] for r in mine])
            total = max(int(counts.sum()), 1)
            entry[light_name] = {"right_rule": float(np.nansum(right * counts) / total) if counts.sum() else np.nan,
                                 "right_argmax": float(np.nansum(argmax * counts) / total) if counts.sum() else np.nan,
                                 "worst_group": float(np.nanmin(right)) if counts.sum() else np.nan,
                                 "gains": int((right > shipped).sum()), "losses": int((right < shipped).sum())}
        negs = [r["negatives"] for r in mine if "negatives" in r]
        if negs:
            entry["negatives_none"] = float(np.mean([n["none"] for n in negs]))
            entry["negatives_not_accepted"] = float(np.mean([n["not_accepted"] for n in negs]))
            entry["negatives_worst_not_accepted"] = float(min(n["not_accepted"] for n in negs))
        out.append(entry)
    return out


def load_sets(out: Path) -> dict:
    from signcaps.runtime.classifier import load_classifier

    digits = digit_sets(out)
    letters = letter_set(out)
    digits_clf = load_classifier(None, signs="digits")
    letters_clf = load_classifier(None, signs="letters")
    no_digit = np.array([label in NO_DIGIT_LETTERS for label in letters.labels])
    letter_only_digits = [d for d in "0123456789" if d not in letters_clf.classes and
                          d not in {"0", "2", "6", "9"}]
    test = digits["test"]
    negative_digits = np.array([label in letter_only_digits for label in test.labels])
    return {"digits_clf": digits_clf, "letters_clf": letters_clf,
            "digits_val": read(digits_clf, digits["val"]), "digits_test": read(digits_clf, test),
            "digits_negatives": read(digits_clf, subset_hands(letters, no_digit)),
            "letters": read(letters_clf, letters),
            "letters_negatives": read(letters_clf, subset_hands(test, negative_digits))}


def subset_hands(hands: Hands, mask: np.ndarray) -> Hands:
    index = np.flatnonzero(mask)
    return Hands(hands.crops[index], hands.points[index], hands.left[index], [hands.labels[i] for i in index],
                 [hands.paths[i] for i in index], hands.lit[index])


PROXIES = {
    "digits: 3 nearest participants' shots, a participant judged": ("digits_test", digit_groups, "digits_negatives"),
    "digits: own photos + 2 nearest participants' shots, own photos relit judged":
        ("digits_test", own_photo_groups, "digits_negatives"),
    "letters: 3 shots per letter from the held-out pool, the rest judged": ("letters", letter_groups,
                                                                            "letters_negatives"),
    "letters: 3 shots per letter from valid/, test/ judged": ("letters", letter_split_groups, "letters_negatives"),
}


def report(sets: dict, temperature: float) -> dict:
    """Every proxy: per group and method, then the summary."""
    out = {}
    for name, (data, groups, negatives) in PROXIES.items():
        clf = sets["letters_clf" if data == "letters" else "digits_clf"]
        rows = evaluate(clf, sets[data], groups(sets[data]), sets[negatives], temperature)
        out[name] = {"rows": rows, "summary": summary(rows)}
    return out


def misses(classifier, data: Read, groups, temperature: float, close: float = 0.8) -> dict[str, int]:
    """What the adapted model still gets wrong over every group's judged hands: its status ("?", "none",
    a wrong sign) and whether the hand's nearest shot is close (capsule cosine >= `close`, the lift's)."""
    from collections import Counter

    from signcaps.runtime.adapt import features
    from signcaps.signs.rejection import decide_all

    counts: Counter = Counter()
    for _, shot_index, judged_index in groups:
        shots, judged = data.subset(shot_index), data.subset(judged_index)
        lengths = method_lengths("adapted", shots, judged, temperature, classifier)
        nearest = (features(judged.capsules) @ features(shots.capsules).T).max(axis=1)
        for d, label, cos in zip(decide_all(lengths, classifier.classes, classifier.rule), judged.labels, nearest):
            if not (d.status == "ok" and d.index == label):
                status = {"ok": "wrong sign", "uncertain": "?"}.get(d.status, d.status)
                counts[f"{status}, nearest shot {'close' if cos >= close else 'far'}"] += 1
    return dict(sorted(counts.items()))


def cell(value: float) -> str:
    return "-" if value != value else f"{value:.2%}"


def markdown(result: dict) -> str:
    """The table of train/README.md."""
    lines = ["| proxy | method | right with the rule, as taken | relit | worst group (taken / relit) | "
             "groups gained / lost | negatives refused (none) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for proxy, entry in result.items():
        for s in entry["summary"]:
            taken, relit = s["as taken"], s["relit"]
            negs = (f"{s['negatives_not_accepted']:.2%} ({s['negatives_none']:.2%})"
                    if "negatives_none" in s else "as shipped")
            lines.append(f"| {proxy} | {s['method']} | {cell(taken['right_rule'])} | {cell(relit['right_rule'])} | "
                         f"{cell(taken['worst_group'])} / {cell(relit['worst_group'])} | "
                         f"{taken['gains'] + relit['gains']} / {taken['losses'] + relit['losses']} | {negs} |")
    return "\n".join(lines)


def main() -> None:
    from signcaps.runtime.adapt import DEFAULT_TEMPERATURE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/adapt-eval"))
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sets = load_sets(args.out)
    result = report(sets, args.temperature)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(markdown(result))
    print("\nletters pool: what the adapted model still gets wrong (as taken and relit, 5 draws; close = cosine"
          " >= 0.8):", misses(sets["letters_clf"], sets["letters"], letter_groups(sets["letters"]), args.temperature))
    for proxy, entry in result.items():
        base = {r["group"]: r for r in entry["rows"] if r["method"] == "shipped"}
        changed = [r for r in entry["rows"] if r["method"] == "adapted" and any(
            r[k]["n"] and r[k]["right_rule"] != base[r["group"]][k]["right_rule"] for k in ("as taken", "relit"))]
        print(f"\n{proxy}: groups the adapted model changes (right with the rule, shipped -> adapted)")
        for r in changed:
            b = base[r["group"]]
            print(f"  {r['group']}: " + ", ".join(f"{k} {cell(b[k]['right_rule'])} -> {cell(r[k]['right_rule'])}"
                                                 for k in ("as taken", "relit") if r[k]["n"]))


if __name__ == "__main__":
    main()
