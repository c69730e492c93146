"""Learning-rate schedules: the rate of every optimisation step as a pure function of the step,
so a resumed run follows the same schedule."""

from __future__ import annotations

import math
from typing import Protocol

__all__ = ["SCHEDULES", "WARMUP_FRACTION", "learning_rate_at", "warmup_cosine"]

#: Learning-rate schedules: ``"constant"``, or ``"warmup_cosine"`` (linear warm-up from lr/25 over
#: the first ``WARMUP_FRACTION`` of all steps, then cosine decay to zero).
SCHEDULES = ("constant", "warmup_cosine")
WARMUP_FRACTION = 0.1


class ScheduleSettings(Protocol):
    """What :func:`learning_rate_at` reads of a :class:`~wsss_lib.train.config.TrainConfig` (named
    here, not imported: ``train.config`` imports this module)."""

    lr: float
    schedule: str


def learning_rate_at(config: ScheduleSettings, step: int, total_steps: int) -> float:
    """Learning rate of optimisation step ``step`` (0-based) out of ``total_steps``.

    ``"constant"``: ``config.lr``. ``"warmup_cosine"``: a linear ramp from ``lr / 25`` to ``lr``
    over the first ``WARMUP_FRACTION`` of the steps, then ``lr * (1 + cos(pi * t)) / 2`` with
    ``t`` going from 0 to 1 over the remaining steps.
    """
    if config.schedule == "constant" or total_steps <= 1:
        return config.lr
    return warmup_cosine(config.lr, step, total_steps)


def warmup_cosine(peak: float, step: int, total_steps: int) -> float:
    """The ``"warmup_cosine"`` rate of step ``step`` (0-based) of ``total_steps``, peaking at
    ``peak`` (see :func:`learning_rate_at`)."""
    warmup = max(1, int(round(WARMUP_FRACTION * total_steps)))
    if step < warmup:
        start = peak / 25
        return start + (peak - start) * step / warmup
    t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return peak * 0.5 * (1.0 + math.cos(math.pi * t))
