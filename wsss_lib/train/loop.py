"""The generic epoch loop shared by every paradigm.

AdamW (learning rate per step from the config's schedule), seeded initialisation and per-epoch
seeded shuffling, mixed precision (on CUDA bf16, or fp16 with a grad scaler; on a CPU bf16 only
when asked for), a ``tqdm.auto`` progress bar, a NaN guard, and after every epoch an atomically
written checkpoint plus ``history.json``.

Resuming: the checkpoint holds the networks, optimizer, grad scaler and RNG states, and each
epoch's shuffling/augmentation seed is derived from ``(seed, epoch)``, so a run interrupted after
epoch k and resumed ends with the same weights as an uninterrupted run (bit-exact on CPU).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from wsss_lib.train.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from wsss_lib.train.config import TrainConfig, learning_rate_at
from wsss_lib.train.paradigms import Paradigm, StepOutput, build_paradigm, get_paradigm
from wsss_lib.train.run import CHECKPOINT_NAME, HISTORY_NAME, TrainedRun, run_from_paradigm
from wsss_lib.utils import atomic_write_json, get_device, seed_everything

__all__ = [
    "EpochCallback",
    "autocast_context",
    "check_training_set",
    "epoch_seed",
    "load_training_data",
    "resolve_amp_dtype",
    "train_classifier",
]

EpochCallback = Callable[[int, dict[str, Any]], None]


def resolve_amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``TrainConfig.amp`` on ``device``; None means full precision.

    On CUDA ``"auto"`` picks bf16 where the GPU supports it (no grad scaler needed), else fp16.
    On a CPU only an explicit ``"bf16"`` turns autocast on: CPUs with AMX or AVX-512 BF16 units
    (Intel Sapphire Rapids and later) run convolutions and matrix products about twice as fast
    in bf16; elsewhere bf16 is emulated and slower, so ``"auto"`` stays in full precision there,
    and fp16 autocast is never used on a CPU.
    """
    if mode == "off":
        return None
    if device.type != "cuda":
        return torch.bfloat16 if device.type == "cpu" and mode == "bf16" else None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def autocast_context(device: torch.device, amp_dtype: torch.dtype | None):
    """The context a training step runs in: autocast to ``amp_dtype`` (None: no autocast).

    On a CPU in bf16 attention uses PyTorch's plain ("math") kernel: the fused flash-attention
    kernel's bf16 backward pass is several times slower there than the math kernel's matrix
    products (measured on this project's CPU: a ``vit_mini`` training step at 413 img/s with the
    math kernel, 238 with the fused one, 277 in fp32).
    """
    if amp_dtype is None:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(torch.autocast(device.type, dtype=amp_dtype))
    if device.type == "cpu":
        stack.enter_context(sdpa_kernel(SDPBackend.MATH))
    return stack


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's shuffling and augmentation, a pure function of ``(seed, epoch)``."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def load_training_data(config: TrainConfig, cache_dir: str | os.PathLike[str] | None = None):
    """The ``(train, val)`` scenes of ``config.data``, via the dataset cache (val may be None)."""
    from wsss_lib.data import load_split

    spec = config.data
    train = load_split(**spec.split_kwargs(spec.train_split, spec.n_train), cache_dir=cache_dir)
    val = None
    if spec.val_split is not None:
        val = load_split(**spec.split_kwargs(spec.val_split, spec.n_val), cache_dir=cache_dir)
    return train, val


def check_training_set(config: TrainConfig, scenes: Any) -> None:
    """Refuse data a paradigm cannot learn from, before any training starts.

    Raises:
        ValueError: for an empty set, images of another size than ``config.data.image_size``,
            or a set the paradigm cannot learn from (``Paradigm.check_training_set``: classifiers
            need smoke *and* clean images, a segmenter masks with smoke and background pixels).
    """
    if len(scenes) == 0:
        raise ValueError("The training set is empty; generate or load some images first.")
    size = config.data.image_size
    if tuple(scenes.image_size) != (size, size):
        height, width = scenes.image_size
        raise ValueError(
            f"The training images are {height}x{width} px but config.data.image_size is {size}: "
            f"the networks are built for {size} px. Load them at that size "
            f"(load_folder(..., image_size={size})) or set DataSpec(image_size={height})."
        )
    get_paradigm(config.paradigm).check_training_set(scenes)


class _EpochMeter:
    """Batch-size-weighted means of loss terms and summed ratios over one epoch."""

    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[str, float] = {}
        self.ratios: dict[str, list[float]] = {}

    def add(self, out: StepOutput, batch_size: int) -> None:
        self.n += batch_size
        for name, value in {"loss": out.loss, **out.terms}.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value.detach()) * batch_size
        for name, (num, den) in out.ratios.items():
            totals = self.ratios.setdefault(name, [0.0, 0.0])
            totals[0] += num
            totals[1] += den

    def summary(self, prefix: str) -> dict[str, float]:
        out = {f"{prefix}_{name}": total / max(self.n, 1) for name, total in self.sums.items()}
        for name, (num, den) in self.ratios.items():
            out[f"{prefix}_{name}"] = num / den if den else math.nan
        return out


def _batches(
    scenes: Any, config: TrainConfig, epoch: int, training: bool, device: torch.device
) -> Iterator[dict[str, Tensor]]:
    from wsss_lib.data import iterate_batches

    for batch in iterate_batches(
        scenes,
        config.batch_size,
        shuffle=training,
        seed=epoch_seed(config.seed, epoch),
        augment=training and config.augment is not False,
        color=config.augment is True,
    ):
        yield {k: v.to(device, non_blocking=True) for k, v in batch.items() if torch.is_tensor(v)}


def _non_finite_loss(
    value: float,
    epoch: int,
    step: int,
    config: TrainConfig,
    images: Tensor,
    checkpoint: Path | None,
    last_good_epoch: int,
) -> FloatingPointError:
    phase = "training" if torch.is_grad_enabled() else "validation"
    where = f"Training stopped: the loss became {value} at epoch {epoch}, {phase} step {step}."
    if not torch.isfinite(images).all():
        cause = (
            " The input batch contains NaN/inf pixels: the data is corrupt. Check or regenerate "
            "the images."
        )
    else:
        lam = (
            f", the KT weight λ={config.kt.lam} is too large (try a smaller λ)" if config.kt else ""
        )
        cause = (
            f" Likely causes: the learning rate lr={config.lr:g} is too high (try "
            f"lr={config.lr / 10:g}){lam}, or corrupt inputs."
        )
    if checkpoint is not None and last_good_epoch > 0:
        kept = (
            f" The last good checkpoint (epoch {last_good_epoch}) is kept at {checkpoint}; fix "
            "the cause and train again (a changed config trains a new run)."
        )
    else:
        kept = " No checkpoint of a finished epoch exists yet."
    return FloatingPointError(where + cause + kept)


def _run_epoch(
    paradigm: Paradigm,
    scenes: Any,
    config: TrainConfig,
    epoch: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: torch.amp.GradScaler | None = None,
    bar: Any = None,
    nan_context: dict[str, Any],
    schedule: tuple[int, int] = (0, 1),
) -> dict[str, float]:
    """One pass over ``scenes``: a training epoch when ``optimizer`` is given, else validation.

    ``nan_context`` (``checkpoint``, ``last_good_epoch``) goes into the NaN-loss message;
    ``schedule`` is ``(index of this epoch's first step, total steps of the run)``, which fixes
    each step's learning rate (:func:`~wsss_lib.train.config.learning_rate_at`).
    """
    training = optimizer is not None
    if training:
        paradigm.train()
    else:
        paradigm.eval()
    meter = _EpochMeter()
    with torch.set_grad_enabled(training):
        for step, batch in enumerate(_batches(scenes, config, epoch, training, device), start=1):
            with autocast_context(device, amp_dtype):
                out = paradigm.step(batch)
            value = float(out.loss.detach())
            if not math.isfinite(value):
                raise _non_finite_loss(value, epoch, step, config, batch["image"], **nan_context)
            if training:
                lr = learning_rate_at(config, schedule[0] + step - 1, schedule[1])
                for group in optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(out.loss).backward()
                if config.grad_clip is not None:
                    scaler.unscale_(optimizer)  # clip the true gradients (a no-op without fp16)
                    torch.nn.utils.clip_grad_norm_(
                        [p for group in optimizer.param_groups for p in group["params"]],
                        config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
            meter.add(out, int(batch["image"].shape[0]))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{value:.4f}", refresh=False)
    return meter.summary("train" if training else "val")


def _check_resumable(stored: dict[str, Any], config: TrainConfig, path: Path, epoch: int) -> None:
    current = config.to_dict()
    differing = sorted(
        k for k in set(stored) | set(current) if k != "epochs" and stored.get(k) != current.get(k)
    )
    if differing:
        raise ValueError(
            f"{path} holds a checkpoint of a different configuration (differs in {differing}); "
            "resume it with its own config, use another run_dir, or pass resume=False to start "
            "over (this overwrites it)."
        )
    if config.schedule != "constant" and stored.get("epochs") != config.epochs:
        raise ValueError(
            f"{path} holds a run of {stored.get('epochs')} epochs with schedule="
            f"{config.schedule!r}, whose learning rate depends on the total number of epochs; "
            f"it cannot be resumed as a run of {config.epochs} epochs. Use another run_dir or "
            "resume=False."
        )
    if epoch > config.epochs:
        raise ValueError(
            f"{path} already holds {epoch} epochs but config.epochs={config.epochs}; raise epochs "
            "or use another run_dir."
        )


def _prepare_run_dir(run_path: Path) -> None:
    """Create the run folder up front: an unusable one fails before an epoch is spent."""
    try:
        run_path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"Cannot create the run folder {run_path} ({err.strerror or err}; a part of the path "
            "may be a file). Pass a run_dir you can write to."
        ) from err


def train_classifier(
    config: TrainConfig,
    run_dir: str | os.PathLike[str] | None = None,
    *,
    train_scenes: Any = None,
    val_scenes: Any = None,
    teacher: nn.Module | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    resume: bool = True,
    callbacks: Sequence[EpochCallback] = (),
    cache_dir: str | os.PathLike[str] | None = None,
) -> TrainedRun:
    """Train the networks of ``config`` (any paradigm), resuming from ``run_dir`` if possible.

    Most callers want :func:`wsss_lib.train.get_or_train`, which adds the config-keyed cache
    and trains a teacher-student run's teacher first.

    Args:
        config: What to train.
        run_dir: Folder for ``checkpoint.pt`` (written after every epoch) and ``history.json``;
            None keeps everything in memory (no resume).
        train_scenes: Training :class:`~wsss_lib.data.SmokeScenes`; default: ``config.data``'s
            train split.
        val_scenes: Validation scenes. When both scenes are None, ``config.data``'s val split
            is used; when ``train_scenes`` is given and this is None, nothing is validated.
        teacher: The trained teacher of a paradigm with ``needs_trained_teacher``
            (``"teacher_student"``; copied and frozen).
        device: Device to train on (default: CUDA when present, else CPU).
        progress: Show a ``tqdm.auto`` progress bar.
        resume: Continue from ``run_dir/checkpoint.pt`` if present (its config must equal
            ``config`` except for ``epochs``, which may grow). False starts over.
        callbacks: ``fn(epoch, record)`` called after each epoch's checkpoint is written.
        cache_dir: Dataset cache folder used when the scenes are loaded from ``config.data``.

    Returns:
        A :class:`TrainedRun` with the networks in eval mode.

    Raises:
        ValueError: on a single-class training set, a checkpoint of another config, or a
            ``run_dir`` that cannot be created.
        FloatingPointError: when the loss becomes NaN/inf (the last good checkpoint is kept).
    """
    device = get_device(device)
    if train_scenes is None:
        train_scenes, default_val = load_training_data(config, cache_dir)
        val_scenes = default_val if val_scenes is None else val_scenes
    check_training_set(config, train_scenes)

    seed_everything(config.seed)
    paradigm = build_paradigm(config, teacher=teacher).to(device)
    optimizer = torch.optim.AdamW(
        paradigm.param_groups(config.lr), lr=config.lr, weight_decay=config.weight_decay
    )
    amp_dtype = resolve_amp_dtype(config.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None:
        _prepare_run_dir(run_path)
    checkpoint = run_path / CHECKPOINT_NAME if run_path is not None else None
    history: list[dict[str, Any]] = []
    start = 0
    if resume and checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        _check_resumable(state["config"], config, checkpoint, state["epoch"])
        paradigm.load_state_dicts(state["models"])
        optimizer.load_state_dict(state["optimizer"])
        if state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        history, start = state["history"], state["epoch"]

    steps_per_epoch = math.ceil(len(train_scenes) / config.batch_size)
    bar = tqdm(
        total=config.epochs * steps_per_epoch,
        initial=start * steps_per_epoch,
        desc=f"{config.paradigm} {config.main_spec.name}",
        disable=not progress,
        unit="step",
    )
    try:
        for epoch in range(start + 1, config.epochs + 1):
            began = time.perf_counter()
            nan_context = {"checkpoint": checkpoint, "last_good_epoch": epoch - 1}
            run_epoch = functools.partial(
                _run_epoch,
                paradigm,
                config=config,
                epoch=epoch,
                device=device,
                amp_dtype=amp_dtype,
                nan_context=nan_context,
            )
            record: dict[str, Any] = {"epoch": epoch}
            schedule = ((epoch - 1) * steps_per_epoch, config.epochs * steps_per_epoch)
            record.update(
                run_epoch(train_scenes, optimizer=optimizer, scaler=scaler, bar=bar,
                          schedule=schedule)
            )
            train_seconds = time.perf_counter() - began
            if val_scenes is not None and len(val_scenes) > 0:
                record.update(run_epoch(val_scenes))
            record["seconds"] = time.perf_counter() - began
            record["train_images_per_second"] = len(train_scenes) / max(train_seconds, 1e-9)
            history.append(record)
            if run_path is not None:
                save_checkpoint(
                    checkpoint,
                    epoch=epoch,
                    models=paradigm.state_dicts(),
                    config=config.to_dict(),
                    history=history,
                    optimizer=optimizer.state_dict(),
                    scaler=scaler.state_dict() if scaler.is_enabled() else None,
                    rng=capture_rng_state(),
                )
                atomic_write_json(run_path / HISTORY_NAME, history)
            for callback in callbacks:
                callback(epoch, record)
    finally:
        bar.close()
    return run_from_paradigm(paradigm, config, history, run_path)
