"""Notebook 04's question: what exactly should the student align with its teacher?

:data:`ALIGNMENT_VARIANTS` names each variant's :class:`~wsss_lib.train.KTSpec` fields (level,
distance, projection, target; λ = 1 throughout), :func:`alignment_config` builds its run and
:func:`run_alignment` returns one row per (variant, seed), fractions in ``[0, 1]``.
:func:`projection_mismatch_error` shows why the projection exists: without it the student's
feature map and the teacher's score map cannot be compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from wsss_lib.studies.configs import co_training_config, teacher_student_config
from wsss_lib.studies.measure import train_and_evaluate
from wsss_lib.train import TrainConfig, TrainedRun

__all__ = [
    "ALIGNMENT_LABELS",
    "ALIGNMENT_VARIANTS",
    "alignment_config",
    "projection_mismatch_error",
    "run_alignment",
]


#: Alignment variants of notebook 04: name -> :class:`KTSpec` fields (λ = 1 throughout).
#: ``*_raw`` use plain L1/L2 on the raw maps (``normalize=False``), as the paper most likely did;
#: the others rescale each vector to unit RMS first, which makes L2 exactly 2 × cosine.
ALIGNMENT_VARIANTS: dict[str, dict[str, Any]] = {
    "global_cosine": {"level": "global", "distance": "cosine"},
    "spatial_cosine": {"level": "spatial", "distance": "cosine"},
    "channel_cosine": {"level": "channel", "distance": "cosine"},
    "global_l1": {"level": "global", "distance": "l1"},
    "global_l2": {"level": "global", "distance": "l2"},
    "global_l1_raw": {"level": "global", "distance": "l1", "normalize": False},
    "global_l2_raw": {"level": "global", "distance": "l2", "normalize": False},
    "no_projection_score_maps": {"level": "global", "distance": "cosine", "projection": False,
                                 "student_map": "score_map"},
    "features_global_cosine": {"level": "global", "distance": "cosine", "target": "features",
                               "teacher_layer": "layer3"},
    "features_spatial_cosine": {"level": "spatial", "distance": "cosine", "target": "features",
                                "teacher_layer": "layer3"},
    "features_channel_cosine": {"level": "channel", "distance": "cosine", "target": "features",
                                "teacher_layer": "layer3"},
    # Co-training (both networks from scratch or from the same pre-training), for the paper's
    # claim that L1 and L2 lose to cosine there too.
    "co_training_cosine": {"paradigm": "co_training", "level": "global", "distance": "cosine"},
    "co_training_l1_raw": {"paradigm": "co_training", "level": "global", "distance": "l1",
                           "normalize": False},
    "co_training_l2_raw": {"paradigm": "co_training", "level": "global", "distance": "l2",
                           "normalize": False},
}


#: Readable labels of :data:`ALIGNMENT_VARIANTS`.
ALIGNMENT_LABELS: dict[str, str] = {
    "global_cosine": "score map · global cosine (paper)",
    "spatial_cosine": "score map · spatial cosine",
    "channel_cosine": "score map · channel cosine",
    "global_l1": "score map · global L1 (unit-RMS)",
    "global_l2": "score map · global L2 (unit-RMS)",
    "global_l1_raw": "score map · global L1 (raw)",
    "global_l2_raw": "score map · global L2 (raw)",
    "no_projection_score_maps": "no projection · score map ↔ score map",
    "features_global_cosine": "teacher layer3 · global cosine",
    "features_spatial_cosine": "teacher layer3 · spatial cosine",
    "features_channel_cosine": "teacher layer3 · channel cosine",
    "co_training_cosine": "co-training · global cosine",
    "co_training_l1_raw": "co-training · global L1 (raw)",
    "co_training_l2_raw": "co-training · global L2 (raw)",
}


def alignment_config(S: Mapping[str, Any], variant: str, seed: int = 0) -> TrainConfig:
    """The CNN→ViT teacher-student run of one :data:`ALIGNMENT_VARIANTS` entry (λ = 1)."""
    if variant not in ALIGNMENT_VARIANTS:
        raise ValueError(
            f"Unknown alignment variant {variant!r}; choose from {list(ALIGNMENT_VARIANTS)}."
        )
    kt = dict(ALIGNMENT_VARIANTS[variant])
    if kt.pop("paradigm", "teacher_student") == "co_training":
        return co_training_config(S, seed, **kt)
    return teacher_student_config(S, seed, **kt)


# ------------------------------------------------------------ the projection's necessity


def projection_mismatch_error(run: TrainedRun, scenes: Any) -> str:
    """What the KT loss says when a CNN→ViT run's maps meet without a projection.

    Runs the student and the teacher of ``run`` on the first two images of ``scenes`` and
    compares the student's feature map with the teacher's score map through
    ``KnowledgeTransferLoss(projection=False)``; their channel counts differ, so it refuses.

    Returns:
        The error message (it names both channel counts and the fix).

    Raises:
        RuntimeError: if the loss unexpectedly accepts the maps (equal channel counts).
    """
    from wsss_lib.data import to_tensor_batch
    from wsss_lib.losses import KnowledgeTransferLoss

    device = next(run.student.parameters()).device
    images = to_tensor_batch(scenes.images[:2]).to(device)
    with torch.no_grad():
        student = run.student(images).feature_map
        teacher = run.teacher(images).score_map
    try:
        KnowledgeTransferLoss(projection=False)(student, teacher)
    except ValueError as err:
        return str(err)
    raise RuntimeError(
        f"The student's feature map ({student.shape[1]} channels) and the teacher's score map "
        f"({teacher.shape[1]}) have equal channel counts; no projection is needed here."
    )


def run_alignment(
    S: Mapping[str, Any], sets: Mapping[str, Any], progress: bool = True
) -> list[dict[str, Any]]:
    """Every variant of ``S.variants`` for every seed of ``S.seeds``, measured on ``sets``:
    ``{"name": variant, "seed", **ROW_METRICS}``."""
    return train_and_evaluate(
        lambda seed: {v: alignment_config(S, v, seed) for v in S["variants"]}, S["seeds"], sets,
        progress, readouts=S.get("cam_readouts"))
