"""Aggregate finished runs (metrics.json) into the results table of train/README.md."""
from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signcaps.util.errors import UserError

# What the table reads from each metrics.json: key -> (type check, what it should be).
_MISSING = object()  # a key that may be left out (older runs)
_NUMBER = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v), "a number")
REQUIRED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model": (lambda v: isinstance(v, str) and bool(v), "a model name"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "params": _NUMBER, "epochs": _NUMBER, "seconds_per_epoch": _NUMBER, "train_seconds": _NUMBER,
    "test_acc": (lambda v: v is None or _NUMBER[0](v), "a number or null"),
    "recipe": (lambda v: v is _MISSING or v is None or isinstance(v, str), "a recipe name"),
    "wall_seconds": (lambda v: v is _MISSING or _NUMBER[0](v), "a number"),
}


def load_runs(run_dirs: list[Path]) -> list[dict[str, Any]]:
    """metrics.json of each run folder; a missing, damaged or foreign file is one UserError line."""
    from signcaps.util.inputs import MAX_JSON_BYTES, regular_file

    runs = []
    for run_dir in dict.fromkeys(Path(d).resolve() for d in run_dirs):  # a path given twice counts once
        path = run_dir / "metrics.json"
        if not path.is_file():
            raise UserError(f"{run_dir} has no metrics.json (not a finished run)")
        regular_file(path, "metrics file", MAX_JSON_BYTES)
        try:
            metrics = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise UserError(f"{path} is not valid JSON (damaged or not written by signcaps train)") from None
        if not isinstance(metrics, dict):
            raise UserError(f"{path} is not a signcaps metrics file (not a JSON object)")
        for key, (valid, expected) in REQUIRED.items():
            if not valid(metrics.get(key, _MISSING)):
                raise UserError(f"{path} is not a usable signcaps metrics file: '{key}' should be {expected}")
        runs.append({**metrics, "run_dir": str(run_dir)})
    return runs


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per recipe and dataset (runs of one recipe on one dataset with different seeds): mean and
    spread of test accuracy over seeds, timing, size. Two recipes of one architecture stay two rows, and
    so do runs of one recipe on two datasets (their data fingerprints differ): a mean over them would
    average accuracies on different test sets."""
    rows = []
    keys = list(dict.fromkeys(_key(run) for run in runs))
    for recipe, data in keys:
        group = [run for run in runs if _key(run) == (recipe, data)]
        accs = [run["test_acc"] for run in group if run["test_acc"] is not None]
        model = group[0]["model"]
        name = recipe if recipe == model else f"{recipe} ({model})"
        if sum(k[0] == recipe for k in keys) > 1:  # the recipe ran on several datasets: say which row is which
            name += f" on data {data[:8]}" if data else " on data of unknown fingerprint"
        rows.append({
            "model": name,
            "data_fingerprint": data,
            "params": group[0]["params"],
            "seeds": sorted(run["seed"] for run in group),
            "epochs": group[0]["epochs"],
            "seconds_per_epoch": statistics.mean(run["seconds_per_epoch"] for run in group),
            "train_seconds": statistics.mean(run["train_seconds"] for run in group),
            "wall_seconds": statistics.mean(run.get("wall_seconds", run["train_seconds"]) for run in group),
            "test_acc_mean": statistics.mean(accs) if accs else None,
            "test_acc_min": min(accs) if accs else None,
            "test_acc_max": max(accs) if accs else None,
            "test_acc_std": statistics.pstdev(accs) if len(accs) > 1 else 0.0,
            "test_accs": accs,
        })
    return rows


def _key(run: dict[str, Any]) -> tuple[str, str | None]:
    fingerprint = run.get("data_fingerprint")
    return _recipe(run), fingerprint if isinstance(fingerprint, str) and fingerprint else None


def _recipe(run: dict[str, Any]) -> str:
    recipe = run.get("recipe")
    return run["model"] if recipe in (None, "default") else recipe


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | params | seeds | epochs | s/epoch | train time (s) | test acc, mean | min - max | std |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        acc = f"{r['test_acc_mean']:.2%}" if r["test_acc_mean"] is not None else "-"
        span = f"{r['test_acc_min']:.2%} - {r['test_acc_max']:.2%}" if r["test_accs"] else "-"
        lines.append(f"| `{r['model']}` | {r['params']:,} | {', '.join(map(str, r['seeds']))} | {r['epochs']} | "
                     f"{r['seconds_per_epoch']:.1f} | {r['train_seconds']:.0f} | {acc} | {span} | "
                     f"{r['test_acc_std']:.2%} |")
    return "\n".join(lines)
