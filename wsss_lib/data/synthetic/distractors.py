"""The distractor layer, clouds and haze banks: their palette (shared with smoke), sampling them
and rendering a cloud's or a haze bank's density.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wsss_lib.data.synthetic.texture import _gaussian_sum, _jitter_color, _pick, _r

_CLOUD_COLORS = {
    "white": (0.5, (0.88, 0.88, 0.88), (1.0, 1.0, 1.0)),
    "grey": (0.35, (0.52, 0.53, 0.55), (0.76, 0.77, 0.78)),
    "dark": (0.15, (0.22, 0.22, 0.24), (0.40, 0.40, 0.42)),
}


def _sample_distractor(
    rng: np.random.Generator, size: int, horizon: float, chimney: dict[str, Any] | None
) -> dict[str, Any]:
    """A haze bank near the horizon, or a cloud (cluster of puffs) high in the sky."""
    name = _pick(rng, _CLOUD_COLORS)
    color = _jitter_color(rng, *_CLOUD_COLORS[name][1:])
    if rng.random() < 0.35:
        return {
            "kind": "haze",
            "center": [
                _r(size * rng.uniform(0.1, 0.9)),
                _r(horizon - size * rng.uniform(0.0, 0.1)),
            ],
            "size": [_r(size * rng.uniform(0.25, 0.6)), _r(size * rng.uniform(0.025, 0.06))],
            "opacity": _r(rng.uniform(0.3, 0.65)),
            "color_name": name,
            "color": color,
        }
    width = size * rng.uniform(0.12, 0.3)
    cx, cy = size * rng.uniform(0.05, 0.95), size * rng.uniform(0.06, 0.3)
    if chimney is not None:  # clouds float free: never right on top of a chimney
        x0, top, x1, _ = chimney["box"]
        for _ in range(8):
            if abs(cx - (x0 + x1) / 2) > width / 2 + (x1 - x0) or cy < top - 0.18 * size:
                break
            cx = size * rng.uniform(0.05, 0.95)
    n_puffs = int(rng.integers(4, 9))
    puffs = [
        [
            _r(cx + rng.uniform(-0.5, 0.5) * width),
            _r(cy + rng.normal(0, 0.15) * width * 0.5),
            _r(width * rng.uniform(0.12, 0.24)),
        ]
        for _ in range(n_puffs)
    ]
    return {
        "kind": "cloud",
        "center": [_r(cx), _r(cy)],
        "size": [_r(width), _r(width * 0.4)],
        "puffs": puffs,
        "opacity": _r(rng.uniform(0.35, 0.9)),
        "color_name": name,
        "color": color,
    }


def _cloud_density(distractor: dict[str, Any], size: int) -> np.ndarray:
    """Smooth density of a distractor: one wide flat Gaussian (haze) or squashed puffs (cloud)."""
    if distractor["kind"] == "haze":
        (cx, cy), (sx, sy) = distractor["center"], distractor["size"]
        one = np.ones(1, np.float32)
        return 1.3 * _gaussian_sum(size, cx * one, cy * one, sx * one, sy * one, one)
    puffs = np.array(distractor["puffs"], np.float32)
    return _gaussian_sum(
        size,
        puffs[:, 0],
        puffs[:, 1],
        puffs[:, 2] * 1.25,
        puffs[:, 2] * 0.8,
        np.full(len(puffs), 1.1, np.float32),
    )
