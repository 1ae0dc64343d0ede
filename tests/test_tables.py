"""Tables fit an 80-column terminal without cutting a cell: `predict` on real photos with the shipped model,
and any table with more columns than fit (a 24-class confusion matrix) split into column groups."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from conftest import DIGITS, ROOT
from rich.console import Console

from signcaps.commands.common import print_table, table

PHOTOS = [DIGITS / "3" / "IMG_1121.JPG", DIGITS / "7" / "IMG_1125.JPG"]


def _predict(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "signcaps", "predict", *map(str, PHOTOS), *args],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _assert_fits(text: str, width: int = 80) -> None:
    lines = text.splitlines()
    assert lines, "nothing printed"
    assert "…" not in text, text
    assert max(len(line) for line in lines) <= width, text


@pytest.mark.shared
def test_predict_fits_80_columns_with_answer_confidence_and_runner_up():
    text = _predict()
    _assert_fits(text)
    for header in ("file", "answer", "confidence", "runner-up"):
        assert header in text
    # every file name is whole (the folder they share is said once, in the title)
    assert "3/IMG_1121.JPG" in text and "7/IMG_1125.JPG" in text and str(DIGITS) in text
    rows = [line for line in text.splitlines() if "IMG_" in line]
    assert [row.split("│")[2].strip() for row in rows] == ["3", "7"]  # the shipped model gets both right
    assert all(row.split("│")[3].strip().startswith("0.") for row in rows)


@pytest.mark.shared
def test_predict_wide_keeps_every_capsule_length():
    text = _predict("--wide")
    header = next(line for line in text.splitlines() if "confidence" in line)
    cells = [cell.strip() for cell in header.split("┃")]
    assert [str(d) for d in range(10)] == [c for c in cells if c.isdigit()]
    assert str(PHOTOS[0]) in text  # the full path: wide output is for scripts and wide terminals


def test_a_table_too_wide_for_the_terminal_is_split_into_column_groups():
    classes = [chr(ord("A") + i) for i in range(24)]
    confusion = [[(100 if i == j else i + j) for j in range(24)] for i in range(24)]
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, markup=False)
    print_table(table("confusion", ["class", *classes], [[c, *row] for c, row in zip(classes, confusion)]), console)
    text = buffer.getvalue()
    _assert_fits(text)
    headers = [cell.strip() for line in text.splitlines() if line.startswith("┃") for cell in line.split("┃")]
    assert sorted(h for h in headers if h and h != "class") == classes  # every column once
    assert text.count("confusion (") >= 2 and "class" in text
    assert text.count("│ X ") == text.count("confusion (")  # each part repeats the key column's rows


def test_a_table_that_fits_is_printed_whole():
    buffer = io.StringIO()
    print_table(table("small", ["class", "f1"], [["0", 1.0]]), Console(file=buffer, width=80))
    assert buffer.getvalue().startswith("small ") and "(1/" not in buffer.getvalue()
