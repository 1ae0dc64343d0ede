"""What every command shares: one-line user errors, JSON output, tables, common options."""
from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from signcaps.errors import UserError

# MediaPipe/LiteRT log every model load to stderr; keep the terminal for our own messages.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

out = Console()  # tables and results: stdout
err = Console(stderr=True)  # progress, notes and errors: stderr (keeps --json clean)

TEXT_COLUMNS = ("class", "best", "model", "file", "stage", "setting", "inputs", "summary", "check", "status",
                "detail")  # left-aligned; numbers go right

F = TypeVar("F", bound=Callable[..., Any])

HandModelOption = typer.Option(None, "--hand-model",
                               help="hand_landmarker.task to use (else $SIGNCAPS_HAND_MODEL, the cache, or "
                                    "a download); "
                               "'lite' = the smaller landmark network (faster), 'full' = the default bundle")
JsonOption = typer.Option(False, "--json", help="print machine-readable JSON instead of tables")


def user_errors(func: F) -> F:
    """Turn the user's mistakes into `error: …` on one line and exit code 1; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:  # the message is plain text (paths, `pip install 'signcaps[train]'`), never markup
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except ModuleNotFoundError as exc:  # a path to torch no explicit check caught: still one line
            from signcaps.environment import TRAIN_EXTRA, TRAIN_MODULES

            if (exc.name or "").partition(".")[0] not in TRAIN_MODULES:
                raise
            err.print(f"[red]error:[/] {escape(f'this needs the training extra ({exc.name} is not installed): ')}"
                      f"{escape(TRAIN_EXTRA)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column, justify="left" if column in TEXT_COLUMNS else "right")
    for row in rows:
        result.add_row(*(_cell(v) for v in row))
    return result


def _cell(value: Any) -> Any:
    if isinstance(value, Text):  # already styled (and never parsed as markup)
        return value
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def print_open_set(rows: list[dict], how: str) -> None:
    """One line per set: signs accepted and right, negatives refused (what `eval` and `calibrate` add)."""
    for r in rows:
        out.print(f"{how}: {r['set']}: {r['rate']:.2%} {r['measure']} ({r['good']}/{r['images']}; ok {r['ok']}, "
                  f"? {r['uncertain']}, none {r['none']})", highlight=False, soft_wrap=True)
