"""Faults of round 3 (issue 26), the filesystem, process and server half, by class (docs/RELIABILITY.md):

20. outputs that are not regular files: a device, a FIFO, a socket or a folder where a file is
    wanted is refused in one line before any work, by every output option, and never opened;
21. names signcaps picks in a folder replace only what it wrote there (its record), never a file
    the user named or put there;
22. two writers picking names in one folder never lose a file (exclusive creation);
23. an empty path is an error, with one message, for every path option and argument;
24. the dev server answers a NUL with 400 and never serves a file outside the site folder;
25. a site is checked before exit 0: its model loads on its own (external data embedded);
26. messages say what is wrong: a FIFO or device as --source, a frame too large for a video, an
    image named like a video, --fallback with a pose model.

Every CLI case goes through `badinput.attempt` (exit code, one `error:` line, no traceback, the
files in ``keep`` byte-identical).
"""

from __future__ import annotations

import inspect
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import typing
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
from badinput import ROOT, Outcome, attempt, cli, png_bomb, subprocess_cli
from conftest import DIGITS, digit_images
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.shared
HAND = next(iter(digit_images(3, 1)), DIGITS / "3" / "missing.JPG")


# ------------------------------------------------------------------------------------ helpers


@contextmanager
def never_opened(*fifos: Path, seconds: float = 60):
    """Fail (instead of hanging forever) when the block opens one of ``fifos``: after ``seconds`` a
    watchdog opens each both ways, which releases any open() waiting on it."""
    done, fired = threading.Event(), []

    def watchdog() -> None:
        if not done.wait(seconds):
            fired.append(True)
            for fifo in fifos:
                os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    assert not fired, f"one of {[str(f) for f in fifos]} was opened (the command blocked on it)"


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _socket(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))  # the socket file stays after close
    return path


def _is_devnull_intact() -> bool:
    return stat.S_ISCHR(os.stat("/dev/null").st_mode)


# ------------------------------------------------------------------------ 20. outputs not regular files


def test_check_output_file_refuses_every_kind_but_a_regular_file_without_opening_it(tmp_path):
    """The one check (`outputs.check_output_file`), straight on /dev/null, a FIFO, a socket, a folder
    and symlinks to them: refused, nothing opened, nothing written; a regular file and a new name pass."""
    from signcaps.util.outputs import OutputError, check_output_file, ensure_writable_file

    fifo, sock = _fifo(tmp_path / "fifo"), _socket(tmp_path / "s.sock")
    (tmp_path / "null-link").symlink_to("/dev/null")
    (tmp_path / "folder").mkdir()
    for path, kind in ((Path("/dev/null"), "character device"), (fifo, "FIFO"), (sock, "socket"),
                       (tmp_path / "null-link", "character device"), (tmp_path / "folder", "folder")):
        for check in (check_output_file, ensure_writable_file):
            with never_opened(fifo), pytest.raises(OutputError, match=kind):
                check(path, "-o")
    (tmp_path / "file").write_text("x")
    assert check_output_file(tmp_path / "file", "-o") == tmp_path / "file"
    assert check_output_file(tmp_path / "new", "-o") == tmp_path / "new"
    assert _is_devnull_intact() and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_the_staged_write_never_renames_over_a_fifo(tmp_path):
    """The last guard (`outputs._publish`): even a writer nobody checked first leaves the FIFO, and its
    temporary file goes."""
    from signcaps.util.outputs import OutputError, atomic_write_text

    fifo = _fifo(tmp_path / "out.json")
    with never_opened(fifo), pytest.raises(OutputError, match="FIFO"):
        atomic_write_text(fifo, "{}")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_fifo_in_place_of_the_record_is_never_read(tmp_path):
    """The record `.signcaps-outputs.json` itself a FIFO: it proves nothing (never read) and the claim,
    which would rewrite it after the work, is refused before."""
    from signcaps.util.outputs import RECORD_NAME, OutputError, claim_files, read_record

    record = _fifo(tmp_path / RECORD_NAME)
    with never_opened(record):
        assert read_record(tmp_path) == {}
        with pytest.raises(OutputError, match="FIFO"):
            claim_files(tmp_path, ["openset.json"], "--out")
    assert stat.S_ISFIFO(os.stat(record).st_mode)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["fifo", "socket", "folder", "devnull-link", "dangling-link", "file", "absent"]),
       name=st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=20)
       .filter(lambda n: n not in (".", "..")))
def test_property_an_output_is_a_regular_file_or_absent(tmp_path, kind, name):
    """For any name and any kind of thing already there: accepted exactly when it is a regular file
    or nothing (a dangling symlink is nothing yet); what is there is never changed."""
    from signcaps.util.outputs import OutputError, check_output_file

    folder = Path(tmp_path) / f"case-{time.monotonic_ns()}"
    folder.mkdir()
    path = folder / name
    make = {"fifo": os.mkfifo, "socket": lambda p: _socket(Path(p)), "folder": os.mkdir,
            "devnull-link": lambda p: os.symlink("/dev/null", p), "dangling-link": lambda p: os.symlink("gone", p),
            "file": lambda p: Path(p).write_text("mine"), "absent": lambda _p: None}
    if kind == "socket" and len(os.fsencode(path)) > 100:  # AF_UNIX paths are short
        return
    make[kind](path)
    before = os.lstat(path) if kind != "absent" else None
    if kind in ("file", "absent", "dangling-link"):
        assert check_output_file(path, "-o") == path
    else:
        with pytest.raises(OutputError):
            check_output_file(path, "-o")
    if before is not None:
        after = os.lstat(path)
        assert (after.st_mode, after.st_ino, after.st_mtime_ns) == (before.st_mode, before.st_ino, before.st_mtime_ns)


def test_every_output_option_refuses_what_is_not_a_regular_file(tmp_path, tiny):
    """One line before any work, for every command's output, FIFOs made with os.mkfifo; no hang."""
    t = tmp_path
    fifo = {name: _fifo(t / name) for name in ("m.onnx", "v.mp4", "numbers.txt", "x.png", "dir", "site", "run")}
    (t / "null.mp4").symlink_to("/dev/null")
    sock = _socket(t / "s.onnx")
    int8 = t / "int8"
    int8.mkdir()
    _fifo(int8 / "m.int8.onnx")
    recorded = t / "recorded"  # a FIFO under a name the folder's record lists: still never read
    recorded.mkdir()
    (recorded / "eval-confusion-test.png").write_bytes(b"png")
    from signcaps.util.outputs import record_tree

    record_tree(recorded)
    (recorded / "eval-confusion-test.png").unlink()
    os.mkfifo(recorded / "eval-confusion-test.png")
    ckpt, onnx = tiny["checkpoint"], tiny["onnx"]
    source = ["--source", HAND, "--no-window"]
    cases = [
        ("export", "-o a FIFO", ["export", ckpt, "-o", fifo["m.onnx"]], "FIFO"),
        ("export", "-o /dev/null", ["export", ckpt, "-o", "/dev/null"], "character device"),
        ("export", "-o a socket", ["export", ckpt, "-o", sock], "socket"),
        ("export", "--int8 beside a FIFO named m.int8.onnx", ["export", ckpt, "-o", int8 / "m.onnx", "--int8"],
         "FIFO"),
        ("live", "-o a FIFO", ["live", *source, "-o", fifo["v.mp4"]], "FIFO"),
        ("live", "-o a symlink to /dev/null", ["live", *source, "-o", t / "null.mp4"], "character device"),
        ("live", "--compose-out a FIFO", ["live", *source, "--compose", "--compose-out", fifo["numbers.txt"]],
         "FIFO"),
        ("live", "--compose-out /dev/null", ["live", *source, "--compose", "--compose-out", "/dev/null"],
         "character device"),
        ("live", "--screenshots a FIFO", ["live", *source, "--screenshots", fifo["dir"]], "FIFO"),
        ("explain", "-o a FIFO", ["explain", ckpt, HAND, "-o", fifo["x.png"]], "FIFO"),
        ("eval", "--out a FIFO", ["eval", ckpt, "--out", fifo["dir"]], "FIFO"),
        ("eval", "--out with a FIFO under a recorded name", ["eval", ckpt, "--out", recorded],
         "signcaps did not write"),
        ("robustness", "--out a FIFO", ["robustness", ckpt, "--out", fifo["dir"]], "FIFO"),
        ("calibrate", "--out a FIFO", ["calibrate", onnx, "--out", fifo["dir"]], "FIFO"),
        ("openset", "--out a FIFO", ["openset", onnx, "--out", fifo["dir"]], "FIFO"),
        ("bench variants", "--out a FIFO", ["bench", "variants", ckpt, "--out", fifo["dir"]], "FIFO"),
        ("web build", "the site folder is a FIFO", ["web", "build", fifo["site"], "-m", onnx], "not a folder"),
        ("collect", "--out a FIFO", ["collect", "--label", "3", "--out", fifo["dir"], *source], "folder"),
        ("train", "--run-dir a FIFO", ["train", "--data", tiny["data"], "--run-dir", fifo["run"], "--epochs", "1"],
         "FIFO"),
    ]
    for command, case, args, message in cases:
        with never_opened(*fifo.values(), int8 / "m.int8.onnx", recorded / "eval-confusion-test.png"):
            attempt(command, case, partial(cli, args), message=message, keep=[tiny["data"]], cls="notfile")
        assert all(stat.S_ISFIFO(os.stat(p).st_mode) for p in fifo.values())
    assert _is_devnull_intact() and stat.S_ISSOCK(os.stat(sock).st_mode)


def test_compose_out_to_a_fifo_never_hangs(tmp_path):
    """`live --compose-out FIFO` in its own process, no reader on the FIFO: one line within seconds."""
    fifo = _fifo(tmp_path / "numbers")
    start = time.monotonic()
    outcome = attempt("live", "--compose-out a FIFO without a reader (own process)",
                      lambda: subprocess_cli(["live", "--source", HAND, "--no-window", "--compose-out", fifo],
                                             timeout=120), message="FIFO", cls="notfile")
    assert time.monotonic() - start < 120 and outcome.code == 1


# ------------------------------------------------------------------ 21. names signcaps picks keep their record


def test_a_file_the_user_named_is_never_replaced_under_a_picked_name(tmp_path):
    """`explain -o a-pose.png` (or `export -o m.int8.onnx`) makes the file the user's; a later run
    that picks that name itself (`-o a.png`'s pose figure, `-o m.onnx --int8`) refuses it."""
    from signcaps.util.outputs import OutputError, atomic_write_text, claim_files

    folder = claim_files(tmp_path, ["a.png", "a-pose.png"], "the folder of -o")
    atomic_write_text(folder / "a.png", "derived")  # a pose figure signcaps named: recorded
    claim_files(folder, ["a.png"], "the folder of -o")  # ... so a later run may replace it
    from signcaps.util.outputs import atomic_write

    atomic_write(folder / "a-pose.png", lambda tmp: tmp.write_text("the user's -o"), user_named=True)
    with pytest.raises(OutputError, match="signcaps did not write"):
        claim_files(folder, ["a-pose.png"], "the folder of -o")
    assert (folder / "a-pose.png").read_text() == "the user's -o"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["picked", "named", "edited"]), st.sampled_from(["a", "b", "c"])),
                      min_size=1, max_size=8))
def test_property_a_picked_name_replaces_only_what_signcaps_picked_and_left_unchanged(tmp_path, steps):
    """Any sequence of writes under names signcaps picked, names the user gave (-o) and the user's
    own edits: claiming a name succeeds exactly when its last write was signcaps' own pick, unedited."""
    from signcaps.util.outputs import OutputError, atomic_write, claim_files

    folder = Path(tmp_path) / f"case-{time.monotonic_ns()}"
    folder.mkdir()
    claim_files(folder, [], "--out")
    last: dict[str, str] = {}
    for i, (how, name) in enumerate(steps):
        path = folder / name
        if how == "edited":
            if path.exists():
                path.write_text(f"edited {i}")
                last[name] = how
            continue
        atomic_write(path, lambda tmp, text=f"{how} {i}": tmp.write_text(text), user_named=how == "named")
        last[name] = how
    for name in ("a", "b", "c"):
        if last.get(name, "picked") == "picked":
            claim_files(folder, [name], "--out")
        else:
            with pytest.raises(OutputError):
                claim_files(folder, [name], "--out")


def test_folders_where_signcaps_picks_names_keep_the_users_files(tmp_path, tiny):
    """`openset --out` and `bench variants --out` now keep a record: a user's file under one of their
    names is refused before any work; their own earlier files are replaced."""
    cases = [
        ("openset", "--out holding the user's openset.json", tmp_path / "os" / "openset.json",
         ["openset", tiny["onnx"], "--out", tmp_path / "os"]),
        ("bench variants", "--out holding the user's reference.onnx", tmp_path / "bv" / "reference.onnx",
         ["bench", "variants", tiny["checkpoint"], "--out", tmp_path / "bv"]),
        ("bench variants", "--out holding the user's routing-1.onnx", tmp_path / "bv1" / "routing-1.onnx",
         ["bench", "variants", tiny["checkpoint"], "--out", tmp_path / "bv1", "--routing", "1"]),
        ("eval", "--out holding the user's confusion PNG of an ONNX model (the fresh probe's case)",
         tmp_path / "ev" / f"eval-{Path(tiny['onnx']).stem}-confusion-test.png",
         ["eval", tiny["onnx"], "--out", tmp_path / "ev"]),
    ]
    for command, case, user_file, args in cases:
        user_file.parent.mkdir(parents=True)
        user_file.write_text("the user's own file\n")
        attempt(command, case, partial(cli, args), message="signcaps did not write", keep=[user_file.parent],
                cls="record")


# ------------------------------------------------------------------ 22. two writers picking names in one folder


def _crop() -> np.ndarray:
    return np.full((48, 48, 3), 120, np.uint8)


def test_threads_saving_crops_into_one_label_lose_nothing(tmp_path):
    """Eight writers, the same stamp and the same first index (two `collect` runs in one second): every
    crop gets its own file, none replaced."""
    from signcaps.live.collect import _write_crop

    per_writer, writers = 12, 8
    saved: list[Path] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(per_writer):
            path = _write_crop(tmp_path, "20260101-000000", 0, _crop())
            with lock:
                saved.append(path)

    threads = [threading.Thread(target=run) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    files = sorted(tmp_path.glob("*.png"))
    assert len(saved) == len(set(saved)) == len(files) == per_writer * writers
    assert all(cv2.imread(str(p)) is not None for p in files)
    attempt("collect", f"{writers} threads x {per_writer} crops into one label, same stamp",
            partial(Outcome, 0, f"{len(files)} files"), code=0, cls="race",
            note=f"{len(files)} of {per_writer * writers} crops kept")


RACE_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from signcaps.live.collect import _write_crop
for _ in range(int(sys.argv[2])):
    _write_crop(Path(sys.argv[1]), "20260101-000000", 0, np.full((48, 48, 3), 120, np.uint8))
"""


def test_two_processes_saving_crops_into_one_label_lose_nothing(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", RACE_SCRIPT, str(tmp_path), "20"], env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    files = list(tmp_path.glob("*.png"))
    attempt("collect", "two processes x 20 crops into one label, same stamp",
            partial(Outcome, 0 if len(files) == 40 else 1, f"{len(files)} files"), code=0, cls="race",
            note=f"{len(files)} of 40 crops kept")
    assert len(files) == 40 and not list(tmp_path.glob(".*"))


def test_write_new_falls_back_to_an_exclusive_reservation_without_hard_links(tmp_path, monkeypatch):
    """Where os.link is not supported, the name is reserved with O_EXCL: still never over a file."""
    import errno

    from signcaps.util import outputs

    def no_links(*_args):
        raise OSError(errno.EPERM, "no hard links here")

    monkeypatch.setattr(outputs.os, "link", no_links)
    (tmp_path / "n-0.txt").write_text("taken")
    made = [outputs.write_new(tmp_path, (f"n-{i}.txt" for i in range(10)), lambda t, i=i: t.write_text(str(i)))
            for i in range(3)]
    assert [p.name for p in made] == ["n-1.txt", "n-2.txt", "n-3.txt"]
    assert (tmp_path / "n-0.txt").read_text() == "taken"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n-0.txt", "n-1.txt", "n-2.txt", "n-3.txt"]


# ------------------------------------------------------------------------------------ 23. empty paths


def _path_params() -> list[tuple[list[str], str, list[str]]]:
    """Every (command words, parameter, minimal arguments with '' for that parameter) of the CLI
    whose parameter names a file or folder (a Path, or a text option in config.PATH_OPTIONS)."""
    from typer.models import ArgumentInfo, OptionInfo

    from signcaps.cli import app
    from signcaps.util.config import PATH_OPTIONS

    found = []

    def walk(group, words):
        for command in group.registered_commands:
            name = command.name or command.callback.__name__
            hints = typing.get_type_hints(command.callback)
            params = list(inspect.signature(command.callback).parameters.values())
            for target in params:
                kinds = {hints.get(target.name), *typing.get_args(hints.get(target.name))}
                if Path not in kinds and not (target.name in PATH_OPTIONS and target.name != "label"):
                    continue
                args = []
                for p in params:
                    info = p.default
                    value = "" if p is target else "x"
                    if isinstance(info, ArgumentInfo) and (p is target or info.default is ...):
                        args.append(value)
                    elif isinstance(info, OptionInfo) and (p is target or info.default is ...):
                        args += [info.param_decls[0], value]
                if "--label" in args:
                    args[args.index("--label") + 1] = "3"
                found.append(([*words, name], target.name, args))
        for sub in group.registered_groups:
            walk(sub.typer_instance, [*words, sub.name])

    walk(app, [])
    return found


PATH_PARAMS = _path_params()


@pytest.mark.parametrize(("words", "param", "args"), PATH_PARAMS,
                         ids=[f"{' '.join(w)}:{p}" for w, p, _ in PATH_PARAMS])
def test_an_empty_path_is_an_error_for_every_path_option(tmp_path, monkeypatch, words, param, args):
    """Generated from the CLI itself: every path option and argument of every command, given '',
    says so in one line before any work, and writes nothing (no folder, no temporary one)."""
    monkeypatch.chdir(tmp_path)
    attempt(" ".join(words), f"'' as {param}", partial(cli, [*words, *args]), message="is empty",
            clean=[tmp_path], cls="empty")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["live", "--no-window"], ["collect", "--label", "3", "--out", "o", "--no-window"],
                                     ["bench", "live"]])
def test_a_blank_source_is_not_the_current_folder(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    attempt(" ".join(command[:2] if command[0] == "bench" else command[:1]), "--source ' ' (blank)",
            partial(cli, [*command, "--source", " "]), message="blank", clean=[tmp_path], cls="empty")
    assert list(tmp_path.iterdir()) == []


def test_every_path_parameter_goes_through_the_one_parser():
    """A new Path option cannot forget the rule: `cli._path_value` is the parser of each one."""
    from typer.models import ParameterInfo

    from signcaps.cli import _path_value, app

    def walk(group):
        for command in group.registered_commands:
            hints = typing.get_type_hints(command.callback)
            for p in inspect.signature(command.callback).parameters.values():
                kinds = {hints.get(p.name), *typing.get_args(hints.get(p.name))}
                if isinstance(p.default, ParameterInfo) and Path in kinds:
                    assert p.default.parser is _path_value, (command.callback.__name__, p.name)
        for sub in group.registered_groups:
            walk(sub.typer_instance)

    walk(app)
    assert len(PATH_PARAMS) >= 30


def test_web_build_into_the_current_folder_leaves_nothing(tmp_path, monkeypatch, tiny):
    """`web build .` (empty, or a site built there) is refused: the site is replaced as a whole by a
    rename, which the current folder cannot be; no temporary folder stays."""
    from signcaps.util.outputs import record_tree
    from signcaps.web.site import SITE_MARKER

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    attempt("web build", "'.', an empty current folder", partial(cli, ["web", "build", ".", "-m", tiny["onnx"]]),
            message="current folder", clean=[empty], cls="empty")
    assert list(empty.iterdir()) == []
    site = tmp_path / "site"
    site.mkdir()
    (site / SITE_MARKER).write_text("{}\n")
    record_tree(site)
    monkeypatch.chdir(site)
    attempt("web build", "'.', the current folder is a site", partial(cli, ["web", "build", ".", "-m", tiny["onnx"]]),
            message="current folder", keep=[site], clean=[site], cls="empty")


# ------------------------------------------------------------------------------------ 24. the dev server


def _raw_get(port: int, target: bytes) -> int:
    """The status of a GET sent as raw bytes (urllib refuses a NUL in a URL)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET " + target + b" HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else -1


def test_the_server_refuses_nul_and_never_leaves_the_site(tmp_path, capfd):
    from signcaps.web.site import make_server

    secret = tmp_path / "secret.txt"
    secret.write_text("not the site's\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_text("nor this\n")
    site = tmp_path / "site"
    (site / "models").mkdir(parents=True)
    (site / "index.html").write_text("<html></html>")
    (site / "models" / "model.onnx").write_bytes(b"x")
    (site / "leak.txt").symlink_to(secret)
    (site / "out").symlink_to(tmp_path / "outside")
    (site / "same.html").symlink_to(site / "index.html")  # a link that stays inside is fine
    server = make_server(site, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    cases = {b"/index.html": 200, b"/same.html": 200, b"/models/model.onnx": 200, b"/%00": 400,
             b"/index.html%00.txt": 400, b"/models/%00/x": 400, b"/a\x00b": 400, b"/%ED%A0%80": 400,
             b"/%ff": 400, b"/%C0%AF": 400, b"/\xff": 404,
             b"/leak.txt": 404, b"/out/x.txt": 404, b"/out/": 404, b"/models/../leak.txt": 404,
             b"/%2e%2e/secret.txt": 404}
    try:
        got = {target: _raw_get(port, target) for target in cases}
    finally:
        server.shutdown()
        server.server_close()
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out, captured.err
    for target, expected in cases.items():
        code = got[target]
        shown = target.decode("latin-1").replace("\x00", "\\x00")
        attempt("web serve", f"GET {shown}", partial(Outcome, 0 if code == expected else 1, f"HTTP {code}"),
                code=0, cls="server", note=f"HTTP {code}")


# ------------------------------------------------------------------------------ 25. results checked before exit 0


def _external_data_model(src: Path, folder: Path) -> Path:
    import onnx

    folder.mkdir(parents=True)
    model = onnx.load(str(src))
    path = folder / "model.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
              size_threshold=0)
    return path


def test_a_site_from_a_model_with_external_data_loads(tmp_path, tiny):
    """The page fetches model.onnx alone: the weights are written inside it, and the site's own copy is
    loaded before the site is swapped in."""
    pytest.importorskip("onnx")
    if not (ROOT / "deploy" / "web" / "node_modules").is_dir():
        pytest.skip("web build needs deploy/web/node_modules (npm ci)")
    from signcaps.runtime.classifier import OnnxClassifier

    model = _external_data_model(tiny["onnx"], tmp_path / "ext")
    assert (tmp_path / "ext" / "weights.bin").stat().st_size > 1000
    attempt("web build", "--model with its weights in an ONNX external data file",
            partial(cli, ["web", "build", tmp_path / "site", "-m", model]), code=0, keep=[tmp_path / "ext"],
            cls="result", note="exit 0; the site's model.onnx holds its weights and loads alone")
    site_model = tmp_path / "site" / "models" / "model.onnx"
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "model.onnx").write_bytes(site_model.read_bytes())  # nothing beside it, as the page fetches it
    assert site_model.stat().st_size > (tmp_path / "ext" / "weights.bin").stat().st_size
    assert OnnxClassifier(lone / "model.onnx").classes == OnnxClassifier(tiny["onnx"]).classes
    (weights := tmp_path / "ext" / "weights.bin").rename(tmp_path / "ext" / "gone.bin")
    attempt("web build", "--model whose external data file is missing",
            partial(cli, ["web", "build", tmp_path / "site2", "-m", model]), absent=[tmp_path / "site2"],
            cls="result")
    assert not weights.exists()


def test_the_site_model_check_refuses_a_copy_that_does_not_load(tmp_path, tiny):
    """`site._check_site_model` on a model whose external data is not beside it: one line."""
    pytest.importorskip("onnx")
    from signcaps.web.site import WebBuildError, _check_site_model

    model = _external_data_model(tiny["onnx"], tmp_path / "ext")
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "model.onnx").write_bytes(model.read_bytes())
    with pytest.raises(WebBuildError, match="does not load on its own"):
        _check_site_model(alone / "model.onnx", model)


# ------------------------------------------------------------------------------ 26. messages


def test_messages_say_what_is_wrong(tmp_path, tiny):
    fifo = _fifo(tmp_path / "camera")
    big = tmp_path / "big"
    big.mkdir()
    frame = cv2.resize(cv2.imread(str(HAND)), (9000, 120))
    cv2.imwrite(str(big / "wide.png"), frame)
    (tmp_path / "bomb.mp4").write_bytes(png_bomb())
    cases = [
        ("live", "--source a FIFO", ["live", "--source", fifo, "--no-window"], 1, "is a FIFO"),
        ("live", "--source /dev/null", ["live", "--source", "/dev/null", "--no-window"], 1, "character device"),
        ("collect", "--source a FIFO", ["collect", "--label", "3", "--out", tmp_path / "c", "--source", fifo,
                                        "--no-window"], 1, "is a FIFO"),
        ("live", "-o with 9000-pixel-wide frames", ["live", "--source", big, "--no-window", "-o",
                                                    tmp_path / "wide.mp4"], 1, "larger than an mp4v video"),
    ]
    for command, case, args, code, message in cases:
        with never_opened(fifo):
            attempt(command, case, partial(cli, args), code=code, message=message, cls="message",
                    absent=[tmp_path / "c" / "3", tmp_path / "wide.mp4"], clean=[tmp_path])
    start = time.monotonic()
    outcome = attempt("live", "a PNG bomb named .mp4 (read as the image it is, with the image limits)",
                      partial(cli, ["live", "--source", tmp_path / "bomb.mp4", "--no-window"]), code=1,
                      message="could be read (1 unreadable", cls="message",
                      note="its header's 20000x20000 pixels refused before decoding; no frame read: one error line")
    assert time.monotonic() - start < 60 and outcome.code == 1


def test_explain_fallback_on_a_pose_model_says_why(tmp_path, tiny_pose_models):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 200, np.uint8))
    outcome = attempt("explain", "--fallback with a pose model, no hand in the photo",
                      partial(cli, ["explain", tiny_pose_models["pose-capsnet"]["checkpoint"], blank, "--fallback",
                                    "-o", tmp_path / "x.png"]),
                      message="--fallback does not apply", absent=[tmp_path / "x.png"], cls="message")
    assert "no hand found" not in outcome.output
