"""`signcaps export`, `signcaps predict`, `signcaps bench model`, `signcaps bench variants`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.text import Text

from signcaps.commands.common import (
    HandModelOption,
    JsonOption,
    SignsOption,
    echo,
    err,
    out,
    print_json,
    print_table,
    table,
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
    app.command("predict")(predict_command)


def register_bench(bench: typer.Typer) -> None:
    bench.command("model")(bench_model_command)
    bench.command("variants")(bench_variants_command)


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f}"


@user_errors
def export_command(
    checkpoint: Path = typer.Argument(..., help="best.pt / last.pt of a run"),
    output: Path = typer.Option(..., "--output", "-o", help="ONNX file to write (int8: NAME.int8.onnx next to it)"),
    int8: bool = typer.Option(False, "--int8", help="also write a static int8 model calibrated on training crops"),
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="image-folder dataset for the parity check (default: the test split of "
                                             "the training data)"),
    accept: Optional[float] = typer.Option(None, "--accept",
                                           help="rejection rule: the threshold of live/predict/web, a winning "
                                                "capsule shorter shows '?' (default: the checkpoint's rule, else "
                                                "0.6)"),
    none_below: Optional[float] = typer.Option(None, "--none-below",
                                               help="rejection rule: a winning capsule shorter than this is 'none' "
                                                    "(no sign); at most --accept"),
    max_pose_error: Optional[float] = typer.Option(None, "--max-pose-error",
                                                   help="rejection rule: 'none' when the winner's decoded skeleton "
                                                        "is further than this from the observed pose (mean joint "
                                                        "distance, wrist-knuckle units; 0 = off; pose models)"),
    routing_iterations: Optional[int] = typer.Option(None, "--routing-iterations",
                                                     help="dynamic-routing iterations baked into the graph (default: "
                                                          "the recipe's; fewer are cheaper, see `bench variants`)"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """Export a checkpoint to ONNX with its preprocessing and rejection rule in the metadata; verify it
    against torch on real crops."""
    from signcaps.util.environment import require_training_extra

    require_training_extra("export")
    from signcaps.training.export import PARITY_ATOL, export_checkpoint

    log = (lambda _msg: None) if json_out else (lambda msg: err.print(f"{msg} …", style="dim", highlight=False))
    report = export_checkpoint(checkpoint, output, data=data, int8=int8, hand_model=hand_model,
                               show_progress=not json_out, log=log, accept=accept, none_below=none_below,
                               max_pose_error=max_pose_error, routing_iterations=routing_iterations)
    if json_out:
        print_json(report)
    else:
        p = report["parity"]
        recon = "".join(f", max |Δ {name}| {p[key]:.1e}" for key, name in
                        (("reconstruction_max_abs_diff", "reconstruction"),
                         ("pose_reconstruction_max_abs_diff", "decoded landmarks")) if key in p)
        out.print(f"parity vs torch on {p['samples']} real crops ({p['split']} of {p['data']}): "
                  f"max |Δ lengths| {p['max_abs_diff']:.1e} (limit {PARITY_ATOL:g}), "
                  f"same class on {p['argmax_agree']}/{p['samples']}{recon}", highlight=False, soft_wrap=True)
        out.print(f"wrote {report['output']} ({_mb(report['float']['size_bytes'])} MB, opset {report['opset']}, "
                  f"outputs: {', '.join(report['outputs'])})", highlight=False, soft_wrap=True)
        counts = report["decisions"]
        out.print(f"rejection rule: {describe_rule(report['rejection'])}; on the {p['samples']} parity crops: "
                  f"{counts['ok']} ok, {counts['uncertain']} uncertain, {counts['none']} none",
                  highlight=False, soft_wrap=True, markup=False)
        from signcaps.signs.verdicts import describe

        out.print(describe(report["rule_rates"], f"{p['split']} split"), highlight=False, soft_wrap=True, markup=False)
        if "int8" in report:
            f, q = report["float"], report["int8"]
            split = p["split"]
            rows = [["float32", Path(f["path"]).name, _mb(f["size_bytes"]), f"{f['latency_ms']:.3f}",
                     f"{f['accuracy']:.2%}"],
                    ["int8", Path(q["path"]).name, _mb(q["size_bytes"]), f"{q['latency_ms']:.3f}",
                     f"{q['accuracy']:.2%}"]]
            print_table(table("float vs int8", ["model", "file", "size MB", "ms/crop (batch 1)", f"{split} accuracy"],
                            rows))
            change = round(-report["int8_accuracy_drop_points"], 2) + 0.0  # no "-0.00"
            out.print(f"wrote {q['path']}; int8 agrees with float on {q['agree_with_float']}/{q['samples']} crops; "
                      f"{split} accuracy change {change:+.2f} points", highlight=False, soft_wrap=True)
    for warning in report["warnings"]:
        err.print(Text.assemble(("warning:", "bold yellow"), f" {warning}"), highlight=False, soft_wrap=True)


@user_errors
def predict_command(
    inputs: list[Path] = typer.Argument(..., help="image files and/or folders (searched recursively)"),
    model: Optional[Path] = typer.Option(None, "--model",
                                         help="ONNX model from `signcaps export` (default: the shipped model)"),
    threads: int = typer.Option(1, "--threads", help="onnxruntime threads"),
    threshold: Optional[float] = typer.Option(None, "--threshold",
                                              help="a winning capsule shorter than this is '?' (uncertain); "
                                                   "default: the model's rejection rule (0.6 for models without "
                                                   "one), the same as live"),
    hand_model: Optional[str] = HandModelOption,
    signs: Optional[str] = SignsOption,
    wide: bool = typer.Option(False, "--wide", help="one column per capsule length (the table is wider than "
                                                    "80 columns; --json has them too)"),
    compose: bool = typer.Option(False, "--compose",
                                 help="one video file or folder of frames read as a clip (as `live` reads it): "
                                      "print the numbers signed (digits) or the text spelled (--signs letters)"),
    fps: Optional[float] = typer.Option(None, "--fps", help="with --compose: frame rate of a folder of frames "
                                                            "(default 30)"),
    json_out: bool = JsonOption,
) -> None:
    """Find the hand in each image and classify it with the model's rejection rule: a sign, '?' (uncertain)
    or 'none' (no sign); files without a hand or unreadable ones are reported. With --compose, one video or
    folder of frames is a clip: the numbers signed in it, or the text spelled, are printed."""
    if compose:
        _predict_compose(inputs, model, threads, threshold, hand_model, signs, fps, json_out)
        return
    from signcaps.commands.predict_table import print_predict_table
    from signcaps.runtime.classifier import load_classifier
    from signcaps.runtime.predict import NO_HAND, UNREADABLE, Predictor, collect_images
    from signcaps.signs.rejection import NONE, OK, UNCERTAIN

    clf = load_classifier(model, threads=threads, signs=signs)  # a wrong model fails before any path or detector work
    rule = clf.rule.with_accept(threshold)
    files = collect_images(inputs)
    rows: list[dict[str, Any]] = []
    with Predictor(clf, hand_model, threshold=threshold) as predictor:
        classes = predictor.classes
        for result in predictor.predict_all(files):
            if json_out:
                print_json(result)
            rows.append(result)
    if json_out:
        _require_one_classified(rows)
        return
    print_predict_table(rows, classes, wide)
    for r in rows:
        if r["status"] == UNREADABLE:
            err.print(f"{r['file']}: unreadable ({r['error']})", highlight=False, soft_wrap=True)
    found = sum(1 for r in rows if r["hand"])
    counts = {status: sum(r["status"] == status for r in rows) for status in (OK, UNCERTAIN, NONE)}
    err.print(f"{len(rows)} file(s): {found} classified ({counts[OK]} a sign, {counts[UNCERTAIN]} '?' uncertain, "
              f"{counts[NONE]} none), {sum(r['status'] == NO_HAND for r in rows)} without a hand, "
              f"{sum(r['status'] == UNREADABLE for r in rows)} unreadable", highlight=False, markup=False,
              soft_wrap=True)
    err.print(f"rule: {describe_rule(rule.to_meta())}; '?': the winning capsule is below the threshold, 'none': "
              "no sign (the best sign in brackets; every capsule length: --wide or --json)", highlight=False,
              markup=False, soft_wrap=True)
    _require_one_classified(rows)


def _predict_compose(inputs: list[Path], model: Optional[Path], threads: int, threshold: Optional[float],
                     hand_model: Optional[str], signs: Optional[str], fps: Optional[float], json_out: bool) -> None:
    """predict --compose: the clip through the live loop (its recognition, smoothing and composition, no
    window): the finished numbers one per line, or the spelled text; --json: one object."""
    from signcaps.live.loop import LiveConfig, run_live
    from signcaps.runtime.predict import PredictInputError
    from signcaps.signs.compose import ComposeConfig
    from signcaps.signs.spelling import SpellConfig

    if len(inputs) != 1:
        raise PredictInputError(f"--compose reads one video file or folder of frames, got {len(inputs)} inputs")
    source = inputs[0].expanduser()
    if not source.exists():
        raise PredictInputError(f"no such file or directory: {source}")
    cfg = LiveConfig(source=str(source), model=str(model) if model else None, signs=signs, hand_model=hand_model,
                     threshold=threshold, window=False, fps=fps, threads=threads, compose=ComposeConfig(),
                     spell=SpellConfig())
    summary = run_live(cfg, log=lambda msg: err.print(msg, style="dim", highlight=False))
    if summary.error is not None:
        raise summary.error
    if summary.frames == 0:
        raise PredictInputError(f"no frame of {source} could be read")
    if json_out:
        print_json({"source": summary.source, "frames": summary.frames, "numbers": summary.numbers,
                    "text": summary.text})
    elif summary.text is not None:
        echo(summary.text)
    else:
        for number in summary.numbers or []:
            echo(number)
    what = f"text {summary.text!r}" if summary.text is not None else f"{len(summary.numbers or [])} number(s)"
    err.print(f"{summary.frames} frames of {summary.source}: {what}", highlight=False, markup=False, soft_wrap=True)


def describe_rule(meta: dict[str, Any]) -> str:
    """A rejection rule (`to_meta` form) in words, for the export line and predict's legend."""
    parts = [f"ok from {meta['accept']:.2f}"]
    if meta.get("none_below"):
        parts.append(f"none below {meta['none_below']:.2f}")
    if meta.get("none_class") is not None:
        parts.append(f"none when '{meta['none_class']}' wins")
    if meta.get("max_pose_error") is not None:
        parts.append(f"none when the pose error exceeds {meta['max_pose_error']:.2f}")
    return ", ".join(parts)


def _require_one_classified(rows: list[dict[str, Any]]) -> None:
    """A run that classified nothing failed, even though every file was looked at: exit 1 for scripts."""
    from signcaps.runtime.predict import PredictInputError

    if rows and not any(r["hand"] for r in rows):
        raise PredictInputError(f"none of the {len(rows)} file(s) could be classified (no hand found or unreadable)")


@user_errors
def bench_model_command(
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint",
                                              help="checkpoint for the torch row (and the ONNX export when --model "
                                                   "is not given)"),
    model: Optional[Path] = typer.Option(None, "--model",
                                         help="float ONNX model (default: an export of --checkpoint, else the "
                                              "shipped model)"),
    int8_model: Optional[Path] = typer.Option(None, "--int8-model",
                                              help="int8 ONNX model (default: NAME.int8.onnx next to --model)"),
    budget: float = typer.Option(1.0, "--budget", help="seconds of timed runs per measurement (at least 30 runs)"),
    signs: Optional[str] = SignsOption,
    json_out: bool = JsonOption,
) -> None:
    """Latency per crop of torch, ONNX float and ONNX int8 at batch 1 and 32 on this machine."""
    if checkpoint is not None:
        from signcaps.util.environment import require_training_extra

        require_training_extra("bench model --checkpoint")
    log = (lambda _msg: None) if json_out else (lambda msg: err.print(f"{msg} …", style="dim", highlight=False))
    if checkpoint is not None:
        from signcaps.training.torch_bench import bench_checkpoint

        result = bench_checkpoint(checkpoint, model, int8_model, budget_s=budget, log=log)
    else:
        from signcaps.runtime.bench import bench_model

        result = bench_model(model, int8_model, budget_s=budget, log=log, signs=signs)
    if json_out:
        print_json(result)
        return
    batches = sorted({r["batch"] for r in result["rows"]})
    keys: list[tuple[str, int]] = []
    for r in result["rows"]:
        if (r["engine"], r["threads"]) not in keys:
            keys.append((r["engine"], r["threads"]))
    body = []
    for engine, threads in keys:
        cells = {r["batch"]: r for r in result["rows"] if r["engine"] == engine and r["threads"] == threads}
        any_row = next(iter(cells.values()))
        body.append([engine, threads, *(f"{cells[b]['ms_per_crop']:.3f}" if b in cells else "-" for b in batches),
                     f"{cells[1]['best_ms_per_crop']:.3f}" if 1 in cells else "-", _mb(any_row["size_bytes"])])
    machine = result["machine"]
    title = (f"{result['model']} {'x'.join(map(str, result['input']))} — ms per crop (median; fastest run) on "
             f"{machine['cpu_count']} CPU(s), onnxruntime {machine['onnxruntime']}")
    print_table(table(title, ["model", "threads", *(f"batch {b}" for b in batches), "batch 1 fastest", "file MB"],
                      body))
    s = result["summary"]
    if s["onnx_float_batch1_ms"] is not None:
        line = (f"ONNX float batch 1 (1 thread): {s['onnx_float_batch1_ms']:.3f} ms per crop "
                f"({'meets' if s['target_met'] else 'misses'} the {s['target_ms']:g} ms target)")
        if "speedup_vs_torch_batch1" in s:
            line += (f", {s['speedup_vs_torch_batch1']:.1f}x "
                     f"{'faster' if s['faster_than_torch'] else 'slower'} than torch")
        out.print(line, highlight=False, soft_wrap=True)
    for note in result["notes"]:
        err.print(f"note: {note}", highlight=False)


@user_errors
def bench_variants_command(
    checkpoint: Path = typer.Argument(..., help="best.pt of a run: the reference is its export as trained"),
    out_dir: Path = typer.Option(Path("variants"), "--out", help="folder for the exported variants"),
    routing: list[int] = typer.Option([2, 1], "--routing", help="routing iterations to try at inference (repeat)"),
    int8: bool = typer.Option(True, "--int8/--no-int8", help="also the int8 model of the reference"),
    threshold: float = typer.Option(0.6, "--threshold",
                                    help="threshold of the right-and-shown figures (0.6: the rule of models without "
                                         "one; the shipped model's rule accepts from 0.5)"),
    shift: list[str] = typer.Option([], "--shift", help="only these domain shifts (repeatable; default all)"),
    budget: float = typer.Option(1.0, "--budget", help="seconds of timed runs per measurement"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """Cheaper classifiers (fewer routing iterations, int8, session options) on accuracy and time; adopt
    only what keeps every accuracy figure within 0.1 point of the reference."""
    from signcaps.training.variants import bench_variants

    log = (lambda _msg: None) if json_out else (lambda msg: err.print(f"{msg} …", style="dim", highlight=False))
    result = bench_variants(checkpoint, out_dir, routing, int8, threshold, hand_model, shift or None, budget,
                            show_progress=not json_out, log=log)
    if json_out:
        print_json(result)
        return
    body = []
    for v in result["variants"]:
        f = v.get("figures", {})
        shifted = [value for name, value in f.items() if "@" not in name and name != "none"]
        verdict = {None: "reference", True: "yes", False: "no"}[v["adoptable"]]
        body.append([v["name"], f"{v['ms']:.3f}", f"{v['speedup']:.2f}x", _mb(v["size_bytes"]),
                     _pct(f.get("none")), _pct(f.get("none @threshold")),
                     _pct(sum(shifted) / len(shifted) if shifted else None), _pct(min(shifted) if shifted else None),
                     "-" if v["worst"] is None else f"{v['worst_drop_points']:+.2f} ({v['worst']})", verdict])
    print_table(table(f"variants of {checkpoint} (batch 1, ms per hand; accuracy end to end on the test split of "
                    f"unseen participants and under the domain shifts; '@threshold' = right and above {threshold:g})",
                    ["variant", "ms", "speed", "MB", "test", "test @threshold", "shifts mean", "shifts worst",
                     "worst drop (points)", f"adopt (drop <= {result['max_drop_points']:g})"], body))
    reference = result["session_options"][0]["ms"]
    print_table(table("onnxruntime session options of the reference (batch 1)",
                    ["option", "ms (median)", "CPU ms per call", "vs default", "max |Δ lengths|"],
                    [[o["option"], f"{o['ms']:.3f}", f"{o['cpu_ms']:.3f}", f"{reference / o['ms']:.2f}x",
                      f"{o['max_abs_diff']:.1e}"] for o in result["session_options"]]))


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2%}"
