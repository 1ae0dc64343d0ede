"""Faults on the input side, by class, with generated cases across every command that has the
mechanism (docs/RELIABILITY.md):

4. parsers: hostile recipe files (alias bombs, recursive aliases, deep nesting, other encodings,
   FIFOs, tags), `--set` values, `--data` values that YAML would have read as something else;
5. text shown as markup: paths, file, folder and class names holding rich markup;
6. digits in names: superscripts, circled and Arabic-Indic digits in folders, files and sources;
7. NaN and shapes: every float setting set to NaN, models with NaN weights, a lengths output of
   another width than the class list, duplicate class names;
8. ranges: every numeric option of every command, from `config.OPTION_CHECKS`, just outside its range;
9. files read whole: sparse files of many GB named like images, recipes, checkpoints, models and
   metrics; a JPEG with bytes after its end marker (a phone's motion photo);
11. odd environments: the cache path naming a file, a hand-model bundle with its networks swapped,
   a symlinked site folder, damaged metrics.json, the served site, Ctrl-C in train, OpenCV noise.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import urllib.error
import urllib.request
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from badinput import Outcome, attempt, cli, subprocess_cli
from conftest import DIGITS, HAND_MODEL, digit_images

pytestmark = pytest.mark.shared
HAND = next(iter(digit_images(3, 1)), DIGITS / "3" / "missing.JPG")


@pytest.fixture(scope="module")
def blocker(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blocker") / "blocker"
    path.write_text("a file where a folder is expected\n")
    return path


def _sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


# ------------------------------------------------------------------------------------ 4. parsers

LAUGHS = "".join(f"{a}: &{a} [{', '.join([f'*{p}' if p else '1'] * 9)}]\n"
                 for a, p in zip("abcdefghi", ["", *"abcdefgh"]))
RECIPES: dict[str, bytes] = {
    "alias bomb: 9 levels of 9 aliases (387 M values)": ("model:\n  params:\n" + "".join(
        f"    {line}\n" for line in LAUGHS.splitlines())).encode(),
    "alias bomb at the top level": LAUGHS.encode(),
    "recursive alias in a list": b"model:\n  params:\n    stem_channels: &a [8, *a]\n",
    "recursive alias in a mapping": b"train: &t\n  inner: *t\n",
    "nested 3000 levels deep": b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n",
    "Latin-1 bytes (not UTF-8)": "name: caf\xe9\n".encode("latin-1"),
    "UTF-16 with a byte-order mark": "train:\n  epochs: 2\n".encode("utf-16"),
    "a NUL character in data.root": b'data:\n  root: "digits\\0/x"\n',
    "a python/object tag": b"!!python/object/apply:os.system ['true']\n",
    "a list instead of sections": b"- 1\n- 2\n",
    "a section that is a list": b"train: [1, 2]\n",
    "binary where a path belongs": b"data:\n  root: !!binary aGVsbG8=\n",
    "a date where a path belongs": b"data:\n  root: 2024-01-01\n",
    "tab indentation": b"train:\n\tepochs: 2\n",
    "an empty name": b"name: ''\n",
    "a name with a slash (names the run folder)": b"name: ../../elsewhere\n",
}


@pytest.fixture(scope="module")
def recipe_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recipes")
    made = {}
    for i, (case, data) in enumerate(RECIPES.items()):
        made[case] = root / f"r{i}.yaml"
        made[case].write_bytes(data)
    made["a 2 MB file"] = _sparse(root / "big.yaml", 2 << 20)
    made["a folder"] = root / "folder.yaml"
    made["a folder"].mkdir()
    made["a FIFO (would block)"] = root / "fifo.yaml"
    os.mkfifo(made["a FIFO (would block)"])
    return made


@pytest.mark.parametrize("command", ["train", "data prepare"])
def test_hostile_recipe_files(tmp_path, recipe_files, command):
    for case, path in recipe_files.items():
        args = (["train", "--recipe", path, "--run-dir", tmp_path / "run"] if command == "train"
                else ["data", "prepare", "--src", tmp_path / "none", "--recipe", path])
        attempt(command, f"--recipe: {case}", partial(cli, args), keep=[path] if path.is_file() else [],
                absent=[tmp_path / "run"], cls="parse")


SET_CASES = {
    "--set model.params=<an alias bomb>": "model.params={" + ", ".join(
        f"{a}: &{a} [{', '.join([f'*{p}' if p else '1'] * 9)}]" for a, p in zip("abcdefghi", ["", *"abcdefgh"])) + "}",
    "--set model.params=<a recursive alias>": "model.params=&a {x: *a}",
    "--set model.params=<3000 nested lists>": "model.params={x: " + "[" * 3000 + "]" * 3000 + "}",
    "--set train.lr=<not YAML>": "train.lr=[unclosed",
    "--set train.epochs=<a list>": "train.epochs=[1, 2]",
    "--set train=<a section set to a number>": "train=5",
    "--set crop.margin.x=1 (below a value)": "crop.margin.x=1",
    "--set =1 (no key)": "=1",
    "--set model.params.stem_channels=<a mapping>": "model.params={stem_channels: {a: 1}}",
}


@pytest.mark.parametrize("command", ["train", "data prepare"])
def test_hostile_set_values(tmp_path, command, tiny):
    for case, item in SET_CASES.items():
        if command == "data prepare" and item.startswith("model.params={stem"):
            continue  # prepare builds no model: its parameters are not its business
        args = (["train", "--set", item, "--run-dir", tmp_path / "run"] if command == "train"
                else ["data", "prepare", "--src", tiny["data"], "--set", item, "--set",
                      f"data.cache_dir={tmp_path / 'cache'}"])
        attempt(command, case, partial(cli, args), absent=[tmp_path / "run"], cls="parse")


# Values YAML would turn into something else: a comment, an integer, null, a boolean, a list, a float.
DATA_VALUES = ["signs #2", "2024", "null", "yes", "[x]", "1e3", "a: b", "0x10", "'quoted'"]


@pytest.mark.parametrize("how", ["--data", "--set data.root="])
def test_data_values_are_taken_as_written(tmp_path, how, monkeypatch):
    monkeypatch.chdir(tmp_path)  # none of these folders exists here
    for value in DATA_VALUES:
        flag = ["--data", value] if how == "--data" else ["--set", f"data.root={value}"]
        attempt("train", f"{how} {value!r}", partial(cli, ["train", *flag, "--run-dir", tmp_path / "run"]),
                message=f"dataset folder not found: {value}", absent=[tmp_path / "run"], cls="parse")


# ------------------------------------------------------------------------------------ 5. markup

MARKUP = ["[/x]", "[bold]b", "[red]r[/red]", "[link=https:x]l[/link]", "x[/]", "[/bold red]"]


def test_markup_in_paths_is_printed_as_written(tmp_path, blocker, tiny):
    for name in MARKUP:
        missing = tmp_path / f"{name}.jpg"
        cases = [
            ("predict", ["predict", missing]),
            ("live", ["live", "--source", missing, "--no-window"]),
            ("explain", ["explain", tmp_path / f"{name}.pt", HAND]),
            ("eval", ["eval", tmp_path / f"{name}.pt"]),
            ("export", ["export", tmp_path / f"{name}.pt", "-o", tmp_path / "m.onnx"]),
            ("web serve", ["web", "serve", tmp_path / name]),
            ("train", ["train", "--data", DIGITS, "--run-dir", blocker / name]),
            ("data fetch", ["data", "fetch", "--from", tmp_path / f"{name}.zip", "--dest", tmp_path / "raw"]),
            ("predict --model", ["predict", HAND, "--model", tmp_path / f"{name}.onnx"]),
        ]
        for command, args in cases:
            attempt(command, f"a path holding {name!r}", partial(cli, args), message=name, cls="markup")


def test_markup_in_file_folder_and_class_names(tmp_path, tiny):
    import torch

    from signcaps.runtime.classifier import META_KEY

    images = tmp_path / "images"
    images.mkdir()
    names = ["[bold]hand.jpg", "[red]x[-red].jpg", "[i]3.jpg"]
    for name in names:
        shutil.copy(HAND, images / name)
    for name in names:
        attempt("predict", f"an image named {name!r}", partial(cli, ["predict", images / name]),
                code=0, message=name, cls="markup", note="classified; the name printed as it is")
    data = tmp_path / "[bold]data"
    for folder in ("[b]3", "[i]4"):
        (data / folder).mkdir(parents=True)
        for image in digit_images(int(folder[-1]), 2):
            shutil.copy(image, data / folder / image.name)
    attempt("data prepare", "class folders '[b]3' and '[i]4' in a dataset folder '[bold]data'",
            lambda: cli(["data", "prepare", "--src", data, "--set", f"data.cache_dir={tmp_path / 'cache'}"]),
            code=0, message="[i]4", keep=[data], cls="markup", note="the table shows '[b]3', '[i]4' as written")
    import onnx

    model = onnx.load(str(tiny["onnx"]))
    meta = next(p for p in model.metadata_props if p.key == META_KEY)
    values = json.loads(meta.value)
    values["classes"] = [f"[/c{i}]" if i % 2 else f"[bold]{i}" for i in range(len(values["classes"]))]
    meta.value = json.dumps(values)
    marked = tmp_path / "marked.onnx"
    onnx.save(model, str(marked))
    attempt("predict --model", "a model whose class names are markup ('[/c1]', '[bold]0', …)",
            lambda: cli(["predict", HAND, "--model", marked, "--wide"]), code=0, message="[/c1]", cls="markup",
            note="the table's columns and classes shown as written")  # --wide: a column per class
    state = torch.load(tiny["checkpoint"], weights_only=True)
    state["classes"] = values["classes"]
    checkpoint = tmp_path / "marked.pt"
    torch.save(state, checkpoint)
    attempt("explain", "a checkpoint whose class names are markup",
            lambda: cli(["explain", checkpoint, HAND, "-o", tmp_path / "x.png", "--fallback"]), code=0,
            message="[/c1]", cls="markup", note="the lengths table shows the names as written")


# ------------------------------------------------------------------------------- 6. digits in names

ODD_DIGITS = ["²", "①", "٣", "３", "𝟓"]  # superscript, circled, Arabic-Indic, full-width, mathematical


def test_class_folders_and_files_with_non_ascii_digits(tmp_path):
    data = tmp_path / "data"
    for index, name in enumerate(["3", *ODD_DIGITS]):
        (data / name).mkdir(parents=True)
        for j, image in enumerate(digit_images(index % 10, 2)):
            shutil.copy(image, data / name / f"IMG_{ODD_DIGITS[j % len(ODD_DIGITS)]}{j}{name}.JPG")
    attempt("data prepare", f"class folders {['3', *ODD_DIGITS]} and file names with such digits",
            lambda: cli(["data", "prepare", "--src", data, "--set", f"data.cache_dir={tmp_path / 'cache'}"]),
            code=0, keep=[data], cls="digits", note="every folder a class, sorted; no int('²') crash")
    attempt("predict", "a folder of files named IMG_²1, IMG_10, IMG_2 …", lambda: cli(["predict", data]), code=0,
            keep=[data], cls="digits", note="natural order without a crash")
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in ("f²1.jpg", "f10.jpg", "f2.jpg", "f①.jpg"):
        shutil.copy(HAND, frames / name)
    attempt("live", "a folder source of frames f²1, f10, f2, f①", lambda: cli(["live", "--source", frames,
                                                                              "--no-window", "--serial"]),
            code=0, keep=[frames], cls="digits", note="every frame read in natural order")
    plain = tmp_path / "plain"
    for digit in (0, 1):
        (plain / str(digit)).mkdir(parents=True)
        for j, image in enumerate(digit_images(digit, 2)):
            shutil.copy(image, plain / str(digit) / f"IMG_{ODD_DIGITS[j]}.JPG")
    # no number the participant rule can read: grouped by near-identical images, with a warning that says so
    outcome = attempt("train", "a participant split of files numbered only with non-ASCII digits (IMG_².JPG)",
                      lambda: cli(["train", "--data", plain, "--set", "data.split=participant", "--set",
                                   f"data.cache_dir={tmp_path / 'cache'}", "--set", "negatives.root=null",
                                   "--epochs", "1", "--run-dir", tmp_path / "run"]),
                      code=0, cls="digits", note="split by near-identical images, with a warning")
    assert "participant numbers" in " ".join(outcome.output.split())


@pytest.mark.parametrize("command", ["live", "collect", "bench live"])
def test_sources_and_sizes_with_odd_digits(tmp_path, command):
    base = {"live": ["live", "--no-window"], "collect": ["collect", "--label", "3", "--out", tmp_path / "c",
                                                         "--no-window"],
            "bench live": ["bench", "live"]}[command]
    for source in [*ODD_DIGITS, "١٢", "99999999999999999999"]:
        attempt(command, f"--source {source!r}", partial(cli, [*base, "--source", source]),
                message=source, cls="digits", absent=[tmp_path / "c"])
    if command == "live":
        for size in ["²x²", "٦٤٠x٤٨٠", "640x480x3", "-640x480", "1e3x480", "640X", "99999999999x480"]:
            attempt("live", f"--camera-size {size!r}",
                    partial(cli, ["live", "--no-window", "--source", "0", "--camera-size", size]),
                    message="--camera-size", cls="digits")


# ------------------------------------------------------------------------------- 7. NaN and shapes


def _float_keys() -> list[str]:
    from signcaps.util.config import Recipe

    recipe = Recipe()
    return [f"{section.name}.{f.name}" for section in dataclasses.fields(Recipe)
            if dataclasses.is_dataclass(getattr(recipe, section.name))
            for f in dataclasses.fields(getattr(recipe, section.name))
            if isinstance(getattr(getattr(recipe, section.name), f.name), float)]


def test_every_float_setting_refuses_nan_and_infinity(tmp_path):
    keys = _float_keys()
    assert len(keys) > 30
    cases = [(key, ".nan") for key in keys] + [(key, value) for key in keys[:4] for value in (".inf", "-.inf")]
    cases.append(("model.params", "{routing_init_std: .nan}"))
    for key, value in cases:
        attempt("train", f"--set {key}={value}", partial(cli, ["train", "--set", f"{key}={value}",
                                                               "--run-dir", tmp_path / "run"]),
                message="finite", absent=[tmp_path / "run"],
                cls="nan")


def _edited_onnx(source: Path, target: Path, edit) -> Path:
    import onnx

    from signcaps.runtime.classifier import META_KEY

    model = onnx.load(str(source))
    meta = next(p for p in model.metadata_props if p.key == META_KEY)
    values = json.loads(meta.value)
    edit(model, values)
    meta.value = json.dumps(values)
    onnx.save(model, str(target))
    return target


def _nan_weights(model, _values) -> None:
    """NaN in the weights of the first convolution (on the path to the lengths, whatever else the graph has)."""
    from onnx import numpy_helper

    conv = next(node for node in model.graph.node if node.op_type == "Conv")
    init = next(i for i in model.graph.initializer if i.name == conv.input[1])
    array = numpy_helper.to_array(init)
    init.CopyFrom(numpy_helper.from_array(np.full_like(array, np.nan), init.name))


def _dynamic_width(model, values) -> None:
    for output in model.graph.output:
        for dim in output.type.tensor_type.shape.dim:
            dim.dim_param = "n"
    values["classes"] = values["classes"][:-1]


MODEL_EDITS = {
    "NaN weights": _nan_weights,
    "9 classes for a 10-wide output (static shape)": lambda _m, v: v.update(classes=v["classes"][:-1]),
    "9 classes for a 10-wide output (dynamic shape)": _dynamic_width,
    "duplicate class names": lambda _m, v: v.update(classes=["1", *v["classes"][1:]]),
    "int 1 and text '1' as class names": lambda _m, v: v.update(classes=[1, "1", *v["classes"][2:]]),
    "crop margin 1e9": lambda _m, v: v.update(margin=1e9),
    "normalisation mean 1e308 x 10": lambda _m, v: v.update(mean=1.7e308),
}


@pytest.fixture(scope="module")
def bad_models(tiny, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-models")
    return {case: _edited_onnx(tiny["onnx"], root / f"m{i}.onnx", edit) for i, (case, edit) in
            enumerate(MODEL_EDITS.items())}


@pytest.mark.parametrize("command", ["predict", "live", "bench live", "calibrate", "web build"])
def test_models_with_nan_or_a_wrong_shape_are_refused_at_load(tmp_path, bad_models, command):
    for case, model in bad_models.items():
        args = {"predict": ["predict", HAND, "--model", model],
                "live": ["live", "--source", HAND, "--no-window", "--model", model],
                "bench live": ["bench", "live", "--source", HAND, "--model", model],
                "calibrate": ["calibrate", model, "--out", tmp_path / "cal"],
                "web build": ["web", "build", tmp_path / "site", "--model", model]}[command]
        attempt(command, f"model: {case}", partial(cli, args), keep=[model], cls="nan",
                absent=[tmp_path / "site"])


def _edited_checkpoint(source: Path, target: Path, edit) -> Path:
    import torch

    state = torch.load(source, weights_only=True)
    edit(state)
    torch.save(state, target)
    return target


def _checkpoint_nan(state) -> None:
    name = next(k for k, v in state["model_state"].items() if v.is_floating_point() and v.numel() > 16)
    state["model_state"][name] = state["model_state"][name] * float("nan")


CHECKPOINT_EDITS = {
    "NaN weights": _checkpoint_nan,
    "duplicate class names": lambda s: s.update(classes=["1", *s["classes"][1:]]),
    "layers asking for terabytes": lambda s: s["recipe"]["model"]["params"].update(decoder_hidden=[16384] * 16),
    "a zero stride": lambda s: s["recipe"]["model"]["params"].update(stem_strides=[0, 2]),
    "NaN in its recipe": lambda s: s["recipe"]["crop"].update(mean=float("nan")),
}


@pytest.mark.parametrize("command", ["export", "eval", "explain"])
def test_checkpoints_with_nan_or_impossible_shapes(tmp_path, tiny, command):
    for i, (case, edit) in enumerate(CHECKPOINT_EDITS.items()):
        bad = _edited_checkpoint(tiny["checkpoint"], tmp_path / f"c{i}.pt", edit)
        args = {"export": ["export", bad, "-o", tmp_path / "m.onnx"], "eval": ["eval", bad, "--out", tmp_path / "o"],
                "explain": ["explain", bad, HAND, "-o", tmp_path / "x.png"]}[command]
        attempt(command, f"checkpoint: {case}", partial(cli, args), keep=[bad], cls="nan",
                absent=[tmp_path / "m.onnx", tmp_path / "x.png"])


def test_results_are_strict_json():
    from signcaps.util.outputs import json_text

    text = json_text({"a": float("nan"), "b": [float("inf"), 1.5], "c": np.float32("nan"), "d": np.array([np.nan])})
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": None, "d": [None]} and "NaN" not in text


# ------------------------------------------------------------------------------------ 8. ranges


def _commands():
    """(name, click command) for every command of the CLI."""
    import typer

    from signcaps.cli import app

    def walk(group, prefix):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from walk(command, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", command

    return list(walk(typer.main.get_command(app), ""))


# The least a command needs to parse (the option check runs before the command does anything).
REQUIRED = {"predict": ["x.jpg"], "explain": ["x.pt", "x.jpg"], "export": ["x.pt", "-o", "x.onnx"],
            "eval": ["x.pt"], "robustness": ["x.pt"], "collect": ["--label", "3", "--out", "x"],
            "bench live": ["--source", "x.mp4"], "bench hands": ["--source", "x.mp4"], "web build": ["site"],
            "web serve": ["site"], "data prepare": ["--src", "x"], "summarize": ["x"], "bench variants": ["x.pt"],
            "adapt": ["-o", "x.onnx"]}


def _bad_values(check, is_int: bool) -> list[str]:
    lo, hi, lo_open, hi_open = check.bounds
    values = []
    if lo is not None:
        values.append(str(lo if lo_open else (int(lo) - 1 if is_int else lo - 0.5)))
    if hi is not None:
        values.append(str(hi if hi_open else (int(hi) + 1 if is_int else hi + 0.5)))
    values.append(str(10**30) if is_int else "nan")
    if not is_int:
        values.append("inf")
    return values


def _is_option(param) -> bool:
    return getattr(param, "param_type_name", "") == "option"


def _kind(param) -> str:
    """"integer", "float" or "" for other options (from the annotation typer keeps; the option
    classes differ between typer versions, some vendoring click)."""
    import typing

    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if annotation is None and hasattr(param, "type"):
        return {"integer": "integer", "float": "float"}.get(getattr(param.type, "name", ""), "")
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    return {int: "integer", float: "float"}.get(args[0], "") if len(args) == 1 else ""


def test_every_numeric_option_of_every_command_is_range_checked(tmp_path):
    from signcaps.util.config import OPTION_CHECKS

    seen = set()
    for name, command in _commands():
        for param in command.params:
            if param.name not in OPTION_CHECKS or not _is_option(param):
                continue
            flag, check = OPTION_CHECKS[param.name]
            is_int = _kind(param) == "integer"
            for value in _bad_values(check, is_int):
                args = [*name.split(), *REQUIRED.get(name, []), flag, value]
                attempt(name, f"{flag} {value}", partial(cli, args), message=flag, cls="range")
            seen.add(param.name)
    assert seen == set(OPTION_CHECKS), f"options in the table that no command has: {set(OPTION_CHECKS) - seen}"
    numeric = {(n, p.name) for n, c in _commands() for p in c.params if _is_option(p) and _kind(p) in ("integer",
                                                                                                   "float")}
    unchecked = sorted(f"{n} --{p}" for n, p in numeric if p not in OPTION_CHECKS)
    assert not unchecked, f"numeric options without a range in config.OPTION_CHECKS: {unchecked}"


RANGE_SETTINGS = [
    ("--seed 18446744073709551616 (2^64)", ["--seed", str(2**64)], "--seed"),
    ("--set data.split_seed=-1", ["--set", "data.split_seed=-1"], "data.split_seed"),
    ("--set train.threads=100000", ["--set", "train.threads=100000"], "train.threads"),
    ("--set crop.margin=1e9", ["--set", "crop.margin=1e9"], "crop.margin"),
    ("--set train.batch_size=10**20", ["--set", f"train.batch_size={10**20}"], "train.batch_size"),
    ("--set model.params={stem_strides: [0, 2, 2]}", ["--set", "model.params={stem_strides: [0, 2, 2]}"],
     "stem_strides"),
    ("--set model.params={digit_dim: 0}", ["--set", "model.params={digit_dim: 0}"], "digit_dim"),
    ("--set model.params={primary_dim: -3}", ["--set", "model.params={primary_dim: -3}"], "primary_dim"),
    ("--set model.params={decoder_hidden: [16384] x 16} (terabytes)",
     ["--set", f"model.params={{decoder_hidden: {[16384] * 16}}}"], "parameters"),
    ("--model cnn --set model.params={kernel: 0}", ["--model", "cnn", "--set", "model.params={kernel: 0}"], "kernel"),
    ("--model cnn --set model.params={dropout: 1.5}", ["--model", "cnn", "--set", "model.params={dropout: 1.5}"],
     "dropout"),
]


def test_settings_out_of_range(tmp_path, tiny):
    for case, args, message in RANGE_SETTINGS:
        attempt("train", case, partial(cli, ["train", "--data", tiny["data"], "--set", "data.split=stratified",
                                             "--set", f"data.cache_dir={tmp_path / 'cache'}",
                                             "--run-dir", tmp_path / "run", *args]),
                message=message, absent=[tmp_path / "run"], cls="range")


# --------------------------------------------------------------------------------- 9. files read whole


def test_large_files_are_refused_by_size_before_reading(tmp_path, tiny):
    huge = _sparse(tmp_path / "huge.jpg", 20 << 30)
    cases = [
        ("predict", "a 20 GB (sparse) file named huge.jpg beside a real hand",
         ["predict", HAND, huge, "--json"], 0, "file too large"),
        ("export", "a 5 GB (sparse) checkpoint", ["export", _sparse(tmp_path / "big.pt", 5 << 30), "-o",
                                                 tmp_path / "m.onnx"], 1, "checkpoint"),
        ("predict --model", "a 3 GB (sparse) model", ["predict", HAND, "--model", _sparse(tmp_path / "big.onnx",
                                                                                        3 << 30)], 1, "model"),
        ("summarize", "a 100 MB (sparse) metrics.json", ["summarize", _sparse(tmp_path / "run" / "metrics.json",
                                                                               100 << 20).parent], 1, "metrics"),
        ("train", "a 2 MB (sparse) recipe", ["train", "--recipe", _sparse(tmp_path / "big.yaml", 2 << 20)], 1,
         "recipe"),
    ]
    for command, case, args, code, message in cases:
        attempt(command, case, partial(cli, args), code=code, message=message, cls="size",
                note="the hand classified; the huge file reported 'file too large', never read" if code == 0 else None)
    data = tmp_path / "data"
    for digit in (0, 1):
        (data / str(digit)).mkdir(parents=True)
        for image in digit_images(digit, 2):
            shutil.copy(image, data / str(digit))
    _sparse(data / "1" / "huge.JPG", 20 << 30)
    os.mkfifo(data / "0" / "pipe.jpg")
    attempt("data prepare", "a 20 GB (sparse) image and a FIFO in a class folder",
            lambda: cli(["data", "prepare", "--src", data, "--set", f"data.cache_dir={tmp_path / 'cache'}"]),
            code=0, message="file too large", cls="size", note="4 images cropped; the huge file skipped unread")
    source = tmp_path / "frames"
    source.mkdir()
    shutil.copy(HAND, source / "f1.jpg")
    _sparse(source / "f2.jpg", 20 << 30)
    attempt("live", "a folder source with a 20 GB (sparse) frame", lambda: cli(["live", "--source", source,
                                                                               "--no-window", "--serial"]),
            code=0, message="1 unreadable skipped", cls="size", note="the huge frame skipped and counted")
    archive = tmp_path / "src" / "Dataset"
    first = sorted((DIGITS / "0").glob("*.JPG"))[0]
    _sparse(archive / "0" / first.name, 20 << 30)
    attempt("data fetch", "--from a folder whose manifest image is a 20 GB (sparse) file",
            lambda: cli(["data", "fetch", "--from", archive.parent, "--dest", tmp_path / "raw"]),
            message="does not match", cls="size", absent=[tmp_path / "raw" / "sign-language-digits"])


def test_a_motion_photo_jpeg_is_accepted(tmp_path, tiny):
    """A valid JPEG with an MP4 after its end marker, as phones write "motion photos"."""
    photo = tmp_path / "motion.jpg"
    photo.write_bytes(HAND.read_bytes() + b"\x00\x00\x00\x18ftypmp42" + os.urandom(20000) + b"\xff\xd9" + b"tail")
    attempt("predict", "a motion photo (an MP4 appended after the JPEG's end marker)",
            lambda: cli(["predict", photo, "--json"]), code=0, message='"status": "ok"', cls="size",
            note="classified like the plain photo")
    attempt("explain", "a motion photo", lambda: cli(["explain", tiny["checkpoint"], photo, "-o", tmp_path / "x.png"]),
            code=0, cls="size", note="explained like the plain photo")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(photo.read_bytes()[:3000])
    attempt("predict", "a motion photo cut before its JPEG ends", lambda: cli(["predict", truncated]),
            message="could be classified", show="truncated", cls="size")


# ------------------------------------------------------------------------------- 11. odd environments


def _swapped_bundle(path: Path) -> Path:
    with zipfile.ZipFile(HAND_MODEL) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        a, b = "hand_detector.tflite", "hand_landmarks_detector.tflite"
        out.writestr(a, src.read(b))
        out.writestr(b, src.read(a))
    return path


def test_odd_environments(tmp_path, tiny, monkeypatch):
    swapped = _swapped_bundle(tmp_path / "swapped.task")
    for command, args in [("predict", ["predict", HAND]), ("data prepare", ["data", "prepare", "--src", tiny["data"],
                                                                            "--refresh", "--set",
                                                                            f"data.cache_dir={tmp_path / 'c'}"]),
                          ("live", ["live", "--source", HAND, "--no-window"]),
                          ("explain", ["explain", tiny["checkpoint"], HAND, "-o", tmp_path / "x.png"]),
                          ("models pull", ["models", "pull"])]:
        attempt(command, "--hand-model: a bundle with its two networks swapped",
                partial(cli, [*args, "--hand-model", swapped]), message="swapped", keep=[swapped],
                cls="env")
    cache_file = tmp_path / "cache-is-a-file"
    cache_file.write_text("not a folder")
    monkeypatch.delenv("SIGNCAPS_HAND_MODEL")
    monkeypatch.setenv("SIGNCAPS_CACHE_DIR", str(cache_file))
    for command, args in [("models pull", ["models", "pull"]), ("predict", ["predict", HAND])]:
        attempt(command, "$SIGNCAPS_CACHE_DIR names a file", partial(cli, args), message="is a file",
                keep=[cache_file], cls="env")
    monkeypatch.setenv("SIGNCAPS_CACHE_DIR", str(cache_file / "below"))
    attempt("models pull", "$SIGNCAPS_CACHE_DIR below a file", lambda: cli(["models", "pull"]), message="is a file",
            keep=[cache_file], cls="env")
    real = tmp_path / "real-site"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    attempt("web build", "the site folder is a symbolic link", lambda: cli(["web", "build", tmp_path / "link"]),
            message="symbolic link", cls="env")


METRICS = {
    "not JSON": b"{not json",
    "empty": b"",
    "a JSON list": b"[1, 2]",
    "not UTF-8": b'{"model": "caf\xe9"}',
    "no test_acc": json.dumps({"model": "cnn", "seed": 0, "params": 1, "epochs": 1, "seconds_per_epoch": 1,
                               "train_seconds": 1}).encode(),
    "test_acc NaN": b'{"model": "cnn", "seed": 0, "params": 1, "epochs": 1, "seconds_per_epoch": 1, '
                    b'"train_seconds": 1, "test_acc": NaN}',
    "params as text": b'{"model": "cnn", "seed": 0, "params": "many", "epochs": 1, "seconds_per_epoch": 1, '
                      b'"train_seconds": 1, "test_acc": 0.5}',
    "recipe as a list": b'{"model": "cnn", "seed": 0, "params": 1, "epochs": 1, "seconds_per_epoch": 1, '
                        b'"train_seconds": 1, "test_acc": 0.5, "recipe": [1]}',
    "nested 100000 levels": b"[" * 100000 + b"]" * 100000,
}


def test_summarize_with_broken_metrics(tmp_path):
    for i, (case, data) in enumerate(METRICS.items()):
        run = tmp_path / f"run{i}"
        run.mkdir()
        (run / "metrics.json").write_bytes(data)
        attempt("summarize", f"metrics.json: {case}", partial(cli, ["summarize", run]), message="metrics",
                keep=[run], cls="env")


def test_the_served_site_lists_nothing_and_hides_bookkeeping(tmp_path):
    from signcaps.util.outputs import record_tree
    from signcaps.web.site import make_server

    site = tmp_path / "site"
    (site / "models").mkdir(parents=True)
    (site / "index.html").write_text("<html></html>")
    (site / "models" / "model.onnx").write_bytes(b"x")
    record_tree(site)
    server = make_server(site, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as reply:
                return reply.status
        except urllib.error.HTTPError as err:
            return err.code

    try:
        got = {path: status(path) for path in ("index.html", "models/model.onnx", "models/", ".signcaps-outputs.json",
                                               "%2esignc%61ps-outputs.json", "models/../.signcaps-outputs.json")}
    finally:
        server.shutdown()
        server.server_close()
    for path, code in got.items():
        expected = 200 if path in ("index.html", "models/model.onnx") else 404
        attempt("web serve", f"GET /{path}", partial(Outcome, 0 if code == expected else 1, f"HTTP {code}"),
                code=0, cls="env", note=f"HTTP {code}")


def test_ctrl_c_in_train_exits_130(tmp_path, tiny, crop_cache, monkeypatch):
    import signcaps.training.train as train

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "run_epoch", interrupted)
    attempt("train", "Ctrl-C in the first epoch", lambda: cli(["train", "--data", tiny["data"], "--set",
                                                               "data.split=stratified", "--set",
                                                               f"data.cache_dir={crop_cache}", "--run-dir",
                                                               tmp_path / "run", "--model", "cnn"]),
            code=130, message="--resume", cls="env")


def test_opencv_keeps_quiet(tmp_path, tiny):
    """Native OpenCV/FFMPEG lines ("[ WARN:0@…]", "moov atom not found") never reach the terminal."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(4096))
    unwritable = tmp_path / "x.unknown-format"
    for command, case, args in [
        ("live", "a video file of random bytes", ["live", "--source", broken, "--no-window"]),
        ("live", "-o with an extension OpenCV cannot write", ["live", "--source", HAND, "--no-window", "-o",
                                                               tmp_path / "o.xyz"]),
        ("explain", "-o with an extension OpenCV cannot write", ["explain", tiny["checkpoint"], HAND, "-o",
                                                                 unwritable]),
    ]:
        outcome = attempt(command, f"{case}, in a subprocess", partial(subprocess_cli, args), cls="env")
        assert "WARN" not in outcome.output and "moov" not in outcome.output and "[ERROR" not in outcome.output


def test_every_path_option_refuses_names_too_long_to_be_paths(tmp_path):
    """A 5000-byte path or a 300-byte name would raise ENAMETOOLONG from the first exists()."""
    from signcaps.util.config import PATH_OPTIONS

    too_long = {"a 5000-byte path": "/".join(["d" * 200] * 25), "a 300-byte name": "n" * 300}
    count = 0
    for name, command in _commands():
        for param in command.params:
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            pathlike = param.name in PATH_OPTIONS or "Path" in str(annotation)
            if not (_is_option(param) and pathlike):
                continue
            flag = max(param.opts, key=len)
            for case, value in too_long.items():
                args = [*name.split(), *REQUIRED.get(name, []), flag, value]
                attempt(name, f"{flag} {case}", partial(cli, args), message="more than", cls="parse")
                count += 1
    for case, args in [("predict: an input of 300 bytes", ["predict", "n" * 300]),
                       ("explain: a checkpoint path of 5000 bytes", ["explain", too_long["a 5000-byte path"], "x.jpg"]),
                       ("web serve: a site name of 300 bytes", ["web", "serve", "n" * 300])]:
        attempt(args[0] if args[0] != "web" else "web serve", case, partial(cli, args), message="more than",
                cls="parse")
    recipe = tmp_path / "long-root.yaml"
    recipe.write_text("data:\n  root: " + "a" * 900_000 + "\n")
    attempt("train", "--recipe whose data.root is 900 KB long", partial(cli, ["train", "--recipe", recipe]),
            message="data.root", cls="parse")
    attempt("train", "--set data.group_pattern=<5000 nested groups>",
            partial(cli, ["train", "--set", "data.group_pattern=" + "(" * 5000, "--run-dir", tmp_path / "r"]),
            message="data.group_pattern", absent=[tmp_path / "r"], cls="parse")
    assert count >= 20
