"""What users hand in, checked before it is read: regular files of bounded size, names with digits.

A FIFO or a device named like an image would block or never end; a 20 GB (sparse) file named
like an image, a recipe or a checkpoint would be read into memory whole before anything looked
at it. Every reader of a user's file starts with `regular_file`, with the limit of its kind.

File and class names sort "naturally" ("IMG_2" before "IMG_10", class "10" after "9"): only
ASCII digits count as numbers, because `str.isdigit()` also accepts "²" and "①", which
`int()` then refuses.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from signcaps.util.errors import UserError

# The size limits of what signcaps reads, by kind (bytes).
MAX_RECIPE_BYTES = 1 << 20  # a recipe is a few hundred bytes
MAX_JSON_BYTES = 64 << 20  # metrics.json of a long run: ~100 KB
MAX_IMAGE_BYTES = 512 << 20  # above a 120 MP photo as an uncompressed 8-bit TIFF (360 MB)
MAX_CHECKPOINT_BYTES = 4 << 30  # the largest registered model is ~30 MB
MAX_MODEL_BYTES = 2 << 30  # protobuf's own limit for an ONNX file

_ASCII_NUMBER = re.compile(r"([0-9]+)")
MAX_NAME_BYTES = 255  # one file or folder name (ext4, APFS, NTFS)
MAX_PATH_BYTES = 4095  # a whole path (Linux PATH_MAX - 1)


class EmptyPath(str):
    """An empty path as the user typed it (``''``): the CLI keeps it as this marker where Typer would
    make it ``Path('.')``, the current folder, so that `path_complaint` refuses it by name."""


def path_complaint(value: str | os.PathLike) -> str | None:
    """Why ``value`` cannot name a file here (empty; a name or the whole path too long: the OS would
    raise ENAMETOOLONG from the first `exists()`), or None."""
    raw = os.fsencode(value)
    if not raw:  # one meaning everywhere: an error, never "the current folder"
        return "is empty: name a file or folder ('.' is the current folder)"
    if len(raw) > MAX_PATH_BYTES:
        return f"is {len(raw)} bytes long, more than a path can be ({MAX_PATH_BYTES})"
    longest = max(raw.split(b"/"), key=len, default=b"")
    if len(longest) > MAX_NAME_BYTES:
        return (f"holds a name of {len(longest)} bytes ({longest[:24].decode(errors='replace')}…), more than a "
                f"file name can be ({MAX_NAME_BYTES})")
    return None


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words (from ``os.stat``'s ``st_mode``): the
    error names it instead of "not found" or "not a regular file"."""
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def regular_file(path: str | Path, what: str, max_bytes: int, error: type[UserError] = UserError) -> Path:
    """``path`` checked before it is read: it exists, is a regular file (not a FIFO or a device)
    and holds at most ``max_bytes``; else ``error`` with one line naming ``what``."""
    path = Path(path).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror or type(err).__name__}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} {path} is {file_kind(info.st_mode)}, not a regular file")
    if info.st_size > max_bytes:
        raise error(f"{what} {path} is {info.st_size / 1e6:.1f} MB, more than a {what} can be "
                    f"({max_bytes / 1e6:g} MB)")
    if not os.access(path, os.R_OK):
        raise error(f"cannot read {what} {path}: permission denied")
    return path


def ascii_int(text: str) -> int | None:
    """The integer spelled by ``text`` in ASCII digits only ("12" -> 12; "²", "١٢", "+1", "" -> None)."""
    return int(text) if text.isascii() and text.isdecimal() else None


def natural_key(text: str) -> list:
    """Sort 'IMG_2' before 'IMG_10', and class '10' after '9' (ASCII digits only)."""
    return [int(part) if ascii_int(part) is not None else part.lower() for part in _ASCII_NUMBER.split(text)]


def check_working_folder() -> None:
    """Every command starts in a folder that exists. A shell left in a deleted folder would
    otherwise resolve relative paths against nothing, and torch's oneMKL ends the process with
    a native "FATAL ERROR: Cannot load libtorch_cpu.so" while it loads."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UserError("the current folder no longer exists (it was deleted or moved while this shell was in "
                        "it): cd to an existing folder and run the command again") from None


def opencv_path(path: str | os.PathLike, what: str) -> str:
    """`path` as the text OpenCV's video functions take. OpenCV converts it to UTF-8 and ends the
    process with SIGSEGV on a name that is not (Linux allows any bytes): refused in one line first."""
    text = os.fspath(path)
    try:
        os.fsencode(text).decode("utf-8")
    except UnicodeDecodeError:
        from signcaps.util.text import printable

        raise UserError(f"{what} {printable(text)}: OpenCV cannot open a name that is not UTF-8; rename it "
                        "(or the folder)") from None
    return text
