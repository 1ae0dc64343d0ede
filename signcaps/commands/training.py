"""`signcaps train` and `signcaps eval`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from signcaps.commands.common import (
    HandModelOption,
    JsonOption,
    SignsOption,
    echo,
    err,
    out,
    print_json,
    print_open_set,
    print_table,
    table,
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    app.command("summarize")(summarize_command)


@user_errors
def train_command(
    recipe: Optional[str] = typer.Option(None, "--recipe", "-r",
                                         help="recipe YAML, or the name of a shipped one (fused-capsnet, capsnet, "
                                              "cnn, ...; default: the recipe of the shipped default model)"),
    set_: list[str] = typer.Option([], "--set", help="override any recipe value, e.g. --set train.lr=1e-3"),
    model: Optional[str] = typer.Option(None, "--model",
                                        help="architecture to train; `signcaps models list` shows every "
                                             "registered one"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="number of epochs"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed (weights, augmentation, order)"),
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="image-folder dataset (one folder per class) or a fetched dataset's "
                                             "name (digits); default: the recipe's data.root"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda"),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="output folder (default runs/<recipe>-s<seed>)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run from its last.pt"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """Train a model from a recipe; writes checkpoints, metrics.json and plots into the run folder."""
    from signcaps.util.environment import require_training_extra

    require_training_extra("train")
    from signcaps.training.train import run_recipe, train

    flags = {"model.name": model, "train.epochs": epochs, "train.seed": seed,
             "data.root": str(data) if data is not None else None, "train.device": device}
    # typed values, never text through YAML: `--data "signs #2"` is that folder, `--data 2024` a folder too
    cfg = run_recipe(recipe, set_, run_dir, resume, values={k: v for k, v in flags.items() if v is not None})
    summary = train(cfg, run_dir, resume=resume, hand_model=hand_model, show_progress=not json_out)
    if not summary:
        return  # not rank 0
    if json_out:
        print_json({k: v for k, v in summary.items() if k != "history"})
        print_rule_rates(summary.get("test_rule"), "test split", warn_only=True)
        return
    rows = [[summary["model"], f"{summary['params']:,}", summary["epochs"], f"{summary['seconds_per_epoch']:.1f}",
             f"{summary['train_seconds']:.0f}", f"{summary['best_val_acc']:.2%}",
             f"{summary['test_acc']:.2%}" if summary["test_acc"] is not None else "-"]]
    print_table(table("training result", ["model", "params", "epochs", "s/epoch", "train s", "val acc", "test acc"],
                    rows))
    print_rule_rates(summary.get("test_rule"), "test split")


def print_rule_rates(rates: dict[str, Any] | None, where: str, warn_only: bool = False) -> None:
    """The rule's two rates on a split (`signs.verdicts`), and the warning (on stderr, also beside --json)
    when it refuses most of its own signs."""
    from rich.text import Text

    from signcaps.signs.verdicts import describe, refusal_warning

    if not rates:
        return
    if not warn_only:
        out.print(describe(rates, where), highlight=False, markup=False, soft_wrap=True)
    warning = refusal_warning(rates, where)
    if warning:
        err.print(Text.assemble(("warning:", "bold yellow"), f" {warning}"), highlight=False, soft_wrap=True)


@user_errors
def eval_command(
    checkpoint: Path = typer.Argument(..., help="best.pt / last.pt of a run, or an exported .onnx (no torch needed)"),
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="image-folder dataset with the model's classes (default: the "
                                             "training data)"),
    split: str = typer.Option("auto", "--split",
                              help="test | val | train | all; auto = the model's stored test split where the "
                                   "folder holds it, all of any other folder"),
    robustness: bool = typer.Option(False, "--robustness",
                                    help="accuracy under rotation, scale, translation and brightness changes"),
    out_dir: Optional[Path] = typer.Option(None, "--out",
                                           help="folder for PNGs and JSON (default: next to the checkpoint)"),
    hand_model: Optional[str] = HandModelOption,
    signs: Optional[str] = SignsOption,
    json_out: bool = JsonOption,
) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of a checkpoint on a dataset."""
    if checkpoint.suffix.lower() == ".onnx":
        if robustness:
            raise typer.BadParameter("--robustness needs a checkpoint (.pt); for an ONNX model use "
                                     "`signcaps robustness --domain MODEL.onnx`")
        from signcaps.runtime.onnxeval import evaluate_onnx

        result = evaluate_onnx(checkpoint, data, split, hand_model, out_dir, show_progress=not json_out, signs=signs)
    else:
        from signcaps.util.environment import require_training_extra

        require_training_extra("eval")
        if robustness:  # both reports' names are checked before either does any work
            from signcaps.training.robustness import SWEEP_OUTPUTS
            from signcaps.util.outputs import claim_files

            target = out_dir or checkpoint.parent
            if target.is_dir():
                claim_files(target, SWEEP_OUTPUTS, "--out")
        from signcaps.training.evaluate import evaluate_checkpoint

        result = evaluate_checkpoint(checkpoint, data, split, hand_model, out_dir, show_progress=not json_out)
    if robustness:
        from signcaps.training.robustness import robustness_sweep

        result["robustness"] = robustness_sweep(checkpoint, data, split, hand_model, out_dir,
                                                show_progress=not json_out)
    if json_out:
        print_json(result)
        return
    report = result["report"]
    rows = [[c["class"], f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
            for c in report["per_class"]]
    print_table(table(f"{result['data']} ({result['split']})", ["class", "precision", "recall", "f1", "support"], rows))
    classes = report["classes"]
    print_table(table("confusion (rows true, columns predicted)", ["class", *classes],
                    [[name, *row] for name, row in zip(classes, report["confusion"])]))
    if result["skipped"]:
        err.print(f"{len(result['skipped'])} image(s) skipped (no hand or unreadable), e.g. {result['skipped'][0]}")
    out.print(f"accuracy {report['accuracy']:.2%} on {report['samples']} images; confusion matrix: "
              f"{result['confusion_png']}")
    print_open_set(result.get("open_set", []), "with the model's rejection rule")
    if robustness:
        print_robustness(result["robustness"])


def print_robustness(result: dict[str, Any]) -> None:
    """The `eval --robustness` table: one row per setting."""
    from signcaps.training.robustness import setting_rows

    print_table(table(f"robustness ({result['split']})", ["setting", "accuracy"], setting_rows([result])))
    out.print(f"robustness of {result['model']} on {result['samples']} images: plot {result['png']}; data "
              f"{result['json']}",
              highlight=False, soft_wrap=True)


@user_errors
def summarize_command(
    run_dirs: list[Path] = typer.Argument(..., help="finished run folders (each with metrics.json)"),
    markdown: bool = typer.Option(False, "--markdown", help="print the markdown table used in train/README.md"),
    json_out: bool = JsonOption,
) -> None:
    """Results table over runs: params, seconds per epoch, training time, test accuracy mean/spread per model."""
    from signcaps.training.summary import load_runs, summarize
    from signcaps.training.summary import markdown as to_markdown

    rows = summarize(load_runs(run_dirs))
    if json_out:
        print_json(rows)
    elif markdown:
        echo(to_markdown(rows))
    else:
        print_table(table("runs", ["model", "params", "seeds", "s/epoch", "train s", "test mean", "min", "max"],
                        [[r["model"], f"{r['params']:,}", len(r["seeds"]), f"{r['seconds_per_epoch']:.1f}",
                          f"{r['train_seconds']:.0f}", f"{r['test_acc_mean']:.2%}", f"{r['test_acc_min']:.2%}",
                          f"{r['test_acc_max']:.2%}"] for r in rows]))
