"""`signcaps live`, `signcaps collect` and `signcaps bench live`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

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
from signcaps.signs.spelling import SpellConfig

SourceOption = typer.Option("0", "--source", "-s",
                            help="camera index (0), video file, folder of images (natural order) or stream URL")
SPELL = SpellConfig()  # spelling's defaults, shown by --help
ModelOption = typer.Option(None, "--model", "-m", help="ONNX model (default: the shipped default model)")


def register(app: typer.Typer) -> None:
    app.command("live")(live_command)
    app.command("collect")(collect_command)


def register_bench(bench: typer.Typer) -> None:
    bench.command("live")(bench_live_command)
    bench.command("hands")(bench_hands_command)


def _size(text: Optional[str]) -> Optional[tuple[int, int]]:
    if not text:
        return None
    from signcaps.live.loop import LiveError
    from signcaps.util.inputs import ascii_int

    width, sep, height = text.lower().partition("x")
    w, h = ascii_int(width), ascii_int(height)
    if not sep or w is None or h is None or not (16 <= w <= 16384 and 16 <= h <= 16384):
        raise LiveError(f"--camera-size must look like 640x480 (16 to 16384 pixels a side), got {text!r}")
    return w, h


@user_errors
def live_command(
    source: str = SourceOption,
    model: Optional[str] = ModelOption,
    hands: int = typer.Option(1, "--hands", help="hands to recognise at once (each smoothed separately)"),
    smoothing: float = typer.Option(0.5, "--smoothing",
                                    help="EMA weight of the newest frame, in (0, 1]; 1 = no smoothing"),
    threshold: Optional[float] = typer.Option(None, "--threshold",
                                              help="show '?' when the winning (smoothed) capsule is shorter than "
                                                   "this; default: the model's rejection rule (its accept: 0.5 for "
                                                   "the shipped model; 0.6 for models without a rule). `signcaps "
                                                   "calibrate` says whether a test split supports another"),
    window: bool = typer.Option(True, "--window/--no-window",
                                help="show a window (off automatically without a display)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="write the annotated video here (mp4v, same size and fps as the input)"),
    explain: bool = typer.Option(False, "--explain",
                                 help="show the crop and its capsule reconstruction (models with a decoder)"),
    fps: Optional[float] = typer.Option(None, "--fps",
                                        help="frame rate of a folder source (default 30) or override a video's"),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="stop after this many frames"),
    timeout: float = typer.Option(10.0, "--timeout",
                                  help="seconds without a frame before the source counts as stalled"),
    camera_size: Optional[str] = typer.Option(None, "--camera-size",
                                              help="ask the camera for this resolution, e.g. 1280x720"),
    screenshots: Path = typer.Option(Path("."), "--screenshots", help="folder for the 's' key's screenshots"),
    threads: int = typer.Option(1, "--threads", help="onnxruntime threads"),
    serial: bool = typer.Option(False, "--serial", help="no capture/detection/writer threads (for comparison)"),
    detect_every: int = typer.Option(1, "--detect-every",
                                     help="detect hands on every n-th frame only, reusing them in between "
                                          "(faster, boxes lag)"),
    reuse: bool = typer.Option(True, "--reuse/--no-reuse",
                               help="keep a hand's answer while it holds still (no crop, no model run); off = "
                                    "classify every hand on every frame"),
    hand_model: Optional[str] = HandModelOption,
    signs: Optional[str] = SignsOption,
    json_out: bool = typer.Option(False, "--json",
                                  help="one JSON line per frame on stdout (time, frame, state, hands)"),
    compose: bool = typer.Option(False, "--compose",
                                 help="compose numbers: hold each digit, lower the hand to finish the number; with "
                                      "--signs letters spell words: hold each letter, lower the hand for a space"),
    compose_hold: int = typer.Option(8, "--compose-hold", help="frames a digit must be held to be committed"),
    compose_gap: int = typer.Option(2, "--compose-gap",
                                    help="frames without a digit before the same digit counts again"),
    compose_end: int = typer.Option(20, "--compose-end", help="frames without a hand that finish the number"),
    compose_out: Optional[Path] = typer.Option(None, "--compose-out",
                                               help="append finished numbers (or the spelled text) to this file "
                                                    "(default: stdout; with --json only in the JSON lines)"),
    spell_hold: float = typer.Option(SPELL.hold_s, "--spell-hold",
                                     help="spelling: seconds a letter must be held still to be committed"),
    spell_release: float = typer.Option(SPELL.release_s, "--spell-release",
                                        help="spelling: seconds without a letter before it counts again (a slide "
                                             "or bounce of the hand releases it at once)"),
    spell_space: float = typer.Option(SPELL.space_s, "--spell-space",
                                      help="spelling: seconds without a hand that add a space"),
) -> None:
    """Recognise signed digits (or letters, --signs letters) live: camera, video, image folder or stream,
    with an annotated view.

    Each hand shows its sign, '?' (its capsule is below --threshold) or 'none' (the model's rejection
    rule says it signs nothing); the bars are the capsule lengths. JSON lines: per hand "class" (null
    when rejected), "status" (ok, uncertain, none) and "reason"; the frame "state" is ok, uncertain,
    none or no_hand.

    Keys in the window: q or Esc quits, s saves a screenshot, p pauses, f toggles fullscreen,
    h lists the keys. The window opens at the frame's size (smaller only to fit the screen) and
    keeps its aspect ratio. Ends with a summary (frames, FPS, per-stage latency); Ctrl-C ends cleanly too.

    With --compose, a digit held for --compose-hold frames is added to the number being built (shown
    bottom left), the same digit again needs a short pause, and --compose-end frames without a hand
    finish the number: it is printed on stdout (or appended to --compose-out). With --signs letters,
    --compose spells: a letter held still for --spell-hold seconds is added to the text, a double letter
    is the same letter again after a slide or bounce, --spell-space seconds without a hand add a space;
    Backspace deletes the last letter, c clears; the text is printed when the input ends. JSON lines
    carry it as "text".
    """
    from signcaps.live.loop import LiveConfig, run_live
    from signcaps.live.reuse import ReuseConfig
    from signcaps.signs.compose import ComposeConfig
    from signcaps.signs.spelling import SpellConfig

    cfg = LiveConfig(source=source, model=model, signs=signs, hand_model=hand_model, hands=hands, smoothing=smoothing,
                     threshold=threshold, window=window, output=str(output) if output else None, json=json_out,
                     explain=explain, fps=fps, max_frames=max_frames, stall_timeout=timeout,
                     camera_size=_size(camera_size), screenshot_dir=str(screenshots), threads=threads,
                     pipeline=not serial, detect_every=detect_every, reuse=ReuseConfig() if reuse else None,
                     compose=ComposeConfig(compose_hold, compose_gap,
                                           compose_end) if compose or compose_out else None,
                     spell=SpellConfig(spell_hold, spell_release, spell_space)).check()
    on_result = (lambda result, classes: print_json(result.to_json(classes))) if json_out else None
    on_number = (_number_sink(compose_out, to_stdout=not json_out, inputs=[source, model, output])
                 if cfg.compose is not None else None)
    summary = run_live(cfg, on_result=on_result, log=lambda msg: err.print(msg, style="dim", highlight=False),
                       on_number=on_number)
    print_summary(summary, to_stderr=True)
    if summary.error is not None:
        raise summary.error
    if summary.reason == "interrupted":
        raise typer.Exit(130)
    if summary.frames == 0 and summary.skipped:  # nothing recognised, nothing written: not a result
        from signcaps.live.loop import LiveError

        raise LiveError(f"no frame of {summary.source} could be read ({summary.skipped} unreadable: a file too "
                        f"large to decode, or not an image or a video)")


def _number_sink(path: Optional[Path], to_stdout: bool, inputs: list = ()):
    """Where finished numbers go: appended to a file (flushed at once, so nothing is lost), else stdout."""
    if path is not None:
        from signcaps.util.outputs import append_text, ensure_writable_file

        # stat only (a FIFO is refused, never opened); never the input video, nor --output
        ensure_writable_file(path, "--compose-out", inputs=inputs)
        append_text(path, "", "--compose-out")  # created now: a folder that refuses files fails before the work

        def append(number: str) -> None:  # a full disk mid-run: one line, the numbers so far are in the file
            append_text(path, number + "\n", "--compose-out")
        return append
    if to_stdout:
        return echo
    return lambda _number: None  # --json: the numbers are in the JSON lines


def print_summary(summary, to_stderr: bool) -> None:
    """The end-of-run summary: one line, then per-stage latency (stderr keeps --json clean)."""
    console = err if to_stderr else out
    size = f"{summary.size[0]}x{summary.size[1]}" if summary.size else "?"
    extras = []
    if summary.dropped:
        extras.append(f"{summary.dropped} dropped")
    if summary.skipped:
        extras.append(f"{summary.skipped} unreadable skipped")
    if summary.output:
        extras.append(f"video: {summary.output}")
    if summary.numbers is not None:
        extras.append(f"numbers: {', '.join(summary.numbers) or 'none'}")
    if getattr(summary, "text", None) is not None:
        extras.append(f"text: {summary.text!r}")
    if summary.reuse_rate is not None:
        extras.append(f"{summary.reuse_rate:.0%} of the hands answered again without a model run (--no-reuse: none)")
    states = ", ".join(f"{k} {v}" for k, v in sorted(summary.states.items()))
    console.print(f"{summary.reason}: {summary.frames} frames ({size}) from {summary.source} in "
                  f"{summary.seconds:.1f} s, "
                  f"{summary.fps:.1f} fps{'; ' + states if states else ''}{'; ' + '; '.join(extras) if extras else ''}",
                  highlight=False, soft_wrap=True)
    if summary.stages:
        rows = [[stage, f"{v['p50']:.2f}", f"{v['p95']:.2f}", f"{v['mean']:.2f}"]
                for stage, v in summary.stages.items()]
        console.print(table("latency per stage (ms)", ["stage", "p50", "p95", "mean"], rows))


@user_errors
def collect_command(
    label: str = typer.Option(..., "--label", "-l", help="class name to record (a digit, or your own sign)"),
    out_dir: Path = typer.Option(..., "--out", help="image-folder dataset to add to: OUT/<label>/<timestamp>-<i>.png"),
    source: str = SourceOption,
    every: int = typer.Option(5, "--every", help="keep every k-th frame that shows a hand"),
    max_crops: int = typer.Option(100, "--max", help="stop after this many crops"),
    size: int = typer.Option(160, "--size", help="side of the saved crops in pixels"),
    margin: float = typer.Option(0.5, "--margin", help="context around the hand, as a fraction of its size per side"),
    window: bool = typer.Option(True, "--window/--no-window", help="show a preview window (off without a display)"),
    fps: Optional[float] = typer.Option(None, "--fps", help="frame rate of a folder source (default 30)"),
    timeout: float = typer.Option(10.0, "--timeout",
                                  help="seconds without a frame before the source counts as stalled"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """Record hand crops from a camera or video into an image-folder dataset, for training your own signs.

    Then: `signcaps data prepare --src OUT` and `signcaps train --data OUT`.
    """
    from signcaps.live.collect import CollectConfig, collect

    cfg = CollectConfig(label=label, out=str(out_dir), source=source, every=every, max_crops=max_crops, size=size,
                        margin=margin, window=window, fps=fps, stall_timeout=timeout, hand_model=hand_model).check()
    result = collect(cfg, log=lambda msg: err.print(msg, style="dim", highlight=False),
                     progress=not json_out)
    if json_out:
        print_json(result.to_dict())
    else:
        out.print(f"{result.reason}: saved {result.saved} crop(s) of '{label}' to {result.folder} "
                  f"({result.frames} frames read, {result.with_hand} with a hand)", highlight=False, soft_wrap=True)
    if result.error is not None:
        raise result.error
    if result.reason == "interrupted":
        raise typer.Exit(130)


@user_errors
def bench_live_command(
    source: str = typer.Option(..., "--source", "-s",
                               help="a recorded video or image folder (a camera works too: 300 frames, paced "
                                    "by the camera)"),
    model: Optional[str] = ModelOption,
    hands: int = typer.Option(1, "--hands", help="hands to recognise at once"),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="stop after this many frames"),
    warmup: int = typer.Option(10, "--warmup", help="frames left out of the statistics"),
    repeat: int = typer.Option(1, "--repeat", help="runs per mode; the fastest is reported"),
    mode: str = typer.Option("both", "--mode", help="pipelined | serial | both"),
    explain: bool = typer.Option(False, "--explain", help="include the reconstruction"),
    threads: int = typer.Option(1, "--threads", help="onnxruntime threads"),
    detect_every: int = typer.Option(1, "--detect-every", help="detect hands on every n-th frame only"),
    detector: bool = typer.Option(True, "--detector/--no-detector",
                                  help="also time the hand detector alone on the same frames"),
    reuse: bool = typer.Option(True, "--reuse/--no-reuse",
                               help="reuse a still hand's answer (as `live` does); off = the full-work loop"),
    draw: bool = typer.Option(False, "--draw/--no-draw",
                              help="draw the overlay on every frame, as for a window or --output (default: as a "
                                   "headless `live --json`, which draws nothing)"),
    pace: float = typer.Option(30.0, "--pace",
                               help="then play the source at this frame rate, like a camera: latency and CPU share "
                                    "(0 = leave out)"),
    pace_frames: int = typer.Option(600, "--pace-frames", help="frames of the paced runs"),
    signs: Optional[str] = SignsOption,
    compose: bool = typer.Option(False, "--compose",
                                 help="compose as `live --compose` does (numbers, or spelling with --signs letters), "
                                      "timed as the compose stage"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """End-to-end FPS and per-stage latency (capture, detect, crop, classify, draw) p50/p95 of the live loop.

    First the hand detector alone on the same frames (decode left out): the loop's ceiling; then
    live fps / detector-alone fps says how much of it the loop keeps, and the CPU the loop spends
    beyond the detector. With reuse, the share of frames whose answer equals the full-work loop's.
    Then the same at a camera's pace (--pace fps): capture-to-result latency p50/p95 and CPU share.
    """
    from signcaps.live.bench import bench_live_modes

    bench = bench_live_modes(source, model=model, hand_model=hand_model, hands=hands, max_frames=max_frames,
                             warmup=warmup, repeat=repeat, mode=mode, explain=explain, threads=threads,
                             detect_every=detect_every, detector=detector, reuse=reuse, draw=draw,
                             pace=pace or None, pace_frames=pace_frames, signs=signs, compose=compose,
                             log=(lambda _msg: None) if json_out else (lambda msg: err.print(f"{msg} …", style="dim",
                                                                                               highlight=False)))
    if json_out:
        print_json(bench.to_dict())
        return
    _print_bench_live(bench, warmup)


def _print_bench_live(bench, warmup: int) -> None:
    results = bench.results
    first = next(iter(results.values()))
    size = f"{first.size[0]}x{first.size[1]}" if first.size else "?"
    stages = []
    for summary in results.values():
        stages += [s for s in summary.stages if s not in stages]
    columns = ["stage"] + [f"{name} {p}" for name in results for p in ("p50", "p95")]
    rows = []
    for stage in stages:
        row = [stage]
        for summary in results.values():
            v = summary.stages.get(stage)
            row += [f"{v['p50']:.2f}", f"{v['p95']:.2f}"] if v else ["-", "-"]
        rows.append(row)
    print_table(table(f"live loop on {first.source} ({size}, {first.frames} frames, {warmup} warm-up, "
                    f"{'drawing' if bench.draw else 'not drawing'}), ms", columns, rows))
    if "pipelined" in results:
        err.print("wait = the main thread idle, waiting for detection (pipelined mode only)", style="dim",
                  highlight=False)
    for name, summary in results.items():
        share = f"{summary.classifier_share:.1%}" if summary.classifier_share is not None else "-"
        cpu = f"; {summary.cpu_ms_per_frame:.1f} ms CPU per frame (all threads)" if summary.cpu_ms_per_frame else ""
        ratio = bench.ratio(name)
        vs = f" = {ratio:.2f} x the detector alone" if ratio is not None else ""
        beyond = bench.beyond_detector_ms(name)
        extra = f", {beyond:.2f} ms beyond the detector" if beyond is not None else ""
        reused = f"; reuse answered {summary.reuse_rate:.1%} of the hands" if summary.reuse_rate is not None else ""
        out.print(f"{name}: {summary.fps:.1f} fps end to end{vs}; classifier {share} of stage time{cpu}{extra}"
                  f"{reused}", highlight=False)
    if bench.detector is not None:
        d = bench.detector
        out.print(f"detector alone: {d.fps:.1f} fps, {d.cpu_ms_per_frame:.1f} ms CPU per frame "
                  f"({d.with_hand}/{d.frames} frames with a hand)", highlight=False)
    if bench.agreement is not None:
        a = bench.agreement
        out.print(f"answers equal to the full-work loop's on {a.same}/{a.frames} frames ({a.fraction:.2%}); reuse "
                  f"answered {a.reuse_rate:.1%} of the hands; largest smoothed-length difference "
                  f"{a.max_length_diff:.3f}", highlight=False)
    if bench.paced:
        alone = bench.paced_detector
        body = []
        if alone is not None:
            body.append(["detector alone", str(alone.frames), _ms(alone.latency_ms(50)), _ms(alone.latency_ms(95)),
                         "1", _pct(alone.cpu_share), "-"])
        for name, summary in bench.paced.items():
            lat = summary.stages.get("latency", {})
            ratio = bench.latency_ratio(name)
            body.append([name, str(summary.frames - warmup), _ms(lat.get("p50")), _ms(lat.get("p95")),
                         "-" if ratio is None else f"{ratio:.2f}", _pct(summary.cpu_share), str(summary.dropped)])
        pace = alone.pace if alone is not None else None
        print_table(table(f"at a camera's pace ({pace:g} fps): capture to result", ["", "frames", "latency p50 ms",
                                                                                   "latency p95 ms", "p95 x detector",
                                                                                   "CPU (one core = 100%)", "dropped"],
                        body))
    targets = bench.targets()
    if targets:
        print_table(table("targets (issues 21, 27)", ["target", "measured", "goal", "met"],
                        [[name, "-" if t["value"] is None else f"{t['value']:.4g}",
                          (">= " if "at_least" in t else "<= ") + f"{t['target']:g}",
                          {True: "yes", False: "no", None: "-"}[t["met"]]] for name, t in targets.items()]))
    if bench.busy:
        err.print(f"note: load average {bench.load_before:.1f} on {bench.cores} cores while measuring: "
                  "other processes "
                  f"compete for the CPU, the numbers are pessimistic", highlight=False)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


@user_errors
def bench_hands_command(
    source: str = typer.Option(..., "--source", "-s", help="a recorded video for the speed (VIDEO mode, as in live)"),
    hand_models: list[str] = typer.Option(["full", "lite"], "--hand-model",
                                          help="hand models to compare: full, lite or a .task path (repeat)"),
    model: Optional[str] = ModelOption,
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="image-folder dataset (default: the digits dataset of the recipe)"),
    split: str = typer.Option("test", "--split", help="test | val | train | all"),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="frames of the clip to time"),
    warmup: int = typer.Option(10, "--warmup", help="frames left out of the timing"),
    json_out: bool = JsonOption,
) -> None:
    """Hand models side by side: detector-alone fps and CPU on a clip, hands found and accuracy on a dataset split."""
    from signcaps.live.bench import compare_hand_models

    rows = compare_hand_models(hand_models, source, model, str(data) if data else None, split, max_frames, warmup,
                               show_progress=not json_out)
    if json_out:
        print_json(rows)
        return
    print_table(table(f"hand models: speed on {source}, hands and accuracy on the {split} split",
                    ["hand model", "MB", "fps alone", "CPU ms/frame", "hands found", "accuracy (found)",
                     "accuracy (all)",
                     "ms/image"],
                    [[r["hand_model"], f"{r['size_bytes'] / 1e6:.1f}", f"{r['clip']['fps']:.1f}",
                      f"{r['clip']['cpu_ms_per_frame']:.1f}",
                      f"{r['dataset']['hands_found']}/{r['dataset']['images']} ({r['dataset']['found_rate']:.1%})",
                      f"{r['dataset']['accuracy_found']:.2%}", f"{r['dataset']['accuracy_all']:.2%}",
                      f"{r['dataset']['detect_ms_per_image']:.1f}"] for r in rows]))
