"""Where commands write: checked before the work starts, written atomically, never over an input.

A command that computes for a minute and then fails on a read-only folder wastes the minute; a
command that overwrites its own input (``export best.pt -o best.pt``) loses the user's file. So
every output path is checked here first (one ``error:`` line naming the option), and files are
written to a sibling temporary name and renamed into place, so an interrupted or failing write
leaves the previous file as it was.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from signcaps.errors import UserError


class OutputError(UserError, OSError):
    """An output path that cannot be written, or that would overwrite an input (one line)."""


def _reason(err: OSError) -> str:
    if isinstance(err, NotADirectoryError):
        return "a parent is a file, not a folder"
    if isinstance(err, FileExistsError):
        return "a file is in the way of the folder"
    return err.strerror or type(err).__name__


def ensure_writable_dir(path: str | Path, what: str) -> Path:
    """Create ``path`` (with parents) and prove a file can be created in it; else OutputError."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".signcaps-probe-"):
            pass
    except OSError as err:
        raise OutputError(f"cannot write to {what} {path}: {_reason(err)}") from None
    return path


def ensure_writable_file(path: str | Path, what: str, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Check that ``path`` can be written as a file and is none of ``inputs``; returns it."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; name the file to write inside it")
    for item in inputs:
        if item is not None and same_file(path, item):
            raise OutputError(f"{what} {path} is also an input of this command; writing it would destroy the input")
    ensure_writable_dir(path.parent, f"the folder of {what}")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"cannot write to {what} {path}: permission denied")
    return path


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both names reach the same file (symlinks and relative paths resolved)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def temp_sibling(path: Path) -> Path:
    """``name.part<suffix>`` beside ``path``: same folder (so the rename is atomic), same suffix
    (so writers that pick the format from the extension, like OpenCV and matplotlib, still work)."""
    return path.with_name(f"{path.stem}.part{path.suffix}")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` then rename tmp over ``path``; on any failure the old file stays."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


@contextmanager
def exclusive_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` for the block; a second holder gets one error line.

    ``flock`` locks die with their process, so a killed run never leaves a stale lock behind
    (the empty ``.lock`` file may stay; it means nothing by itself). No-op where fcntl is missing.
    """
    created = not Path(folder).expanduser().exists()
    folder = ensure_writable_dir(folder, what)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs are not protected from each other
        yield
        return
    lock = folder / ".lock"
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"another signcaps process is using {what} {folder} (it holds {lock}); "
                              f"wait for it to finish or choose another folder") from None
        try:
            yield
        finally:
            if created and [p.name for p in folder.iterdir()] == [lock.name]:  # a run that failed before writing
                lock.unlink()
                folder.rmdir()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
