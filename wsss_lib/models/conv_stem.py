"""A convolutional stem for ViTs: the patch embedding as a few 3x3 convolutions.

A plain ViT cuts the image into ``p x p`` patches and embeds each with one linear map (a conv of
kernel and stride ``p``). Trained from scratch on a few thousand images, such a ViT barely fits
its training set (measured here: ``vit_mini`` with 8-px patches reached 74 % training accuracy
after 6 epochs of 3072 images, while a CNN reached 95 %). Xiao et al. (2021, "Early convolutions
help transformers see better") replace that linear map by a short stack of stride-2 3x3
convolutions, which makes ViTs far easier to optimise without changing what comes after: the same
tokens, one per ``p x p`` patch, the same global attention. The stem only sees inside one
patch's neighbourhood (its receptive field is ``2p - 1`` px), so locality across the image is
still the attention's job.

:class:`ConvStemPatchEmbed` is a drop-in ``embed_layer`` for timm's ``VisionTransformer``: it
keeps ``PatchEmbed``'s interface (dynamic image size and padding, ``patch_size``, grid sizes) and
only swaps ``proj``.
"""

from __future__ import annotations

import math
from typing import Any

from timm.layers import PatchEmbed
from torch import nn

__all__ = ["ConvStemPatchEmbed", "VIT_STEMS", "conv_stem"]

#: Patch embeddings of ``build_classifier(..., stem=...)``: one linear map per patch, or convs.
VIT_STEMS = ("patch", "conv")


def conv_stem(in_chans: int, embed_dim: int, patch_size: int, bias: bool = True) -> nn.Sequential:
    """``log2(patch_size)`` stride-2 3x3 conv + BatchNorm + ReLU blocks, then a 1x1 conv.

    Widths double towards ``embed_dim`` (e.g. 32, 64, 128 for ``embed_dim=128``, 8-px patches).
    ``forward(x float [B, in_chans, H, W]) -> float [B, embed_dim, H / p, W / p]`` for ``H`` and
    ``W`` divisible by ``p``.

    Raises:
        ValueError: a patch size that is not a power of two >= 2.
    """
    steps = int(round(math.log2(patch_size))) if patch_size >= 2 else 0
    if steps < 1 or 2**steps != patch_size:
        raise ValueError(
            f"A convolutional stem needs a patch size that is a power of two >= 2 (2, 4, 8, 16); "
            f"got {patch_size}. Use stem='patch' for other sizes."
        )
    widths = [max(embed_dim // 2 ** (steps - 1 - i), 8) for i in range(steps)]
    layers: list[nn.Module] = []
    channels = in_chans
    for width in widths:
        layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
    layers.append(nn.Conv2d(channels, embed_dim, 1, bias=bias))
    return nn.Sequential(*layers)


class ConvStemPatchEmbed(PatchEmbed):
    """timm's ``PatchEmbed`` with :func:`conv_stem` in place of its one patchify convolution."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.patch_size[0] != self.patch_size[1]:
            raise ValueError(f"A convolutional stem needs square patches; got {self.patch_size}.")
        self.proj = conv_stem(self.proj.in_channels, self.proj.out_channels, self.patch_size[0],
                              bias=self.proj.bias is not None)

    def set_input_size(self, img_size: Any = None, patch_size: Any = None) -> None:
        """Change the input size; the patch size of a convolutional stem is fixed."""
        if patch_size is not None and tuple(_pair(patch_size)) != tuple(self.patch_size):
            raise ValueError("The patch size of a convolutional stem cannot be changed.")
        super().set_input_size(img_size=img_size)


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)
