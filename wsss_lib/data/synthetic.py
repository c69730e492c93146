"""Procedural smoke-and-chimney scenes: a benchmark where the chimney shortcut can be dialled in.

Every image is a stylised outdoor industrial scene, drawn back to front:

1. **sky**: a vertical gradient (clear blue, overcast grey or dusk) with faint large-scale noise;
2. **clouds** (distractors): blobby clusters of soft puffs floating high in the sky;
3. **skyline and ground**: a hazy row of distant buildings on the horizon, textured ground;
4. **haze banks** (distractors): wide, flat, semi-transparent bands near the horizon;
5. **sheds**: a few low industrial buildings in the foreground (independent of the label);
6. **chimney**: a tall, slightly tapered stack, shaded like a cylinder, optionally striped;
7. **smoke plume**: a chain of soft puffs from a source, rising and bent over by the wind,
   widening with distance, fading out, textured by multi-octave noise.

Smoke and clouds share one colour palette (white, grey, dark) and one noise texture, so a
classifier cannot separate them by colour; it has to use shape and context (a plume is attached
to a source and elongated along the wind; a cloud is a detached blob high in the sky).

**Masks.** Each layer has a per-pixel opacity ``alpha`` in ``[0, 1]`` (the fraction of the
pixel's colour that comes from that layer). A layer's mask is ``alpha >= MASK_ALPHA_THRESHOLD``
(``0.1``): a pixel counts as smoke when at least 10 % of its colour comes from the plume. Against
the typical 0.3-0.7 brightness contrast between smoke and its background that is a change of
about 8-18 grey levels, roughly where a plume edge stops being visible in a textured 8-bit
image; the diffuse halo below it cannot be told apart from sky gradients and noise, and a human
annotator would not draw it, so it is rendered but left out of the mask. A plume's ``opacity``
parameter is its peak alpha (the rendered plume is scaled so its densest pixel has exactly that
opacity) and is at least ``MIN_OPACITY`` (0.15), so every smoke image has a non-empty smoke mask.

**Overlaps.** Masks follow visibility, front layer wins, so the three masks are disjoint:
smoke (front) over chimney over sheds/skyline over distractors (back). Where the plume covers
the chimney top, those pixels are smoke, not chimney (the chimney's full box is in the params).
This keeps metrics such as "fraction of chimney pixels predicted as smoke" from penalising
correct smoke predictions.

Everything is a pure function of :class:`SceneConfig` (and ``seed``); each image is a pure
function of its parameter dict, so :func:`render_scene` re-draws any image from ``params``.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .scenes import SmokeScenes

__all__ = [
    "GENERATOR_VERSION",
    "MASK_ALPHA_THRESHOLD",
    "MIN_IMAGE_SIZE",
    "MIN_OPACITY",
    "RenderedScene",
    "SceneConfig",
    "generate_scenes",
    "render_scene",
    "sample_scene_params",
]

#: Part of every cache key: bump it whenever the generator draws different pixels for a config.
GENERATOR_VERSION = "1.0"

#: A pixel belongs to a layer's mask when the layer's opacity there is at least this value.
MASK_ALPHA_THRESHOLD = 0.1

#: Smallest allowed plume peak opacity: fainter plumes would have (almost) no mask pixels.
MIN_OPACITY = 0.15

#: Smallest image side that still draws a recognisable chimney and plume.
MIN_IMAGE_SIZE = 32

_MAX_DISTRACTORS = 8
_INVISIBLE_ALPHA = 0.5 / 255  # below half an 8-bit grey level a layer cannot change a pixel


def _check_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"SceneConfig.{name} must be a probability in [0, 1]; got {value!r}.")
    return float(value)


def _as_pair(name: str, value: Any) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"SceneConfig.{name} must be a (min, max) pair; got {value!r}.")
    return value[0], value[1]


@dataclass(frozen=True)
class SceneConfig:
    """Everything that controls a synthetic dataset. Frozen; change it with ``dataclasses.replace``.

    Attributes:
        image_size: Side of the square images in pixels (at least ``MIN_IMAGE_SIZE``).
        n_images: Number of images.
        smoke_ratio: Fraction of smoke images (exactly ``round(n_images * smoke_ratio)``).
        p_chimney_given_smoke: Probability that a smoke image shows a chimney.
        p_chimney_given_clean: Probability that a clean image shows a chimney. Together with
            ``p_chimney_given_smoke`` this sets how strongly "chimney" predicts "smoke":
            0.95 / 0.05 is a strong shortcut, 0.5 / 0.5 makes chimneys uninformative, and
            0 / 1 reverses it.
        anchor_smoke_to_chimney: When True and a chimney is present, the plume rises from the
            chimney top; otherwise it starts at a ground-level vent or a mid-air source away
            from the chimney.
        opacity_range: ``(min, max)`` peak opacity of plumes, drawn uniformly per image;
            ``MIN_OPACITY <= min <= max <= 1``.
        n_distractors: ``(min, max)`` number of clouds / haze banks per image (both classes).
        seed: Seed of the whole set; the same config always gives the same images.
    """

    image_size: int = 96
    n_images: int = 512
    smoke_ratio: float = 0.5
    p_chimney_given_smoke: float = 0.95
    p_chimney_given_clean: float = 0.1
    anchor_smoke_to_chimney: bool = True
    opacity_range: tuple[float, float] = (0.25, 0.9)
    n_distractors: tuple[int, int] = (0, 2)
    seed: int = 0

    def __post_init__(self) -> None:
        for name, minimum in (("image_size", MIN_IMAGE_SIZE), ("n_images", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"SceneConfig.{name} must be an integer; got {value!r}.")
            if value < minimum:
                hint = {
                    "image_size": " (smaller images cannot show a chimney and a plume; "
                    "generate at 32+ px and resize if you need tiny inputs)",
                    "n_images": "",
                    "seed": "",
                }[name]
                raise ValueError(f"SceneConfig.{name} must be >= {minimum}; got {value}{hint}.")
            object.__setattr__(self, name, int(value))
        for name in ("smoke_ratio", "p_chimney_given_smoke", "p_chimney_given_clean"):
            object.__setattr__(self, name, _check_probability(name, getattr(self, name)))
        if not isinstance(self.anchor_smoke_to_chimney, (bool, np.bool_)):
            raise ValueError(
                "SceneConfig.anchor_smoke_to_chimney must be True or False; "
                f"got {self.anchor_smoke_to_chimney!r}."
            )
        object.__setattr__(self, "anchor_smoke_to_chimney", bool(self.anchor_smoke_to_chimney))

        low, high = _as_pair("opacity_range", self.opacity_range)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
            raise ValueError(f"SceneConfig.opacity_range must hold numbers; got {(low, high)!r}.")
        if not MIN_OPACITY <= low <= high <= 1:
            raise ValueError(
                f"SceneConfig.opacity_range={(low, high)!r} is invalid: it needs "
                f"{MIN_OPACITY} <= min <= max <= 1 (plumes fainter than {MIN_OPACITY} would have "
                f"no pixels above the mask threshold {MASK_ALPHA_THRESHOLD})."
            )
        object.__setattr__(self, "opacity_range", (float(low), float(high)))

        low, high = _as_pair("n_distractors", self.n_distractors)
        if not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (low, high)
        ):
            raise ValueError(f"SceneConfig.n_distractors must hold integers; got {(low, high)!r}.")
        if not 0 <= low <= high <= _MAX_DISTRACTORS:
            raise ValueError(
                f"SceneConfig.n_distractors={(low, high)!r} is invalid: it needs "
                f"0 <= min <= max <= {_MAX_DISTRACTORS}."
            )
        object.__setattr__(self, "n_distractors", (int(low), int(high)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (tuples become lists)."""
        data = asdict(self)
        data["opacity_range"] = list(self.opacity_range)
        data["n_distractors"] = list(self.n_distractors)
        return data


# ----------------------------------------------------------------------------- noise


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


# ----------------------------------------------------------------------------- primitives


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


# ----------------------------------------------------------------------------- parameters

_SMOKE_COLORS = {  # name: (probability, low RGB, high RGB)
    "white": (0.4, (0.86, 0.86, 0.85), (0.98, 0.98, 0.97)),
    "grey": (0.4, (0.52, 0.52, 0.52), (0.74, 0.73, 0.72)),
    "dark": (0.2, (0.14, 0.13, 0.12), (0.34, 0.31, 0.28)),
}
_CLOUD_COLORS = {
    "white": (0.5, (0.88, 0.88, 0.88), (1.0, 1.0, 1.0)),
    "grey": (0.35, (0.52, 0.53, 0.55), (0.76, 0.77, 0.78)),
    "dark": (0.15, (0.22, 0.22, 0.24), (0.40, 0.40, 0.42)),
}
_SKIES = {  # name: (probability, top colour, horizon colour)
    "clear": (0.45, (0.30, 0.50, 0.80), (0.72, 0.82, 0.92)),
    "overcast": (0.35, (0.55, 0.58, 0.62), (0.80, 0.81, 0.82)),
    "dusk": (0.20, (0.35, 0.40, 0.60), (0.92, 0.72, 0.55)),
}
_CHIMNEY_COLORS = {
    "brick": (0.5, 0.28, 0.22),
    "concrete": (0.62, 0.60, 0.57),
    "steel": (0.42, 0.45, 0.48),
    "dark": (0.25, 0.24, 0.24),
}
_SHED_COLORS = ((0.55, 0.55, 0.55), (0.42, 0.46, 0.52), (0.5, 0.4, 0.34), (0.6, 0.58, 0.52))
_GROUND_COLORS = ((0.33, 0.33, 0.30), (0.30, 0.36, 0.26), (0.40, 0.36, 0.30))


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


def sample_scene_params(
    rng: np.random.Generator, config: SceneConfig, label: int
) -> dict[str, Any]:
    """Draw the parameters of one scene (a JSON-able dict that :func:`render_scene` draws).

    Args:
        rng: Random generator of this image.
        config: Dataset settings (size, coupling probabilities, opacity range, distractors).
        label: 1 for a smoke image, 0 for a clean one.

    Returns:
        Dict with ``image_size``, ``label``, ``noise_seed`` (textures, skyline, plume meander),
        ``sky``, ``horizon``, ``ground``, ``sheds``, ``chimney`` (None or box ``[x0, y0, x1, y1]``
        in pixels, colour, taper, stripes), ``smoke`` (None or source, source kind, wind,
        opacity, colour, ...) and ``distractors`` (list of clouds / haze banks). Positions and
        lengths are in pixels.
    """
    size = config.image_size
    sky_name = _pick(rng, _SKIES)
    _, top, bottom = _SKIES[sky_name]
    brightness = rng.uniform(0.8, 1.1)
    horizon = size * rng.uniform(0.58, 0.78)
    p_chimney = config.p_chimney_given_smoke if label == 1 else config.p_chimney_given_clean
    chimney = _sample_chimney(rng, size, horizon) if rng.random() < p_chimney else None
    smoke = (
        _sample_smoke(
            rng, size, horizon, chimney, config.anchor_smoke_to_chimney, config.opacity_range
        )
        if label == 1
        else None
    )
    n_distractors = int(rng.integers(config.n_distractors[0], config.n_distractors[1] + 1))
    sheds = []
    for _ in range(int(rng.integers(0, 3))):
        shade = rng.uniform(0.85, 1.1)
        width = size * rng.uniform(0.12, 0.3)
        x0 = size * rng.uniform(-0.05, 0.95)
        sheds.append(
            {
                "box": [
                    _r(x0),
                    _r(horizon - size * rng.uniform(0.0, 0.08)),
                    _r(x0 + width),
                    _r(horizon + size * rng.uniform(0.1, 0.25)),
                ],
                "color": [
                    _r(v * shade) for v in _SHED_COLORS[int(rng.integers(len(_SHED_COLORS)))]
                ],
            }
        )
    return {
        "image_size": size,
        "label": int(label),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
        "sky": {
            "kind": sky_name,
            "top": [_r(c * brightness) for c in top],
            "horizon": [_r(min(c * brightness, 1.0)) for c in bottom],
        },
        "horizon": _r(horizon),
        "ground": {"color": [_r(c) for c in _GROUND_COLORS[int(rng.integers(3))]]},
        "sheds": sheds,
        "chimney": chimney,
        "smoke": smoke,
        "distractors": [
            _sample_distractor(rng, size, horizon, chimney) for _ in range(n_distractors)
        ],
    }


# ----------------------------------------------------------------------------- rendering


@dataclass
class RenderedScene:
    """One rendered image with its layers.

    Attributes:
        image: ``uint8 [H, W, 3]``.
        smoke_alpha: ``float32 [H, W]`` plume opacity, peaking at ``params["smoke"]["opacity"]``.
        smoke_mask: ``bool [H, W]`` visible smoke (``smoke_alpha >= MASK_ALPHA_THRESHOLD``).
        chimney_mask: ``bool [H, W]`` visible chimney pixels (not covered by smoke).
        distractor_mask: ``bool [H, W]`` visible cloud / haze pixels (not covered by anything).
        ground_mask: ``bool [H, W]`` visible ground, skyline and shed pixels (not covered by
            haze, chimney or smoke); with the masks above it splits the image into layers (the
            rest is open sky), which the proxy pre-training of ``wsss_lib.train.pretrain`` uses.
    """

    image: np.ndarray
    smoke_alpha: np.ndarray
    smoke_mask: np.ndarray
    chimney_mask: np.ndarray
    distractor_mask: np.ndarray
    ground_mask: np.ndarray


def _render_sky(params: dict[str, Any], size: int, low_noise: np.ndarray) -> np.ndarray:
    rows = (np.arange(size, dtype=np.float32) + 0.5) / max(params["horizon"], 1.0)
    t = np.clip(rows, 0.0, 1.0) ** 1.5
    top, bottom = (
        np.array(params["sky"]["top"], np.float32),
        np.array(params["sky"]["horizon"], np.float32),
    )
    gradient = top[None, :] * (1 - t[:, None]) + bottom[None, :] * t[:, None]
    image = np.broadcast_to(gradient[:, None, :], (size, size, 3)).copy()
    image += 0.012 * low_noise[..., None]
    return image


def _skyline_heights(rng: np.random.Generator, size: int) -> np.ndarray:
    """Per-column height of the distant skyline in pixels, ``float32 [size]``."""
    widths = rng.uniform(0.03, 0.12, 24) * size
    edges = np.cumsum(widths) - rng.uniform(0, widths[0])
    heights = rng.uniform(0.0, 0.07, 24) * size * (rng.random(24) < 0.8)
    column = np.arange(size) + 0.5
    index = np.minimum(np.searchsorted(edges, column), 23)
    return heights[index].astype(np.float32)


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


def render_scene(params: dict[str, Any]) -> RenderedScene:
    """Draw one scene from its parameter dict (see :func:`sample_scene_params`).

    Returns:
        The image and its smoke / chimney / distractor masks (rules in the module docstring).
    """
    size = int(params["image_size"])
    rng = np.random.default_rng(params["noise_seed"])
    low_noise = _fractal_noise(rng, size, base_cells=2, octaves=3)
    texture = _fractal_noise(rng, size, base_cells=4, octaves=_octaves_for(size, 4))
    image = _render_sky(params, size, low_noise)
    horizon = params["horizon"]
    rows = np.arange(size, dtype=np.float32)[:, None] + 0.5
    cols = np.arange(size, dtype=np.float32)[None, :] + 0.5

    # Distractors: clouds sit behind the skyline (their visible part is only sky), haze banks
    # in front of it. Masks are built back to front and cleared where a front layer covers them.
    skyline = horizon - _skyline_heights(rng, size)[None, :]
    sky_region = rows < skyline
    distractor_mask = np.zeros((size, size), bool)
    clouds = [d for d in params["distractors"] if d["kind"] == "cloud"]
    hazes = [d for d in params["distractors"] if d["kind"] == "haze"]
    for cloud in clouds:
        alpha = _density_to_alpha(_cloud_density(cloud, size), texture, cloud["opacity"])
        alpha *= sky_region
        _blend(image, alpha, cloud["color"], texture, 0.06)
        distractor_mask |= alpha >= MASK_ALPHA_THRESHOLD

    _render_ground(params, size, image, low_noise, texture, sky_region)
    distractor_mask &= sky_region

    for haze in hazes:
        alpha = _density_to_alpha(_cloud_density(haze, size), 0.5 * texture, haze["opacity"])
        _blend(image, alpha, haze["color"])
        distractor_mask |= alpha >= MASK_ALPHA_THRESHOLD

    front = np.zeros((size, size), bool)
    for shed in params["sheds"]:
        x0, y0, x1, y1 = shed["box"]
        box = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
        roof = box & (rows < y0 + max(1.0, 0.1 * (y1 - y0)))
        image[box] = shed["color"]
        image[roof] *= 0.75
        front |= box

    chimney_mask = np.zeros((size, size), bool)
    if params["chimney"] is not None:
        coverage = _render_chimney(params["chimney"], size, image)
        chimney_mask = coverage >= 0.5
        front |= chimney_mask

    smoke_alpha = np.zeros((size, size), np.float32)
    if params["smoke"] is not None:
        smoke_alpha = _plume_alpha(params, rng, size, texture, rows, cols)
        _blend(image, smoke_alpha, params["smoke"]["color"], texture, 0.07)
    smoke_mask = smoke_alpha >= MASK_ALPHA_THRESHOLD
    chimney_mask &= ~smoke_mask
    distractor_mask &= ~(front | smoke_mask)
    ground_mask = ~(sky_region | distractor_mask | chimney_mask | smoke_mask)

    pixels = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return RenderedScene(
        pixels, smoke_alpha, smoke_mask, chimney_mask, distractor_mask, ground_mask
    )


# ----------------------------------------------------------------------------- datasets


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run BLAS on one thread: the generator's matrices are tiny, and a multi-threaded BLAS
    spends far longer waking its threads than multiplying (10-50x slower on a busy machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it the generator is merely slower
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def generate_scenes(
    config: SceneConfig | None = None, *, name_prefix: str = "scene"
) -> SmokeScenes:
    """Generate a synthetic dataset.

    Labels: exactly ``round(n_images * smoke_ratio)`` smoke images, in a seeded random order.
    Image ``i`` is drawn from its own random stream ``SeedSequence([seed, i])``, so it does not
    depend on how many images are generated after it.

    Args:
        config: Settings; ``SceneConfig()`` when None.
        name_prefix: Image names are ``f"{name_prefix}_{i:05d}"``.

    Returns:
        :class:`SmokeScenes` with all three masks, one params dict per image and
        ``meta = {"generator_version", "config"}``.
    """
    config = config or SceneConfig()
    n, size = config.n_images, config.image_size
    labels = np.zeros(n, np.int64)
    labels[: int(round(n * config.smoke_ratio))] = 1
    np.random.default_rng([config.seed, 0x1ABE1]).shuffle(labels)

    images = np.empty((n, size, size, 3), np.uint8)
    smoke = np.empty((n, size, size), bool)
    chimney = np.empty((n, size, size), bool)
    distractor = np.empty((n, size, size), bool)
    params = []
    with _single_threaded_blas():
        for i in range(n):
            rng = np.random.default_rng([config.seed, i])
            scene_params = sample_scene_params(rng, config, int(labels[i]))
            rendered = render_scene(scene_params)
            images[i], smoke[i] = rendered.image, rendered.smoke_mask
            chimney[i], distractor[i] = rendered.chimney_mask, rendered.distractor_mask
            params.append(scene_params)
    return SmokeScenes(
        images=images,
        labels=labels,
        smoke_masks=smoke,
        chimney_masks=chimney,
        distractor_masks=distractor,
        names=[f"{name_prefix}_{i:05d}" for i in range(n)],
        params=params,
        meta={"generator_version": GENERATOR_VERSION, "config": config.to_dict()},
    )
