"""The one writer for standard output and standard error, and the consoles that write through it.

Whatever prints (rich tables, JSON, markdown, typer's help) goes through `GuardedStream`, which turns
the ways a terminal or pipe can fail into the CLI's rules instead of a traceback or a lost table:

- the reader went away (`signcaps predict … | head -0`, EPIPE): `BrokenPipeError`, a quiet exit (the
  reader asked for no more); the stream is pointed at /dev/null so Python's own flush at exit is quiet;
- the disk is full or the device fails (`> /dev/full`, ENOSPC, EIO): `OutputFailed`, one `error:` line
  and exit 1 (the result did not arrive, so the command did not succeed);
- standard output is closed (`>&-`, Python then has no `sys.stdout`): `OutputFailed` too, never a
  table dropped with exit 0;
- an encoding that cannot hold a character (`PYTHONIOENCODING=ascii`): the character is written as an
  escape (`\\u2026`), with one note on standard error; nothing is dropped, so the exit code stays 0.

Standard error has nowhere else to report its own failures: they are ignored there.
"""
from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from rich.console import Console
from rich.segment import Segment

from signcaps.util.errors import UserError
from signcaps.util.text import printable


class OutputFailed(UserError):
    """Standard output could not take the result (closed, full, failing device)."""


class GuardedStream(io.TextIOBase):
    """A text stream that writes to ``target()`` (looked up at each write, so a test runner's
    captured stream or a redirected one is used) and applies the module's rules on failure."""

    def __init__(self, name: str, target: Callable[[], TextIO | None] | None = None) -> None:
        self.name = name  # "stdout" or "stderr"
        self._target = target or (lambda: getattr(sys, name))
        self._noted = False

    # --- what rich and print() ask of a stream
    @property
    def encoding(self) -> str:  # rich picks ASCII box lines when this is not a UTF encoding
        return getattr(self._target(), "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        stream = self._target()
        try:
            return bool(stream is not None and not stream.closed and stream.isatty())
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        stream = self._target()
        if stream is None:
            raise io.UnsupportedOperation("closed")
        return stream.fileno()

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        stream = self._target()
        if stream is not None and not stream.closed:
            self._guard(stream, stream.flush)

    def write(self, text: str) -> int:
        stream = self._target()
        if stream is None or stream.closed:
            if self.name == "stdout":
                raise OutputFailed("standard output is closed, so the result could not be printed (run "
                                   "without `>&-`, or redirect it to a file)")
            return len(text)
        try:
            self._guard(stream, lambda: stream.write(text))
        except UnicodeEncodeError:
            encoding = stream.encoding or "ascii"
            self._guard(stream, lambda: stream.write(text.encode(encoding, "backslashreplace").decode(encoding)))
            self._note_encoding(encoding)
        self._guard(stream, stream.flush)  # a full disk shows now, not in Python's flush at exit
        return len(text)

    # --- the rules
    def _guard(self, stream: TextIO, action: Callable[[], Any]) -> None:
        try:
            action()
        except UnicodeEncodeError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: "I/O operation on closed file"
            _discard(stream)
            if self.name != "stdout":
                return
            if isinstance(exc, BrokenPipeError):
                raise
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise OutputFailed(f"could not write to standard output: {reason}") from None

    def _note_encoding(self, encoding: str) -> None:
        if self._noted or self.name != "stdout":
            return
        self._noted = True
        STDERR.write(f"note: standard output's encoding ({encoding}) cannot show every character; those are "
                     "written as \\u escapes (set PYTHONIOENCODING=utf-8 to see them)\n")


def _discard(stream: TextIO) -> None:
    """Point a failed stream's descriptor at /dev/null: what is still buffered, and Python's flush at
    exit, then go nowhere instead of raising a second time ("Exception ignored … BrokenPipeError")."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError, io.UnsupportedOperation, AttributeError):
        pass


STDOUT = GuardedStream("stdout")
STDERR = GuardedStream("stderr")


class SafeConsole(Console):
    """A rich console for untrusted text: no markup, no emoji codes (`:smile:` in a file name stays
    text), writing through a `GuardedStream`, and every piece of text passed through `printable`
    as it is rendered, so a control byte cannot reach the terminal whoever built the renderable."""

    def __init__(self, stderr: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        super().__init__(file=STDERR if stderr else STDOUT, **kwargs)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:  # rich's one place that joins text
        # (rich's own cursor and colour codes are `control` segments and styles, added below us)
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text, lines=True), segment.style)
            for segment in buffer)


def write_out(text: str) -> None:
    """Plain text (markdown, a number per line) on standard output, made printable line by line."""
    STDOUT.write(printable(text, lines=True))


def guard_process_streams() -> tuple[TextIO | None, TextIO | None]:
    """Route this process's `sys.stdout`/`sys.stderr` (typer's help and usage errors, `print`)
    through the guarded writer; returns the originals for `restore_process_streams`."""
    original = (sys.stdout, sys.stderr)
    sys.stdout = GuardedStream("stdout", lambda: original[0])  # type: ignore[assignment]
    sys.stderr = GuardedStream("stderr", lambda: original[1])  # type: ignore[assignment]
    return original


def restore_process_streams(original: tuple[TextIO | None, TextIO | None]) -> None:
    sys.stdout, sys.stderr = original  # type: ignore[assignment]
