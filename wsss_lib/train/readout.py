"""How a trained network's CAM is read out, chosen on the validation split.

A pseudo-mask depends on more than the network: *which* map is read (the score map, Grad-CAM at
some layer) and *where* it is cut (the threshold). The paper fixes both (Grad-CAM on four ViT
blocks, threshold 0.3). That choice suits some networks and not others: a class-token ViT's
score map is nearly flat, because its head is only trained on the class token, while its
Grad-CAM is not. So the kit chooses the read-out of each trained network on ``val`` (images
with masks that are never used for the reported numbers) and reports ``test`` with it:
:func:`choose_readout` tries every candidate :class:`CamReadout`, sweeps the threshold, and keeps
the pair with the best smoke IoU on ``val``. Ties go to the earlier candidate and the lower
threshold, so the simplest read-out wins when nothing is gained. :class:`CamReadout` itself lives
in :mod:`wsss_lib.cam.readout` (re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from wsss_lib.cam.readout import CamReadout
from wsss_lib.train.evaluate import EVAL_BATCH_SIZE, EvalResult, evaluate_model
from wsss_lib.train.run import TrainedRun

__all__ = ["READOUT_THRESHOLDS", "CamReadout", "ReadoutChoice", "choose_readout",
           "evaluate_readout"]

#: Thresholds :func:`choose_readout` tries: 0.05, 0.10, ..., 0.90 (the extremes, which call
#: nearly every or nearly no pixel smoke, are left out).
READOUT_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 19))


@dataclass
class ReadoutChoice:
    """The read-out :func:`choose_readout` kept, and how every candidate did on ``val``.

    Attributes:
        readout: The chosen :class:`CamReadout` (its threshold is the chosen one).
        val_iou: Its smoke IoU on ``val`` (fraction).
        candidates: One dict per candidate: ``method``, ``layers``, ``best_threshold``,
            ``val_iou`` (at that threshold) and ``val_iou_at_default`` (at the candidate's own
            threshold).
    """

    readout: CamReadout
    val_iou: float
    candidates: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"readout": self.readout.to_dict(), "label": self.readout.label,
                "val_iou": self.val_iou, "candidates": list(self.candidates)}


def _network(model: nn.Module | TrainedRun) -> nn.Module:
    return model.model if isinstance(model, TrainedRun) else model


def choose_readout(
    model: nn.Module | TrainedRun,
    val_scenes: Any,
    candidates: Sequence[CamReadout] = (CamReadout(),),
    thresholds: Sequence[float] = READOUT_THRESHOLDS,
    *,
    batch_size: int = EVAL_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> ReadoutChoice:
    """The candidate and threshold with the best smoke IoU on ``val_scenes``.

    Args:
        model: A classifier or a :class:`TrainedRun` (its main network).
        val_scenes: Validation :class:`~wsss_lib.data.SmokeScenes` with smoke masks.
        candidates: Read-outs to try, in order of preference (ties keep the earlier one).
        thresholds: Thresholds to sweep for every candidate.
        batch_size, device: As in :func:`wsss_lib.train.evaluate_model`.

    Raises:
        ValueError: no candidates, or validation scenes without smoke masks or smoke images.
    """
    from wsss_lib.metrics import threshold_sweep

    if not candidates:
        raise ValueError("choose_readout needs at least one candidate CamReadout.")
    if val_scenes.smoke_masks is None or not np.any(val_scenes.labels == 1):
        raise ValueError("Choosing a read-out needs validation scenes with smoke images and "
                         "smoke masks (e.g. wsss_lib.data.load_split('val', ...)).")
    network = _network(model)
    best: tuple[float, CamReadout] | None = None
    rows = []
    for candidate in candidates:
        result = evaluate_model(network, val_scenes, candidate, batch_size=batch_size,
                                device=device)
        sweep = threshold_sweep(result.cams, val_scenes.smoke_masks, val_scenes.labels,
                                thresholds=thresholds)
        rows.append({"method": candidate.method, "layers": candidate.to_dict()["layers"],
                     "best_threshold": sweep.best_threshold, "val_iou": sweep.best_iou,
                     "val_iou_at_default": float(result.metrics["smoke_iou"])})
        chosen = replace(candidate, threshold=sweep.best_threshold)
        if math.isfinite(sweep.best_iou) and (best is None or sweep.best_iou > best[0]):
            best = (sweep.best_iou, chosen)
    if best is None:
        raise ValueError("No candidate read-out gave a finite smoke IoU on the validation set.")
    return ReadoutChoice(readout=best[1], val_iou=best[0], candidates=rows)


def evaluate_readout(model: nn.Module | TrainedRun, scenes: Any, readout: CamReadout, *,
                     batch_size: int = EVAL_BATCH_SIZE,
                     device: str | torch.device | None = None) -> EvalResult:
    """:func:`wsss_lib.train.evaluate_model` with ``readout`` (its CAM and its threshold)."""
    return evaluate_model(_network(model), scenes, readout, batch_size=batch_size, device=device)
