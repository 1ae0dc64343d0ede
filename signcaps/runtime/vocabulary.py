"""Digits and letters side by side: each sign mode of a model judged on both shared datasets.

Issue 29 asks whether one joint model (a capsule per handshape, `signs.modes`) beats separate
digits and letters models. Both are judged here alike, as `predict` and `live` answer: the ONNX
file with its rule on onnxruntime. Per mode, three sets of photos the models never trained on:

* the mode's own signs, held out (digits: the test participants of the digits split; letters: the
  letters set's valid/ and test/ originals): accepted and right;
* the other set's handshapes that are no sign of the mode (letters A, C, E, ... in digits mode;
  the digits 1, 3, 4, 5, 7, 8 in letters mode): refused;
* the other set's photos of a shared handshape (V, W, F, O as 2, 6, 9, 0 and back): accepted and right.

`reshoot` adds each set re-shot (another background, light, colour cast, blur, JPEG; the hand detected
again): the same hands as another camera in another room would show them. The letters set has no
signer ids, so its held-out originals may show people of its training split (docs/RESULTS.md says how
far each set can be trusted).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.data.folders import NEGATIVE, DatasetError, FolderScan, negative_subsets, scan_folder
from signcaps.util.config import DataConfig, Recipe, load_recipe

DIGITS = "digits"
VOCABULARY_RECIPE = "handshapes"  # its data.join names the letters set and the shapes both sets share
DIGITS_RECIPE = "fused-capsnet"  # its negatives.classes: the letters whose handshape is no digit


def model_modes(classifier: Any) -> list[str]:
    """The sign modes a loaded model answers in: a joint model's modes, else the one its classes are."""
    from signcaps.signs.modes import looks_like

    if classifier.modes:
        return list(classifier.modes)
    plain = looks_like([c for c in classifier.classes if c != classifier.rule.none_class])
    return [plain] if plain else []


def _digit_test_files(meta: dict[str, Any], scan: FolderScan) -> list[int]:
    """The digits split's test participants: the model's stored split, else the default recipe's."""
    from signcaps.data.splits import split_indices
    from signcaps.runtime.onnxeval import held_out

    try:
        return list(held_out(meta, scan, DataConfig())["test"])
    except DatasetError:
        labels = np.array([label for _, label in scan.files], np.int64)
        paths = [str(p.relative_to(scan.root)) for p, _ in scan.files]
        return list(split_indices(paths, labels, DataConfig())["test"])


def _held_out_letters(root: Path, label: Any) -> list[tuple[Path, int]]:
    """(photo, label(folder name)) of the letters set's valid/ and test/ folders; None labels are left out."""
    files = []
    for split, folder in negative_subsets(root).items():
        if split == "train":
            continue
        for letter in sorted(f for f in folder.iterdir() if f.is_dir()):
            found = label(letter.name)
            if found is not None:
                files += [(p, found) for p in sorted(letter.glob("*.jpg"))]
    return files


def mode_sets(classifier: Any, mode: str, vocabulary: Recipe) -> list[tuple[str, FolderScan]]:
    """(name, scan labelled in the view's classes) of the sets one mode is judged on (module docstring).

    In digits mode the letters are split in two: those whose handshape is no digit at all (the
    default recipe's negatives: A, C, E, I, L, M, N, S, T, X, Y) and those near a digit (B, D, G, H,
    K, P, Q, R, U: a 1, 2 or 4 turned or touched), which only a capsule of their own can refuse."""
    classes = list(classifier.classes)
    index = {c: i for i, c in enumerate(classes)}
    same = {str(letter): str(digit) for letter, digit in vocabulary.data.join.same.items()}  # V -> 2
    no_digit = set(load_recipe(DIGITS_RECIPE).negatives.classes)
    digits = scan_folder(vocabulary.data.root, stretch_x=1.0)
    test = set(_digit_test_files(classifier.meta, digits))
    names = dict(enumerate(digits.classes))
    root = scan_folder(vocabulary.data.join.root)  # the registered copy, its squash undone
    letters = lambda files: FolderScan(root.root, classes, files, stretch_x=root.stretch_x)  # noqa: E731
    if mode == DIGITS:
        own = [(p, index[names[y]]) for i, (p, y) in enumerate(digits.files) if i in test]
        return [("digits: test participants", replace(digits, classes=classes, files=own)),
                ("letters, no digit shape (and V W F O)", letters(_held_out_letters(
                    root.root, lambda n: index[same[n]] if n in same else NEGATIVE if n in no_digit else None))),
                ("letters near a digit", letters(_held_out_letters(
                    root.root, lambda n: None if n in same or n in no_digit else NEGATIVE)))]
    back = {digit: letter for letter, digit in same.items()}  # 2 -> V
    mine = [(p, index[back[names[y]]] if names[y] in back else NEGATIVE)
            for i, (p, y) in enumerate(digits.files) if i in test]
    return [("letters: valid/ and test/", letters(_held_out_letters(root.root, lambda n: index.get(n)))),
            ("digits: test participants", replace(digits, classes=classes, files=mine))]


def vocabulary_report(models: list[str | Path | None], hand_model: str | Path | None = None, reshoot: int = 0,
                      show_progress: bool = True) -> dict[str, Any]:
    """Per model and mode: the rule's rows on every set (`openset.rule_row`), as photographed and re-shot."""
    from signcaps.runtime.classifier import load_classifier
    from signcaps.runtime.openset import rule_row, scored_parts

    vocabulary = load_recipe(VOCABULARY_RECIPE)
    entries = []
    for model in models:
        for mode in model_modes(load_classifier(model)):
            classifier = load_classifier(model, signs=mode)
            rows = []
            for where, scan in mode_sets(classifier, mode, vocabulary):
                for shots in sorted({0, reshoot}):
                    for part in scored_parts(classifier, vocabulary, scan, where, hand_model, shots, show_progress):
                        rows.append(rule_row(part, classifier.classes, classifier.rule))
            entries.append({"model": str(classifier.path), "mode": mode,
                            "rule": classifier.rule.to_meta(), "sets": rows})
    return {"models": entries, "reshoot": reshoot}
