"""The chimney layer: its colours, sampling a stack (box, taper, stripes) and rendering it shaded
like a cylinder.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wsss_lib.data.synthetic.texture import _r

_CHIMNEY_COLORS = {
    "brick": (0.5, 0.28, 0.22),
    "concrete": (0.62, 0.60, 0.57),
    "steel": (0.42, 0.45, 0.48),
    "dark": (0.25, 0.24, 0.24),
}


def _sample_chimney(rng: np.random.Generator, size: int, horizon: float) -> dict[str, Any]:
    """A stack standing on the ground in front of the horizon, its top in the upper half."""
    width = size * rng.uniform(0.05, 0.1)
    cx = size * rng.uniform(0.15, 0.85)
    top = size * rng.uniform(0.22, 0.5)
    base = size * rng.uniform(max(horizon / size + 0.05, 0.8), 1.02)
    name = str(rng.choice(list(_CHIMNEY_COLORS)))
    shade = rng.uniform(0.85, 1.15)
    color = [_r(c * shade) for c in _CHIMNEY_COLORS[name]]
    return {
        "box": [_r(cx - width / 2), _r(top), _r(cx + width / 2), _r(min(base, size))],
        "color_name": name,
        "color": color,
        "taper": _r(rng.uniform(0.0, 0.25)),
        "stripes": int(rng.integers(2, 5)) if rng.random() < 0.35 else 0,
    }


def _render_chimney(chimney: dict[str, Any], size: int, image: np.ndarray) -> np.ndarray:
    """Draw the chimney into ``image``; return its anti-aliased coverage ``float32 [H, W]``.

    The stack is a trapezoid (``taper`` narrows the top), shaded like a cylinder lit from the
    left, with a dark rim at the top and optional white bands below it.
    """
    x0, top, x1, base = chimney["box"]
    cx, half = (x0 + x1) / 2, (x1 - x0) / 2
    r0, r1 = max(int(top), 0), min(int(math.ceil(base + 0.5)), size)
    c0, c1 = max(int(x0) - 1, 0), min(int(math.ceil(x1)) + 1, size)
    rows = np.arange(r0, r1, dtype=np.float32) + 0.5
    cols = np.arange(c0, c1, dtype=np.float32) + 0.5
    height_frac = np.clip((rows - top) / max(base - top, 1.0), 0.0, 1.0)
    half_row = half * (1.0 - chimney["taper"] * (1.0 - height_frac))
    across = (cols[None, :] - cx) / half_row[:, None]  # -1 .. 1 inside the chimney
    window = np.clip(half_row[:, None] * (1.0 - np.abs(across)) + 0.5, 0.0, 1.0)
    window *= np.clip(rows - top + 0.5, 0.0, 1.0)[:, None] * (rows < base + 0.5)[:, None]
    shade = 1.05 - 0.35 * np.clip((across + 1) / 2, 0, 1) ** 1.5
    layer = shade[..., None] * np.array(chimney["color"], np.float32)
    if chimney["stripes"]:
        index = np.floor((rows - top) / max((base - top) * 0.06, 1.0))
        striped = (index < 2 * chimney["stripes"]) & (index % 2 == 1)
        white = shade[..., None] * np.array([0.92, 0.9, 0.88], np.float32)
        layer = np.where(striped[:, None, None], white, layer)
    layer[rows < top + max(1.0, 0.02 * (base - top))] *= 0.6
    target = image[r0:r1, c0:c1]
    target *= 1.0 - window[..., None]
    target += window[..., None] * layer
    coverage = np.zeros((size, size), np.float32)
    coverage[r0:r1, c0:c1] = window
    return coverage
