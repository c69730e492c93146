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

The package, one module per job, each scene layer's sampling and rendering side by side:
:mod:`~wsss_lib.data.synthetic.config` (:class:`SceneConfig`, :data:`GENERATOR_VERSION`),
:mod:`~wsss_lib.data.synthetic.texture` (noise, puffs, blending), the layers
:mod:`~wsss_lib.data.synthetic.sky`, :mod:`~wsss_lib.data.synthetic.distractors` (clouds, haze),
:mod:`~wsss_lib.data.synthetic.ground` (skyline, ground, sheds),
:mod:`~wsss_lib.data.synthetic.chimney`, :mod:`~wsss_lib.data.synthetic.smoke`, and
:mod:`~wsss_lib.data.synthetic.scene` (one scene from its layers, a whole data set). Import from
``wsss_lib.data.synthetic``.
"""

from wsss_lib.data.synthetic.config import (
    GENERATOR_VERSION,
    MASK_ALPHA_THRESHOLD,
    MIN_IMAGE_SIZE,
    MIN_OPACITY,
    SceneConfig,
)
from wsss_lib.data.synthetic.scene import (
    RenderedScene,
    generate_scenes,
    render_scene,
    sample_scene_params,
)
from wsss_lib.data.synthetic.texture import (
    _blend as _blend,
)

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
