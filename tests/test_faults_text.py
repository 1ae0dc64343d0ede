"""Faults on the text side, by class (issue 26, docs/RELIABILITY.md classes 16-18 and 25):

16. control bytes in names: file names, class names from a model's metadata and error lines reach
    the terminal through `util.text.printable` only (escape sequences, C1 bytes, bidi overrides
    escaped; rich markup and emoji codes shown as written);
17. names that are not UTF-8 (any bytes on Linux): fingerprinted as bytes, shown escaped, through
    prepare, train, eval and export;
18. standard output closed, full, gone (EPIPE) or ASCII-only: `util.streams`' one writer, one line
    and exit 1, a quiet exit 1 for EPIPE, escapes and a note for an encoding, never a lost table
    with exit 0;
25. library noise: figures never warn about missing glyphs and never fail on a name.

Cases go through `badinput.attempt` (recorded for the table of docs/RELIABILITY.md).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from badinput import ROOT, Outcome, attempt, cli
from conftest import DIGITS, TINY_CNN, digit_images
from hypothesis import example, given, settings
from hypothesis import strategies as st

from signcaps.util.text import printable

HAND = next(iter(digit_images(3, 1)), DIGITS / "3" / "missing.JPG")
DEFAULT_MODEL = ROOT / "signcaps" / "resources" / "default_model.onnx"
# What must never reach a terminal raw: ESC, CSI as one C1 byte, BEL, a bidi override, a lone surrogate.
RAW = re.compile("[\x1b\x9b\x07\u202e\u2066\ud800-\udfff]")
HOSTILE = {  # a file name -> what the terminal must show of it
    "clear\x1b[2Jscreen.png": "clear\\x1b[2Jscreen.png",
    "c1\x9b31mred.png": "c1\\x9b31mred.png",
    "bidi\u202egnp.exe.png": "bidi\\u202egnp.exe.png",
    "[red]markup[bold].png": "[red]markup[bold].png",
    ":smile:.png": ":smile:.png",
}


# ------------------------------------------------------------------------ 16. control bytes


@settings(max_examples=300, deadline=None)
@given(st.text())
@example("\x1b]8;;http://x\x07link\x1b]8;;\x07")
@example("\udcff\udc80 not utf-8")
def test_printable_escapes_every_control_and_is_idempotent(text: str) -> None:
    """Nothing unsafe survives, the result always encodes as UTF-8, a second pass changes nothing,
    and text without controls (letters of any script) is left as it is."""
    shown = printable(text)
    assert not re.search("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                         "\ud800-\udfff]", shown)
    shown.encode("utf-8")
    assert printable(shown) == shown
    if not re.search("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]",
                     text):
        assert shown == text


def test_printable_shows_undecodable_bytes_as_the_bytes() -> None:
    assert printable(os.fsdecode(b"caf\xe9")) == "caf\\xe9"
    assert printable(b"caf\xe9.jpg") == "caf\\xe9.jpg"
    assert printable("a\nb", lines=True) == "a\nb" and printable("a\nb") == "a\\x0ab"


@pytest.mark.shared
def test_file_names_in_predict_tables_and_lines_are_escaped(tmp_path: Path) -> None:
    """Unreadable files (no detector work) with hostile names: the table and the per-file lines
    show every name escaped and markup as written; nothing raw reaches the terminal."""
    for name in HOSTILE:
        (tmp_path / name).write_bytes(b"not an image")
    outcome = attempt("predict", "file names with escape sequences, C1, bidi, markup, emoji codes",
                      lambda: cli(["predict", tmp_path]), code=1, message="could be classified", cls="r3-control")
    assert not RAW.search(outcome.output), outcome.output
    for expected in HOSTILE.values():
        assert re.search(re.escape(expected) + " *│", outcome.output)  # the table
        assert f"{expected}: unreadable" in outcome.output  # the per-file line


def hostile_model(tmp_path: Path, classes: list[str]) -> Path:
    """The shipped model with its class names replaced in the metadata (graph untouched)."""
    import onnx

    from signcaps.runtime.classifier import META_KEY

    model = onnx.load(str(DEFAULT_MODEL))
    entry = next(p for p in model.metadata_props if p.key == META_KEY)
    meta = json.loads(entry.value)
    meta["classes"] = classes
    entry.value = json.dumps(meta)
    path = tmp_path / "hostile.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.shared
def test_class_names_from_model_metadata_are_escaped(tmp_path: Path) -> None:
    classes = [f"{d}\x1b[2J" if d % 2 else f"{d}\u202e[b]" for d in range(10)]
    model = hostile_model(tmp_path, classes)
    (tmp_path / "x.png").write_bytes(b"not an image")
    outcome = attempt("predict", "class names with escape sequences in the model's metadata",
                      lambda: cli(["predict", tmp_path / "x.png", "--model", model, "--wide"]), code=1,
                      cls="r3-control")
    assert not RAW.search(outcome.output)
    assert "1\\x1b[2J" in outcome.output and "0\\u202e[b]" in outcome.output


def test_error_lines_escape_the_names_they_quote(tmp_path: Path) -> None:
    missing = tmp_path / "no\x1b[31msuch\u202e.jpg"
    outcome = attempt("predict", "a missing path with an escape sequence, in the error line",
                      lambda: cli(["predict", missing]), code=1, cls="r3-control")
    assert not RAW.search(outcome.output) and "no\\x1b[31msuch\\u202e.jpg" in outcome.output


# ------------------------------------------------------------------------ 17. names that are not UTF-8


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\0" not in b
                                                           and b not in (b".", b"..")),
                min_size=1, max_size=4, unique=True))
def test_fingerprint_takes_any_bytes_and_keeps_utf8_names_unchanged(tmp_path_factory, names: list[bytes]) -> None:
    """Any file name Linux allows is fingerprinted (as its bytes); for names that are UTF-8 the
    digest is the one the text formula gave before, so no cache or model fingerprint changes."""
    import hashlib

    from signcaps.data.folders import FolderScan, fingerprint

    root = tmp_path_factory.mktemp("fp")
    files = []
    for name in names:
        path = Path(os.fsdecode(os.path.join(os.fsencode(root), name)))
        path.write_bytes(name)
        files.append((path, 0))
    scan = FolderScan(root, ["a"], files)
    value = fingerprint(scan)
    assert re.fullmatch("[0-9a-f]{16}", value)
    if all(_is_utf8(n) for n in names):
        from signcaps.util.outputs import file_digest

        digest = hashlib.sha256()
        for path, _ in files:
            digest.update(f"{path.relative_to(root).as_posix()}|a|{file_digest(path)}\n".encode())
        assert value == digest.hexdigest()[:16]


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.shared
def test_a_dataset_with_names_that_are_not_utf8_trains_evaluates_and_exports(tmp_path: Path) -> None:
    """A class folder `b\\xe9` and files `x\\xff<n>.jpg` (Latin-1 names on a UTF-8 system): prepare,
    train, eval and export run to the end; the names are shown escaped."""
    root = Path(os.fsdecode(os.fsencode(tmp_path / "data")))
    odd_class = os.fsdecode(b"b\xe9")
    for digit, folder in ((0, "0"), (1, odd_class)):
        (root / folder).mkdir(parents=True)
        for k, image in enumerate(digit_images(digit, 4)):
            shutil.copy(image, root / folder / os.fsdecode(b"x\xff%d.jpg" % k))
    cache, run = tmp_path / "cache", tmp_path / "run"
    prepared = attempt("data prepare", "class folder and file names that are not UTF-8",
                       lambda: cli(["data", "prepare", "--src", root, "--set", f"data.cache_dir={cache}"]),
                       code=0, note="prepared; the class shown as b\\xe9", cls="r3-bytes")
    assert "b\\xe9" in prepared.output and not RAW.search(prepared.output)
    train = ["train", "--data", root, "--run-dir", run, "--epochs", "1", "--device", "cpu", "--model", "cnn",
             "--set", TINY_CNN, "--set", "data.split=stratified", "--set", "data.val_fraction=0.25",
             "--set", "data.test_fraction=0.25", "--set", f"data.cache_dir={cache}", "--set", "augment.enabled=false"]
    attempt("train", "class folder and file names that are not UTF-8", lambda: cli(train), code=0,
            note="trained; confusion plot labelled b\\xe9", cls="r3-bytes")
    evaluated = attempt("eval", "class folder and file names that are not UTF-8",
                        lambda: cli(["eval", run / "best.pt", "--data", root, "--out", tmp_path / "eval"]),
                        code=0, note="evaluated", cls="r3-bytes")
    assert "b\\xe9" in evaluated.output
    attempt("export", "a class name that is not UTF-8 (ONNX strings must be)",
            lambda: cli(["export", run / "best.pt", "-o", tmp_path / "m.onnx", "--data", root]), code=0,
            note="exported; the metadata keeps the name", cls="r3-bytes")
    from signcaps.runtime.classifier import load_classifier

    assert odd_class in load_classifier(tmp_path / "m.onnx").classes


# ------------------------------------------------------------------------ 18. standard output


def run_with_stdout(args: list, stdout: str, env: dict | None = None, timeout: float = 120) -> Outcome:
    """`python -m signcaps` with its standard output full (/dev/full), closed (`>&-`), or a pipe whose
    reader is gone (EPIPE); stderr captured."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-m", "signcaps", *map(str, args)]
    if stdout == "full":
        with open("/dev/full", "w") as full:
            proc = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, env=environ,
                                  cwd=ROOT, timeout=timeout)
    elif stdout == "closed":
        proc = subprocess.run(command, stderr=subprocess.PIPE, text=True, env=environ, cwd=ROOT, timeout=timeout,
                              preexec_fn=lambda: os.close(1))
    elif stdout == "gone":
        read, write = os.pipe()
        os.close(read)
        try:
            proc = subprocess.run(command, stdout=write, stderr=subprocess.PIPE, text=True, env=environ, cwd=ROOT,
                                  timeout=timeout)
        finally:
            os.close(write)
    else:
        proc = subprocess.run(command, capture_output=True, text=True, env=environ, cwd=ROOT, timeout=timeout)
        return Outcome(proc.returncode, proc.stdout + proc.stderr)
    return Outcome(proc.returncode, proc.stderr)


@pytest.mark.parametrize("stdout", ["full", "closed", "gone"])
@pytest.mark.parametrize("json_out", [False, True])
def test_a_failing_stdout_is_one_line_and_exit_1(stdout: str, json_out: bool) -> None:
    """A table or JSON that cannot be delivered is never exit 0: one line (quiet for EPIPE: the reader
    asked for no more), and no "Exception ignored" from Python's flush at exit."""
    args = ["models", "list", *(["--json"] if json_out else [])]
    kind = "JSON" if json_out else "table"
    message = {"full": "No space left on device", "closed": "standard output is closed", "gone": None}[stdout]
    outcome = attempt("models list", f"{kind} to a stdout that is {stdout}", lambda: run_with_stdout(args, stdout),
                      code=1, message=message, lines=0 if stdout == "gone" else 1, cls="r3-stdout")
    assert "Exception ignored" not in outcome.output
    if stdout == "gone":
        assert outcome.output.strip() == ""


@pytest.mark.parametrize("stdout", ["full", "closed"])
@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_to_a_failing_stdout_are_one_line(stdout: str, flag: str) -> None:
    """Printed outside any command (typer's help, the eager --version): the same one writer."""
    attempt(flag, f"{flag} to a stdout that is {stdout}", lambda: run_with_stdout([flag], stdout), code=1,
            cls="r3-stdout")


@pytest.mark.shared
def test_an_ascii_stdout_gets_escapes_and_one_note(tmp_path: Path) -> None:
    """PYTHONIOENCODING=ascii: the table is printed whole, the name that ASCII cannot hold as an
    escape, one note on stderr; exit 0 because nothing was lost."""
    shutil.copy(HAND, tmp_path / "mañana-✋.jpg")
    outcome = attempt("predict", "a non-ASCII file name to an ASCII-only stdout (PYTHONIOENCODING=ascii)",
                      lambda: run_with_stdout(["predict", tmp_path], "capture", env={"PYTHONIOENCODING": "ascii"}),
                      code=0, note="table printed, ma\\xf1ana-\\u270b.jpg, one note", cls="r3-stdout")
    assert "ma\\xf1ana-\\u270b.jpg" in outcome.output
    assert outcome.output.count("note: standard output's encoding (ascii)") == 1


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_the_guarded_writer_never_raises_on_an_encoding(text: str) -> None:
    """Any text, surrogates included, reaches an ASCII stream as ASCII, none of it dropped."""
    from signcaps.util.streams import GuardedStream

    buffer = io.BytesIO()
    target = io.TextIOWrapper(buffer, encoding="ascii", errors="strict")
    stream = GuardedStream("stderr", lambda: target)  # stderr: the note goes nowhere here
    stream.write(printable(text, lines=True))
    written = buffer.getvalue().decode("ascii")
    assert len(written) >= len(text.replace("\n", ""))


# ------------------------------------------------------------------------ 25. library noise


def test_figures_with_names_in_any_script_draw_without_warnings(tmp_path: Path) -> None:
    """Class names in scripts the fonts lack, control bytes, undecodable bytes and `$`: no
    missing-glyph warning, no mathtext error, and every label says something."""
    from signcaps.util.report import plot_confusion, plot_label

    classes = ["手", "ཀ", "é", "я", "$x^$", os.fsdecode(b"b\xe9"), "a\x1bb", "\u202eexe"]
    report = {"confusion": [[1 if i == j else 0 for j in range(len(classes))] for i in range(len(classes))],
              "classes": classes, "accuracy": 1.0, "samples": len(classes)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_confusion(report, tmp_path / "c.png", "names in other scripts")
    assert not [w for w in caught if "Glyph" in str(w.message) or "missing from font" in str(w.message)], caught
    assert (tmp_path / "c.png").stat().st_size > 0
    assert plot_label("é") == "é" and plot_label("$x$") == r"\$x\$" and plot_label("a\x1bb") == "a\\x1bb"
    assert plot_label(os.fsdecode(b"b\xe9")) == "b\\xe9"
    assert all(plot_label(c) for c in classes)


@pytest.mark.shared
def test_opencv_never_gets_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    """OpenCV turns a path into UTF-8 and crashed (SIGSEGV) on Latin-1 names: images are encoded in
    memory and written by Python (a label folder `l\\xe9` takes crops); videos, which OpenCV must open
    by name, are refused in one line. Subprocesses, so a crash shows as a signal."""
    import cv2
    from badinput import subprocess_cli

    clip = tmp_path / "clip.avi"
    frame = cv2.resize(cv2.imread(str(HAND)), (320, 240))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(8):
        writer.write(frame)
    writer.release()
    latin = os.fsdecode(b"l\xe9")
    out = tmp_path / "collected"
    attempt("collect", "a --label that is not UTF-8 (the crops' folder)",
            lambda: subprocess_cli(["collect", "--label", latin, "--out", out, "--source", clip, "--no-window",
                                    "--max", "2"]), code=0, note="2 crops saved in l\\xe9/", cls="r3-bytes")
    assert len(list((out / latin).glob("*.png"))) == 2
    attempt("live", "-o a video name that is not UTF-8",
            lambda: subprocess_cli(["live", "--source", clip, "--no-window", "-o", tmp_path / f"{latin}.avi"]),
            code=1, message="not UTF-8", cls="r3-bytes")
    shutil.copy(clip, tmp_path / f"c{latin}.avi")
    attempt("live", "--source a video name that is not UTF-8",
            lambda: subprocess_cli(["live", "--source", tmp_path / f"c{latin}.avi", "--no-window"]),
            code=1, message="not UTF-8", cls="r3-bytes")
