"""Faults on the output side, by class, across every command that writes (docs/RELIABILITY.md):

1. temporary names: user files and folders named like the old fixed siblings (``X.part``,
   ``X.previous``, ``X.staged``, ``X.tmp``, …) beside every output, and an input that has such a
   name, must come through every command byte-identical;
2. outputs over inputs or user files: a command replaces only files signcaps wrote, never an input;
3. a full disk (a small tmpfs, mounted here when running as root, as CI does): one line, nothing
   partial left, the earlier output intact;
10. resume: a changed dataset is refused;
12. SIGINT, SIGTERM and SIGKILL at random (seeded) points of train, export and data prepare: exit 130
   (or killed), then the rerun or --resume works and no temporary file remains.

Every case goes through `badinput.attempt` (exit code, one `error:` line, no traceback, the files
in ``keep`` byte-identical, no temporary names left in ``clean``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from badinput import ROOT, TEMP_MARK, attempt, cli, digests, leftovers
from conftest import DIGITS, TINY_CNN, digit_images

pytestmark = pytest.mark.shared
HAND = next(iter(digit_images(3, 1)), DIGITS / "3" / "missing.JPG")
WEB_MODULES = ROOT / "deploy" / "web" / "node_modules"


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """10 classes x 4 real photos (copies: some cases add files to a copy of it)."""
    root = tmp_path_factory.mktemp("faults-data") / "digits"
    for digit in range(10):
        (root / str(digit)).mkdir(parents=True)
        for image in digit_images(digit, 4):
            shutil.copy(image, root / str(digit) / image.name)
    return root


def tiny_train(data: Path, run: Path, cache: Path, epochs: int = 1, *extra: str) -> list:
    """`signcaps train` of a tiny CNN on `data` (about a second per epoch)."""
    return ["train", "--data", data, "--run-dir", run, "--epochs", str(epochs), "--device", "cpu", "--model", "cnn",
            "--set", TINY_CNN, "--set", "data.split=stratified", "--set", "data.val_fraction=0.25",
            "--set", "data.test_fraction=0.25", "--set", f"data.cache_dir={cache}", "--set", "augment.enabled=false",
            "--set", "train.batch_size=8", *extra]


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """A 24-frame 320x240 clip of a hand (real photo)."""
    from videos import sign_frames, write_video

    path = tmp_path_factory.mktemp("faults-video") / "clip.mp4"
    write_video(path, sign_frames([3], frames_per_digit=24, size=(320, 240), scale=1.2))
    return path


def _decoys(folder: Path, names: list[str]) -> list[Path]:
    """A user's files and folders under every fixed temporary name older versions used beside
    each output name (and one in signcaps' own temporary pattern, owned by a live process)."""
    made = []
    for index, name in enumerate(names):
        stem, suffix = Path(name).stem, Path(name).suffix
        for decoy in (f"{name}.part", f"{name}.tmp", f"{name}.staged", f"{name}.trace", f"{name}.prep",
                      f"{name}.quant", f"{name}.previous", f"{stem}.part{suffix}", f"{name}.part.npz"):
            path = folder / decoy
            if (index + len(decoy)) % 3 == 0:  # some are folders with a file inside
                path.mkdir(parents=True, exist_ok=True)
                (path / "keep.txt").write_text(f"the user's folder {decoy}\n")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"the user's file {decoy}\n")
            made.append(path)
    live = folder / f".{Path(names[0]).stem}{TEMP_MARK}1-abcdef12{Path(names[0]).suffix}"  # pid 1 always runs
    live.write_text("another process's work in progress\n")
    return [*made, live]


# ------------------------------------------------------------------------ 1. temporary names


@pytest.mark.exhaustive  # every writer / command: `make test-exhaustive` (CI runs it)
def test_user_files_named_like_temporaries_survive_every_writer(tmp_path, tiny, small_data, video):
    """Every command that writes, with the user's X.part / X.previous / … beside each of its outputs."""
    hand = tmp_path / "hand.jpg"
    shutil.copy(HAND, hand)
    cases = []
    out = tmp_path / "export"
    cases.append(("export", "-o m.onnx beside m.onnx.part, .staged, .trace, …", out, ["m.onnx"],
                  ["export", tiny["checkpoint"], "-o", out / "m.onnx"], 0))
    run = tmp_path / "train" / "run"
    cases.append(("train", "--run-dir beside best.pt.tmp, last.pt.tmp, metrics.part.json, …", run,
                  ["best.pt", "last.pt", "recipe.yaml", "split.json", "metrics.json", "curves.png", "confusion.png"],
                  tiny_train(small_data, run, tmp_path / "train-cache"), 0))
    cases.append(("explain", "-o x.png beside x.part.png, …", tmp_path / "explain", ["x.png"],
                  ["explain", tiny["checkpoint"], hand, "-o", tmp_path / "explain" / "x.png"], 0))
    cases.append(("eval", "--out beside eval-confusion-test.part.png, …", tmp_path / "eval",
                  ["eval-confusion-test.png"], ["eval", tiny["checkpoint"], "--out", tmp_path / "eval"], 0))
    cases.append(("calibrate", "--out beside reliability-*.part.png, …", tmp_path / "cal",
                  ["reliability-model-all.png", "reliability-model-all.json"],
                  ["calibrate", tiny["onnx"], "--data", tiny["data"], "--split", "all", "--out", tmp_path / "cal"], 0))
    cases.append(("live", "-o out.mp4 beside out.part.mp4, …", tmp_path / "live", ["out.mp4"],
                  ["live", "--source", video, "--no-window", "--serial", "-o", tmp_path / "live" / "out.mp4",
                   "--model", tiny["onnx"]], 0))
    dest = tmp_path / "raw"
    cases.append(("data fetch", "--dest beside sign-language-digits.part/ and .previous/", dest,
                  ["sign-language-digits"], ["data", "fetch", "--from", DIGITS, "--dest", dest], 0))
    for command, case, folder, names, args, code in cases:
        folder.mkdir(parents=True, exist_ok=True)
        decoys = _decoys(folder, names)
        attempt(command, case, partial(cli, args), code=code, keep=decoys, cls="temp",
                note=f"wrote {', '.join(names)}; every decoy byte-identical")
        for name in names:
            assert (folder / name).exists(), (command, name)
    # an input whose name is what the old writer used as the output's temporary name
    source = tmp_path / "input" / "v.part.mp4"
    source.parent.mkdir()
    shutil.copy(video, source)
    attempt("live", "--source v.part.mp4 -o v.mp4 (the old temporary name of the output is the input)",
            lambda: cli(["live", "--source", source, "--no-window", "--serial", "-o", source.parent / "v.mp4",
                         "--model", tiny["onnx"]]),
            code=0, keep=[source], clean=[source.parent], cls="temp", note="the input video byte-identical")


def test_prepare_cache_beside_its_old_temporary_name(tmp_path, small_data):
    from signcaps.data.crops import cache_path
    from signcaps.data.folders import scan_folder
    from signcaps.runtime.classifier import default_recipe_name
    from signcaps.util.config import load_recipe

    cfg = load_recipe(default_recipe_name(), [f"data.cache_dir={tmp_path / 'cache'}"])  # what `data prepare` follows
    cache = cache_path(cfg.data, scan_folder(small_data), cfg.crop, cfg.detect)
    cache.parent.mkdir(parents=True)
    decoys = _decoys(cache.parent, [cache.name])
    attempt("data prepare", "cache beside <cache>.part.npz, …",
            lambda: cli(["data", "prepare", "--src", small_data, "--set", f"data.cache_dir={cache.parent}"]),
            code=0, keep=decoys, cls="temp", note="cache written; every decoy byte-identical")
    assert cache.is_file()


@pytest.mark.skipif(not WEB_MODULES.is_dir(), reason="web build needs deploy/web/node_modules (npm ci)")
def test_web_build_beside_site_part(tmp_path):
    from conftest import HAND_MODEL

    decoys = _decoys(tmp_path, ["site"])
    attempt("web build", "site beside site.part/ and site.previous/",
            lambda: cli(["web", "build", tmp_path / "site", "--hand-model", HAND_MODEL]), code=0, keep=decoys,
            cls="temp", note="site written; every decoy byte-identical")


# ------------------------------------------------------------------ 2. outputs over user files


def _user_file(path: Path, text: str = "the user's own file\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_run_folder_keeps_the_users_files(tmp_path, small_data, crop_cache):
    """train --run-dir DIR never rewrites a file in DIR that it did not write, the --recipe included."""
    run = tmp_path / "run"
    recipe = _user_file(run / "recipe.yaml", f"data:\n  root: {small_data}\n  split: stratified\n")
    attempt("train", "--recipe DIR/recipe.yaml --run-dir DIR (the user's recipe)",
            lambda: cli(["train", "--recipe", recipe, "--run-dir", run, "--epochs", "1"]),
            message="signcaps did not write", keep=[run], cls="owned")
    other = tmp_path / "run2"
    mine = [_user_file(other / "metrics.json", '{"mine": 1}\n'), _user_file(other / "curves.png", "not a png")]
    attempt("train", "--run-dir DIR holding the user's metrics.json and curves.png",
            lambda: cli(tiny_train(small_data, other, crop_cache)),
            message="metrics.json", keep=mine, cls="owned")
    attempt("train", "--run-dir inside --data",
            lambda: cli(tiny_train(small_data, small_data / "run", crop_cache)),
            message="inside the input folder", keep=[small_data], absent=[small_data / "run"], cls="owned")


def test_implicit_output_names_keep_the_users_files(tmp_path, tiny, small_data):
    """Names a command picks itself inside --out (or beside -o) are replaced only when signcaps wrote them."""
    cases = [
        ("eval", "--out holding the user's eval-confusion-test.png", tmp_path / "ev" / "eval-confusion-test.png",
         ["eval", tiny["checkpoint"], "--out", tmp_path / "ev"]),
        ("robustness", "--out holding the user's robustness-compare.json",
         tmp_path / "rob" / "robustness-compare.json",
         ["robustness", tiny["checkpoint"], "--out", tmp_path / "rob"]),
        ("eval --robustness", "--out holding the user's robustness.png", tmp_path / "evr" / "robustness.png",
         ["eval", tiny["checkpoint"], "--robustness", "--out", tmp_path / "evr"]),
        ("calibrate", "--out holding the user's reliability-model-test.json",
         tmp_path / "cal" / "reliability-model-test.json", ["calibrate", tiny["onnx"], "--out", tmp_path / "cal"]),
        ("export", "--int8 beside the user's m.int8.onnx", tmp_path / "ex" / "m.int8.onnx",
         ["export", tiny["checkpoint"], "-o", tmp_path / "ex" / "m.onnx", "--int8"]),
        ("explain", "-o x.png beside the user's x-pose.png", tmp_path / "xp" / "x-pose.png",
         ["explain", tiny["checkpoint"], HAND, "-o", tmp_path / "xp" / "x.png"]),
        ("robustness --domain", "--out holding the user's domain-shift.json", tmp_path / "dom" / "domain-shift.json",
         ["robustness", "--domain", tiny["onnx"], "--out", tmp_path / "dom"]),
    ]
    for command, case, user_file, args in cases:
        _user_file(user_file)
        attempt(command, case, partial(cli, args), message="signcaps did not write", keep=[user_file.parent],
                cls="owned")


def test_outputs_are_never_inputs(tmp_path, tiny, small_data, video):
    data_copy = tmp_path / "data"
    shutil.copytree(small_data, data_copy)
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(HAND, frames / "f1.jpg")
    numbers = tmp_path / "clip.mp4"
    shutil.copy(video, numbers)
    cases = [
        ("export", "-o inside --data", ["export", tiny["checkpoint"], "-o", data_copy / "3" / "m.onnx", "--data",
                                         data_copy], [data_copy]),
        ("export", "-o inside the checkpoint's training data (no --data)",
         ["export", tiny["checkpoint"], "-o", tiny["data"] / "m.onnx"], [tiny["data"]]),
        ("data prepare", "data.cache_dir inside --src",
         ["data", "prepare", "--src", data_copy, "--set", f"data.cache_dir={data_copy / 'cache'}"], [data_copy]),
        ("eval", "--out inside --data", ["eval", tiny["checkpoint"], "--data", data_copy, "--out", data_copy / "o"],
         [data_copy]),
        ("calibrate", "--out inside --data", ["calibrate", tiny["onnx"], "--data", data_copy, "--out", data_copy / "o"],
         [data_copy]),
        ("live", "--compose-out the input video", ["live", "--source", numbers, "--no-window", "--compose",
                                                    "--compose-out", numbers], [numbers]),
        ("live", "--compose-out the same file as -o", ["live", "--source", video, "--no-window", "-o",
                                                        tmp_path / "o.mp4", "--compose-out", tmp_path / "o.mp4"], []),
        ("live", "-o inside the folder source", ["live", "--source", frames, "--no-window", "-o", frames / "o.mp4"],
         [frames]),
        ("web build", "the site folder holds the --model", ["web", "build", tmp_path / "site", "-m",
                                                            tmp_path / "site" / "model.onnx"], []),
    ]
    from signcaps.util.outputs import record_tree
    from signcaps.web.site import SITE_MARKER

    (tmp_path / "site").mkdir()  # a site built before, with the model the user now names as --model
    shutil.copy(tiny["onnx"], tmp_path / "site" / "model.onnx")
    (tmp_path / "site" / SITE_MARKER).write_text("{}\n")
    record_tree(tmp_path / "site")
    for command, case, args, keep in cases:
        attempt(command, case, partial(cli, args), keep=[*keep, tmp_path / "site"], cls="owned",
                absent=[data_copy / "3" / "m.onnx", data_copy / "cache", data_copy / "o", frames / "o.mp4"])


def test_fetch_again_keeps_what_the_user_added(tmp_path):
    from signcaps.util.outputs import record_tree

    dest = tmp_path / "raw"
    install = dest / "sign-language-digits"
    first = sorted((DIGITS / "0").glob("*.JPG"))[0]
    (install / "0").mkdir(parents=True)
    shutil.copy(first, install / "0" / first.name)
    record_tree(install)  # as a fetch leaves it
    added = [_user_file(install / "0" / "my-own.jpg", "my photo"), _user_file(install / "thumbs-up" / "a.jpg", "x")]
    attempt("data fetch", "again, onto an install the user added images and a class folder to",
            lambda: cli(["data", "fetch", "--from", DIGITS, "--dest", dest]), message="signcaps did not write",
            keep=[install], cls="owned")
    legacy = tmp_path / "old" / "sign-language-digits"
    (legacy / "0").mkdir(parents=True)
    shutil.copy(first, legacy / "0" / first.name)
    _user_file(legacy / "notes.txt", "mine")
    attempt("data fetch", "again, onto an old install (no record) holding a file the manifest does not name",
            lambda: cli(["data", "fetch", "--from", DIGITS, "--dest", legacy.parent]), message="notes.txt",
            keep=[legacy], cls="owned")
    assert all(p.exists() for p in added)


def test_web_build_keeps_files_the_user_added_to_a_site(tmp_path, tiny):
    from signcaps.util.outputs import record_tree
    from signcaps.web.site import SITE_MARKER

    site = tmp_path / "site"
    site.mkdir()
    (site / SITE_MARKER).write_text("{}\n")
    (site / "index.html").write_text("<html></html>\n")
    record_tree(site)  # a site this command built
    mine = _user_file(site / "notes.txt", "my notes")
    attempt("web build", "over a site the user added notes.txt to", lambda: cli(["web", "build", site, "-m",
                                                                                 tiny["onnx"]]),
            message="notes.txt", keep=[site], cls="owned")
    assert mine.read_text() == "my notes"


# -------------------------------------------------------------------------------- 3. full disk


@pytest.fixture()
def small_disk(tmp_path):
    """A 24 MB tmpfs (mounted in the test: CI runs as root) and `fill(leave)`, which fills it up to
    `leave` free bytes; skipped with one line where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("full-disk cases need root to mount a small tmpfs (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()[:80]}")

    def fill(leave: int = 8192) -> None:
        filler = mount / ".filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for block in (1 << 20, 4096, 512):  # big blocks first, then up to the last free one
                try:
                    while True:
                        os.write(fd, b"\0" * block)
                except OSError:
                    pass
        finally:
            os.close(fd)
        os.truncate(filler, max(0, filler.stat().st_size - leave))

    try:
        yield mount, fill
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.exhaustive  # every writer / command: `make test-exhaustive` (CI runs it)
def test_a_full_disk_is_one_line_and_leaves_nothing_partial(small_disk, tiny, small_data, video, tmp_path):
    mount, fill = small_disk
    earlier = {"model": mount / "export" / "m.onnx", "video": mount / "live" / "out.mp4",
               "png": mount / "explain" / "x.png"}
    for path in earlier.values():
        _user_file(path, f"an earlier {path.name}, which must stay\n")
    hand = tmp_path / "hand.jpg"
    shutil.copy(HAND, hand)
    fill(8192)
    cases = [
        ("train", "--run-dir on a full disk", tiny_train(small_data, mount / "run", tmp_path / "cache"), []),
        ("export", "-o on a full disk (an earlier model there)",
         ["export", tiny["checkpoint"], "-o", earlier["model"]], [earlier["model"]]),
        ("data prepare", "data.cache_dir on a full disk",
         ["data", "prepare", "--src", small_data, "--set", f"data.cache_dir={mount / 'cache'}"], []),
        ("eval", "--out on a full disk", ["eval", tiny["checkpoint"], "--out", mount / "eval"], []),
        ("robustness", "--out on a full disk", ["robustness", tiny["checkpoint"], "--out", mount / "rob"], []),
        ("explain", "-o on a full disk (an earlier PNG there)",
         ["explain", tiny["checkpoint"], hand, "-o", earlier["png"]], [earlier["png"]]),
        ("calibrate", "--out on a full disk",
         ["calibrate", tiny["onnx"], "--data", tiny["data"], "--split", "all", "--out", mount / "cal"], []),
        ("live", "-o on a full disk (an earlier video there)",
         ["live", "--source", video, "--no-window", "--serial", "--model", tiny["onnx"], "-o", earlier["video"]],
         [earlier["video"]]),
        ("data fetch", "--dest on a full disk", ["data", "fetch", "--from", DIGITS, "--dest", mount / "raw"], []),
        ("collect", "--out on a full disk",
         ["collect", "--label", "3", "--out", mount / "mine", "--source", video, "--no-window", "--every", "1"], []),
    ]
    if WEB_MODULES.is_dir():  # the npm packages the site copies (CI installs them; elsewhere `npm ci`)
        cases.append(("web build", "the site on a full disk", ["web", "build", mount / "site", "-m", tiny["onnx"]], []))
    for command, case, args, keep in cases:
        outcome = attempt(command, case, partial(cli, args), keep=keep, clean=[mount], cls="disk")
        assert "space" in outcome.output, outcome.output
    assert not (mount / "raw" / "sign-language-digits").exists() and not (mount / "run" / "best.pt").exists()
    assert not (mount / "site").exists()


# ------------------------------------------------------------------------------ 10. resume


def test_resume_refuses_a_changed_dataset(tmp_path, small_data, crop_cache):
    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    run = tmp_path / "run"
    first = cli(tiny_train(data, run, crop_cache, 1))
    assert first.code == 0, first.output
    shutil.copy(digit_images(5, 1, start=10)[0], data / "5" / "extra.JPG")  # a new image: another split
    kept = [run / "last.pt", run / "best.pt", run / "split.json", run / "recipe.yaml"]
    attempt("train", "--resume after an image was added to the dataset",
            lambda: cli(tiny_train(data, run, crop_cache, 2, "--resume")), message="changed",
            keep=kept, cls="resume")


# --------------------------------------------------------------------------- 12. signals


def _interrupt(args: list, sig: int, delay: float, timeout: float = 300) -> tuple[int, str]:
    """`python -m signcaps ARGS`, sent `sig` after `delay` seconds (if still running)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "signcaps", *map(str, args)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + delay
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(sig)
    output, _ = proc.communicate(timeout=timeout)
    return proc.returncode, output


def _check_outputs(kind: str, folder: Path) -> None:
    """What the rerun left is whole: checkpoints load, the model loads, the cache loads."""
    if kind == "train":
        from signcaps.models.checkpoint import load_checkpoint

        load_checkpoint(folder / "last.pt")
        assert json.loads((folder / "metrics.json").read_text())["epochs"] == 3
    elif kind == "export":
        from signcaps.runtime.classifier import OnnxClassifier

        OnnxClassifier(folder / "m.onnx")
    else:
        (cache,) = [p for p in folder.iterdir() if p.suffix == ".npz" and "-retakes" not in p.name]  # the crops
        with np.load(cache) as npz:
            assert len(npz["labels"]) > 0


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
# Seconds after the start at which a signal may come (the interpreter's start-up, about 2-4 s here,
# included): drawn from a seeded generator, so a failure replays.
WINDOW = {"train": (0.5, 14.0), "export": (0.5, 12.0), "prepare": (0.5, 8.0)}


def _signal_args(kind: str, tmp_path: Path, tiny: dict, small_data: Path) -> tuple[list, list, Path]:
    if kind == "train":
        run = tmp_path / "run"
        return (tiny_train(small_data, run, tmp_path / "cache", 3), tiny_train(small_data, run, tmp_path / "cache", 3,
                                                                               "--resume"), run)
    if kind == "export":
        out = tmp_path / "ex"
        args = ["export", tiny["checkpoint"], "-o", out / "m.onnx"]
        return args, args, out
    cache = tmp_path / "cache"
    args = ["data", "prepare", "--src", small_data, "--set", f"data.cache_dir={cache}", "--refresh"]
    return args, args, cache


def _signal_case(kind: str, name: str, rng: random.Random, tmp_path: Path, tiny: dict, small_data: Path) -> None:
    args, again, folder = _signal_args(kind, tmp_path, tiny, small_data)
    delay = round(rng.uniform(*WINDOW[kind]), 2)
    code, output = _interrupt(args, SIGNALS[name], delay)
    expected = -signal.SIGKILL if name == "SIGKILL" else 130
    assert code in (expected, 0), f"{kind} {name} after {delay} s: exit {code}\n{output}"
    assert "Traceback" not in output, output
    attempt("train --resume" if kind == "train" else {"export": "export", "prepare": "data prepare"}[kind],
            f"{name} after {delay} s (exit {code}), then run again", partial(cli, again), code=0, clean=[folder],
            cls="signal", note=f"{name} at {delay} s gave exit {code}; the rerun finished, nothing temporary left")
    _check_outputs(kind, folder)


@pytest.mark.exhaustive  # every writer / command: `make test-exhaustive` (CI runs it)
@pytest.mark.parametrize("kind", ["train", "export", "prepare"])
def test_one_random_signal_then_the_rerun_works(tmp_path, tiny, small_data, kind):
    """One signal per command in the default run (seeded by the command's name)."""
    rng = random.Random(f"signals-{kind}")
    _signal_case(kind, rng.choice(list(SIGNALS)), rng, tmp_path, tiny, small_data)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SIGNALS))
@pytest.mark.parametrize("kind", ["train", "export", "prepare"])
@pytest.mark.parametrize("seed", [1, 2])
def test_every_signal_at_random_points(tmp_path, tiny, small_data, kind, name, seed):
    _signal_case(kind, name, random.Random(f"{seed}-{kind}-{name}"), tmp_path, tiny, small_data)


def test_a_killed_writer_leaves_nothing_for_the_next_one(tmp_path):
    """The temporaries of a process that died (SIGKILL: no cleanup ran) go with the next write there."""
    from signcaps.util.outputs import atomic_write_text, new_temp_file

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stale = tmp_path / f".report{TEMP_MARK}{child.pid}-deadbeef.json"
    stale.write_text("half")
    busy = new_temp_file(tmp_path / "other.json")  # this process's own: alive, kept
    child.kill()
    child.wait()
    before = digests([busy])
    import signcaps.util.outputs as outputs

    outputs._SWEPT.discard(str(tmp_path))
    atomic_write_text(tmp_path / "report.json", "{}")
    assert not stale.exists() and digests([busy]) == before
    busy.unlink()
    assert leftovers([tmp_path]) == []
