"""`signcaps calibrate`: the reliability of a model's capsule lengths and the live threshold it supports."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from signcaps.commands.common import HandModelOption, JsonOption, out, print_json, table, user_errors


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate_command)


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
    json_out: bool = JsonOption,
) -> None:
    """Reliability diagram of the winning capsule length on a dataset split, and the --threshold it supports.

    Rule: the lower edge of the lowest bin (with at least 5 images) from which every such bin is
    right at least 95% of the time and the images kept are too (see signcaps/calibration.py).
    """
    from signcaps.calibration import calibrate

    report = calibrate(str(model) if model else None, str(data) if data else None, split, hand_model, out_dir, bins,
                       show_progress=not json_out)
    if json_out:
        print_json(report)
        return
    rows = [[f"{b['low']:.1f}-{b['high']:.1f}", b["count"], f"{b['mean_length']:.3f}" if b["count"] else "-",
             f"{b['accuracy']:.1%}" if b["count"] else "-"] for b in report["bins"]]
    title = (f"reliability of {Path(report['model']).name} on the {split} split ({report['images']} images, "
             f"{report['hands_found']} with a hand)")
    out.print(table(title, ["winning length", "images", "mean length", "accuracy"], rows))
    out.print(f"accuracy {report['accuracy']:.2%}, ECE {report['ece']:.3f}; "
              f"recommended --threshold {report['threshold']:g}: "
              f"keeps {report['kept']:.1%} of the images, {report['kept_accuracy']:.2%} of them right; "
              f"diagram: {report['png']}", highlight=False, soft_wrap=True)
