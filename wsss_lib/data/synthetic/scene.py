"""One scene from its layers: sampling every layer's parameters (:func:`sample_scene_params`),
drawing them back to front into an image and its masks (:func:`render_scene`), and a whole data
set from a :class:`SceneConfig` (:func:`generate_scenes`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsss_lib.data.scenes import SmokeScenes
from wsss_lib.data.synthetic.chimney import _render_chimney, _sample_chimney
from wsss_lib.data.synthetic.config import GENERATOR_VERSION, MASK_ALPHA_THRESHOLD, SceneConfig
from wsss_lib.data.synthetic.distractors import _cloud_density, _sample_distractor
from wsss_lib.data.synthetic.ground import (
    _GROUND_COLORS,
    _SHED_COLORS,
    _render_ground,
    _skyline_heights,
)
from wsss_lib.data.synthetic.sky import _SKIES, _render_sky
from wsss_lib.data.synthetic.smoke import _plume_alpha, _sample_smoke
from wsss_lib.data.synthetic.texture import (
    _blend,
    _density_to_alpha,
    _fractal_noise,
    _octaves_for,
    _pick,
    _r,
)


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
