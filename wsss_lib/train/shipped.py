"""Trained networks that ship with the kit: served by the cache for the exact key they were
trained under, so a student's first run reads networks that learned (as the UvA deep-learning
tutorials ship their checkpoints: "load if present, else train").

A shipped checkpoint is one ``safetensors`` file in ``wsss_lib/checkpoints/`` (or
``$WSSS_SHIPPED_DIR``), named after the cache folder of its run
(``<paradigm>-<model>-<hash>.safetensors``, :func:`wsss_lib.train.cache.run_dir_for`). Its
tensors are the run's state dicts under ``<role>.`` prefixes; its header metadata holds the
whole cache key (config, generator and training-code versions), the training history, the commit
that trained it and the metrics it had when it was exported. A teacher-student file may leave its
frozen teacher out and name the shipped file that holds it (``teacher_file``): the same weights
are not stored twice.

:func:`~wsss_lib.train.cache.get_or_train` asks :func:`find_shipped` only when it has no complete
entry of its own and the data is the synthetic benchmark: the file name carries the hash of the
key, and the stored key must equal the requested one, so a changed config or code version trains
anew and never reuses a stale file. ``WSSS_RETRAIN=1`` (``wsss report --retrain``) ignores shipped
files and the cache entries installed from them. ``scripts/export_checkpoints.py`` (``make
checkpoints``) writes the files from a full run's cache.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from wsss_lib.utils import atomic_write_bytes, atomic_write_json, to_jsonable

__all__ = [
    "ORIGIN_NAME",
    "SHIPPED_FORMAT",
    "ShippedCheckpoint",
    "find_shipped",
    "install_shipped",
    "list_shipped",
    "load_shipped_state_dicts",
    "read_origin",
    "read_shipped",
    "retrain_requested",
    "shipped_dir",
    "val_scores",
    "write_shipped",
]

SHIPPED_FORMAT = "wsss-lab-shipped/1"
#: File in a cache run folder that says where its checkpoint came from (absent: trained here).
ORIGIN_NAME = "origin.json"
_SUFFIX = ".safetensors"


def shipped_dir() -> Path:
    """The folder of shipped checkpoints: ``$WSSS_SHIPPED_DIR`` when set, else the package's
    ``wsss_lib/checkpoints``."""
    env = os.environ.get("WSSS_SHIPPED_DIR")
    if env:
        return Path(env).expanduser()
    return Path(str(resources.files("wsss_lib") / "checkpoints"))


def retrain_requested() -> bool:
    """Whether ``$WSSS_RETRAIN`` asks to train from scratch instead of using shipped files."""
    return os.environ.get("WSSS_RETRAIN", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ShippedCheckpoint:
    """A shipped file, described from its header (no tensor read).

    Attributes:
        path: The ``.safetensors`` file; its stem is the run's cache folder name.
        key: The cache key it was trained under (:func:`wsss_lib.train.cache.cache_key`).
        history: The per-epoch records of its training.
        metrics: What it scored when exported (``val_acc``, ``test_decoupled_acc``, ... in [0, 1]).
        commit: The git commit of the code that trained it.
        roles: The roles stored in this file (``"model"`` or ``"student"``, ``"kt"``, ...).
        teacher_file: Name of the shipped file holding the frozen teacher, or None.
    """

    path: Path
    key: dict[str, Any]
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    commit: str
    roles: tuple[str, ...]
    teacher_file: str | None

    @property
    def name(self) -> str:
        """The run's cache folder name."""
        return self.path.name[: -len(_SUFFIX)]


def read_shipped(path: str | os.PathLike[str]) -> ShippedCheckpoint:
    """Read a shipped file's header.

    Raises:
        ValueError: when the file is not a wsss-lab shipped checkpoint or its header is corrupt.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"Cannot read {path} as a safetensors file ({err}).") from err
    if meta.get("format") != SHIPPED_FORMAT:
        raise ValueError(
            f"{path} is not a wsss-lab shipped checkpoint (format {meta.get('format')!r}, "
            f"expected {SHIPPED_FORMAT!r})."
        )
    try:
        return ShippedCheckpoint(
            path=path,
            key=json.loads(meta["key"]),
            history=json.loads(meta["history"]),
            metrics=json.loads(meta["metrics"]),
            commit=meta["commit"],
            roles=tuple(json.loads(meta["roles"])),
            teacher_file=meta.get("teacher_file") or None,
        )
    except (KeyError, ValueError) as err:
        raise ValueError(f"Shipped checkpoint {path} has a corrupt header ({err}).") from err


def list_shipped(folder: str | os.PathLike[str] | None = None) -> list[ShippedCheckpoint]:
    """Every shipped checkpoint of ``folder`` (default :func:`shipped_dir`), sorted by name."""
    root = Path(folder) if folder is not None else shipped_dir()
    return [read_shipped(p) for p in sorted(root.glob(f"*{_SUFFIX}"))]


def find_shipped(run_name: str, key: Mapping[str, Any],
                 folder: str | os.PathLike[str] | None = None) -> ShippedCheckpoint | None:
    """The shipped checkpoint of the run folder ``run_name`` trained under exactly ``key``.

    Returns:
        The checkpoint, or None when none is shipped for that name.

    Raises:
        RuntimeError: when a file of that name holds another key (modified, or a hash collision):
            it is never served for a config it was not trained under.
    """
    root = Path(folder) if folder is not None else shipped_dir()
    path = root / f"{run_name}{_SUFFIX}"
    if not path.is_file():
        return None
    shipped = read_shipped(path)
    if shipped.key != json.loads(json.dumps(to_jsonable(key))):
        from wsss_lib.utils import json_differences

        differing = json_differences(shipped.key, to_jsonable(key)) or ["<whole key>"]
        raise RuntimeError(
            f"Shipped checkpoint {path} was trained under another key (differs in {differing}); "
            "it is never used for this config. Regenerate the shipped files (make checkpoints) "
            "or set WSSS_RETRAIN=1 to train."
        )
    return shipped


def load_shipped_state_dicts(shipped: ShippedCheckpoint) -> dict[str, dict[str, torch.Tensor]]:
    """Role -> state dict of a shipped run, the teacher read from its own file when shared."""
    from safetensors.torch import load_file

    tensors = load_file(str(shipped.path))
    states: dict[str, dict[str, torch.Tensor]] = {role: {} for role in shipped.roles}
    for name, tensor in tensors.items():
        role, _, param = name.partition(".")
        states.setdefault(role, {})[param] = tensor
    if shipped.teacher_file:
        teacher = read_shipped(shipped.path.parent / shipped.teacher_file)
        states["teacher"] = load_shipped_state_dicts(teacher)["model"]
    return states


def install_shipped(shipped: ShippedCheckpoint, run_dir: str | os.PathLike[str]) -> Path:
    """Write a shipped run into a cache folder as a finished checkpoint (plus ``history.json``
    and :data:`ORIGIN_NAME`); returns the checkpoint's path. The caller writes the key file."""
    from wsss_lib.train.checkpoint import save_checkpoint
    from wsss_lib.train.run import CHECKPOINT_NAME, HISTORY_NAME

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = shipped.key["config"]
    checkpoint = save_checkpoint(
        run_dir / CHECKPOINT_NAME,
        epoch=int(config["epochs"]),
        models=load_shipped_state_dicts(shipped),
        config=config,
        history=shipped.history,
    )
    atomic_write_json(run_dir / HISTORY_NAME, shipped.history)
    atomic_write_json(run_dir / ORIGIN_NAME, {
        "origin": "shipped", "file": shipped.path.name, "commit": shipped.commit,
        "metrics": shipped.metrics,
    })
    return checkpoint


def read_origin(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The origin record of a cache folder (None: trained on this machine)."""
    path = Path(run_dir) / ORIGIN_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_shipped(
    path: str | os.PathLike[str],
    *,
    key: Mapping[str, Any],
    states: Mapping[str, Mapping[str, torch.Tensor]],
    history: list[dict[str, Any]],
    metrics: Mapping[str, Any],
    commit: str,
    teacher_file: str | None = None,
) -> Path:
    """Write one shipped checkpoint atomically.

    Args:
        path: Destination ``<run folder name>.safetensors``.
        key: The run's cache key.
        states: Role -> state dict; leave ``"teacher"`` out when ``teacher_file`` holds it.
        history: The run's per-epoch records.
        metrics: Scores of the exported weights (JSON-able).
        commit: The commit of the code that trained the run.
        teacher_file: The shipped file whose ``"model"`` is this run's frozen teacher.
    """
    from safetensors.torch import save

    if teacher_file and "teacher" in states:
        raise ValueError("Pass the teacher either as states['teacher'] or as teacher_file.")
    tensors = {
        f"{role}.{name}": tensor.detach().cpu().clone().contiguous()
        for role, state in states.items()
        for name, tensor in state.items()
    }
    metadata = {
        "format": SHIPPED_FORMAT,
        "key": json.dumps(to_jsonable(key), sort_keys=True),
        "history": json.dumps(to_jsonable(history)),
        "metrics": json.dumps(to_jsonable(metrics), sort_keys=True),
        "commit": str(commit),
        "roles": json.dumps(sorted(states)),
        "teacher_file": teacher_file or "",
    }
    return atomic_write_bytes(path, save(tensors, metadata=metadata))


def val_scores(run: Any, cache_dir: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """What a shipped file records and a test re-checks: the run's scores on its own ``val``
    split (``config.data``), computed in float32 on the CPU, as fractions in [0, 1].

    Returns:
        ``{"val_acc": ...}`` for a classifier (image accuracy), ``{"val_smoke_iou": ...}`` for
        the fully supervised segmenter (its probabilities at 0.5).

    Raises:
        ValueError: for a run without a synthetic ``val`` split.
    """
    from wsss_lib.data import load_split
    from wsss_lib.train.evaluate import classifier_accuracy, evaluate_model
    from wsss_lib.train.paradigms import get_paradigm

    spec = run.config.data
    if spec.val_split is None:
        raise ValueError("Only runs validated on the synthetic benchmark's val split are shipped.")
    val = load_split(**spec.split_kwargs(spec.val_split, spec.n_val), cache_dir=cache_dir)
    if get_paradigm(run.config.paradigm).has_cam:
        return {"val_acc": classifier_accuracy(run, val, batch_size=64, device="cpu")}
    metrics = evaluate_model(run, val, batch_size=64, device="cpu").metrics
    return {"val_smoke_iou": float(metrics["smoke_iou"])}
