"""Property tests of the two parsers that take text from users and files: `--set` overrides and ONNX metadata.

Whatever the input, each either returns a value the rest of the program can use or raises its
one-line UserError; never another exception (which the CLI would show as a traceback).
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from signcaps.runtime.classifier import (
    META_KEY,
    META_SCHEMA,
    ModelLoadError,
    crop_config_from_meta,
    detect_config_from_meta,
    read_metadata,
)
from signcaps.util.config import CHECKS, ConfigError, Recipe, load_recipe

DEFAULTS = Recipe()
KEYS = sorted(
    f"{section.name}.{f.name}"
    for section in dataclasses.fields(Recipe)
    if dataclasses.is_dataclass(getattr(DEFAULTS, section.name))
    for f in dataclasses.fields(getattr(DEFAULTS, section.name))
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _as_override_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@PROFILE
@given(
    key=st.one_of(st.sampled_from(KEYS), st.text(max_size=20)), value=st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
)
def test_any_override_gives_a_recipe_or_a_config_error(key, value):
    item = f"{key}={_as_override_text(value)}"
    try:
        recipe = load_recipe(None, [item])
    except ConfigError as err:
        assert "\n" not in str(err).strip()
        return
    # what got through is in range: every checked key passes its check
    values = recipe.to_dict()
    for dotted, check in CHECKS.items():
        section, name = dotted.split(".")
        assert check(values[section][name]) is None


@PROFILE
@given(st.lists(st.text(max_size=30), max_size=4))
def test_any_override_text_is_handled(items):
    try:
        load_recipe(None, items)
    except ConfigError:
        pass


def _model_with(meta_text: str | None):
    props = [] if meta_text is None else [SimpleNamespace(key=META_KEY, value=meta_text)]
    return SimpleNamespace(metadata_props=props)


VALID = {
    "format": "signcaps-onnx",
    "format_version": 1,
    "classes": [str(i) for i in range(10)],
    "input_size": 32,
    "channels": 1,
    "mean": 0.5,
    "std": 0.5,
    "margin": 0.2,
    "mirror_left": False,
    "detect": {"num_hands": 1, "min_detection_confidence": 0.5, "context_pad": 0.3},
}
JSONISH = st.recursive(
    SCALARS.filter(lambda v: not (isinstance(v, float) and v != v)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


DETECT = st.dictionaries(st.sampled_from([f.name for f in dataclasses.fields(Recipe().detect)] + ["other"]), JSONISH,
                         max_size=3)


@PROFILE
@given(
    changes=st.dictionaries(
        st.sampled_from([*META_SCHEMA, "format", "format_version", "extra"]),
        st.one_of(JSONISH, DETECT, st.just("<drop>")),
        max_size=4,
    )
)
def test_tampered_metadata_is_refused_or_fully_usable(changes):
    meta = {k: v for k, v in {**VALID, **changes}.items() if v != "<drop>"}
    try:
        parsed = read_metadata(_model_with(json.dumps(meta)), "m.onnx")
        crop = crop_config_from_meta(parsed)
        detect = detect_config_from_meta(parsed)
    except ModelLoadError as err:
        assert "\n" not in str(err).strip()
        return
    # accepted metadata must drive the preprocessing without surprises
    assert crop.channels in (1, 3) and 8 <= crop.input_size <= 1024 and crop.std > 0
    assert 1 <= detect.num_hands <= 4
    assert [str(c) for c in parsed["classes"]]


@PROFILE
@given(st.one_of(st.none(), st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_any_metadata_text_is_handled(text):
    try:
        read_metadata(_model_with(text), "m.onnx")
    except ModelLoadError:
        pass


@PROFILE
@given(
    st.dictionaries(
        st.sampled_from([f.name for f in dataclasses.fields(Recipe().detect)]),
        st.one_of(st.floats(), st.integers(-10, 10), st.none(), st.text(max_size=3)),
        max_size=3,
    )
)
@example({"num_hands": float("inf")})
@example({"context_pad": float("nan")})
def test_tampered_detector_settings_are_refused_or_in_range(detect):
    meta = {**VALID, "detect": detect}
    try:
        parsed = read_metadata(_model_with(json.dumps(meta)), "m.onnx")
        settings_ = detect_config_from_meta(parsed)
    except ModelLoadError:
        return
    assert 1 <= settings_.num_hands <= 4 and 0 <= settings_.context_pad <= 2


# ------------------------------------------------------------------ recipe files, names, image bytes

YAMLISH = st.text(alphabet=st.sampled_from(list("abc:-[]{}&*!|>'\"#,.0123456789 \n\t\\\x00é²")), max_size=200)


@PROFILE
@given(st.one_of(YAMLISH, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
@example("0:\n.:")  # keys of two types: naming them must not compare an int with a str (found by this test)
def test_any_recipe_text_gives_a_recipe_or_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "any-recipe.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if text.isascii() else text.encode("latin-1", "replace"))
    try:
        load_recipe(path)
    except ConfigError as err:
        assert "\n" not in str(err).strip()


@PROFILE
@given(st.text(max_size=30))
def test_natural_sort_takes_any_name(text):
    from signcaps.util.inputs import natural_key

    key = natural_key(text)
    assert sorted([key, natural_key("IMG_10"), natural_key("²")]) is not None


@PROFILE
@given(st.binary(max_size=400), st.sampled_from([b"", b"\xff\xd8", b"\xff\xd8\xff\xe0\x00\x10", b"\x89PNG\r\n\x1a\n"]))
def test_any_image_bytes_decode_or_give_an_image_read_error(tmp_path_factory, data, prefix):
    from signcaps.hands.preprocess import ImageReadError, jpeg_end, read_image_bgr

    path = tmp_path_factory.getbasetemp() / "any-image.jpg"
    path.write_bytes(prefix + data)
    end = jpeg_end(prefix + data)
    assert end is None or 0 < end <= len(prefix + data)
    try:
        image = read_image_bgr(path)
    except ImageReadError as err:
        assert "\n" not in str(err)
    else:
        assert image.ndim == 3 and image.shape[2] == 3
