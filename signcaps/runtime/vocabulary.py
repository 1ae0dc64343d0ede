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

DIGITS, LETTERS = "digits", "letters"
VOCABULARY_RECIPE = "handshapes"  # its data.join names the letters set and the shapes both sets share


def model_modes(classifier: Any) -> list[str]:
    """The sign modes a loaded model answers in: a joint model's modes, else the one its classes are."""
    if classifier.modes:
        return list(classifier.modes)
    names = [c for c in classifier.classes if c != classifier.rule.none_class]
    return [DIGITS] if all(c.isdigit() for c in names) else [LETTERS] if all(c.isalpha() for c in names) else []


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


def mode_sets(classifier: Any, mode: str, vocabulary: Recipe) -> list[tuple[str, FolderScan]]:
    """(name, scan labelled in the view's classes) of the three kinds of set for one mode."""
    classes = list(classifier.classes)
    index = {c: i for i, c in enumerate(classes)}
    same = {str(letter): str(digit) for letter, digit in vocabulary.data.join.same.items()}  # V -> 2
    digits = scan_folder(vocabulary.data.root, stretch_x=1.0)
    test = _digit_test_files(classifier.meta, replace(digits, files=list(digits.files)))
    digit_names = {i: name for i, name in enumerate(digits.classes)}
    letters_root = vocabulary.data.join.root
    held = [folder for split, folder in negative_subsets(letters_root).items() if split != "train"]
    stretch = scan_folder(letters_root).stretch_x
    sets = []
    if mode == DIGITS:
        own = [(p, index[digit_names[y]]) for i, (p, y) in enumerate(digits.files) if i in set(test)]
        sets.append(("digits: test participants", replace(digits, classes=classes, files=own)))
        for folder in held:
            files = [(p, index[same[f.name]] if f.name in same else NEGATIVE)
                     for f in sorted(folder.iterdir()) if f.is_dir() for p in sorted(f.glob("*.jpg"))]
            sets.append((f"letters: {folder.name}/", FolderScan(folder, classes, files, stretch_x=stretch)))
    else:
        back = {digit: letter for letter, digit in same.items()}  # 2 -> V
        for folder in held:
            files = [(p, index[f.name]) for f in sorted(folder.iterdir()) if f.is_dir() and f.name in index
                     for p in sorted(f.glob("*.jpg"))]
            sets.append((f"letters: {folder.name}/", FolderScan(folder, classes, files, stretch_x=stretch)))
        files = [(p, index[back[digit_names[y]]] if digit_names[y] in back else NEGATIVE)
                 for i, (p, y) in enumerate(digits.files) if i in set(test)]
        sets.append(("digits: test participants", replace(digits, classes=classes, files=files)))
    return sets


def vocabulary_report(models: list[str | Path | None], hand_model: str | Path | None = None, reshoot: int = 0,
                      show_progress: bool = True) -> dict[str, Any]:
    """Per model and mode: the rule's rows on every set (`openset.rule_row`), as photographed and re-shot."""
    from signcaps.runtime.classifier import default_model_path, load_classifier
    from signcaps.runtime.openset import _scored_parts, rule_row

    vocabulary = load_recipe(VOCABULARY_RECIPE)
    entries = []
    for model in models:
        for mode in model_modes(load_classifier(model, signs=None)):
            classifier = load_classifier(model, signs=mode)
            rows = []
            for where, scan in mode_sets(classifier, mode, vocabulary):
                for shots in sorted({0, reshoot}):
                    for part in _scored_parts(classifier, vocabulary, scan, where, hand_model, shots, show_progress):
                        rows.append(rule_row(part, classifier.classes, classifier.rule))
            entries.append({"model": str(model or default_model_path()), "mode": mode,
                            "rule": classifier.rule.to_meta(), "sets": rows})
    return {"models": entries, "reshoot": reshoot}
