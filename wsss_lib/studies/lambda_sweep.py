"""Notebook 03's question: how much should the student listen to its teacher (λ)?

:func:`lambda_configs` builds the CNN→ViT teacher-student runs (global cosine) for each λ;
λ = 0 is, by construction, the single ViT. :func:`run_lambda_sweep` returns one row per
(λ, seed) keyed ``name`` = λ (a float), fractions in ``[0, 1]``, including ``smoke_iou_val``
on which :mod:`wsss_lib.results.lambda_sweep` chooses λ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wsss_lib.studies.configs import teacher_student_config
from wsss_lib.studies.measure import train_and_evaluate
from wsss_lib.train import TrainConfig

__all__ = ["lambda_configs", "run_lambda_sweep"]


def lambda_configs(
    S: Mapping[str, Any], lams: Iterable[float], seed: int = 0
) -> dict[float, TrainConfig]:
    """CNN→ViT teacher-student runs (global cosine) for each λ; λ = 0 means no KT term."""
    return {float(lam): teacher_student_config(S, seed, lam=float(lam)) for lam in lams}


def run_lambda_sweep(
    S: Mapping[str, Any], sets: Mapping[str, Any], progress: bool = True
) -> list[dict[str, Any]]:
    """Every λ of ``S.lams`` for every seed of ``S.seeds``, measured on ``sets``:
    ``{"name": λ, "seed", **ROW_METRICS}``."""
    return train_and_evaluate(lambda seed: lambda_configs(S, S["lams"], seed), S["seeds"], sets,
                              progress)
