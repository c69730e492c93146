"""From an image batch to one CAM: fusing layers, averaging scales, tiling large images.

The paper's fusion rule: every map is ReLU'd and min-max normalised, the maps are averaged, and
the average is normalised again (:func:`fuse_cams`). :func:`compute_cam` chains everything::

    cam = compute_cam(model, images, method="gradcam", scales=(1.0, 1.5))  # float [B, H, W]
    masks = pseudo_masks(cam, 0.3)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack

import torch
import torch.nn.functional as F
from torch import Tensor

from wsss_lib.cam.gradcam_adapter import GRADCAM_METHODS, GradCamAdapter
from wsss_lib.cam.methods import (
    CamFn,
    CamRequest,
    cam_method,
    cam_method_names,
    register_cam_method,
)
from wsss_lib.cam.torch_cam import (
    NORMALIZE_MODES,
    check_images,
    class_activation_map,
    default_gradcam_layers,
    normalize_cam,
    torch_gradcam,
    upsample_cam,
)
from wsss_lib.models import WSSSClassifier

__all__ = [
    "CAM_METHODS",
    "FUSION_RULES",
    "compute_cam",
    "fuse_cams",
    "fuse_layer_maps",
    "mean_over_scales",
    "multiscale_cam",
    "resize_images",
    "scaled_size",
    "sliding_window_cam",
]

FUSION_RULES = ("mean", "max", "weighted")


def fuse_cams(
    cams: Sequence[Tensor],
    rule: str = "mean",
    weights: Sequence[float] | None = None,
    normalize: str = "minmax",
) -> Tensor:
    """Fuse maps of the same images (e.g. from several layers) into one.

    Each map is ReLU'd and normalised with ``normalize`` (the paper: min-max), maps of different
    sizes are bilinearly resized to the largest one, combined by ``rule``, and the result is
    normalised again with ``normalize``.

    Args:
        cams: float ``[B, H_i, W_i]`` maps.
        rule: ``"mean"``, ``"max"`` (per pixel) or ``"weighted"`` (weighted mean).
        weights: One non-negative weight per map for ``"weighted"`` (they are rescaled to sum 1).
        normalize: One of ``NORMALIZE_MODES``.

    Returns:
        float ``[B, H, W]`` (largest ``H, W`` of the inputs).
    """
    if rule not in FUSION_RULES:
        raise ValueError(f"Unknown fusion rule {rule!r}; valid: {FUSION_RULES}.")
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize={normalize!r} is not one of {NORMALIZE_MODES}.")
    cams = list(cams)
    if not cams:
        raise ValueError("fuse_cams got no maps; pass at least one [B, H, W] tensor.")
    for cam in cams:
        if cam.dim() != 3 or cam.shape[0] != cams[0].shape[0]:
            raise ValueError(
                f"Every map must be [B, H, W] with the same B; got {[tuple(c.shape) for c in cams]}"
            )
    size = max((c.shape[-2], c.shape[-1]) for c in cams)
    stack = torch.stack([normalize_cam(upsample_cam(F.relu(c), size), normalize) for c in cams])
    if rule == "max":
        fused = stack.amax(dim=0)
    elif rule == "mean":
        fused = stack.mean(dim=0)
    else:
        if weights is None or len(weights) != len(cams):
            raise ValueError(f"rule='weighted' needs one weight per map ({len(cams)}): {weights}")
        w = torch.as_tensor(list(weights), dtype=stack.dtype, device=stack.device)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"Fusion weights must be >= 0 with a positive sum, got {weights}.")
        fused = (stack * (w / w.sum()).view(-1, 1, 1, 1)).sum(dim=0)
    return normalize_cam(fused, normalize)


def fuse_layer_maps(
    maps: Sequence[Tensor],
    size: tuple[int, int],
    extent: tuple[int, int],
    rule: str = "mean",
    weights: Sequence[float] | None = None,
    normalize: str = "minmax",
) -> Tensor:
    """Raw layer maps of one image batch upsampled to the image and fused (:func:`fuse_cams`).

    Args:
        maps: float ``[B, h_i, w_i]`` maps at the feature grids (e.g. ``torch_gradcam`` values).
        size: ``(H, W)`` of the images the maps were computed on.
        extent: The padded area the grids cover (``WSSSClassifier.grid_extent(size)``).
        rule, weights, normalize: As in :func:`fuse_cams`.

    Returns:
        float ``[B, H, W]``.
    """
    upsampled = [upsample_cam(m, size, extent) for m in maps]
    return fuse_cams(upsampled, rule=rule, weights=weights, normalize=normalize)


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(H, W)`` of an image of ``size`` resized by ``scale`` (at least one pixel per side)."""
    return (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def resize_images(images: Tensor, size: tuple[int, int]) -> Tensor:
    """float ``[B, 3, H, W]`` resized bilinearly to ``size`` (returned as is when equal)."""
    if (images.shape[-2], images.shape[-1]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)


def mean_over_scales(maps: Iterable[Tensor], size: tuple[int, int]) -> Tensor:
    """Mean of maps of the same images at several scales, each upsampled to ``size`` first.

    Args:
        maps: float ``[B, h_i, w_i]``, one per scale (consumed lazily, one at a time).
        size: ``(H, W)`` of the original images.

    Returns:
        float ``[B, H, W]`` (not renormalised).
    """
    total, count = None, 0
    for cam in maps:
        cam = upsample_cam(cam, size)
        total = cam if total is None else total + cam
        count += 1
    if total is None:
        raise ValueError("mean_over_scales got no maps; pass at least one scale.")
    return total / count


def multiscale_cam(cam_fn: CamFn, images: Tensor,
                   scales: Sequence[float] = (0.5, 1.0, 1.5, 2.0)) -> Tensor:
    """Average of ``cam_fn`` over rescaled copies of the batch.

    Args:
        cam_fn: ``images [B, 3, h, w] -> cams [B, h', w']`` (any ``h', w'``).
        images: float ``[B, 3, H, W]``.
        scales: Resize factors (bilinear); each map is resized back to ``(H, W)``.

    Returns:
        float ``[B, H, W]``, the mean over scales (not renormalised).
    """
    check_images(images)
    if not scales or any(not s > 0 for s in scales):
        raise ValueError(f"scales must be a non-empty list of positive factors, got {scales!r}.")
    size = (images.shape[-2], images.shape[-1])
    per_scale = (cam_fn(resize_images(images, scaled_size(size, scale))) for scale in scales)
    return mean_over_scales(per_scale, size)


def _window_starts(length: int, window: int, stride: int) -> list[int]:
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)  # last window flush with the border
    return starts


def sliding_window_cam(cam_fn: CamFn, images: Tensor, window: int,
                       stride: int | None = None) -> Tensor:
    """CAM of a large image stitched from overlapping square windows (overlaps averaged).

    Give ``cam_fn`` *unnormalised* maps (e.g. ``lambda x: class_activation_map(model, x,
    normalize="none")``) and normalise the stitched result once: per-window normalisation would
    stretch windows without smoke to full brightness.

    Args:
        cam_fn: ``images [B, 3, h, w] -> cams [B, h', w']``.
        images: float ``[B, 3, H, W]``.
        window: Window side in pixels (images smaller than it are processed whole).
        stride: Step between windows, at most ``window`` (default ``window // 2``).

    Returns:
        float ``[B, H, W]``.
    """
    check_images(images)
    stride = window // 2 if stride is None else stride
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be positive (window={window}, stride={stride}).")
    if stride > window:
        raise ValueError(
            f"stride={stride} is larger than window={window}: the pixels between windows would "
            "get no CAM; use a stride of at most the window (default window // 2)."
        )
    height, width = images.shape[-2], images.shape[-1]
    total = images.new_zeros(images.shape[0], height, width)
    count = images.new_zeros(1, height, width)
    for top in _window_starts(height, window, stride):
        for left in _window_starts(width, window, stride):
            tile = images[..., top:top + window, left:left + window]
            cam = upsample_cam(cam_fn(tile), (tile.shape[-2], tile.shape[-1]))
            total[:, top:top + tile.shape[-2], left:left + tile.shape[-1]] += cam
            count[:, top:top + tile.shape[-2], left:left + tile.shape[-1]] += 1
    return total / count


# --- built-in CAM methods (registry: wsss_lib.cam.methods) --------------------------------------
# "cam" and "gradcam" are computed in torch; the others through pytorch-grad-cam. Registered here,
# next to the fusion they use, in the order of CAM_METHODS.


@register_cam_method("cam", takes_layers=False)
def _score_map_cam(request: CamRequest) -> CamFn:
    """The classifier's own score map (:func:`class_activation_map`), normalised per scale."""

    def cam_fn(batch: Tensor) -> Tensor:
        with torch.no_grad():
            return class_activation_map(request.model, batch, normalize=request.normalize,
                                        target=request.target)

    return cam_fn


@register_cam_method("gradcam")
def _torch_gradcam(request: CamRequest) -> CamFn:
    """Grad-CAM in torch (:func:`torch_gradcam`), layers upsampled and fused per scale."""
    model = request.model

    def cam_fn(batch: Tensor) -> Tensor:
        maps = torch_gradcam(model, batch, request.layers, target=request.target)
        size = (batch.shape[-2], batch.shape[-1])
        return fuse_layer_maps(list(maps.values()), size, model.grid_extent(size),
                               request.fusion, request.fusion_weights, request.normalize)

    return cam_fn


class _PytorchGradCam:
    """A pytorch-grad-cam method through :class:`GradCamAdapter`, its layer maps fused per scale.

    The adapter (its hooks) lives until ``request.stack`` closes.
    """

    def __init__(self, method: str) -> None:
        self.method = method

    def __call__(self, request: CamRequest) -> CamFn:
        adapter = request.stack.enter_context(
            GradCamAdapter(request.model, method=self.method, layers=request.layers,
                           target=request.target)
        )

        def cam_fn(batch: Tensor) -> Tensor:
            return fuse_cams(adapter.layer_maps(batch), rule=request.fusion,
                             weights=request.fusion_weights, normalize=request.normalize)

        return cam_fn


_GRADCAM_ALIASES = {"gradcam++": ("gradcampp", "gradcamplusplus")}
for _name in sorted(set(GRADCAM_METHODS) - {"gradcam"}):
    register_cam_method(_name, aliases=_GRADCAM_ALIASES.get(_name, ()))(_PytorchGradCam(_name))
del _name

#: The built-in methods' names; a snapshot taken at import: methods registered later are in
#: :func:`wsss_lib.cam.methods.cam_method_names` only.
CAM_METHODS = cam_method_names()


def compute_cam(
    model: WSSSClassifier,
    images: Tensor,
    method: str = "cam",
    layers: str | int | Sequence[str | int] | None = None,
    scales: Sequence[float] = (1.0,),
    fusion: str = "mean",
    normalize: str = "minmax",
    *,
    fusion_weights: Sequence[float] | None = None,
    target: int = 0,
) -> Tensor:
    """One call from an image batch to a fused, upsampled CAM.

    Per scale: the map(s) of ``method`` at image size, fused over layers with :func:`fuse_cams`;
    then the scales are averaged (:func:`multiscale_cam`) and normalised with ``normalize``. The
    model runs in eval mode (its mode is restored afterwards) on its own device.

    Args:
        model: A ``WSSSClassifier``.
        images: float ``[B, 3, H, W]``.
        method: A registered CAM method, any spelling (:mod:`wsss_lib.cam.methods`): ``"cam"``
            (score map; no layers), ``"gradcam"`` (torch Grad-CAM) or a pytorch-grad-cam method
            (``CAM_METHODS``: ``"gradcam++"``, ``"layercam"``, ...).
        layers: Grad-CAM layers (default :func:`default_gradcam_layers`).
        scales: Image resize factors averaged over (e.g. ``(0.5, 1.0, 1.5, 2.0)``).
        fusion: Layer fusion rule (``FUSION_RULES``).
        normalize: ``NORMALIZE_MODES``; ``"minmax"``/``"max"`` give maps in ``[0, 1]``, ``"none"``
            keeps raw ReLU'd values (pytorch-grad-cam methods are min-max normalised per layer
            by the library in any case).
        fusion_weights: Per-layer weights for ``fusion="weighted"``.
        target: Class index (0 = smoke).

    Returns:
        float ``[B, H, W]`` on the device of ``images``, without autograd history.
    """
    check_images(images)
    entry = cam_method(method)
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize={normalize!r} is not one of {NORMALIZE_MODES}.")
    if fusion not in FUSION_RULES:
        raise ValueError(f"Unknown fusion rule {fusion!r}; valid: {FUSION_RULES}.")
    if not entry.takes_layers and layers is not None:
        raise ValueError(
            f"method={entry.name!r} reads no intermediate layer and takes no layers; use "
            "method='gradcam' (or another Grad-CAM method) for layer maps."
        )
    device = next(model.parameters()).device
    x = images.detach().to(device)
    if entry.takes_layers:
        layers = default_gradcam_layers(model) if layers is None else layers
    was_training = model.training
    model.eval()
    try:
        with ExitStack() as stack:
            request = CamRequest(model, layers, target, fusion, fusion_weights, normalize, stack)
            cam_fn = entry.factory(request)
            cam = normalize_cam(multiscale_cam(cam_fn, x, scales), normalize)
    finally:
        model.train(was_training)
    return cam.detach().to(images.device)
