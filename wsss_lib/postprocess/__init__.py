"""Post-processing steps that refine soft CAMs using the image: ``step(cam, images) -> cam``.

A pipeline is a list of steps run by :func:`run_pipeline` (see :mod:`wsss_lib.postprocess.base`):

    from wsss_lib.postprocess import DenseCRF, PixelAdaptiveRefiner, run_pipeline
    refined = run_pipeline([PixelAdaptiveRefiner(), DenseCRF()], cam, images)

Steps that need no fitting are also registered by name (:mod:`wsss_lib.postprocess.registry`):
``make_refinement_steps(("par", "crf"))`` builds the same two steps.
"""

from __future__ import annotations

from wsss_lib.postprocess.affinity import AffinityRefiner
from wsss_lib.postprocess.base import (
    PostprocessStep,
    RefinementStep,
    check_cam,
    images_to_rgb_float,
    images_to_rgb_uint8,
    run_pipeline,
)
from wsss_lib.postprocess.clip_refine import ClipRefiner
from wsss_lib.postprocess.crf import DenseCRF
from wsss_lib.postprocess.pixel_adaptive import PixelAdaptiveRefiner
from wsss_lib.postprocess.registry import (
    REFINEMENT_STEPS,
    make_refinement_steps,
    register_refinement_step,
    unregister_refinement_step,
)
from wsss_lib.postprocess.sam_refine import SamRefiner

__all__ = [
    "AffinityRefiner",
    "ClipRefiner",
    "DenseCRF",
    "PixelAdaptiveRefiner",
    "PostprocessStep",
    "REFINEMENT_STEPS",
    "RefinementStep",
    "SamRefiner",
    "check_cam",
    "images_to_rgb_float",
    "images_to_rgb_uint8",
    "make_refinement_steps",
    "register_refinement_step",
    "run_pipeline",
    "unregister_refinement_step",
]
