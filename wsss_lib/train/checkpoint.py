"""Training checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``.

A checkpoint is a plain dict of tensors, state dicts and JSON strings, so loading it never runs
code from the file. Besides the networks it holds the optimizer, the AMP grad scaler, the random
number generator states and the history, which is everything needed to resume a run after an
interruption and end with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsss_lib.utils import atomic_write_bytes, to_jsonable

__all__ = [
    "CHECKPOINT_FORMAT",
    "capture_rng_state",
    "load_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "wsss-lab-checkpoint/1"
_REQUIRED_KEYS = ("format", "epoch", "models", "config_json", "history_json")


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU + CUDA) generator states as tensors and JSON-able values."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only when CUDA is present)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state(
        (
            nps["name"],
            nps["keys"].numpy().astype(np.uint32),
            nps["pos"],
            nps["has_gauss"],
            nps["gauss"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    epoch: int,
    models: dict[str, dict[str, torch.Tensor]],
    config: dict[str, Any],
    history: list[dict[str, Any]],
    optimizer: dict[str, Any] | None = None,
    scaler: dict[str, Any] | None = None,
    rng: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (a crash mid-write keeps the previous file intact).

    Args:
        path: Destination ``.pt`` file.
        epoch: Number of completed epochs.
        models: Role (``"model"``, ``"student"``, ``"teacher"``, ``"kt"``) -> ``state_dict()``.
        config: ``TrainConfig.to_dict()`` of the run; stored as a JSON string.
        history: Per-epoch metric records; stored as a JSON string.
        optimizer: ``optimizer.state_dict()`` (None for a weights-only file).
        scaler: ``GradScaler.state_dict()`` (None when AMP scaling is off).
        rng: :func:`capture_rng_state` output.

    Returns:
        The path written.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "models": models,
        "config_json": json.dumps(to_jsonable(config), sort_keys=True),
        "history_json": json.dumps(to_jsonable(history)),
        "optimizer": optimizer,
        "scaler": scaler,
        "rng": rng,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` without unpickling arbitrary objects.

    Returns:
        The payload with ``config`` and ``history`` decoded from JSON.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is not a wsss-lab checkpoint, is corrupt, or contains Python
            objects that ``weights_only=True`` refuses (such a file is never executed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist; train the model first.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's weights-only unpickler names any refused class or function as a "GLOBAL".
        if "GLOBAL" in str(err):
            raise ValueError(
                f"Refusing to load {path}: it contains Python objects other than tensors and "
                "plain containers, so it is not a wsss-lab checkpoint (loading it could run "
                "code). Delete it and retrain, or load a checkpoint written by wsss_lib.train."
            ) from err
        raise ValueError(
            f"Cannot read {path} as a checkpoint: the file is corrupt or not a torch "
            "checkpoint; delete it and retrain."
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise ValueError(
            f"Cannot read {path} as a checkpoint ({type(err).__name__}: {err}). The file is "
            "corrupt or not a torch checkpoint; delete it and retrain."
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is a torch file but not a wsss-lab checkpoint (format "
            f"{payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r}, "
            f"expected {CHECKPOINT_FORMAT!r}); delete it and retrain."
        )
    missing = [key for key in _REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(f"Checkpoint {path} lacks keys {missing}; delete it and retrain.")
    payload["config"] = json.loads(payload.pop("config_json"))
    payload["history"] = json.loads(payload.pop("history_json"))
    return payload
