"""The issue's baseline: a landmark MLP retrained with a signer's shots, on the proxy groups of train/adapt_eval.py:

    SIGNCAPS_DATA_DIR=../shared/datasets SIGNCAPS_HAND_MODEL=../shared/models/hand_landmarker.task \\
        python train/adapt_mlp.py [--out runs/adapt-eval] [--steps 300]

The project's landmark-MLP recipe (`models.registry.LandmarkMLP`: the 63 normalised coordinates, hidden
128-128, dropout 0.1), trained with torch per group (full batch, Adam, lr 3e-3, cross-entropy) in two ways:
*training data + shots* (what the landmark apps do: retrain on their data and the user's, here `--retrain`
60 steps on from the MLP trained `--steps` 300 on the training data alone; digits: the
shipped digits model's training participants, i.e. every photo of the set outside its val/test split;
letters: the letters set's train/, both with their hands detected once into `--out`; the shots weigh 10x)
and *shots alone* (the 3 shots per sign, nothing else). A third row, *training data only*, is the same MLP
without the shots. The MLP has no rejection rule (its sigmoid scores were never calibrated for one), so its
figure is the closed-set accuracy (the longest output right); the capsule rows' "longest capsule right"
is printed next to it for the like-for-like comparison.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import adapt_eval as ae  # noqa: E402

SHOT_WEIGHT = 10.0


def train_poses(out: Path, letters: bool) -> tuple[np.ndarray, list[str]]:
    """Normalised poses and labels (names) of the training photos (cached in `out`)."""
    from signcaps.data.datasets import known_stretch, resolve_root
    from signcaps.data.folders import scan_folder
    from signcaps.hands.landmarks import normalize_poses
    from signcaps.runtime.classifier import load_classifier

    clf = load_classifier(None)
    if letters:
        root = resolve_root("asl-letters")
        files = [(p, p.parent.name) for p in sorted((root / "train").glob("*/*"))
                 if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        hands = ae.detect(files, root, known_stretch("asl-letters"), out / "letters-train.npz", relight=None)
    else:
        root = resolve_root("digits")
        split = clf.meta["split"]
        held = set(split["val"]) | set(split["test"])  # the shipped model's val and test photos
        scan = scan_folder(root)
        files = [(p, scan.classes[c]) for p, c in scan.files if p.relative_to(root).as_posix() not in held]
        hands = ae.detect(files, root, 1.0, out / "digits-train.npz", relight=None)
    return normalize_poses(hands.points, hands.left, clf.crop_cfg.mirror_left), hands.labels


def fit(poses: np.ndarray, labels: np.ndarray, weights: np.ndarray, classes: int, steps: int, seed: int = 0,
        start=None):
    """The project's landmark MLP trained on (poses, labels), from scratch or on from `start` (a scorer
    `fit` returned: retraining continues from the MLP trained on the training data); returns a scorer."""
    import copy

    import torch

    from signcaps.models.registry import MLP_DEFAULTS, LandmarkMLP, LandmarkMLPSpec

    torch.set_num_threads(1)  # small full-batch steps: threads only contend on the shared cores
    torch.manual_seed(seed)
    model = copy.deepcopy(start.model) if start is not None else LandmarkMLP(LandmarkMLPSpec(**MLP_DEFAULTS),
                                                                             classes)
    x, y = torch.from_numpy(poses.astype(np.float32)), torch.from_numpy(labels.astype(np.int64))
    w = torch.from_numpy(weights.astype(np.float32))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        optimiser.zero_grad()
        loss = (torch.nn.functional.cross_entropy(model.net(x), y, reduction="none") * w).sum() / w.sum()
        loss.backward()
        optimiser.step()
    model.eval()

    def score(query: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.net(torch.from_numpy(query.astype(np.float32))).numpy()
    score.model = model  # type: ignore[attr-defined]
    return score


def evaluate(clf, data: ae.Read, groups, train_x: np.ndarray, train_y: np.ndarray, classes: int, steps: int,
             retrain: int) -> dict:
    """Closed-set accuracy per variant over all groups' judged hands (as taken, relit), and the capsule
    model's longest-capsule accuracy (shipped, adapted) on the same hands."""
    from signcaps.runtime.adapt import LIFTS, Prototypes, adapt_lengths, features, with_rule

    right: dict[str, dict[str, list[bool]]] = {}
    base = fit(train_x, train_y, np.ones(len(train_y)), classes, steps)

    def add(name: str, predicted: np.ndarray, judged: ae.Read) -> None:
        for light, mask in (("as taken", ~judged.lit), ("relit", judged.lit)):
            right.setdefault(name, {}).setdefault(light, []).extend((predicted[mask] == judged.labels[mask]).tolist())

    for index, (_, shot_index, judged_index) in enumerate(groups):
        shots, judged = data.subset(shot_index), data.subset(judged_index)
        both_x = np.concatenate([train_x, shots.poses])
        both_y = np.concatenate([train_y, shots.labels])
        weights = np.concatenate([np.ones(len(train_y)), np.full(len(shots.labels), SHOT_WEIGHT)])
        add("landmark MLP, training data only", base(judged.poses).argmax(1), judged)
        add("landmark MLP, training data + shots", fit(both_x, both_y, weights, classes, retrain, index, base)(
            judged.poses).argmax(1), judged)
        add("landmark MLP, shots alone", fit(shots.poses, shots.labels, np.ones(len(shots.labels)), classes, steps,
                                             index)(judged.poses).argmax(1), judged)
        add("capsules shipped (longest capsule)", judged.lengths.argmax(1), judged)
        protos = with_rule(Prototypes(features(shots.capsules), shots.labels, judged.lengths.shape[1]), clf,
                           LIFTS.get(clf.signs or ""))
        add("capsules adapted (longest capsule)", adapt_lengths(judged.lengths, judged.capsules, protos).argmax(1),
            judged)
    return {name: {light: (float(np.mean(v)) if v else float("nan"), len(v)) for light, v in lights.items()}
            for name, lights in right.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/adapt-eval"))
    parser.add_argument("--steps", type=int, default=300, help="steps from scratch (training data; shots alone)")
    parser.add_argument("--retrain", type=int, default=60, help="steps on from the training-data MLP with the shots")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sets = ae.load_sets(args.out)
    result = {}
    order = sorted(ae.PROXIES, key=lambda name: ("own photos" not in name, "valid/" not in name, name))
    for proxy in order:
        data_key, groups, _ = ae.PROXIES[proxy]
        letters = data_key == "letters"
        clf = sets["letters_clf" if letters else "digits_clf"]
        poses, names = train_poses(args.out, letters)
        index = {c: i for i, c in enumerate(clf.classes)}
        keep = np.array([n in index for n in names])
        train_y = np.array([index[n] for n, k in zip(names, keep) if k])
        result[proxy] = evaluate(clf, sets[data_key], groups(sets[data_key]), poses[keep], train_y, len(clf.classes),
                                 args.steps, args.retrain)
        print(proxy, json.dumps(result[proxy]), file=sys.stderr, flush=True)  # each proxy as it is done
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print("| proxy | method | right (closed set), as taken | relit |\n| --- | --- | ---: | ---: |")
    for proxy, rows in result.items():
        for name, lights in rows.items():
            cells = " | ".join("-" if lights.get(k, (0, 0))[1] == 0 else f"{lights[k][0]:.2%}"
                               for k in ("as taken", "relit"))
            print(f"| {proxy} | {name} | {cells} |")


if __name__ == "__main__":
    main()
