from pathlib import Path

import pytest

from signcaps.util.config import ConfigError, Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_shipped_recipes_load():
    assert isinstance(load_recipe(None), Recipe)
    for recipe in sorted((ROOT / "train" / "recipes").glob("*.yaml")):
        loaded = load_recipe(recipe)
        assert loaded.name == recipe.stem


def test_overrides_are_typed(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  epochs: 3\ncrop:\n  margin: 0.3\n")
    cfg = load_recipe(recipe, ["train.lr=0.01", "augment.enabled=false", "model.params={primary_maps: 8}"])
    assert (cfg.train.epochs, cfg.crop.margin, cfg.train.lr) == (3, 0.3, 0.01)
    assert cfg.augment.enabled is False and cfg.model.params == {"primary_maps": 8}


@pytest.mark.parametrize("override, message", [
    ("train.epochs=many", "train.epochs"),
    ("train.nonsense=1", "unknown key"),
    ("epochs", "section.key=value"),
])
def test_bad_overrides_are_clear(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe(None, [override])


def test_missing_recipe_file(tmp_path):
    with pytest.raises(ConfigError, match="recipe not found"):
        load_recipe(tmp_path / "nope.yaml")
