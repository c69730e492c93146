"""Finding runs in the model cache: every run folder described (:func:`list_runs`, :class:`RunInfo`)
and one run from a folder, checkpoint, cache key or prefix (:func:`resolve_run`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsss_lib.runs.training import read_run_recipe


@dataclass(frozen=True)
class RunInfo:
    """One run folder of the cache, described from its small JSON files.

    Attributes:
        key: The folder name (the cache key), e.g. ``"teacher_student-vit_base-3f2a..."``.
        run_dir: The folder.
        paradigm: ``TrainConfig.paradigm``.
        model: The network whose CAMs are the result (the student of KT runs).
        teacher: The teacher of KT runs, else None.
        image_size: Training image side.
        epochs: Epochs configured.
        epochs_done: Epochs finished (a run is complete when equal to ``epochs``).
        val_acc: Validation accuracy of the last finished epoch, when recorded.
        profile: The profile ``wsss train`` / notebook 08 trained it with, if any.
        data: What it was trained on (:func:`describe_scenes`: path, format, split, count,
            fingerprint), when recorded.
    """

    key: str
    run_dir: Path
    paradigm: str
    model: str
    teacher: str | None
    image_size: int
    epochs: int
    epochs_done: int
    val_acc: float | None
    profile: str | None
    data: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        return self.epochs_done >= self.epochs


def _expand(cache_dir: str | os.PathLike[str] | None) -> Path | None:
    return None if cache_dir is None else Path(cache_dir).expanduser()


def list_runs(cache_dir: str | os.PathLike[str] | None = None) -> list[RunInfo]:
    """Every run folder of the cache with a checkpoint, newest first (unfinished ones too).

    Args:
        cache_dir: Cache root (default ``$WSSS_CACHE``).
    """
    from wsss_lib.train.cache import list_runs as cached_runs

    infos = []
    for run in cached_runs(_expand(cache_dir)):
        recipe = read_run_recipe(run.run_dir)
        infos.append(RunInfo(
            key=run.key, run_dir=run.run_dir, paradigm=run.paradigm, model=run.model_name,
            teacher=run.teacher_name, image_size=run.image_size, epochs=run.epochs,
            epochs_done=run.epochs_done, val_acc=run.val_acc,
            profile=None if recipe is None else recipe.get("profile"),
            data=None if recipe is None or not isinstance(recipe.get("train_data"), dict)
            else recipe["train_data"],
        ))
    return infos


def resolve_run(ref: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
                ) -> Path:
    """The folder of a finished training run (:func:`wsss_lib.train.cache.find_run`).

    Args:
        ref: A run folder, its ``checkpoint.pt``, a cache key (the folder's name under
            ``$WSSS_CACHE/runs``), or a unique prefix of a key or of its hash.
        cache_dir: Cache root to look keys up in (default ``$WSSS_CACHE``).

    Raises:
        FileNotFoundError: no such folder or key.
        ValueError: a prefix matching several runs, or an unfinished run.
    """
    from wsss_lib.train.cache import find_run

    return find_run(ref, _expand(cache_dir))
