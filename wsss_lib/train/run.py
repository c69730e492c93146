"""A trained run: its networks by role, its config and history; loading one from a checkpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsss_lib.train.checkpoint import load_checkpoint
from wsss_lib.train.config import TrainConfig
from wsss_lib.train.paradigms import Paradigm, get_paradigm
from wsss_lib.utils import get_device

__all__ = ["CHECKPOINT_NAME", "HISTORY_NAME", "TrainedRun", "load_run", "run_from_paradigm"]

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"


@dataclass
class TrainedRun:
    """The result of training: networks in eval mode, with the config and history that made them.

    Attributes:
        config: The run's :class:`~wsss_lib.train.config.TrainConfig`.
        models: Role -> network, the paradigm's ``checkpoint_roles``: ``"model"`` (single,
            supervised) or ``"student"``, ``"teacher"`` and ``"kt"`` (the knowledge-transfer
            loss with its trained projection).
            All in eval mode with gradients enabled, so gradient-based CAM methods work.
        history: One dict of metrics per epoch (``train_loss``, ``train_acc``, ``val_acc``, ...).
        run_dir: Folder with ``checkpoint.pt`` and ``history.json`` (None when not saved).
    """

    config: TrainConfig
    models: dict[str, nn.Module]
    history: list[dict[str, Any]]
    run_dir: Path | None = None

    @property
    def model(self) -> nn.Module:
        """The network whose CAMs are the result (the student of the KT paradigms)."""
        return self.models[self.config.main_role]

    @property
    def student(self) -> nn.Module:
        return self._role("student")

    @property
    def teacher(self) -> nn.Module:
        return self._role("teacher")

    @property
    def kt_loss(self) -> nn.Module:
        return self._role("kt")

    def _role(self, role: str) -> nn.Module:
        if role not in self.models:
            raise AttributeError(
                f"A {self.config.paradigm!r} run has no {role!r} network; it has "
                f"{sorted(self.models)} (use .model for the main network)."
            )
        return self.models[role]


def run_from_paradigm(
    paradigm: Paradigm, config: TrainConfig, history: list[dict[str, Any]], run_dir: Path | None
) -> TrainedRun:
    """Wrap a paradigm's networks as a :class:`TrainedRun` (eval mode, gradients enabled)."""
    for module in paradigm.modules.values():
        module.eval()
        module.requires_grad_(True)
    return TrainedRun(
        config=config, models=dict(paradigm.modules), history=history, run_dir=run_dir
    )


def _for_loading(config: TrainConfig) -> TrainConfig:
    """``config`` without the proxy pre-training: the same network shapes, built without first
    running (or reading) a pre-training whose weights the checkpoint overwrites anyway, which on a
    fresh machine would cost minutes before a shipped network could load."""
    specs = {role: replace(spec, proxy_pretrain=None) for role in ("model", "student", "teacher")
             if (spec := getattr(config, role, None)) is not None
             and spec.proxy_pretrain is not None}
    return replace(config, **specs) if specs else config


def load_run(
    path: str | os.PathLike[str],
    device: str | torch.device | None = None,
    *,
    payload: dict[str, Any] | None = None,
) -> TrainedRun:
    """Load a trained run from its folder (or its ``checkpoint.pt``) without retraining.

    Args:
        path: Run folder or checkpoint file.
        device: Where to put the networks (default: :func:`wsss_lib.utils.get_device`).
        payload: An already loaded checkpoint of ``path`` (avoids reading it twice).

    Raises:
        FileNotFoundError / ValueError: see :func:`~wsss_lib.train.checkpoint.load_checkpoint`.
    """
    path = Path(path)
    checkpoint_path = path / CHECKPOINT_NAME if path.is_dir() else path
    if payload is None:
        payload = load_checkpoint(checkpoint_path)
    config = TrainConfig.from_dict(payload["config"])
    # Building random networks only to overwrite them must not disturb the caller's RNG streams.
    with torch.random.fork_rng(devices=[]):
        paradigm = get_paradigm(config.paradigm).build_for_loading(_for_loading(config))
    paradigm.load_state_dicts(payload["models"])
    paradigm.to(get_device(device))
    return run_from_paradigm(paradigm, config, payload["history"], checkpoint_path.parent)
