"""`signcaps explain` (what a capsule encodes) and `signcaps robustness` (compare checkpoints)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from signcaps.commands.common import (
    HandModelOption,
    JsonOption,
    SignsOption,
    echo,
    out,
    print_json,
    print_table,
    table,
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_command)
    app.command("robustness")(robustness_command)


@user_errors
def explain_command(
    first: Path = typer.Argument(..., metavar="[MODEL] IMAGE",
                                 help="a photo with one hand; before it, optionally the model: an exported .onnx "
                                      "(default: the shipped model; no torch needed) or a capsule network's "
                                      "best.pt / last.pt"),
    second: Optional[Path] = typer.Argument(None, hidden=True),
    output: Optional[Path] = typer.Option(None, "--out", "-o",
                                          help="PNG to write (default: explain-<image>.png beside the model; in this "
                                               "folder for the shipped one)"),
    fallback: bool = typer.Option(False, "--fallback", help="use the centre square of the image when no hand is found"),
    threshold: Optional[float] = typer.Option(None, "--threshold",
                                              help="the rejection rule's threshold ('?' below it); default: the "
                                                   "model's rule (0.6 without one)"),
    hand_model: Optional[str] = HandModelOption,
    signs: Optional[str] = SignsOption,
    json_out: bool = JsonOption,
) -> None:
    """Reconstruction from the winning capsule and the capsule dimensions that change it most (perturbed by
    -0.25 .. +0.25), as one PNG, with the rejection rule's answer; for a pose checkpoint also the decoded
    skeleton over the observed one with the decision, its reason and the pose error (why a hand is refused)."""
    model, image = (first, second) if second is not None else (None, first)
    if model is not None and model.suffix.lower() != ".onnx":
        from signcaps.util.environment import require_training_extra

        require_training_extra("explain")
        from signcaps.training.explain import explain_image

        result = explain_image(model, image, output, hand_model=hand_model, fallback=fallback, threshold=threshold)
    else:
        from signcaps.runtime.explain import explain_onnx

        result = explain_onnx(model, image, output, hand_model=hand_model, fallback=fallback, threshold=threshold,
                              signs=signs)
    if json_out:
        print_json(result)
        return
    print_explained(result)


def print_explained(result: dict[str, Any]) -> None:
    """The lengths table, the rule's answer and which dimensions the grid shows (and how much they move)."""
    lengths = result["lengths"]
    rows = [[name, f"{value:.4f}", "◀" if name == result["class"] else ""] for name, value in lengths.items()]
    print_table(table("capsule lengths", ["class", "length", "predicted"], rows))
    where = "hand found" if result["hand"] else "no hand: centre square used"
    answer = (f"ok: {result['label']}" if result["status"] == "ok" else
              f"{'none' if result['status'] == 'none' else '?'} ({result['reason']})")
    pose = f", pose error {result['pose_error']:.3f}" if result["pose_error"] is not None else ""
    out.print(f"predicted {result['class']} (length {lengths[result['class']]:.3f}, {where}); rule: {answer}{pose}; "
              f"explanation: {', '.join(result['pngs'])}", highlight=False, markup=False, soft_wrap=True)
    for kind, shown in result.get("dimensions", {}).items():
        unit, scale = ("grey levels", 255.0) if kind == "image" else ("% of the hand size", 100.0)
        moves = ", ".join(f"d{d} {c * scale:.1f}" for d, c in zip(shown["dims"], shown["change"]))
        out.print(f"{kind} grid: the {len(shown['dims'])} dimensions that change the {kind} decoding most (largest "
                  f"change at +-0.25, {unit}): {moves}" + ("" if shown["visible"] else
                                                          "; none visibly: this decoder draws nearly the same "
                                                          f"{kind} whatever the capsule's pose"),
                  highlight=False, markup=False, soft_wrap=True)


@user_errors
def robustness_command(
    models: list[Path] = typer.Argument(...,
                                        help="checkpoints to compare (e.g. a capsnet and a cnn best.pt); with --domain "
                                             "also .onnx files"),
    domain: bool = typer.Option(False, "--domain",
                                help="domain shifts (backgrounds, light, colour cast, blur, JPEG, mirrored hands) "
                                "through the whole pipeline, instead of the "
                                "rotation/scale/translation/brightness sweep"),
    shift: list[str] = typer.Option([], "--shift", help="with --domain: only these shifts (repeatable; default all)"),
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="image-folder dataset with the models' classes (default: each model's "
                                             "training data)"),
    split: str = typer.Option("auto", "--split",
                              help="test | val | train | all; auto = test split of the training data, all of any "
                                   "other folder"),
    out_dir: Optional[Path] = typer.Option(None, "--out",
                                           help="folder for the PNGs and JSON (default: the checkpoints' "
                                                "common folder)"),
    markdown: bool = typer.Option(False, "--markdown",
                                  help="with --domain: print the tables as markdown (train/README.md)"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """Accuracy of several models under controlled changes, in one table and plot."""
    if domain:
        from signcaps.training.shifts import evaluate_shifts, shift_rows

        report = evaluate_shifts(models, shift or None, data, "test" if split == "auto" else split, hand_model,
                                 out_dir or Path("."), show_progress=not json_out)
        if json_out:
            print_json(report)
            return
        if markdown:
            from signcaps.training.shifts import markdown_table

            views = [(False, "models"), (True, "models")] + ([(False, "recipes"), (True, "recipes")]
                                                             if any(r["models"] > 1 for r in report["recipes"]) else [])
            for found_only, key in views:
                title = (("on found hands" if found_only else "end to end (no hand = wrong)")
                         + (", mean per recipe" if key == "recipes" else ""))
                echo(f"\n{title}\n\n{markdown_table(report, found_only, key)}")
            return
        columns = ["shift", *(m["label"] for m in report["models"])]
        print_table(table(f"domain shifts, end to end: accuracy on {report['images']} photos ({report['split']} split; "
                        f"no hand found = wrong)", columns, shift_rows(report)))
        print_table(table("the classifier alone: accuracy on the photos where MediaPipe found the hand", columns,
                        shift_rows(report, found_only=True)))
        if any(r["models"] > 1 for r in report["recipes"]):
            means = ["shift", *(r["label"] for r in report["recipes"])]
            print_table(table("per recipe, mean over its seeds: end to end", means,
                            shift_rows(report, key_models="recipes")))
            print_table(table("per recipe, mean over its seeds: on found hands", means,
                            shift_rows(report, found_only=True, key_models="recipes")))
        out.print(f"plot: {report['png']}; data: {report['json']}", highlight=False, soft_wrap=True)
        return
    from signcaps.util.environment import require_training_extra

    require_training_extra("robustness")
    from signcaps.training.robustness import compare_checkpoints

    result = compare_checkpoints(models, data, split, hand_model, out_dir, show_progress=not json_out)
    if json_out:
        print_json(result)
        return
    print_comparison(result)


def print_comparison(result: dict[str, Any]) -> None:
    """The `signcaps robustness` table: rows settings, one accuracy column per model."""
    from signcaps.training.robustness import setting_rows

    models = result["models"]
    columns = ["setting", *(f"{m['label']} ({m['samples']})" for m in models)]
    print_table(table("robustness (accuracy; images per model in the header)", columns, setting_rows(models)))
    out.print(f"rotation plot: {result['rotation_png']}; all transforms: {result['png']}; data: {result['json']}",
              highlight=False, soft_wrap=True)
