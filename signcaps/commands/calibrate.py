"""`signcaps calibrate`: the reliability of a model's capsule lengths and the live threshold it supports."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from signcaps.commands.common import (
    HandModelOption,
    JsonOption,
    SignsOption,
    err,
    out,
    print_json,
    print_open_set,
    print_table,
    table,
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate_command)
    app.command("openset")(openset_command)
    app.command("vocabulary")(vocabulary_command)


@user_errors
def calibrate_command(
    model: Optional[Path] = typer.Argument(None, help="ONNX model (default: the shipped default model)"),
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="image-folder dataset (default: the digits dataset of the recipe)"),
    split: str = typer.Option("test", "--split",
                              help="test | val | train | all: the split stored with the model (refused on data it "
                                   "cannot be told apart in; all = every image as unseen data)"),
    out_dir: Path = typer.Option(Path("calibration"), "--out", help="folder for the PNG and JSON"),
    bins: int = typer.Option(10, "--bins", help="bins of the winning capsule length"),
    hand_model: Optional[str] = HandModelOption,
    signs: Optional[str] = SignsOption,
    json_out: bool = JsonOption,
) -> None:
    """Reliability diagram of the winning capsule length on a dataset split, and the --threshold it supports,
    compared with the model's own rule (what predict and live use): the same, or why not and what adopting it
    changes. Warns below 200 images or 20 of a class.

    Rule: the lower edge of the lowest bin (with at least 5 images) from which no such bin is shown
    (Wilson 95%) to be right less than 95% of the time and the images kept are right at least 95% of
    the time (see signcaps/runtime/calibration.py).
    """
    from signcaps.runtime.calibration import calibrate

    report = calibrate(str(model) if model else None, str(data) if data else None, split, hand_model, out_dir, bins,
                       show_progress=not json_out, signs=signs)
    if json_out:
        print_json(report)
        return
    rows = [[f"{b['low']:.1f}-{b['high']:.1f}", b["count"], f"{b['mean_length']:.3f}" if b["count"] else "-",
             f"{b['accuracy']:.1%}" if b["count"] else "-"] for b in report["bins"]]
    title = (f"reliability of {Path(report['model']).name} on the {split} split ({report['images']} images, "
             f"{report['hands_found']} with a hand)")
    print_table(table(title, ["winning length", "images", "mean length", "accuracy"], rows))
    for name, rows in report["open_set"].items():
        print_open_set(rows, f"with the {name}")
    out.print(f"accuracy {report['accuracy']:.2%}, ECE {report['ece']:.3f}; "
              f"recommended --threshold {report['threshold']:g}: "
              f"keeps {report['kept']:.1%} of the images, {report['kept_accuracy']:.2%} of them right; "
              f"diagram: {report['png']}", highlight=False, soft_wrap=True)
    print_threshold_story(report["threshold_story"])
    for warning in report["warnings"]:
        err.print(Text.assemble(("warning:", "bold yellow"), f" {warning}"), highlight=False, soft_wrap=True)


def print_threshold_story(story: dict) -> None:
    """The recommendation against the model's own rule: the same, or why not and what adopting it changes."""
    if story["agrees"]:
        out.print(f"the model's rule agrees: {story['why']}", highlight=False, soft_wrap=True)
        return
    out.print(f"the model's rule shows a sign from {story['model_accept']:g} (predict, live and the page use it); "
              f"calibrate says {story['recommended']:g} because {story['why']}", highlight=False, soft_wrap=True)
    for change in story["adopting"]:
        out.print(f"  adopting {story['recommended']:g}: {change}", highlight=False, soft_wrap=True)
    out.print(f"to adopt it: --threshold {story['recommended']:g} on predict/live, or export with --accept "
              f"{story['recommended']:g}; otherwise the model's rule stays", highlight=False, soft_wrap=True)


@user_errors
def openset_command(
    models: list[str] = typer.Argument(None, help="ONNX models to compare (default: the shipped default model)"),
    recipe: Optional[Path] = typer.Option(Path("train/recipes/fused-capsnet.yaml"), "--recipe",
                                          help="recipe whose data, split and negatives settings name the sets"),
    set_: list[str] = typer.Option([], "--set", help="override a recipe value, e.g. --set data.root=DIR"),
    threshold: Optional[float] = typer.Option(None, "--threshold",
                                              help="accept threshold instead of each model's own rule"),
    reshoot: int = typer.Option(0, "--reshoot",
                                help="also judge every set re-shot this many times (new background, light, colour, "
                                     "blur, JPEG; hands detected again)"),
    out_dir: Path = typer.Option(Path("openset"), "--out", help="folder for the ROC PNG and JSON"),
    hand_model: Optional[str] = HandModelOption,
    signs: Optional[str] = SignsOption,
    json_out: bool = JsonOption,
) -> None:
    """Does the model answer "none" for hands that sign nothing? Its rule on test signs and held-out negatives.

    Sets: the recipe's test participants (accepted and right), the negatives never trained on (the
    dataset's none/ test images, the held-out folders of negatives.root: refused) and that dataset's
    held-out sign photos (negatives.signs: accepted and right). The ROC of every score the model
    supports (winning length, margin over a none class, pose agreement) is plotted over thresholds.
    """
    from signcaps.runtime.openset import open_set_report
    from signcaps.util.config import load_recipe

    report = open_set_report(models or [None], load_recipe(recipe, set_), hand_model, out_dir, threshold, reshoot,
                             show_progress=not json_out, signs=signs)
    if json_out:
        print_json(report)
        return
    for entry in report["models"]:
        rule = entry["rule"]
        rows = [[r["set"], r["images"], r["hands"], r["ok"], r["uncertain"], r["none"],
                 f"{r['rate']:.2%}", f"{r['rate_low95']:.1%}"] for r in entry["sets"]]
        print_table(table(f"{entry['name']}: accept >= {rule['accept']:g}, none below {rule['none_below']:g}"
                        f"{', none class ' + rule['none_class'] if rule['none_class'] else ''}"
                        f"{', pose error <= ' + format(rule['max_pose_error'], 'g') if rule['max_pose_error'] else ''}",
                        ["set", "images", "hands", "ok", "?", "none", "good", "95% low"], rows, fold=True))
        out.print("good: signs accepted and right, negatives refused; 95% low: the lower end of its 95% interval",
                  highlight=False, soft_wrap=True)
        if entry["roc"]:
            print_table(table("ROC on the test participants vs every held-out negative: negatives accepted "
                            "where 99.5%, 99% or 98.5% of the signs are",
                            ["setting", "AUC", "99.5%", "99%", "98.5%"],
                            [[r["score"], f"{r['auc']:.4f}", *(_rate(r[k]) for k in (
                                "negatives_accepted_at_signs_0.995", "negatives_accepted_at_signs_0.99",
                                "negatives_accepted_at_signs_0.985"))] for r in entry["roc"]]))
    if report["png"]:
        out.print(f"ROC plot: {report['png']}", highlight=False)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@user_errors
def vocabulary_command(
    models: list[str] = typer.Argument(None, help="ONNX models (default: the shipped digits and letters models); "
                                                  "a joint model is judged in each of its sign modes"),
    reshoot: int = typer.Option(2, "--reshoot",
                                help="also judge every set re-shot this many times (another background, light, "
                                     "colour, blur, JPEG; hands detected again); 0 = as photographed only"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """Digits and letters side by side: in each sign mode, the mode's held-out signs accepted and right, the
    other set's handshapes refused, and the handshapes both share (V = 2, W = 6, F = 9, O = 0) read in the mode.

    Reads the digits and the ASL letters datasets (`signcaps data fetch digits`, `... asl-letters`)."""
    from signcaps.runtime.classifier import SHIPPED_MODELS, default_model_path
    from signcaps.runtime.vocabulary import vocabulary_report

    shipped = list(dict.fromkeys(default_model_path(signs) for signs in SHIPPED_MODELS))
    report = vocabulary_report(models or shipped, hand_model, reshoot, show_progress=not json_out)
    if json_out:
        print_json(report)
        return
    for entry in report["models"]:
        rows = [[r["set"], r["images"], r["hands"], r["ok"], r["uncertain"], r["none"],
                 f"{r['rate']:.2%}", f"{r['rate_low95']:.1%}"] for r in entry["sets"]]
        print_table(table(f"{Path(entry['model']).name} --signs {entry['mode']}",
                          ["set", "images", "hands", "ok", "?", "none", "good", "95% low"], rows, fold=True))
    out.print("good: signs accepted and right, negatives refused; 95% low: the lower end of its 95% interval",
              highlight=False, soft_wrap=True)
