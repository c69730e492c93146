"""CAMs in pure torch: differentiable, batched, with explicit normalisation.

- :func:`class_activation_map`: the classifier's score map (head at every location), ReLU'd,
  upsampled and normalised. Works for CNNs and ViTs alike and stays in the autograd graph, so it
  can be used inside a training loss.
- :func:`torch_gradcam`: Grad-CAM computed with ``torch.autograd.grad`` (no numpy), raw and ReLU'd,
  optionally differentiable (``create_graph=True``).

Normalisation is always an explicit argument (``NORMALIZE_MODES``): ``"minmax"`` (per image, the
library default, as ToCo), ``"max"`` (per image, as IRN; assumes a ReLU'd map), ``"none"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from wsss_lib.models import WSSSClassifier
from wsss_lib.models.classifier import check_images
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "NORMALIZE_MODES",
    "CamResult",
    "class_activation_map",
    "default_gradcam_layers",
    "normalize_cam",
    "pseudo_masks",
    "torch_gradcam",
    "upsample_cam",
]

NORMALIZE_MODES = ("none", "max", "minmax")
_EPS = 1e-8


@dataclass
class CamResult:
    """A CAM together with what it was made from.

    Attributes:
        cam: float ``[B, H, W]`` upsampled (when asked) and normalised map.
        raw: float ``[B, h, w]`` ReLU'd, unnormalised map at feature resolution.
        logits: float ``[B, K]`` of the same forward pass.
    """

    cam: Tensor
    raw: Tensor
    logits: Tensor


def _check_mode(normalize: str) -> None:
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize={normalize!r} is not one of {NORMALIZE_MODES}.")


def normalize_cam(cam: Tensor | np.ndarray, mode: str = "minmax") -> Tensor | np.ndarray:
    """Normalise each image's map separately.

    Args:
        cam: float ``[B, ...]`` (typically ``[B, H, W]``) torch tensor or numpy array (the
            result is of the same kind); statistics are taken per image.
        mode: ``"minmax"`` -> ``(cam - min) / (max - min)`` (min 0, max 1); ``"max"`` ->
            ``cam / max`` (max 1, zero stays zero; pass a ReLU'd map); ``"none"`` -> unchanged.
            A constant (e.g. all-zero) map becomes all zeros rather than NaN.

    Returns:
        Tensor of the same shape (the input itself for ``"none"``).
    """
    _check_mode(mode)
    if isinstance(cam, np.ndarray):
        return normalize_cam(torch.from_numpy(cam), mode).numpy()
    if mode == "none":
        return cam
    flat = cam.reshape(cam.shape[0], -1)
    high = flat.amax(dim=1)
    if mode == "max":
        scaled = flat / high.clamp_min(_EPS).unsqueeze(1)
    else:
        low = flat.amin(dim=1, keepdim=True)
        scaled = (flat - low) / (high.unsqueeze(1) - low).clamp_min(_EPS)
    return scaled.reshape(cam.shape)


def upsample_cam(cam: Tensor | np.ndarray, size: int | Sequence[int],
                 extent: Sequence[int] | None = None) -> Tensor | np.ndarray:
    """Bilinearly resize maps ``[B, h, w]`` (or ``[B, K, h, w]``) to ``size`` ``(H, W)``.

    Args:
        cam: The maps (torch or numpy; the result is of the same kind, float).
        size: Output ``(H, W)`` (or one int for a square).
        extent: Image area ``(H', W') >= (H, W)`` the maps cover when the model padded its input
            (``model.grid_extent(size)`` for ViTs): resize to ``extent``, then crop the top-left
            ``(H, W)``, which keeps the map aligned with the image.
    """
    if isinstance(cam, np.ndarray):
        return upsample_cam(torch.from_numpy(cam), size, extent).numpy()
    if cam.dim() not in (3, 4):
        raise ValueError(f"Expected a CAM [B, h, w] or [B, K, h, w], got shape {tuple(cam.shape)}.")
    size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    target = size if extent is None else (int(extent[0]), int(extent[1]))
    if target[0] < size[0] or target[1] < size[1]:
        raise ValueError(f"extent {target} must be at least the output size {size}.")
    if tuple(cam.shape[-2:]) != target:
        batched = cam if cam.dim() == 4 else cam.unsqueeze(1)
        resized = F.interpolate(batched.float(), size=target, mode="bilinear", align_corners=False)
        cam = resized if cam.dim() == 4 else resized.squeeze(1)
    return cam[..., : size[0], : size[1]]


def _check_target(model: WSSSClassifier, target: int) -> None:
    if not 0 <= target < model.num_classes:
        raise ValueError(f"target={target} but the model has {model.num_classes} class logit(s).")


def class_activation_map(
    model: WSSSClassifier,
    images: Tensor,
    normalize: str = "minmax",
    upsample: bool = True,
    *,
    target: int = 0,
    return_raw: bool = False,
) -> Tensor | CamResult:
    """The classifier's CAM: its score map for class ``target``, ReLU'd and normalised.

    CNN: the 1x1-conv classifier applied to the last feature map (PCM-refined for PCM models);
    ViT: the linear head applied to every final patch token. Differentiable: gradients flow to the
    model's parameters. The model's train/eval mode is left as it is.

    Args:
        model: A ``WSSSClassifier``.
        images: float ``[B, 3, H, W]``.
        normalize: One of ``NORMALIZE_MODES`` (applied after upsampling).
        upsample: Resize to ``(H, W)``; else keep the feature resolution ``(h, w)``.
        target: Class index (0 = smoke).
        return_raw: Return a :class:`CamResult` with the raw map and logits as well.

    Returns:
        float ``[B, H, W]`` (or ``[B, h, w]``), or a :class:`CamResult`.
    """
    check_images(images)
    _check_mode(normalize)
    _check_target(model, target)
    out = model(images)
    raw = F.relu(out.score_map[:, target])
    size = (images.shape[-2], images.shape[-1])
    cam = upsample_cam(raw, size, model.grid_extent(size)) if upsample else raw
    cam = normalize_cam(cam, normalize)
    return CamResult(cam=cam, raw=raw, logits=out.logits) if return_raw else cam


def default_gradcam_layers(model: WSSSClassifier) -> list[str]:
    """Layers Grad-CAM taps by default.

    CNN: ``layer4``. ViT: ``norm1`` of blocks ``[-5, -4, -2, -1]`` (the paper's choice). ``norm1``
    rather than the block output because the CLS logit does not depend on the last block's patch
    outputs (the head reads only the CLS token), so Grad-CAM there is zero; ``norm1`` feeds the
    last attention, through which patch tokens do reach the CLS token.
    """
    if model.family == "cnn":
        return ["layer4"]
    depth = len(model.layer_names)
    blocks = sorted({depth + i for i in (-5, -4, -2, -1) if depth + i >= 0})
    return [f"blocks.{i}.norm1" for i in blocks]


def torch_gradcam(
    model: WSSSClassifier,
    images: Tensor,
    layers: str | int | Sequence[str | int],
    create_graph: bool = False,
    *,
    target: int = 0,
) -> dict[str, Tensor]:
    """Grad-CAM of class ``target`` at each layer: ``relu(sum_c mean_hw(dy/dA_c) * A_c)``.

    Layers are model layer names/indices (``"layer4"``, ``"blocks.7"``, ``-1``) or sub-modules of
    one (``"blocks.11.norm1"``, ``"layer4.1.conv2"``); see :func:`default_gradcam_layers`. Each is
    tapped with a forward hook that is removed before returning. (The ViT grids in
    ``ClassifierOutput.features`` are reshaped copies outside the path to the logits, so their
    gradient would be zero: the hooked token tensors are differentiated instead.) In training
    mode BatchNorm mixes images of a batch; call ``model.eval()`` for per-image maps.

    Args:
        model: A ``WSSSClassifier``.
        images: float ``[B, 3, H, W]``.
        layers: One layer spec or several.
        create_graph: Keep the result differentiable w.r.t. the parameters (for use in a loss);
            otherwise the maps are detached.
        target: Class index (0 = smoke).

    Returns:
        Canonical layer name -> float ``[B, h_l, w_l]``, raw (unnormalised) and ReLU'd.
    """
    check_images(images)
    _check_target(model, target)
    specs = [layers] if isinstance(layers, (str, int)) else list(layers)
    if not specs:
        raise ValueError(f"No layers given; e.g. {default_gradcam_layers(model)}.")
    modules = dict(model.resolve_module(spec) for spec in specs)
    captured: dict[str, Tensor] = {}

    def tap(name: str):
        return lambda _module, _inputs, output: captured.__setitem__(name, output)

    handles = [module.register_forward_hook(tap(name)) for name, module in modules.items()]
    # CPU's fused attention kernel has no double backward: use the math kernel for create_graph.
    attention = sdpa_kernel(SDPBackend.MATH) if create_graph else nullcontext()
    with torch.enable_grad(), attention:
        if not images.requires_grad:  # so frozen (sub)networks still get activation gradients
            images = images.detach().requires_grad_(True)
        try:
            logits = model(images).logits
        finally:
            for handle in handles:
                handle.remove()
        names = list(modules)
        activations = [captured[name] for name in names]
        grads = torch.autograd.grad(logits[:, target].sum(), activations, create_graph=create_graph)
    size = (images.shape[-2], images.shape[-1])
    cams = {}
    for name, act, grad in zip(names, activations, grads, strict=True):
        act, grad = model.to_grid(act, size), model.to_grid(grad, size)
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * act).sum(dim=1))
        cams[name] = cam if create_graph else cam.detach()
    return cams


def pseudo_masks(
    cam: Tensor | np.ndarray, threshold: float = PAPER_THRESHOLD
) -> Tensor | np.ndarray:
    """Pseudo-mask ``cam > threshold`` (paper: 0.3 on min-max normalised CAMs).

    Args:
        cam: float ``[B, H, W]`` torch tensor or numpy array.
        threshold: Foreground threshold.

    Returns:
        bool ``[B, H, W]`` of the same kind (torch or numpy) as ``cam``.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number (paper: 0.3), got {threshold!r}.")
    if cam.ndim != 3:
        raise ValueError(f"Expected a CAM [B, H, W], got {tuple(cam.shape)}; add a batch axis.")
    return cam > threshold
