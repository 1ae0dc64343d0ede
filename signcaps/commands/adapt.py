"""`signcaps adapt`: the shipped model (or --model) tuned to one signer from a few shots (runtime/adapt.py)."""
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
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("adapt")(adapt_command)


@user_errors
def adapt_command(
    output: Path = typer.Option(..., "-o", "--output", help="the adapted ONNX model to write (e.g. mine.onnx)"),
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="folder of shots: one sub-folder per sign (e.g. 6/ or A/), a few "
                                             "photos each (3 is the case it is made for)"),
    source: Optional[str] = typer.Option(None, "--source",
                                         help="guided session instead of --data: a camera index (0), a video or a "
                                              "frame folder; the window asks for each sign in turn"),
    model: Optional[Path] = typer.Option(None, "--model", help="ONNX model to adapt (default: the shipped one of "
                                                               "--signs)"),
    signs: Optional[str] = SignsOption,
    plan: Optional[str] = typer.Option(None, "--plan", help="--source: the signs to ask for, in order, comma-"
                                                            "separated (default: every sign of the model)"),
    hold: int = typer.Option(60, "--hold", help="--source: frames per sign (a clip shows each sign this long)"),
    settle: int = typer.Option(30, "--settle", help="--source: frames at the start of each sign not recorded "
                                                    "(time to change the hand)"),
    shots: int = typer.Option(3, "--shots", help="--source: shots recorded per sign"),
    every: int = typer.Option(5, "--every", help="--source: every k-th frame with a hand is a shot"),
    window: bool = typer.Option(True, "--window/--no-window", help="--source: show the prompts in a window"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """Adapt a model to one signer from a few shots per sign, without torch: the shots' class-capsule poses
    re-pick the winner among the signs they show, and (letters) a "?" hand close to a shot shows that
    shot's sign; a hand refused as "none" stays refused, and a sign without shots answers as shipped. Use
    the result anywhere with --model (predict, live, web build).

    Measured: train/README.md, "Adapting to a signer" (train/adapt_eval.py).
    """
    from signcaps.runtime.adapt import AdaptError, adapt, save, shots_from_folder
    from signcaps.runtime.classifier import load_classifier
    from signcaps.util.outputs import ensure_writable_file

    if (data is None) == (source is None):
        raise AdaptError("pass --data FOLDER (photos per sign) or --source CAMERA|VIDEO (guided session), one of them")
    if output.is_dir():
        raise AdaptError(f"-o {output} is a folder; name the ONNX file to write, e.g. {output / 'mine.onnx'}")
    classifier = load_classifier(model, signs=signs)
    ensure_writable_file(output, "-o", inputs=[classifier.path, data])
    if data is not None:
        taken = shots_from_folder(data, classifier, hand_model)
    else:
        from signcaps.live.guided import GuidedConfig, record

        cfg = GuidedConfig(source=source, plan=[p.strip() for p in (plan or "").split(",") if p.strip()], hold=hold,
                           settle=settle, shots=shots, every=every, window=window, hand_model=hand_model)
        taken = record(cfg, classifier, log=lambda msg: err.print(msg, highlight=False, soft_wrap=True))
    adapted = adapt(classifier, taken)
    save(adapted, output)
    report = {"model": str(output), "from": adapted.meta["adapted"]["from"], "signs": adapted.meta["adapted"]["signs"],
              "shots": adapted.shots, "without_shots": adapted.without_shots, "skipped": adapted.skipped,
              "shipped_right": adapted.shipped_right, "seconds": round(adapted.seconds, 3)}
    _warn(adapted)
    if json_out:
        print_json(report)
        return
    out.print("shots per sign: " + ", ".join(f"{name} {count}" for name, count in adapted.shots.items()),
              highlight=False, soft_wrap=True)
    out.print(f"the shipped model showed {adapted.shipped_right} of the {sum(adapted.shots.values())} shots as their "
              "sign", highlight=False, soft_wrap=True)
    out.print(f"adapted {report['from']} in {adapted.seconds:.1f} s; use it with --model {output}",
              highlight=False, soft_wrap=True)


def _warn(adapted) -> None:
    """Signs without a usable hand, and files whose hand was not found: one warning line each kind."""
    if adapted.without_shots:
        err.print(Text.assemble(("warning:", "bold yellow"), f" no usable hand for {', '.join(adapted.without_shots)}"
                                ": those signs answer as the shipped model does"), highlight=False, soft_wrap=True)
    if adapted.skipped:
        names = ", ".join(f"{path} ({why})" for path, why in adapted.skipped[:5])
        more = f" and {len(adapted.skipped) - 5} more" if len(adapted.skipped) > 5 else ""
        line = f" {len(adapted.skipped)} shot(s) left out: {names}{more}"
        err.print(Text.assemble(("warning:", "bold yellow"), line), highlight=False, soft_wrap=True)
