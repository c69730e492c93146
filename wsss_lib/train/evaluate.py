"""Run a trained network over a set of scenes: logits, CAMs and the metrics of both.

Works on a classifier (any paradigm's ``run.model``, e.g. the student of a teacher-student run,
or ``run.teacher``), on a whole :class:`~wsss_lib.train.run.TrainedRun`, and on the fully
supervised segmenter, whose smoke probabilities take the place of the CAMs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from wsss_lib.cam.readout import CamReadout, readout_or_settings
from wsss_lib.train.paradigms.supervised import SupervisedSegmenter
from wsss_lib.train.run import TrainedRun
from wsss_lib.utils import check_batch_size, get_device

__all__ = ["EVAL_BATCH_SIZE", "EvalResult", "check_batch_size", "classifier_accuracy",
           "evaluate_model", "scene_cams"]

#: Images per forward pass of every evaluation (:func:`evaluate_model`, ``choose_readout``,
#: ``evaluate_scenes``, ``export_pseudo_masks``) unless one is given.
EVAL_BATCH_SIZE = 32


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


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def scene_cams(
    model: nn.Module,
    scenes: Any,
    readout: CamReadout,
    steps: Sequence[Any] | None = None,
    *,
    indices: Sequence[int] | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
    device: str | torch.device | None = None,
    progress: bool = False,
    desc: str = "CAMs",
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The (refined) CAMs and logits of a classifier on some scenes, batch by batch: the one loop
    behind :func:`evaluate_model`, :func:`wsss_lib.pseudo_masks.evaluate_scenes` and
    :func:`wsss_lib.pseudo_masks.export_pseudo_masks`.

    Args:
        model: A ``WSSSClassifier`` (moved to ``device``, left in eval mode).
        scenes: :class:`~wsss_lib.data.SmokeScenes`.
        readout: The CAM settings (``compute_cam(**readout.cam_kwargs())``).
        steps: Post-processing steps to run (default: ``readout.refinement_steps()``; pass them
            to reuse steps built once).
        indices: Which images (default: all).
        batch_size: Images per forward pass.
        device: Where to run (default: CUDA when present).
        progress: Show a ``tqdm`` bar over images.
        desc: The bar's label.

    Yields:
        ``(indices int [B], cams float32 [B, H, W] in [0, 1], logits float32 [B])`` on the CPU.
    """
    from tqdm.auto import tqdm

    from wsss_lib.cam import compute_cam
    from wsss_lib.data import to_tensor_batch
    from wsss_lib.postprocess import run_pipeline

    check_batch_size(batch_size)
    steps = readout.refinement_steps() if steps is None else list(steps)
    device = get_device(device)
    model.to(device).eval()
    order = np.arange(len(scenes)) if indices is None else np.asarray(indices, dtype=np.int64)
    kwargs = readout.cam_kwargs()
    with tqdm(total=len(order), desc=desc, unit="img", disable=not progress) as bar:
        for rows in _batches(len(order), batch_size):
            index = order[rows]
            images = to_tensor_batch(scenes.images[index]).to(device)
            with torch.no_grad():
                logits = model(images).logits[:, 0].float().cpu().numpy()
            # Only gradient-based CAM methods need the autograd graph.
            with torch.no_grad() if readout.method == "cam" else torch.enable_grad():
                cam = compute_cam(model, images, **kwargs)
            cam = cam.detach().float()
            if steps:
                cam = run_pipeline(steps, cam, scenes.images[index])
            yield index, cam.cpu().numpy().astype(np.float32, copy=False), logits
            bar.update(len(index))


def evaluate_model(
    model: nn.Module | TrainedRun,
    scenes: Any,
    readout: CamReadout | None = None,
    *,
    batch_size: int = EVAL_BATCH_SIZE,
    method: str | None = None,
    layers: Sequence[str | int] | None = None,
    scales: Sequence[float] | None = None,
    fusion: str | None = None,
    normalize: str | None = None,
    threshold: float | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> EvalResult:
    """Logits, CAMs and metrics of ``model`` on ``scenes``, batched, on the right device.

    Args:
        model: A ``WSSSClassifier``, a :class:`SupervisedSegmenter`, or a :class:`TrainedRun`
            (its main network: the student of a KT run).
        scenes: :class:`~wsss_lib.data.SmokeScenes` to evaluate.
        readout: How the CAM is read and cut (:class:`~wsss_lib.cam.readout.CamReadout`,
            refinement steps included); default: the score map at 0.3 (paper), and a segmenter's
            probabilities at 0.5. A segmenter ignores everything but the threshold.
        batch_size: Images per forward pass.
        method, layers, scales, fusion, normalize, threshold: Instead of ``readout``: the
            fields of the read-out it is made of.
        device: Where to run (default: CUDA when present); the network is moved there.
        progress: Show a progress bar.

    Returns:
        An :class:`EvalResult`. The network is left in eval mode.
    """
    from wsss_lib.data import to_tensor_batch
    from wsss_lib.metrics import classification_accuracy, evaluate_cams

    if isinstance(model, TrainedRun):
        model = model.model
    check_batch_size(batch_size)
    if len(scenes) == 0:
        raise ValueError("Cannot evaluate on an empty set of scenes.")
    segmenter = isinstance(model, SupervisedSegmenter)
    chosen_cut = readout is not None or threshold is not None
    readout = readout_or_settings(readout, method=method, layers=layers, scales=scales,
                                  fusion=fusion, normalize=normalize, threshold=threshold)
    # A segmenter's probabilities are cut at 0.5 unless a threshold was chosen.
    cut = readout.threshold if chosen_cut or not segmenter else 0.5
    if segmenter:
        device = get_device(device)
        model.to(device).eval()
        cam_array = torch.cat([model.predict_masks(to_tensor_batch(scenes.images[rows])
                                                   .to(device)).cpu()
                               for rows in _batches(len(scenes), batch_size)]).numpy()
        logit_array = None
    else:
        cams, logits = [], []
        for _, cam, logit in scene_cams(model, scenes, readout, batch_size=batch_size,
                                        device=device, progress=progress, desc="evaluate"):
            cams.append(cam)
            logits.append(logit)
        cam_array, logit_array = np.concatenate(cams), np.concatenate(logits)
    metrics: dict[str, float] = {}
    if scenes.smoke_masks is not None:
        metrics.update(
            evaluate_cams(
                cam_array,
                scenes.smoke_masks,
                chimney_masks=scenes.chimney_masks,
                labels=scenes.labels,
                threshold=cut,
                distractor_masks=scenes.distractor_masks,
            )
        )
    if logit_array is not None:
        metrics["accuracy"] = classification_accuracy(logit_array, scenes.labels, from_logits=True)
    return EvalResult(logits=logit_array, cams=cam_array, metrics=metrics)


def classifier_accuracy(
    model: nn.Module | TrainedRun,
    scenes: Any,
    batch_size: int = EVAL_BATCH_SIZE,
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
