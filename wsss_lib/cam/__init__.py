"""Class activation maps: torch CAM and Grad-CAM, a pytorch-grad-cam adapter, fusion, multi-scale.

:func:`compute_cam` is the one pipeline from images to a CAM (upsample, fuse layers, average
scales, normalise); :class:`LayerCams` keeps every layer's raw map to build many fused CAMs with
the same steps. CAM methods are registered by name (:func:`register_cam_method`, module
:mod:`wsss_lib.cam.methods`); ``CAM_METHODS`` lists the built-in ones.

How a CAM is read is one value, :class:`CamReadout` (method, layers, scales, fusion,
normalisation, threshold, refinement steps; :mod:`wsss_lib.cam.readout`). Path from images to
pseudo-masks::

    readout = CamReadout("cam", threshold=0.3)
    cam = compute_cam(model, images, **readout.cam_kwargs())  # float [B, H, W] in [0, 1]
    masks = pseudo_masks(cam, threshold=readout.threshold)    # bool [B, H, W]
"""

from wsss_lib.cam.fusion import (
    CAM_METHODS,
    FUSION_RULES,
    compute_cam,
    fuse_cams,
    fuse_layer_maps,
    mean_over_scales,
    multiscale_cam,
    sliding_window_cam,
)
from wsss_lib.cam.gradcam_adapter import GRADCAM_METHODS, GradCamAdapter
from wsss_lib.cam.layer_maps import LayerCams, layer_gradcams
from wsss_lib.cam.methods import (
    CamRequest,
    cam_method_names,
    canonical_cam_method,
    register_cam_method,
    unregister_cam_method,
)
from wsss_lib.cam.readout import CamReadout, layer_cams_readout, readout_or_settings
from wsss_lib.cam.torch_cam import (
    NORMALIZE_MODES,
    CamResult,
    class_activation_map,
    default_gradcam_layers,
    normalize_cam,
    pseudo_masks,
    torch_gradcam,
    upsample_cam,
)

__all__ = [
    "CAM_METHODS",
    "FUSION_RULES",
    "GRADCAM_METHODS",
    "NORMALIZE_MODES",
    "CamRequest",
    "CamReadout",
    "CamResult",
    "GradCamAdapter",
    "LayerCams",
    "cam_method_names",
    "canonical_cam_method",
    "class_activation_map",
    "compute_cam",
    "default_gradcam_layers",
    "fuse_cams",
    "fuse_layer_maps",
    "layer_cams_readout",
    "layer_gradcams",
    "mean_over_scales",
    "multiscale_cam",
    "normalize_cam",
    "pseudo_masks",
    "readout_or_settings",
    "register_cam_method",
    "sliding_window_cam",
    "torch_gradcam",
    "unregister_cam_method",
    "upsample_cam",
]
