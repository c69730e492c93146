"""The skyline and ground layer and the sheds: their colours, the skyline's heights and their
rendering (the ground mask the proxy pre-training uses).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_SHED_COLORS = ((0.55, 0.55, 0.55), (0.42, 0.46, 0.52), (0.5, 0.4, 0.34), (0.6, 0.58, 0.52))


_GROUND_COLORS = ((0.33, 0.33, 0.30), (0.30, 0.36, 0.26), (0.40, 0.36, 0.30))


def _skyline_heights(rng: np.random.Generator, size: int) -> np.ndarray:
    """Per-column height of the distant skyline in pixels, ``float32 [size]``."""
    widths = rng.uniform(0.03, 0.12, 24) * size
    edges = np.cumsum(widths) - rng.uniform(0, widths[0])
    heights = rng.uniform(0.0, 0.07, 24) * size * (rng.random(24) < 0.8)
    column = np.arange(size) + 0.5
    index = np.minimum(np.searchsorted(edges, column), 23)
    return heights[index].astype(np.float32)


def _render_ground(
    params: dict[str, Any],
    size: int,
    image: np.ndarray,
    low_noise: np.ndarray,
    texture: np.ndarray,
    sky_region: np.ndarray,
) -> None:
    """Paint the distant skyline and the ground (below the horizon) into ``image``.

    Both fade towards the sky's horizon colour with distance (atmospheric perspective).
    """
    horizon = params["horizon"]
    sky_horizon = np.array(params["sky"]["horizon"], np.float32)
    city = 0.55 * sky_horizon + 0.45 * np.array([0.3, 0.32, 0.36], np.float32)
    first_ground_row = min(int(math.ceil(horizon - 0.5)), size)
    band = slice(0, first_ground_row)
    buildings = ~sky_region[band]
    image[band][buildings] = city

    rows = np.arange(first_ground_row, size, dtype=np.float32) + 0.5
    near = (np.clip((rows - horizon) / max(size - horizon, 1.0), 0.0, 1.0) ** 0.5)[:, None, None]
    ground_color = np.array(params["ground"]["color"], np.float32)
    ground = (0.5 * sky_horizon + 0.5 * ground_color) * (1 - near) + 0.85 * ground_color * near
    grain = 1.0 + 0.05 * low_noise[first_ground_row:] + 0.03 * texture[first_ground_row:]
    image[first_ground_row:] = ground * grain[..., None]
