"""`make demo` as README.md describes it: the shipped model at work (predict, a short live run into an mp4)
before anything trains, data from ../shared or fetched once, and `.ci/run` calling `make test` unchanged."""
from __future__ import annotations

import re

import pytest
from conftest import ROOT, SHARED
from typer.testing import CliRunner

from signcaps.cli import app


def _demo_recipe() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    body = re.search(r"^demo: setup\n((?:\t.*\n)+)", makefile, flags=re.M).group(1)
    return [step.strip() for step in body.replace("\\\n", " ").replace("&&", "\n").splitlines() if step.strip()]


def test_the_demo_shows_the_shipped_model_before_it_trains():
    steps = _demo_recipe()
    at = {name: next(i for i, step in enumerate(steps) if re.search(pattern, step))
          for name, pattern in (("fetch", r"data fetch digits --if-missing"), ("predict", r"SIGNCAPS\) predict \$"),
                                ("clip", r"tests/videos\.py"), ("live", r"live --source .* --output \S+\.mp4"),
                                ("train", r"\) train "), ("export", r"\) export "),
                                ("own", r"predict --model"))}
    assert at["fetch"] < at["predict"] < at["clip"] < at["live"] < at["train"] < at["export"] < at["own"], at
    assert "--model" not in steps[at["predict"]] and "--model" not in steps[at["live"]]  # the shipped model


def test_ci_runs_the_two_commands_as_the_readme_shows_them():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M) and re.search(r"^make test-exhaustive$", ci, flags=re.M)
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make demo +#", readme, flags=re.M) and re.search(r"^make test +#", readme, flags=re.M)


@pytest.mark.shared
def test_fetch_if_missing_keeps_an_installed_dataset(monkeypatch):
    """What `make demo` runs first: with the datasets installed (../shared here) nothing is downloaded."""
    monkeypatch.setenv("SIGNCAPS_DATA_DIR", str(SHARED / "datasets"))
    for name, folder in (("digits", "sign-language-digits"), ("asl-letters", "asl-letters")):
        result = CliRunner().invoke(app, ["data", "fetch", name, "--if-missing"])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"{SHARED / 'datasets' / folder}  (already installed)"
