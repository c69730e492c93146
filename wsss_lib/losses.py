"""The knowledge-transfer (KT) loss that aligns a student network's features with a teacher's.

This is the consistency term of arXiv 2507.21959 (Zhang & Hsu 2025): the student is trained with
``L = L_cls + lambda * L_kt``, where ``L_kt`` pulls the student's feature map (e.g. ViT patch
tokens laid out as a grid), passed through a learned 1x1 projection to the teacher's channel
count, towards the teacher's target map (its CAM score map in the paper, or an intermediate
feature map). The paper's choice is the *global cosine* distance.

How the two maps are compared:

1. Project the student ``[B, Cs, hs, ws]`` to ``[B, Ct, hs, ws]`` (1x1 conv, trained with the
   student; skipped when ``projection=False``).
2. Bring both to one grid with bilinear interpolation: the student onto the teacher's grid
   (``match_to="teacher"``, default) or the teacher onto the student's (``match_to="student"``).
   Projection and bilinear resizing are both linear, so their order does not change the result.
3. Flatten to ``[B, C, N]`` (``N = H * W``) and cut into vectors according to ``level``:

   - ``"global"``: one vector per image, all ``C * N`` values;
   - ``"spatial"``: one vector per location, its ``C`` channel values (needs ``C > 1`` to be
     meaningful: with one channel the cosine is only the sign agreement);
   - ``"channel"``: one vector per channel, its ``N`` spatial values.

4. Compare each student vector ``u`` with the teacher vector ``v`` (length ``D``) and average
   over all vectors and the batch:

   - ``"cosine"``: ``1 - cos(u, v)``, in ``[0, 2]`` (0 = same direction, 2 = opposite).
   - ``"l1"``: ``mean_i |u_i - v_i|``; ``"l2"``: ``mean_i (u_i - v_i)^2``.

   The teacher's score map and the student's features live on unrelated scales, so with
   ``normalize=True`` (default) L1/L2 first rescale every vector to unit root-mean-square
   (``u * sqrt(D) / ||u||``, i.e. L2-normalised along the level's axis, then scaled so the
   element-wise mean does not shrink as ``D`` grows). Then ``l2 == 2 * cosine`` exactly, and
   ``l1`` is a scale-free distance of the same order. With ``normalize=False`` L1/L2 are plain
   ``F.l1_loss`` / ``F.mse_loss`` of the two maps: the level no longer matters and the loss
   depends on each network's activation scale.

Whether the teacher receives gradients is the caller's decision: ``detach_teacher=True``
(teacher-student, frozen teacher) stops them inside the loss; co-training passes ``False`` so
the loss trains both networks.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "DISTANCES",
    "LEVELS",
    "MATCH_TO",
    "KnowledgeTransferLoss",
    "kt_loss",
    "validate_lambda",
]

LEVELS = ("global", "spatial", "channel")
DISTANCES = ("cosine", "l1", "l2")
MATCH_TO = ("teacher", "student")
_EPS = 1e-8


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


def _check_pair(student: Tensor, teacher: Tensor) -> None:
    """Raise ValueError unless both are float 4D maps ``[B, C, H, W]`` with the same ``B``."""
    for role, x in (("student", student), ("teacher", teacher)):
        if not isinstance(x, Tensor):
            raise ValueError(f"{role} must be a torch tensor [B, C, H, W], got {type(x).__name__}.")
        if x.ndim != 4:
            raise ValueError(
                f"{role} must be a 4D map [B, C, H, W], got shape {tuple(x.shape)}. ViT tokens "
                "must be reshaped to a grid first (WSSSClassifier.feature_map does this)."
            )
        if not x.is_floating_point():
            raise ValueError(f"{role} must be a float tensor, got {x.dtype}.")
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(
            f"Batch sizes differ: student has {student.shape[0]} images, teacher has "
            f"{teacher.shape[0]}. Run both networks on the same batch."
        )


def _match_grids(student: Tensor, teacher: Tensor, match_to: str) -> tuple[Tensor, Tensor]:
    """Bilinearly resize one map so both share a grid (``match_to`` names the grid kept)."""
    if student.shape[-2:] == teacher.shape[-2:]:
        return student, teacher
    if match_to == "teacher":
        student = F.interpolate(
            student, size=teacher.shape[-2:], mode="bilinear", align_corners=False
        )
    else:
        teacher = F.interpolate(
            teacher, size=student.shape[-2:], mode="bilinear", align_corners=False
        )
    return student, teacher


def _as_vectors(x: Tensor, level: str) -> Tensor:
    """Cut ``x [B, C, H, W]`` into the vectors compared at ``level``: ``[B, V, D]``."""
    b, c = x.shape[:2]
    flat = x.reshape(b, c, -1)  # [B, C, N]
    if level == "global":
        return flat.reshape(b, 1, -1)  # [B, 1, C*N]
    if level == "spatial":
        return flat.transpose(1, 2)  # [B, N, C]
    return flat  # channel: [B, C, N]


def _unit_rms(vectors: Tensor) -> Tensor:
    """Rescale each vector (last dim, length ``D``) to root-mean-square 1."""
    return F.normalize(vectors, dim=-1, eps=_EPS) * math.sqrt(vectors.shape[-1])


def kt_loss(
    student: Tensor,
    teacher: Tensor,
    level: str = "global",
    distance: str = "cosine",
    *,
    normalize: bool = True,
    match_to: str = "teacher",
) -> Tensor:
    """Knowledge-transfer distance between two maps with equal channel counts (no projection).

    Gradients flow into both inputs; detach the teacher yourself if it is frozen.

    Args:
        student: float ``[B, C, hs, ws]``.
        teacher: float ``[B, C, ht, wt]``.
        level: ``"global"``, ``"spatial"`` or ``"channel"`` (see the module docstring).
        distance: ``"cosine"``, ``"l1"`` or ``"l2"``.
        normalize: rescale vectors to unit RMS before L1/L2 (ignored for cosine).
        match_to: grid both maps are resized to: ``"teacher"`` or ``"student"``.

    Returns:
        Scalar tensor: the distance averaged over vectors and the batch.

    Raises:
        ValueError: on non-4D inputs, different batch sizes or channel counts, unknown options.
    """
    _check_choice("level", level, LEVELS)
    _check_choice("distance", distance, DISTANCES)
    _check_choice("match_to", match_to, MATCH_TO)
    _check_pair(student, teacher)
    if student.shape[1] != teacher.shape[1]:
        raise ValueError(
            f"Channel counts differ: student has {student.shape[1]}, teacher has "
            f"{teacher.shape[1]}. Use KnowledgeTransferLoss(projection=True, student_channels="
            f"{student.shape[1]}, teacher_channels={teacher.shape[1]}) to learn a projection."
        )
    student, teacher = _match_grids(student, teacher, match_to)
    u, v = _as_vectors(student, level), _as_vectors(teacher, level)  # [B, V, D] each
    if distance == "cosine":
        return (1.0 - F.cosine_similarity(u, v, dim=-1, eps=_EPS)).mean()
    if normalize:
        u, v = _unit_rms(u), _unit_rms(v)
    diff = u - v
    per_element = diff.abs() if distance == "l1" else diff.square()
    return per_element.mean()


def validate_lambda(lam: Any) -> float:
    """Check a KT-loss weight ``lambda`` and return it as a float.

    Raises:
        ValueError: unless ``lam`` is a finite real number ``>= 0`` (bools and strings rejected).
    """
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        raise ValueError(
            f"lambda (the KT-loss weight) must be a real number >= 0, got {lam!r} "
            f"({type(lam).__name__}). Pass e.g. lam=1.0 (the paper's value), or 0 to disable."
        )
    value = float(lam)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"lambda (the KT-loss weight) must be finite and >= 0, got {value}. "
            "Pass e.g. lam=1.0 (the paper's value), or 0 to disable the KT loss."
        )
    return value


class KnowledgeTransferLoss(nn.Module):
    """``L_kt``: distance between the projected student features and the teacher's target map.

    The projection (when enabled) is a parameter of this module: add
    ``loss_module.parameters()`` to the student's optimiser.

    Args:
        level: ``"global"`` (paper), ``"spatial"`` or ``"channel"``.
        distance: ``"cosine"`` (paper), ``"l1"`` or ``"l2"``.
        student_channels: ``Cs`` of the student map (required with ``projection=True``).
        teacher_channels: ``Ct`` of the teacher map (required with ``projection=True``; 1 for a
            one-class score map).
        projection: learn a 1x1 conv ``Cs -> Ct``; with ``False`` the channel counts must match.
        match_to: ``"teacher"`` resizes the student onto the teacher's grid (default);
            ``"student"`` resizes the teacher onto the student's.
        detach_teacher: stop gradients into the teacher (frozen teacher); ``False`` for
            co-training, where the loss also trains the teacher.
        normalize: unit-RMS rescaling of vectors before L1/L2 (see the module docstring).

    Example:
        >>> kt = KnowledgeTransferLoss(student_channels=192, teacher_channels=1)
        >>> loss = kt(vit_out.feature_map, cnn_out.score_map)  # doctest: +SKIP
    """

    def __init__(
        self,
        level: str = "global",
        distance: str = "cosine",
        student_channels: int | None = None,
        teacher_channels: int | None = None,
        projection: bool = True,
        match_to: str = "teacher",
        detach_teacher: bool = True,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        _check_choice("level", level, LEVELS)
        _check_choice("distance", distance, DISTANCES)
        _check_choice("match_to", match_to, MATCH_TO)
        self.level = level
        self.distance = distance
        self.match_to = match_to
        self.detach_teacher = bool(detach_teacher)
        self.normalize = bool(normalize)
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.projection: nn.Conv2d | None = None
        if projection:
            for name, value in (
                ("student_channels", student_channels),
                ("teacher_channels", teacher_channels),
            ):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(
                        f"projection=True needs {name} as a positive int, got {value!r}. Pass "
                        "the channel counts (e.g. student_channels=model.embed_dim, "
                        "teacher_channels=1 for a score map) or projection=False."
                    )
            self.projection = nn.Conv2d(student_channels, teacher_channels, kernel_size=1)

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """Return the scalar KT loss.

        Args:
            student: float ``[B, Cs, hs, ws]`` student features.
            teacher: float ``[B, Ct, ht, wt]`` teacher target (score map or features).

        Raises:
            ValueError: on non-4D inputs, mismatched batch sizes or unexpected channel counts.
        """
        _check_pair(student, teacher)
        if self.projection is not None:
            expected = (self.student_channels, self.teacher_channels)
            if (student.shape[1], teacher.shape[1]) != expected:
                raise ValueError(
                    f"This loss was built for student_channels={expected[0]}, "
                    f"teacher_channels={expected[1]} but got student {student.shape[1]} and "
                    f"teacher {teacher.shape[1]} channels. Build it with the matching counts."
                )
            student = self.projection(student)
        elif student.shape[1] != teacher.shape[1]:
            raise ValueError(
                f"projection=False but channel counts differ: student {student.shape[1]}, "
                f"teacher {teacher.shape[1]}. Use projection=True with student_channels="
                f"{student.shape[1]}, teacher_channels={teacher.shape[1]}."
            )
        if self.detach_teacher:
            teacher = teacher.detach()
        return kt_loss(
            student,
            teacher,
            self.level,
            self.distance,
            normalize=self.normalize,
            match_to=self.match_to,
        )

    def extra_repr(self) -> str:
        return (
            f"level={self.level!r}, distance={self.distance!r}, match_to={self.match_to!r}, "
            f"detach_teacher={self.detach_teacher}, normalize={self.normalize}"
        )
