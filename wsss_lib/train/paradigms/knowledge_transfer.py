"""What the teacher-student and co-training paradigms share: a student, a teacher and a KT loss.

The loss term is ``λ·L_kt(proj(student map), teacher target)`` (:class:`KnowledgeTransferLoss`).
With ``λ = 0`` it is only logged, not added to the loss, and the 1x1 projection is initialised
from a separate random stream, so a λ = 0 run trains its student exactly as a single network.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from wsss_lib.losses import KnowledgeTransferLoss
from wsss_lib.train.paradigms.base import KTSpecLike, Paradigm, TrainConfigLike

__all__ = ["KnowledgeTransferParadigm", "teacher_target"]

# Seed offset of the random stream that initialises the KT projection (kept apart from the global
# stream so adding a projection does not change the student's initialisation or dropout).
_PROJECTION_SEED_OFFSET = 7_777


def teacher_target(out: Any, kt: KTSpecLike, layer_name: str | None) -> Tensor:
    """The teacher map the student is aligned to: its score map or one intermediate feature map.

    Args:
        out: The teacher's ``ClassifierOutput`` (computed with ``layers=(layer_name,)``).
        kt: Knowledge-transfer settings (``kt.target``).
        layer_name: Resolved teacher layer name for ``kt.target == "features"``.

    Returns:
        float ``[B, Ct, ht, wt]``.
    """
    if kt.target == "score_map":
        return out.score_map
    return out.features[layer_name]


class KnowledgeTransferParadigm(Paradigm):
    """Base of the paradigms with ``TrainConfig.student``, ``TrainConfig.teacher`` and a KT loss.

    The student's CAM is the result; the checkpoint holds ``"student"``, ``"teacher"`` and
    ``"kt"`` (the loss with its trained projection).
    """

    network_fields = ("student", "teacher")
    result_role = "student"
    uses_kt = True
    checkpoint_roles = ("student", "teacher", "kt")

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        kt: KTSpecLike,
        image_size: int,
        seed: int,
        trainable: tuple[str, ...],
        detach_teacher: bool,
    ):
        self.kt_spec = kt
        self.teacher_layer = None
        if kt.target == "features":
            self.teacher_layer = teacher.resolve_layers([kt.teacher_layer])[0]
        teacher_channels = self._probe_target_channels(teacher, image_size)
        student_channels = student.embed_dim if kt.student_map == "features" else 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + _PROJECTION_SEED_OFFSET)
            kt_loss = KnowledgeTransferLoss(
                level=kt.level,
                distance=kt.distance,
                student_channels=student_channels,
                teacher_channels=teacher_channels,
                projection=kt.projection,
                match_to=kt.match_to,
                detach_teacher=detach_teacher,
                normalize=kt.normalize,
            )
        modules = {"student": student, "teacher": teacher, "kt": kt_loss}
        super().__init__(modules, trainable=trainable)

    @classmethod
    def describe(cls, model_name: str, teacher_name: str | None) -> str:
        return f"{model_name} with {teacher_name} ({cls.name})"

    def set_lr_scales(self, config: TrainConfigLike) -> None:
        super().set_lr_scales(config)
        if "student" in self.lr_scale:
            self.lr_scale["kt"] = self.lr_scale["student"]  # the projection learns with it

    @property
    def _teacher_layers(self) -> tuple[str, ...]:
        return () if self.teacher_layer is None else (self.teacher_layer,)

    def _probe_target_channels(self, teacher: nn.Module, image_size: int) -> int:
        """Channels of the teacher target, from one tiny forward pass in eval mode."""
        was_training = teacher.training
        param = next(teacher.parameters())
        probe = torch.zeros(1, 3, image_size, image_size, device=param.device, dtype=param.dtype)
        teacher.eval()
        with torch.no_grad():
            out = teacher(probe, layers=self._teacher_layers)
        teacher.train(was_training)
        return int(teacher_target(out, self.kt_spec, self.teacher_layer).shape[1])

    def _kt_term(self, student_out: Any, target: Tensor) -> tuple[Tensor, Tensor]:
        """``(λ·L_kt for the loss, L_kt for the log)``; at λ = 0 the term is only logged.

        ``student_out`` is the student's forward output; ``KTSpec.student_map`` picks its
        ``feature_map`` ``(B, C, h, w)`` or its ``score_map`` ``(B, 1, h, w)``.
        """
        student_features = (
            student_out.feature_map if self.kt_spec.student_map == "features"
            else student_out.score_map
        )
        if self.kt_spec.lam == 0:
            with torch.no_grad():
                value = self.modules["kt"](student_features, target)
            return torch.zeros((), device=value.device), value
        value = self.modules["kt"](student_features, target)
        return self.kt_spec.lam * value, value
