"""Post-processing steps that refine soft CAMs using the image: ``step(cam, images) -> cam``.

A pipeline is a list of steps run by :func:`run_pipeline` (see :mod:`wsss_lib.postprocess.base`).
"""

from __future__ import annotations

from wsss_lib.postprocess.base import (
    PostprocessStep,
    RefinementStep,
    check_cam,
    images_to_rgb_float,
    images_to_rgb_uint8,
    run_pipeline,
)
from wsss_lib.postprocess.crf import DenseCRF
from wsss_lib.postprocess.pixel_adaptive import PixelAdaptiveRefiner

__all__ = [
    "DenseCRF",
    "PixelAdaptiveRefiner",
    "PostprocessStep",
    "RefinementStep",
    "check_cam",
    "images_to_rgb_float",
    "images_to_rgb_uint8",
    "run_pipeline",
]

# Steps written in parallel by another engineer: re-exported once their modules exist.
# TODO(lead): make these imports plain when affinity/clip_refine/sam_refine are in.
try:
    from wsss_lib.postprocess.affinity import AffinityRefiner  # noqa: F401

    __all__.append("AffinityRefiner")
except ModuleNotFoundError as err:
    if err.name != "wsss_lib.postprocess.affinity":
        raise
try:
    from wsss_lib.postprocess.clip_refine import ClipRefiner  # noqa: F401

    __all__.append("ClipRefiner")
except ModuleNotFoundError as err:
    if err.name != "wsss_lib.postprocess.clip_refine":
        raise
try:
    from wsss_lib.postprocess.sam_refine import SamRefiner  # noqa: F401

    __all__.append("SamRefiner")
except ModuleNotFoundError as err:
    if err.name != "wsss_lib.postprocess.sam_refine":
        raise
