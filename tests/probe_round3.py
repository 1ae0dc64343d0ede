"""A hostile probe of issue 26's thirteen classes, rerunnable: each case runs the real CLI
(`python -m signcaps` in its own process, with a time limit) and records what the user got:

    ok          it did what it should (a one-line refusal where that is right, a result where it is not)
    one-line    (part of ok) the refusal: exactly one `error:` line, no traceback
    traceback   a Python traceback reached the user
    hang        it ran past its time limit
    lost data   a file or device the user owned changed, or a device/FIFO was replaced
    bad         anything else: exit 0 with a broken result, a raw control byte on the terminal, a
                misleading message, several error lines

Run it (about 20 minutes on 2 busy cores; needs ../shared; a case past its time limit is run once
more with three times the limit before it counts as a hang):

    PYTHONPATH=$PWD .venv/bin/python tests/probe_round3.py --out docs/probe-round3.md [--json FILE] [--only CLASS]

It writes the table that docs/RELIABILITY.md quotes (class summary, then every case). Not collected
by pytest (the name has no test_ prefix): the suite's own cases live in tests/test_faults_*.py.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from conftest import DIGITS, HAND_MODEL, TINY_CNN, TINY_PARAMS  # noqa: E402

ROOT = HERE.parent
DEFAULT_MODEL = ROOT / "signcaps" / "resources" / "default_model.onnx"
BAR = re.compile("━|eta \\d|^[┏┃┡└│╭╰]")  # progress bars and table borders: not what a case "says"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # newline and tab are layout
CLASSES = {
    1: "outputs that are devices or FIFOs", 2: "folders where signcaps picks names",
    3: "two processes writing one place", 4: "control bytes in names on a terminal",
    5: "names that are not UTF-8", 6: "stdout closed, full, gone or ASCII-only",
    7: "the dev server: NUL and symlinks", 8: "exit 0 with a broken or empty result", 9: "hangs on FIFOs",
    10: "empty paths", 11: "unchecked names", 12: "misleading messages", 13: "library noise",
}
OTHER_HALF = {1, 2, 3, 7, 9, 10, 12}  # issue 26's filesystem half (another branch); 8: its site-model case


SLOW = {"factor": 1}  # time limits x this (a retry); $SIGNCAPS_PROBE_SLOW scales them all on a busy machine


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    hung: bool = False

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def errors(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("error:")]


@dataclass
class Case:
    cls: int
    command: str
    case: str
    run: Callable[[], Run]
    expect: str = "error"  # error | ok | quiet (EPIPE: no output, not 0) | any (ok or one line)
    keep: list[Path] = field(default_factory=list)  # files whose bytes must not change
    kinds: list[Path] = field(default_factory=list)  # FIFOs/devices that must stay what they are
    check: Callable[[Run], str | None] | None = None  # extra rule: a reason it is bad, or None
    other_half: bool = False


def env(**extra: str) -> dict[str, str]:
    base = {**os.environ, "PYTHONPATH": str(ROOT), "SIGNCAPS_HAND_MODEL": str(HAND_MODEL),
            "SIGNCAPS_DATA_DIR": str(DIGITS.parent), "SIGNCAPS_WORKERS": "1", "COLUMNS": "200"}
    return {**base, **extra}


def signcaps(*args: object, stdout: str = "pipe", timeout: float = 90, cwd: Path | None = None,
             environ: dict | None = None) -> Run:
    """`python -m signcaps ARGS`; stdout 'pipe' (captured), 'full' (/dev/full), 'closed' (>&-), 'gone'
    (a pipe whose reader has closed)."""
    command = [sys.executable, "-m", "signcaps", *[a if isinstance(a, bytes) else str(a) for a in args]]
    timeout *= SLOW["factor"] * float(os.environ.get("SIGNCAPS_PROBE_SLOW", "1"))
    kwargs = dict(stderr=subprocess.PIPE, env=environ or env(), cwd=cwd or ROOT, timeout=timeout)
    read = write = None
    try:
        if stdout == "full":
            kwargs["stdout"] = open("/dev/full", "wb")
        elif stdout == "closed":
            kwargs["preexec_fn"] = lambda: os.close(1)
        elif stdout == "gone":
            read, write = os.pipe()
            os.close(read)
            kwargs["stdout"] = write
        else:
            kwargs["stdout"] = subprocess.PIPE
        proc = subprocess.run(command, **kwargs)
        out = proc.stdout.decode("utf-8", "replace") if isinstance(proc.stdout, bytes) else ""
        return Run(proc.returncode, out, proc.stderr.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired as exc:
        text = lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else ""  # noqa: E731
        return Run(-9, text(exc.stdout), text(exc.stderr), hung=True)
    finally:
        if write is not None:
            os.close(write)
        if hasattr(kwargs.get("stdout"), "close"):
            kwargs["stdout"].close()


def digest(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "dangling"
    if not path.exists():
        return "missing"
    if path.is_dir():
        return "dir:" + ",".join(sorted(f"{p.relative_to(path)}={digest(p)}" for p in path.rglob("*") if p.is_file()))
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        return f"kind:{stat.S_IFMT(mode)}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def judge(case: Case, run: Run, before: dict, kinds_before: dict) -> tuple[str, str]:
    """(outcome, what the user saw)."""
    said = [line for line in run.output.strip().splitlines() if line.strip() and not BAR.search(line)]
    seen = (run.errors[0] if run.errors else (said or [""])[-1])[:160]
    if run.hung:
        return "hang", f"still running after the limit: {seen}"
    if "Traceback" in run.output:
        last = [line for line in run.output.splitlines() if line and not line.startswith(" ")]
        return "traceback", (last[-1] if last else "Traceback")[:160]
    if run.code < 0:
        return "bad", f"killed by signal {-run.code}"
    after = {p: digest(p) for p in case.keep}
    kinds_after = {p: (stat.S_IFMT(os.lstat(p).st_mode) if os.path.lexists(p) else None) for p in case.kinds}
    if after != before or kinds_after != kinds_before:
        changed = [str(p) for p in case.keep if before[p] != after[p]] + \
                  [str(p) for p in case.kinds if kinds_before[p] != kinds_after[p]]
        return "lost data", f"changed: {', '.join(Path(c).name for c in changed)}; {seen}"
    if RAW.search(run.output):
        return "bad", f"raw control byte on the terminal: {RAW.search(run.output).group()!r}"
    if case.check is not None:
        reason = case.check(run)
        if reason:
            return "bad", f"{reason}: {seen}"
    if case.expect == "error":
        if run.code == 0:
            return "bad", f"exit 0: {seen}"
        if len(run.errors) != 1:
            return "bad", f"{len(run.errors)} error lines, exit {run.code}: {seen}"
        return "one-line", seen
    if case.expect == "quiet":
        if run.code == 0:
            return "bad", "exit 0 with the output undelivered"
        return ("ok", "quiet exit") if not run.output.strip() else ("bad", f"not quiet: {seen}")
    if case.expect == "ok":
        return ("ok", seen) if run.code == 0 and not run.errors else ("bad", f"exit {run.code}: {seen}")
    if run.code == 0 and not run.errors:
        return "ok", seen
    return ("one-line", seen) if len(run.errors) == 1 else ("bad", f"exit {run.code}, {len(run.errors)} errors: {seen}")


# ------------------------------------------------------------------------------ fixtures


class World:
    """Everything the cases use, made once in a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = self.dataset(root / "digits", {str(d): 4 for d in range(10)})
        self.hand = self.data / "3" / sorted(os.listdir(self.data / "3"))[0]
        self.fifo = self.make_fifo("fifo")
        self.device = self.make_device("null-device")
        self.video = root / "clip.avi"
        self.write_video(self.video)
        self.run = root / "run"
        self.cache = root / "cache"
        onnx_path = root / "tiny.onnx"
        for made, step in ((self.run / "best.pt", lambda: self.train(self.data, self.run, timeout=1800)),
                           (onnx_path, lambda: signcaps("export", self.run / "best.pt", "-o", onnx_path,
                                                        "--data", self.data, timeout=1800))):
            result = step()
            if not made.is_file():  # every case needs these: stop here rather than judge 150 cases on nothing
                raise SystemExit(f"probe fixture failed ({made.name}): exit {result.code}\n{result.output[-2000:]}")
        self.onnx = root / "tiny.onnx"

    def dataset(self, root: Path, layout: dict, names: Callable[[int, str], str] | None = None) -> Path:
        for folder, count in layout.items():
            (root / folder).mkdir(parents=True, exist_ok=True)
            digit = Path(folder).name if Path(folder).name.isdigit() else "0"
            for k, image in enumerate(sorted((DIGITS / digit).glob("*.JPG"))[: int(count)]):
                name = names(k, image.name) if names else image.name
                shutil.copy(image, Path(os.fsdecode(os.path.join(os.fsencode(root / folder), os.fsencode(name)))))
        return root

    def make_fifo(self, name: str) -> Path:
        path = self.root / name
        os.mkfifo(path)
        return path

    def make_device(self, name: str) -> Path | None:
        path = self.root / name
        try:  # a copy of /dev/null's node in our own folder: replacing it harms nothing
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except OSError:
            return None
        return path

    def write_video(self, path: Path) -> None:
        frame = cv2.resize(cv2.imread(str(self.hand)), (320, 240))
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
        for _ in range(12):
            writer.write(frame)
        writer.release()

    def train_args(self, data: Path, run: Path) -> list:
        return ["train", "--data", data, "--run-dir", run, "--epochs", "1", "--device", "cpu", "--model", "cnn",
                "--set", TINY_CNN, "--set", "data.split=stratified", "--set", "data.val_fraction=0.25",
                "--set", "data.test_fraction=0.25", "--set", f"data.cache_dir={self.cache}",
                "--set", "augment.enabled=false"]

    def train(self, data: Path, run: Path, timeout: float = 300) -> Run:
        return signcaps(*self.train_args(data, run), timeout=timeout)

    def fresh(self, name: str) -> Path:
        path = self.root / "cases" / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def hostile_model(world: World, name: str, classes: list[str]) -> Path:
    import onnx

    from signcaps.runtime.classifier import META_KEY

    model = onnx.load(str(DEFAULT_MODEL))
    entry = next(p for p in model.metadata_props if p.key == META_KEY)
    meta = json.loads(entry.value)
    meta["classes"] = classes
    entry.value = json.dumps(meta)
    path = world.root / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def checkpoint(world: World) -> Path:
    import torch

    from signcaps.models.checkpoint import save_checkpoint
    from signcaps.models.registry import build_model
    from signcaps.util.config import recipe_from_dict

    recipe = recipe_from_dict({"data": {"root": str(DIGITS)}, "model": {"name": "capsnet", "params": TINY_PARAMS}})
    torch.manual_seed(0)
    path = world.root / "caps.pt"
    save_checkpoint({"recipe": recipe.to_dict(), "classes": [str(i) for i in range(10)], "version": "probe",
                     "data_fingerprint": "none", "model_state": build_model(recipe.model, recipe.crop, 10).state_dict(),
                     "epoch": 0, "val_acc": 0.0}, path)
    return path


# ------------------------------------------------------------------------------ the cases


def cases(w: World, only: set[int] | None = None) -> list[Case]:
    """Every case; the costly fixtures of a class (a site, a second run) only when it is chosen."""
    out: list[Case] = []
    wanted = lambda number: not only or number in only  # noqa: E731
    caps = checkpoint(w)  # explain needs a capsule network (the tiny run is a CNN)
    add = out.append
    dev = w.device

    # 1. outputs that are devices or FIFOs: refused before work; the node stays what it is
    for kind, target in (("a FIFO", w.fifo), ("a device node", dev)):
        if target is None:
            continue
        add(Case(1, "export", f"-o {kind}", lambda t=target: signcaps("export", w.run / "best.pt", "-o", t, timeout=30),
                 kinds=[target]))
        add(Case(1, "explain", f"-o {kind}", lambda t=target: signcaps("explain", caps, w.hand, "-o", t,
                                                                        timeout=30), kinds=[target]))
        add(Case(1, "live", f"-o {kind}", lambda t=target: signcaps("live", "--source", w.video, "-o", t,
                                                                     "--no-window", timeout=30), kinds=[target]))
        add(Case(1, "robustness", f"--out {kind}", lambda t=target: signcaps("robustness", w.run / "best.pt", "--data",
                                                                              w.data, "--out", t, timeout=30),
                 kinds=[target]))
        add(Case(1, "eval", f"--out {kind}", lambda t=target: signcaps("eval", w.onnx, "--data", w.data, "--out", t,
                                                                        timeout=30), kinds=[target]))
        add(Case(1, "web build", f"site {kind}", lambda t=target: signcaps("web", "build", t, "--model", w.onnx,
                                                                            timeout=30), kinds=[target]))
    add(Case(1, "data prepare", "the cache folder is a FIFO",
             lambda: signcaps("data", "prepare", "--src", w.data, "--set", f"data.cache_dir={w.fifo}", timeout=30),
             kinds=[w.fifo]))
    add(Case(1, "train", "--run-dir a FIFO", lambda: signcaps(*w.train_args(w.data, w.fifo), timeout=30),
             kinds=[w.fifo]))
    link = w.root / "link-to-fifo.onnx"
    link.symlink_to(w.fifo)
    add(Case(1, "export", "-o a symlink to a FIFO",
             lambda: signcaps("export", w.run / "best.pt", "-o", link, timeout=30), kinds=[link, w.fifo]))

    # 2. folders where signcaps picks names: a user's file there is never replaced
    for command, args, name in (
        ("openset", lambda d: ["openset", w.onnx, "--set", f"data.root={w.data}", "--set", "data.split=stratified",
                               "--set", "negatives.root=", "--out", d], "openset-roc.png"),
        ("openset", lambda d: ["openset", w.onnx, "--set", f"data.root={w.data}", "--set", "data.split=stratified",
                               "--set", "negatives.root=", "--out", d], "openset.json"),
        ("eval", lambda d: ["eval", w.onnx, "--data", w.data, "--out", d], "eval-tiny-confusion-test.png"),
        ("calibrate", lambda d: ["calibrate", w.onnx, "--data", w.data, "--out", d], "calibration.json"),
        ("robustness", lambda d: ["robustness", w.run / "best.pt", "--data", w.data, "--out", d], "robustness.json"),
    ):
        def run(args=args, name=name, command=command) -> Run:
            return signcaps(*args(folder_for[(command, name)]), timeout=240)
        folder = w.fresh(f"owned-{command}-{name}")
        (folder / name).write_text("the user's own file\n")
        folder_for[(command, name)] = folder
        add(Case(2, command, f"--out holds the user's {name}", run, expect="any", keep=[folder / name]))
    pose = w.fresh("explain-pose")
    (pose / "mine-pose.png").write_bytes(b"the user's picture")
    add(Case(2, "explain", "-o mine.png beside the user's mine-pose.png",
             lambda: signcaps("explain", caps, w.hand, "-o", pose / "mine.png", timeout=120),
             expect="any", keep=[pose / "mine-pose.png"]))

    # 3. two processes writing one place
    def two_exports() -> Run:
        target = w.fresh("race-export") / "m.onnx"
        procs = [subprocess.Popen([sys.executable, "-m", "signcaps", "export", str(w.run / "best.pt"), "-o",
                                   str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), cwd=ROOT)
                 for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
        text = "".join(o.decode() + e.decode() for o, e in outs)
        loadable = subprocess.run([sys.executable, "-c", f"import onnx; onnx.load({str(target)!r})"],
                                  capture_output=True).returncode == 0
        return Run(0 if loadable and 0 in codes else 1, text if loadable else text + "\nerror: result not loadable", "")
    add(Case(3, "export", "two exports to one -o at once", two_exports, expect="ok",
             check=lambda r: None if r.output.count("error:") <= 1 else "both failed"))

    def two_collects() -> Run:
        target = w.fresh("race-collect")
        args = ["collect", "--label", "3", "--out", str(target), "--source", str(w.video), "--no-window", "--json"]
        procs = [subprocess.Popen([sys.executable, "-m", "signcaps", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env(), cwd=ROOT) for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        saved = 0
        for o, _ in outs:
            try:
                saved += json.loads(o.decode().strip().splitlines()[-1]).get("saved", 0)
            except (ValueError, IndexError):
                pass
        files = len(list((target / "3").glob("*"))) if (target / "3").is_dir() else 0
        text = "".join(o.decode() + e.decode() for o, e in outs)
        ok = files == saved
        return Run(0 if ok else 1, f"saved {saved} reported, {files} on disk", "" if ok else
                   f"\nerror: lost {saved - files} crop(s)\n" + text[-300:])
    add(Case(3, "collect", "two collects into one label at once", two_collects, expect="ok"))

    # 4. control bytes in names
    hostile = {"ESC clear screen": "a\x1b[2Jb.png", "ESC colour": "c\x1b[31mred.png", "OSC title + BEL":
               "t\x1b]0;owned\x07.png", "OSC 8 link": "\x1b]8;;http:x\x1b\\link\x1b]8;;\x1b\\.png",
               "C1 CSI byte": "c1\x9b2J.png", "carriage return": "over\rwrite.png", "backspace": "b\x08\x08ack.png",
               "bidi override": "bidi\u202egnp.exe.png", "bidi isolate": "iso\u2066late.png",
               "rich markup": "[red]markup[bold].png", "emoji code": ":smile:.png", "DEL": "del\x7f.png",
               "newline": "new\nline.png", "tab": "ta\tb.png"}
    for label, name in hostile.items():
        folder = w.fresh(f"hostile-{len(out)}")
        (folder / name).write_bytes(b"not an image")
        add(Case(4, "predict", f"file name with {label} (table + lines)",
                 lambda f=folder: signcaps("predict", f), expect="error",
                 check=lambda r: None if "could be classified" in r.output else "no table"))
    both = w.fresh("hostile-json")
    (both / "j\x1b[2J.png").write_bytes(b"x")
    shutil.copy(w.hand, both / "h\x1b[31m.jpg")
    add(Case(4, "predict", "an unreadable file and a hand named with ESC (--json)",
             lambda: signcaps("predict", both, "--json"), expect="ok"))
    add(Case(4, "predict", "a real hand named with ESC (a result row)",
             lambda: signcaps("predict", both / "h\x1b[31m.jpg"), expect="ok"))
    esc_model = hostile_model(w, "esc-classes", [f"{d}\x1b[2J" if d % 2 else f"{d}\u202e" for d in range(10)])
    add(Case(4, "predict", "class names with ESC/bidi in the model's metadata (table)",
             lambda: signcaps("predict", w.hand, "--model", esc_model), expect="ok"))
    add(Case(4, "predict", "class names with ESC in the metadata (--json)",
             lambda: signcaps("predict", w.hand, "--model", esc_model, "--json"), expect="ok"))
    add(Case(4, "eval", "class names with ESC in the metadata vs the data's folders",
             lambda: signcaps("eval", esc_model, "--data", w.data, "--out", w.fresh("esc-eval")), expect="error"))
    markup_model = hostile_model(w, "markup-classes", [f"[bold]{d}[/]" for d in range(10)])
    add(Case(4, "predict", "class names with rich markup in the metadata",
             lambda: signcaps("predict", w.hand, "--model", markup_model), expect="ok",
             check=lambda r: None if "[bold]3[/]" in r.output else "markup interpreted"))
    for label, path in (("--model", w.root / "no\x1b[2Jsuch.onnx"), ("--data", w.root / "no\x1b]0;x\x07data")):
        args = (["predict", w.hand, "--model", path] if label == "--model"
                else ["train", "--data", path, "--run-dir", w.fresh("esc-train")])
        add(Case(4, args[0], f"a missing {label} path with escapes, in the error line",
                 lambda a=args: signcaps(*a)))
    esc_data = w.dataset(w.root / "esc-data", {"0": 4, "1\x1b[31m": 4})
    add(Case(4, "data prepare", "a class folder named with ESC (table)",
             lambda: signcaps("data", "prepare", "--src", esc_data, "--set", f"data.cache_dir={w.cache}"), expect="ok"))
    add(Case(4, "predict", "a missing file named with ESC, in the error line",
             lambda: signcaps("predict", w.root / "gone\x1b[2J.jpg")))
    recipe = w.root / "r\x1b[2J.yaml"
    add(Case(4, "train", "a missing --recipe named with ESC", lambda: signcaps("train", "--recipe", recipe)))

    # 5. names that are not UTF-8
    latin = w.dataset(w.root / "latin1", {"0": 4, os.fsdecode(b"caf\xe9"): 4},
                      names=lambda k, n: os.fsdecode(b"x\xff%d.jpg" % k))
    latin_run = w.root / "latin1-run"
    add(Case(5, "data prepare", "class folder and file names not UTF-8",
             lambda: signcaps("data", "prepare", "--src", latin, "--set", f"data.cache_dir={w.cache}"), expect="ok"))
    add(Case(5, "train", "class folder and file names not UTF-8", lambda: w.train(latin, latin_run), expect="ok"))
    add(Case(5, "eval", "a model trained on non-UTF-8 names",
             lambda: signcaps("eval", latin_run / "best.pt", "--data", latin, "--out", w.fresh("latin-eval")),
             expect="ok"))
    add(Case(5, "export", "a class name not UTF-8 into ONNX metadata",
             lambda: signcaps("export", latin_run / "best.pt", "-o", w.root / "latin.onnx", "--data", latin,
                              timeout=300), expect="ok"))
    add(Case(5, "predict", "folder with non-UTF-8 file names (table)",
             lambda: signcaps("predict", latin / os.fsdecode(b"caf\xe9")), expect="ok"))
    add(Case(5, "predict", "folder with non-UTF-8 file names (--json)",
             lambda: signcaps("predict", latin / os.fsdecode(b"caf\xe9"), "--json"), expect="ok"))
    add(Case(5, "predict", "a model whose class is not UTF-8",
             lambda: signcaps("predict", w.hand, "--model", w.root / "latin.onnx"), expect="ok"))
    add(Case(5, "explain", "an image named in Latin-1",
             lambda: signcaps("explain", caps, next((latin / "0").iterdir()), "-o",
                              w.fresh("latin-explain") / "e.png", timeout=120), expect="ok"))
    add(Case(5, "openset", "a dataset with non-UTF-8 names",
             lambda: signcaps("openset", w.root / "latin.onnx", "--set", f"data.root={latin}", "--set",
                              "data.split=stratified", "--set", "negatives.root=", "--out", w.fresh("latin-os"),
                              timeout=240), expect="any"))
    add(Case(5, "web build", "a model whose class is not UTF-8",
             lambda: signcaps("web", "build", w.fresh("latin-site") / "site", "--model", w.root / "latin.onnx",
                              timeout=240), expect="any"))
    add(Case(5, "collect", "--label that is not UTF-8",
             lambda: signcaps("collect", "--label", os.fsdecode(b"l\xe9"), "--out", w.fresh("latin-collect"),
                              "--source", w.video, "--no-window", "--max", "2"), expect="any"))

    # 6. standard output closed, full, gone or ASCII-only
    summary_runs = [w.run]
    commands = {
        "models list": ["models", "list"], "models list --json": ["models", "list", "--json"],
        "summarize": ["summarize", *summary_runs], "summarize --json": ["summarize", *summary_runs, "--json"],
        "summarize --markdown": ["summarize", *summary_runs, "--markdown"],
        "predict": ["predict", w.hand], "predict --json": ["predict", w.hand, "--json"],
        "--help": ["--help"], "--version": ["--version"],
        "explain --json": ["explain", caps, w.hand, "-o", w.root / "e-stdout.png", "--json"],
        "data prepare": ["data", "prepare", "--src", w.data, "--set",
                                               f"data.cache_dir={w.cache}"],
    }
    for name, args in commands.items():
        for kind in ("full", "closed", "gone"):
            add(Case(6, name, f"stdout {kind}", lambda a=args, k=kind: signcaps(*a, stdout=k),
                     expect="quiet" if kind == "gone" else "error",
                     check=lambda r: "Exception ignored" if "Exception ignored" in r.output else None))
    accents = w.dataset(w.root / "accents", {"0": 4, "café": 4})
    for name, args in (("data prepare", ["data", "prepare", "--src", accents, "--set", f"data.cache_dir={w.cache}"]),
                       ("predict", ["predict", accents / "café"]), ("models list", ["models", "list"]),
                       ("--help", ["--help"])):
        add(Case(6, name, "PYTHONIOENCODING=ascii", lambda a=args: signcaps(*a, environ=env(PYTHONIOENCODING="ascii")),
                 expect="ok"))
        add(Case(6, name, "LANG=C LC_ALL=C", lambda a=args: signcaps(*a, environ=env(LANG="C", LC_ALL="C")),
                 expect="ok"))

    # 7. the dev server
    site = w.fresh("site") / "site"
    built = signcaps("web", "build", site, "--model", w.onnx, timeout=600) if wanted(7) else Run(1, "", "")
    if not wanted(7):
        pass
    elif built.code == 0:
        (site / "passwd-link").symlink_to("/etc/passwd")
        for path in ("/%00", "/index.html%00.png", "/passwd-link", "/..%2f..%2f..%2fetc%2fpasswd",
                     "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd"):
            add(Case(7, "web serve", f"GET {path}", lambda p=path: serve_get(site, p), expect="ok"))
    else:
        add(Case(7, "web build", "a site to serve", lambda: built, expect="ok"))

    # 8. exit 0 with a broken or empty result
    flat = w.dataset(w.root / "negflat", {"A": 2})
    add(Case(8, "openset", "negatives folder that does not exist",
             lambda: signcaps("openset", w.onnx, "--set", f"data.root={w.data}", "--set", "data.split=stratified",
                              "--set", f"negatives.root={w.root / 'nowhere'}", "--out", w.fresh("os-none"))))
    add(Case(8, "openset", "negatives folder without valid/ or test/",
             lambda: signcaps("openset", w.onnx, "--set", f"data.root={w.data}", "--set", "data.split=stratified",
                              "--set", f"negatives.root={flat}", "--out", w.fresh("os-flat"))))
    split = w.dataset(w.root / "split", {f"{p}/{d}": 2 for p in ("train", "valid", "test") for d in ("0", "1")})
    # recognised (issue 29): its classes are the folders inside, its published split kept; never three classes
    layout_ok = (lambda r: None if "│ valid" not in r.output and "│ train" not in r.output  # noqa: E731
                 else "train/valid/test shown as classes")
    add(Case(8, "train", "a train/ valid/ test/<class> layout", lambda: w.train(split, w.fresh("split-run") / "r"),
             expect="ok", check=layout_ok))
    add(Case(8, "data prepare", "a train/ valid/ test/<class> layout",
             lambda: signcaps("data", "prepare", "--src", split, "--set", f"data.cache_dir={w.cache}"),
             expect="ok", check=layout_ok))
    one = w.dataset(w.root / "one", {"0": 4})
    add(Case(8, "train", "a one-class dataset", lambda: w.train(one, w.fresh("one-run") / "r")))
    empty = w.dataset(w.root / "empty", {"0": 4, "1": 4, "2": 0})
    add(Case(8, "train", "an empty class folder", lambda: w.train(empty, w.fresh("empty-run") / "r"), expect="ok",
             check=lambda r: None if "warning:" in r.output else "no warning"))
    blank = w.root / "blank"
    w.dataset(blank, {"0": 4, "1": 4})
    (blank / "7").mkdir()
    for k in range(4):
        cv2.imwrite(str(blank / "7" / f"b{k}.png"), np.full((120, 160, 3), 200, np.uint8))
    add(Case(8, "train", "a class where no hand is found", lambda: w.train(blank, w.fresh("blank-run") / "r"),
             expect="ok", check=lambda r: None if "no photo where a hand was found" in r.output else "no warning"))
    lone = w.root / "lone"
    w.dataset(lone, {"0": 4})
    shutil.copytree(blank / "7", lone / "7")
    add(Case(8, "train", "two classes, one without any hand", lambda: w.train(lone, w.fresh("lone-run") / "r")))
    other = w.dataset(w.root / "other-data", {"0": 4, "1": 4})
    other_run = w.root / "other-run"
    if wanted(8):
        w.train(other, other_run, timeout=1800)
    add(Case(8, "summarize", "runs of one recipe on two datasets", lambda: signcaps("summarize", w.run, other_run,
                                                                                    "--json"),
             expect="ok", check=lambda r: None if r.stdout.count('"data_fingerprint"') == 2 else "merged into one row"))
    external = w.root / "external.onnx"
    try:
        import onnx

        model = onnx.load(str(w.onnx))
        onnx.save_model(model, str(external), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="external.onnx.data", size_threshold=0)
        add(Case(8, "web build", "a model with external data (site must load it)",
                 lambda: signcaps("web", "build", w.fresh("ext-site") / "site", "--model", external, timeout=240),
                 expect="any", other_half=True))
    except Exception as exc:  # noqa: BLE001
        print(f"(external-data model not made: {exc})")

    # 9. hangs
    add(Case(9, "live", "--compose-out a FIFO with no reader",
             lambda: signcaps("live", "--source", w.video, "--compose", "--compose-out", w.fifo, "--no-window",
                              timeout=45), kinds=[w.fifo]))
    add(Case(9, "live", "--source a FIFO", lambda: signcaps("live", "--source", w.fifo, "--no-window", timeout=45)))
    add(Case(9, "predict", "a FIFO named .jpg", lambda: signcaps("predict", fifo_named(w, "photo.jpg"), timeout=45)))
    fifo_data = w.dataset(w.root / "fifo-data", {"0": 4, "1": 4})
    os.mkfifo(fifo_data / "1" / "stuck.jpg")
    add(Case(9, "data prepare", "a FIFO among the images",
             lambda: signcaps("data", "prepare", "--src", fifo_data, "--set", f"data.cache_dir={w.cache}", timeout=90),
             expect="any"))
    add(Case(9, "train", "--recipe a FIFO", lambda: signcaps("train", "--recipe", w.fifo, timeout=45)))

    # 10. empty paths: an error, never the current folder
    for command, args in (("predict", ["predict", ""]), ("live", ["live", "--source", "", "--no-window"]),
                          ("collect", ["collect", "--label", "3", "--out", "", "--source", w.video, "--no-window"]),
                          ("train", ["train", "--data", ""]), ("web build", ["web", "build", ""]),
                          ("web build", ["web", "build", "."]), ("export", ["export", w.run / "best.pt", "-o", ""]),
                          ("eval", ["eval", w.onnx, "--data", ""]), ("data prepare", ["data", "prepare", "--src", ""]),
                          ("explain", ["explain", caps, ""]), ("summarize", ["summarize", ""]),
                          ("train", ["train", "--run-dir", "", "--data", w.data]),
                          ("robustness", ["robustness", w.run / "best.pt", "--data", w.data, "--out", ""]),
                          ("calibrate", ["calibrate", w.onnx, "--data", ""]),
                          ("live", ["live", "--source", w.video, "-o", "", "--no-window"]),
                          ("openset", ["openset", w.onnx, "--set", f"data.root={w.data}", "--out", ""])):
        cwd = w.fresh(f"empty-cwd-{len(out)}")
        (cwd / "mine.txt").write_text("the user's file\n")
        shown = " ".join("''" if a == "" else a if a == "." or (isinstance(a, str) and a.startswith("-")) else "…"
                         for a in args[1:])
        add(Case(10, command, shown, lambda a=args, c=cwd: signcaps(*a, cwd=c, timeout=60), keep=[cwd]))

    # 11. unchecked names
    for names in (["bogus"], ["Blur"], [""], ["blur", "nope"]):
        add(Case(11, "bench variants", f"--shift {names}",
                 lambda n=names: signcaps("bench", "variants", caps, "--out", w.fresh(f"bv-{len(n)}-{n[-1]}"),
                                          *[a for s in n for a in ("--shift", s)], timeout=60),
                 check=lambda r: None if "unknown shift" in r.output else "not the name check"))
    add(Case(11, "robustness", "--domain --shift bogus",
             lambda: signcaps("robustness", w.onnx, "--domain", "--shift", "bogus", "--data", w.data, "--out",
                              w.fresh("rob-bogus"))))
    add(Case(11, "train", "--model bogus", lambda: signcaps("train", "--model", "bogus", "--data", w.data)))
    add(Case(11, "data fetch", "an unknown dataset", lambda: signcaps("data", "fetch", "bogus")))

    # 12. misleading messages
    if dev is not None:
        add(Case(12, "live", "--source a device node", lambda: signcaps("live", "--source", dev, "--no-window",
                                                                         timeout=45),
                 check=lambda r: "says 'no such file'" if "no such file" in r.output.lower() else None))
    add(Case(12, "live", "--source an existing FIFO", lambda: signcaps("live", "--source", w.fifo, "--no-window",
                                                                        timeout=45),
             check=lambda r: "says 'no such file'" if "no such file" in r.output.lower() else None))
    fake = w.root / "fake.mp4"
    from badinput import png_bomb

    fake.write_bytes(png_bomb(20000, 20000))
    add(Case(12, "live", "a 20000x20000 PNG renamed .mp4", lambda: signcaps("live", "--source", fake, "--no-window",
                                                                             timeout=90)))
    add(Case(12, "explain", "--fallback on a blank picture with a CNN",
             lambda: signcaps("explain", caps, blank / "7" / "b0.png", "--fallback", "-o",
                              w.fresh("fb") / "e.png", timeout=90), expect="any"))

    # 13. library noise
    scripts = w.dataset(w.root / "scripts", {"0": 4, "手": 4, "ཀ": 4})
    scripts_run = w.root / "scripts-run"
    glyphs = lambda r: "a library warning" if re.search(r"Glyph|missing from font|UserWarning", r.output) else None  # noqa: E731
    add(Case(13, "train", "class names in CJK and Tibetan (plots)", lambda: w.train(scripts, scripts_run), expect="ok",
             check=glyphs))
    add(Case(13, "eval", "class names in CJK and Tibetan (confusion plot)",
             lambda: signcaps("eval", scripts_run / "best.pt", "--data", scripts, "--out", w.fresh("scripts-eval")),
             expect="ok", check=glyphs))
    dollar = w.dataset(w.root / "dollar", {"0": 4, "$\\frac{": 4})
    add(Case(13, "train", "a class named $\\frac{ (mathtext)", lambda: w.train(dollar, w.fresh("dollar") / "r"),
             expect="ok", check=glyphs))
    for command, args in (("train", w.train_args(w.data, w.root / "gone-run")), ("predict", ["predict", w.hand]),
                          ("data prepare", ["data", "prepare", "--src", w.data])):
        add(Case(13, command, "started from a deleted working folder", lambda a=args: in_deleted_folder(a),
                 check=lambda r: "oneMKL" if "oneMKL" in r.output else None))
    return out


folder_for: dict = {}


def fifo_named(w: World, name: str) -> Path:
    path = w.fresh("fifos") / name
    if not path.exists():
        os.mkfifo(path)
    return path


def in_deleted_folder(args: list) -> Run:
    folder = Path(tempfile.mkdtemp(prefix="signcaps-gone-"))
    script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
    proc = subprocess.run(["sh", "-c", script, "sh", str(folder), sys.executable, "-m", "signcaps",
                           *map(str, args)], capture_output=True, env=env(), timeout=120)
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def serve_get(site: Path, path: str) -> Run:
    """GET `path` from `signcaps web serve`: a 4xx answer and a quiet server are right; the content of
    a file outside the site, a dropped connection or a traceback on its stderr are not."""
    proc = subprocess.Popen([sys.executable, "-m", "signcaps", "web", "serve", str(site), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), cwd=ROOT)
    try:
        line = proc.stdout.readline().decode()
        port = int(re.search(r":(\d+)/", line).group(1))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.putrequest("GET", path, skip_accept_encoding=True)
            connection.endheaders()
            answer = connection.getresponse()
            body = answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException) as exc:
            status, body = 0, f"dropped: {exc}".encode()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    leaked = b"root:" in body
    text = f"HTTP {status}" + (" with /etc/passwd" if leaked else "")
    bad = leaked or status == 0 or status == 200 or b"Traceback" in err
    return Run(1 if bad else 0, text + ("\nerror: " + text if bad else ""), err.decode("utf-8", "replace")
               if b"Traceback" in err else "")


# ------------------------------------------------------------------------------ running and the table


def run_case(case: Case) -> dict:
    before = {p: digest(p) for p in case.keep}
    kinds = {p: (stat.S_IFMT(os.lstat(p).st_mode) if os.path.lexists(p) else None) for p in case.kinds}
    started = time.monotonic()
    outcome, seen, retried = "hang", "", False
    for slow in (1, 3):  # a case past its limit runs once more with three times the time: a busy machine
        SLOW["factor"] = slow  # is not a hang, one that blocks is (FIFOs) and stays one
        try:
            result = case.run()
        except Exception as exc:  # noqa: BLE001  (the probe's own failure is recorded, not fatal)
            result = Run(1, "", f"probe failed: {type(exc).__name__}: {exc}\nTraceback")
        outcome, seen = judge(case, result, before, kinds)
        if outcome != "hang":
            break
        retried = True
    SLOW["factor"] = 1
    if retried:
        seen = f"{seen} (after a retry with 3x the time)" if outcome != "hang" else seen
    # a device or FIFO a bad case replaced is put back so the next case meets it again
    for path, kind in kinds.items():
        if kind is not None and (not os.path.lexists(path) or stat.S_IFMT(os.lstat(path).st_mode) != kind):
            if os.path.lexists(path) and not os.path.isdir(path):
                os.unlink(path)
            if kind == stat.S_IFIFO:
                os.mkfifo(path)
            elif kind == stat.S_IFCHR:
                os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    good = outcome in ("ok", "one-line")
    return {"class": case.cls, "command": case.command, "case": case.case, "exit": result.code,
            "outcome": outcome, "good": good, "seen": seen, "seconds": round(time.monotonic() - started, 1),
            "other_half": case.cls in OTHER_HALF or case.other_half}


def table(records: list[dict]) -> str:
    def clean(text: str) -> str:
        text = re.sub(r"/tmp/signcaps-probe-[^/\s]+", "…", text)
        text = "(a progress bar or table: finished)" if BAR.search(text) else text
        return printable_cell(text).replace("|", "\\|")

    lines = ["| # | class | cases | good | bad | outcomes of the bad | half |",
             "| ---: | --- | ---: | ---: | ---: | --- | --- |"]
    for number, name in CLASSES.items():
        group = [r for r in records if r["class"] == number]
        if not group:
            continue
        bad = [r for r in group if not r["good"]]
        kinds = ", ".join(f"{k} {sum(r['outcome'] == k for r in bad)}"
                          for k in dict.fromkeys(r["outcome"] for r in bad))
        half = "other (filesystem)" if number in OTHER_HALF else "this (text/stream/data)"
        lines.append(f"| {number} | {name} | {len(group)} | {len(group) - len(bad)} | {len(bad)} | {kinds or '-'} | "
                     f"{half} |")
    total_bad = sum(not r["good"] for r in records)
    lines += ["", f"{len(records)} cases; good {len(records) - total_bad}, bad {total_bad} "
              f"(of which in the other half's classes: {sum(not r['good'] and r['other_half'] for r in records)}).",
              "", "| # | command | case | exit | outcome | what the user saw |",
              "| ---: | --- | --- | ---: | --- | --- |"]
    for r in records:
        lines.append(f"| {r['class']} | `{r['command']}` | {clean(r['case'])} | {r['exit']} | "
                     f"{'**' + r['outcome'] + '**' if not r['good'] else r['outcome']} | {clean(r['seen'])[:180]} |")
    return "\n".join(lines) + "\n"


def printable_cell(text: str) -> str:
    from signcaps.util.text import printable

    return printable(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="markdown table to write")
    parser.add_argument("--json", type=Path, help="records to write as JSON")
    parser.add_argument("--only", type=int, action="append", help="run only these classes (repeatable)")
    parser.add_argument("--match", action="append", help="run only cases whose command or case holds this text")
    parser.add_argument("--from-json", type=Path, help="write the table of an earlier run's records; run nothing")
    args = parser.parse_args()
    if args.from_json:
        markdown = table(json.loads(args.from_json.read_text()))
        if args.out:
            args.out.write_text(markdown)
        print(markdown.split("\n\n")[0])
        return 0
    root = Path(tempfile.mkdtemp(prefix="signcaps-probe-"))
    try:
        print(f"making fixtures in {root} …", flush=True)
        world = World(root)
        chosen = [c for c in cases(world, set(args.only or ())) if (not args.only or c.cls in args.only)
                  and (not args.match or any(m in f"{c.command} {c.case}" for m in args.match))]
        records = []
        for k, case in enumerate(chosen, 1):
            record = run_case(case)
            records.append(record)
            if args.json:  # as it goes: a stopped probe keeps what it measured
                args.json.write_text(json.dumps(records, indent=1))
            print(f"[{k}/{len(chosen)}] {record['class']:>2} {record['command']}: {record['case']} -> "
                  f"{record['outcome']} ({record['seconds']}s) {printable_cell(record['seen'])[:100]}", flush=True)
        markdown = table(records)
        if args.out:
            args.out.write_text(markdown)
        if args.json:
            args.json.write_text(json.dumps(records, indent=1))
        print(markdown.split("\n\n")[0])
        return 0 if all(r["good"] for r in records) else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
