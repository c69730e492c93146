"""How a CAM is read for pseudo-masks: the read-out (:class:`~wsss_lib.cam.readout.CamReadout`,
resolved for a model by :func:`resolve_cam_settings`). The refinement steps that can be named
(:data:`REFINEMENT_STEPS`, :func:`make_refinement_steps`) are registered in
:mod:`wsss_lib.postprocess.registry` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from wsss_lib.cam.readout import CamReadout
from wsss_lib.postprocess.registry import REFINEMENT_STEPS, make_refinement_steps
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = ["REFINEMENT_STEPS", "make_refinement_steps", "resolve_cam_settings"]


def resolve_cam_settings(
    model: nn.Module,
    *,
    method: str = "cam",
    layers: str | int | Sequence[str | int] | None = None,
    scales: Sequence[float] = (1.0,),
    fusion: str = "mean",
    normalize: str = "minmax",
    threshold: float = PAPER_THRESHOLD,
    steps: Sequence[Any] = (),
) -> CamReadout:
    """``CamReadout(...).resolve(model)``: the settings checked, the layers as ``model``'s
    canonical names (``-1`` -> ``"blocks.11"``; ``layers=None`` with a Grad-CAM method: the
    paper's ``norm1`` of ViT blocks -5, -4, -2, -1). ``steps`` are refinement step names or
    objects (:class:`CamReadout` ``refine``); ``.to_record()`` is what a manifest records.

    Raises:
        ValueError: unknown method, fusion or normalisation, layers with ``method="cam"``, a
            layer the model does not have, bad scales, threshold or steps.
    """
    return CamReadout(method=method, layers=layers, scales=scales, fusion=fusion,
                      normalize=normalize, threshold=threshold, refine=tuple(steps)).resolve(model)
