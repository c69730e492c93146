"""What every layer is drawn with: fractal noise, sums of soft Gaussian puffs, density -> alpha,
back-to-front alpha blending, and the colour draws and rounding the sampled parameters use.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

_INVISIBLE_ALPHA = 0.5 / 255  # below half an 8-bit grey level a layer cannot change a pixel


@functools.lru_cache(maxsize=128)
def _interp_matrix(n_out: int, n_cells: int) -> np.ndarray:
    """``float32 [n_out, n_cells + 1]``: smoothstep interpolation from grid nodes to pixels."""
    pos = (np.arange(n_out) + 0.5) / n_out * n_cells
    left = np.minimum(np.floor(pos).astype(np.int64), n_cells - 1)
    t = pos - left
    t = t * t * (3.0 - 2.0 * t)
    matrix = np.zeros((n_out, n_cells + 1), np.float32)
    rows = np.arange(n_out)
    matrix[rows, left] = 1.0 - t
    matrix[rows, left + 1] = t
    matrix.setflags(write=False)
    return matrix


def _fractal_noise(
    rng: np.random.Generator, size: int, base_cells: int, octaves: int
) -> np.ndarray:
    """Multi-octave value noise, ``float32 [size, size]``, standardised to mean 0 and std 1.

    Each octave is a random grid upsampled by two small matrix products (``M @ G @ M.T``), which
    is far faster than per-pixel interpolation; octave ``k`` has ``base_cells * 2**k`` cells and
    weight ``0.6**k``.
    """
    field = np.zeros((size, size), np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        cells = base_cells * 2**octave
        matrix = _interp_matrix(size, cells)
        grid = rng.random((cells + 1, cells + 1), dtype=np.float32) - 0.5
        field += amplitude * (matrix @ grid @ matrix.T)
        amplitude *= 0.6
    field -= field.mean()
    field /= field.std() + 1e-6
    return field


def _octaves_for(size: int, base_cells: int) -> int:
    """Octaves until a cell is about 3 px wide, so larger images get finer detail."""
    return max(1, int(math.log2(max(size / (3 * base_cells), 1.0))) + 1)


def _gaussian_sum(
    size: int,
    cx: np.ndarray,
    cy: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    amp: np.ndarray,
    y_floor: np.ndarray | None = None,
) -> np.ndarray:
    """Sum of ``K`` axis-aligned Gaussian puffs, ``float32 [size, size]``, as one matrix product.

    A 2D Gaussian is separable, so ``sum_k a_k g_k(y) h_k(x) = (G_y * a)^T @ G_x`` with
    ``G_y [K, size]`` and ``G_x [K, size]``. ``y_floor [K]`` optionally cuts puff ``k`` off
    (over one pixel) below row ``y_floor[k]``; ``inf`` leaves it whole.
    """
    coords = np.arange(size, dtype=np.float32) + 0.5
    gy = np.exp(-0.5 * ((coords[None, :] - cy[:, None]) / sy[:, None]) ** 2)
    if y_floor is not None:
        gy *= np.clip(y_floor[:, None] - coords[None, :] + 0.5, 0.0, 1.0)
    gx = np.exp(-0.5 * ((coords[None, :] - cx[:, None]) / sx[:, None]) ** 2)
    return ((gy * amp[:, None]).T @ gx).astype(np.float32, copy=False)


def _density_to_alpha(density: np.ndarray, texture: np.ndarray, opacity: float) -> np.ndarray:
    """Turn a smooth density (about 1 in the core) into a textured opacity in ``[0, opacity]``.

    The noise texture multiplies the density (log-normally, mean 1), which breaks the edges up
    into billows; a saturating curve then maps density to opacity so the core reaches
    ``opacity`` and thin parts stay see-through.
    """
    textured = density * np.exp(0.7 * texture - 0.245)
    gain = 2.5
    alpha = (1.0 - np.exp(-gain * textured)) * (opacity / (1.0 - math.exp(-gain)))
    return np.minimum(alpha, opacity, out=alpha)


def _blend(
    image: np.ndarray,
    alpha: np.ndarray,
    color: Sequence[float],
    texture: np.ndarray | None = None,
    texture_gain: float = 0.0,
) -> None:
    """Alpha-composite a layer of colour ``color`` over ``image`` (``[H, W, 3]``) in place.

    Only the bounding box where ``alpha`` is visible (above half an 8-bit grey level) is touched,
    which keeps small layers cheap. ``texture`` (``[H, W]``) optionally brightens / darkens the
    colour by ``texture_gain * texture``.
    """
    rows = np.flatnonzero(alpha.max(axis=1) > _INVISIBLE_ALPHA)
    if rows.size == 0:
        return
    cols = np.flatnonzero(alpha[rows[0] : rows[-1] + 1].max(axis=0) > _INVISIBLE_ALPHA)
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    a = alpha[window][..., None]
    layer = np.asarray(color, np.float32)
    if texture is not None:
        layer = layer * (1.0 + texture_gain * texture[window][..., None])
    target = image[window]
    target *= 1.0 - a
    target += a * layer


def _pick(rng: np.random.Generator, table: dict[str, tuple]) -> str:
    """Draw a key of ``table`` with the probability stored first in its value."""
    u, total = rng.random(), 0.0
    for name, entry in table.items():
        total += entry[0]
        if u < total:
            return name
    return name


def _jitter_color(rng: np.random.Generator, low: Sequence[float], high: Sequence[float]) -> list:
    t = float(rng.random())
    return [
        round(float(lo + t * (hi - lo) + rng.normal(0, 0.015)), 4)
        for lo, hi in zip(low, high, strict=True)
    ]


def _r(value: float) -> float:
    return round(float(value), 3)
