"""The fully supervised reference: the same backbone plus a light decoder, trained on smoke masks.

Its smoke IoU is the denominator of "fraction of fully supervised" (the paper compares against
SETR at 68.27). The decoder is a two-stage FPN: 1x1 lateral convs bring the last feature map and
one middle-depth feature map to ``hidden`` channels, the deep one is upsampled and added, then a
3x3 conv and a 1x1 conv give one smoke logit per location, upsampled bilinearly to the image.
It predicts masks directly, so it has no CAM; its checkpoint holds ``"model"`` (the segmenter).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss_lib.train.paradigms.base import Paradigm, StepOutput, TrainConfigLike, build_model
from wsss_lib.train.paradigms.registry import register_paradigm

__all__ = ["Supervised", "SupervisedSegmenter"]


class SupervisedSegmenter(nn.Module):
    """Backbone classifier + light two-stage FPN decoder -> one smoke logit per pixel.

    Args:
        backbone: A ``WSSSClassifier`` (its classification head is not used).
        image_size: Input side used to probe the middle layer's channel count.
        hidden: Decoder channels.
        mid_layer: Backbone layer of the shallow FPN stage; default: the layer at half depth
            (``layer2`` of a ResNet, ``blocks.{depth//2 - 1}`` of a ViT).
    """

    def __init__(
        self, backbone: nn.Module, image_size: int, hidden: int = 64, mid_layer: str | None = None
    ):
        super().__init__()
        self.backbone = backbone
        names = list(backbone.layer_names)
        self.mid_layer = backbone.resolve_layers([mid_layer or names[len(names) // 2 - 1]])[0]
        mid_channels = self._probe_mid_channels(image_size)
        self.lateral_deep = nn.Conv2d(backbone.embed_dim, hidden, kernel_size=1)
        self.lateral_mid = nn.Conv2d(mid_channels, hidden, kernel_size=1)
        self.fuse = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(hidden, 1, kernel_size=1)
        self.build_args = {
            "backbone": getattr(backbone, "build_args", None),
            "hidden": hidden,
            "mid_layer": self.mid_layer,
        }

    def _probe_mid_channels(self, image_size: int) -> int:
        was_training = self.backbone.training
        self.backbone.eval()
        with torch.no_grad():
            out = self.backbone(torch.zeros(1, 3, image_size, image_size), layers=(self.mid_layer,))
        self.backbone.train(was_training)
        return int(out.features[self.mid_layer].shape[1])

    def forward(self, images: Tensor) -> Tensor:
        """Smoke logits ``[B, 1, H, W]`` for images ``[B, 3, H, W]`` (ImageNet-normalised)."""
        out = self.backbone(images, layers=(self.mid_layer,))
        mid = self.lateral_mid(out.features[self.mid_layer])
        deep = self.lateral_deep(out.feature_map)
        deep = F.interpolate(deep, size=mid.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.classifier(self.fuse(mid + deep))
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)

    @torch.no_grad()
    def predict_masks(self, images: Tensor) -> Tensor:
        """Smoke probabilities ``float [B, H, W]`` in ``[0, 1]`` (call ``.eval()`` first)."""
        return torch.sigmoid(self(images)[:, 0].float())


@register_paradigm
class Supervised(Paradigm):
    """Per-pixel BCE of the segmenter's logits against the smoke masks."""

    name = "supervised"
    has_cam = False

    def __init__(self, segmenter: SupervisedSegmenter):
        super().__init__({"model": segmenter}, trainable=("model",))

    @classmethod
    def build(cls, config: TrainConfigLike, teacher: nn.Module | None = None) -> Supervised:
        size = config.data.image_size
        return cls(SupervisedSegmenter(build_model(config.model, size), image_size=size))

    @classmethod
    def describe(cls, model_name: str, teacher_name: str | None) -> str:
        return f"{model_name} segmenter (fully supervised)"

    @classmethod
    def check_training_set(cls, scenes: Any) -> None:
        """A segmenter needs masks with both smoke and background pixels."""
        if scenes.smoke_masks is None:
            raise ValueError(
                "paradigm='supervised' trains on smoke masks, but the training set has none. "
                "Use a synthetic split or a folder with masks."
            )
        n_smoke_pixels = int(np.count_nonzero(scenes.smoke_masks))
        if n_smoke_pixels in (0, scenes.smoke_masks.size):
            kind = "no smoke" if n_smoke_pixels == 0 else "only smoke"
            raise ValueError(
                f"The training masks contain {kind} pixels; a segmenter needs both smoke and "
                "background. Add images of the missing kind."
            )

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        masks = batch["smoke_mask"]
        logits = self.modules["model"](batch["image"])[:, 0]
        bce = F.binary_cross_entropy_with_logits(logits.float(), masks.float())
        pred = logits.detach() > 0
        truth = masks > 0.5
        intersection = (pred & truth).sum().item()
        union = (pred | truth).sum().item()
        return StepOutput(bce, {"bce": bce}, {"iou": (float(intersection), float(union))})
