"""`signcaps predict`'s table: four columns that fit an 80-column terminal, or every capsule with `--wide`.

The first command a newcomer runs must be readable where they run it: one row per file with the
answer, its confidence and the runner-up fits 80 columns without cutting a cell; every capsule
length stays one option away (`--wide`, and always in `--json`)."""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from signcaps.commands.common import out, table
from signcaps.util.streams import SafeConsole

# How a rejected hand stands out: '?' (uncertain) in yellow, 'none' in red, with the best sign beside it.
_MARKS = {"uncertain": ("?", "yellow"), "none": ("none", "red")}


def predict_table(rows: Sequence[dict[str, Any]], classes: Sequence[str], wide: bool) -> Table:
    """The narrow table (file, answer, confidence, runner-up) or, with ``wide``, every capsule length."""
    return _wide(rows, classes) if wide else _narrow(rows)


def print_predict_table(rows: Sequence[dict[str, Any]], classes: Sequence[str], wide: bool) -> None:
    """The narrow table at the terminal's width (COLUMNS when piped: file names wrap, never cut); the wide
    one at its natural width when piped, since a script reading it wants every column whole."""
    result = predict_table(rows, classes, wide)
    if wide and not out.is_terminal:
        natural = Measurement.get(out, out.options.update_width(10_000), result).maximum
        SafeConsole(width=max(out.width, natural), no_color=True).print(result)
    else:
        out.print(result)
    sys.stdout.flush()  # the table before the summary lines on stderr


def _narrow(rows: Sequence[dict[str, Any]]) -> Table:
    folder = _common_folder([r["file"] for r in rows])
    title = "predictions" + (f" in {folder}{os.sep}" if folder else "")
    body = [[Text(_relative(r["file"], folder)), *_answer_cells(r)] for r in rows]
    result = table(title, ["file", "answer", "confidence", "runner-up"], body, fold=True)  # paths wrap, never cut
    result.min_width = min(len(title), out.width)  # the title on one line where the terminal allows it
    return result


def _answer_cells(row: dict[str, Any]) -> list[Any]:
    """Answer, confidence (the winning capsule's length) and runner-up ("class length") of one file."""
    if not row.get("hand"):
        return [Text(row["status"]), "-", "-"]
    mark = _MARKS.get(row["status"])
    answer = Text(row["class"]) if mark is None else Text.assemble((mark[0], f"bold {mark[1]}"), f" ({row['best']})")
    ranked = sorted(row["confidences"].items(), key=lambda item: item[1], reverse=True)
    runner = f"{ranked[1][0]} {ranked[1][1]:.3f}" if len(ranked) > 1 else "-"
    return [answer, f"{row['confidence']:.3f}", runner]


def _wide(rows: Sequence[dict[str, Any]], classes: Sequence[str]) -> Table:
    body = []
    for r in rows:
        if not r.get("hand"):
            body.append([Text(r["file"]), r["status"], "-", "-", *(["-"] * len(classes))])
            continue
        mark = _MARKS.get(r["status"])
        answer = Text(r["class"]) if mark is None else Text(mark[0], style=f"bold {mark[1]}")
        body.append([Text(r["file"]), answer, Text(r["best"]), f"{r['confidence']:.3f}",
                     *(f"{r['confidences'][c]:.3f}" for c in classes)])
    return table("predictions (capsule lengths)", ["file", "class", "best", "confidence", *classes], body)


def _common_folder(files: Sequence[str]) -> str:
    """The folder every file is in (said once in the title), or "" when they share none or there is one file
    in the current folder."""
    if not files:
        return ""
    try:
        folder = os.path.commonpath([os.path.dirname(f) for f in files])
    except ValueError:  # absolute and relative paths mixed
        return ""
    return "" if folder in ("", ".") else folder


def _relative(file: str, folder: str) -> str:
    return os.path.relpath(file, folder) if folder else file
