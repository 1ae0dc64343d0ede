"""Training loop: seeded, resumable, DDP-aware, writing a self-describing run folder.

Run folder: recipe.yaml, last.pt (resume point, every epoch), best.pt (best validation
accuracy), metrics.json (history, timings, test report), curves.png, confusion.png.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
import signal
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.text import Text
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from signcaps import __version__
from signcaps.data.crops import (
    CropSet,
    concat_crops,
    installed_negatives,
    joined_classes,
    prepare,
    prepare_joined,
    prepare_negatives,
)
from signcaps.data.folders import NEGATIVE, NONE_CLASS, DatasetError, check_class_counts, missing_signs, scan_folder
from signcaps.data.splits import split_indices, split_record
from signcaps.models.capsules import margin_loss, reconstruction_loss
from signcaps.models.checkpoint import (
    RESUME,
    CheckpointError,
    check_entries,
    checkpoint_recipe,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from signcaps.models.registry import build_model, check_model, count_parameters, resolved_config
from signcaps.signs.modes import sign_modes
from signcaps.training.augment import build_augmenter
from signcaps.training.dataset import CropDataset
from signcaps.training.distributed import DistInfo, barrier, init_distributed, ranks_in_sync, shutdown
from signcaps.training.infer import inputs_of, predict_lengths, select_inputs
from signcaps.util.config import ConfigError, Recipe, load_recipe, save_recipe
from signcaps.util.errors import Interrupted, UserError
from signcaps.util.metrics import classification_report
from signcaps.util.outputs import atomic_write_json, atomic_write_text, claim_files, exclusive_lock
from signcaps.util.progress import console, progress_bar


class TrainingInterrupted(Interrupted):
    """Ctrl-C or SIGTERM: the last finished epoch is safe in last.pt (exit 130, like every command)."""


class TrainingDiverged(UserError, RuntimeError):
    """The loss became NaN or infinite: nothing of that epoch is saved."""


# What a run writes into its folder: a folder holding one of these that signcaps did not write
# (the user's own recipe.yaml, say) is refused before the work (`outputs.claim_files`).
RUN_FILES = ("recipe.yaml", "split.json", "last.pt", "best.pt", "metrics.json", "curves.png", "confusion.png")


class TrainStep(nn.Module):
    """Loss computation as a module, so DDP sees (and synchronises) the full forward pass."""

    def __init__(self, model: nn.Module, recipe: Recipe) -> None:
        super().__init__()
        self.model, self.recipe = model, recipe

    def forward(self, images: torch.Tensor, poses: torch.Tensor, targets: torch.Tensor,
                has_image: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Margin loss (negatives: every capsule short, or the "none" class) plus the decoders' losses,
        which only signs have: a negative has no class capsule to rebuild it from."""
        crop, train, negatives = self.recipe.crop, self.recipe.train, self.recipe.negatives
        xs = select_inputs(self.model, {"image": images, "pose": poses})
        image_decoder = getattr(self.model, "has_decoder", False) and train.recon_weight > 0
        pose_decoder = getattr(self.model, "has_pose_decoder", False) and train.pose_recon_weight > 0
        masked = has_image is not None and tuple(self.model.inputs) == ("image", "pose") and not bool(has_image.all())
        if image_decoder or pose_decoder or masked:
            lengths, capsules = self.model.forward_capsules(*xs, **({"image_present": has_image} if masked else {}))
        else:
            lengths, capsules = self.model(*xs), None
        negative = targets == NEGATIVE
        weights = torch.where(negative, negatives.weight, 1.0).to(lengths.dtype) if negative.any() else None
        loss = margin_loss(lengths.float(), target_rows(targets, lengths.shape[1], negatives.mode), weights=weights)
        signs = (~negative).nonzero().flatten() if negative.any() else None
        # A batch of negatives only still runs the decoders, at weight 0: DDP needs every parameter in the graph.
        scale = 0.0 if signs is not None and not len(signs) else 1.0
        pick = (lambda t: t) if signs is None or not scale else (lambda t: t[signs])
        decoded_targets = pick(targets).clamp(min=0)
        if image_decoder:
            recon = self.model.reconstruct(pick(capsules), decoded_targets)
            target01 = (pick(images) * crop.std + crop.mean).clamp(0, 1)
            loss = loss + scale * train.recon_weight * reconstruction_loss(recon.float(), target01.float())
        if pose_decoder:
            recon_pose = self.model.reconstruct_pose(pick(capsules), decoded_targets)
            loss = loss + scale * train.pose_recon_weight * reconstruction_loss(recon_pose.float(),
                                                                                pick(poses).float())
        return loss, lengths.detach(), targets


def target_rows(targets: torch.Tensor, num_outputs: int, mode: str) -> torch.Tensor:
    """(N,) labels -> (N, K) margin-loss targets. A negative (label NEGATIVE) gets the "none" class
    (the last output) in mode "class", and an all-zero row otherwise: every capsule short."""
    if mode == "class":
        return torch.nn.functional.one_hot(torch.where(targets == NEGATIVE, num_outputs - 1, targets).long(),
                                           num_outputs).float()
    rows = torch.zeros(len(targets), num_outputs, device=targets.device)
    signs = targets != NEGATIVE
    rows[signs] = torch.nn.functional.one_hot(targets[signs].long(), num_outputs).float()
    return rows


def right_answers(lengths: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray, mode: str) -> np.ndarray:
    """(N,) bool: a sign whose own capsule is the longest sign capsule; a negative refused: in mode
    "class" the "none" capsule is the longest, otherwise no capsule reaches 0.5 (the margin midpoint)."""
    lengths, targets = np.asarray(lengths, np.float32), np.asarray(targets)
    signs = lengths[:, :-1] if mode == "class" else lengths
    negative = targets == NEGATIVE
    if mode == "class":
        refused = lengths.argmax(1) == lengths.shape[1] - 1
    else:
        refused = signs.max(1, initial=0.0) < 0.5
    return np.where(negative, refused, signs.argmax(1) == targets)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """Each epoch reseeds from (seed, epoch): a resumed run replays exactly what it would have done."""
    return seed * 100_003 + epoch


def default_run_dir(recipe: Recipe) -> Path:
    """runs/<recipe>-s<seed> (the model name when no recipe file was given)."""
    name = recipe.model.name if recipe.name == "default" else recipe.name
    return Path(recipe.train.out_dir) / f"{name}-s{recipe.train.seed}"


OWN_SIGNS_RECIPE = "fused-capsnet"  # the shipped model's architecture and rule for one sign set of a user's own


def run_recipe(recipe: str | Path | None, overrides: list[str], run_dir: Path | None, resume: bool,
               values: dict[str, Any] | None = None) -> Recipe:
    """The recipe a `train` call runs: the given file or shipped name, plus overrides (`--set` text,
    then the typed flags' ``values``). Without one, the shipped default model's recipe
    (`runtime.default_recipe_name`), so a plain `train` trains what the package ships.

    A resume without a recipe continues the run's own saved recipe (overrides still apply on
    top, e.g. more epochs), never the default. A user's own folder (`--data`) without a recipe
    trains one sign set (OWN_SIGNS_RECIPE): the shipped model's recipe joins two datasets into
    one vocabulary, which a user's signs are not.
    """
    if recipe is None:
        from signcaps.runtime.classifier import default_recipe_name

        own_data = (values or {}).get("data.root") is not None or any(
            item.split("=", 1)[0].strip() == "data.root" for item in overrides)
        default = OWN_SIGNS_RECIPE if own_data else default_recipe_name()
        if resume:
            folder = run_dir or default_run_dir(load_recipe(default, overrides, values))
            if (folder / "recipe.yaml").is_file():
                return load_recipe(folder / "recipe.yaml", overrides, values)
        recipe = default
    return load_recipe(recipe, overrides, values)


def load_splits(recipe: Recipe, hand_model: str | None, info: DistInfo,
                show_progress: bool) -> tuple[CropSet, dict[str, CropSet], dict, dict | None]:
    """The dataset's crops, its train/val/test parts, each with its negatives (the dataset's own
    `none/` images split with it, and the external `negatives.root` split by its own folders), and
    the record of the dataset's split that the model keeps (`data.split_record`), and the sign modes
    when a second sign set is joined (`data.join`, `signs.modes`).

    Rank 0 detects and caches the crops; the other ranks wait, then read the same cache.
    """
    warn = (lambda msg: console.print(Text.assemble(("warning:", "yellow"), " ", msg), highlight=False,
                                         soft_wrap=True)) \
        if info.is_main else None

    def load(progress: bool) -> tuple[CropSet, dict[str, CropSet], dict, dict | None]:
        empty: tuple[str, ...] = ()
        if info.is_main:  # empty classes, one class, a missing negatives folder: now, not after minutes of cropping
            found = scan_folder(recipe.data.root, stretch_x=recipe.data.stretch_x)
            counts = np.bincount([label for _, label in found.files if label != NEGATIVE],
                                 minlength=len(found.classes))
            check_class_counts(found.root, found.classes, counts.tolist(), "have no images", warn)
            empty = tuple(found.empty_classes)
            if missing_signs(recipe.negatives, found.classes) == []:
                installed_negatives(recipe.negatives.root)  # a folder that is not there fails; a dataset warns later
        crops, scan, _ = prepare(recipe.data.root, recipe.data, recipe.crop, recipe.detect, hand_model,
                                 show_progress=progress)
        if info.is_main:
            hands = np.bincount(crops.labels[~crops.negative], minlength=len(crops.classes))
            check_class_counts(recipe.data.root, crops.classes, hands.tolist(), "have no photo where a hand was found",
                               warn, known_empty=empty)
        own = crops.classes
        crops = dataclasses.replace(crops, classes=joined_classes(recipe.data.join, own))
        if recipe.negatives.mode == "off":  # a none/ folder is left out too
            crops = crops.subset(np.flatnonzero(~crops.negative))
        index = split_indices(crops.paths, crops.labels, recipe.data, warn=warn, root=scan.root)
        check_sign_split(crops, index, recipe)  # before minutes of cropping external negatives
        joined = prepare_joined(recipe.data.join, crops.classes, recipe.data, recipe.crop, recipe.detect, hand_model,
                                show_progress=progress)
        external = prepare_negatives(recipe.negatives, crops.classes, recipe.data, recipe.crop, recipe.detect,
                                     hand_model, show_progress=progress, warn=warn)
        parts = {}
        for split in ("train", "val", "test"):
            extra = external.get(split)
            found = [crops.subset(index[split]), *([joined[split]] if split in joined else []),
                     *([] if extra is None else [_as_negatives_of(extra, crops)])]
            parts[split] = found[0] if len(found) == 1 else concat_crops(found)
        return crops, parts, split_record(recipe.data, crops.paths, index), sign_modes(recipe.data, own, crops.classes)

    if info.is_main:
        result = load(show_progress)
    barrier(info)
    if not info.is_main:
        result = load(False)
    return result


def check_sign_split(crops: CropSet, index: dict[str, np.ndarray], recipe: Recipe) -> None:
    """DatasetError when the split leaves no sign to train on or to validate with: negatives (the folder's
    none/, external ones) cannot stand in for them."""
    signs = {part: int((~crops.negative[index[part]]).sum()) for part in ("train", "val")}
    if not signs["train"] or not signs["val"]:
        raise DatasetError(f"the {recipe.data.split} split of {len(crops)} usable images left {signs['train']} signs "
                           f"for training and {signs['val']} for validation; add data or change "
                           f"data.val_fraction/test_fraction")


def _as_negatives_of(negatives: CropSet, crops: CropSet) -> CropSet:
    """External negatives carry the dataset's classes (their labels are all NEGATIVE)."""
    return dataclasses.replace(negatives, classes=crops.classes)


def training_rule(recipe: Recipe, classes: list[str], had_negatives: bool = True):
    """The rejection rule the checkpoint carries into its ONNX export: the default (never "none") for a
    model trained without negatives, else the recipe's thresholds (and the "none" class, if it has one)."""
    from signcaps.signs.rejection import RejectionRule

    neg = recipe.negatives
    if neg.mode == "off" or not had_negatives:
        return RejectionRule()
    return RejectionRule(neg.accept, neg.none_below, NONE_CLASS if neg.mode == "class" else None,
                         neg.max_pose_error).check_classes(classes)


def output_classes(classes: list[str], recipe: Recipe) -> list[str]:
    """The model's outputs: the dataset's classes, plus "none" last when negatives are a class of their own."""
    return [*classes, NONE_CLASS] if recipe.negatives.mode == "class" else list(classes)


def make_loader(crops: CropSet, recipe: Recipe, info: DistInfo, device: torch.device,
                kinds: tuple[str, ...] = ("image", "pose")) -> tuple[DataLoader, DistributedSampler]:
    """DistributedSampler even for one process, so 1 x B and N x B/N see the same global batches."""
    train = recipe.train
    if train.batch_size % info.world_size:
        raise ConfigError(f"train.batch_size {train.batch_size} must be divisible by the {info.world_size} processes")
    dataset = CropDataset(crops, recipe.crop, build_augmenter(recipe.augment), kinds, synthesizer(crops, recipe, kinds),
                          recipe.negatives.synthetic)
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=train.seed)
    loader = DataLoader(dataset, batch_size=train.batch_size // info.world_size, sampler=sampler,
                        num_workers=train.num_workers, worker_init_fn=_seed_worker,
                        pin_memory=device.type == "cuda", drop_last=False)
    return loader, sampler


def synthesizer(crops: CropSet, recipe: Recipe, kinds: tuple[str, ...]):
    """Synthetic negatives (`negatives.py`) learnt from the training signs' poses, for models that read
    the pose; None when the recipe asks for none (they have no pixels, so image-only models cannot use them)."""
    neg = recipe.negatives
    if neg.mode == "off" or neg.synthetic <= 0 or "pose" not in kinds:
        return None
    from signcaps.signs.negatives import SyntheticNegatives

    signs = np.flatnonzero(~crops.negative)
    try:
        return SyntheticNegatives(crops.poses(recipe.crop.mirror_left)[signs], crops.labels[signs],
                                  edits=dict(neg.edits) or None)
    except ValueError as err:  # an unknown edit name
        raise ConfigError(f"negatives.edits: {err}") from None


def epoch_items(crops: CropSet, recipe: Recipe, kinds: tuple[str, ...]) -> int:
    """Items an epoch draws: the training crops and the synthetic negatives `CropDataset` adds to them."""
    neg = recipe.negatives
    synthetic = neg.mode != "off" and neg.synthetic > 0 and "pose" in kinds
    return len(crops) + (int(round(int((~crops.negative).sum()) * neg.synthetic)) if synthetic else 0)


def balanced_recipe(recipe: Recipe, crops: CropSet, items: int, say: Callable[[str], None] | None = None) -> Recipe:
    """The recipe with `negatives.weight` lowered so that the negatives of an epoch (real ones and the
    synthetic ones, `items` in all with the signs) weigh at most `negatives.balance` times its signs."""
    neg = recipe.negatives
    signs = int((~crops.negative).sum())
    negatives = items - signs
    if neg.balance <= 0 or neg.mode == "off" or not signs or negatives * neg.weight <= neg.balance * signs:
        return recipe
    weight = neg.balance * signs / negatives
    if say:
        say(f"class balance: {negatives} negatives beside {signs} signs; each negative weighs {weight:.3g} instead "
            f"of {neg.weight:g} (negatives.balance {neg.balance:g})")
    return dataclasses.replace(recipe, negatives=dataclasses.replace(neg, weight=weight))


def small_set_recipe(recipe: Recipe, crops: CropSet, items: int, say: Callable[[str], None] | None = None) -> Recipe:
    """The recipe, class-balanced (`balanced_recipe`), with enough epochs for `train.min_steps` optimizer
    steps over `items` per epoch, and `say` told so: a recipe tuned on thousands of photos gives a
    90-photo set 2 batches an epoch, and its 40 epochs (80 steps) left every capsule short: 14 of 15
    held-out signs said "none" (issue 25)."""
    recipe = balanced_recipe(recipe, crops, items, say)
    cfg = recipe.train
    batches = max(1, math.ceil(items / cfg.batch_size))
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / batches))
    if epochs == cfg.epochs:
        return recipe
    if say:
        say(f"small dataset: {items} training items make {batches} batch(es) an epoch; training {epochs} epochs "
            f"instead of {cfg.epochs}, so the model takes {cfg.min_steps} steps (train.min_steps; --epochs N trains "
            f"exactly N)")
    return dataclasses.replace(recipe, train=dataclasses.replace(cfg, epochs=epochs))


def _seed_worker(worker_id: int) -> None:
    """Workers restart every epoch with a seed drawn from the (epoch-seeded) main process."""
    info = torch.utils.data.get_worker_info()
    info.dataset.reseed(torch.initial_seed() + worker_id)


def reseed_epoch(loader: DataLoader, sampler: DistributedSampler, seed: int, epoch: int, rank: int) -> None:
    """Same seeds for the same (seed, epoch, rank): resumed runs replay uninterrupted ones."""
    seed_everything(epoch_seed(seed, epoch))
    sampler.set_epoch(epoch)
    loader.dataset.reseed(epoch_seed(seed, epoch) * 31 + rank)


def check_resumable(state: dict[str, Any], recipe: Recipe, path: Path) -> None:
    """Resuming with another model, crop or data setting would silently mix two experiments."""
    saved = checkpoint_recipe(state)
    saved.model = resolved_config(saved.model)
    for section in ("model", "crop", "data"):
        if asdict(getattr(saved, section)) != asdict(getattr(recipe, section)):
            raise CheckpointError(f"{path} was trained with a different {section} config; "
                                  f"resume with the recipe in {path.parent / 'recipe.yaml'}")


def train(recipe: Recipe, run_dir: Path | None = None, resume: bool = False, hand_model: str | None = None,
          show_progress: bool = True) -> dict[str, Any]:
    """Train `recipe` into `run_dir`; returns the summary also written to metrics.json."""
    check_model(recipe.model, recipe.crop)  # impossible layer sizes: one line before any work
    info, device = init_distributed(recipe.train.device)
    run_dir = Path(run_dir or default_run_dir(recipe))
    try:
        # One process (rank 0 of a torchrun job) per run folder: two runs would share last.pt.tmp
        # and one result would silently vanish.
        with exclusive_lock(run_dir, "--run-dir", inputs=[recipe.data.root]) if info.is_main else nullcontext():
            summary = _train(recipe, run_dir, resume, hand_model, show_progress, info, device)
        # Every rank leaves together: a rank tearing its gloo group down while rank 0 still wrote
        # the report was seen to abort ("terminate called without an active exception", 1 run in 4
        # under load).
        barrier(info)
        return summary
    finally:
        shutdown(info)


def _train(recipe: Recipe, run_dir: Path, resume: bool, hand_model: str | None, show_progress: bool,
           info: DistInfo, device: torch.device) -> dict[str, Any]:
    recipe = dataclasses.replace(recipe, model=resolved_config(recipe.model))
    cfg = recipe.train
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    show_progress = show_progress and info.is_main
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if info.is_main and last_path.exists() and not resume:
        raise CheckpointError(f"{run_dir} already holds a run; pass --resume to continue it or choose "
                              "another --run-dir")
    if info.is_main:
        claim_files(run_dir, RUN_FILES, "--run-dir", legacy_ok=resume)
    crops, parts, kept_split, modes = load_splits(recipe, hand_model, info, show_progress)
    train_set, val_set, test_set = (parts[k] for k in ("train", "val", "test"))
    classes = output_classes(crops.classes, recipe)
    if len(train_set) == 0 or len(val_set) == 0:
        raise DatasetError(f"the {recipe.data.split} split of {len(crops)} usable images left {len(train_set)} for "
                           f"training and {len(val_set)} for validation; add data or change "
                           f"data.val_fraction/test_fraction")

    seed_everything(cfg.seed)
    model = build_model(recipe.model, recipe.crop, len(classes)).to(device)
    recipe = small_set_recipe(recipe, train_set, epoch_items(train_set, recipe, tuple(model.inputs)),
                              (lambda msg: console.print(msg, markup=False, highlight=False)) if info.is_main else None)
    cfg = recipe.train
    step = TrainStep(model, recipe).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1), eta_min=cfg.lr_min)
    start_epoch, best_val, history = 0, -1.0, []
    if resume and not last_path.is_file():
        # stopped before its first epoch was saved (or never started): resuming it is starting it
        if info.is_main:
            console.print(f"nothing to resume yet ({last_path} does not exist): starting from epoch 1",
                          markup=False, highlight=False)
        resume = False
    if resume:
        state = load_checkpoint(last_path)
        check_entries(state, last_path, RESUME)
        check_resumable(state, recipe, last_path)
        if state.get("data_fingerprint") not in (None, crops.fingerprint):
            raise CheckpointError(f"the dataset {recipe.data.root} changed since {last_path} was written (fingerprint "
                                  f"{state['data_fingerprint']} -> {crops.fingerprint}): resuming would mix two "
                                  f"splits; start a new run with another --run-dir")
        load_weights(model, state["model_state"], str(last_path))
        try:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(f"{last_path} holds an optimizer state that does not fit this model "
                                  f"({type(err).__name__})") from None
        start_epoch, best_val, history = int(state["epoch"]) + 1, float(state["best_val"]), list(state["history"])
    ddp_step = step
    if info.enabled:
        ddp_step = torch.nn.parallel.DistributedDataParallel(
            step, device_ids=[device.index] if device.type == "cuda" else None)

    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_recipe(recipe, run_dir / "recipe.yaml")
        split_files = {k: part.paths for k, part in parts.items()}
        atomic_write_text(run_dir / "split.json", json.dumps(split_files))
        console.print(Text.assemble((recipe.model.name, "bold"), f" {count_parameters(model):,} params on {device}"
                                    f"{f' x{info.world_size} ranks' if info.enabled else ''}; train {len(train_set)} "
                                    f"/ val {len(val_set)} / test {len(test_set)}"))
    loader, sampler = make_loader(train_set, recipe, info, device, tuple(model.inputs))
    val_x = inputs_of(val_set, recipe)
    base_state = {"recipe": recipe.to_dict(), "classes": classes, "version": __version__,
                  "rejection": training_rule(recipe, classes, bool(train_set.negative.any())
                                             or loader.dataset.synthetic > 0).to_meta(),
                  "data_fingerprint": crops.fingerprint, "split": kept_split,
                  "signs": modes}

    run_started = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, cfg.epochs):
            reseed_epoch(loader, sampler, cfg.seed, epoch, info.rank)
            started = time.perf_counter()
            sums = run_epoch(ddp_step, loader, optimizer, device, cfg.amp, f"epoch {epoch + 1}/{cfg.epochs}",
                             show_progress, recipe.negatives.mode)
            train_loss, train_acc = global_means(info, sums, device)
            if not math.isfinite(train_loss):
                raise TrainingDiverged(f"the training loss became {train_loss} in epoch {epoch + 1}; nothing of it was "
                                       f"saved; lower train.lr (now {cfg.lr:g}) or check the data")
            scheduler.step()
            seconds = time.perf_counter() - started
            if info.is_main:
                val = validation_scores(predict_lengths(model, val_x, device), val_set.labels, recipe.negatives.mode)
                val_acc = val["score"]
                history.append({"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc, **val,
                                "seconds": seconds, "lr": optimizer.param_groups[0]["lr"]})
                improved = val_acc >= best_val  # ties go to the later, better-converged epoch
                best_val = max(best_val, val_acc)
                weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
                if improved:
                    save_checkpoint({**base_state, "model_state": weights, "epoch": epoch, "val_acc": val_acc},
                                    best_path)
                save_checkpoint({**base_state, "model_state": weights, "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict(), "epoch": epoch, "best_val": best_val,
                                 "history": history}, last_path)
                refused = "" if val["val_refused"] is None else f"  refused {val['val_refused']:.2%}"
                console.print(f"epoch {epoch + 1:3d}  loss {train_loss:.4f}  train {train_acc:.2%}  val "
                              f"{val['val_acc']:.2%}{refused}  {seconds:5.1f}s{'  *best' if improved else ''}")
            barrier(info)
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"interrupted in epoch {epoch + 1}; epochs up to {epoch} are saved in {last_path}; "
                                  f"continue with: signcaps train --recipe {run_dir / 'recipe.yaml'} --run-dir "
                                  f"{run_dir} --resume") from None
    finally:
        signal.signal(signal.SIGTERM, previous)

    in_sync = ranks_in_sync(info, model)
    if not info.is_main:
        return {}
    return finish_run(run_dir, recipe, crops, test_set, device, history, world_size=info.world_size, in_sync=in_sync,
                      wall_seconds=time.perf_counter() - run_started)


def rule_rates_on(state: dict[str, Any], lengths: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The checkpoint's rejection rule (what export ships) on the test split (`verdicts.rule_rates`); the
    pose-error limit, when the rule has one, is left out here (the ONNX export's own report applies it)."""
    from signcaps.signs.rejection import RejectionRule
    from signcaps.signs.verdicts import rule_rates

    classes = [str(c) for c in state["classes"]]
    rule = RejectionRule.from_meta(state.get("rejection"), classes)
    if rule.uses_pose_error:
        rule = dataclasses.replace(rule, max_pose_error=None)
    return rule_rates(lengths, labels, classes, rule)


def validation_scores(lengths: np.ndarray, labels: np.ndarray, mode: str) -> dict[str, float | None]:
    """val_acc: signs whose capsule is the longest; val_refused: negatives refused (None without
    negatives); score (what picks best.pt): their mean, so neither half can be traded away unseen."""
    right = right_answers(lengths, labels, mode)
    negative = labels == NEGATIVE
    signs = float(right[~negative].mean()) if (~negative).any() else 0.0
    refused = float(right[negative].mean()) if negative.any() else None
    return {"val_acc": signs, "val_refused": refused, "score": signs if refused is None else (signs + refused) / 2}


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_epoch(step: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device,
              amp: bool, label: str, show_progress: bool, mode: str = "off") -> tuple[float, int, int]:
    """One pass over this rank's shard; returns (summed loss, correct, seen) for global averaging."""
    step.train()
    total_loss, correct, seen = 0.0, 0, 0
    use_amp = amp and device.type == "cuda"
    with progress_bar(label, len(loader), enabled=show_progress) as advance:
        for images, poses, targets, has_image in loader:
            images, poses = images.to(device, non_blocking=True), poses.to(device, non_blocking=True)
            targets, has_image = targets.to(device, non_blocking=True), has_image.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss, lengths, _ = step(images, poses, targets, has_image)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(targets)
            correct += int(right_answers(lengths.float().cpu(), targets.cpu(), mode).sum())
            seen += len(targets)
            advance(1)
    return total_loss, correct, seen


def global_means(info: DistInfo, sums: tuple[float, int, int], device: torch.device) -> tuple[float, float]:
    """Mean loss and accuracy over all ranks' samples (each rank only saw its shard)."""
    totals = torch.tensor(sums, dtype=torch.float64)
    if info.enabled:
        totals = totals.to(device)
        torch.distributed.all_reduce(totals)
    loss_sum, correct, seen = totals.tolist()
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def finish_run(run_dir: Path, recipe: Recipe, crops: CropSet, test_set: CropSet, device: torch.device,
               history: list[dict], world_size: int = 1, in_sync: bool = True,
               wall_seconds: float = 0.0) -> dict[str, Any]:
    """Evaluate the best checkpoint on the held-out participants and write metrics and plots."""
    from signcaps.util.report import plot_confusion, plot_curves

    best = load_checkpoint(run_dir / "best.pt")
    model = build_model(recipe.model, recipe.crop, len(best["classes"])).to(device)
    load_weights(model, best["model_state"], str(run_dir / "best.pt"))
    report, refused, rates = None, None, None
    signs = test_set.subset(np.flatnonzero(~test_set.negative))
    if len(signs):
        lengths = predict_lengths(model, inputs_of(test_set, recipe), device)
        scores = validation_scores(lengths, test_set.labels, recipe.negatives.mode)
        refused = scores["val_refused"]
        rates = rule_rates_on(best, lengths, test_set.labels)
        pred = lengths[~test_set.negative, :len(crops.classes)].argmax(1)
        report = classification_report(signs.labels, pred, crops.classes)
        plot_confusion(report, run_dir / "confusion.png", f"{recipe.model.name} test (unseen participants)")
    plot_curves(history, run_dir / "curves.png", recipe.model.name)
    summary = {
        "recipe": recipe.name, "model": recipe.model.name, "seed": recipe.train.seed,
        "params": count_parameters(model), "epochs": len(history),
        "seconds_per_epoch": float(np.mean([h["seconds"] for h in history])) if history else 0.0,
        "train_seconds": float(sum(h["seconds"] for h in history)),
        "best_epoch": int(best["epoch"]) + 1, "best_val_acc": float(best["val_acc"]),
        "test_acc": report["accuracy"] if report else None, "test_refused": refused, "test": report,
        "test_rule": rates,  # the shipped rule on the test split: signs accepted and right, negatives refused
        "history": history,
        "device": str(device), "torch_threads": torch.get_num_threads(), "data_fingerprint": crops.fingerprint,
        "world_size": world_size, "ranks_in_sync": in_sync,
        "wall_seconds": wall_seconds,  # this session's loop incl. validation and checkpoints (not crop caching)
    }
    atomic_write_json(run_dir / "metrics.json", summary)
    return summary
