"""What every command shares: one-line user errors, JSON output, tables, common options."""
from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from signcaps.util.errors import UserError
from signcaps.util.streams import STDOUT, SafeConsole, write_out
from signcaps.util.text import printable

# MediaPipe/LiteRT and OpenCV log to stderr on their own ("[ WARN:0@…] global loadsave.cpp …");
# keep the terminal for our own messages. Set before either library is first imported.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

# Paths, file names and class names come from users and model files: never rich markup. With
# markup off, "[/x]" in a name is printed as it is instead of crashing rich or restyling the line;
# styles are given as `style=` or with `Text`, never inside the printed string. Both consoles write
# through the one guarded writer and pass every text through the one sanitiser (`util.streams`).
out = SafeConsole()  # tables and results: stdout
err = SafeConsole(stderr=True)  # progress, notes and errors: stderr (keeps --json clean)
# A reader that closed the pipe (`| head`): a quiet exit 1, as rich, click and Python's own
# documentation do it (the output was not all delivered, so not 0).
EPIPE_EXIT = 1

TEXT_COLUMNS = ("class", "best", "model", "file", "stage", "setting", "inputs", "summary", "check", "status",
                "detail", "answer", "runner-up", "set", "true", "predicted")  # left-aligned; numbers go right

F = TypeVar("F", bound=Callable[..., Any])

HandModelOption = typer.Option(None, "--hand-model",
                               help="hand_landmarker.task to use (else $SIGNCAPS_HAND_MODEL, the cache, or "
                                    "a download); "
                               "'lite' = the smaller landmark network (faster), 'full' = the default bundle")
JsonOption = typer.Option(False, "--json", help="print machine-readable JSON instead of tables")
SignsOption = typer.Option(None, "--signs",
                           help="which signs to answer: digits (0-9) or letters (A-Y, no J or Z); another "
                                "mode's handshape winning means 'none' (default: the model's own, digits "
                                "for the shipped model)")


def user_errors(func: F) -> F:
    """Every command's frame: its options checked against `config.OPTION_CHECKS` first; the user's
    mistakes as `error: …` on one line and exit code 1; Ctrl-C and SIGTERM as exit 130 (the work
    in progress cleaned up by the `finally` blocks on the way out)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from signcaps.util.config import check_options
        from signcaps.util.inputs import check_working_folder

        previous = _on_sigterm(_raise_interrupt)
        try:
            check_working_folder()
            check_options(kwargs)
            return func(*args, **kwargs)
        except UserError as exc:  # the message is plain text (paths, `pip install 'signcaps[train]'`), never markup
            code = getattr(exc, "exit_code", 1)
            label = "interrupted:" if code == 130 else "error:"
            err.print(Text.assemble((label, "yellow" if code == 130 else "red"), " ", one_line(str(exc))),
                      highlight=False, soft_wrap=True)
            raise typer.Exit(code) from None
        except ModuleNotFoundError as exc:  # a path to torch no explicit check caught: still one line
            from signcaps.util.environment import TRAIN_EXTRA, TRAIN_MODULES

            if (exc.name or "").partition(".")[0] not in TRAIN_MODULES:
                raise
            err.print(Text.assemble(("error:", "red"), " ", one_line(
                f"this needs the training extra ({exc.name} is not installed): {TRAIN_EXTRA}")),
                highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted", style="yellow")
            raise typer.Exit(130) from None
        except BrokenPipeError:  # the reader went away; stdout already points at /dev/null
            raise typer.Exit(EPIPE_EXIT) from None
        finally:
            _on_sigterm(previous)

    return wrapper  # type: ignore[return-value]


def one_line(text: str) -> str:
    """A message as the one line the CLI promises (a library's text may hold newlines), with any
    control byte of a file or class name inside it escaped (`util.text.printable`)."""
    return printable(" ".join(text.split()) if "\n" in text or "\r" in text else text)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _on_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (main thread only); returns the one it replaces."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not the main interpreter, or no such signal here
        return None


def print_json(value: Any) -> None:
    """One JSON document on stdout: strict JSON (a NaN becomes null, never the bare `NaN`)."""
    from signcaps.util.outputs import json_text

    STDOUT.write(json_text(value) + "\n")  # ASCII (json escapes the rest), through the guarded writer


def echo(text: object) -> None:
    """A plain line on stdout (markdown tables, numbers): the guarded writer, control bytes escaped."""
    write_out(f"{text}\n")


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]], fold: bool = False) -> Table:
    """Title, headers and cells as plain `Text`: a class or file name is never read as markup,
    whichever console prints the table. ``fold``: the first column's long names wrap onto a second
    line where the terminal is narrow (never cut with an ellipsis). Names are escaped (`text.printable`)
    before the layout, so control bytes neither move the columns nor reach the terminal."""
    result = Table(title=Text(printable(title)), title_justify="left")
    for index, column in enumerate(columns):
        result.add_column(Text(printable(column)), justify="left" if column in TEXT_COLUMNS else "right",
                          overflow="fold" if fold and index == 0 else "ellipsis")
    for row in rows:
        result.add_row(*(_cell(v) for v in row))
    return result


def print_table(result: Table, console: Console | None = None) -> None:
    """A table that fits the terminal (COLUMNS when piped) without cutting a cell: when its columns do not fit
    side by side, they are printed in groups that do, each beginning with the first (key) column."""
    console = console or out
    groups = _column_groups(result, console)
    if len(groups) == 1:
        console.print(result)
        return
    for number, group in enumerate(groups, 1):
        part = Table(title=Text.assemble(result.title or "", f" ({number}/{len(groups)})"), title_justify="left")
        for index in group:
            column = result.columns[index]
            part.add_column(column.header, justify=column.justify, overflow=column.overflow)
        for row in zip(*(list(result.columns[index].cells) for index in group)):
            part.add_row(*row)
        console.print(part)


def _column_groups(result: Table, console: Console) -> list[list[int]]:
    """Indices of the columns per printed table: the key column and as many others as fit at their natural width."""
    from rich.measure import Measurement

    options = console.options.update_width(10_000)
    widths = [max((Measurement.get(console, options, cell).maximum for cell in [column.header, *column.cells]),
                  default=1) + 3 for column in result.columns]  # padding 2 + one border
    if sum(widths) + 1 <= console.width or len(widths) <= 2:
        return [list(range(len(widths)))]
    groups: list[list[int]] = [[0]]
    used = widths[0] + 1
    for index in range(1, len(widths)):
        if used + widths[index] > console.width and len(groups[-1]) > 1:
            groups.append([0])
            used = widths[0] + 1
        groups[-1].append(index)
        used += widths[index]
    return groups


def _cell(value: Any) -> Text:
    """Escaped here as well as when rendered, so the column widths count the escapes."""
    if isinstance(value, Text):  # already styled (and never parsed as markup)
        return value if printable(value.plain) == value.plain else Text(printable(value.plain), value.style)
    if isinstance(value, float):
        return Text(f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}")
    return Text(printable(value))


def print_open_set(rows: list[dict], how: str) -> None:
    """One line per set: signs accepted and right, negatives refused (what `eval` and `calibrate` add)."""
    for r in rows:
        out.print(f"{how}: {r['set']}: {r['rate']:.2%} {r['measure']} ({r['good']}/{r['images']}; ok {r['ok']}, "
                  f"? {r['uncertain']}, none {r['none']})", highlight=False, soft_wrap=True)
