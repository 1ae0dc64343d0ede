"""`signcaps models pull`, `signcaps models list`, `signcaps data fetch`, `signcaps data prepare`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from signcaps.commands.common import HandModelOption, JsonOption, err, out, print_json, print_table, table, user_errors


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="Models: the MediaPipe hand model (pull), the architectures to train (list).",
                         no_args_is_help=True)
    data = typer.Typer(help="Datasets: download, crop hands, cache.", no_args_is_help=True)
    models.command("pull")(models_pull)
    models.command("list")(models_list)
    data.command("fetch")(data_fetch)
    data.command("prepare")(data_prepare)
    app.add_typer(models, name="models")
    app.add_typer(data, name="data")


@user_errors
def models_pull(hand_model: Optional[str] = HandModelOption) -> None:
    """Find or fetch the hand model (download, else build it from the mediapipe wheel on PyPI) and print its path."""
    from signcaps.util.assets import resolve_hand_model

    path = resolve_hand_model(hand_model, log=lambda msg: err.print(msg, style="dim", highlight=False))
    out.print(str(path))


@user_errors
def models_list(json_out: bool = JsonOption) -> None:
    """The architectures `signcaps train --model NAME` accepts: name, inputs, what it is (one registry)."""
    from signcaps.models.registry import REGISTRY, list_models  # here, not at the top: the CLI starts without torch

    rows = [{"name": name, "inputs": list(REGISTRY[name].inputs), "summary": REGISTRY[name].summary}
            for name in list_models()]
    if json_out:
        print_json(rows)
        return
    print_table(table("models (signcaps train --model NAME)", ["model", "inputs", "summary"],
                    [[r["name"], "+".join(r["inputs"]), r["summary"]] for r in rows]))


@user_errors
def data_fetch(
    name: str = typer.Argument("digits", help="dataset to download: digits | asl-letters"),
    source: Optional[Path] = typer.Option(None, "--from",
                                          help="an already downloaded archive (.zip) or extracted folder"),
    dest: Optional[Path] = typer.Option(None, "--dest",
                                        help="where datasets are installed (default: $SIGNCAPS_DATA_DIR, else "
                                             "<user cache>/datasets, where recipes that name a dataset look)"),
    if_missing: bool = typer.Option(False, "--if-missing",
                                    help="do nothing when the dataset is already installed there (`make demo`)"),
) -> None:
    """Download a public dataset, verify every file against its sha256 manifest, install under --dest."""
    from signcaps.data.datasets import DATASETS, data_home, dataset_key, fetch

    dest = dest if dest is not None else data_home()
    key = dataset_key(name)
    if if_missing and key is not None and (Path(dest).expanduser() / DATASETS[key].name).is_dir():
        out.print(f"{Path(dest).expanduser() / DATASETS[key].name}  (already installed)", highlight=False,
                  soft_wrap=True)
        return
    if source is None:
        err.print(f"downloading {name} …")
    result = fetch(name, dest, archive=source)
    out.print(f"{result.path}  ({result.verified} files verified"
              f"{f', {result.unverified} not in the manifest left out' if result.unverified else ''})",
              highlight=False, soft_wrap=True)


@user_errors
def data_prepare(
    src: Optional[Path] = typer.Option(None, "--src",
                                       help="image-folder dataset (one sub-folder per class) or a fetched dataset's "
                                            "name; default: the recipe's data.root"),
    recipe: Optional[str] = typer.Option(None, "--recipe",
                                         help="recipe YAML or shipped name whose crop/detect settings to cache "
                                              "(default: the recipe of the shipped default model, which `train` uses)"),
    set_: list[str] = typer.Option([], "--set", help="override a recipe value, e.g. crop.margin=0.3"),
    fallback: bool = typer.Option(False, "--fallback", help="use the whole image when no hand is found"),
    refresh: bool = typer.Option(False, "--refresh", help="ignore an existing cache"),
    hand_model: Optional[str] = HandModelOption,
    json_out: bool = JsonOption,
) -> None:
    """Crop every hand once into the cache and report, per class, what was found and skipped."""
    from signcaps.data.crops import class_report, prepare
    from signcaps.util.config import load_recipe

    if recipe is None:
        from signcaps.runtime.classifier import default_recipe_name

        recipe = default_recipe_name()
    cfg = load_recipe(recipe, [*set_, *(["crop.fallback_whole_image=true"] if fallback else [])])
    crops, scan, path = prepare(src if src is not None else cfg.data.root, cfg.data, cfg.crop, cfg.detect, hand_model,
                                refresh=refresh, show_progress=not json_out)
    rows = class_report(crops, scan)
    if json_out:
        print_json({"cache": str(path), "classes": rows, "skipped": crops.skipped})
        return
    columns = ["class", "images", "hands", "fallbacks", "no_hand", "unreadable", "ignored"]
    body = [[r[c] for c in columns] + (["(empty folder)"] if r["empty"] else [""]) for r in rows]
    total = ["total"] + [sum(r[c] for r in rows) for c in columns[1:]] + [""]
    print_table(table(f"{scan.root}", [*columns, "note"], [*body, total]))
    for rel, reason in crops.skipped:
        if reason != "no hand found":
            err.print(f"skipped {rel}: {reason}", highlight=False)
    found = sum(r["hands"] for r in rows)
    images = sum(r["images"] for r in rows)
    out.print(f"hands found in {found}/{images} images ({found / max(images, 1):.1%}); cache: {path}")
