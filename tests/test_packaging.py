"""What the wheel carries and how an install is checked: recipes by name, the web sources, the
extras, the OpenCV report of `signcaps doctor` and its placeholder. The real install is
tests/test_install.py; these run in the default suite, in seconds."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from signcaps.util import bundled, environment


def test_recipes_are_found_by_name_or_file(tmp_path):
    from signcaps.util.config import ConfigError, load_recipe

    assert "fused-capsnet" in bundled.recipe_names()
    assert bundled.find_recipe("fused-capsnet") == bundled.find_recipe("fused-capsnet.yaml")
    assert load_recipe("fused-capsnet").model.name == "fused-capsnet"
    mine = tmp_path / "fused-capsnet.yaml"  # a file of the user's wins over the shipped name
    mine.write_text("model:\n  name: cnn\n")
    assert load_recipe(mine).model.name == "cnn"
    with pytest.raises(ConfigError, match="neither a file nor a shipped recipe: .*fused-capsnet"):
        load_recipe("no-such-recipe")
    with pytest.raises(ConfigError, match="recipe not found"):
        load_recipe("some/dir/fused-capsnet")  # a path is never looked up by name


def test_the_default_models_recipe_ships_with_the_package():
    from signcaps.runtime.classifier import default_recipe_name, load_classifier
    from signcaps.util.config import load_recipe

    name = default_recipe_name()
    assert bundled.find_recipe(name) is not None
    assert load_recipe(name).model.name == load_classifier(None).meta["model"]


def test_pyproject_ships_every_package_and_keeps_torch_in_the_extra():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "signcaps").rglob("__init__.py")}
    assert on_disk <= listed, f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"
    base = " ".join(project["project"]["dependencies"])
    assert "torch" not in base and "albumentations" not in base
    assert {"torch", "albumentations"} <= {r.split(">")[0].split("<")[0] for r in
                                          project["project"]["optional-dependencies"]["train"]}
    mapped = project["tool"]["setuptools"]["package-dir"]
    for package, folder in mapped.items():
        assert (ROOT / folder).is_dir(), (package, folder)
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_the_web_sources_of_an_installed_wheel_install_npm_into_the_user_cache(tmp_path, monkeypatch):
    from signcaps.web import site as web

    assert (bundled.web_source_dir() / "src" / "index.html").is_file()
    checkout = bundled.web_source_dir()
    assert web.npm_folder(checkout) == checkout  # a checkout: deploy/web itself
    packaged = bundled.PACKAGE / "resources" / "web-test-copy"  # where a wheel puts them
    try:
        packaged.mkdir()
        (packaged / "package-lock.json").write_bytes((checkout / "package-lock.json").read_bytes())
        folder = web.npm_folder(packaged)
        from signcaps.util.assets import cache_dir

        assert folder.parent == cache_dir() / "web" and len(folder.name) == 16  # named by the lockfile
        monkeypatch.setenv(web.NODE_MODULES_ENV, str(tmp_path / "elsewhere"))
        assert web.node_modules_dir(packaged) == tmp_path / "elsewhere"
        with pytest.raises(web.WebBuildError, match="SIGNCAPS_NODE_MODULES"):
            web.ensure_node_modules(packaged)
    finally:
        for path in sorted(packaged.rglob("*"), reverse=True):
            path.unlink()
        packaged.rmdir()


def test_this_environment_has_one_opencv_with_a_gui():
    real = environment.real_opencv_distributions()
    assert [d.name for d in real] == [environment.WANTED_OPENCV] and real[0].cv2_files > 10
    assert environment.opencv_gui() is not None and environment.window_unavailable() is None


def test_a_headless_build_is_named_when_no_window_can_open(monkeypatch):
    monkeypatch.setattr(environment, "opencv_gui", lambda: None)
    why = environment.window_unavailable()
    assert "no GUI support" in why and environment.WANTED_OPENCV in why and "signcaps doctor --fix" in why


def test_the_placeholder_is_an_empty_wheel_that_requires_the_real_build(tmp_path):
    from signcaps.runtime.doctor import placeholder_wheel

    wheel = placeholder_wheel("opencv-python-headless", "5.1.0.95", tmp_path)
    assert wheel.name == "opencv_python_headless-5.1.0.95+signcaps.placeholder-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as bundle:
        names = bundle.namelist()
        meta = bundle.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert all(".dist-info/" in n for n in names)  # metadata only: no cv2 files
    assert "Name: opencv-python-headless" in meta and "Requires-Dist: opencv-contrib-python==5.1.0.95" in meta


def test_missing_training_extra_is_one_line(monkeypatch):
    monkeypatch.setattr(environment, "installed", lambda module: module != "torch")
    with pytest.raises(environment.MissingExtra, match=r"signcaps train.*torch.*pip install 'signcaps\[train\]'"):
        environment.require_training_extra("train")


@pytest.mark.shared
def test_doctor_reports_every_part_of_the_install():
    from signcaps.runtime.doctor import diagnose

    report = diagnose()
    names = [c.name for c in report.checks]
    for expected in ("signcaps", "opencv", "mediapipe", "onnxruntime", "torch", "albumentations", "hand model",
                     "default model", "cache", "datasets", "pip check"):
        assert expected in names
    checks = {c.name: c for c in report.checks}
    assert checks["opencv"].ok and "GUI:" in checks["opencv"].detail
    assert Path(checks["hand model"].detail.split(" (")[0]).is_file()
    assert all(c.fix for c in report.problems)  # every problem comes with its fix
