"""The small public API in signcaps/__init__.py: every name resolves, and importing it stays light."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import signcaps

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


def test_import_signcaps_and_the_cli_do_not_import_torch():
    code = ("import sys, signcaps; assert 'torch' not in sys.modules, 'import signcaps loaded torch'; "
            "import signcaps.cli; heavy = [m for m in ('torch', 'mediapipe', 'onnxruntime') if m in sys.modules]; "
            "assert not heavy, heavy; print(signcaps.__file__)")
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == ROOT / "signcaps" / "__init__.py"  # this tree, not another install


@pytest.mark.parametrize("name", sorted(signcaps._API))
def test_every_public_name_resolves_to_its_module_object(name):
    value = getattr(signcaps, name)
    assert value is getattr(importlib.import_module(signcaps._API[name]), name)
    assert callable(value) and name in signcaps.__all__ and name in dir(signcaps)


def test_the_api_names_what_the_docs_promise():
    assert {"load_recipe", "build_model", "list_models", "load_classifier", "run_live",
            "Predictor"} <= set(signcaps._API)
    assert set(signcaps.__all__) == {"__version__", *signcaps._API}
    assert signcaps.list_models() == sorted(signcaps.list_models()) and "capsnet" in signcaps.list_models()


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        signcaps.nope  # noqa: B018
