"""The single-network paradigm: one classifier trained with ``BCE(logit, label)``."""

from __future__ import annotations

from torch import Tensor, nn

from wsss_lib.train.paradigms.base import (
    Paradigm,
    StepOutput,
    TrainConfigLike,
    batch_accuracy,
    build_model,
    classifier_bce,
)
from wsss_lib.train.paradigms.registry import register_paradigm

__all__ = ["SingleNetwork"]


@register_paradigm
class SingleNetwork(Paradigm):
    """One classifier (``TrainConfig.model``) trained with BCE on the image label; its CAM is
    the result and its checkpoint holds ``"model"``."""

    name = "single"

    def __init__(self, model: nn.Module):
        super().__init__({"model": model}, trainable=("model",))

    @classmethod
    def build(cls, config: TrainConfigLike, teacher: nn.Module | None = None) -> SingleNetwork:
        return cls(build_model(config.model, config.data.image_size))

    @classmethod
    def describe(cls, model_name: str, teacher_name: str | None) -> str:
        return f"{model_name} alone"

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        _, logits, bce = classifier_bce(self.modules["model"], batch["image"], batch["label"])
        return StepOutput(bce, {"bce": bce}, {"acc": batch_accuracy(logits, batch["label"])})
