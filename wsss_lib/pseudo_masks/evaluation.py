"""Scoring pseudo-masks: the metrics at the images' original size, recall per opacity class, what
trivial predictors score, and :func:`evaluate_scenes` (a run's metrics on scenes, nothing
written).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from wsss_lib.cam.readout import CamReadout, readout_or_settings
from wsss_lib.pseudo_masks.scene_cams import (
    _check_truth_shape,
    _output_geometry,
    _prepare_cams,
    _truth_source,
)
from wsss_lib.train.evaluate import EVAL_BATCH_SIZE, scene_cams


def _pixel_counts(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``[tp, fp, fn, tn]`` of one image."""
    tp = int(np.count_nonzero(pred & gt))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(gt)) - tp
    return np.array([tp, fp, fn, gt.size - tp - fp - fn], dtype=np.int64)


def _pooled_scores(counts: np.ndarray) -> dict[str, float]:
    """Pooled pixel IoUs, precision, recall and F1 from summed ``[tp, fp, fn, tn]``."""
    tp, fp, fn, tn = (float(v) for v in counts)

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else math.nan

    iou_smoke, iou_background = ratio(tp, tp + fp + fn), ratio(tn, tn + fp + fn)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    finite = [v for v in (iou_background, iou_smoke) if not math.isnan(v)]
    return {
        "iou_background": iou_background,
        "iou_smoke_dataset": iou_smoke,
        "miou_dataset": float(np.mean(finite)) if finite else math.nan,
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * precision * recall, precision + recall)
        if not (math.isnan(precision) or math.isnan(recall)) else math.nan,
    }


def metrics_at_original_size(
    maps: Sequence[np.ndarray], gts: Sequence[np.ndarray], labels: Any, threshold: float
) -> dict[str, float]:
    """:func:`wsss_lib.metrics.evaluate_cams`' keys for images of different sizes.

    Per-image metrics (``smoke_iou``, ``boundary_f``, the threshold sweep's
    ``best_threshold_iou`` and ``oracle_iou``) are taken image by image; pooled ones
    (``miou_dataset``, ``iou_smoke_dataset``, precision, recall, F1) over the pixels of all
    images together. On
    images of one size the values equal ``evaluate_cams``' (chimney and distractor rates are NaN:
    real data has no such masks).

    Args:
        maps: Soft CAMs ``float [h_i, w_i]`` in ``[0, 1]``, one per image, each at the size of
            its ground truth.
        gts: Ground-truth smoke masks ``bool [h_i, w_i]``.
        labels: Image labels ``[N]`` (1 = smoke); the per-image IoU is over the smoke images.
        threshold: Pseudo-mask = ``cam > threshold``.
    """
    from wsss_lib.boundary import boundary_f_values
    from wsss_lib.metrics import per_image_iou_values, threshold_sweep

    labels = np.asarray(labels)
    if not len(maps) == len(gts) == len(labels):
        raise ValueError(f"maps, gts and labels need one entry per image; got {len(maps)}, "
                         f"{len(gts)} and {len(labels)}.")
    counts = np.zeros(4, dtype=np.int64)
    ious, boundaries, curves = [], [], []
    for cam, gt, label in zip(maps, gts, labels, strict=True):
        pred = cam > threshold
        counts += _pixel_counts(pred, gt)
        if label == 1:
            ious.append(float(per_image_iou_values(pred[None], gt[None], [1])[0]))
            boundaries.append(float(boundary_f_values(pred[None], gt[None], [1])[0]))
            curves.append(threshold_sweep(cam[None], gt[None], [1]))
    result: dict[str, float] = {
        "smoke_iou": float(np.mean(ious)) if ious else math.nan,
        **_pooled_scores(counts),
        "boundary_f": float(np.mean(boundaries)) if boundaries else math.nan,
        "chimney_fp_rate": math.nan,
        "cam_chimney_mass": math.nan,
        "distractor_fp_rate": math.nan,
        "best_threshold": math.nan,
        "best_threshold_iou": math.nan,
        "oracle_iou": math.nan,
        "threshold": float(threshold),
        "n_images": len(maps),
        "n_smoke_images": len(ious),
    }
    if curves:
        curve = np.mean([c.ious for c in curves], axis=0)
        best = int(np.argmax(curve))
        result.update({
            "best_threshold": float(curves[0].thresholds[best]),
            "best_threshold_iou": float(curve[best]),
            "oracle_iou": float(np.mean([c.oracle_iou for c in curves])),
        })
    return result


def recall_per_opacity(
    maps: Sequence[np.ndarray], opacity_maps: Sequence[np.ndarray], classes: Sequence[str],
    threshold: float,
) -> dict[str, float]:
    """Share of each opacity class's pixels inside the pseudo-mask (``cam > threshold``), pooled
    over the images: does the mask find thin smoke as well as dense smoke? (Calling the whole
    image smoke scores 1 on every class: read it beside the precision.)

    Args:
        maps: Soft CAMs ``float [h_i, w_i]`` at the size of their opacity maps.
        opacity_maps: ``uint8 [h_i, w_i]``: 0 none, k the k-th class of ``classes``.
        classes: ``["none", <thinnest>, ..., <densest>]``.
        threshold: Pseudo-mask threshold.
    """
    found = np.zeros(len(classes), dtype=np.int64)
    total = np.zeros(len(classes), dtype=np.int64)
    for cam, opacity in zip(maps, opacity_maps, strict=True):
        pred = cam > threshold
        total += np.bincount(opacity.ravel(), minlength=len(classes))[: len(classes)]
        found += np.bincount(opacity[pred].ravel(), minlength=len(classes))[: len(classes)]
    return {name: float(found[k] / total[k]) if total[k] else math.nan
            for k, name in enumerate(classes) if k > 0}


def trivial_baselines(
    labels: Any, gts: Sequence[np.ndarray] | None = None,
    valid: Sequence[np.ndarray] | None = None,
) -> dict[str, float]:
    """What trivial predictors score on the same data: every metric is read against these.

    Keys: ``accuracy_always_smoke`` (the share of smoke images), ``accuracy_always_clean``;
    with ground truth also ``smoke_iou_whole_image`` (per-image smoke IoU when the whole image
    is called smoke: the mean smoke fraction of the smoke images), ``iou_smoke_dataset_whole_image``
    (the pooled smoke IoU of the same prediction: all smoke pixels over all pixels),
    ``miou_dataset_whole_image`` and the same prediction's pooled ``precision_whole_image``,
    ``recall_whole_image`` (1) and ``f1_whole_image``.

    Args:
        labels: Image labels ``[N]``.
        gts: Ground-truth masks ``bool [h_i, w_i]`` per image (sizes may differ).
        valid: Optional ``bool`` masks of the image pixels (letterbox padding excluded): the
            "whole image" is then the valid region.
    """
    labels = np.asarray(labels)
    n = len(labels)
    share = float(labels.mean()) if n else math.nan
    result = {"accuracy_always_smoke": share, "accuracy_always_clean": 1.0 - share}
    if gts is None:
        return result
    counts = np.zeros(4, dtype=np.int64)
    fractions = []
    for i, gt in enumerate(gts):
        region = np.ones(gt.shape, dtype=bool) if valid is None else np.asarray(valid[i], bool)
        counts += _pixel_counts(region, gt & region)
        if labels[i] == 1:
            fractions.append(np.count_nonzero(gt & region) / max(1, np.count_nonzero(region)))
    result.update({"smoke_iou_whole_image": float(np.mean(fractions)) if fractions else math.nan,
                   **_whole_image_scores(counts)})
    return result


def _whole_image_scores(counts: np.ndarray) -> dict[str, float]:
    """Pooled scores of the whole image called smoke, from its summed ``[tp, fp, fn, tn]``."""
    pooled = _pooled_scores(counts)
    return {f"{key}_whole_image": pooled[key] for key in
            ("iou_smoke_dataset", "miou_dataset", "precision", "recall", "f1")}


def evaluate_scenes(
    run_or_model: Any,
    scenes: Any,
    readout: CamReadout | None = None,
    *,
    truth: Any = None,
    method: str | None = None,
    layers: str | int | Sequence[str | int] | None = None,
    scales: Sequence[float] | None = None,
    fusion: str | None = None,
    refine: Sequence[str | Any] | None = None,
    threshold: float | None = None,
    normalize: str | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics of a network's (refined) CAMs on scenes: what ``wsss evaluate`` reports.

    Image accuracy always; with ground truth also the keys of
    :func:`wsss_lib.metrics.evaluate_cams` (``smoke_iou`` = the paper's per-image mIoU, pooled
    IoUs, precision/recall/F1, threshold sweep; chimney/distractor rates for synthetic data).

    Where: with ``truth`` (the same data loaded at its original size) every CAM is mapped back to
    its image's original size (:func:`wsss_lib.data.resize.cam_to_original`: the CAM is
    upsampled, the ground truth is never downsampled) and compared there
    (``metrics["resolution"] == "original"``; originals of different sizes are fine: per-image
    metrics are taken per image, pooled ones over all pixels, see :func:`metrics_at_original_size`).
    Without ``truth`` the comparison is in the model's frame
    with the scenes' own masks (``"model"``), letterbox padding counted as background.

    Args:
        run_or_model: A ``TrainedRun`` (its main network), a ``WSSSClassifier``, a run folder or
            a cache key.
        scenes: :class:`~wsss_lib.data.SmokeScenes` at the model's input size.
        readout: How the CAM is read, refined and cut (a
            :class:`~wsss_lib.cam.readout.CamReadout`; default: the score map at 0.3).
        method, layers, scales, fusion, refine, threshold, normalize: Instead of ``readout``:
            the fields of the read-out it is made of.
        batch_size: Images per forward pass.
        truth: Optional ground truth of the same images at their original size: a
            :class:`~wsss_lib.data.resize.TruthMasks` (``load_folder_truth(root)`` /
            ``load_coco_truth(root, split)``, sizes may differ) or ``SmokeScenes`` loaded without
            ``image_size``.
        device: Where to run (default: CUDA when present).
        progress: Show a progress bar.

    Returns:
        ``{"settings": readout.to_record(), "model": {...}, "metrics": {...}}``;
        ``metrics["baselines"]`` holds what trivial predictors score on the same data
        (:func:`trivial_baselines`), to read every metric against; ``truth`` with opacity maps
        (``load_coco_truth(..., keep_opacity=True)``) adds ``metrics["recall_per_opacity"]``
        (:func:`recall_per_opacity`).
    """
    from wsss_lib.data.resize import valid_masks
    from wsss_lib.metrics import classification_accuracy, evaluate_cams

    if len(scenes) == 0:
        raise ValueError("Cannot evaluate on an empty set of scenes; load some images first.")
    readout = readout_or_settings(readout, method=method, layers=layers, scales=scales,
                                  fusion=fusion, refine=refine, threshold=threshold,
                                  normalize=normalize)
    device, model, info, steps, settings = _prepare_cams(run_or_model, readout, batch_size,
                                                         device)
    cams = np.zeros((len(scenes), *scenes.image_size), dtype=np.float32)
    logits = np.zeros(len(scenes), dtype=np.float32)
    for index, cam, logit in scene_cams(model, scenes, settings, steps, batch_size=batch_size,
                                        device=device, progress=progress, desc="evaluate"):
        cams[index], logits[index] = cam, logit
    labels = np.asarray(scenes.labels)
    metrics: dict[str, Any] = {
        "accuracy": classification_accuracy(logits, labels, from_logits=True),
        "n_images": len(scenes),
        "n_smoke_images": int(labels.sum()),
        "threshold": settings.threshold,
    }
    if truth is not None:
        get_truth, _ = _truth_source(scenes, truth, "original")
        _, to_output = _output_geometry(scenes)
        maps = [to_output(cams[i], i) for i in range(len(scenes))]
        gts = [np.asarray(get_truth(i), dtype=bool) for i in range(len(scenes))]
        for i, (cam, gt) in enumerate(zip(maps, gts, strict=True)):
            _check_truth_shape(gt, cam, scenes.names[i])
        metrics.update(metrics_at_original_size(maps, gts, labels, settings.threshold))
        metrics["baselines"] = trivial_baselines(labels, gts)
        if getattr(truth, "opacity_maps", None) is not None:
            where = {name: k for k, name in enumerate(truth.names)}
            metrics["recall_per_opacity"] = recall_per_opacity(
                maps, [truth.opacity_maps[where[n]] for n in scenes.names],
                truth.opacity_classes, settings.threshold)
        metrics["resolution"] = "original"
    elif scenes.smoke_masks is not None:
        # Letterbox padding is never smoke: the CAM there is set to 0 (background).
        valid = valid_masks(scenes)
        cams = np.where(valid, cams, np.float32(0.0))
        metrics.update(evaluate_cams(
            cams, scenes.smoke_masks, chimney_masks=scenes.chimney_masks, labels=labels,
            threshold=settings.threshold, distractor_masks=scenes.distractor_masks,
        ))
        metrics["baselines"] = trivial_baselines(labels, list(scenes.smoke_masks), list(valid))
        metrics["resolution"] = "model"
    else:
        metrics["baselines"] = trivial_baselines(labels)
    return {"settings": settings.to_record(), "model": dict(info), "metrics": metrics}
