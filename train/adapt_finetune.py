"""The torch answer to "adapting to a signer", for the table of train/README.md: fine-tune the class-capsule
transforms (the routing layer's W_ij into the class capsules, nothing else) of the shipped letters model's
checkpoint on the same shots as train/adapt_eval.py's letters proxy, and judge it the same way:

    SIGNCAPS_DATA_DIR=../shared/datasets SIGNCAPS_HAND_MODEL=../shared/models/hand_landmarker.task \\
        python train/adapt_finetune.py --checkpoint ../main/runs/handshapes-s1/best.pt

Needs the [train] extra and the checkpoint the shipped letters model was exported from (handshapes, seed 1;
its outputs equal letters_model.onnx's to 3e-7). The digits default's checkpoint is not in this checkout.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import adapt_eval as E  # noqa: E402

from signcaps.models.capsules import margin_loss  # noqa: E402
from signcaps.models.checkpoint import build_from_checkpoint  # noqa: E402
from signcaps.runtime.classifier import default_model_path, load_classifier  # noqa: E402
from signcaps.signs.modes import mode_view  # noqa: E402


def view_lengths(joint: np.ndarray, view) -> np.ndarray:
    """The letters view of joint capsule lengths, as `runtime.signmodes.view_graph` computes it."""
    return np.concatenate([joint[:, list(view.indices)], joint[:, list(view.others)].max(1, keepdims=True)], axis=1)


def joint_lengths(model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(inputs["image"]), torch.from_numpy(inputs["pose"])).numpy()


def fine_tune(checkpoint: Path, inputs: dict[str, np.ndarray], targets: np.ndarray, steps: int, lr: float):
    """A fresh copy of the checkpoint's model with only the class-capsule transforms trained on the shots."""
    model = build_from_checkpoint(checkpoint)[0]
    model.eval()  # no dropout of a modality: the shots are few
    for param in model.parameters():
        param.requires_grad_(False)
    model.digits.weight.requires_grad_(True)
    optimiser = torch.optim.Adam([model.digits.weight], lr=lr)
    image, pose, labels = torch.from_numpy(inputs["image"]), torch.from_numpy(inputs["pose"]), torch.from_numpy(targets)
    for _ in range(steps):
        optimiser.zero_grad()
        margin_loss(model(image, pose), labels).backward()
        optimiser.step()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/adapt-eval"))
    parser.add_argument("--steps", type=int, nargs="*", default=[10, 30, 100])
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    letters_clf = load_classifier(None, signs="letters")
    joint_clf = load_classifier(default_model_path("letters"), signs="capsules")
    view = mode_view(joint_clf.meta["signs"], joint_clf.classes, "letters")
    sets = E.load_sets(args.out)
    hands, negatives = E.letter_set(args.out), sets["letters_negatives"]
    data = sets["letters"]
    inputs = joint_clf.hand_inputs(hands.crops, data.poses)
    digits = E.digit_sets(args.out)["test"]
    negative_hands = E.subset_hands(digits, np.array([label in "134578" for label in digits.labels]))
    negative_inputs = joint_clf.hand_inputs(negative_hands.crops, negatives.poses)
    for steps in args.steps:
        right = {"as taken": [], "relit": []}
        refused, seconds = [], []
        for _name, shots, judged in E.letter_groups(data):
            started = time.perf_counter()
            targets = np.array([view.indices[label] for label in data.labels[shots]], np.int64)
            model = fine_tune(args.checkpoint, {k: v[shots] for k, v in inputs.items()}, targets, steps, args.lr)
            seconds.append(time.perf_counter() - started)
            lengths = view_lengths(joint_lengths(model, {k: v[judged] for k, v in inputs.items()}), view)
            part = data.subset(judged)
            for light, mask in (("as taken", ~part.lit), ("relit", part.lit)):
                score = E.scores(letters_clf, lengths[mask], part.labels[mask])
                right[light].append((score["right_rule"], score["n"]))
            refused.append(E.refused(letters_clf, view_lengths(joint_lengths(model, negative_inputs), view)))
        mean = {k: sum(a * n for a, n in v) / sum(n for _, n in v) for k, v in right.items()}
        print(f"| letters: fine-tuned class-capsule transforms, {steps} Adam steps (lr {args.lr:g}) | "
              f"{mean['as taken']:.2%} | {mean['relit']:.2%} | "
              f"{min(a for a, _ in right['as taken']):.2%} / {min(a for a, _ in right['relit']):.2%} | "
              f"{np.mean([r['not_accepted'] for r in refused]):.2%} ({np.mean([r['none'] for r in refused]):.2%}) | "
              f"{np.mean(seconds):.1f} s |", flush=True)


if __name__ == "__main__":
    main()
