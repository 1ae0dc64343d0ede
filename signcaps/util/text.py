"""Untrusted text made safe to show: the one sanitiser for file names, class names and error lines.

A file name, a class folder or a class name in a model's metadata is data from somebody else. Written
raw, `\\x1b[2J` clears the user's screen, `\\x1b]8;;…` plants a link, a C1 byte (0x9b is a one-byte
CSI on some terminals) restyles the line, U+202E shows `gnp.exe` as `exe.png`, and a name that is not
UTF-8 (Linux allows any bytes) cannot even be encoded for the terminal. `printable` writes each of
those as a visible escape, and only those: letters of every script stay as they are.
"""
from __future__ import annotations

import os
import re

# Bidirectional controls (embeddings, overrides, isolates, marks) and the Unicode line/paragraph
# separators: invisible, and they reorder or break what follows on the line.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
# C0 controls (tab and newline included: a name never spans lines), DEL, C1 controls, the bidi set,
# and lone surrogates (how Python holds the bytes of a name that is not UTF-8: os.fsdecode).
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
_UNSAFE_KEEP_LINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte of a non-UTF-8 name
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, lines: bool = False) -> str:
    """`text` with every control character, bidi control and undecodable byte written as an escape
    (`\\x1b`, `\\u202e`, `\\xff`); `lines=True` keeps newlines (a whole rendered table or report).
    Idempotent, and the identity on ordinary text of any script."""
    value = os.fsdecode(text) if isinstance(text, bytes) else str(text)
    return (_UNSAFE_KEEP_LINES if lines else _UNSAFE).sub(_escape, value)
