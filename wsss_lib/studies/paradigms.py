"""Notebook 02's question: which training paradigm gives the best ViT (or CNN) pseudo-masks?

Five rows (:data:`PARADIGM_ROWS`) per seed: the single CNN (also the teacher), the single ViT,
teacher-student CNN→ViT (the paper's method) and ViT→CNN, and co-training.
:func:`run_paradigms` trains (or loads) them and returns one row per (row name, seed) with the
:data:`~wsss_lib.studies.measure.ROW_METRICS`, fractions in ``[0, 1]``;
:mod:`wsss_lib.results.paradigms` turns the rows into claims and verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wsss_lib.studies.configs import PARADIGM_ROWS, paradigm_config
from wsss_lib.studies.measure import train_and_evaluate
from wsss_lib.train import TrainConfig

__all__ = ["PARADIGM_ROWS", "PARADIGM_SHORT", "paradigm_configs", "run_paradigms"]


# PARADIGM_ROWS (name -> what it is) is defined once, in wsss_lib.studies.configs, next to the
# builder of the rows; notebooks and results import it from here too.

#: Short labels of the rows for plot axes.
PARADIGM_SHORT = {
    "single_cnn": "CNN (= teacher)",
    "single_vit": "ViT",
    "ts_cnn_to_vit": "TS CNN→ViT",
    "ts_vit_to_cnn": "TS ViT→CNN",
    "co_training": "co-training",
}


def paradigm_configs(S: Mapping[str, Any], seed: int = 0) -> dict[str, TrainConfig]:
    """The rows of notebook 02 (:data:`PARADIGM_ROWS`) for one seed: all five, or those named by
    the optional setting ``S.paradigms`` (the tutorial profile leaves co-training to the full one).

    Raises:
        ValueError: when ``S.paradigms`` names an unknown row.
    """
    wanted = S.get("paradigms") or list(PARADIGM_ROWS)
    unknown = [name for name in wanted if name not in PARADIGM_ROWS]
    if unknown:
        raise ValueError(f"Unknown paradigm rows {unknown}; choose from {list(PARADIGM_ROWS)}.")
    return {name: paradigm_config(S, name, seed) for name in wanted}


def run_paradigms(
    S: Mapping[str, Any], sets: Mapping[str, Any], progress: bool = True
) -> list[dict[str, Any]]:
    """Every row of :func:`paradigm_configs` for every seed of ``S.seeds``, measured on ``sets``
    (:func:`~wsss_lib.studies.measure.evaluation_sets`): ``{"name", "seed", **ROW_METRICS}``."""
    return train_and_evaluate(lambda seed: paradigm_configs(S, seed), S["seeds"], sets, progress,
                              readouts=S.get("cam_readouts"))
