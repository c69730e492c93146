"""SEAM's pixel correlation module (PCM): refine a CAM with feature affinities.

Wang et al., "Self-supervised Equivariant Attention Mechanism for Weakly Supervised Semantic
Segmentation" (CVPR 2020). Each location of the refined map is an affinity-weighted average of
the raw map, where the affinity is the ReLU'd cosine similarity of a learned embedding of
intermediate backbone features and the downsampled image. Pixels that look alike vote for each
other, which spreads activation from the most discriminative spot over the whole object.

Training with image labels only (our choice; SEAM also uses an equivariance loss between two
augmented views, which is not implemented here): the classifier's logits are the global average of
the *refined* map, so the ordinary BCE trains the embedding to produce affinities that help
classification, and ``aux_logits`` (average of the raw map) can get its own BCE to keep the raw
CAM discriminative (:meth:`WSSSClassifier.classification_loss` adds both). As in SEAM, the
backbone features feeding the affinity are detached: the PCM learns its own embedding without
pulling the backbone's features towards it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PixelCorrelationModule"]


class PixelCorrelationModule(nn.Module):
    """Affinity-weighted refinement of a score map.

    Args:
        feature_channels: Channels of the intermediate feature maps passed to :meth:`forward`.
        projection_channels: Channels each feature map is 1x1-projected to (SEAM: 64, 128).
        embed_channels: Channels of the final embedding the cosine affinity is computed on.
    """

    def __init__(
        self,
        feature_channels: Sequence[int],
        projection_channels: Sequence[int] = (64, 128),
        embed_channels: int = 192,
    ) -> None:
        super().__init__()
        if len(feature_channels) != len(projection_channels):
            raise ValueError(
                f"PCM got {len(feature_channels)} feature inputs but {len(projection_channels)} "
                "projection sizes; pass one projection size per feature map."
            )
        self.projections = nn.ModuleList(
            nn.Conv2d(c_in, c_out, kernel_size=1, bias=False)
            for c_in, c_out in zip(feature_channels, projection_channels, strict=True)
        )
        self.embed = nn.Conv2d(3 + sum(projection_channels), embed_channels, 1, bias=False)
        for proj in self.projections:
            nn.init.kaiming_normal_(proj.weight)
        nn.init.xavier_uniform_(self.embed.weight, gain=4)  # SEAM's initialisation

    def affinity(self, image: Tensor, features: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        """Column-normalised pixel affinity at resolution ``size``.

        Args:
            image: float ``[B, 3, H, W]``.
            features: Intermediate feature maps ``[B, C_i, h_i, w_i]`` (any resolution).
            size: ``(h, w)`` of the score map.

        Returns:
            float ``[B, h*w, h*w]``; entry ``[b, i, j]`` is how much location ``i`` contributes to
            location ``j``, each column summing to 1.
        """
        parts = [F.adaptive_avg_pool2d(image, size)]
        for proj, feat in zip(self.projections, features, strict=True):
            feat = F.adaptive_avg_pool2d(feat.detach(), size)
            parts.append(F.relu(proj(feat)))
        embedding = self.embed(torch.cat(parts, dim=1)).flatten(2)  # [B, E, h*w]
        embedding = embedding / (embedding.norm(dim=1, keepdim=True) + 1e-5)
        affinity = F.relu(embedding.transpose(1, 2) @ embedding)
        return affinity / (affinity.sum(dim=1, keepdim=True) + 1e-5)

    def forward(self, score_map: Tensor, image: Tensor, features: Sequence[Tensor]) -> Tensor:
        """Refine ``score_map`` float ``[B, K, h, w]``; returns the same shape."""
        batch, classes, height, width = score_map.shape
        affinity = self.affinity(image, features, (height, width))
        refined = score_map.flatten(2) @ affinity  # [B, K, h*w]
        return refined.view(batch, classes, height, width)
