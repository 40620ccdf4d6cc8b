"""Training a spleen model from cases, on CPU or GPU, with progress, cancel and resume.

The loop is deliberately plain: slices are preprocessed once (:mod:`segmentation.slice_data`),
each step samples a foreground-weighted batch of patches, augments it
(:mod:`segmentation.augmentation`), windows it and takes an AdamW step on Dice + BCE.
After each epoch the held-out slices or cases are scored; whenever validation Dice
improves the model file is rewritten (atomically), so stopping at any moment leaves
the best model so far. A ``<model>.state.pt`` file beside it holds the optimizer and
schedule for ``resume``.

Progress goes to ``progress(event)`` as the dicts the CLI prints as JSON lines:
``start``, ``progress``, ``epoch``, ``done`` (see notes/segmentation_api.md).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from segmentation.augmentation import AugmentationSettings, augment_batch
from segmentation.config import ModelConfig, axis_index, axis_name
from segmentation.datasets import Case, load_case
from segmentation.devices import (
    autocast_dtype,
    configure_cpu_threads,
    describe_device,
    pick_device,
)
from segmentation.distributed import parameter_checksum
from segmentation.losses import dice_bce_loss
from segmentation.model_file import default_metadata, load_model, save_model
from segmentation.preprocessing import normalize_volume, window_to_unit
from segmentation.slice_data import SliceSet, case_slices, sample_batch
from segmentation.unet import build_network
from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)

EventCallback = Callable[[dict], None]
CancelCallback = Callable[[], bool]


@dataclass
class TrainConfig:
    """Everything that decides a training run (all of it is written into the model file)."""

    epochs: int = 40
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 8
    steps_per_epoch: int | None = None  # None: one pass over the training slices
    axis: int | str = 2
    val_fraction: float = 0.2
    device: str = "auto"
    seed: int = 0
    init_from: str | None = None
    base_channels: int = 16
    depth: int = 4
    target_spacing_mm: float = 2.0
    hu_window: tuple[float, float] = (-175.0, 250.0)
    context_slices: int = 0
    patch_size: int = 256
    foreground_fraction: float = 0.7
    # > 0: spleen slices are drawn with weight area ** -power (tip and dome more often).
    small_section_power: float = 0.0
    augmentation: AugmentationSettings = field(default_factory=AugmentationSettings)
    resume: bool = False
    threads: int | None = None
    amp: bool = True
    model_name: str | None = None
    progress_events_per_epoch: int = 4
    time_limit_s: float | None = None  # stop after the epoch that crosses this wall time
    modality: str = "CT"
    intensity: str = "window"  # "percentile": per-volume normalization (MR)
    # Names of the cases to hold out (cross-validation folds); None: chosen by val_fraction.
    val_cases: tuple[str, ...] | None = None
    # A single case holds out its labelled slices' "superior" (highest-index) or
    # "inferior" end block.
    val_slice_block: str = "superior"
    # False: the last epoch's weights are kept (cross-validation must not pick its epoch
    # on the very cases it is scored on).
    keep_best: bool = True
    # An MSD folder of MR cases added to the training slices as shapes only, with this
    # share of each batch (segmentation.joint_mr); None: none.
    joint_mr: str | None = None
    joint_mr_share: float = 0.3

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            axis=axis_index(self.axis),
            hu_window=tuple(float(v) for v in self.hu_window),
            target_spacing_mm=float(self.target_spacing_mm),
            context_slices=int(self.context_slices),
            base_channels=int(self.base_channels),
            depth=int(self.depth),
            pad_multiple=2 ** int(self.depth),
            modality=str(self.modality).upper(),
            intensity=str(self.intensity),
        )


@dataclass
class TrainResult:
    model_path: Path | None
    best_val_dice: float | None
    epochs_run: int
    stopped: bool
    seconds: float
    history: list[dict] = field(default_factory=list)


def state_path_for(output_path: Path) -> Path:
    return output_path.with_name(output_path.name + ".state.pt")


# ----------------------------------------------------------------------------- data
def split_and_prepare(cases: list[Case], config: TrainConfig, model_config: ModelConfig):
    """Load cases and split them: by case when there are several, else by a slice block.

    A single case is split into a contiguous block of held-out slices at one end of the
    labelled range (``config.val_slice_block``: the superior, highest-index, end by
    default), so validation measures extrapolation to unseen anatomy rather than
    interpolation between near-identical neighbours.
    """
    generator = np.random.default_rng(config.seed)
    train_set, val_set = SliceSet(), SliceSet()
    axis = model_config.axis
    n_val_cases = 0
    if len(cases) >= 2 and config.val_fraction > 0:
        n_val_cases = min(len(cases) - 1, max(1, round(config.val_fraction * len(cases))))
    order = generator.permutation(len(cases))
    val_case_ids = set(order[:n_val_cases].tolist())
    if config.val_cases is not None:
        wanted = set(config.val_cases)
        val_case_ids = {i for i, case in enumerate(cases) if case.name in wanted}
        missing = wanted - {cases[i].name for i in val_case_ids}
        if missing:
            raise SpleenScopeError(f"validation cases not found: {', '.join(sorted(missing))}")
        n_val_cases = len(val_case_ids)
    split = {"by": "cases" if n_val_cases else "slices", "val_cases": [], "val_slices": []}
    for index, case in enumerate(cases):
        volume, label = load_case(case)
        spacing = volume.spacing
        array = normalize_volume(volume.array, model_config)
        if index in val_case_ids:
            val_set.add(
                case_slices(
                    case.name, array, label, spacing, model_config, config.patch_size
                )
            )
            split["val_cases"].append(case.name)
            continue
        count = volume.shape[axis]
        train_idx = np.arange(count)
        if not n_val_cases and config.val_fraction > 0 and len(cases) == 1:
            moved = np.moveaxis(label, axis, 0).reshape(count, -1)
            foreground = np.flatnonzero(moved.any(axis=1))
            if len(foreground) >= 2:
                first, last = int(foreground[0]), int(foreground[-1])
                span = last - first + 1
                n_val = min(span - 1, max(1, round(config.val_fraction * span)))
                if config.val_slice_block == "inferior":
                    val_idx = np.arange(first, first + n_val)
                elif config.val_slice_block == "superior":
                    val_idx = np.arange(last - n_val + 1, last + 1)
                else:
                    raise SpleenScopeError(
                        f"val_slice_block {config.val_slice_block!r}: use superior or inferior"
                    )
                train_idx = np.setdiff1d(train_idx, val_idx)
                val_set.add(
                    case_slices(
                        case.name,
                        array,
                        label,
                        spacing,
                        model_config,
                        config.patch_size,
                        val_idx,
                    )
                )
                split["val_slices"] = [int(val_idx[0]), int(val_idx[-1])]
        train_set.add(
            case_slices(
                case.name, array, label, spacing, model_config, config.patch_size, train_idx
            )
        )
    if config.joint_mr:
        from segmentation.joint_mr import MR_GROUP, mr_shape_slices

        for extra in mr_shape_slices(config.joint_mr, model_config, config.patch_size):
            train_set.add(extra)
            split.setdefault("joint_mr_cases", []).append(extra.name)
        train_set.group_shares[MR_GROUP] = config.joint_mr_share
    if train_set.count == 0:
        raise SpleenScopeError("no training slices left after the validation split")
    return train_set, val_set, split


# ------------------------------------------------------------------------ evaluation
def validate(network, val_set: SliceSet, model_config: ModelConfig, device, amp) -> tuple:
    """``(val_loss, val_dice)`` over all held-out slices (Dice pooled over pixels)."""
    if not val_set.cases:
        return None, None
    network.eval()
    intersection = total = 0.0
    losses = []
    with torch.inference_mode():
        for case in val_set.cases:
            for start in range(0, len(case.images), 16):
                images = case.images[start : start + 16].float()
                labels = case.labels[start : start + 16].float().to(device)
                inputs = window_to_unit(images, model_config.hu_window).to(device)
                with amp():
                    logits = network(inputs)
                logits = logits.float()
                losses.append(float(dice_bce_loss(logits, labels)))
                predicted = (logits > 0).float()
                intersection += float((predicted * labels).sum())
                total += float(predicted.sum() + labels.sum())
    dice = 1.0 if total == 0 else 2.0 * intersection / total
    return float(np.mean(losses)), dice


# ------------------------------------------------------------------------- training
def _amp_factory(device: torch.device, enabled: bool):
    dtype = autocast_dtype(device) if enabled else None
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext, None
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def _schedule(total_steps: int):
    warmup = max(1, total_steps // 30)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def train(
    cases: list[Case],
    config: TrainConfig,
    output_path: str | Path,
    progress: EventCallback | None = None,
    cancel: CancelCallback | None = None,
    distributed=None,
) -> TrainResult:
    """Train (or fine-tune, with ``config.init_from``) and save the best model to ``output_path``.

    ``distributed`` (a :class:`segmentation.distributed.DistributedRun`) trains this rank's
    shard with DDP; only rank 0 writes files and events.
    """
    started = time.perf_counter()
    output_path = Path(output_path)
    is_main = distributed is None or distributed.is_main
    emit = progress if progress is not None and is_main else (lambda event: None)
    configure_cpu_threads(config.threads)  # the one thread policy (SPLEENSCOPE_THREADS wins)
    torch.manual_seed(config.seed)
    device = distributed.device if distributed is not None else pick_device(config.device)

    if config.init_from:
        base = load_model(config.init_from)
        model_config, network = base.config, base.network
        log.info("fine-tuning from %s", base.name)
    else:
        model_config = config.model_config()
        network = build_network(model_config)
    network.to(device)

    train_set, val_set, split = split_and_prepare(cases, config, model_config)
    pairs, foreground = train_set.index()
    world = distributed.world_size if distributed is not None else 1
    steps = config.steps_per_epoch or max(1, math.ceil(len(pairs) / (config.batch_size * world)))
    if distributed is not None:
        pairs, foreground = distributed.shard(pairs, foreground, config.seed)
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config.epochs * steps))
    amp, scaler = _amp_factory(device, config.amp)

    state_path = state_path_for(output_path)
    first_epoch, best_dice, history, saved = 1, None, [], False
    if config.resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        first_epoch = int(state["epoch"]) + 1
        best_dice = state.get("best_val_dice")
        history = list(state.get("history", []))
        saved = output_path.is_file()
        log.info("resuming after epoch %d (best val Dice %s)", first_epoch - 1, best_dice)

    device_text = describe_device(device)
    emit(
        {
            "event": "start",
            "epochs": config.epochs,
            "device": device_text,
            "train_slices": int(len(pairs)),
            "val_slices": int(val_set.count),
            "first_epoch": first_epoch,
            "steps_per_epoch": steps,
            **({} if distributed is None else {"rank_cases": distributed.gather(
                sorted({train_set.cases[i].name for i in pairs[:, 0]}))}),  # fmt: skip
        }
    )

    def metadata(epoch: int, val_loss, val_dice) -> dict:
        training = {k: v for k, v in asdict(config).items() if k != "augmentation"}
        if config.joint_mr:  # the folder's name, not where it lies on this machine
            training["joint_mr"] = Path(config.joint_mr).name
        training.update(
            augmentation=config.augmentation.describe(),
            device=device_text,
            epoch=epoch,
            seconds=round(time.perf_counter() - started, 1),
            steps_per_epoch=steps,
            axis=axis_name(model_config.axis),
        )
        return default_metadata(
            config.model_name or output_path.stem,
            training_data={
                "cases": [case.name for case in cases],
                "train_slices": int(len(pairs)),
                "val_slices": int(val_set.count),
                "split": split,
            },
            validation={"val_dice": val_dice, "val_loss": val_loss, "epoch": epoch},
            training=training,
        )

    trained = distributed.wrap(network) if distributed is not None else network
    rank = distributed.rank if distributed is not None else 0
    every = max(1, steps // max(1, config.progress_events_per_epoch))
    stopped = False
    epoch = first_epoch - 1
    epoch_seconds: list[float] = []
    for epoch in range(first_epoch, config.epochs + 1):
        epoch_started = time.perf_counter()
        network.train()
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch + 7919 * rank)
        losses = []
        for step in range(1, steps + 1):
            images, labels = sample_batch(
                train_set,
                pairs,
                foreground,
                config.batch_size,
                config.patch_size,
                config.foreground_fraction,
                generator,
                small_section_power=config.small_section_power,
                thick_slice_probability=config.augmentation.thick_slice_probability,
                thick_slice_mm=config.augmentation.thick_slice_mm,
            )
            images, labels = augment_batch(images, labels, config.augmentation, generator)
            inputs = window_to_unit(images, model_config.hu_window).to(device)
            labels = labels.to(device)
            optimizer.zero_grad(set_to_none=True)
            with amp():
                logits = trained(inputs)
            loss = dice_bce_loss(logits, labels)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            if step % every == 0 or step == steps:
                emit(
                    {
                        "event": "progress",
                        "epoch": epoch,
                        "step": step,
                        "steps": steps,
                        "loss": round(float(np.mean(losses[-every:])), 5),
                    }
                )
            wants_stop = cancel is not None and cancel()
            if distributed is not None:  # ranks stop together or wait on each other forever
                wants_stop = distributed.any_rank(wants_stop)
            if wants_stop:
                stopped = True
                break
        if stopped and step < steps and saved:
            epoch -= 1  # the partial epoch is not scored; the best checkpoint stands
            break
        val_loss, val_dice = validate(network, val_set, model_config, device, amp)
        improved = val_dice is None or best_dice is None or val_dice > best_dice
        if improved:
            best_dice = val_dice if val_dice is not None else best_dice
        if improved or not config.keep_best:
            if is_main:
                save_model(output_path, network, model_config, metadata(epoch, val_loss, val_dice))
            saved = True
        epoch_seconds.append(time.perf_counter() - epoch_started)
        record = {
            "epoch": epoch,
            "train_loss": round(float(np.mean(losses)), 5),
            "val_loss": None if val_loss is None else round(val_loss, 5),
            "val_dice": None if val_dice is None else round(val_dice, 5),
            "best_val_dice": None if best_dice is None else round(best_dice, 5),
        }
        history.append(record)
        if is_main:
            torch.save(
                {
                    "network": network.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "best_val_dice": best_dice,
                    "history": history,
                },
                state_path,
            )
        eta = float(np.mean(epoch_seconds[-5:])) * (config.epochs - epoch)
        emit(
            {
                "event": "epoch",
                "epochs": config.epochs,
                **record,
                "seconds": round(epoch_seconds[-1], 2),
                "eta_seconds": round(eta, 1),
            }
        )
        if stopped:
            break
        if config.time_limit_s and time.perf_counter() - started > config.time_limit_s:
            log.warning("time limit of %.0f s reached after epoch %d", config.time_limit_s, epoch)
            stopped = True
            break
    seconds = time.perf_counter() - started
    emit(
        {
            "event": "done",
            "model": str(output_path),
            "best_val_dice": best_dice,
            "epochs_run": int(epoch),
            "stopped": stopped,
            "seconds": round(seconds, 1),
            **({} if distributed is None else {"rank_parameter_checksums": distributed.gather(
                parameter_checksum(network))}),  # fmt: skip
        }
    )
    return TrainResult(
        output_path if saved else None, best_dice, int(epoch), stopped, seconds, history
    )
