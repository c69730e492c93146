"""Segmentation and shortcut metrics for smoke pseudo-masks and CAMs.

Every function accepts numpy arrays or torch tensors (any device; they are copied to CPU numpy).
Masks are bool (or 0/1) ``[N, H, W]``; a single ``[H, W]`` mask counts as ``N = 1``. CAMs are
float ``[N, H, W]`` in ``[0, 1]`` and a pseudo-mask is ``cam > threshold``.

Which number is which:

- :func:`per_image_smoke_iou` — smoke IoU computed per image and averaged over the smoke images.
  **This is the number the paper's tables call "mIoU"** (Zhang & Hsu 2025, e.g. ResNet-50 26.10,
  teacher-student 47.37) and the headline metric of this kit (``evaluate_cams(...)["smoke_iou"]``).
- :func:`confusion_iou` — the classic semantic-segmentation mIoU: one confusion matrix pooled over
  all pixels of the dataset, IoU of background and of smoke, and their mean. It rewards the large
  easy background and is *not* comparable to the paper's tables.
- :func:`threshold_sweep` — how the per-image smoke IoU depends on the CAM threshold, the best
  single threshold, and the per-image *oracle* (each image at its own best threshold): an upper
  bound no real method can reach, never a result.
- :func:`chimney_false_positive_rate`, :func:`cam_chimney_mass`,
  :func:`distractor_false_positive_rate` — how much of the pseudo-mask / CAM sits on chimneys or on
  clouds and haze: the shortcut the classifier learns because smoke co-occurs with chimneys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsss_lib.boundary import boundary_f_score
from wsss_lib.metric_inputs import (
    _as_cam,
    _as_labels,
    _as_mask,
    _check_same_shape,
    _iou_from_counts,
    _nanmean,
    _ratio,
    _smoke_selection,
    _to_numpy,
)
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "EVAL_KEYS",
    "SweepResult",
    "cam_chimney_mass",
    "chimney_false_positive_rate",
    "classification_accuracy",
    "confusion_iou",
    "distractor_false_positive_rate",
    "evaluate_cams",
    "per_image_iou_values",
    "per_image_smoke_iou",
    "precision_recall_f1",
    "threshold_sweep",
]

#: Keys of the dict returned by :func:`evaluate_cams`, in a stable order.
EVAL_KEYS: tuple[str, ...] = (
    "smoke_iou",
    "iou_background",
    "iou_smoke_dataset",
    "miou_dataset",
    "precision",
    "recall",
    "f1",
    "boundary_f",
    "chimney_fp_rate",
    "cam_chimney_mass",
    "distractor_fp_rate",
    "best_threshold",
    "best_threshold_iou",
    "oracle_iou",
    "threshold",
    "n_images",
    "n_smoke_images",
)

# Pixels handled per step of the threshold sweep (about 100 MB of temporaries).
_SWEEP_CHUNK_PIXELS = 1 << 22





def per_image_iou_values(
    pred: Any, gt: Any, labels: Any = None, *, smoke_only: bool = True
) -> np.ndarray:
    """Smoke IoU of every image, the values behind :func:`per_image_smoke_iou`.

    IoU of image ``i`` is ``|pred_i & gt_i| / |pred_i | gt_i|``. Edge cases, explicitly:

    - empty prediction and empty gt: IoU = 1 (nothing to find, nothing claimed);
    - non-empty prediction on an empty gt: IoU = 0;
    - empty prediction on a non-empty gt: IoU = 0.

    Which images count as *smoke images*: those with label 1 when ``labels`` is given, otherwise
    those whose gt mask is non-empty. Clean images (and therefore every empty-gt image when
    ``labels`` is None) get NaN so they drop out of ``np.nanmean``. A label-1 image whose gt mask
    is empty (a missing annotation) is kept and follows the conventions above.

    Args:
        pred: Predicted smoke masks, bool or 0/1 ``[N, H, W]`` (or ``[H, W]``).
        gt: Ground-truth smoke masks, same shape as ``pred``.
        labels: Optional image labels ``[N]`` (1 = smoke, 0 = clean).
        smoke_only: When False, return the IoU of every image (no NaN for clean images).

    Returns:
        float64 ``[N]``: IoU per image, NaN for images that are not smoke images.

    Raises:
        ValueError: shapes differ, a mask holds soft values, or labels have the wrong length.
    """
    pred_m, gt_m = _as_mask(pred, "pred"), _as_mask(gt, "gt")
    _check_same_shape(pred_m, gt_m, "pred", "gt")
    n = pred_m.shape[0]
    inter = (pred_m & gt_m).reshape(n, -1).sum(axis=1)
    union = (pred_m | gt_m).reshape(n, -1).sum(axis=1)
    ious = _iou_from_counts(inter, union)
    if smoke_only:
        ious = np.where(_smoke_selection(gt_m, labels), ious, np.nan)
    return ious


def per_image_smoke_iou(pred: Any, gt: Any, labels: Any = None) -> float:
    """Smoke IoU averaged per image over the smoke images: the paper's "mIoU".

    See :func:`per_image_iou_values` for which images count and the empty-mask conventions.

    Args:
        pred: Predicted smoke masks, bool ``[N, H, W]``.
        gt: Ground-truth smoke masks, bool ``[N, H, W]``.
        labels: Optional image labels ``[N]`` (1 = smoke).

    Returns:
        The mean IoU in ``[0, 1]``, or NaN when there is no smoke image.
    """
    return _nanmean(per_image_iou_values(pred, gt, labels))


# ---------------------------------------------------------------------------- dataset level


def _confusion_counts(pred: Any, gt: Any) -> tuple[int, int, int, int]:
    """Pooled ``(tp, fp, fn, tn)`` pixel counts of the smoke class over the whole dataset."""
    pred_m, gt_m = _as_mask(pred, "pred"), _as_mask(gt, "gt")
    _check_same_shape(pred_m, gt_m, "pred", "gt")
    tp = int(np.count_nonzero(pred_m & gt_m))
    n_pred = int(np.count_nonzero(pred_m))
    n_gt = int(np.count_nonzero(gt_m))
    fp, fn = n_pred - tp, n_gt - tp
    tn = pred_m.size - tp - fp - fn
    return tp, fp, fn, tn


def confusion_iou(pred: Any, gt: Any) -> dict[str, float]:
    """Dataset-level IoU of background and smoke from one pooled pixel confusion matrix.

    This is the classic semantic-segmentation mIoU (VOC style), *not* the paper's per-image
    smoke IoU: large, easy background areas dominate it.

    Args:
        pred: Predicted smoke masks, bool ``[N, H, W]``.
        gt: Ground-truth smoke masks, bool ``[N, H, W]``.

    Returns:
        ``{"iou_background", "iou_smoke", "miou"}``. A class absent from both prediction and gt
        has IoU NaN, and ``miou`` is the mean over the classes whose IoU is defined.
    """
    tp, fp, fn, tn = _confusion_counts(pred, gt)
    iou_smoke = _ratio(tp, tp + fp + fn)
    iou_background = _ratio(tn, tn + fp + fn)
    return {
        "iou_background": iou_background,
        "iou_smoke": iou_smoke,
        "miou": _nanmean(np.array([iou_background, iou_smoke])),
    }


def precision_recall_f1(pred: Any, gt: Any) -> dict[str, float]:
    """Dataset-level pixel precision, recall and F1 of the smoke class (pooled over all images).

    Args:
        pred: Predicted smoke masks, bool ``[N, H, W]``.
        gt: Ground-truth smoke masks, bool ``[N, H, W]``.

    Returns:
        ``{"precision", "recall", "f1"}``. Precision is NaN when nothing is predicted, recall is
        NaN when the gt has no smoke, F1 (``2 tp / (2 tp + fp + fn)``) is NaN only when both
        prediction and gt are empty.
    """
    tp, fp, fn, _ = _confusion_counts(pred, gt)
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


# ---------------------------------------------------------------------------- threshold sweep


@dataclass(frozen=True)
class SweepResult:
    """Per-image smoke IoU of ``cam > t`` over a range of thresholds ``t``.

    Attributes:
        thresholds: float64 ``[T]``, increasing.
        ious: float64 ``[T]``: per-image smoke IoU (:func:`per_image_smoke_iou`) at each threshold.
        best_threshold: The single threshold with the highest ``ious`` (the lowest one on ties).
        best_iou: ``ious`` at ``best_threshold``. Chosen on the evaluated masks themselves, so it
            is optimistic unless the threshold is picked on a separate split.
        oracle_iou: Per-image oracle **upper bound**: mean over smoke images of each image's best
            IoU over all thresholds. No method that picks one threshold can reach it.
        n_smoke_images: How many images the means run over.
    """

    thresholds: np.ndarray
    ious: np.ndarray
    best_threshold: float
    best_iou: float
    oracle_iou: float
    n_smoke_images: int


def _validated_thresholds(thresholds: Any) -> np.ndarray:
    if thresholds is None:
        return np.linspace(0.0, 1.0, 101)
    arr = _to_numpy(thresholds, "thresholds").astype(np.float64).reshape(-1)
    if arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError("thresholds must be a non-empty sequence of finite numbers.")
    return np.unique(arr)


def _counts_above(values_idx: np.ndarray, n_thresholds: int) -> np.ndarray:
    """Per image, how many pixels lie strictly above each threshold.

    ``values_idx [N, P]`` holds, per pixel, the number of thresholds strictly below its value; a
    pixel with index ``j`` is above thresholds ``0 .. j-1``. One bincount per image row plus a
    reversed cumulative sum gives all ``[N, T]`` counts without a loop over thresholds.
    """
    n = values_idx.shape[0]
    offsets = (np.arange(n) * (n_thresholds + 1))[:, None]
    hist = np.bincount((values_idx + offsets).ravel(), minlength=n * (n_thresholds + 1))
    hist = hist.reshape(n, n_thresholds + 1)
    # above[:, k] = number of pixels with index > k
    return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]


def _sweep_ious(cam: np.ndarray, gt: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """IoU ``[n, T]`` of ``cam > t`` against ``gt`` for flattened ``cam``/``gt`` ``[n, P]``."""
    idx = np.searchsorted(thresholds, cam, side="left")  # thresholds strictly below each value
    pred_count = _counts_above(idx, thresholds.size)  # |cam > t|
    inter = _counts_above(np.where(gt, idx, 0), thresholds.size)  # |(cam > t) & gt|
    gt_count = gt.sum(axis=1)[:, None]
    return _iou_from_counts(inter, pred_count + gt_count - inter)


def threshold_sweep(cam: Any, gt: Any, labels: Any = None, thresholds: Any = None) -> SweepResult:
    """Sweep the CAM threshold and report the per-image smoke IoU at each value.

    Vectorised with cumulative histograms: cost ``O(N H W log T)`` however many thresholds.

    Args:
        cam: Soft maps, float ``[N, H, W]`` in ``[0, 1]`` (any range if ``thresholds`` is given).
        gt: Ground-truth smoke masks, bool ``[N, H, W]``.
        labels: Optional image labels ``[N]``; selects the smoke images as in
            :func:`per_image_iou_values`.
        thresholds: Values ``t`` for the pseudo-mask ``cam > t``; sorted and de-duplicated.
            Default: 101 values ``0.00, 0.01, ..., 1.00``.

    Returns:
        A :class:`SweepResult`; its IoU fields are NaN when there is no smoke image.
    """
    cam_f = _as_cam(cam, "cam", require_unit_range=thresholds is None)
    gt_m = _as_mask(gt, "gt")
    _check_same_shape(cam_f, gt_m, "cam", "gt")
    ts = _validated_thresholds(thresholds)
    selected = _smoke_selection(gt_m, labels)
    n_smoke = int(selected.sum())
    if n_smoke == 0:
        nan_curve = np.full(ts.shape, np.nan)
        return SweepResult(ts, nan_curve, math.nan, math.nan, math.nan, 0)

    # Compare in the CAM's own precision so the sweep agrees with `cam > t` computed directly.
    ts_cmp = ts.astype(cam_f.dtype)
    cam_s = cam_f[selected].reshape(n_smoke, -1)
    gt_s = gt_m[selected].reshape(n_smoke, -1)
    chunk = max(1, _SWEEP_CHUNK_PIXELS // max(1, cam_s.shape[1]))  # bounds temporary memory
    per_image = np.concatenate(
        [
            _sweep_ious(cam_s[start : start + chunk], gt_s[start : start + chunk], ts_cmp)
            for start in range(0, n_smoke, chunk)
        ]
    )  # [n_smoke, T]

    curve = per_image.mean(axis=0)
    best = int(np.argmax(curve))
    return SweepResult(
        thresholds=ts,
        ious=curve,
        best_threshold=float(ts[best]),
        best_iou=float(curve[best]),
        oracle_iou=float(per_image.max(axis=1).mean()),
        n_smoke_images=n_smoke,
    )


# ---------------------------------------------------------------------------- co-occurrence


def _pooled_fp_rate(pred: Any, region: Any, pred_name: str, region_name: str) -> float:
    pred_m, region_m = _as_mask(pred, pred_name), _as_mask(region, region_name)
    _check_same_shape(pred_m, region_m, pred_name, region_name)
    return _ratio(np.count_nonzero(pred_m & region_m), np.count_nonzero(region_m))


def chimney_false_positive_rate(pred: Any, chimney_mask: Any) -> float:
    """Fraction of chimney pixels that the pseudo-mask calls smoke, pooled over the dataset.

    ``|pred & chimney| / |chimney|`` summed over all images. Chimney-mask pixels are never smoke
    in the synthetic scenes (where a plume covers the stack, those pixels belong to the smoke
    mask), so every hit is a false positive, typically caused by the chimney shortcut.

    Args:
        pred: Pseudo-masks, bool ``[N, H, W]``.
        chimney_mask: Chimney masks, bool ``[N, H, W]``.

    Returns:
        The rate in ``[0, 1]``; NaN when the dataset has no chimney pixel at all.
    """
    return _pooled_fp_rate(pred, chimney_mask, "pred", "chimney_mask")


def distractor_false_positive_rate(pred: Any, distractor_mask: Any) -> float:
    """Fraction of cloud/haze (distractor) pixels that the pseudo-mask calls smoke, pooled.

    Same definition as :func:`chimney_false_positive_rate` with the distractor masks.

    Returns:
        The rate in ``[0, 1]``; NaN when the dataset has no distractor pixel.
    """
    return _pooled_fp_rate(pred, distractor_mask, "pred", "distractor_mask")


def cam_chimney_mass(cam: Any, chimney_mask: Any) -> float:
    """Share of the CAM's total activation that lies on chimney pixels, averaged per image.

    For image ``i``: ``sum(cam_i * chimney_i) / sum(cam_i)``. Threshold-free, so it shows the
    shortcut even where the pseudo-mask threshold hides it. Averaged over the images that have a
    chimney and a non-zero CAM (others carry no information about the shortcut).

    Args:
        cam: Soft maps, float ``[N, H, W]``, non-negative (any scale; the ratio is scale-free).
        chimney_mask: Chimney masks, bool ``[N, H, W]``.

    Returns:
        The mean share in ``[0, 1]``; NaN when no image has both a chimney and a non-zero CAM.

    Raises:
        ValueError: shapes differ or the CAM has negative values.
    """
    cam_f = _as_cam(cam, "cam", require_unit_range=False)
    chim = _as_mask(chimney_mask, "chimney_mask")
    _check_same_shape(cam_f, chim, "cam", "chimney_mask")
    if cam_f.size and cam_f.min() < 0:
        raise ValueError(
            "cam must be non-negative for cam_chimney_mass; apply ReLU or normalise it first "
            "(wsss_lib.cam.normalize_cam)."
        )
    n = cam_f.shape[0]
    total = cam_f.reshape(n, -1).sum(axis=1, dtype=np.float64)
    on_chimney = (cam_f * chim).reshape(n, -1).sum(axis=1, dtype=np.float64)
    valid = chim.reshape(n, -1).any(axis=1) & (total > 0)
    return _nanmean(np.where(valid, on_chimney / np.where(total > 0, total, 1.0), np.nan))


# ---------------------------------------------------------------------------- one-call summary


def evaluate_cams(
    cam: Any,
    smoke_masks: Any,
    chimney_masks: Any = None,
    labels: Any = None,
    threshold: float = PAPER_THRESHOLD,
    distractor_masks: Any = None,
) -> dict[str, float]:
    """All metrics of a set of CAMs under stable key names (:data:`EVAL_KEYS`).

    The pseudo-mask is ``cam > threshold``. Keys:

    - ``smoke_iou``: per-image smoke IoU, the paper's "mIoU" (:func:`per_image_smoke_iou`);
    - ``iou_background``, ``iou_smoke_dataset``, ``miou_dataset``: pooled confusion-matrix IoUs
      (:func:`confusion_iou`);
    - ``precision``, ``recall``, ``f1``: pooled pixel scores of smoke (:func:`precision_recall_f1`);
    - ``boundary_f``: per-image boundary F-score of the smoke images, 2-px tolerance
      (:func:`wsss_lib.boundary.boundary_f_score`): is the outline where the smoke's is?
    - ``chimney_fp_rate``, ``cam_chimney_mass``: the chimney shortcut (NaN without chimney masks);
    - ``distractor_fp_rate``: smoke claimed on clouds/haze (NaN without distractor masks);
    - ``best_threshold``, ``best_threshold_iou``, ``oracle_iou``: from :func:`threshold_sweep`
      (optimistic, and the oracle is an upper bound);
    - ``threshold``, ``n_images``, ``n_smoke_images``: what was evaluated.

    Args:
        cam: Normalised CAMs, float ``[N, H, W]`` in ``[0, 1]``.
        smoke_masks: Ground-truth smoke masks, bool ``[N, H, W]``.
        chimney_masks: Optional chimney masks, bool ``[N, H, W]`` (None for real data).
        labels: Optional image labels ``[N]``; selects the smoke images for the per-image IoU.
        threshold: Pseudo-mask threshold (paper default 0.3).
        distractor_masks: Optional cloud/haze masks, bool ``[N, H, W]``.

    Returns:
        A dict of floats (NaN where a value cannot be computed; ``to_jsonable`` writes it as null).
    """
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
    if smoke_masks is None:
        raise ValueError(
            "evaluate_cams needs ground-truth smoke masks, got None (scenes.has_masks is False). "
            "Pixel metrics need masks; without them compare CAMs visually or by accuracy."
        )
    cam_f = _as_cam(cam, "cam")
    gt = _as_mask(smoke_masks, "smoke_masks")
    _check_same_shape(cam_f, gt, "cam", "smoke_masks")
    pred = cam_f > threshold

    confusion = confusion_iou(pred, gt)
    scores = precision_recall_f1(pred, gt)
    sweep = threshold_sweep(cam_f, gt, labels)
    result: dict[str, float] = {
        "smoke_iou": per_image_smoke_iou(pred, gt, labels),
        "iou_background": confusion["iou_background"],
        "iou_smoke_dataset": confusion["iou_smoke"],
        "miou_dataset": confusion["miou"],
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "boundary_f": boundary_f_score(pred, gt, labels),
        "chimney_fp_rate": math.nan,
        "cam_chimney_mass": math.nan,
        "distractor_fp_rate": math.nan,
        "best_threshold": sweep.best_threshold,
        "best_threshold_iou": sweep.best_iou,
        "oracle_iou": sweep.oracle_iou,
        "threshold": float(threshold),
        "n_images": int(gt.shape[0]),
        "n_smoke_images": sweep.n_smoke_images,
    }
    if chimney_masks is not None:
        chim = _as_mask(chimney_masks, "chimney_masks")
        _check_same_shape(cam_f, chim, "cam", "chimney_masks")
        result["chimney_fp_rate"] = chimney_false_positive_rate(pred, chim)
        result["cam_chimney_mass"] = cam_chimney_mass(cam_f, chim)
    if distractor_masks is not None:
        distract = _as_mask(distractor_masks, "distractor_masks")
        _check_same_shape(cam_f, distract, "cam", "distractor_masks")
        result["distractor_fp_rate"] = distractor_false_positive_rate(pred, distract)
    return result


# ---------------------------------------------------------------------------- classification


def classification_accuracy(
    logits_or_probs: Any,
    labels: Any,
    threshold: float = 0.5,
    *,
    from_logits: bool | None = None,
) -> float:
    """Image-level accuracy of a one-logit smoke classifier.

    Used for the ``test`` vs ``test_decoupled`` gap: a classifier that relies on chimneys loses
    accuracy when chimneys no longer predict smoke.

    Args:
        logits_or_probs: Scores ``[N]`` or ``[N, 1]``: raw logits or sigmoid probabilities.
        labels: Image labels ``[N]`` (1 = smoke, 0 = clean).
        threshold: Probability above which an image is called smoke (``p >= threshold``).
        from_logits: True for logits (a sigmoid is applied), False for probabilities. None
            guesses: any value outside ``[0, 1]`` means logits, otherwise probabilities — pass it
            explicitly when scores could be logits that happen to lie in ``[0, 1]``.

    Returns:
        Fraction of correctly classified images (NaN for an empty batch).
    """
    scores = _to_numpy(logits_or_probs, "logits_or_probs").astype(np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1:
        raise ValueError(
            f"logits_or_probs must have shape [N] or [N, 1] (one smoke logit per image); got "
            f"shape {tuple(scores.shape)}."
        )
    if not np.isfinite(scores).all():
        raise ValueError("logits_or_probs contains NaN or inf values.")
    truth = _as_labels(labels, scores.shape[0])
    if scores.size == 0:
        return math.nan
    if from_logits is None:
        from_logits = bool((scores < 0).any() or (scores > 1).any())
    probs = 1.0 / (1.0 + np.exp(-scores)) if from_logits else scores
    if not from_logits and ((probs < 0).any() or (probs > 1).any()):
        raise ValueError("from_logits=False but scores lie outside [0, 1]; pass logits instead.")
    return float(np.mean((probs >= threshold) == truth))
