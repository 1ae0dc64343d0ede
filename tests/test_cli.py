"""Every command answers --help; --version; user mistakes end in one line, not a traceback."""
import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from signcaps import __version__
from signcaps.cli import app


def command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if getattr(command, "commands", None):
            paths += command_paths(command, (*prefix, name))
    return paths


ALL_COMMANDS = command_paths(typer.main.get_command(app))


def test_expected_commands_exist():
    names = {" ".join(p) for p in ALL_COMMANDS}
    for expected in ("train", "eval", "export", "predict", "live", "collect", "explain", "robustness",
                     "bench model", "bench live", "data fetch", "data prepare", "models pull", "summarize",
                     "web build", "web serve", "doctor"):
        assert expected in names


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p))
def test_help(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_version_from_the_installed_console_script():
    result = subprocess.run([sys.executable, "-m", "signcaps", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"signcaps {__version__}"


@pytest.mark.parametrize("args, message", [
    (["train", "--recipe", "nope.yaml"], "recipe not found"),
    (["train", "--set", "train.epochs=lots"], "train.epochs"),
    (["train", "--model", "resnet"], "unknown model"),
    (["train", "--data", "/nonexistent"], "dataset folder not found"),
    (["data", "prepare", "--src", "/nonexistent"], "dataset folder not found"),
    (["data", "fetch", "mnist"], "unknown dataset"),
    (["predict", "x.jpg", "--model", "/nonexistent.onnx"], "nonexistent"),
])
def test_user_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_models_list_prints_every_registered_model():
    from signcaps.models.registry import REGISTRY, list_models

    result = CliRunner().invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == list_models()
    assert all(r["inputs"] == list(REGISTRY[r["name"]].inputs) and r["summary"] for r in rows)
    table = CliRunner().invoke(app, ["models", "list"])
    assert table.exit_code == 0 and all(name in table.output for name in list_models())
    help_text = " ".join(CliRunner().invoke(app, ["train", "--help"]).output.replace("│", " ").split())
    assert "`signcaps models list`" in help_text  # where `--model` is described


def test_on_off_flags_take_no_value_in_the_help():
    """`--resume` is a flag: the help must not show `<bool>` as if `--resume true` worked."""
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--resume", "--json"):
        line = next(text for text in result.output.splitlines() if flag in text)
        assert "<bool>" not in line, line
    refused = CliRunner().invoke(app, ["train", "--resume", "true"])
    assert refused.exit_code == 2  # and so it stays refused: a flag takes no value
