"""Typed configuration: one recipe file -> nested dataclasses, with dotted CLI overrides.

Every tunable number of the project lives here (or in a recipe that sets it), so a recipe plus
a seed is the complete description of a run.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from signcaps.util.errors import UserError


class ConfigError(UserError, ValueError):
    """A recipe or override that does not fit the config schema (user error, one line)."""


@dataclass
class DetectConfig:
    """MediaPipe HandLandmarker settings."""

    num_hands: int = 1
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    # Still images whose hand fills the frame need context for the palm detector: pad each side
    # by this fraction of the longer side (replicated border). 0.3 finds 99.4% of dataset hands.
    context_pad: float = 0.3
    # A still without a hand is tried once more with this padding (-1: no retry).
    retry_pad: float = 0.6


@dataclass
class CropConfig:
    """The one preprocessing path shared by training, export checks and live inference."""

    input_size: int = 32
    channels: int = 1  # 1 = grayscale, 3 = RGB
    margin: float = 0.2  # extra context around the landmark box, as a fraction of its side
    mirror_left: bool = False  # flip left hands so every crop shows a right hand
    mean: float = 0.5
    std: float = 0.5
    fallback_whole_image: bool = False  # use the centre square when no hand is found

    @property
    def cache_key(self) -> str:
        """Crops depend only on these settings (normalisation is applied later)."""
        return f"s{self.input_size}-m{self.margin:g}-mirror{int(self.mirror_left)}-fb{int(self.fallback_whole_image)}"


@dataclass
class JoinConfig:
    """A second sign set whose classes join the dataset's in one handshape vocabulary (issue 29).

    Letters and digits share handshapes (V = 2, W = 6, F = 9, O ~ 0): one model with a capsule per
    handshape can refuse a C in digits mode *because C's own capsule wins*. The joined set keeps its
    own train/ valid/ test/ folders (a split never mixes its originals); its folders named in `same`
    train the dataset's capsule of that handshape, the others become capsules of their own. The
    exported model records both modes, and `--signs` picks which capsules are answers.
    """

    root: str | None = None  # a folder or registered dataset (`asl-letters`); None: nothing joined
    mode: str = "letters"  # the sign mode its classes answer in (`--signs letters`)
    stretch_x: float | None = None  # widths scaled by this before detection (None: the registered dataset's own)
    same: dict[str, str] = field(default_factory=dict)  # joined folder -> the dataset's class of that handshape


@dataclass
class DataConfig:
    # a folder, or a registered dataset's name: its fetched copy (`datasets.resolve_root`)
    root: str = "digits"
    mode: str = "digits"  # the sign mode the dataset's classes answer in, when a set is joined (`--signs`)
    stretch_x: float | None = None  # widths scaled by this before detection (None: the registered dataset's own)
    split: str = "participant"  # participant | stratified | group
    group_pattern: str | None = None  # regex with one group naming the participant (split=group)
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    cache_dir: str = "data/cache"
    # Re-shot copies of every photo (scenes.random_retake) whose hands MediaPipe detects again, so
    # training can see the landmarks a worse camera gives (augment.retake_p); 0 = none.
    retakes: int = 0
    join: JoinConfig = field(default_factory=JoinConfig)


@dataclass
class AugmentConfig:
    """albumentations pipeline, applied to training crops only."""

    enabled: bool = True
    rotate: float = 15.0  # degrees, +-
    scale: float = 0.1  # +- fraction
    translate: float = 0.08  # +- fraction of the side
    shear: float = 5.0  # degrees, +-
    affine_p: float = 0.8
    brightness: float = 0.25
    contrast: float = 0.25
    color_p: float = 0.7
    blur_p: float = 0.1
    noise_p: float = 0.1
    hflip_p: float = 0.0  # flips image and pose together
    jpeg_p: float = 0.0  # JPEG artefacts (quality 15-70)
    background_p: float = 0.0  # replace the background through the hand mask (colours, noise, textures, clutter)
    temperature: float = 0.0  # +- colour-temperature gain (red up / blue down and back)
    gamma: float = 0.0  # +- log gamma of the light curve
    pose_tilt: float = 0.0  # +- degrees of out-of-plane rotation of the landmarks
    pose_jitter: float = 0.0  # per-joint noise, in wrist-to-knuckle units
    retake_p: float = 0.0  # use a re-shot copy's crop and landmarks instead (needs data.retakes > 0)


@dataclass
class NegativesConfig:
    """Hands that sign none of the classes, so the capsules can learn to stay short (issue 18).

    Margin-loss training on signs alone makes some capsule long for every hand, a fist or a
    resting hand included; negatives teach the model that "no sign" is an answer. They come from
    three places: a `none/` (or `_none/`) folder in the dataset itself (split with the data), an
    external folder of other signs (`root`: e.g. the ASL letters, whose `train/` part trains and
    whose `valid/` and `test/` parts are only evaluated), and landmark edits of the training hands
    (`synthetic` per hand and epoch; `negatives.py`), whose crops are left out of the image branch.
    """

    # off | short: every capsule's target is below m- (no extra class) | class: an explicit "none" class
    mode: str = "short"
    root: str | None = None  # a folder with train/ (and valid/, test/) sub-folders of class folders, or class folders
    classes: tuple[str, ...] = ()  # the class folders under `root` that are negatives (empty: all of them)
    # class folders under `root` that show one of the model's own signs (folder: class), trained and
    # judged as that sign: the negatives' people and rooms then show signs too, so no room or camera can
    # tell a negative from a sign (the ASL letters V, W, F, O are the digits 2, 6, 9, 0)
    signs: dict[str, str] = field(default_factory=dict)
    stretch_x: float = 1.0  # widths scaled by this before detection (the ASL letters were squashed: 0.75 undoes it)
    synthetic: float = 1.0  # synthetic negatives per training hand and epoch (a fraction draws that share); pose models
    edits: dict[str, float] = field(default_factory=dict)  # which `negatives.EDITS` to draw, with weights (empty: all)
    weight: float = 1.0  # the negatives' weight in the loss (each class capsule's absent term)
    # Class balance: the negatives (real and synthetic) weigh at most `balance` times the signs in all; a
    # lower per-negative weight where they outnumber the signs more (0: off). 90 signs beside ~800 letters
    # learnt to refuse everything: 14 of 15 held-out signs said "none" (issue 25).
    balance: float = 0.0
    # The rejection rule the model ships with (`rejection.py`, ONNX metadata; `export --accept` etc. override it):
    # a winning sign capsule >= accept is shown, below none_below the hand signs "none", between is "?".
    # The margins are m+ 0.9 and m- 0.1: 0.5 is their midpoint (train/README.md, "Saying none").
    accept: float = 0.5
    none_below: float = 0.3
    max_pose_error: float | None = None  # the winner's decoded skeleton further than this from the pose: "none"


@dataclass
class ModelConfig:
    name: str = "capsnet"
    routing_iterations: int = 3
    params: dict[str, Any] = field(default_factory=dict)  # architecture overrides for the registry entry


@dataclass
class TrainConfig:
    epochs: int = 40
    # Small datasets: epochs are raised until training takes at least this many optimizer steps (a 90-photo
    # set makes 2 batches an epoch: 40 epochs were 80 steps, too few to learn anything; issue 25). An
    # explicit epochs value (--epochs, --set train.epochs=) trains exactly that many unless min_steps is set too.
    min_steps: int = 0
    batch_size: int = 64
    lr: float = 2e-3
    lr_min: float = 2e-5
    weight_decay: float = 0.0
    recon_weight: float = 0.0005  # Sabour et al.: 0.0005 x sum of squared errors
    pose_recon_weight: float = 0.01  # x sum of squared errors of the decoded landmarks (pose models)
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA only; CPU always runs float32
    threads: int = 0  # torch intra-op threads; 0 = torch default
    out_dir: str = "runs"


@dataclass
class Recipe:
    name: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    negatives: NegativesConfig = field(default_factory=NegativesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def coerce(value: Any, annotation: Any, where: str, strict: bool = False) -> Any:
    """Check/convert one leaf value against its annotation (handles X | None, int->float, tuple[int, ...]).

    The one type-coercion path of the project: recipes and `--set` overrides come through here, and
    so do the models' architecture parameters (`models.merge_params`). ``strict`` turns off the
    text conversions ("5" -> 5, "yes" -> True) that only `--set key=value` text needs.
    """
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        annotation = next(a for a in args if a is not type(None))
        origin = typing.get_origin(annotation)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is tuple:
        item = typing.get_args(annotation)[0]
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list of {item.__name__}, got {value!r}")
        try:
            return tuple(coerce(v, item, where, strict) for v in value)
        except ConfigError:
            raise ConfigError(f"{where}: expected a list of {item.__name__}, got {value!r}") from None
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if not strict and isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is str and isinstance(value, str):
        return value
    if not strict and isinstance(value, str) and annotation in (int, float):
        try:
            return annotation(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}")


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        names = sorted(str(key) for key in unknown)  # YAML keys may be numbers too
        raise ConfigError(f"{where or 'recipe'}: unknown key(s) {names}; known: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        path = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: expected a mapping")
            kwargs[name] = _build(hint, value, path)
        else:
            kwargs[name] = coerce(value, hint, path)
    return cls(**kwargs)


def recipe_from_dict(values: dict[str, Any]) -> Recipe:
    if not isinstance(values or {}, dict):
        raise ConfigError("a recipe must be a mapping of sections")
    check_size(values, "recipe")
    return check_values(_build(Recipe, values or {}, ""))


# A recipe holds ~80 values three levels deep. YAML aliases can make a 500-byte file expand to
# billions of values (and a recursive alias to infinitely many), so every parsed recipe and
# override is walked once with these budgets before anything else touches it.
MAX_RECIPE_VALUES = 10_000
MAX_RECIPE_DEPTH = 32


def check_size(value: Any, where: str) -> None:
    """Refuse a parsed document that refers to itself (a recursive alias) or that, with its aliases
    expanded, would hold more than MAX_RECIPE_VALUES values or nest deeper than MAX_RECIPE_DEPTH."""
    count = 0

    def walk(node: Any, path: tuple[int, ...]) -> None:
        nonlocal count
        count += 1
        if count > MAX_RECIPE_VALUES:
            raise ConfigError(f"{where} expands to more than {MAX_RECIPE_VALUES:,} values (YAML aliases?); a recipe "
                              f"holds about a hundred")
        if isinstance(node, (dict, list, tuple)):
            if id(node) in path:
                raise ConfigError(f"{where} refers to itself (a recursive YAML alias)")
            if len(path) >= MAX_RECIPE_DEPTH:
                raise ConfigError(f"{where} nests deeper than {MAX_RECIPE_DEPTH} levels")
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            for child in children:
                walk(child, (*path, id(node)))

    walk(value, ())


def parse_yaml(text: str, where: str) -> Any:
    """YAML through the safe loader, with the size budgets of `check_size`; one ConfigError line."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where} is not valid YAML: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise ConfigError(f"{where} nests deeper than {MAX_RECIPE_DEPTH} levels") from None
    check_size(value, where)
    return value


def read_recipe_file(path: str | Path) -> dict[str, Any]:
    """The sections of a recipe file: a regular UTF-8 file of at most MAX_RECIPE_BYTES, a YAML mapping."""
    from signcaps.util.inputs import MAX_RECIPE_BYTES, regular_file

    path = regular_file(path, "recipe", MAX_RECIPE_BYTES, ConfigError)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"recipe {path} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"cannot read recipe {path}: {err.strerror}") from None
    values = parse_yaml(text, f"recipe {path}") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"recipe {path} must be a mapping of sections")
    return values


def load_recipe(path: str | Path | None, overrides: list[str] | None = None,
                values: dict[str, Any] | None = None) -> Recipe:
    """Load a YAML recipe (a file, or the name of a shipped one such as `fused-capsnet`; None =
    built-in defaults), apply `section.key=value` overrides (text, as typed after --set), then
    ``values`` ({dotted key: value}, from typed CLI flags: never parsed)."""
    sections: dict[str, Any] = {}
    if path is not None:
        from signcaps.util.bundled import find_recipe, recipe_names

        try:
            found = find_recipe(path)
        except OSError:  # a name too long to be a path: read_recipe_file says so in one line
            found = Path(path)
        if found is None:
            raise ConfigError(f"recipe not found: {path} (neither a file nor a shipped recipe: "
                              f"{', '.join(recipe_names()) or 'none found'})")
        sections = read_recipe_file(found)
        sections.setdefault("name", Path(found).stem)
    for item in overrides or []:
        apply_override(sections, item)
    for key, value in (values or {}).items():
        _set(sections, key.split("."), value, key)
    given = {item.split("=", 1)[0].strip() for item in overrides or []} | set(values or {})
    if "train.epochs" in given and "train.min_steps" not in given and isinstance(sections.get("train"), dict):
        sections["train"]["min_steps"] = 0  # epochs asked for by name: exactly that many
    return recipe_from_dict(sections)


def _set(values: dict[str, Any], parts: list[str], value: Any, item: str) -> None:
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    node[parts[-1]] = value


def _annotation(parts: list[str]) -> Any:
    """The type of the recipe field at ``parts`` (None when unknown, or inside a free mapping)."""
    cls: Any = Recipe
    for part in parts:
        if not dataclasses.is_dataclass(cls):
            return None
        hints = typing.get_type_hints(cls)
        if part not in hints:
            return None
        cls = hints[part]
    return cls


def _is_text(annotation: Any) -> bool:
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    return annotation is str or (str in args and all(a in (str, type(None)) for a in args))


def apply_override(values: dict[str, Any], item: str) -> None:
    """`train.epochs=5` -> values['train']['epochs'] = 5. The value is YAML (numbers, lists,
    mappings), except for text settings (paths, names, patterns): those take the text as written,
    so `data.root=signs #2` is that folder, not `signs` and a YAML comment."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like section.key=value")
    parts = key.strip().split(".")
    annotation = _annotation(parts)
    if _is_text(annotation):
        text = raw.strip()
        none = annotation is not str and text in ("", "~", "null", "None")
        _set(values, parts, None if none else text, item)
        return
    try:
        value = parse_yaml(raw, f"override {item!r}: the value") if raw.strip() else None
    except ConfigError as err:
        raise ConfigError(str(err).replace("is not valid YAML: ", "is not valid YAML (", 1) + ")"
                          if "is not valid YAML: " in str(err) else str(err)) from None
    _set(values, parts, value, item)


def save_recipe(recipe: Recipe, path: Path) -> None:
    """Atomic, and untouched when unchanged (a resume keeps the run's own record byte for byte)."""
    from signcaps.util.outputs import atomic_write_text

    text = yaml.safe_dump(recipe.to_dict(), sort_keys=False)
    if not (path.is_file() and path.read_text() == text):
        atomic_write_text(path, text)


# ------------------------------------------------------------------------------ value checks
# One table of allowed values per dotted key, applied whenever a recipe is built (recipe file,
# --set overrides, flags, the recipe inside a checkpoint): an out-of-range value is one line
# naming its key here, not a traceback minutes later in OpenCV or torch. A key without an entry
# is only type-checked; add a line when adding a field with a limited range.
Check = typing.Callable[[Any], "str | None"]  # the complaint, or None when the value is fine


def between(lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        too_low = lo is not None and (value <= lo if lo_open else value < lo)
        too_high = hi is not None and (value >= hi if hi_open else value > hi)
        finite = value == value and value not in (float("inf"), float("-inf"))
        if too_low or too_high or not finite:
            left = "" if lo is None else f"{'>' if lo_open else '>='} {_number(lo)}"
            right = "" if hi is None else f"{'<' if hi_open else '<='} {_number(hi)}"
            bounds = " and ".join(p for p in (left, right) if p)
            return f"must be {'' if finite else 'a finite number '}{bounds}, got {value!r}"
        return None
    check.bounds = (lo, hi, lo_open, hi_open)  # type: ignore[attr-defined]  (tests generate cases from it)
    return check


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def one_of(*choices: Any) -> Check:
    return lambda value: None if value in choices else f"must be one of {', '.join(map(str, choices))}, got {value!r}"


def regex(value: Any) -> str | None:
    try:
        re.compile(value or "")
    except re.error as err:
        return f"is not a valid regular expression ({err})"
    except (RecursionError, OverflowError):
        return "is too deeply nested to be compiled as a regular expression"
    return None


UNIT, POSITIVE, NON_NEGATIVE = between(0, 1), between(0, lo_open=True), between(0)
SEED_MAX = 2**32 - 1
CHECKS: dict[str, Check] = {
    "data.split": one_of("participant", "stratified", "group"), "data.group_pattern": regex,
    "data.val_fraction": between(0, 1, lo_open=True, hi_open=True), "data.test_fraction": between(0, 1, hi_open=True),
    "detect.num_hands": between(1, 4), "detect.min_detection_confidence": UNIT, "detect.min_presence_confidence": UNIT,
    "detect.min_tracking_confidence": UNIT, "detect.context_pad": between(0, 2), "detect.retry_pad": between(-1, 2),
    "data.retakes": between(0, 16),
    "crop.input_size": between(8, 1024), "crop.channels": one_of(1, 3), "crop.margin": between(0, 5),
    "crop.mean": between(0, 1), "crop.std": between(0.001, 10),  # in units of the [0, 1] pixel range
    **{f"augment.{k}": UNIT for k in ("affine_p", "color_p", "blur_p", "noise_p", "hflip_p", "scale", "translate",
                                      "jpeg_p", "background_p", "temperature", "retake_p")},
    "augment.rotate": between(0, 180), "augment.shear": between(0, 45), "augment.brightness": between(0, 1),
    "augment.contrast": between(0, 1), "augment.gamma": between(0, 2), "augment.pose_jitter": between(0, 1),
    "augment.pose_tilt": between(0, 90),
    "model.routing_iterations": between(1, 20),
    "negatives.mode": one_of("off", "short", "class"), "negatives.stretch_x": between(0.25, 4),
    "negatives.synthetic": between(0, 8), "negatives.weight": between(0, 100), "negatives.balance": between(0, 100),
    "negatives.accept": UNIT, "negatives.none_below": UNIT, "negatives.max_pose_error": between(0, 100, lo_open=True),
    "train.epochs": between(1, 100_000), "train.min_steps": between(0, 10_000_000),
    "train.batch_size": between(1, 65_536),
    "train.lr": between(0, 10, lo_open=True), "train.lr_min": between(0, 10),
    "train.weight_decay": between(0, 10), "train.recon_weight": between(0, 1000),
    "train.pose_recon_weight": between(0, 1000),
    "train.num_workers": between(0, 64),
    "train.threads": between(0, 256), "train.device": one_of("auto", "cpu", "cuda"),
    # seeds feed numpy (32 bits) and torch (64 bits, seed * 100003 + epoch per epoch)
    "train.seed": between(0, SEED_MAX), "data.split_seed": between(0, SEED_MAX),
}
PATH_KEYS = ("data.root", "data.cache_dir", "train.out_dir")  # must name a place: not empty


def plain_text(value: Any) -> str | None:
    """Text settings become paths and file names: a NUL byte would fail deep inside the OS calls."""
    return "must not contain a NUL character" if isinstance(value, str) and "\x00" in value else None


def _path_rule(value: Any) -> str | None:
    from signcaps.util.inputs import path_complaint

    if not str(value).strip():
        return "must name a folder, got ''"
    return path_complaint(str(value))


def _generic(key: str, value: Any) -> str | None:
    """The rules every setting follows, checked or not in CHECKS: numbers are finite, text has no NUL."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if isinstance(value, (list, tuple)):
        return next((c for c in (_generic(key, v) for v in value) if c), None)
    if isinstance(value, dict):
        return next((c for c in (_generic(key, v) for v in value.values()) if c), None)
    return plain_text(value)


def check_values(recipe: Recipe) -> Recipe:
    """Apply the generic rules, CHECKS and the one rule across keys; raises ConfigError naming the key."""
    values = recipe.to_dict()
    for section, fields_ in values.items():
        for name, value in (fields_.items() if isinstance(fields_, dict) else [("", fields_)]):
            key = f"{section}.{name}" if name else section
            complaint = _generic(key, value) or (_path_rule(value) if key in PATH_KEYS else None)
            if complaint:
                raise ConfigError(f"{key} {complaint}")
    if not recipe.name or any(c in recipe.name for c in "/\\"):
        raise ConfigError(f"name must be a plain name (it names the run folder), got {recipe.name!r}")
    for key, check in CHECKS.items():
        section, name = key.split(".")
        complaint = check(values[section][name])
        if complaint:
            raise ConfigError(f"{key} {complaint}")
    if recipe.negatives.none_below > recipe.negatives.accept:
        raise ConfigError(f"negatives.none_below ({recipe.negatives.none_below:g}) must not be above negatives.accept "
                          f"({recipe.negatives.accept:g})")
    _check_join(recipe.data)
    if recipe.data.val_fraction + recipe.data.test_fraction >= 1:
        raise ConfigError(f"data.val_fraction + data.test_fraction must be < 1 (leaving training data), got "
                          f"{recipe.data.val_fraction:g} + {recipe.data.test_fraction:g}")
    return recipe


SIGN_MODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # a --signs name: lower-case, short, no spaces


def _check_join(data: DataConfig) -> None:
    """The joined sign set's keys (nested one level deeper than CHECKS reach)."""
    join = data.join
    for key, mode in (("data.mode", data.mode), ("data.join.mode", join.mode)):
        if not SIGN_MODE.match(mode):
            raise ConfigError(f"{key} must be a short lower-case name such as digits or letters, got {mode!r}")
    if join.root is not None and join.mode == data.mode:
        raise ConfigError(f"data.join.mode must differ from data.mode (both {data.mode!r})")
    for key, stretch in (("data.stretch_x", data.stretch_x), ("data.join.stretch_x", join.stretch_x)):
        complaint = None if stretch is None else between(0.25, 4)(stretch)
        if complaint:
            raise ConfigError(f"{key} {complaint}")


# ------------------------------------------------------------------------------ command-line options
# The same rule for the numbers given as options: one table, keyed by the option's parameter name
# (the same name means the same thing in every command), applied to every command by
# `commands.common.user_errors` before the command runs. None (option not given) is never checked.
OPTION_CHECKS: dict[str, tuple[str, Check]] = {
    "threads": ("--threads", between(1, 64)),  # onnxruntime intra-op threads
    "port": ("--port", between(0, 65535)),
    "bins": ("--bins", between(2, 100)),
    "timeout": ("--timeout", between(0, 86_400, lo_open=True)),
    "fps": ("--fps", between(0.1, 1000)),
    "max_frames": ("--max-frames", between(1, 10**9)),
    "warmup": ("--warmup", between(0, 10**6)),
    "repeat": ("--repeat", between(1, 100)),
    "hands": ("--hands", between(1, 4)),
    "smoothing": ("--smoothing", between(0, 1, lo_open=True)),
    "threshold": ("--threshold", between(0, 1)),
    "detect_every": ("--detect-every", between(1, 10)),
    "compose_hold": ("--compose-hold", between(1, 300)),
    "compose_gap": ("--compose-gap", between(1, 300)),
    "compose_end": ("--compose-end", between(1, 3000)),
    "spell_hold": ("--spell-hold", between(0.01, 60)),  # seconds (signs.spelling.SpellConfig checks the same)
    "spell_release": ("--spell-release", between(0.01, 60)),
    "spell_space": ("--spell-space", between(0.01, 60)),
    "every": ("--every", between(1, 10**6)),
    "hold": ("--hold", between(1, 10**6)),  # adapt --source: frames per sign
    "settle": ("--settle", between(0, 10**6)),
    "shots": ("--shots", between(1, 1000)),
    "max_crops": ("--max", between(1, 10**6)),
    "size": ("--size", between(32, 1024)),
    "margin": ("--margin", between(0.3, 1.5)),
    "budget": ("--budget", between(0.01, 600)),
    "accept": ("--accept", between(0, 1)),  # export: the rejection rule's thresholds
    "none_below": ("--none-below", between(0, 1)),
    "max_pose_error": ("--max-pose-error", between(0, 100)),
    "reshoot": ("--reshoot", between(0, 8)),  # openset: re-shot copies per photo
    "pace": ("--pace", between(0, 1000)),  # bench live: the camera's fps (0 = no paced runs; else >= 0.1)
    "pace_frames": ("--pace-frames", between(1, 10**6)),
    "routing_iterations": ("--routing-iterations", CHECKS["model.routing_iterations"]),
    "routing": ("--routing", CHECKS["model.routing_iterations"]),  # bench variants: each count tried
    "epochs": ("--epochs", CHECKS["train.epochs"]),
    "seed": ("--seed", CHECKS["train.seed"]),
}


# Text options that name files, folders or sources (besides every Path-typed one): each must be
# short enough to be a path, or the first `exists()` on it raises ENAMETOOLONG.
PATH_OPTIONS = ("source", "hand_model", "hand_models", "model", "label")


_FLAGS = {"out_dir": "--out", "json_out": "--json", "set_": "--set", "src": "--src", "source": "--source",
          "checkpoint": "the CHECKPOINT argument", "image": "the IMAGE argument", "site": "the SITE argument",
          "inputs": "an INPUTS argument", "models": "a MODELS argument", "run_dirs": "a RUN_DIRS argument"}


def option_flag(name: str) -> str:
    """The option (or argument) a command parameter comes from, as the user typed it."""
    entry = OPTION_CHECKS.get(name)
    return entry[0] if entry else _FLAGS.get(name, "--" + name.rstrip("_").replace("_", "-"))


def check_options(values: dict[str, Any]) -> None:
    """Apply OPTION_CHECKS to a command's parsed options, and the path rule to the ones that name
    files; ConfigError naming the option."""
    from signcaps.util.inputs import EmptyPath, path_complaint

    for name, value in values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if name in PATH_OPTIONS or any(isinstance(v, (Path, EmptyPath)) for v in items):
            for item in items:
                complaint = path_complaint(str(item)) if isinstance(item, (str, Path)) else None
                if complaint and str(item) == "":
                    raise ConfigError(f"{option_flag(name)} {complaint}")
                if complaint:
                    raise ConfigError(f"the path {str(item)[:40]}… {complaint}")
        entry = OPTION_CHECKS.get(name)
        if entry is None or value is None or isinstance(value, bool):
            continue
        flag, check = entry
        for item in items:  # a repeatable option (`bench variants --routing 2 --routing 1`): every value
            complaint = check(item) if isinstance(item, (int, float)) and not isinstance(item, bool) else None
            if complaint:
                raise ConfigError(f"{flag} {complaint}")
