"""Which trained models the cache holds, described for a drop-down, and loading them on demand.

The training cache describes its own entries (:func:`wsss_lib.train.cache.list_runs`, which reads
only the small JSON files, so listing is fast even when the cache holds many runs); this module
keeps the finished runs whose network has a CAM. A checkpoint is read when a model is first
selected.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from wsss_lib.train.cache import CachedRun, list_runs
from wsss_lib.train.paradigms import get_paradigm

__all__ = ["CachedModel", "ensure_cached", "list_cached_models", "load_cached_model"]


@dataclass(frozen=True)
class CachedModel:
    """One finished training run in the cache, as the explorer lists it.

    Attributes:
        key: The run folder's name (unique within a cache), e.g. ``"single-resnet18-3f2a..."``.
        run_dir: The run folder.
        paradigm: ``TrainConfig.paradigm`` of a paradigm with a CAM (``"single"``,
            ``"teacher_student"``, ``"co_training"``).
        model_name: Name of the network whose CAMs are shown (the student of KT paradigms).
        teacher_name: The teacher's name for KT paradigms, else None.
        image_size: Side of the square images it was trained on.
        epochs: Epochs it was trained for.
        seed: Training seed.
        val_acc: Validation accuracy of the last epoch, when recorded.
        config: The stored ``TrainConfig.to_dict()``.
    """

    key: str
    run_dir: Path
    paradigm: str
    model_name: str
    teacher_name: str | None
    image_size: int
    epochs: int
    seed: int
    val_acc: float | None
    config: dict[str, Any]

    @property
    def label(self) -> str:
        """Short human-readable description for a drop-down."""
        try:
            what = get_paradigm(self.paradigm).describe(self.model_name, self.teacher_name)
        except ValueError:
            what = f"{self.paradigm} {self.model_name}"
        acc = "" if self.val_acc is None else f", val acc {self.val_acc:.2f}"
        return (f"{what} ({self.image_size}px, {self.epochs} ep, seed {self.seed}{acc}) "
                f"[{self.key.rsplit('-', 1)[-1][:6]}]")

    @classmethod
    def from_run(cls, run: CachedRun) -> CachedModel:
        """The explorer's view of a cache entry."""
        return cls(key=run.key, run_dir=run.run_dir, paradigm=run.paradigm,
                   model_name=run.model_name, teacher_name=run.teacher_name,
                   image_size=run.image_size, epochs=run.epochs, seed=run.seed,
                   val_acc=run.val_acc, config=run.config)


def list_cached_models(cache_dir: str | os.PathLike[str] | None = None) -> list[CachedModel]:
    """Finished, CAM-producing training runs in the cache, newest first.

    Interrupted runs (fewer recorded epochs than configured) and runs of a paradigm without a
    CAM (``Paradigm.has_cam``: the fully supervised reference) are left out. Missing or
    unreadable cache folders simply give an empty list.

    Args:
        cache_dir: Cache root (default :func:`wsss_lib.utils.default_cache_dir`).

    Returns:
        One :class:`CachedModel` per usable run.
    """
    return [CachedModel.from_run(run) for run in list_runs(cache_dir)
            if run.has_cam and run.epochs >= 1 and run.complete]


def load_cached_model(entry: CachedModel, device: str | torch.device | None = None):
    """The network of a cached run whose CAMs are the result (the student of KT runs).

    Args:
        entry: A :func:`list_cached_models` item.
        device: Where to put it (default :func:`wsss_lib.utils.get_device`).

    Returns:
        The ``WSSSClassifier`` in eval mode.
    """
    from wsss_lib.train import load_run

    return load_run(entry.run_dir, device).model


def ensure_cached(
    configs: Mapping[str, Any],
    trainer: Callable[[Any], Any],
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Train the configs whose finished run is not in the cache yet.

    Args:
        configs: Name -> ``TrainConfig`` (e.g. ``wsss_lib.studies.paradigms.paradigm_configs``).
        trainer: Called with each missing config, e.g. ``wsss_lib.train.get_or_train`` (which also
            trains a teacher-student run's teacher when that is missing).
        cache_dir: Cache root (default ``$WSSS_CACHE``); must be where ``trainer`` writes.

    Returns:
        The names of the configs that were trained now (empty when all were cached).
    """
    from wsss_lib.train import run_dir_for

    cached = {m.key for m in list_cached_models(cache_dir)}
    missing = [name for name, config in configs.items()
               if run_dir_for(config, cache_dir).name not in cached]
    for name in missing:
        trainer(configs[name])
    return missing
