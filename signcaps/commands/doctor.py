"""`signcaps doctor`: what is installed and whether it works together; `--fix` repairs a mixed OpenCV."""
from __future__ import annotations

import typer
from rich.text import Text

from signcaps.commands.common import JsonOption, err, out, print_json, print_table, table, user_errors


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)


@user_errors
def doctor_command(
    fix: bool = typer.Option(False, "--fix",
                             help="repair a mixed OpenCV install: keep only opencv-contrib-python (runs pip)"),
    json_out: bool = JsonOption,
) -> None:
    """Report OpenCV (distributions, GUI), MediaPipe, onnxruntime, torch, the hand model, the cache, pip check.

    Exits 1 while a problem remains, each listed with the command that fixes it; with --fix,
    while one of those it repairs (OpenCV, pip check) remains.
    """
    from signcaps.runtime.doctor import diagnose, fix_opencv

    if fix:
        done = fix_opencv(log=lambda msg: err.print(f"{msg} …", style="dim", highlight=False))
        for line in done or ["OpenCV: nothing to repair"]:
            err.print(f"fixed: {line}" if done else line, highlight=False)
        if done:  # this process holds the cv2 it imported before the repair: a fresh one checks the result
            import subprocess
            import sys

            code = subprocess.call([sys.executable, "-m", "signcaps", "doctor", "--fix", *(["--json"] if json_out
                                                                                           else [])])
            raise typer.Exit(code)
    report = diagnose()
    if json_out:
        print_json(report.to_dict())
    else:
        rows = [[c.name, "ok" if c.ok else ("-" if c.optional else "PROBLEM"), c.detail] for c in report.checks]
        print_table(table("signcaps doctor", ["check", "status", "detail"], rows))
        for check in report.problems:
            out.print(Text.assemble(("problem:", "red"), f" {check.name}: fix with `{check.fix}`"), highlight=False,
                      soft_wrap=True)
        if not report.problems:
            out.print("no problems found", highlight=False)
    if any(c.name in ("opencv", "pip check") for c in report.problems) or (report.problems and not fix):
        raise typer.Exit(1)
