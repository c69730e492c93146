"""Small shared helpers: device choice, seeding, atomic file writes, config hashing.

Everything that writes a file a user cares about (checkpoints, metrics, reports) goes through
:func:`atomic_write_bytes` so an interrupted process never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "PAPER_THRESHOLD",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_batch_size",
    "config_hash",
    "default_cache_dir",
    "device_description",
    "get_device",
    "json_differences",
    "seed_everything",
    "to_jsonable",
]


#: The paper's pseudo-mask threshold: a min-max normalised CAM above it is smoke (Zhang & Hsu
#: 2025). The default of every read-out, evaluation and figure that cuts a CAM; the studies
#: choose their own thresholds on ``val`` and keep this one beside them for comparison.
PAPER_THRESHOLD: float = 0.3


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on: ``prefer`` if given, else CUDA when present, else CPU."""
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {prefer!r} was requested but CUDA is not available on this machine; "
                "pass device='cpu' (or leave it unset to pick automatically)."
            )
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_description(device: str | torch.device | None = None) -> str:
    """One line saying where work runs, e.g. ``cuda:0 NVIDIA H100 (80 GiB, ...)`` or
    ``cpu Intel(R) Xeon(R) ..., 2 cores visible, torch threads 2, load average 0.3, ...``."""
    device = get_device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return (
            f"cuda:{index} {props.name} ({props.total_memory / 2**30:.0f} GiB, "
            f"compute capability {props.major}.{props.minor}), torch {torch.__version__}"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"cpu {_cpu_model()}, {cores} cores visible, torch threads {torch.get_num_threads()}, "
        f"load average {load:.1f}, torch {torch.__version__}"
    )


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` if it is a positive int, else a ``ValueError`` naming it."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    return batch_size


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) random number generators."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def default_cache_dir() -> Path:
    """Folder for trained models and generated datasets.

    ``$WSSS_CACHE`` when set, else ``~/.cache/wsss-lab``. Notebooks and the report share it, so a
    model trained by one notebook is reused by the next.
    """
    env = os.environ.get("WSSS_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "wsss-lab"
    return path.expanduser()


def json_differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths (``"config.data.seed"``) where two nested JSON values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += json_differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, tuples, paths and numpy scalars/arrays into plain JSON types."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else (1e308 if obj > 0 else -1e308)
    return obj


def config_hash(obj: Any, length: int = 16) -> str:
    """Stable short hash of a config (dataclass / mapping / JSON-able value)."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename.

    Raises:
        PermissionError: with a message naming the folder when it is not writable.
        OSError: (same subclass, e.g. NotADirectoryError) naming the folder when it cannot be
            created or written, e.g. because a part of its path is a regular file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except PermissionError as err:
        raise PermissionError(
            f"Cannot write to folder {path.parent}: permission denied. "
            "Choose an output folder you can write to."
        ) from err
    except OSError as err:
        hint = (" (a part of that path is a file, not a folder)"
                if isinstance(err, (NotADirectoryError, FileExistsError)) else "")
        raise type(err)(
            err.errno,
            f"Cannot write to folder {path.parent}: {err.strerror or err}{hint}. "
            "Choose an output folder you can write to.",
        ) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp creates 0600; use normal file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 text (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN/inf become null / ±1e308)."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
    return atomic_write_text(path, text + "\n")
