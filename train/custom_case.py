"""The custom-signs case of issue 25, rebuilt from the shared ASL letters so anyone can rerun it.

A user's own three signs: A, B and C, 30 photos each (10 original photos x their 3 copies from the
letters' train/ folder), optionally with a `none/` folder of 30 photos of 10 other letters. What the
model never saw: the other originals of A, B and C (one copy each, plus valid/ and test/) and photos
of 11 letters that are in neither (valid/ and test/), as `heldout/` with those in `heldout/none/`;
`heldout-never-trained/` holds the same signs and only the 4 of those letters that the default
recipe does not train as negatives either (P, Q, R, U).

    python train/custom_case.py ../shared/datasets/asl-letters /tmp/case   # writes abc/, abc-none/, heldout/

then train and judge as train/README.md ("Your own signs: a small set") shows.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

SIGNS = "ABC"
TRAIN_ORIGINALS = 10  # x 3 copies = 30 photos per sign
NONE_LETTERS = "DEFGHIKMNO"  # 3 photos each (3 originals, one copy each) = 30 in none/
UNSEEN_LETTERS = "LPQRSTUVWXY"  # judged only: letters neither the signs nor none/ show
# Of those, the letters the default recipe does not train as negatives either (it uses the letters'
# train/ photos of E I L M N S T X Y V W F O): hands no part of training ever showed.
NEVER_TRAINED = "PQRU"


def originals(letters: Path, split: str, letter: str) -> list[list[Path]]:
    """The photos of `letter` in `split`, grouped by original photo, in the original's number order."""
    from signcaps.data.copies import copy_name

    groups: dict[str, list[Path]] = {}
    for path in sorted((letters / split / letter).glob("*.jpg")):
        groups.setdefault(copy_name(path.name) or path.stem, []).append(path)
    return [groups[k] for k in sorted(groups, key=lambda name: (len(name), name))]


def copy_all(paths: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy(path, folder / path.name)


def build(letters: Path, out: Path) -> None:
    for sign in SIGNS:
        train = originals(letters, "train", sign)
        for name in ("abc", "abc-none"):
            copy_all([p for group in train[:TRAIN_ORIGINALS] for p in group], out / name / sign)
        held = [group[0] for group in train[TRAIN_ORIGINALS:]]
        held += [p for split in ("valid", "test") if (letters / split / sign).is_dir()
                 for group in originals(letters, split, sign) for p in group]
        copy_all(held, out / "heldout" / sign)
    copy_all([group[0] for letter in NONE_LETTERS for group in originals(letters, "train", letter)[:3]],
             out / "abc-none" / "none")
    for name, others in (("heldout", UNSEEN_LETTERS), ("heldout-never-trained", NEVER_TRAINED)):
        copy_all([p for letter in others for split in ("valid", "test") if (letters / split / letter).is_dir()
                  for group in originals(letters, split, letter) for p in group], out / name / "none")
    for sign in SIGNS:
        shutil.copytree(out / "heldout" / sign, out / "heldout-never-trained" / sign, dirs_exist_ok=True)


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
    for folder in sorted(Path(sys.argv[2]).glob("*/*")):
        print(folder, len(list(folder.iterdir())))
