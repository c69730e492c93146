"""The input checks every metric of :mod:`wsss_lib.metrics` shares: numpy arrays or torch tensors
in, checked ``bool [N, H, W]`` masks, ``float [N, H, W]`` CAMs in ``[0, 1]`` and labels out, plus
the small reductions (NaN-aware mean, safe ratio, IoU from counts) the metrics are built from.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

# CAMs normalised in float32 can overshoot [0, 1] by rounding error.
_RANGE_TOLERANCE = 1e-5


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()  # numpy has no bfloat16; float16 sums overflow
        return x.numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {err}") from err


def _as_batch(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must have shape [N, H, W] (or [H, W] for one image); got shape "
            f"{tuple(arr.shape)}. Squeeze channel dimensions, e.g. cam[:, 0] for [N, 1, H, W]."
        )
    return arr


def _as_mask(x: Any, name: str) -> np.ndarray:
    """Return a bool ``[N, H, W]`` array; refuse soft values so a CAM is never read as a mask."""
    arr = _as_batch(_to_numpy(x, name), name)
    if arr.dtype == np.bool_:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a bool or 0/1 mask; got dtype {arr.dtype}.")
    if not ((arr == 0) | (arr == 1)).all():
        raise ValueError(
            f"{name} must be a bool or 0/1 mask but contains other values "
            f"(min {arr.min()}, max {arr.max()}). Threshold soft maps first, e.g. `cam > 0.3` "
            "(wsss_lib.cam.pseudo_masks)."
        )
    return arr.astype(bool)


def _as_cam(x: Any, name: str = "cam", require_unit_range: bool = True) -> np.ndarray:
    """Return a float ``[N, H, W]`` array of finite values (in ``[0, 1]`` when required).

    Float inputs keep their precision so ``cam > t`` here matches ``cam > t`` in torch exactly.
    """
    arr = _as_batch(_to_numpy(x, name), name)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a float map; got dtype {arr.dtype}.")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf values; check the CAM computation.")
    if require_unit_range and arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
            raise ValueError(
                f"{name} must be normalised to [0, 1] but spans [{lo:.4g}, {hi:.4g}]. Normalise "
                "it first (wsss_lib.cam.normalize_cam(cam, 'minmax')) or pass explicit thresholds."
            )
    return arr


def _check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"Shape mismatch: {name_a} has shape {tuple(a.shape)} but {name_b} has shape "
            f"{tuple(b.shape)}; they must be equal ([N, H, W]). Upsample CAMs to the mask size "
            "(wsss_lib.cam.upsample_cam) before evaluating."
        )


def _as_labels(labels: Any, n: int) -> np.ndarray:
    arr = _to_numpy(labels, "labels")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(
            f"labels must have one entry per image (shape [{n}]); got shape {tuple(arr.shape)}."
        )
    if not ((arr == 0) | (arr == 1)).all():
        raise ValueError(
            f"labels must be 0 (clean) or 1 (smoke); got values {sorted(set(arr.tolist()))}."
        )
    return arr.astype(bool)


def _smoke_selection(gt: np.ndarray, labels: Any) -> np.ndarray:
    """Bool ``[N]``: images that count as smoke images (label 1, else non-empty gt mask)."""
    if labels is None:
        return gt.reshape(gt.shape[0], -1).any(axis=1)
    return _as_labels(labels, gt.shape[0])


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else math.nan


# ---------------------------------------------------------------------------- smoke IoU


def _iou_from_counts(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """IoU with the convention ``0 / 0 = 1`` (empty prediction on an empty mask is perfect)."""
    inter = inter.astype(np.float64)
    union = union.astype(np.float64)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)
