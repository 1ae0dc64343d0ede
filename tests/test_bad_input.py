"""The bad-input suite: every command against hostile files, settings, paths and timing.

Each case goes through `badinput.attempt`: exit code, exactly one `error:` line, no traceback,
no signal, earlier outputs byte-identical. Set $SIGNCAPS_RELIABILITY_TABLE=FILE to write the
table of docs/RELIABILITY.md from the cases that ran.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from badinput import ROOT, attempt, broken_images, cli, digests, odd_modes, subprocess_cli
from conftest import DIGITS, HAND_MODEL, TINY_CNN, TINY_PARAMS, digit_images

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared
HAND = next(iter(digit_images(3, 1)), DIGITS / "3" / "missing.JPG")  # (the fallback only without ../shared: skipped)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Broken and odd-mode images, a blank picture, a big (4000 px) real hand, a blocker FILE."""
    root = tmp_path_factory.mktemp("bad-files")
    made = {}
    for name, data in {**broken_images(HAND), **odd_modes(HAND)}.items():
        (root / name).write_bytes(data)
        made[name] = root / name
    made["blank.png"] = root / "blank.png"
    cv2.imwrite(str(made["blank.png"]), np.full((120, 160, 3), 200, np.uint8))
    made["hand.jpg"] = root / "hand.jpg"
    shutil.copy(HAND, made["hand.jpg"])
    made["big-hand.jpg"] = root / "big-hand.jpg"
    cv2.imwrite(
        str(made["big-hand.jpg"]), cv2.resize(cv2.imread(str(HAND)), (4000, 4000), interpolation=cv2.INTER_CUBIC)
    )
    made["blocker"] = root / "blocker"  # a regular file: nothing can be created below it, not even by root
    made["blocker"].write_text("a file where a folder is expected\n")
    return made


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny capsnet checkpoint with untrained weights: every refusal here happens before its numbers matter."""
    import torch

    from signcaps.models.checkpoint import save_checkpoint
    from signcaps.models.registry import build_model
    from signcaps.util.config import recipe_from_dict

    recipe = recipe_from_dict({"data": {"root": str(DIGITS)}, "model": {"name": "capsnet", "params": TINY_PARAMS}})
    torch.manual_seed(0)
    model = build_model(recipe.model, recipe.crop, 10)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(
        {
            "recipe": recipe.to_dict(),
            "classes": [str(i) for i in range(10)],
            "version": "test",
            "data_fingerprint": "none",
            "model_state": model.state_dict(),
            "epoch": 0,
            "val_acc": 0.0,
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """10 classes x 4 real photos (symlinks): enough for a stratified 1-epoch run."""
    root = tmp_path_factory.mktemp("small-data")
    for digit in range(10):
        (root / str(digit)).mkdir()
        for image in digit_images(digit, 4):
            (root / str(digit) / image.name).symlink_to(image)
    return root


# ------------------------------------------------------------------------------------ images

BROKEN = [
    "empty.png",
    "truncated.jpg",
    "header-only.jpg",
    "random.jpg",
    "text.png",
    "zero-size.png",
    "huge-20000x20000.png",
    "blank.png",
]


@pytest.mark.parametrize("name", BROKEN)
def test_predict_one_bad_image(files, name):
    """Nothing classified -> exit 1 after the report; the reason is on the report's line."""
    attempt(
        "predict",
        name,
        lambda: cli(["predict", files[name]]),
        message="could be classified",
        keep=[files[name]],
        show=": unreadable (",
    )


def test_predict_batch_goes_on_past_every_bad_file(files):
    """One process, every hostile file plus real hands: the hands are classified, the rest reported."""
    names = [*BROKEN, *odd_modes(HAND), "hand.jpg", "big-hand.jpg"]
    outcome = attempt(
        "predict",
        f"one batch: {len(BROKEN)} unusable, {len(odd_modes(HAND))} odd-mode, 2 real hands "
        "(one 4000x4000), in a subprocess",
        lambda: subprocess_cli(["predict", *(files[n] for n in names), "--json"]),
        code=0,
        note="both hands classified (same digit), the 20000x20000 file 'image too large', "
        "every odd-mode file decoded, the rest reported per file",
    )
    rows = {
        Path(r["file"]).name: r
        for r in map(json.loads, [ln for ln in outcome.output.splitlines() if ln.startswith("{")])
    }
    assert set(rows) == set(names)
    assert rows["hand.jpg"]["status"] == "ok" and rows["big-hand.jpg"]["status"] == "ok"
    assert rows["big-hand.jpg"]["class"] == rows["hand.jpg"]["class"]
    assert "image too large" in rows["huge-20000x20000.png"]["error"]
    for name in odd_modes(HAND):  # decoded, whatever the detector then finds
        assert rows[name]["status"] != "unreadable", rows[name]


def test_large_frames_are_shrunk_for_the_detector_and_landmarks_mapped_back(files):
    from signcaps.hands.detector import MAX_DETECT_SIDE, HandDetector
    from signcaps.hands.preprocess import read_image_rgb
    from signcaps.util.config import DetectConfig

    small, big = read_image_rgb(files["hand.jpg"]), read_image_rgb(files["big-hand.jpg"])
    assert max(big.shape) > MAX_DETECT_SIDE
    with HandDetector(HAND_MODEL, DetectConfig(), mode="image") as detector:
        a, b = detector.detect(small), detector.detect(big)
    assert a and b
    scale = big.shape[0] / small.shape[0]
    assert np.abs(b[0].landmarks / scale - a[0].landmarks).max() < 3.0  # pixels of the 100 px original


def test_explain_refuses_a_decompression_bomb_in_a_subprocess(files, checkpoint, tmp_path):
    attempt(
        "explain",
        "huge-20000x20000.png, in a subprocess",
        lambda: subprocess_cli(["explain", checkpoint, files["huge-20000x20000.png"], "-o", tmp_path / "x.png"]),
        message="image too large",
        keep=[checkpoint],
        absent=[tmp_path / "x.png"],
    )


@pytest.mark.parametrize("name", ["truncated.jpg", "random.jpg", "empty.png"])
def test_explain_bad_image(files, checkpoint, tmp_path, name):
    attempt(
        "explain",
        name,
        lambda: cli(["explain", checkpoint, files[name], "-o", tmp_path / "x.png"]),
        keep=[checkpoint],
        absent=[tmp_path / "x.png"],
    )


def test_prepare_goes_on_past_bad_files_in_a_subprocess(files, tmp_path):
    data = tmp_path / "data"
    for cls, names in {
        "0": ["hand.jpg", "huge-20000x20000.png", "truncated.jpg"],
        "1": ["empty.png", "random.jpg", "cmyk.jpg", "grey16.png"],
    }.items():
        (data / cls).mkdir(parents=True)
        for name in names:
            shutil.copy(files[name], data / cls / name)
    outcome = attempt(
        "data prepare",
        "7 files: 4 unusable (one 20000x20000), 3 real, in a subprocess",
        lambda: subprocess_cli(
            ["data", "prepare", "--src", data, "--set", f"data.cache_dir={tmp_path / 'cache'}", "--json"]
        ),
        code=0,
        keep=[data],
        note="cache written; each unusable file listed as skipped with its reason",
    )
    report = json.loads(outcome.output[outcome.output.index("{") :].splitlines()[0])
    reasons = dict(report["skipped"])
    assert "image too large" in reasons[os.path.join("0", "huge-20000x20000.png")]
    assert sum(r["hands"] for r in report["classes"]) >= 1


def test_folder_source_prints_no_libjpeg_noise(files, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    raw = HAND.read_bytes()
    mid = bytearray(raw)
    mid[len(raw) // 2 : len(raw) // 2 + 200] = bytes(200)
    for name, data in {"1.jpg": raw, "2.jpg": raw[: len(raw) // 2], "3.jpg": bytes(mid), "4.jpg": raw}.items():
        (frames / name).write_bytes(data)
    outcome = attempt(
        "live",
        "frame folder with truncated and corrupt JPEGs, in a subprocess",
        lambda: subprocess_cli(["live", "--source", frames, "--no-window", "--serial"]),
        code=0,
        note="2 unreadable frames skipped and counted; no libjpeg lines on the terminal",
    )
    assert "JPEG" not in outcome.output and "unreadable skipped" in outcome.output


# ---------------------------------------------------------------------------------- archives


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return path


@pytest.fixture()
def previous_install(tmp_path) -> Path:
    """An earlier install under --dest (one manifest image, as an interrupted old fetch left it):
    must survive every failed fetch."""
    old = tmp_path / "raw" / "sign-language-digits" / "0"
    old.mkdir(parents=True)
    first = sorted((DIGITS / "0").glob("*.JPG"))[0]
    (old / first.name).write_bytes(first.read_bytes())
    return tmp_path / "raw"


@pytest.mark.parametrize(
    "case, entries, message",
    [
        (
            "zip slip: Dataset/../../evil.txt",
            {"repo/Dataset/0/a.JPG": b"x", "repo/Dataset/../../evil.txt": b"x"},
            "unsafe entry",
        ),
        ("absolute entry /tmp/evil.txt", {"/tmp/signcaps-evil.txt": b"x"}, "unsafe entry"),
        ("no Dataset/<class>/<image> entries", {"readme.txt": b"x"}, "has no Dataset"),
        ("manifest file replaced by a 17 MB entry", {"r/Dataset/0/IMG_1118.JPG": bytes(17 * 2**20)}, "does not match"),
    ],
)
def test_fetch_hostile_archive(tmp_path, previous_install, case, entries, message):
    archive = _zip(tmp_path / "a.zip", entries)
    attempt(
        "data fetch",
        case,
        lambda: cli(["data", "fetch", "--from", archive, "--dest", previous_install]),
        message=message,
        keep=[previous_install],
        absent=[tmp_path / "evil.txt", Path("/tmp/signcaps-evil.txt")],
    )


def test_fetch_not_a_zip_and_unwritable_dest(tmp_path, previous_install, files):
    fake = tmp_path / "a.zip"
    fake.write_bytes(b"PK\x03\x04 not really")
    attempt(
        "data fetch",
        "not a zip archive",
        lambda: cli(["data", "fetch", "--from", fake, "--dest", previous_install]),
        message="not a zip",
        keep=[previous_install],
    )
    attempt(
        "data fetch",
        "--dest below a file",
        lambda: cli(["data", "fetch", "--from", fake, "--dest", files["blocker"] / "raw"]),
        message="--dest",
        keep=[files["blocker"]],
    )
    inside = previous_install / "sign-language-digits"
    attempt(
        "data fetch",
        "--from inside the folder it would replace",
        lambda: cli(["data", "fetch", "--from", inside, "--dest", previous_install]),
        message="inside",
        keep=[inside],
    )


def test_fetch_installs_only_manifest_files(tmp_path):
    source = tmp_path / "src" / "Dataset"
    for folder in DIGITS.iterdir():
        if folder.is_dir():
            (source / folder.name).mkdir(parents=True)
            for image in folder.iterdir():
                (source / folder.name / image.name).symlink_to(image)
    (source / "0" / "planted.JPG").write_bytes(b"not in the manifest")
    first = sorted((DIGITS / "1").glob("*.JPG"))[0]
    (tmp_path / "raw" / "sign-language-digits" / "1").mkdir(parents=True)
    (tmp_path / "raw" / "sign-language-digits" / "1" / first.name).write_bytes(first.read_bytes())  # an old install
    attempt(
        "data fetch",
        "folder with a file the manifest does not list",
        lambda: cli(["data", "fetch", "--from", source.parent, "--dest", tmp_path / "raw"]),
        code=0,
        message="1 not in the manifest left out",
        keep=[source.parent],
        note="every manifest file verified and installed; the planted file left out and counted",
    )
    installed = tmp_path / "raw" / "sign-language-digits"
    assert (installed / "0").is_dir() and not (installed / "0" / "planted.JPG").exists()
    assert sorted(p.name for p in installed.parent.iterdir()) == [installed.name]  # no staging folder left


# ------------------------------------------------------------------------------ ONNX models


def _tampered_onnx(path: Path, change) -> Path:
    import onnx

    from signcaps.runtime.classifier import META_KEY, default_model_path

    model = onnx.load(str(default_model_path()))
    props = {p.key: p.value for p in model.metadata_props}
    meta = json.loads(props[META_KEY])
    value = change(meta)
    del model.metadata_props[:]
    if value is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = META_KEY, value if isinstance(value, str) else json.dumps(value)
    onnx.save(model, str(path))
    return path


def _set(key, value):
    return lambda meta: {**meta, key: value}


def _drop(key):
    return lambda meta: {k: v for k, v in meta.items() if k != key}


ONNX_CASES = {
    'input_size "abc"': _set("input_size", "abc"),
    "classes 5": _set("classes", 5),
    'format_version "1"': _set("format_version", "1"),
    "format_version 99": _set("format_version", 99),
    "std 0": _set("std", 0),
    "channels 2": _set("channels", 2),
    "no classes": _drop("classes"),
    'detect num_hands "two"': lambda meta: {**meta, "detect": {**meta.get("detect", {}), "num_hands": "two"}},
    "detect context_pad 50": lambda meta: {**meta, "detect": {**meta.get("detect", {}), "context_pad": 50}},
    "metadata not JSON": lambda meta: "{not json",
    "no signcaps metadata": lambda meta: None,
}


@pytest.mark.parametrize("case", list(ONNX_CASES))
def test_predict_with_tampered_onnx_metadata(tmp_path, case):
    model = _tampered_onnx(tmp_path / "m.onnx", ONNX_CASES[case])
    attempt("predict --model", case, lambda: cli(["predict", HAND, "--model", model]), keep=[model])


@pytest.mark.parametrize("case, data", [("empty file", b""), ("random bytes", os.urandom(2048))])
def test_predict_with_a_non_onnx_file(tmp_path, case, data):
    model = tmp_path / "m.onnx"
    model.write_bytes(data)
    attempt("predict --model", case, lambda: cli(["predict", HAND, "--model", model]), keep=[model])


def test_bench_live_with_tampered_model_and_bad_counts(tmp_path, files):
    model = _tampered_onnx(tmp_path / "m.onnx", ONNX_CASES['input_size "abc"'])
    source = str(files["hand.jpg"])
    attempt(
        "bench live",
        'model with input_size "abc"',
        lambda: cli(["bench", "live", "--source", source, "--model", model]),
        message="input_size",
        keep=[model],
    )
    attempt(
        "bench live",
        "--repeat 0",
        lambda: cli(["bench", "live", "--source", source, "--repeat", "0"]),
        message="--repeat",
    )
    attempt(
        "bench live",
        "--warmup 5 --max-frames 5",
        lambda: cli(["bench", "live", "--source", source, "--warmup", "5", "--max-frames", "5"]),
        message="--warmup",
    )
    attempt(
        "bench live",
        "--warmup 10 on a 1-frame source",
        lambda: cli(["bench", "live", "--source", source, "--mode", "serial"]),
        message="nothing left to measure",
    )


# ------------------------------------------------------------------------------- checkpoints


def _tampered_checkpoint(path: Path, source: Path, change) -> Path:
    import torch

    state = torch.load(source, weights_only=True)
    torch.save(change(state), path)
    return path


CHECKPOINT_CASES = {
    "no classes": lambda s: {k: v for k, v in s.items() if k != "classes"},
    "classes 5": lambda s: {**s, "classes": 5},
    "no recipe": lambda s: {k: v for k, v in s.items() if k != "recipe"},
    "recipe with crop.channels 2": lambda s: {
        **s,
        "recipe": {**s["recipe"], "crop": {**s["recipe"]["crop"], "channels": 2}},
    },
    "weights of another shape": lambda s: {
        **s,
        "model_state": {k: v[..., :1] if v.ndim else v for k, v in s["model_state"].items()},
    },
    "foreign format tag": lambda s: {**s, "format": "something-else/3"},
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_export_tampered_checkpoint(tmp_path, checkpoint, case):
    bad = _tampered_checkpoint(tmp_path / "bad.pt", checkpoint, CHECKPOINT_CASES[case])
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"the user's earlier model")
    attempt("export", case, lambda: cli(["export", bad, "-o", existing]), keep=[bad, existing])


@pytest.mark.parametrize(
    "case, data",
    [
        ("plain pickle (no torch warning)", pickle.dumps({"format": "x", "weights": [1, 2, 3]})),
        ("random bytes", os.urandom(4096)),
        ("empty file", b""),
    ],
)
def test_checkpoint_that_is_not_one(tmp_path, case, data):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(data)
    outcome = attempt(
        "export",
        case,
        lambda: cli(["export", bad, "-o", tmp_path / "m.onnx"]),
        keep=[bad],
        absent=[tmp_path / "m.onnx"],
    )
    assert "Warning" not in outcome.output


def test_eval_and_explain_with_a_checkpoint_without_classes(tmp_path, checkpoint, files):
    bad = _tampered_checkpoint(tmp_path / "bad.pt", checkpoint, CHECKPOINT_CASES["no classes"])
    attempt(
        "eval",
        "checkpoint without classes",
        lambda: cli(["eval", bad, "--out", tmp_path / "out"]),
        message="classes",
        keep=[bad],
    )
    attempt(
        "explain",
        "checkpoint without classes",
        lambda: cli(["explain", bad, files["hand.jpg"], "-o", tmp_path / "x.png"]),
        message="classes",
        keep=[bad],
        absent=[tmp_path / "x.png"],
    )
    attempt(
        "robustness",
        "checkpoint without classes",
        lambda: cli(["robustness", bad, "--out", tmp_path / "r"]),
        message="classes",
        keep=[bad],
    )


# --------------------------------------------------------------------------------- settings

SETTINGS = [
    ("--set train.batch_size=0", ["--set", "train.batch_size=0"], "train.batch_size"),
    ("--set data.val_fraction=1.5", ["--set", "data.val_fraction=1.5"], "data.val_fraction"),
    (
        "--set data.val_fraction=0.5 --set data.test_fraction=0.5",
        ["--set", "data.val_fraction=0.5", "--set", "data.test_fraction=0.5"],
        "data.test_fraction",
    ),
    ("--set crop.channels=2", ["--set", "crop.channels=2"], "crop.channels"),
    ("--set crop.input_size=0", ["--set", "crop.input_size=0"], "crop.input_size"),
    ("--set 'data.group_pattern=(unclosed'", ["--set", "data.group_pattern=(unclosed"], "data.group_pattern"),
    ("--epochs 0", ["--epochs", "0"], "--epochs"),
    ("--epochs -1", ["--epochs", "-1"], "--epochs"),
    ("--device tpu", ["--device", "tpu"], "train.device"),
    ("--set train.lr=-1", ["--set", "train.lr=-1"], "train.lr"),
    (
        "--set detect.min_detection_confidence=2",
        ["--set", "detect.min_detection_confidence=2"],
        "detect.min_detection_confidence",
    ),
    ("--set 'train.lr=[unclosed'", ["--set", "train.lr=[unclosed"], "train.lr"),
    ("--set train.nonsense=1", ["--set", "train.nonsense=1"], "unknown key"),
]


@pytest.mark.parametrize("case, args, message", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_out_of_range_settings(tmp_path, small_data, case, args, message):
    run = tmp_path / "run"
    attempt(
        "train",
        case,
        lambda: cli(["train", "--data", small_data, "--run-dir", run, *args]),
        message=message,
        absent=[run],
    )


def test_device_cuda_without_a_gpu(tmp_path, small_data):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    attempt(
        "train",
        "--device cuda without a GPU",
        lambda: cli(["train", "--data", small_data, "--device", "cuda", "--run-dir", tmp_path / "run"]),
        message="no CUDA GPU",
    )


def test_prepare_rejects_settings_too(tmp_path, small_data):
    attempt(
        "data prepare",
        "--set crop.input_size=0",
        lambda: cli(["data", "prepare", "--src", small_data, "--set", "crop.input_size=0"]),
        message="crop.input_size",
        keep=[small_data],
    )


def test_dataset_too_small_to_split(tmp_path):
    data = tmp_path / "two"
    for digit in (0, 1):
        (data / str(digit)).mkdir(parents=True)
        shutil.copy(digit_images(digit, 1)[0], data / str(digit))
    attempt(
        "train",
        "2 images: too small to split",
        lambda: cli(
            [
                "train",
                "--data",
                data,
                "--set",
                "data.split=stratified",
                "--set",
                f"data.cache_dir={tmp_path / 'cache'}",
                "--run-dir",
                tmp_path / "run",
                "--device",
                "cpu",
            ]
        ),
        message="for validation",
        keep=[data],
        absent=[tmp_path / "run"],
    )


# ------------------------------------------------------------------------- unwritable outputs


def test_unwritable_outputs_are_refused_before_any_work(tmp_path, files, checkpoint, small_data):
    """Paths below a regular file fail for root too; nothing is created, the blocker is untouched."""
    below = files["blocker"] / "sub"
    keep = [files["blocker"], checkpoint]
    cases = [
        ("export", "-o below a file", ["export", checkpoint, "-o", below / "m.onnx"], "-o"),
        ("export", "-o the input checkpoint", ["export", checkpoint, "-o", checkpoint], "destroy the input"),
        ("export", "-o an existing folder", ["export", checkpoint, "-o", tmp_path], "is a folder"),
        ("explain", "-o below a file", ["explain", checkpoint, files["hand.jpg"], "-o", below / "x.png"], "-o"),
        (
            "explain",
            "-o the input image",
            ["explain", checkpoint, files["hand.jpg"], "-o", files["hand.jpg"]],
            "destroy the input",
        ),
        (
            "explain",
            "-o with no image format",
            ["explain", checkpoint, files["hand.jpg"], "-o", tmp_path / "x.txt"],
            "cannot write",
        ),
        ("eval", "--out below a file", ["eval", checkpoint, "--out", below], "--out"),
        ("robustness", "--out below a file", ["robustness", checkpoint, "--out", below], "--out"),
        (
            "train",
            "--run-dir below a file",
            ["train", "--data", small_data, "--run-dir", below, "--epochs", "1"],
            "--run-dir",
        ),
        (
            "live",
            "-o below a file",
            ["live", "--source", files["hand.jpg"], "--no-window", "-o", below / "v.mp4"],
            "--output",
        ),
        (
            "data prepare",
            "data.cache_dir below a file",
            ["data", "prepare", "--src", small_data, "--set", f"data.cache_dir={below}"],
            "data.cache_dir",
        ),
        (
            "data fetch",
            "--dest below a file (folder source)",
            ["data", "fetch", "--from", small_data, "--dest", below],
            "--dest",
        ),
        (
            "collect",
            "--out below a file",
            ["collect", "--label", "3", "--out", below, "--source", files["hand.jpg"], "--no-window"],
            "label folder of --out",
        ),
    ]
    for command, case, args, message in cases:
        attempt(command, case, lambda: cli(args), message=message, keep=keep,  # noqa: B023  (called right away)
                absent=[tmp_path / "x.txt"])
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"the user's video")
    attempt(
        "live",
        "-o the input video",
        lambda: cli(["live", "--source", video, "--no-window", "-o", video]),
        message="destroy the input",
        keep=[video],
    )


# ------------------------------------------------------------------ caches and interrupted writes


@pytest.mark.parametrize("damage", ["truncated to half", "emptied", "garbage bytes"])
def test_damaged_crop_cache_is_rebuilt(tmp_path, damage):
    data = tmp_path / "d"
    for digit in (0, 1):
        (data / str(digit)).mkdir(parents=True)
        shutil.copy(digit_images(digit, 1)[0], data / str(digit))
    args = ["data", "prepare", "--src", data, "--set", f"data.cache_dir={tmp_path / 'cache'}", "--json"]
    first = cli(args)
    assert first.code == 0, first.output
    cache = Path(json.loads(first.output[first.output.index("{") :].splitlines()[0])["cache"])
    raw = cache.read_bytes()
    cache.write_bytes(
        {"truncated to half": raw[: len(raw) // 2], "emptied": b"", "garbage bytes": os.urandom(len(raw))}[damage]
    )
    attempt(
        "data prepare",
        f"crop cache {damage}",
        lambda: cli(args),
        code=0,
        keep=[data],
        note="rebuilt silently, a valid cache again",
    )
    with np.load(cache) as npz:
        assert len(npz["labels"]) == 2


def test_a_failed_write_keeps_the_previous_file(tmp_path, checkpoint, monkeypatch):
    import torch

    from signcaps.models.checkpoint import load_checkpoint, save_checkpoint
    from signcaps.util.outputs import atomic_write

    target = tmp_path / "report.json"
    target.write_text("previous")

    def fail(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, fail)
    assert target.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]

    copy = tmp_path / "last.pt"
    shutil.copy(checkpoint, copy)
    before = digests([copy])
    real_save = torch.save

    def interrupted_save(obj, path):
        real_save(obj, path)
        Path(path).write_bytes(Path(path).read_bytes()[:100])  # the disk filled up mid-write
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(load_checkpoint(copy), copy)
    assert digests([copy]) == before


# ------------------------------------------------------------------- concurrent runs and resume


def _lock_held(lock: Path) -> bool:
    """Whether any process holds an flock on `lock` (read from /proc/locks, so we never take it ourselves)."""
    if not lock.exists():
        return False
    inode = f":{lock.stat().st_ino} "
    return any("FLOCK" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_two_trainings_on_one_run_dir_then_resume(tmp_path, small_data):
    run = tmp_path / "run"
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        f"data:\n  root: {small_data}\n  split: stratified\n  val_fraction: 0.25\n  test_fraction: 0.25\n"
        f"  cache_dir: {tmp_path / 'cache'}\naugment:\n  enabled: false\n"
        f"train:\n  epochs: 2\n  batch_size: 8\n  device: cpu\n"
    )
    args = ["train", "--recipe", recipe, "--set", "model.name=cnn", "--set", TINY_CNN, "--run-dir", run]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    first = subprocess.Popen(
        [sys.executable, "-m", "signcaps", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _lock_held(run / ".lock") and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.poll() is None, "the first run ended before the second could start"
        attempt("train", "second process on the same --run-dir", lambda: cli(args), message="another signcaps process")
    finally:
        output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2

    kept = [run / "recipe.yaml", run / "best.pt", run / "last.pt", run / "split.json"]
    attempt("train", "again without --resume", lambda: cli(args), message="already holds a run", keep=kept)
    attempt(
        "train",
        "--resume of a finished run without --recipe (continues its own recipe.yaml)",
        lambda: cli(["train", "--resume", "--run-dir", run]),
        code=0,
        keep=kept,
        note="its own 2-epoch recipe, nothing more to train; recipe.yaml and checkpoints byte-identical",
    )
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2  # not the 40 of the built-in defaults
