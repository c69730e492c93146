"""Torch views of :class:`SmokeScenes`: normalisation, augmentation, a Dataset and a fast batcher.

Images inside the library are float tensors ``[B, 3, H, W]`` normalised with the ImageNet mean and
std (what timm's pretrained backbones expect). Augmentation works on whole batches at once:

* **horizontal flip** (p = 0.5), applied to the image and all its masks together;
* **mild colour jitter**: brightness, contrast and saturation each scaled by ``1 ± 0.1``
  (no hue shift: the colour of smoke is a real cue);
* optional **random resized crop** (``crop_scale=(0.6, 1.0)`` keeps 60-100 % of the area, aspect
  ratio 3/4-4/3) resampled back to ``H x W`` (bilinear for images, nearest for masks).

Flip and crop are one affine resampling per image (``affine_grid`` + ``grid_sample``), so masks
stay aligned with their image pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from wsss_lib.utils import check_batch_size

from .scenes import SmokeScenes

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SmokeDataset",
    "augment_batch",
    "denormalize",
    "iterate_batches",
    "normalize",
    "to_tensor_batch",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_JITTER = 0.1
_MASK_KEYS = ("smoke_mask", "chimney_mask")


def _stats(reference: Tensor) -> tuple[Tensor, Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, dtype=reference.dtype, device=reference.device)
    std = torch.tensor(IMAGENET_STD, dtype=reference.dtype, device=reference.device)
    return mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)


def _to_unit_float(images: np.ndarray | Tensor, device: torch.device | str | None) -> Tensor:
    """``uint8 [N, H, W, 3]`` -> ``float32 [N, 3, H, W]`` in ``[0, 1]``."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if (
        not isinstance(images, Tensor)
        or images.dtype != torch.uint8
        or images.ndim != 4
        or (images.shape[-1] != 3)
    ):
        shape = tuple(getattr(images, "shape", ()))
        dtype = getattr(images, "dtype", type(images).__name__)
        raise ValueError(
            f"Expected uint8 RGB images [N, H, W, 3], got dtype {dtype} and shape {shape}. "
            "Pass SmokeScenes.images (add a batch axis with images[None] for one image)."
        )
    images = images.to(device) if device is not None else images
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def normalize(images01: Tensor) -> Tensor:
    """``float [N, 3, H, W]`` in ``[0, 1]`` -> ImageNet-normalised (undoes :func:`denormalize`)."""
    mean, std = _stats(images01)
    return (images01 - mean).div_(std)


def to_tensor_batch(
    images: np.ndarray | Tensor, device: torch.device | str | None = None
) -> Tensor:
    """Convert dataset images to model input.

    Args:
        images: ``uint8 [N, H, W, 3]`` RGB (numpy or torch).
        device: Where to put the result (default: where ``images`` are, i.e. CPU for numpy).

    Returns:
        ``float32 [N, 3, H, W]``, normalised with :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`.
    """
    return normalize(_to_unit_float(images, device))


def denormalize(x: Tensor) -> Tensor:
    """Undo :func:`to_tensor_batch`: ``float [N, 3, H, W]`` -> RGB in ``[0, 1]`` (clamped)."""
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(
            f"denormalize expects a float tensor [N, 3, H, W]; got shape "
            f"{tuple(getattr(x, 'shape', ()))}."
        )
    mean, std = _stats(x)
    return (x * std + mean).clamp_(0.0, 1.0)


def _check_crop_scale(crop_scale: tuple[float, float] | None) -> None:
    if crop_scale is None:
        return
    if len(crop_scale) != 2 or not 0 < crop_scale[0] <= crop_scale[1] <= 1:
        raise ValueError(
            f"crop_scale={crop_scale!r} must be (min, max) area fractions with "
            "0 < min <= max <= 1, e.g. (0.6, 1.0); None disables random resized crops."
        )


def _color_jitter(images01: Tensor, uniform: Any) -> Tensor:
    """Scale brightness, contrast and saturation of each image by ``1 ± _JITTER``.

    The three adjustments are linear in the pixel values, so they are folded into one ``3 x 3``
    colour matrix and an offset per image (one batched matrix product instead of ~10 passes):
    brightness ``b``, contrast ``c`` (around the image's mean grey ``m``) and saturation ``s``
    (around each pixel's grey ``w . x``) give ``x' = b c (s I + (1 - s) 1 w^T) x + (1 - c) b m``.
    """
    b, _, h, w = images01.shape
    brightness, contrast, saturation = (uniform(1 - _JITTER, 1 + _JITTER) for _ in range(3))
    luma = torch.tensor([0.299, 0.587, 0.114], device=images01.device)
    eye = torch.eye(3, device=images01.device)
    desaturate = luma.expand(3, 3)  # every row: the grey weights
    sat = saturation.view(b, 1, 1)
    matrix = (brightness * contrast).view(b, 1, 1) * (sat * eye + (1 - sat) * desaturate)
    mean_grey = images01.mean((2, 3)) @ luma  # [B]
    offset = ((1 - contrast) * brightness * mean_grey).view(b, 1, 1)
    out = torch.baddbmm(offset, matrix, images01.reshape(b, 3, h * w))
    return out.view(b, 3, h, w).clamp_(0.0, 1.0)


def augment_batch(
    images01: Tensor,
    masks: Tensor | None = None,
    generator: torch.Generator | None = None,
    crop_scale: tuple[float, float] | None = None,
    color: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Randomly flip / crop / colour-jitter a batch, keeping masks aligned with their images.

    Args:
        images01: ``float [B, 3, H, W]`` in ``[0, 1]`` (not yet normalised).
        masks: ``bool [B, K, H, W]`` masks to transform geometrically with the images, or None.
        generator: Random source (default: torch's global one).
        crop_scale: Area range of the random resized crop; None for no crop.
        color: Apply the colour jitter (False: geometry only).

    Returns:
        ``(images01, masks)`` of the same shapes and dtypes.
    """
    _check_crop_scale(crop_scale)
    b, device = images01.shape[0], images01.device

    def uniform(low: float, high: float, n: int = b) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=generator).to(device)

    flip = torch.rand(b, generator=generator).to(device) < 0.5
    scale_x = torch.where(flip, -1.0, 1.0)
    scale_y = torch.ones(b, device=device)
    shift_x = torch.zeros(b, device=device)
    shift_y = torch.zeros(b, device=device)
    if crop_scale is not None:
        area = uniform(*crop_scale)
        log_ratio = uniform(math.log(3 / 4), math.log(4 / 3))
        ratio = torch.exp(log_ratio)
        width = torch.sqrt(area * ratio).clamp(max=1.0)  # fractions of the image side
        height = torch.sqrt(area / ratio).clamp(max=1.0)
        shift_x = (1 - width) * uniform(-1.0, 1.0)
        shift_y = (1 - height) * uniform(-1.0, 1.0)
        scale_x, scale_y = scale_x * width, height
    if crop_scale is None:
        images01 = images01.clone()
        images01[flip] = images01[flip].flip(-1)
        if masks is not None:
            masks = masks.clone()
            masks[flip] = masks[flip].flip(-1)
    else:
        theta = torch.zeros(b, 2, 3, device=device)
        theta[:, 0, 0], theta[:, 0, 2] = scale_x, shift_x
        theta[:, 1, 1], theta[:, 1, 2] = scale_y, shift_y
        grid = F.affine_grid(theta, list(images01.shape), align_corners=False)
        images01 = F.grid_sample(images01, grid, mode="bilinear", align_corners=False)
        if masks is not None:
            masks = F.grid_sample(masks.float(), grid, mode="nearest", align_corners=False) > 0.5

    if color:
        images01 = _color_jitter(images01, uniform)
    return images01, masks


def _mask_tensor(scenes: SmokeScenes, name: str, index: np.ndarray) -> Tensor:
    array = getattr(scenes, name + "s")
    if array is None:
        h, w = scenes.image_size
        return torch.zeros((len(index), h, w), dtype=torch.bool)
    return torch.from_numpy(array[index])


def _make_batch(
    scenes: SmokeScenes,
    index: np.ndarray,
    augment: bool,
    generator: torch.Generator | None,
    crop_scale: tuple[float, float] | None,
    color: bool = True,
) -> dict[str, Tensor]:
    images01 = _to_unit_float(scenes.images[index], None)
    masks = torch.stack([_mask_tensor(scenes, key, index) for key in _MASK_KEYS], dim=1)
    if augment:
        images01, masks = augment_batch(images01, masks, generator, crop_scale, color)
    return {
        "image": normalize(images01),
        "label": torch.from_numpy(scenes.labels[index].astype(np.float32)),
        "smoke_mask": masks[:, 0],
        "chimney_mask": masks[:, 1],
        "index": torch.from_numpy(index.astype(np.int64)),
    }


def iterate_batches(
    scenes: SmokeScenes,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    augment: bool = False,
    *,
    drop_last: bool = False,
    crop_scale: tuple[float, float] | None = None,
    color: bool = True,
) -> Iterator[dict[str, Tensor]]:
    """Yield batches straight from the in-memory arrays (a fast stand-in for a DataLoader).

    Each batch is converted and augmented as a whole, which on a CPU is several times faster
    than collating per-image :class:`SmokeDataset` items.

    Args:
        scenes: The data.
        batch_size: Images per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: Visit the images in a random order.
        seed: Seed of the order and the augmentation; the same seed gives the same batches.
        augment: Apply :func:`augment_batch`.
        drop_last: Skip a final incomplete batch.
        crop_scale: Random resized crop area range when augmenting (None: no crop).
        color: Colour-jitter when augmenting (False: flips / crops only).

    Yields:
        Dicts with ``image float [B, 3, H, W]`` (normalised), ``label float [B]``,
        ``smoke_mask bool [B, H, W]``, ``chimney_mask bool [B, H, W]`` (all False when the
        scenes have no such masks) and ``index int64 [B]`` (positions in ``scenes``).
    """
    check_batch_size(batch_size)
    _check_crop_scale(crop_scale)
    generator = torch.Generator().manual_seed(int(seed))
    n = len(scenes)
    order = torch.randperm(n, generator=generator).numpy() if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield _make_batch(scenes, index, augment, generator, crop_scale, color)


class SmokeDataset(Dataset):
    """A torch ``Dataset`` over :class:`SmokeScenes`.

    Items are dicts ``{"image": float [3, H, W] (normalised), "label": float scalar tensor,
    "smoke_mask": bool [H, W], "chimney_mask": bool [H, W], "index": int}``; missing masks are
    all False and :attr:`has_masks` is False. Augmentation draws from torch's global random
    generator (seed it with :func:`wsss_lib.utils.seed_everything`; DataLoader workers are
    seeded by torch).

    Args:
        scenes: The data.
        augment: Random flip + mild colour jitter (see :func:`augment_batch`).
        crop_scale: Also a random resized crop with this area range, e.g. ``(0.6, 1.0)``.
    """

    def __init__(
        self,
        scenes: SmokeScenes,
        augment: bool = False,
        crop_scale: tuple[float, float] | None = None,
    ) -> None:
        if not isinstance(scenes, SmokeScenes):
            raise ValueError(
                f"SmokeDataset needs a SmokeScenes, got {type(scenes).__name__}; build one with "
                "wsss_lib.data.load_split(...) or load_folder(...)."
            )
        _check_crop_scale(crop_scale)
        self.scenes = scenes
        self.augment = bool(augment)
        self.crop_scale = crop_scale
        self.has_masks = scenes.has_masks

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self.scenes)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for {n} images.")
        i = int(i) % n
        batch = _make_batch(self.scenes, np.array([i]), self.augment, None, self.crop_scale)
        item: dict[str, Any] = {key: value[0] for key, value in batch.items()}
        item["index"] = i
        return item
