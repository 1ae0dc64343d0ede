"""`signcaps bench variants`: cheaper exports of one checkpoint, judged on accuracy and time.

Runs on the tiny capsnet of conftest.py (real photos, real MediaPipe, real onnxruntime): the
figures mean little for so small a model, the test checks that every variant is exported,
timed, evaluated through the pipeline and judged by the 0.1-point rule, and that an extra
evaluation (the open-set figures of issue 18) takes part in the verdict.
"""
from __future__ import annotations

import json

import pytest
from conftest import HAND_MODEL
from typer.testing import CliRunner


def test_bench_variants_exports_times_and_judges(tiny, tmp_path, monkeypatch):
    from signcaps.cli import app
    from signcaps.runtime.classifier import load_classifier

    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", str(HAND_MODEL))
    result = CliRunner().invoke(app, ["bench", "variants", str(tiny["checkpoint"]), "--out", str(tmp_path / "v"),
                                      "--routing", "1", "--no-int8", "--shift", "none", "--shift", "mirror",
                                      "--budget", "0.05", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    reference, fewer = report["variants"]
    assert reference["routing"] == 3 and reference["adoptable"] is None and fewer["routing"] == 1
    assert load_classifier(fewer["path"]).meta["routing_iterations"] == 1
    assert fewer["parity"] <= 1e-4 and reference["parity"] <= 1e-4
    assert set(fewer["figures"]) == {"none", "none @threshold", "mirror", "mirror @threshold"}
    assert all(0.0 <= v <= 1.0 for v in fewer["figures"].values())
    assert fewer["drops"]["none"] == pytest.approx((reference["figures"]["none"] - fewer["figures"]["none"]) * 100)
    assert fewer["adoptable"] == (fewer["worst_drop_points"] <= 0.1 and fewer["ms"] < reference["ms"])
    options = report["session_options"]
    assert len(options) == 6 and all(o["ms"] > 0 and o["max_abs_diff"] < 1e-5 for o in options)
    text = CliRunner().invoke(app, ["bench", "variants", str(tiny["checkpoint"]), "--out", str(tmp_path / "w"),
                                    "--routing", "2", "--no-int8", "--shift", "none", "--budget", "0.05"])
    assert text.exit_code == 0, text.output
    assert "variants of" in text.stdout and "session options" in text.stdout


def test_an_extra_evaluation_takes_part_in_the_verdict(tiny, tmp_path):
    """How the open-set evaluation plugs in: its figures join the others, and a drop there forbids adoption."""
    from signcaps.training.variants import EVALUATIONS, bench_variants

    def negatives(paths, hand_model, threshold):
        return [{"rejects non-digits": 0.9 if k == 0 else 0.5} for k in range(len(paths))]

    report = bench_variants(tiny["checkpoint"], tmp_path / "v", routing=[1], int8=False, hand_model=str(HAND_MODEL),
                            shifts=["none"], budget_s=0.05, show_progress=False,
                            evaluations={**EVALUATIONS, "negatives": negatives})
    fewer = report["variants"][1]
    assert fewer["figures"]["rejects non-digits"] == 0.5
    assert fewer["worst"] == "rejects non-digits" and fewer["worst_drop_points"] == pytest.approx(40.0)
    assert fewer["adoptable"] is False
