"""Train once, reuse everywhere: a model cache keyed by the full training config.

An entry is the folder ``<cache>/runs/<paradigm>-<model>-<hash>`` where the hash covers the whole
:class:`~wsss_lib.train.config.TrainConfig`, :data:`wsss_lib.data.GENERATOR_VERSION` and
:data:`TRAIN_CODE_VERSION` (and, for runs on your own data, the content fingerprint of the
scenes). The entry keeps that key as ``config.json`` and inside its checkpoint;
both must equal the requested key before anything is reused, so an entry made by another config
is never silently loaded. A file lock per entry makes parallel notebooks train a shared model once:
the second caller waits, then loads.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from wsss_lib.train.checkpoint import load_checkpoint
from wsss_lib.train.config import TrainConfig
from wsss_lib.train.loop import train_classifier
from wsss_lib.train.run import CHECKPOINT_NAME, TrainedRun, load_run
from wsss_lib.utils import atomic_write_json, config_hash, default_cache_dir, json_differences

if TYPE_CHECKING:
    from wsss_lib.data import SmokeScenes

__all__ = ["TRAIN_CODE_VERSION", "cache_key", "get_or_train", "run_dir_for"]

# Bump when a change to wsss_lib.train alters what a given config trains into, so stale cache
# entries are not reused.
TRAIN_CODE_VERSION = "1"

KEY_NAME = "config.json"


def cache_key(
    config: TrainConfig,
    train_scenes: SmokeScenes | None = None,
    val_scenes: SmokeScenes | None = None,
) -> dict[str, Any]:
    """Everything that determines the trained weights: the config and the code versions, plus
    the content fingerprints of ``train_scenes`` / ``val_scenes`` when the data is your own
    (otherwise ``config.data`` names the synthetic splits)."""
    from wsss_lib.data import GENERATOR_VERSION

    key: dict[str, Any] = {
        "config": config.to_dict(),
        "generator_version": GENERATOR_VERSION,
        "train_code_version": TRAIN_CODE_VERSION,
    }
    if train_scenes is not None:
        key["data_fingerprint"] = {
            "train": train_scenes.fingerprint(),
            "val": None if val_scenes is None else val_scenes.fingerprint(),
        }
    elif val_scenes is not None:
        raise ValueError(
            "val_scenes without train_scenes: pass your training scenes too, or neither (then "
            "config.data's synthetic splits are used)."
        )
    return key


def run_dir_for(
    config: TrainConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    train_scenes: SmokeScenes | None = None,
    val_scenes: SmokeScenes | None = None,
) -> Path:
    """The cache folder of ``config`` (trained on ``train_scenes`` when given); it may not
    exist yet."""
    return _run_dir_of_key(config, cache_key(config, train_scenes, val_scenes), cache_dir)


def _run_dir_of_key(
    config: TrainConfig, key: dict[str, Any], cache_dir: str | os.PathLike[str] | None
) -> Path:
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    model = re.sub(r"[^A-Za-z0-9_.]+", "_", config.main_spec.name)
    return root / "runs" / f"{config.paradigm}-{model}-{config_hash(key)}"


def _check_same_key(stored: Any, wanted: dict[str, Any], where: Path, run_dir: Path) -> None:
    if stored != wanted:
        differing = json_differences(stored, wanted) or ["<whole entry>"]
        raise RuntimeError(
            f"Cache entry {run_dir} does not belong to the requested config: {where.name} differs "
            f"in {differing}. It was modified or written by another version, and is never reused "
            f"for a different config. Delete the folder {run_dir} to retrain, or pass another "
            "cache_dir."
        )


def _read_key(path: Path, run_dir: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RuntimeError(
            f"Cache entry {run_dir} has an unreadable {path.name} ({err}); delete the folder "
            f"{run_dir} to retrain."
        ) from err


def _acquire(lock: FileLock, run_dir: Path, progress: bool) -> None:
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if progress:
            tqdm.write(f"Another process is training {run_dir.name}; waiting for it to finish...")
        lock.acquire()


def get_or_train(
    config: TrainConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
    train_scenes: SmokeScenes | None = None,
    val_scenes: SmokeScenes | None = None,
) -> TrainedRun:
    """Load the trained run of ``config`` from the cache, or train (or finish) it first.

    A teacher-student config first gets its teacher the same way (``config.teacher_config()``,
    on the same scenes), so one teacher serves every student that names it. An interrupted entry
    resumes from its last epoch.

    Args:
        config: What to train.
        cache_dir: Cache root (default: :func:`wsss_lib.utils.default_cache_dir`); the datasets
            are cached there too.
        progress: Show progress bars and a note while waiting for another process.
        device: Device for training and the returned networks (default: CUDA when present).
        train_scenes: Your own training data (e.g. from :func:`wsss_lib.data.load_folder`)
            instead of ``config.data``'s synthetic split; its content fingerprint joins the
            cache key, so other data never reuses the entry. ``config.data.image_size`` must
            match the images.
        val_scenes: Validation data for the per-epoch log (only with ``train_scenes``).

    Returns:
        The :class:`~wsss_lib.train.run.TrainedRun`, networks in eval mode.

    Raises:
        RuntimeError: when the entry's stored config differs from ``config`` (tampered or stale).
        ValueError: when the entry's checkpoint is not a valid wsss-lab checkpoint.
    """
    key = cache_key(config, train_scenes, val_scenes)  # fingerprints the scenes once
    run_dir = _run_dir_of_key(config, key, cache_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir) + ".lock")
    _acquire(lock, run_dir, progress)
    try:
        key_path = run_dir / KEY_NAME
        if key_path.exists():
            _check_same_key(_read_key(key_path, run_dir), key, key_path, run_dir)
        checkpoint = run_dir / CHECKPOINT_NAME
        if checkpoint.exists():
            payload = load_checkpoint(checkpoint)
            _check_same_key(payload["config"], key["config"], checkpoint, run_dir)
            if payload["epoch"] == config.epochs:
                return load_run(checkpoint, device, payload=payload)
        teacher = None
        if config.paradigm == "teacher_student":
            teacher = get_or_train(
                config.teacher_config(), cache_dir, progress, device, train_scenes, val_scenes
            ).model
        atomic_write_json(key_path, key)
        return train_classifier(
            config,
            run_dir,
            train_scenes=train_scenes,
            val_scenes=val_scenes,
            teacher=teacher,
            device=device,
            progress=progress,
            cache_dir=cache_dir,
        )
    finally:
        lock.release()
