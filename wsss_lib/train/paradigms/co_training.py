"""The co-training paradigm: student and teacher both from scratch,
``BCE(student) + BCE(teacher) + λ·L_kt``, with gradients of the KT term flowing into both."""

from __future__ import annotations

from torch import Tensor, nn

from wsss_lib.train.paradigms.base import (
    KTSpecLike,
    StepOutput,
    TrainConfigLike,
    batch_accuracy,
    build_model,
    classifier_bce,
)
from wsss_lib.train.paradigms.knowledge_transfer import KnowledgeTransferParadigm, teacher_target
from wsss_lib.train.paradigms.registry import register_paradigm

__all__ = ["CoTraining"]


@register_paradigm
class CoTraining(KnowledgeTransferParadigm):
    """Both networks from scratch: ``BCE(student) + BCE(teacher) + λ·L_kt``, gradients both ways."""

    name = "co_training"

    def __init__(
        self, student: nn.Module, teacher: nn.Module, kt: KTSpecLike, image_size: int, seed: int
    ):
        super().__init__(
            student,
            teacher,
            kt,
            image_size,
            seed,
            trainable=("student", "teacher", "kt"),
            detach_teacher=False,
        )

    @classmethod
    def build(cls, config: TrainConfigLike, teacher: nn.Module | None = None) -> CoTraining:
        size = config.data.image_size
        student = build_model(config.student, size)  # built first: the same init as alone
        co_teacher = build_model(config.teacher, size)
        return cls(student, co_teacher, config.kt, size, config.seed)

    @classmethod
    def describe(cls, model_name: str, teacher_name: str | None) -> str:
        return f"{model_name} co-trained with {teacher_name}"

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        images, labels = batch["image"], batch["label"]
        out_s, logits_s, bce_s = classifier_bce(self.modules["student"], images, labels)
        out_t, logits_t, bce_t = classifier_bce(
            self.modules["teacher"], images, labels, self._teacher_layers
        )
        target = teacher_target(out_t, self.kt_spec, self.teacher_layer)
        weighted_kt, kt_value = self._kt_term(out_s, target)
        return StepOutput(
            bce_s + bce_t + weighted_kt,
            {"bce": bce_s, "bce_teacher": bce_t, "kt": kt_value},
            {"acc": batch_accuracy(logits_s, labels),
             "acc_teacher": batch_accuracy(logits_t, labels)},
        )
