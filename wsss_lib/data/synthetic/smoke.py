"""The smoke plume layer: its palette, sampling a plume (source, wind, rise, spread, opacity) and
rendering it as a chain of textured puffs scaled to its peak opacity.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wsss_lib.data.synthetic.texture import (
    _density_to_alpha,
    _gaussian_sum,
    _jitter_color,
    _pick,
    _r,
)

_SMOKE_COLORS = {  # name: (probability, low RGB, high RGB)
    "white": (0.4, (0.86, 0.86, 0.85), (0.98, 0.98, 0.97)),
    "grey": (0.4, (0.52, 0.52, 0.52), (0.74, 0.73, 0.72)),
    "dark": (0.2, (0.14, 0.13, 0.12), (0.34, 0.31, 0.28)),
}


def _sample_smoke(
    rng: np.random.Generator,
    size: int,
    horizon: float,
    chimney: dict[str, Any] | None,
    anchor: bool,
    opacity_range: tuple[float, float],
) -> dict[str, Any]:
    """A plume: from the chimney top when anchored, else from a vent or a mid-air source."""
    if chimney is not None and anchor:
        x0, top, x1, _ = chimney["box"]
        source_kind = "chimney_top"
        source = [(x0 + x1) / 2, top]
        radius = (x1 - x0) * rng.uniform(0.22, 0.32) * (1 - chimney["taper"] / 2)
    else:
        source_kind = "ground_vent" if rng.random() < 0.6 else "mid_air"
        low_y, high_y = (
            (horizon + 0.01 * size, horizon + 0.12 * size)
            if source_kind == "ground_vent"
            else (0.3 * size, horizon - 0.1 * size)
        )
        x = size * rng.uniform(0.12, 0.88)
        if chimney is not None:  # keep clear of the chimney so the plume is not "anchored"
            x0, _, x1, _ = chimney["box"]
            for _ in range(8):
                if abs(x - (x0 + x1) / 2) > (x1 - x0) + 0.12 * size:
                    break
                x = size * rng.uniform(0.12, 0.88)
        source = [x, rng.uniform(low_y, max(high_y, low_y + 1))]
        radius = size * rng.uniform(0.015, 0.035)
    name = _pick(rng, _SMOKE_COLORS)
    return {
        "source": [_r(v) for v in source],
        "source_kind": source_kind,
        "radius": _r(max(radius, 0.9)),
        "wind": _r(
            rng.choice([-1, 1])
            * (rng.uniform(0.05, 0.4) if rng.random() < 0.15 else rng.uniform(0.4, 2.5))
        ),
        "rise_decay": _r(size * rng.uniform(0.08, 0.35)),
        "spread": _r(rng.uniform(0.1, 0.26)),
        "length": _r(size * rng.uniform(0.45, 1.0)),
        "opacity": _r(rng.uniform(*opacity_range)),
        "color_name": name,
        "color": _jitter_color(rng, *_SMOKE_COLORS[name][1:]),
    }


def _plume_density(params: dict[str, Any], rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth plume density (about 1 in the core near the source) as a chain of puffs.

    The centreline is integrated step by step: each step moves along ``(wind, -rise)`` where
    the buoyant rise decays with distance, so the plume leaves the source steeply and then
    bends over with the wind (the shape of Briggs' bent-over plume). The puff radius grows
    linearly with the travelled distance (a cone with ``spread`` = radius growth per pixel), a
    small random walk makes it meander, and the density fades out towards ``length``.
    """
    smoke = params["smoke"]
    r0, length = smoke["radius"], smoke["length"]
    step = max(0.4 * r0, 0.35)
    n = int(min(max(length / step, 8), 400))
    s = np.arange(n, dtype=np.float32) * step
    rise = np.exp(-s / smoke["rise_decay"]) + 0.06
    direction = np.stack([np.full(n, smoke["wind"], np.float32), -rise], axis=1)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
    meander = np.cumsum(rng.normal(0, 1, n)).astype(np.float32) * step * 0.12
    path = np.cumsum(direction * step, axis=0) - direction[:1] * step
    path += normal * (meander - meander[0])[:, None]
    path += np.array(smoke["source"], np.float32)
    radius = r0 + smoke["spread"] * s
    # Line density of touching Gaussians is ~ amp * sqrt(2 pi) * r / step; normalise it to 1.
    amp = step / (math.sqrt(2 * math.pi) * radius)
    fade = np.exp(-1.2 * s / length) * np.clip(1.0 - (s / length) ** 3, 0.0, 1.0)
    y_floor = None
    if smoke["source_kind"] == "mid_air":
        fade *= 1.0 - np.exp(-s / (3.0 * r0))  # a wisp that thickens out of nothing
    else:
        # Smoke leaves the mouth upwards: cut the near-source puffs off just below the source
        # (so no smoke hangs over the chimney's side), and compensate the chain's one-sided end,
        # where the line density is only Phi(s / r) of its full value.
        x = s / radius
        fade /= 0.5 * (1.0 + np.tanh(0.79788456 * (x + 0.044715 * x**3)))
        over_mouth = (s < 4 * r0) & (np.abs(path[:, 0] - smoke["source"][0]) < 2 * r0)
        y_floor = np.where(over_mouth, smoke["source"][1] + 0.3 * r0, np.inf).astype(np.float32)
    keep = fade > 1e-3
    return _gaussian_sum(
        size,
        path[keep, 0],
        path[keep, 1],
        radius[keep],
        radius[keep],
        (amp * fade)[keep],
        None if y_floor is None else y_floor[keep],
    )


def _plume_alpha(
    params: dict[str, Any],
    rng: np.random.Generator,
    size: int,
    texture: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> np.ndarray:
    """Opacity of the plume, ``float32 [H, W]``, whose maximum is exactly ``smoke["opacity"]``.

    Smoke leaves its source as a dense, even jet and turns billowy downstream, so the noise
    texture is damped within a few source radii. The result is scaled so its peak equals the
    sampled opacity: ``opacity`` means "peak opacity", and since it is at least ``MIN_OPACITY``,
    every plume has pixels above ``MASK_ALPHA_THRESHOLD``.
    """
    smoke = params["smoke"]
    sx, sy = smoke["source"]
    distance = np.sqrt((cols - sx) ** 2 + (rows - sy) ** 2)
    calm = np.exp(-distance / (3.0 * smoke["radius"]))
    density = _plume_density(params, rng, size)
    alpha = _density_to_alpha(density, texture * (1.0 - 0.7 * calm), smoke["opacity"])
    peak = float(alpha.max())
    if peak > 0:
        alpha *= np.float32(smoke["opacity"] / peak)
    return alpha
