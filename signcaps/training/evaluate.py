"""Evaluate a checkpoint on any image-folder dataset through the training preprocessing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from signcaps.data.crops import CropSet, prepare
from signcaps.data.folders import NONE_CLASS, DatasetError
from signcaps.data.splits import split_indices, stored_split
from signcaps.models.checkpoint import build_from_checkpoint
from signcaps.runtime.openset import rule_row, scored, sign_columns
from signcaps.training.infer import inputs_of, predict_lengths
from signcaps.util.metrics import classification_report


def load_eval_crops(checkpoint: str | Path, data: str | Path | None, split: str, hand_model: str | None,
                    show_progress: bool = True,
                    negatives: bool = False) -> tuple[torch.nn.Module, Any, CropSet, str, list]:
    """The model and the crops it should be judged on (same crop settings as in training); the
    folder's none/ negatives only with `negatives` (a sweep or a parity check judges signs).

    The held-out files come from the checkpoint (`data.split_record`); a checkpoint without them
    is split by its recipe only on the data it was trained on (same content fingerprint, wherever
    the folder lies). On other data the split is `all` (`auto`), and a test split is refused: it
    could hold the model's own training images.
    """
    model, recipe, classes, state = build_from_checkpoint(checkpoint)
    if split not in ("test", "val", "train", "all", "auto"):
        raise DatasetError(f"--split must be test, val, train, all or auto, not {split!r}")
    crops, scan, _ = prepare(data or recipe.data.root, recipe.data, recipe.crop, recipe.detect, hand_model,
                             classes=classes, show_progress=show_progress)
    skipped = list(crops.skipped)
    stored = stored_split(state.get("split"), crops.paths)
    same_data = crops.fingerprint == state.get("data_fingerprint")
    if split == "auto":
        split = "test" if stored is not None or same_data else "all"
    if split != "all":
        if stored is None and not same_data:
            raise DatasetError(f"{scan.root} is not the data {Path(checkpoint).name} was trained on and the checkpoint "
                               f"lists no held-out files in it: its {split} split could hold training images; pass "
                               f"--split all to use every image as unseen data")
        index = stored if stored is not None else split_indices(crops.paths, crops.labels, recipe.data, root=scan.root)
        crops = crops.subset(index[split])
    if not negatives:
        crops = crops.subset(np.flatnonzero(~crops.negative))
    if len(crops) == 0:
        raise DatasetError(f"no usable images in {scan.root} ({split})")
    return model, recipe, crops, split, skipped


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path | None, split: str, hand_model: str | None,
                        out_dir: str | Path | None, show_progress: bool = True) -> dict[str, Any]:
    from signcaps.models.checkpoint import require_checkpoint_file
    from signcaps.util.outputs import claim_files, ensure_writable_dir
    from signcaps.util.report import plot_confusion

    require_checkpoint_file(checkpoint)
    target = ensure_writable_dir(Path(out_dir) if out_dir else Path(checkpoint).parent, "--out",
                                 inputs=[data])  # before the work
    claim_files(target, [f"eval-confusion-{s}.png" for s in (("test", "all") if split == "auto" else (split,))],
                "--out")
    model, recipe, crops, split, skipped = load_eval_crops(checkpoint, data, split, hand_model, show_progress,
                                                           negatives=True)
    lengths = predict_lengths(model, inputs_of(crops, recipe), torch.device("cpu"))
    rule = checkpoint_rule(checkpoint, crops.classes)
    cols = sign_columns(crops.classes, rule.none_class)
    signs = ~crops.negative
    sign_classes = [crops.classes[i] for i in cols]
    report = classification_report(crops.labels[signs], lengths[signs][:, cols].argmax(1), sign_classes)
    png = plot_confusion(report, target / f"eval-confusion-{split}.png",
                         f"{recipe.model.name} on {Path(data or recipe.data.root).name} ({split})")
    sets = [scored(f"signs ({split})", "signs", int(signs.sum()), crops.labels[signs], lengths[signs])]
    if (~signs).any():
        sets.append(scored(f"negatives: the folder's none/ ({split})", "negatives", int((~signs).sum()),
                           crops.labels[~signs], lengths[~signs]))
    if data is None:  # the training data: its external negatives held out as this split too
        sets += _external_negatives(model, recipe, crops.classes, split, hand_model, show_progress)
    return {"checkpoint": str(checkpoint), "data": str(data or recipe.data.root), "split": split, "report": report,
            "skipped": skipped, "confusion_png": str(png), "mean_winner_length": float(np.max(lengths, 1).mean()),
            "rule": rule.to_meta(), "open_set": [rule_row(s, crops.classes, rule) for s in sets]}


def checkpoint_rule(checkpoint: str | Path, classes: list[str]):
    """The rejection rule a checkpoint carries into its export (the default rule for older ones)."""
    from signcaps.models.checkpoint import load_checkpoint
    from signcaps.signs.rejection import RejectionRule

    return RejectionRule.from_meta(load_checkpoint(checkpoint).get("rejection"), classes)


def _external_negatives(model: torch.nn.Module, recipe: Any, classes: list[str], split: str,
                        hand_model: str | None, show_progress: bool) -> list:
    """The recipe's external negatives held out as `split`, through the checkpoint in torch."""
    from signcaps.data.crops import prepare_negatives

    part = prepare_negatives(recipe.negatives, [c for c in classes if c != NONE_CLASS], recipe.data, recipe.crop,
                             recipe.detect, hand_model, show_progress).get(split)
    if part is None or not len(part):
        return []
    chosen = set(recipe.negatives.classes)
    missed = sum(1 for path, _ in part.skipped if not chosen or Path(path).parts[0] in chosen)  # no hand: refused
    part = part.subset(np.flatnonzero(part.negative))
    lengths = predict_lengths(model, inputs_of(part, recipe), torch.device("cpu"))
    return [scored(f"negatives: {recipe.negatives.root} ({split})", "negatives", len(part) + missed, part.labels,
                   lengths)]
