"""Train once, reuse everywhere: a model cache keyed by the full training config.

An entry is the folder ``<cache>/runs/<paradigm>-<model>-<hash>`` (:data:`RUNS_DIR`,
:func:`runs_root`) holding ``config.json`` (:data:`KEY_NAME`), ``checkpoint.pt`` and
``history.json`` (:mod:`wsss_lib.train.run`), where the hash covers the whole
:class:`~wsss_lib.train.config.TrainConfig`, :data:`wsss_lib.data.GENERATOR_VERSION` and
:data:`TRAIN_CODE_VERSION` (and, for runs on your own data, the content fingerprint of the
scenes). The entry keeps that key as ``config.json`` and inside its checkpoint;
both must equal the requested key before anything is reused, so an entry made by another config
is never silently loaded. A file lock per entry makes parallel notebooks train a shared model once:
the second caller waits, then loads.

This module is the only one that knows that layout: :func:`list_runs` describes every entry from
its small JSON files (for the widgets and ``wsss runs``), :func:`find_run` resolves a key or a
prefix of one to a run folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from wsss_lib.train.checkpoint import load_checkpoint
from wsss_lib.train.config import TrainConfig
from wsss_lib.train.loop import train_classifier
from wsss_lib.train.paradigms import Paradigm, get_paradigm
from wsss_lib.train.provenance import record_network
from wsss_lib.train.run import CHECKPOINT_NAME, HISTORY_NAME, TrainedRun, load_run
from wsss_lib.train.shipped import (
    ORIGIN_NAME,
    find_shipped,
    install_shipped,
    read_origin,
    retrain_requested,
)
from wsss_lib.utils import atomic_write_json, config_hash, default_cache_dir, json_differences

if TYPE_CHECKING:
    from wsss_lib.data import SmokeScenes

__all__ = [
    "KEY_NAME",
    "RUNS_DIR",
    "TRAIN_CODE_VERSION",
    "CachedRun",
    "cache_key",
    "describe_run",
    "find_run",
    "get_or_train",
    "list_runs",
    "record_loaded_run",
    "run_dir_for",
    "runs_root",
]

# Bump when a change to wsss_lib.train alters what a given config trains into, so stale cache
# entries are not reused.
TRAIN_CODE_VERSION = "1"

#: The cache's sub-folder of training runs, and the key file inside each run folder.
RUNS_DIR = "runs"
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
    model = re.sub(r"[^A-Za-z0-9_.]+", "_", config.main_spec.name)
    return runs_root(cache_dir) / f"{config.paradigm}-{model}-{config_hash(key)}"


def runs_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding one sub-folder per run: ``<cache_dir or $WSSS_CACHE>/runs``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / RUNS_DIR


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
    use_shipped: bool | None = None,
) -> TrainedRun:
    """Load the trained run of ``config`` from the cache, or train (or finish) it first.

    A teacher-student config first gets its teacher the same way (``config.teacher_config()``,
    on the same scenes), so one teacher serves every student that names it. An interrupted entry
    resumes from its last epoch. Without a finished entry of its own, a run on the synthetic
    benchmark is served from a checkpoint shipped with the kit when one was trained under exactly
    this key (:mod:`wsss_lib.train.shipped`). Every run handed out is recorded with its origin
    (:mod:`wsss_lib.train.provenance`: trained, cache or shipped).

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
        use_shipped: Serve shipped checkpoints (and cache entries installed from them); None:
            yes unless ``$WSSS_RETRAIN`` is set (``wsss report --retrain``). False trains from
            scratch what was only shipped; entries trained on this machine are still reused.

    Returns:
        The :class:`~wsss_lib.train.run.TrainedRun`, networks in eval mode.

    Raises:
        RuntimeError: when the entry's stored config differs from ``config`` (tampered or stale).
        ValueError: when the entry's checkpoint is not a valid wsss-lab checkpoint.
    """
    if train_scenes is not None and config.teacher_data is not None:
        raise ValueError(
            "config.teacher_data names synthetic data for the teacher, but train_scenes is your "
            "own data: the teacher trains on train_scenes. Set teacher_data=None, or train the "
            "teacher on its data first and use it as a frozen teacher."
        )
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
        shipped_ok = (not retrain_requested()) if use_shipped is None else bool(use_shipped)
        origin = read_origin(run_dir)
        from_shipped = origin is not None and origin.get("origin") == "shipped"
        if from_shipped and not shipped_ok:
            for name in (CHECKPOINT_NAME, HISTORY_NAME, ORIGIN_NAME):  # train it here instead
                (run_dir / name).unlink(missing_ok=True)
            origin, from_shipped = None, False
        if checkpoint.exists():
            payload = load_checkpoint(checkpoint)
            _check_same_key(payload["config"], key["config"], checkpoint, run_dir)
            if payload["epoch"] == config.epochs:
                run = load_run(checkpoint, device, payload=payload)
                _record(run, "shipped" if from_shipped else "cache", origin)
                return run
        if shipped_ok and train_scenes is None:
            shipped = find_shipped(run_dir.name, key)
            if shipped is not None:
                atomic_write_json(key_path, key)
                install_shipped(shipped, run_dir)
                if progress:
                    tqdm.write(f"{run_dir.name}: loaded the checkpoint shipped with the kit "
                               f"(trained by the full profile at commit {shipped.commit[:10]}); "
                               "WSSS_RETRAIN=1 or `wsss report --retrain` trains it here.")
                run = load_run(checkpoint, device)
                _record(run, "shipped", read_origin(run_dir))
                return run
        teacher = None
        if config.rules.needs_trained_teacher:
            teacher = get_or_train(
                config.teacher_config(), cache_dir, progress, device, train_scenes, val_scenes,
                use_shipped,
            ).model
        atomic_write_json(key_path, key)
        run = train_classifier(
            config,
            run_dir,
            train_scenes=train_scenes,
            val_scenes=val_scenes,
            teacher=teacher,
            device=device,
            progress=progress,
            cache_dir=cache_dir,
        )
        _record(run, "trained", None)
        return run
    finally:
        lock.release()


def record_loaded_run(run: TrainedRun) -> None:
    """Record a run loaded from its cache folder without :func:`get_or_train` (e.g. by the CAM
    explorer) in :mod:`wsss_lib.train.provenance`: ``shipped`` when the folder was installed from
    a shipped checkpoint, else ``cache``."""
    origin = read_origin(run.run_dir) if run.run_dir is not None else None
    shipped = origin is not None and origin.get("origin") == "shipped"
    _record(run, "shipped" if shipped else "cache", origin)


def _record(run: TrainedRun, origin: str, origin_record: dict[str, Any] | None) -> None:
    last = run.history[-1] if run.history and isinstance(run.history[-1], dict) else {}
    val_acc = last.get("val_acc")
    record_network(
        run.run_dir.name if run.run_dir is not None else "?",
        paradigm=run.config.paradigm,
        model=run.config.main_spec.name,
        origin=origin,
        val_acc=val_acc if isinstance(val_acc, (int, float)) else None,
        shipped_commit=(origin_record or {}).get("commit") if origin == "shipped" else None,
    )


# ---------------------------------------------------------------------------- finding runs


@dataclass(frozen=True)
class CachedRun:
    """One run folder of the cache, described from its small JSON files (no checkpoint read).

    Attributes:
        key: The folder name (unique within a cache), e.g. ``"single-resnet18-3f2a..."``.
        run_dir: The folder.
        config: The stored ``TrainConfig.to_dict()``.
        history: The per-epoch records of ``history.json`` (empty when unreadable).
    """

    key: str
    run_dir: Path
    config: dict[str, Any]
    history: list[Any]

    @property
    def paradigm(self) -> str:
        return str(self.config.get("paradigm"))

    @property
    def paradigm_class(self) -> type[Paradigm] | None:
        """The paradigm's class, or None for a name this version does not know."""
        try:
            return get_paradigm(self.paradigm)
        except ValueError:
            return None

    @property
    def has_cam(self) -> bool:
        """Whether the run's result network has CAMs (not the supervised segmenter)."""
        return self.paradigm_class is not None and self.paradigm_class.has_cam

    @property
    def model_name(self) -> str:
        """Name of the network whose CAMs are the result (the student of KT paradigms)."""
        role = self.paradigm_class.result_role if self.paradigm_class else "model"
        return str((self.config.get(role) or {}).get("name", "?"))

    @property
    def teacher_name(self) -> str | None:
        """The teacher's name for paradigms with one, else None."""
        if self.paradigm_class is None or "teacher" not in self.paradigm_class.network_fields:
            return None
        name = (self.config.get("teacher") or {}).get("name")
        return None if name is None else str(name)

    @property
    def image_size(self) -> int:
        return int((self.config.get("data") or {}).get("image_size") or 0)

    @property
    def epochs(self) -> int:
        """Epochs configured (0 when the stored config lacks a valid count)."""
        epochs = self.config.get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else 0

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def complete(self) -> bool:
        """All configured epochs finished: ``get_or_train`` loads it instead of resuming it."""
        return self.epochs_done >= self.epochs

    @property
    def seed(self) -> int:
        return int(self.config.get("seed") or 0)

    @property
    def val_acc(self) -> float | None:
        """Validation accuracy of the last finished epoch, when recorded."""
        last = self.history[-1] if self.history and isinstance(self.history[-1], dict) else {}
        value = last.get("val_acc")
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else None

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME


def _read_json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe_run(run_dir: str | os.PathLike[str]) -> CachedRun | None:
    """A :class:`CachedRun` for a run folder with a key and a checkpoint, else None."""
    run_dir = Path(run_dir)
    key = _read_json_or_none(run_dir / KEY_NAME)
    config = key.get("config") if isinstance(key, dict) else None
    if not isinstance(config, dict) or not (run_dir / CHECKPOINT_NAME).is_file():
        return None
    history = _read_json_or_none(run_dir / HISTORY_NAME)
    return CachedRun(key=run_dir.name, run_dir=run_dir, config=config,
                     history=history if isinstance(history, list) else [])


def list_runs(cache_dir: str | os.PathLike[str] | None = None) -> list[CachedRun]:
    """Every run folder of the cache with a key and a checkpoint, newest first (unfinished ones
    too; filter on :attr:`CachedRun.complete`). A missing cache gives an empty list.

    Args:
        cache_dir: Cache root (default :func:`wsss_lib.utils.default_cache_dir`).
    """
    root = runs_root(cache_dir)
    if not root.is_dir():
        return []
    runs = [run for d in root.iterdir() if d.is_dir() and (run := describe_run(d)) is not None]
    return sorted(runs, key=lambda r: (-r.checkpoint.stat().st_mtime, r.key))


def _check_complete(run: CachedRun | None, run_dir: Path) -> Path:
    if run is not None and not run.complete:
        raise ValueError(
            f"Run {run_dir} is unfinished ({run.epochs_done} of {run.epochs} epochs); finish "
            "it by running the same `wsss train` command (or get_or_train call) again: it "
            "resumes from the last epoch."
        )
    return run_dir


def find_run(ref: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
             ) -> Path:
    """The folder of a finished training run.

    Args:
        ref: A run folder, its ``checkpoint.pt``, a cache key (the folder's name under
            ``<cache>/runs``), or a unique prefix of a key or of its hash.
        cache_dir: Cache root to look keys up in (default ``$WSSS_CACHE``).

    Raises:
        FileNotFoundError: no such folder or key.
        ValueError: a prefix matching several runs, or an unfinished run.
    """
    text = str(ref)
    path = Path(text).expanduser()
    if path.is_file() and path.name == CHECKPOINT_NAME:
        path = path.parent
    if path.is_dir():
        if not (path / CHECKPOINT_NAME).is_file():
            raise FileNotFoundError(
                f"{path} holds no {CHECKPOINT_NAME}: it is not a training run folder (or its "
                "first epoch never finished). Pass a run folder or a key from `wsss runs`."
            )
        return _check_complete(describe_run(path), path)
    runs = list_runs(cache_dir)
    exact = [r for r in runs if r.key == text]
    matches = exact or [
        r for r in runs if text and (r.key.startswith(text) or r.key.rsplit("-", 1)[-1]
                                     .startswith(text))
    ]
    if len(matches) == 1:
        return _check_complete(matches[0], matches[0].run_dir)
    root = runs_root(cache_dir)
    if len(matches) > 1:
        shown = ", ".join(r.key for r in matches[:5])
        raise ValueError(
            f"RUN {text!r} matches {len(matches)} runs in {root} ({shown}); give more of the key."
        )
    known = ", ".join(r.key for r in runs[:5]) or "none"
    raise FileNotFoundError(
        f"No run {text!r}: it is not a folder and no run in {root} has that key (newest runs: "
        f"{known}). `wsss runs` lists them; pass a run folder, a key, or --cache-dir DIR."
    )
