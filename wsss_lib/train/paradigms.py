"""The three training paradigms of the paper: what one optimisation step computes.

- :class:`SingleNetwork`: one classifier, ``BCE(logit, label)``.
- :class:`TeacherStudent`: a frozen, already trained teacher (eval mode, no gradients, run under
  ``torch.no_grad()``) and a student trained with ``BCE(student) + λ·L_kt(proj(student
  features), teacher target)``. The 1x1 projection inside the KT loss trains with the student.
- :class:`CoTraining`: both networks from scratch, ``BCE(student) + BCE(teacher) + λ·L_kt``, with
  gradients of the KT term flowing into both.

The fully supervised reference lives in :mod:`wsss_lib.train.supervised`. The generic epoch loop
(:mod:`wsss_lib.train.loop`) only sees the :class:`Paradigm` interface: the networks by role,
which of them train, and ``step(batch) -> StepOutput``.

With ``λ = 0`` a teacher-student run is the single-network run of its student by construction:
the student is built first after seeding, the projection is initialised from a separate random
stream, and the KT term is then only logged, not added to the loss.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from wsss_lib.losses import KnowledgeTransferLoss
from wsss_lib.train.config import KTSpec, ModelSpec, TrainConfig

__all__ = [
    "CoTraining",
    "Paradigm",
    "SingleNetwork",
    "StepOutput",
    "TeacherStudent",
    "build_model",
    "build_paradigm",
    "teacher_target",
]

# Seed offset of the random stream that initialises the KT projection (kept apart from the global
# stream so adding a projection does not change the student's initialisation or dropout).
_PROJECTION_SEED_OFFSET = 7_777


@dataclass
class StepOutput:
    """What one step of a paradigm produced.

    Attributes:
        loss: Scalar loss to backpropagate.
        terms: Named scalar loss terms (batch means), e.g. ``{"bce": ..., "kt": ...}``; logged.
        ratios: Named ``(numerator, denominator)`` counts summed over an epoch and reported as
            their ratio, e.g. ``{"acc": (n_correct, n_images)}``.
    """

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)
    ratios: dict[str, tuple[float, float]] = field(default_factory=dict)


def build_model(spec: ModelSpec, image_size: int) -> nn.Module:
    """Build the classifier a :class:`ModelSpec` describes, for ``image_size`` inputs.

    With ``spec.pretrain`` set, the backbone is loaded from the proxy pre-training
    (:func:`wsss_lib.train.pretrain.get_or_pretrain`, cached in ``$WSSS_CACHE``; it does not
    consume the global random stream, so the head's initialisation is the same either way).
    """
    from wsss_lib.models import build_classifier

    model = build_classifier(spec.name, **spec.build_kwargs(image_size))
    if spec.pretrain is not None:
        from wsss_lib.train.pretrain import PretrainSpec, get_or_pretrain

        state = get_or_pretrain(
            spec.name, spec.build_kwargs(image_size), PretrainSpec.from_dict(spec.pretrain)
        )
        model.backbone.load_state_dict(state)
    return model


def _accuracy(logits: Tensor, labels: Tensor) -> tuple[float, float]:
    correct = ((logits.detach() > 0) == (labels > 0.5)).sum().item()
    return float(correct), float(labels.numel())


def _bce(model: nn.Module, images: Tensor, labels: Tensor, layers: tuple[str, ...] = ()):
    """Forward ``model`` once; return its output, its smoke logits ``[B]`` and its image BCE.

    The BCE is the model's own ``classification_loss`` (it adds the unrefined-CAM term of PCM
    models).
    """
    out = model(images, layers=layers)
    return out, out.logits[:, 0], model.classification_loss(out, labels)


def teacher_target(out: Any, kt: KTSpec, layer_name: str | None) -> Tensor:
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


class Paradigm:
    """Networks by role plus the loss of one training step.

    Attributes:
        modules: Role -> module, everything a checkpoint stores (``"model"``, ``"student"``,
            ``"teacher"``, ``"kt"``).
        trainable: Roles whose parameters the optimiser updates.
    """

    name = "base"

    def __init__(self, modules: dict[str, nn.Module], trainable: tuple[str, ...]):
        self.modules = modules
        self.trainable = trainable
        #: Role -> multiplier of the run's learning rate (set by :func:`build_paradigm` from
        #: ``ModelSpec.lr``); roles not listed train at the run's rate.
        self.lr_scale: dict[str, float] = {}

    def to(self, device: torch.device) -> Paradigm:
        for module in self.modules.values():
            module.to(device)
        return self

    def train(self) -> None:
        """Trainable roles to train mode, the others (a frozen teacher) to eval mode."""
        for role, module in self.modules.items():
            module.train(role in self.trainable)

    def eval(self) -> None:
        for module in self.modules.values():
            module.eval()

    def parameters(self) -> list[nn.Parameter]:
        """Parameters of the trainable roles, in a fixed order (the optimiser's order)."""
        return [p for role in self.trainable for p in self.modules[role].parameters()]

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser parameter groups: one group at ``lr`` when every role trains at the run's
        rate, else one group per trainable role with ``"lr_scale"`` (its multiplier)."""
        scales = [self.lr_scale.get(role, 1.0) for role in self.trainable]
        if all(scale == 1.0 for scale in scales):
            return [{"params": self.parameters(), "lr": lr, "lr_scale": 1.0}]
        return [
            {"params": list(self.modules[role].parameters()), "lr": lr * scale,
             "lr_scale": scale}
            for role, scale in zip(self.trainable, scales, strict=True)
        ]

    def state_dicts(self) -> dict[str, dict[str, Tensor]]:
        return {role: module.state_dict() for role, module in self.modules.items()}

    def load_state_dicts(self, states: dict[str, dict[str, Tensor]]) -> None:
        """Load :meth:`state_dicts` output; the roles must match exactly."""
        if set(states) != set(self.modules):
            raise ValueError(
                f"Checkpoint holds networks {sorted(states)} but a {self.name!r} run has "
                f"{sorted(self.modules)}; the checkpoint belongs to another paradigm."
            )
        for role, module in self.modules.items():
            module.load_state_dict(states[role])

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        """Loss and statistics of one batch (``batch["image"]``, ``batch["label"]``, ...)."""
        raise NotImplementedError


class SingleNetwork(Paradigm):
    """One classifier trained with BCE on the image label."""

    name = "single"

    def __init__(self, model: nn.Module):
        super().__init__({"model": model}, trainable=("model",))

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        _, logits, bce = _bce(self.modules["model"], batch["image"], batch["label"])
        return StepOutput(bce, {"bce": bce}, {"acc": _accuracy(logits, batch["label"])})


class _KnowledgeTransfer(Paradigm):
    """Shared set-up of the two paradigms with a student, a teacher and a KT loss."""

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        kt: KTSpec,
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


class TeacherStudent(_KnowledgeTransfer):
    """Frozen trained teacher, student trained with ``BCE + λ·L_kt``.

    The teacher is copied, so freezing it does not touch the caller's network.
    """

    name = "teacher_student"

    def __init__(
        self, student: nn.Module, teacher: nn.Module, kt: KTSpec, image_size: int, seed: int
    ):
        teacher = copy.deepcopy(teacher)
        teacher.eval()
        teacher.requires_grad_(False)
        super().__init__(
            student, teacher, kt, image_size, seed, trainable=("student", "kt"), detach_teacher=True
        )

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        images, labels = batch["image"], batch["label"]
        out, logits, bce = _bce(self.modules["student"], images, labels)
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
            {"acc": _accuracy(logits, labels)},
        )


class CoTraining(_KnowledgeTransfer):
    """Both networks from scratch: ``BCE(student) + BCE(teacher) + λ·L_kt``, gradients both ways."""

    name = "co_training"

    def __init__(
        self, student: nn.Module, teacher: nn.Module, kt: KTSpec, image_size: int, seed: int
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

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        images, labels = batch["image"], batch["label"]
        out_s, logits_s, bce_s = _bce(self.modules["student"], images, labels)
        out_t, logits_t, bce_t = _bce(self.modules["teacher"], images, labels, self._teacher_layers)
        target = teacher_target(out_t, self.kt_spec, self.teacher_layer)
        weighted_kt, kt_value = self._kt_term(out_s, target)
        return StepOutput(
            bce_s + bce_t + weighted_kt,
            {"bce": bce_s, "bce_teacher": bce_t, "kt": kt_value},
            {"acc": _accuracy(logits_s, labels), "acc_teacher": _accuracy(logits_t, labels)},
        )


def build_paradigm(config: TrainConfig, teacher: nn.Module | None = None) -> Paradigm:
    """Build the networks of ``config`` (randomly initialised, in a fixed order) and its paradigm.

    Call :func:`wsss_lib.utils.seed_everything` first for a reproducible initialisation.

    Args:
        config: The run's configuration.
        teacher: The trained teacher of ``"teacher_student"`` (required there, unused elsewhere).
            :func:`wsss_lib.train.get_or_train` trains or loads it from the cache.

    Raises:
        ValueError: when ``"teacher_student"`` gets no teacher.
    """
    paradigm = _build_networks(config, teacher)
    for role in ("model", "student", "teacher"):
        spec = getattr(config, role)
        if spec is not None and spec.lr is not None and role in paradigm.modules:
            paradigm.lr_scale[role] = spec.lr / config.lr
    if "student" in paradigm.lr_scale:
        paradigm.lr_scale["kt"] = paradigm.lr_scale["student"]  # the projection learns with it
    return paradigm


def _build_networks(config: TrainConfig, teacher: nn.Module | None) -> Paradigm:
    size = config.data.image_size
    if config.paradigm == "single":
        return SingleNetwork(build_model(config.model, size))
    if config.paradigm == "supervised":
        from wsss_lib.train.supervised import Supervised, SupervisedSegmenter

        return Supervised(SupervisedSegmenter(build_model(config.model, size), image_size=size))
    if config.paradigm == "teacher_student":
        if teacher is None:
            raise ValueError(
                "paradigm='teacher_student' needs the trained teacher: pass teacher=<model>, or "
                "call wsss_lib.train.get_or_train(config), which trains or loads it first."
            )
        student = build_model(config.student, size)
        return TeacherStudent(student, teacher, config.kt, size, config.seed)
    student = build_model(config.student, size)
    co_teacher = build_model(config.teacher, size)
    return CoTraining(student, co_teacher, config.kt, size, config.seed)
