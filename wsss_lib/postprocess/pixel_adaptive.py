"""Pixel-adaptive refinement (PAR): training-free, colour-guided propagation of a CAM.

PAR comes from AFA (Ru et al. 2022, "Learning Affinity from Attention") and is reused by ToCo.
Each pixel looks at its 8 neighbours at several dilations (``dilations=(1, 2, 4, 8, 12, 24)``
gives 48 neighbours, up to 24 px away) and weighs them by colour and distance:

- colour: ``a_c = -(|I_j - I_i| / (std_j(I_j) * color_temperature))^2``, averaged over RGB, where
  ``std_j`` is the spread of the neighbours' colours (so the kernel adapts to local contrast);
- position: ``a_p = -(dist_ij / (std_j(dist) * color_temperature))^2`` (AFA uses the same
  temperature for both);
- ``w_ij = (softmax_j(a_c) + position_weight * softmax_j(a_p)) / (1 + position_weight)``.

The CAM is then propagated ``iterations`` times: ``cam_i <- sum_j w_ij cam_j``. Unlike AFA's
code we divide by ``1 + position_weight`` so the weights sum to 1: a constant map stays constant
(AFA's would grow by ``1.01`` per iteration) and the output stays in ``[0, 1]``.

PAR is *class-agnostic*: it only knows colour, not what is smoke. Activation spreads across any
region of similar colour, so smoke can bleed into grey sky, clouds or haze of the same shade —
the failure mode arXiv 2507.21959 reports for affinity-style post-processing. It sharpens the CAM
at colour edges; it cannot remove a chimney the classifier attends to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from wsss_lib.postprocess.base import RefinementStep, images_to_rgb_float
from wsss_lib.postprocess.registry import register_refinement_step

__all__ = ["PixelAdaptiveRefiner", "pixel_adaptive_refine", "pixel_adaptive_weights"]

# The 8 neighbours of a pixel (row offset, column offset) in units of the dilation.
_RING = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_EPS = 1e-8


def _neighbours(x: Tensor, dilations: Sequence[int]) -> Tensor:
    """Gather the ring neighbours of every pixel: ``[B, C, H, W] -> [B, C, K, H, W]``.

    ``K = 8 * len(dilations)``; borders are replicate-padded, as in AFA.
    """
    height, width = x.shape[-2:]
    gathered = []
    for d in dilations:
        padded = F.pad(x, (d, d, d, d), mode="replicate")
        for dy, dx in _RING:
            top, left = d + dy * d, d + dx * d
            gathered.append(padded[..., top : top + height, left : left + width])
    return torch.stack(gathered, dim=2)


def _neighbour_distances(dilations: Sequence[int], device: torch.device) -> Tensor:
    """Euclidean distance to each ring neighbour, ``[K]``, ordered like :func:`_neighbours`."""
    ring = [math.hypot(dy, dx) for dy, dx in _RING]
    return torch.tensor([d * r for d in dilations for r in ring], device=device)


def pixel_adaptive_weights(
    rgb: Tensor,
    dilations: Sequence[int] = (1, 2, 4, 8, 12, 24),
    color_temperature: float = 0.3,
    position_weight: float = 0.01,
) -> Tensor:
    """Neighbour weights of PAR.

    Args:
        rgb: float ``[B, 3, H, W]`` RGB (any fixed scale: colour differences are divided by the
            neighbours' spread).
        dilations, color_temperature, position_weight: see :class:`PixelAdaptiveRefiner`.

    Returns:
        float ``[B, K, H, W]``, non-negative, summing to 1 over ``K = 8 * len(dilations)``.
    """
    neighbours = _neighbours(rgb, dilations)  # [B, 3, K, H, W]
    spread = neighbours.std(dim=2, keepdim=True)
    contrast = (neighbours - rgb.unsqueeze(2)).abs() / (spread + _EPS) / color_temperature
    color_logits = -contrast.square().mean(dim=1)  # [B, K, H, W]
    distances = _neighbour_distances(dilations, rgb.device)
    position_logits = -(distances / (distances.std() + _EPS) / color_temperature).square()
    position = position_logits.softmax(dim=0).view(1, -1, 1, 1)
    return (color_logits.softmax(dim=1) + position_weight * position) / (1.0 + position_weight)


def pixel_adaptive_refine(
    cam: Tensor,
    rgb: Tensor,
    dilations: Sequence[int] = (1, 2, 4, 8, 12, 24),
    iterations: int = 10,
    color_temperature: float = 0.3,
    position_weight: float = 0.01,
) -> Tensor:
    """Propagate ``cam`` float ``[B, H, W]`` with PAR weights from ``rgb`` float ``[B, 3, H, W]``.

    Returns:
        float ``[B, H, W]``: each pixel a convex combination of its neighbours' values.
    """
    weights = pixel_adaptive_weights(rgb, dilations, color_temperature, position_weight)
    refined = cam.unsqueeze(1)  # [B, 1, H, W]
    for _ in range(iterations):
        refined = (_neighbours(refined, dilations)[:, 0] * weights).sum(dim=1, keepdim=True)
    return refined[:, 0]


@register_refinement_step("par")
class PixelAdaptiveRefiner(RefinementStep):
    """Post-processing step: PAR (AFA / ToCo), colour-guided CAM propagation, no training.

    Args:
        dilations: ring dilations; each adds 8 neighbours at that distance (AFA/ToCo:
            ``(1, 2, 4, 8, 12, 24)``).
        iterations: propagation steps (AFA/ToCo: 10); more steps spread activation further.
        color_temperature: ``w1`` of AFA (0.3); smaller values make colour edges stop the
            propagation more sharply.
        position_weight: ``w2`` of AFA (0.01); weight of the colour-blind, distance-only term.
    """

    name = "par"

    def __init__(
        self,
        dilations: Sequence[int] = (1, 2, 4, 8, 12, 24),
        iterations: int = 10,
        color_temperature: float = 0.3,
        position_weight: float = 0.01,
    ) -> None:
        dilations = tuple(dilations)
        if not dilations or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dilations
        ):
            raise ValueError(
                f"dilations must be a non-empty sequence of ints >= 1, got {dilations!r}; "
                "e.g. (1, 2, 4, 8, 12, 24)."
            )
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations must be an int >= 0, got {iterations!r}.")
        if not (isinstance(color_temperature, (int, float)) and color_temperature > 0):
            raise ValueError(f"color_temperature must be > 0, got {color_temperature!r}.")
        if not (isinstance(position_weight, (int, float)) and position_weight >= 0):
            raise ValueError(f"position_weight must be >= 0, got {position_weight!r}.")
        self.dilations = dilations
        self.iterations = iterations
        self.color_temperature = float(color_temperature)
        self.position_weight = float(position_weight)

    def params(self) -> dict[str, Any]:
        """All settings, JSON-able."""
        return {
            "dilations": list(self.dilations),
            "iterations": self.iterations,
            "color_temperature": self.color_temperature,
            "position_weight": self.position_weight,
        }

    def refine(self, cam: Tensor, images: Tensor | np.ndarray) -> Tensor:
        """Run PAR; ``cam`` float ``[B, H, W]`` -> float ``[B, H, W]``."""
        rgb = images_to_rgb_float(images, device=cam.device)
        with torch.no_grad():
            return pixel_adaptive_refine(
                cam.detach().float(),
                rgb,
                self.dilations,
                self.iterations,
                self.color_temperature,
                self.position_weight,
            ).to(cam.dtype)
