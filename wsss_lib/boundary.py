"""Boundary F-score: does a pseudo-mask put its *edges* where the smoke's edges are?

IoU rewards a mask that covers the right pixels; a blob that covers the plume's core and spills a
little around it scores well even when its outline follows nothing. The paper claims the
teacher-student "improves boundary localization", so the kit measures the outline on its own, as
the boundary F-score of DAVIS (Perazzi et al. 2016) and of Csurka et al. 2013:

- the **boundary** of a mask is the set of its pixels with at least one 4-neighbour outside it
  (the image border does not count as outside: smoke cut by the frame has no edge there);
- **precision**: the share of the prediction's boundary pixels lying within ``tolerance`` pixels
  (a square neighbourhood, Chebyshev distance) of the true boundary; **recall**: the share of the
  true boundary pixels within ``tolerance`` of the predicted boundary;
- **F** = 2PR / (P + R) per image, averaged over the smoke images like the per-image IoU.

Conventions: an empty prediction on an empty mask scores 1 (nothing to outline, nothing claimed);
when only one of them has a boundary the image scores 0. The default tolerance of 2 pixels is
3 % of the 64-px image side: the CAMs of the kit's networks come from 8-px cells, so a stricter
tolerance would measure the upsampling, not the network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsss_lib.metric_inputs import _as_batch, _nanmean, _smoke_selection, _to_numpy

__all__ = ["BOUNDARY_TOLERANCE", "boundary_f_score", "boundary_f_values", "mask_boundary"]

#: Pixels of slack between a predicted and a true edge (Chebyshev distance).
BOUNDARY_TOLERANCE = 2


def _masks(x: Any, name: str) -> torch.Tensor:
    arr = _as_batch(_to_numpy(x, name), name)
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must be a binary mask (bool or 0/1); threshold CAMs first.")
        arr = arr.astype(bool)
    return torch.from_numpy(np.ascontiguousarray(arr))


def mask_boundary(masks: Any) -> torch.Tensor:
    """Boundary pixels of binary masks: mask pixels with a 4-neighbour outside the mask.

    Args:
        masks: Bool (or 0/1) ``[N, H, W]`` or ``[H, W]``.

    Returns:
        Bool ``[N, H, W]``.
    """
    m = _masks(masks, "masks").float()[:, None]  # [N, 1, H, W]
    padded = F.pad(m, (1, 1, 1, 1), mode="replicate")  # the frame is not an edge
    neighbours = torch.stack([padded[..., :-2, 1:-1], padded[..., 2:, 1:-1],
                              padded[..., 1:-1, :-2], padded[..., 1:-1, 2:]])
    inside_all = neighbours.min(dim=0).values
    return ((m > 0) & (inside_all == 0))[:, 0]


def _near(boundary: torch.Tensor, tolerance: int) -> torch.Tensor:
    """Pixels within ``tolerance`` (Chebyshev) of a boundary pixel, bool ``[N, H, W]``."""
    if tolerance == 0:
        return boundary
    k = 2 * tolerance + 1
    return F.max_pool2d(boundary.float()[:, None], k, stride=1, padding=tolerance)[:, 0] > 0


def boundary_f_values(
    pred: Any, gt: Any, labels: Any = None, tolerance: int = BOUNDARY_TOLERANCE
) -> np.ndarray:
    """Boundary F-score of every image; NaN for images that are not smoke images.

    Smoke images are those with label 1 when ``labels`` is given, otherwise those with a
    non-empty ``gt`` (as :func:`wsss_lib.metrics.per_image_iou_values`).

    Args:
        pred: Predicted masks, bool ``[N, H, W]``.
        gt: True smoke masks, bool ``[N, H, W]``.
        labels: Optional image labels ``[N]`` (1 = smoke).
        tolerance: Slack in pixels (a non-negative integer).

    Returns:
        float64 ``[N]`` in ``[0, 1]`` (NaN for clean images).
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative integer (pixels); got {tolerance!r}.")
    p, g = _masks(pred, "pred"), _masks(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred {tuple(p.shape)} and gt {tuple(g.shape)} must have one shape.")
    bp, bg = mask_boundary(p), mask_boundary(g)
    n_p = bp.flatten(1).sum(1).double()
    n_g = bg.flatten(1).sum(1).double()
    hit_p = (bp & _near(bg, tolerance)).flatten(1).sum(1).double()
    hit_g = (bg & _near(bp, tolerance)).flatten(1).sum(1).double()
    precision = torch.where(n_p > 0, hit_p / n_p.clamp(min=1), torch.zeros_like(n_p))
    recall = torch.where(n_g > 0, hit_g / n_g.clamp(min=1), torch.zeros_like(n_g))
    denom = precision + recall
    f = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12),
                    torch.zeros_like(denom))
    f = torch.where((n_p == 0) & (n_g == 0), torch.ones_like(f), f).numpy()
    return np.where(_smoke_selection(g.numpy(), labels), f, np.nan)


def boundary_f_score(
    pred: Any, gt: Any, labels: Any = None, tolerance: int = BOUNDARY_TOLERANCE
) -> float:
    """Mean boundary F-score over the smoke images (:func:`boundary_f_values`); NaN without
    smoke images."""
    return _nanmean(boundary_f_values(pred, gt, labels, tolerance))
