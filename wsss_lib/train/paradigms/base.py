"""The interface every training paradigm implements, and the helpers their steps share.

A paradigm is one class that answers two kinds of question:

- **About itself** (class attributes, read without building anything): which ``TrainConfig``
  fields name its networks (:attr:`Paradigm.network_fields`), whose CAM is the result
  (:attr:`Paradigm.result_role`), whether it has a CAM at all, whether it uses the
  knowledge-transfer loss, whether a trained teacher must exist first, and which networks its
  checkpoint holds (:attr:`Paradigm.checkpoint_roles`).
- **About one run** (an instance, built by :meth:`Paradigm.build`): its networks by role, which
  of them train, and ``step(batch) -> StepOutput``, the loss of one batch. The generic epoch loop
  (:mod:`wsss_lib.train.loop`) sees nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

import numpy as np
import torch
from torch import Tensor, nn

from wsss_lib.train.config import KTSpec, ModelSpec, TrainConfig

__all__ = ["Paradigm", "StepOutput", "batch_accuracy", "build_model", "classifier_bce"]

#: The paradigms are given a :class:`~wsss_lib.train.config.TrainConfig` and its
#: :class:`~wsss_lib.train.config.ModelSpec` / :class:`~wsss_lib.train.config.KTSpec`. The config
#: module imports nothing of the paradigms (a config checks itself against the
#: :class:`~wsss_lib.train.config.ParadigmRules` that ``register_paradigm`` declares), so the
#: import runs one way: paradigms -> config. The ``*Like`` names stay for the signatures that use
#: them.
TrainConfigLike: TypeAlias = TrainConfig
ModelSpecLike: TypeAlias = ModelSpec
KTSpecLike: TypeAlias = KTSpec


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


def build_model(spec: ModelSpecLike, image_size: int) -> nn.Module:
    """Build the classifier a :class:`~wsss_lib.train.config.ModelSpec` describes, for
    ``image_size`` inputs.

    With ``spec.proxy_pretrain`` set, the backbone is loaded from the proxy pre-training
    (:func:`wsss_lib.train.pretrain.get_or_pretrain`, cached in ``$WSSS_CACHE``; it does not
    consume the global random stream, so the head's initialisation is the same either way).
    """
    from wsss_lib.models import build_classifier

    model = build_classifier(spec.name, **spec.build_kwargs(image_size))
    if spec.proxy_pretrain is not None:
        from wsss_lib.train.pretrain import PretrainSpec, get_or_pretrain

        state = get_or_pretrain(
            spec.name, spec.build_kwargs(image_size), PretrainSpec.from_dict(spec.proxy_pretrain)
        )
        model.backbone.load_state_dict(state)
    return model


def batch_accuracy(logits: Tensor, labels: Tensor) -> tuple[float, float]:
    """``(correct, total)`` of smoke logits ``[B]`` against labels ``[B]`` in ``{0, 1}``."""
    correct = ((logits.detach() > 0) == (labels > 0.5)).sum().item()
    return float(correct), float(labels.numel())


def classifier_bce(model: nn.Module, images: Tensor, labels: Tensor, layers: tuple[str, ...] = ()):
    """Forward ``model`` once; return its output, its smoke logits ``[B]`` and its image BCE.

    The BCE is the model's own ``classification_loss`` (it adds the unrefined-CAM term of PCM
    models).
    """
    out = model(images, layers=layers)
    return out, out.logits[:, 0], model.classification_loss(out, labels)


class Paradigm:
    """Networks by role plus the loss of one training step; subclasses describe themselves.

    Class attributes (what a subclass sets):
        name: The ``TrainConfig.paradigm`` value that selects it.
        network_fields: ``TrainConfig`` fields holding its ``ModelSpec`` s, e.g. ``("model",)``
            or ``("student", "teacher")``; the others must be None.
        result_role: Role of the network whose CAMs are the result (``"model"``, ``"student"``).
        has_cam: False for a network that predicts masks directly (no CAM to explore).
        uses_kt: Takes ``TrainConfig.kt`` (the knowledge-transfer loss); else ``kt`` is dropped.
        needs_trained_teacher: :meth:`build` needs the teacher already trained (its config is
            ``TrainConfig.teacher_config()``); ``get_or_train`` trains or loads it first.
        checkpoint_roles: The roles of :attr:`modules`, i.e. the networks its checkpoint holds.

    Attributes:
        modules: Role -> module, everything a checkpoint stores.
        trainable: Roles whose parameters the optimiser updates.
        lr_scale: Role -> multiplier of the run's learning rate (from ``ModelSpec.lr``); roles
            not listed train at the run's rate.
    """

    name: ClassVar[str] = "base"
    network_fields: ClassVar[tuple[str, ...]] = ("model",)
    result_role: ClassVar[str] = "model"
    has_cam: ClassVar[bool] = True
    uses_kt: ClassVar[bool] = False
    needs_trained_teacher: ClassVar[bool] = False
    checkpoint_roles: ClassVar[tuple[str, ...]] = ("model",)

    def __init__(self, modules: dict[str, nn.Module], trainable: tuple[str, ...]):
        self.modules = modules
        self.trainable = trainable
        self.lr_scale: dict[str, float] = {}

    # ------------------------------------------------------------------ what a subclass provides
    @classmethod
    def build(cls, config: TrainConfigLike, teacher: nn.Module | None = None) -> Paradigm:
        """The randomly initialised networks of ``config`` in a fixed order, as this paradigm.

        ``teacher`` is the trained teacher when :attr:`needs_trained_teacher`, else unused.
        """
        raise NotImplementedError

    @classmethod
    def build_for_loading(cls, config: TrainConfigLike) -> Paradigm:
        """Networks shaped like a trained run of ``config``, to load its checkpoint into."""
        return cls.build(config)

    @classmethod
    def describe(cls, model_name: str, teacher_name: str | None) -> str:
        """Short description of a run for menus, e.g. ``"vit_tiny taught by resnet18"``."""
        return f"{cls.name} {model_name}"

    @classmethod
    def check_training_set(cls, scenes: Any) -> None:
        """Refuse a training set this paradigm cannot learn from (a classifier needs smoke *and*
        clean images).

        Raises:
            ValueError: naming what is missing and how to add it.
        """
        labels = np.asarray(scenes.labels)
        n_smoke = int((labels == 1).sum())
        if n_smoke in (0, len(labels)):
            kind = "clean" if n_smoke == 0 else "smoke"
            raise ValueError(
                f"The training set has only {kind} images ({len(labels)} of them); a smoke/clean "
                "classifier needs both classes. Use smoke_ratio strictly between 0 and 1 "
                "(synthetic data) or add images of the other class."
            )

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        """Loss and statistics of one batch (``batch["image"]``, ``batch["label"]``, ...)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared by every paradigm
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

    def set_lr_scales(self, config: TrainConfigLike) -> None:
        """Each network's own ``ModelSpec.lr`` as a multiple of ``config.lr``."""
        for role in self.network_fields:
            spec = getattr(config, role)
            if spec is not None and spec.lr is not None:
                self.lr_scale[role] = spec.lr / config.lr

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
