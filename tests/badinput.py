"""Helpers of the bad-input suite: hostile files made on the fly, and one way to run and judge a case.

Every case runs a real command (typer's CliRunner in this process, or `python -m signcaps` in a
subprocess where a native crash must be seen as a signal) and is judged the same way: the exit
code, exactly one `error:` line when it fails, no traceback, no signal, and every earlier output
named in `keep` byte-identical afterwards. Each outcome is recorded; `table_markdown` turns the
records into the table of docs/RELIABILITY.md:
    SIGNCAPS_RELIABILITY_TABLE=docs/RELIABILITY.md python -m pytest tests/test_bad_input.py
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
RECORDS: list[dict] = []
# The fault classes of docs/RELIABILITY.md; `attempt(cls=...)` takes a key, CLASS["current"] is the default.
CLASSES = {
    "round1": "0. bad files, settings and paths (round 1)",
    "temp": "1. temporary names that collide with user names",
    "owned": "2. outputs over inputs or over user files",
    "disk": "3. full disk and write errors",
    "parse": "4. parsers: recipes, --set, --data",
    "markup": "5. text shown as markup",
    "digits": "6. digits in names",
    "nan": "7. NaN and shapes",
    "range": "8. ranges of options and settings",
    "size": "9. files read whole, image headers",
    "resume": "10. resume and caches",
    "env": "11. odd environments",
    "signal": "12. interrupted at random points (SIGINT, SIGTERM, SIGKILL)",
    # round 3 (issue 26): its items 1-13 as classes 13-25
    "r3-devices": "13. outputs that are devices or FIFOs",
    "r3-records": "14. folders where signcaps picks names",
    "r3-race": "15. two processes writing one place",
    "r3-control": "16. control bytes in names shown on a terminal",
    "r3-bytes": "17. names that are not UTF-8",
    "r3-stdout": "18. standard output closed, full or ASCII-only",
    "r3-server": "19. the dev server: NUL and symlinks",
    "r3-results": "20. exit 0 with a broken or empty result",
    "r3-hang": "21. hangs on FIFOs",
    "r3-empty": "22. empty paths",
    "r3-names": "23. unchecked names",
    "r3-messages": "24. misleading messages",
    "r3-noise": "25. library noise",
    # round 3 (issue 26), the filesystem, process and server half, by mechanism: tests/test_faults_files.py
    "notfile": "26. outputs that are not regular files (devices, FIFOs, sockets, folders)",
    "record": "27. names signcaps picks, in folders that keep its record",
    "race": "28. two writers picking names in one folder",
    "empty": "29. empty paths",
    "server": "30. the dev server: NUL bytes and paths out of the site",
    "result": "31. results checked before exit 0 (the site's model)",
    "message": "32. messages that say what is wrong",
}
CLASS = {"current": CLASSES["round1"]}
TEMP_MARK = ".signcaps-tmp-"  # every temporary name signcaps makes holds this (outputs.TEMP_TAG)


# ------------------------------------------------------------------------------ hostile images


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit greyscale PNG of width x height black pixels: ~100 KB on disk, GBs decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def odd_modes(hand_jpg: Path) -> dict[str, bytes]:
    """One real hand photo in the image modes cameras and editors produce besides 8-bit RGB."""
    from PIL import Image

    rgb = Image.open(hand_jpg).convert("RGB")
    out: dict[str, bytes] = {}
    for name, mode, fmt in (
        ("palette.png", "P", "PNG"),
        ("grey-alpha.png", "LA", "PNG"),
        ("cmyk.jpg", "CMYK", "JPEG"),
        ("grey.jpg", "L", "JPEG"),
        ("rgba.png", "RGBA", "PNG"),
    ):
        buffer = io.BytesIO()
        rgb.convert(mode).save(buffer, fmt)
        out[name] = buffer.getvalue()
    bgr = cv2.imread(str(hand_jpg))
    out["rgb16.png"] = cv2.imencode(".png", bgr.astype(np.uint16) * 257)[1].tobytes()
    out["grey16.png"] = cv2.imencode(".png", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)[1].tobytes()
    return out


def broken_images(hand_jpg: Path) -> dict[str, bytes]:
    """Files with image names that are not usable images."""
    raw = hand_jpg.read_bytes()
    header_only = raw[:2] + raw[2:200] + b"\xff\xd9"  # end marker present, pixel data missing
    zero_png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0))
    return {
        "empty.png": b"",
        "truncated.jpg": raw[: len(raw) // 2],
        "header-only.jpg": header_only,
        "random.jpg": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "text.png": b"this is not an image\n" * 10,
        "zero-size.png": zero_png,
        "huge-20000x20000.png": png_bomb(),
    }


# ------------------------------------------------------------------------------ running a case


@dataclass
class Outcome:
    code: int  # negative: killed by that signal
    output: str  # stdout and stderr together
    exception: BaseException | None = None  # an exception CliRunner caught (a traceback for a user)


def cli(args: list[str]) -> Outcome:
    """Run in this process (fast; imports are shared)."""
    from signcaps.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(result.exit_code, result.output, exception)


def subprocess_cli(args: list[str], timeout: float = 300) -> Outcome:
    """Run `python -m signcaps` in its own process: a segfault shows as a negative return code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "signcaps", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )
    return Outcome(proc.returncode, proc.stdout + proc.stderr)


def digests(paths: list[Path]) -> dict[str, str]:
    """sha256 of every file under `paths` (files or folders); the proof that nothing was touched."""
    found: dict[str, str] = {}
    for path in paths:
        files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [Path(path)]
        for file in files:
            found[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest() if file.exists() else "missing"
    return found


def attempt(
    command: str,
    case: str,
    run,
    code: int = 1,
    message: str | None = None,
    keep: list[Path] = (),
    absent: list[Path] = (),
    show: str | None = None,
    note: str | None = None,
    cls: str | None = None,
    clean: list[Path] = (),
    lines: int | None = None,
) -> Outcome:
    """Run one case, record it, and assert the rules every bad input must follow.

    The table shows the `error:` line; `show` adds the output line that contains it (e.g. the
    per-file reason before predict's final error), `note` describes a successful run instead.
    `lines`: the `error:` lines expected (default one when it fails; 0 for a quiet exit, EPIPE).
    """
    lines = (1 if code else 0) if lines is None else lines
    before = digests(list(keep))
    outcome = run()
    after = digests(list(keep))
    errors = [line for line in outcome.output.splitlines() if line.startswith(("error:", "interrupted:"))]
    traceback = "Traceback" in outcome.output or outcome.exception is not None
    left = leftovers(list(clean))
    lost = before != after or any(Path(p).exists() for p in absent) or bool(left)
    seen = errors[0] if errors else (outcome.output.strip().splitlines() or [""])[-1]
    shown = [
        line.strip() for line in outcome.output.splitlines() if show and show in line and not line.startswith("error:")
    ]
    if shown:
        seen = f"{shown[0]} → {seen}"
    if note:
        seen = f"({note})"
    RECORDS.append(
        {
            "class": CLASSES[cls] if cls else CLASS["current"],
            "command": command,
            "case": case,
            "exit": outcome.code,
            "message": seen,
            "crashed": outcome.code < 0,
            "traceback": traceback,
            "lost": lost,
            "ok": outcome.code == code
            and not traceback
            and not lost
            and len(errors) == lines
            and (message is None or message in outcome.output),
        }
    )
    detail = f"{command} / {case}: exit {outcome.code}\n{outcome.output}\n{outcome.exception!r}"
    assert outcome.code >= 0, f"killed by signal {-outcome.code}: {detail}"
    assert not traceback, detail
    assert outcome.code == code, detail
    assert len(errors) == lines, detail
    if message is not None:
        assert message in outcome.output, detail
    assert before == after, f"{detail}\nchanged: {sorted(k for k in before if before[k] != after.get(k))}"
    assert not any(Path(p).exists() for p in absent), (
        f"{detail}\nleft behind: {[str(p) for p in absent if Path(p).exists()]}"
    )
    assert not left, f"{detail}\ntemporary files left behind: {left}"
    return outcome


def leftovers(folders: list[Path]) -> list[str]:
    """Temporary files or folders signcaps left below ``folders`` (its names hold TEMP_MARK)."""
    found = []
    for folder in folders:
        if Path(folder).is_dir():
            found += [str(p) for p in Path(folder).rglob("*") if TEMP_MARK in p.name]
    return found


def _class_order(record: dict) -> int:
    return int(record["class"].split(".")[0])


def class_table(records: list[dict]) -> str:
    """Cases per fault class: how many, how many passed, over which commands."""
    lines = ["| fault class | cases | passing | commands |", "| --- | ---: | ---: | --- |"]
    for name in dict.fromkeys(r["class"] for r in sorted(records, key=_class_order)):
        group = [r for r in records if r["class"] == name]
        commands = sorted({r["command"] for r in group})
        lines.append(f"| {name} | {len(group)} | {sum(r['ok'] for r in group)} | "
                     f"{', '.join(f'`{c}`' for c in commands)} |")
    return "\n".join(lines) + "\n"


def table_markdown(records: list[dict]) -> str:
    """The tables of docs/RELIABILITY.md (per class, then per case), with the totals they claim."""
    lines = [class_table(records), "| class | command | case | exit | what the user sees |",
             "| --- | --- | --- | ---: | --- |"]
    for r in sorted(records, key=lambda r: (_class_order(r), r["command"], r["case"])):
        message = re.sub(r"/\S*?/pytest-\d+/[^/\s]+(/?)", r"…\1", r["message"])
        message = message.replace("|", "\\|")
        message = message if len(message) <= 200 else message[:197] + "…"
        case = r["case"].replace("|", "\\|")
        lines.append(f"| {r['class'].split('.')[0]} | `{r['command']}` | {case} | {r['exit']} | {message} |")
    total = len(records)
    summary = (
        f"\n{total} cases over {len({r['command'] for r in records})} commands; "
        f"crashed (signal): {sum(r['crashed'] for r in records)}, printed a traceback: "
        f"{sum(r['traceback'] for r in records)}, lost or changed earlier data: {sum(r['lost'] for r in records)}, "
        f"failed their expectation: {sum(not r['ok'] for r in records)}.\n"
    )
    return "\n".join(lines) + "\n" + summary


START, END = "<!-- bad-input table: start -->", "<!-- bad-input table: end -->"


def write_table(path: str | None) -> None:
    """JSON records for a .json path; else the markdown table, replacing the block between the
    START/END markers when the file has them (how docs/RELIABILITY.md is regenerated)."""
    if not path or not RECORDS:
        return
    target = Path(path)
    if target.suffix == ".json":
        target.write_text(json.dumps(RECORDS, indent=1))
        return
    table = table_markdown(RECORDS)
    text = target.read_text() if target.is_file() else ""
    if START in text and END in text:
        table = text[: text.index(START) + len(START)] + "\n" + table + text[text.index(END) :]
    target.write_text(table)
