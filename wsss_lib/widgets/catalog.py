"""Which trained models the cache holds, described for a drop-down, and loading them on demand.

A cache entry is a folder ``<cache>/runs/<paradigm>-<model>-<hash>`` written by
:func:`wsss_lib.train.get_or_train` (``config.json``, ``checkpoint.pt``, ``history.json``). Listing
reads only the small JSON files, so it is fast even when the cache holds many runs; a checkpoint
is read when a model is first selected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from wsss_lib.utils import default_cache_dir

__all__ = ["CachedModel", "ensure_cached", "list_cached_models", "load_cached_model"]

# Folder and file names written by wsss_lib.train (cache.py / run.py).
_RUNS_DIR = "runs"
_KEY_FILE = "config.json"
_CHECKPOINT_FILE = "checkpoint.pt"
_HISTORY_FILE = "history.json"
# The fully supervised reference is a segmenter, not an image classifier: it has no CAM.
_CAM_PARADIGMS = ("single", "teacher_student", "co_training")


@dataclass(frozen=True)
class CachedModel:
    """One finished training run in the cache, as the explorer lists it.

    Attributes:
        key: The run folder's name (unique within a cache), e.g. ``"single-resnet18-3f2a..."``.
        run_dir: The run folder.
        paradigm: ``"single"``, ``"teacher_student"`` or ``"co_training"``.
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
        what = {
            "single": f"{self.model_name} alone",
            "teacher_student": f"{self.model_name} taught by {self.teacher_name}",
            "co_training": f"{self.model_name} co-trained with {self.teacher_name}",
        }.get(self.paradigm, f"{self.paradigm} {self.model_name}")
        acc = "" if self.val_acc is None else f", val acc {self.val_acc:.2f}"
        return (f"{what} ({self.image_size}px, {self.epochs} ep, seed {self.seed}{acc}) "
                f"[{self.key.rsplit('-', 1)[-1][:6]}]")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _describe(run_dir: Path) -> CachedModel | None:
    """A :class:`CachedModel` for a finished CAM-producing run folder, else None."""
    key = _read_json(run_dir / _KEY_FILE)
    history = _read_json(run_dir / _HISTORY_FILE)
    if not isinstance(key, dict) or not isinstance(history, list):
        return None
    config = key.get("config")
    if not isinstance(config, dict) or config.get("paradigm") not in _CAM_PARADIGMS:
        return None
    epochs = config.get("epochs")
    if not (run_dir / _CHECKPOINT_FILE).is_file() or not isinstance(epochs, int):
        return None
    if len(history) < epochs:  # interrupted run: get_or_train would resume it, not load it
        return None
    kt = config["paradigm"] != "single"
    main = config.get("student" if kt else "model") or {}
    teacher = (config.get("teacher") or {}).get("name") if kt else None
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    val_acc = last.get("val_acc")
    return CachedModel(
        key=run_dir.name,
        run_dir=run_dir,
        paradigm=config["paradigm"],
        model_name=str(main.get("name", "?")),
        teacher_name=None if teacher is None else str(teacher),
        image_size=int((config.get("data") or {}).get("image_size", 0)),
        epochs=epochs,
        seed=int(config.get("seed", 0)),
        val_acc=float(val_acc) if isinstance(val_acc, (int, float)) else None,
        config=config,
    )


def list_cached_models(cache_dir: str | os.PathLike[str] | None = None) -> list[CachedModel]:
    """Finished, CAM-producing training runs in the cache, newest first.

    Interrupted runs (fewer recorded epochs than configured) and fully supervised references
    are left out. Missing or unreadable cache folders simply give an empty list.

    Args:
        cache_dir: Cache root (default :func:`wsss_lib.utils.default_cache_dir`).

    Returns:
        One :class:`CachedModel` per usable run.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    runs = root / _RUNS_DIR
    if not runs.is_dir():
        return []
    found = [_describe(d) for d in runs.iterdir() if d.is_dir()]
    models = [m for m in found if m is not None]
    return sorted(models, key=lambda m: (-(m.run_dir / _CHECKPOINT_FILE).stat().st_mtime, m.key))


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
        configs: Name -> ``TrainConfig`` (e.g. rows of ``wsss_lib.experiments.method``).
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
