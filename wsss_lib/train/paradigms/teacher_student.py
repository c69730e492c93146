"""The teacher-student paradigm (the paper's method): a frozen, already trained teacher and a
student trained with ``BCE(student) + λ·L_kt(proj(student features), teacher target)``.

The teacher runs in eval mode under ``torch.no_grad()``; the 1x1 projection inside the KT loss
trains with the student. The teacher is trained first, as the single-network run of
``TrainConfig.teacher_config()``, so one teacher serves every student that names it.
"""

from __future__ import annotations

import copy

import torch
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

__all__ = ["TeacherStudent"]


@register_paradigm
class TeacherStudent(KnowledgeTransferParadigm):
    """Frozen trained teacher, student trained with ``BCE + λ·L_kt``.

    The teacher is copied, so freezing it does not touch the caller's network.
    """

    name = "teacher_student"
    needs_trained_teacher = True

    def __init__(
        self, student: nn.Module, teacher: nn.Module, kt: KTSpecLike, image_size: int, seed: int
    ):
        teacher = copy.deepcopy(teacher)
        teacher.eval()
        teacher.requires_grad_(False)
        super().__init__(
            student, teacher, kt, image_size, seed, trainable=("student", "kt"), detach_teacher=True
        )

    @classmethod
    def build(cls, config: TrainConfigLike, teacher: nn.Module | None = None) -> TeacherStudent:
        if teacher is None:
            raise ValueError(
                "paradigm='teacher_student' needs the trained teacher: pass teacher=<model>, or "
                "call wsss_lib.train.get_or_train(config), which trains or loads it first."
            )
        size = config.data.image_size
        student = build_model(config.student, size)
        return cls(student, teacher, config.kt, size, config.seed)

    @classmethod
    def build_for_loading(cls, config: TrainConfigLike) -> TeacherStudent:
        # The checkpoint holds the teacher too, so a random one of the right shape will do.
        return cls.build(config, teacher=build_model(config.teacher, config.data.image_size))

    @classmethod
    def describe(cls, model_name: str, teacher_name: str | None) -> str:
        return f"{model_name} taught by {teacher_name}"

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        images, labels = batch["image"], batch["label"]
        out, logits, bce = classifier_bce(self.modules["student"], images, labels)
        with torch.no_grad():
            target = teacher_target(
                self.modules["teacher"](images, layers=self._teacher_layers),
                self.kt_spec,
                self.teacher_layer,
            )
        weighted_kt, kt_value = self._kt_term(out, target)
        return StepOutput(
            bce + weighted_kt,
            {"bce": bce, "kt": kt_value},
            {"acc": batch_accuracy(logits, labels)},
        )
