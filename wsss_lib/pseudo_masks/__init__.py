"""Pseudo-masks to disk: the product of WSSS, as PNG files a segmentation network can train on.

::

    from wsss_lib.pseudo_masks import CamReadout, export_pseudo_masks
    readout = CamReadout("gradcam", scales=(0.5, 1.0, 1.5, 2.0), threshold=0.3)
    result = export_pseudo_masks(run, scenes, "pseudo_masks/", readout)
    print(result.metrics)            # smoke IoU when the scenes have ground-truth masks

One PNG per image, ``<out_dir>/<image name>.png``: 8-bit grey, 255 = smoke, 0 = background.
The CAM comes from :func:`wsss_lib.cam.compute_cam` (the one place that fuses layers, averages
scales and upsamples), optionally refined by post-processing steps
(:mod:`wsss_lib.postprocess`), and is thresholded into the mask. Scenes whose images were resized
when loaded (``load_folder`` / ``load_coco`` record each image's original size and resize box in
``scenes.params``) get masks at the images' original size: the CAM is mapped back through the
letterbox / crop and upsampled (:func:`wsss_lib.data.resize.cam_to_original`); the ground truth
is never downsampled. Images of different sizes are fine: ``truth=`` takes their masks one by one
(:class:`wsss_lib.data.resize.TruthMasks`, from ``wsss_lib.runs.load_truth``); per-image metrics
are taken per image, pooled ones over all pixels, and every metric comes with what a trivial
predictor scores on the same data (:func:`trivial_baselines`).

``manifest.json`` beside the PNGs records the settings (method, layers, scales, fusion,
refinement steps, threshold, input geometry), the model (run id, config and its hash) and one
content hash per image. Every file is written atomically. Running the export again with the same
settings skips the images whose PNG already exists (an interrupted export resumes); an image whose
content changed is redone; other settings in the same folder are refused with an error, so one
folder never mixes masks of different settings.

The read-out (method, layers, scales, fusion, refinement steps, threshold) is one
:class:`~wsss_lib.cam.readout.CamReadout` (re-exported here); ``export_pseudo_masks`` and
``evaluate_scenes`` also take its fields as keyword arguments. The package, one job per module:
:mod:`~wsss_lib.pseudo_masks.settings` (the read-out resolved for a model, named refinement
steps), :mod:`~wsss_lib.pseudo_masks.scene_cams` (CAMs of scene sets and the
frame they are compared in), :mod:`~wsss_lib.pseudo_masks.evaluation` (metrics and trivial
baselines, :func:`evaluate_scenes`) and :mod:`~wsss_lib.pseudo_masks.export` (the PNGs and the
manifest). Import from ``wsss_lib.pseudo_masks``; every name below is re-exported here.
"""

from wsss_lib.cam.readout import CamReadout
from wsss_lib.pseudo_masks.evaluation import (
    evaluate_scenes,
    metrics_at_original_size,
    recall_per_opacity,
    trivial_baselines,
)
from wsss_lib.pseudo_masks.export import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    ExportResult,
    export_pseudo_masks,
    read_mask_png,
)
from wsss_lib.pseudo_masks.scene_cams import (
    compute_scene_cams,
    masks_at_original_size,
)
from wsss_lib.pseudo_masks.settings import (
    REFINEMENT_STEPS,
    make_refinement_steps,
    resolve_cam_settings,
)

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "REFINEMENT_STEPS",
    "CamReadout",
    "ExportResult",
    "compute_scene_cams",
    "evaluate_scenes",
    "export_pseudo_masks",
    "make_refinement_steps",
    "masks_at_original_size",
    "metrics_at_original_size",
    "recall_per_opacity",
    "read_mask_png",
    "resolve_cam_settings",
    "trivial_baselines",
]
