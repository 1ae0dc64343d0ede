"""Sign modes of one handshape vocabulary (issue 29): the modes a joint training records, the view a
mode makes of the ONNX model (its answers plus "none" when another mode's capsule wins), and that
every runtime reads the view as an ordinary model. Real onnxruntime sessions on the shipped model,
real hands from ../shared."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import digit_images
from rejectmodels import hand_inputs

from signcaps.data.folders import scan_folder, split_layout
from signcaps.data.splits import published_split
from signcaps.runtime.classifier import META_KEY, ModelLoadError, OnnxClassifier, default_model_path
from signcaps.runtime.signmodes import ALL_CAPSULES, CAPSULE_LENGTHS
from signcaps.signs.modes import SignModeError, mode_view, plain_mode, sign_modes
from signcaps.signs.rejection import NONE, NONE_CLASS, OK
from signcaps.util.config import ConfigError, DataConfig, JoinConfig, load_recipe

# A made-up split of the shipped digits model into two modes: 0-4 answer in "low"; 5-9 in "high",
# where the capsules 5 and 6 answer under other names (as 2 answers "V" in letters mode).
LOW = {str(d): str(d) for d in range(5)}
HIGH = {"5": "five", "6": "six", "7": "7", "8": "8", "9": "9"}
SIGNS = {"format": "signcaps-signs-v1", "default": "low", "modes": {"low": LOW, "high": HIGH}}


def with_signs(dst: Path, signs: dict) -> Path:
    import onnx

    model = onnx.load(str(default_model_path()))
    entry = next(p for p in model.metadata_props if p.key == META_KEY)
    entry.value = json.dumps({**json.loads(entry.value), "signs": signs})
    onnx.save(model, str(dst))
    return dst


@pytest.fixture(scope="module")
def two_modes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_signs(tmp_path_factory.mktemp("modes") / "two-modes.onnx", SIGNS)


def test_sign_modes_of_a_joint_training() -> None:
    data = DataConfig(mode="digits", join=JoinConfig(root="asl-letters", mode="letters", same={"V": "2", "O": "0"}))
    modes = sign_modes(data, ["0", "1", "2"], ["0", "1", "2", "A", "B"])
    assert modes["default"] == "digits"
    assert modes["modes"]["digits"] == {"0": "0", "1": "1", "2": "2"}
    assert modes["modes"]["letters"] == {"0": "O", "2": "V", "A": "A", "B": "B"}
    assert sign_modes(DataConfig(), ["0", "1"], ["0", "1"]) is None  # nothing joined: a one-mode model


def test_the_view_orders_answers_by_name_and_keeps_the_others() -> None:
    classes = ["0", "2", "A", "C"]
    signs = {"format": "signcaps-signs-v1", "default": "digits",
             "modes": {"digits": {"0": "0", "2": "2"}, "letters": {"0": "O", "2": "V", "A": "A", "C": "C"}}}
    view = mode_view(signs, classes, "letters")
    assert view.labels == ("A", "C", "O", "V") and view.indices == (2, 3, 0, 1) and view.others == ()
    digits = mode_view(signs, classes, None)  # the default mode
    assert digits.labels == ("0", "2") and digits.others == (2, 3)
    with pytest.raises(SignModeError, match="no --signs words"):
        mode_view(signs, classes, "words")


def test_a_one_mode_model_answers_in_its_own_signs_only() -> None:
    digits = [str(d) for d in range(10)]
    assert plain_mode(digits, None) is None and plain_mode(digits, "digits") == "digits"
    assert plain_mode(["A", "B"], "letters") == "letters"
    with pytest.raises(SignModeError, match="no --signs letters"):
        plain_mode(digits, "letters")


def test_the_shipped_model_refuses_letters_mode_in_one_line() -> None:
    with pytest.raises(ModelLoadError, match="no --signs letters"):
        OnnxClassifier(default_model_path(), signs="letters")


def test_view_lengths_are_the_answers_plus_the_longest_other_capsule(two_modes: Path, hand_model: Path) -> None:
    full = OnnxClassifier(two_modes, signs=ALL_CAPSULES)
    high = OnnxClassifier(two_modes, signs="high")
    assert high.classes == ["7", "8", "9", "five", "six", "none"]
    assert high.rule.none_class == "none" and high.meta["signs_view"] == "high"
    photos = [*digit_images(3, 2), *digit_images(7, 2)]
    lengths = full.classify(hand_inputs(full, photos))
    view = high.classify(hand_inputs(high, photos))
    expected = np.concatenate([lengths[:, [7, 8, 9, 5, 6]], lengths[:, :5].max(1, keepdims=True)], axis=1)
    np.testing.assert_allclose(view, expected, atol=1e-6)
    decisions = high.decide(hand_inputs(high, photos))
    assert [d.status for d in decisions[:2]] == [NONE, NONE]  # a 3 is another mode's sign: none
    assert all(d.reason == NONE_CLASS for d in decisions[:2])
    assert [d.label for d in decisions[2:]] == ["7", "7"] and all(d.status == OK for d in decisions[2:])


def test_the_default_mode_answers_as_the_model_did(two_modes: Path, hand_model: Path) -> None:
    low = OnnxClassifier(two_modes)  # no --signs: the model's default mode
    assert low.signs == "low" and low.classes == ["0", "1", "2", "3", "4", "none"]
    decisions = low.decide(hand_inputs(low, digit_images(3, 2)))
    assert [d.label for d in decisions] == ["3", "3"]


def test_the_view_ships_to_the_browser_as_an_ordinary_model(two_modes: Path, tmp_path: Path) -> None:
    high = OnnxClassifier(two_modes, signs="high")
    page_model = tmp_path / "model.onnx"
    page_model.write_bytes(high.model_bytes())
    reread = OnnxClassifier(page_model)  # what the page (and any runtime) sees: no modes, a none class
    assert reread.classes == high.classes and reread.rule == high.rule
    assert "signs" not in reread.meta and reread.meta["signs_view"] == "high"
    import onnx

    assert CAPSULE_LENGTHS in {n for node in onnx.load(str(page_model)).graph.node for n in node.output}


def test_modes_that_name_missing_capsules_are_refused(tmp_path: Path) -> None:
    bad = with_signs(tmp_path / "bad.onnx", {**SIGNS, "modes": {"low": {"Q": "Q"}}})
    with pytest.raises(ModelLoadError, match="names capsules the model does not have"):
        OnnxClassifier(bad)
    foreign = with_signs(tmp_path / "foreign.onnx", {"format": "other"})
    with pytest.raises(ModelLoadError, match="unknown sign modes"):
        OnnxClassifier(foreign)


def test_a_published_split_is_kept(shared: Path) -> None:
    root = shared / "datasets" / "asl-letters"
    assert [p.name for p in split_layout(root)] == ["train", "valid", "test"]
    scan = scan_folder(root)
    assert scan.classes[:3] == ["A", "B", "C"] and len(scan.classes) == 24
    assert scan.stretch_x == 0.75  # the registered set's squash is undone by its folder name too
    paths = [str(p.relative_to(root)) for p, _ in scan.files]
    split = published_split(paths)
    assert {k: len(v) for k, v in split.items()} == {"train": 1368, "val": 132, "test": 64}
    assert scan_folder(shared / "datasets" / "sign-language-digits").stretch_x == 1.0


def test_join_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="data.join.mode must differ"):
        load_recipe("handshapes", ["data.join.mode=digits"])
    with pytest.raises(ConfigError, match="data.join.stretch_x"):
        load_recipe("handshapes", ["data.join.stretch_x=9"])
    with pytest.raises(ConfigError, match="data.mode must be a short lower-case name"):
        load_recipe("handshapes", ["data.mode=Digits Mode"])


def test_vocabulary_sets_label_each_mode_by_its_own_names(tmp_path: Path, shared: Path) -> None:
    """`signcaps vocabulary`'s sets: in letters mode a digit 2 is a V and a 3 must be refused; in digits
    mode a letter V is a 2 and a C must be refused (labels only: no detection here)."""
    from signcaps.data.folders import NEGATIVE
    from signcaps.runtime.vocabulary import mode_sets, model_modes

    joint = {"format": "signcaps-signs-v1", "default": "digits",
             "modes": {"digits": {str(d): str(d) for d in range(10)},
                       "letters": {"0": "O", "2": "V", "6": "W", "9": "F"}}}
    model = with_signs(tmp_path / "joint.onnx", joint)
    vocabulary = load_recipe("handshapes")
    assert model_modes(OnnxClassifier(model)) == ["digits", "letters"]
    letters = OnnxClassifier(model, signs="letters")
    sets = dict(mode_sets(letters, "letters", vocabulary))
    digits_set = sets["digits: test participants"]
    by_folder = {p.parent.name: label for p, label in digits_set.files}
    assert letters.classes[by_folder["2"]] == "V" and by_folder["3"] == NEGATIVE
    held = sets["letters: valid/ and test/"]
    assert {letters.classes[label] for _, label in held.files} == {"F", "O", "V", "W"}
    assert held.stretch_x == 0.75 and {p.parent.parent.name for p, _ in held.files} == {"valid", "test"}
    digits = OnnxClassifier(model, signs="digits")
    sets = dict(mode_sets(digits, "digits", vocabulary))
    by_folder = {p.parent.name: label for p, label in sets["letters, no digit shape (and V W F O)"].files}
    assert digits.classes[by_folder["V"]] == "2" and by_folder["C"] == NEGATIVE and "B" not in by_folder
    near = {p.parent.name for p, _ in sets["letters near a digit"].files}
    assert near == {"B", "D", "G", "H", "K", "P", "Q", "R", "U"}
    test_files = {p for p, _ in sets["digits: test participants"].files}
    assert 0 < len(test_files) < 500  # the held-out participants only, not the whole set


def test_web_build_ships_the_modes_view(two_modes: Path, tmp_path: Path) -> None:
    """`web build --signs high`: the site's model is the mode's view, so the page (which knows no modes)
    answers in that mode and says "none" for the other mode's signs through its none class."""
    from conftest import HAND_MODEL, ROOT

    from signcaps.web.site import build_site, missing_vendor_files

    if missing_vendor_files(ROOT / "deploy" / "web"):  # tests never install packages; .ci/run does
        pytest.skip("npm packages missing: run `npm ci` in deploy/web")
    report = build_site(tmp_path / "site", model=two_modes, hand_model=HAND_MODEL, signs="high")
    assert report["classes"] == ["7", "8", "9", "five", "six", "none"]
    page = OnnxClassifier(tmp_path / "site" / "models" / "model.onnx")
    assert page.classes == report["classes"] and page.rule.none_class == "none"
