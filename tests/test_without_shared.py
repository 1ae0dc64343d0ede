"""Pure unit tests run anywhere: without ../shared they pass, and data tests skip with one line.

The same by hand, for the whole pure set:
    SIGNCAPS_SHARED=/nonexistent python -m pytest -q -rs tests/test_capsules.py tests/test_config.py \
        tests/test_landmarks.py tests/test_models.py
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pure_tests_pass_and_data_tests_skip_without_shared(tmp_path):
    env = {**os.environ, "SIGNCAPS_SHARED": str(tmp_path / "no-shared"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    tests = ["tests/test_capsules.py", "tests/test_config.py", "tests/test_landmarks.py",
             "tests/test_preprocess.py::test_unreadable_files_are_refused",  # `shared` marker
             "tests/test_assets.py::test_env_var"]  # a data fixture
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", *tests],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert " passed" in summary and "2 skipped" in summary, summary
    assert "failed" not in summary and "error" not in summary, summary
    assert f"needs ../shared beside the project (looked in {tmp_path / 'no-shared'}" in output, output
