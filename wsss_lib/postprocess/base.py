"""The post-processing step protocol, input checks shared by all steps, and ``run_pipeline``.

A post-processing step refines a soft CAM using the image it came from::

    refined = step(cam, images)      # cam float [B, H, W] in [0, 1] -> float [B, H, W] in [0, 1]

``images`` may be the library's normalised float batch ``[B, 3, H, W]``
(:func:`wsss_lib.data.to_tensor_batch`) or the datasets' ``uint8 [B, H, W, 3]`` RGB arrays; a step
converts them with :func:`images_to_rgb_uint8` or :func:`images_to_rgb_float`. Every step also
has a ``name`` and a ``params()`` dict (JSON-able) so reports and widgets can list what ran.

Steps subclass :class:`RefinementStep`, which validates the inputs once, runs ``refine`` and
checks the output, so each concrete step only writes the refinement itself. A pipeline is a plain
list of steps (a widget can toggle entries) run in order by :func:`run_pipeline`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "PostprocessStep",
    "RefinementStep",
    "check_cam",
    "images_to_rgb_float",
    "images_to_rgb_uint8",
    "run_pipeline",
]

# Values of wsss_lib.data.IMAGENET_MEAN / IMAGENET_STD (timm's IMAGENET_DEFAULT_*); repeated here
# so the post-processing package does not depend on the data module being importable.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# CAMs are min-max normalised in float32; allow rounding noise just outside [0, 1].
_RANGE_TOLERANCE = 1e-4


@runtime_checkable
class PostprocessStep(Protocol):
    """What every post-processing step provides (structural type; subclassing is optional)."""

    name: str

    def __call__(self, cam: Tensor, images: Tensor | np.ndarray) -> Tensor:
        """Refine ``cam`` float ``[B, H, W]`` in ``[0, 1]``; return the same shape in ``[0, 1]``."""
        ...

    def params(self) -> dict[str, Any]:
        """The step's settings as a JSON-able dict, for reports and cache keys."""
        ...


class RefinementStep(ABC):
    """Base class for steps: validates inputs and output around :meth:`refine`.

    Subclasses set ``name``, implement :meth:`refine` and :meth:`params`.
    """

    name: str = "step"

    def __call__(self, cam: Tensor, images: Tensor | np.ndarray) -> Tensor:
        """Check ``cam`` / ``images``, refine, and check the result.

        Args:
            cam: float ``[B, H, W]`` soft map in ``[0, 1]``.
            images: float ``[B, 3, H, W]`` ImageNet-normalised, or uint8 ``[B, H, W, 3]`` RGB;
                same ``B, H, W`` as ``cam``.

        Returns:
            float ``[B, H, W]`` in ``[0, 1]`` on ``cam``'s device.
        """
        check_cam(cam, images, step=self.name)
        refined = self.refine(cam, images)
        if refined.shape != cam.shape:
            raise RuntimeError(
                f"Step {self.name!r} returned shape {tuple(refined.shape)} for a CAM of shape "
                f"{tuple(cam.shape)}; a step must keep the CAM's shape."
            )
        return refined.clamp(0.0, 1.0)

    @abstractmethod
    def refine(self, cam: Tensor, images: Tensor | np.ndarray) -> Tensor:
        """Refine a validated ``cam`` float ``[B, H, W]``; return float ``[B, H, W]``."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The step's settings as a JSON-able dict."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def _image_batch_shape(images: Tensor | np.ndarray) -> tuple[int, int, int]:
    """Return ``(B, H, W)`` of an image batch in either accepted layout, or raise ValueError."""
    if not isinstance(images, (Tensor, np.ndarray)):
        raise ValueError(
            f"images must be a torch tensor or numpy array, got {type(images).__name__}."
        )
    if images.ndim != 4:
        raise ValueError(
            f"images must be a batch: float [B, 3, H, W] or uint8 [B, H, W, 3]; got "
            f"{images.ndim} dims (shape {tuple(images.shape)}). Add a batch dimension "
            "(e.g. images[None])."
        )
    is_uint8 = images.dtype == (torch.uint8 if isinstance(images, Tensor) else np.uint8)
    if is_uint8:
        if images.shape[-1] != 3:
            raise ValueError(
                f"uint8 images must be RGB [B, H, W, 3]; got shape {tuple(images.shape)}."
            )
        return int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    if images.shape[1] != 3:
        raise ValueError(
            f"float images must be ImageNet-normalised [B, 3, H, W]; got shape "
            f"{tuple(images.shape)}. Use wsss_lib.data.to_tensor_batch on uint8 [B, H, W, 3] "
            "images, or pass the uint8 array itself."
        )
    return int(images.shape[0]), int(images.shape[2]), int(images.shape[3])


def check_cam(cam: Tensor, images: Tensor | np.ndarray | None = None, step: str = "step") -> None:
    """Raise ValueError unless ``cam`` is a float ``[B, H, W]`` map in ``[0, 1]`` matching images.

    Args:
        cam: the soft map to check.
        images: optional image batch whose ``B, H, W`` must equal the CAM's.
        step: name used in the error messages.
    """
    if not isinstance(cam, Tensor) or not cam.is_floating_point():
        kind = cam.dtype if isinstance(cam, Tensor) else type(cam).__name__
        raise ValueError(f"{step}: cam must be a float torch tensor [B, H, W], got {kind}.")
    if cam.ndim != 3:
        raise ValueError(
            f"{step}: cam must be [B, H, W], got shape {tuple(cam.shape)}. "
            "Squeeze the class dimension or add a batch dimension."
        )
    if cam.numel() > 0:
        if not torch.isfinite(cam).all():
            raise ValueError(f"{step}: cam contains NaN or inf values.")
        low, high = float(cam.min()), float(cam.max())
        if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
            raise ValueError(
                f"{step}: cam values must lie in [0, 1], got [{low:.4g}, {high:.4g}]. "
                "Normalise first, e.g. wsss_lib.cam.normalize_cam(cam, 'minmax')."
            )
    if images is not None:
        image_bhw = _image_batch_shape(images)
        if image_bhw != tuple(cam.shape):
            raise ValueError(
                f"{step}: cam has (B, H, W) = {tuple(cam.shape)} but images have "
                f"{image_bhw}. Upsample the CAM to the image size first "
                "(wsss_lib.cam.upsample_cam)."
            )


def images_to_rgb_float(
    images: Tensor | np.ndarray, device: torch.device | str | None = None
) -> Tensor:
    """Convert an image batch to float RGB ``[B, 3, H, W]`` in ``[0, 1]``.

    Args:
        images: float ``[B, 3, H, W]`` ImageNet-normalised, or uint8 ``[B, H, W, 3]``.
        device: where to put the result (default: the images' device).

    Returns:
        float32 ``[B, 3, H, W]`` with values in ``[0, 1]``.
    """
    _image_batch_shape(images)
    images = torch.as_tensor(images, device=device)
    if images.dtype == torch.uint8:
        return images.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(_IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() * std + mean).clamp(0.0, 1.0)


def images_to_rgb_uint8(
    images: Tensor | np.ndarray, device: torch.device | str | None = None
) -> Tensor:
    """Convert an image batch to uint8 RGB ``[B, H, W, 3]`` (the form a dense CRF reads).

    Args:
        images: float ``[B, 3, H, W]`` ImageNet-normalised, or uint8 ``[B, H, W, 3]``.
        device: where to put the result (default: the images' device).

    Returns:
        uint8 ``[B, H, W, 3]``.
    """
    _image_batch_shape(images)
    images = torch.as_tensor(images, device=device)
    if images.dtype == torch.uint8:
        return images
    rgb = images_to_rgb_float(images)
    return (rgb * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def run_pipeline(
    steps: Sequence[PostprocessStep], cam: Tensor, images: Tensor | np.ndarray
) -> Tensor:
    """Apply ``steps`` in order to ``cam``; an empty list returns ``cam`` unchanged.

    Args:
        steps: post-processing steps (each ``step(cam, images) -> cam``).
        cam: float ``[B, H, W]`` in ``[0, 1]``.
        images: float ``[B, 3, H, W]`` normalised or uint8 ``[B, H, W, 3]``.

    Returns:
        float ``[B, H, W]`` in ``[0, 1]``.
    """
    check_cam(cam, images, step="run_pipeline")
    for step in steps:
        if not callable(step):
            raise ValueError(
                f"run_pipeline: {step!r} is not a step; pass objects such as DenseCRF() or "
                "PixelAdaptiveRefiner(), not classes or names."
            )
        cam = step(cam, images)
        check_cam(cam, images, step=getattr(step, "name", type(step).__name__))
    return cam
