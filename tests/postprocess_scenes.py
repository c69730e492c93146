"""Tiny synthetic scenes for post-processing tests: a grey disc on a blue sky, and blurred CAMs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

SKY = (110.0, 140.0, 190.0)
SMOKE = (185.0, 180.0, 175.0)


def disc_scene(
    size: int = 40, radius: int = 10, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A grey disc on a blue sky with mild noise.

    Returns:
        uint8 image ``[1, H, W, 3]`` and the disc as bool ``[1, H, W]``.
    """
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    truth = (ys - size // 2) ** 2 + (xs - size // 2 - 1) ** 2 < radius**2
    image = torch.empty(size, size, 3)
    image[:] = torch.tensor(SKY)
    image[truth] = torch.tensor(SMOKE)
    image = image + 3.0 * torch.randn(image.shape, generator=gen)
    return image.clamp(0, 255).to(torch.uint8)[None], truth[None]


def blurred_cam(mask: torch.Tensor, sigma: float, shift: int = 0) -> torch.Tensor:
    """Min-max normalised Gaussian blur of a bool mask ``[1, H, W]``, optionally shifted right."""
    radius = int(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1) / sigma) ** 2)
    taps = taps / taps.sum()
    x = torch.roll(mask, shifts=shift, dims=-1)[:, None].float()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), taps.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), taps.view(1, 1, -1, 1))
    cam = x[:, 0]
    return (cam - cam.min()) / (cam.max() - cam.min())


def iou(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """Intersection over union of two bool masks."""
    return float((pred & truth).sum() / (pred | truth).sum())
