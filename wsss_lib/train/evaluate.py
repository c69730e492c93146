"""Run a trained network over a set of scenes: logits, CAMs and the metrics of both.

Works on a classifier (any paradigm's ``run.model``, e.g. the student of a teacher-student run,
or ``run.teacher``), on a whole :class:`~wsss_lib.train.run.TrainedRun`, and on the fully
supervised segmenter, whose smoke probabilities take the place of the CAMs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from wsss_lib.train.paradigms.supervised import SupervisedSegmenter
from wsss_lib.train.run import TrainedRun
from wsss_lib.utils import get_device

__all__ = ["EvalResult", "classifier_accuracy", "evaluate_model"]


@dataclass
class EvalResult:
    """Per-image outputs of a network on a set of scenes, and their metrics.

    Attributes:
        logits: float ``[N]`` smoke logits (None for the supervised segmenter).
        cams: float ``[N, H, W]`` in ``[0, 1]``: CAMs, or smoke probabilities of a segmenter.
        metrics: ``wsss_lib.metrics.evaluate_cams`` keys (when the scenes have smoke masks) plus
            ``accuracy`` (image classification, classifiers only).
    """

    logits: np.ndarray | None
    cams: np.ndarray
    metrics: dict[str, float]


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def evaluate_model(
    model: nn.Module | TrainedRun,
    scenes: Any,
    *,
    batch_size: int = 32,
    method: str = "cam",
    layers: Sequence[str | int] | None = None,
    scales: Sequence[float] = (1.0,),
    fusion: str = "mean",
    normalize: str = "minmax",
    threshold: float | None = None,
    device: str | torch.device | None = None,
) -> EvalResult:
    """Logits, CAMs and metrics of ``model`` on ``scenes``, batched, on the right device.

    Args:
        model: A ``WSSSClassifier``, a :class:`SupervisedSegmenter`, or a :class:`TrainedRun`
            (its main network: the student of a KT run).
        scenes: :class:`~wsss_lib.data.SmokeScenes` to evaluate.
        batch_size: Images per forward pass.
        method, layers, scales, fusion, normalize: CAM settings of
            :func:`wsss_lib.cam.compute_cam` (ignored for a segmenter).
        threshold: Pseudo-mask threshold; default 0.3 for CAMs (paper), 0.5 for a segmenter's
            probabilities.
        device: Where to run (default: CUDA when present); the network is moved there.

    Returns:
        An :class:`EvalResult`. The network is left in eval mode.
    """
    from wsss_lib.cam import compute_cam
    from wsss_lib.data import to_tensor_batch
    from wsss_lib.metrics import classification_accuracy, evaluate_cams

    if isinstance(model, TrainedRun):
        model = model.model
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    if len(scenes) == 0:
        raise ValueError("Cannot evaluate on an empty set of scenes.")
    device = get_device(device)
    model.to(device).eval()
    segmenter = isinstance(model, SupervisedSegmenter)
    threshold = (0.5 if segmenter else 0.3) if threshold is None else threshold

    logits, cams = [], []
    for rows in _batches(len(scenes), batch_size):
        images = to_tensor_batch(scenes.images[rows]).to(device)
        if segmenter:
            cams.append(model.predict_masks(images).cpu())
            continue
        with torch.no_grad():
            logits.append(model(images).logits[:, 0].float().cpu())
        # Only gradient-based CAM methods need the autograd graph.
        with torch.no_grad() if method == "cam" else torch.enable_grad():
            cam = compute_cam(
                model,
                images,
                method=method,
                layers=layers,
                scales=scales,
                fusion=fusion,
                normalize=normalize,
            )
        cams.append(cam.detach().float().cpu())

    cam_array = torch.cat(cams).numpy()
    logit_array = None if segmenter else torch.cat(logits).numpy()
    metrics: dict[str, float] = {}
    if scenes.smoke_masks is not None:
        metrics.update(
            evaluate_cams(
                cam_array,
                scenes.smoke_masks,
                chimney_masks=scenes.chimney_masks,
                labels=scenes.labels,
                threshold=threshold,
                distractor_masks=scenes.distractor_masks,
            )
        )
    if logit_array is not None:
        metrics["accuracy"] = classification_accuracy(logit_array, scenes.labels, from_logits=True)
    return EvalResult(logits=logit_array, cams=cam_array, metrics=metrics)


def classifier_accuracy(
    model: nn.Module | TrainedRun,
    scenes: Any,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> float:
    """Image-level smoke / no-smoke accuracy of a classifier on ``scenes`` (chance is 0.5),
    without computing CAMs; the network's training mode is restored afterwards.

    Args:
        model: A ``WSSSClassifier`` or a :class:`TrainedRun` (its main network).
        scenes: :class:`~wsss_lib.data.SmokeScenes` with labels.
        batch_size: Images per forward pass.
        device: Where to run (the network is moved there); None: where the network is.
    """
    from wsss_lib.data import to_tensor_batch
    from wsss_lib.metrics import classification_accuracy

    if isinstance(model, TrainedRun):
        model = model.model
    if device is not None:
        model.to(get_device(device))
    run_on = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits = []
    try:
        with torch.no_grad():
            for rows in _batches(len(scenes), batch_size):
                images = to_tensor_batch(scenes.images[rows]).to(run_on)
                logits.append(model(images).logits[:, 0].float().cpu())
    finally:
        model.train(was_training)
    return float(classification_accuracy(torch.cat(logits).numpy(), scenes.labels,
                                         from_logits=True))
