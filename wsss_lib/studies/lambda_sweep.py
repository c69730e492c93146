"""Notebook 03's question: how much should the student listen to its teacher (λ)?

:func:`lambda_configs` builds the CNN→ViT teacher-student runs (global cosine) for each λ;
λ = 0 is, by construction, the single ViT (a teacher-student run at λ = 0 trains bit-identical
weights, ``tests/test_paradigms.py``), so that row is the single-ViT config, trained once.
:func:`run_lambda_sweep` returns one row per (λ, seed) keyed ``name`` = λ (a float), fractions in
``[0, 1]``, including ``smoke_iou_val`` on which :mod:`wsss_lib.results.lambda_sweep` chooses λ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wsss_lib.studies.configs import single_config, teacher_student_config
from wsss_lib.studies.measure import train_and_evaluate
from wsss_lib.train import TrainConfig

__all__ = ["lambda_configs", "run_lambda_sweep"]


def lambda_configs(
    S: Mapping[str, Any], lams: Iterable[float], seed: int = 0
) -> dict[float, TrainConfig]:
    """CNN→ViT teacher-student runs (global cosine) for each λ; λ = 0 (no KT term) is the single
    ViT's config."""
    return {float(lam): teacher_student_config(S, seed, lam=float(lam)) if lam
            else single_config(S, "vit", seed) for lam in lams}


def run_lambda_sweep(
    S: Mapping[str, Any], sets: Mapping[str, Any], progress: bool = True
) -> list[dict[str, Any]]:
    """Every λ of ``S.lams`` for every seed of ``S.seeds``, measured on ``sets``:
    ``{"name": λ, "seed", **ROW_METRICS}``."""
    return train_and_evaluate(lambda seed: lambda_configs(S, S["lams"], seed), S["seeds"], sets,
                              progress, readouts=S.get("cam_readouts"))
