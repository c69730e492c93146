"""Notebook 10's question: what is WSSS worth once its pseudo-masks train a segmenter?

Weakly supervised semantic segmentation has two stages. Stage 1 (notebooks 02–06) turns image
labels into pseudo-masks (a classifier's CAM, cut at a threshold). Stage 2 trains an ordinary
segmenter on those pseudo-masks as if they were true masks. This study measures stage 2 on equal
terms with full supervision:

- **the pipeline**: among the method notebooks' networks (:func:`wsss_lib.studies.paradigms.
  paradigm_configs`, the rows named by ``S.rows``), the one whose read-out
  (:func:`wsss_lib.studies.measure.run_readout`) has the best mean smoke IoU on ``val`` over the
  seeds (:func:`choose_pipeline`; ``test`` is never looked at for this choice);
- **stage 2**: its pseudo-masks of every ``train`` image (:func:`pseudo_masks`; clean images get
  an empty mask, because their image label says there is no smoke) train the kit's supervised
  segmenter (:func:`segmenter_config`: the CNN backbone + light decoder of notebook 01's
  reference, with the method's optimiser, schedule and ``S.segmenter_epochs``);
- **the references**, same architecture and same optimiser budget: the segmenter trained on the
  same ``train`` images with their true masks (``supervised``), and on only ``k`` true masks for
  every ``k`` of ``S.k_masks`` (``supervised_k<k>``): the ``k`` images are repeated up to the
  length of the full training set (:func:`repeat_to_length`), so every network takes the same
  number of steps over the same number of epochs;
- **the trivial baselines**: every pixel called smoke (``whole_image``) and the segmenter before
  training (``untrained``).

:func:`run_second_stage` returns one row per (row name, seed) with :data:`SEGMENT_METRICS`
(fractions in ``[0, 1]``) and ``n_masks`` (pixel masks the row was trained with);
:mod:`wsss_lib.results.second_stage` derives "% of supervised" and "how many masks WSSS is worth".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from wsss_lib.studies.configs import data_spec, method_settings, single_config
from wsss_lib.studies.measure import evaluation_sets, run_readout
from wsss_lib.studies.paradigms import PARADIGM_ROWS, paradigm_configs
from wsss_lib.train import (
    CamReadout,
    TrainConfig,
    TrainedRun,
    build_paradigm,
    evaluate_model,
    evaluate_readout,
    get_or_train,
)

__all__ = [
    "SECTION",
    "SEGMENT_METRICS",
    "SECOND_STAGE_ROWS",
    "choose_pipeline",
    "k_row",
    "measure_masks",
    "measure_segmenter",
    "pseudo_masks",
    "repeat_to_length",
    "run_second_stage",
    "second_stage_settings",
    "segmenter_config",
    "training_scenes",
    "untrained_segmenter",
    "whole_image_row",
    "with_masks",
]

#: The notebook's profile section.
SECTION = "10_second_stage"

#: Metrics of every row, fractions in ``[0, 1]``: smoke IoU per smoke image (the paper's "mIoU"),
#: pooled pixel precision / recall, the boundary F-score (2-px tolerance) and the chimney
#: false-positive rate on ``test``; smoke IoU and chimney FP rate on ``test_decoupled`` (suffix
#: ``_decoupled``).
SEGMENT_METRICS = (
    "smoke_iou", "precision", "recall", "boundary_f", "chimney_fp_rate",
    "smoke_iou_decoupled", "chimney_fp_rate_decoupled",
)

#: The fixed rows (the ``supervised_k<k>`` rows come on top): name -> what it is.
SECOND_STAGE_ROWS = {
    "whole_image": "every pixel called smoke (trivial baseline)",
    "untrained": "segmenter before training (trivial baseline)",
    "pseudo_masks": "the pipeline's pseudo-masks (stage 1, no segmenter)",
    "stage2": "segmenter trained on the pseudo-masks (WSSS, stage 2)",
    "supervised": "segmenter trained on every true mask (full supervision)",
}


def k_row(k: int) -> str:
    """The name of the row trained on ``k`` true masks: ``"supervised_k64"``."""
    return f"supervised_k{int(k)}"


def second_stage_settings(profile: str = "quick", **overrides: Any) -> Any:
    """Settings of notebook 10: the recipe (the profile's ``"*"``, so the pseudo-mask networks
    are the cached ones of notebooks 02–07) plus the section's own ``seeds``, ``rows`` (notebook
    02's rows whose pseudo-masks may train stage 2), ``k_masks`` and ``segmenter_epochs``
    (:func:`wsss_lib.studies.configs.method_settings`)."""
    return method_settings(profile, SECTION, **overrides)


# ------------------------------------------------------------------------------ configs and data


def segmenter_config(S: Mapping[str, Any], seed: int) -> TrainConfig:
    """The segmenter every trained row uses: the method's CNN (``resnet_mini`` in ``full``) with
    the supervised paradigm's light decoder, the method's optimiser, schedule, augmentation and
    seed, trained for ``S.segmenter_epochs`` (None: the method's ``epochs``).

    Stage 2, the fully supervised run and the ``k``-mask runs differ only in the masks of the
    ``train_scenes`` handed to :func:`wsss_lib.train.get_or_train` (whose fingerprint joins the
    cache key), never in this config.
    """
    epochs = S.get("segmenter_epochs") or S["epochs"]
    return dataclasses.replace(single_config(S, "cnn", seed), paradigm="supervised",
                               epochs=int(epochs))


def training_scenes(S: Mapping[str, Any], seed: int) -> Any:
    """The ``train`` split the method's networks of ``seed`` were trained on (same co-occurrence
    level, preset and images: :func:`wsss_lib.studies.configs.data_spec`), with its true masks."""
    from wsss_lib.data import load_split

    spec = data_spec(S, seed)
    return load_split(**spec.split_kwargs(spec.train_split, spec.n_train))


def with_masks(scenes: Any, masks: np.ndarray) -> Any:
    """A copy of ``scenes`` whose ``smoke_masks`` are ``masks`` (bool ``[N, H, W]``)."""
    return dataclasses.replace(scenes, smoke_masks=np.asarray(masks, dtype=bool))


def repeat_to_length(scenes: Any, k: int, length: int, seed: int) -> Any:
    """``k`` images of ``scenes`` (with their masks), repeated in turn up to ``length`` images.

    The ``k`` images are the first ``k`` of one random order per ``seed``, so the sets are nested
    (the 32 images contain the 16). Repeating them to the full training set's length gives a run
    on ``k`` masks the same number of optimiser steps and epochs as the full run; each image is
    seen ``length / k`` times as often.

    Raises:
        ValueError: when ``k`` is not in ``1 .. len(scenes)``.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(scenes):
        raise ValueError(f"k must be an integer in 1..{len(scenes)}; got {k!r}.")
    order = np.random.default_rng([int(seed), 10]).permutation(len(scenes))[: int(k)]
    return scenes.subset(np.resize(order, int(length)))


# ------------------------------------------------------------------------------ stage 1


def choose_pipeline(
    S: Mapping[str, Any], sets: Mapping[str, Any], seeds: Sequence[int] | None = None,
    progress: bool = True,
) -> tuple[str, dict[str, dict[str, Any]]]:
    """The pseudo-mask pipeline with the best mean smoke IoU on ``val`` over ``seeds``.

    Each candidate (``S.rows``, rows of :func:`~wsss_lib.studies.paradigms.paradigm_configs`;
    None: all of them) is loaded or trained per seed and read the way notebooks 02–04 read it
    (:func:`~wsss_lib.studies.measure.run_readout`: map and threshold chosen on ``val``).

    Returns:
        ``(name, table)`` with ``table[name] = {"val_iou": mean, "val_iou_per_seed": [...],
        "readouts": [label per seed]}`` for every candidate.
    """
    seeds = [int(s) for s in (S["seeds"] if seeds is None else seeds)]
    names = list(S.get("rows") or PARADIGM_ROWS)
    table: dict[str, dict[str, Any]] = {}
    for name in tqdm(names, desc="pipelines (val)", disable=not progress):
        per_seed, labels = [], []
        for seed in seeds:
            run = get_or_train(paradigm_configs({**S, "paradigms": [name]}, seed)[name],
                               progress=progress)
            readout, choice = run_readout(run, sets, S.get("cam_readouts"))
            val_iou = (choice["val_iou"] if choice is not None else
                       evaluate_readout(run, sets["val"], readout).metrics["smoke_iou"])
            per_seed.append(float(val_iou))
            labels.append(readout.label)
        finite = [v for v in per_seed if math.isfinite(v)]
        table[name] = {"val_iou": float(np.mean(finite)) if finite else math.nan,
                       "val_iou_per_seed": per_seed, "readouts": labels}
    best = max(names, key=lambda n: (table[n]["val_iou"] if math.isfinite(table[n]["val_iou"])
                                     else -math.inf))
    return best, table


def pseudo_masks(run: TrainedRun | torch.nn.Module, scenes: Any, readout: CamReadout,
                 use_labels: bool = True) -> np.ndarray:
    """Binary pseudo-masks of ``scenes`` from ``run``'s CAM read with ``readout``.

    Args:
        run: A trained run with a CAM (its main network).
        scenes: :class:`~wsss_lib.data.SmokeScenes` (``N`` images of ``H x W``).
        readout: Map and threshold (min-max normalised CAM ``> readout.threshold``).
        use_labels: Empty the masks of clean images (label 0): their image label, which WSSS
            trains on, already says there is no smoke.

    Returns:
        bool ``[N, H, W]``.
    """
    cams = evaluate_readout(run, scenes, readout).cams
    masks = np.asarray(cams) > readout.threshold
    if use_labels:
        masks[np.asarray(scenes.labels) == 0] = False
    return masks


# ------------------------------------------------------------------------------ measuring


def measure_masks(masks: np.ndarray, sets: Mapping[str, Any]) -> dict[str, float]:
    """:data:`SEGMENT_METRICS` of fixed binary masks, ``{"test": bool [N, H, W],
    "test_decoupled": bool [N, H, W]}`` (e.g. every pixel), against ``sets``' true masks."""
    from wsss_lib.metrics import evaluate_cams

    row: dict[str, float] = {}
    for split, suffix in (("test", ""), ("test_decoupled", "_decoupled")):
        scenes = sets[split]
        metrics = evaluate_cams(np.asarray(masks[split], dtype=np.float32), scenes.smoke_masks,
                                chimney_masks=scenes.chimney_masks, labels=scenes.labels,
                                threshold=0.5)
        row.update(_split_metrics(metrics, suffix))
    return row


def _split_metrics(metrics: Mapping[str, float], suffix: str) -> dict[str, float]:
    keys = ("smoke_iou", "precision", "recall", "boundary_f", "chimney_fp_rate") if not suffix \
        else ("smoke_iou", "chimney_fp_rate")
    return {f"{k}{suffix}": float(metrics.get(k, math.nan)) for k in keys}


def measure_segmenter(model: Any, sets: Mapping[str, Any]) -> dict[str, float]:
    """:data:`SEGMENT_METRICS` of a segmenter (a :class:`~wsss_lib.train.TrainedRun` or a
    ``SupervisedSegmenter``): its smoke probability ``float [N, H, W]`` cut at 0.5."""
    row: dict[str, float] = {}
    for split, suffix in (("test", ""), ("test_decoupled", "_decoupled")):
        row.update(_split_metrics(evaluate_model(model, sets[split]).metrics, suffix))
    return row


def whole_image_row(sets: Mapping[str, Any]) -> dict[str, float]:
    """The trivial baseline "every pixel is smoke" (:func:`measure_masks`)."""
    return measure_masks({split: np.ones_like(sets[split].smoke_masks, dtype=bool)
                          for split in ("test", "test_decoupled")}, sets)


def untrained_segmenter(config: TrainConfig) -> Any:
    """The segmenter of ``config`` as training starts it (the proxy pre-trained backbone when the
    config asks for one, a random decoder), in eval mode. Drawn from a private random stream
    seeded with ``config.seed``, so the caller's random state is unchanged."""
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = build_paradigm(config).modules["model"]
    return model.eval()


def _measure_pipeline(run: TrainedRun, readout: CamReadout, sets: Mapping[str, Any]
                      ) -> dict[str, float]:
    """The pipeline's pseudo-masks on ``test`` / ``test_decoupled``, read as in notebook 02 (no
    image labels: a segmenter has none at test time either), plus its classifier accuracy."""
    row: dict[str, float] = {}
    for split, suffix in (("test", ""), ("test_decoupled", "_decoupled")):
        metrics = evaluate_readout(run, sets[split], readout).metrics
        row.update(_split_metrics(metrics, suffix))
        row[f"accuracy{suffix}"] = float(metrics["accuracy"])
    return row


def run_second_stage(
    S: Mapping[str, Any], sets: Mapping[str, Any] | None = None, progress: bool = True,
    pipeline: str | None = None,
) -> dict[str, Any]:
    """Stage 2 and its references for every seed of ``S.seeds``.

    Args:
        S: :func:`second_stage_settings`.
        sets: :func:`~wsss_lib.studies.measure.evaluation_sets` (loaded when None).
        progress: Progress bars.
        pipeline: The pseudo-mask pipeline (a row of
            :func:`~wsss_lib.studies.paradigms.paradigm_configs`); None: :func:`choose_pipeline`
            on ``val``.

    Returns:
        ``{"rows": [...], "pipeline": name, "pipelines": choose_pipeline's table (or {}),
        "n_train": int, "networks": {...}}``; ``networks`` holds the first seed's pipeline run
        and read-out (``"pipeline"``: ``(run, readout)``) and its ``"stage2"`` and
        ``"supervised"`` segmenter runs, for galleries. Each row is
        ``{"name", "seed", "n_masks", **SEGMENT_METRICS}`` (fractions); the ``pseudo_masks``
        row also has ``accuracy``, ``accuracy_decoupled``, ``readout``, and ``train_mask_iou``
        / ``train_mask_precision`` / ``train_mask_recall`` (its pseudo-masks against the true
        masks of the ``train`` images they label).
    """
    from wsss_lib.metrics import evaluate_cams

    sets = evaluation_sets(S) if sets is None else sets
    seeds = [int(s) for s in S["seeds"]]
    if not seeds:
        raise ValueError("S.seeds is empty; give at least one seed, e.g. [0].")
    table: dict[str, dict[str, Any]] = {}
    if pipeline is None:
        pipeline, table = choose_pipeline(S, sets, seeds, progress)
    k_masks = [int(k) for k in S.get("k_masks") or ()]
    whole = whole_image_row(sets)
    rows: list[dict[str, Any]] = []
    networks: dict[str, Any] = {}
    n_train = 0
    for seed in tqdm(seeds, desc="seeds", disable=not progress):
        train = training_scenes(S, seed)
        n_train = len(train)
        too_many = [k for k in k_masks if k > n_train]
        if too_many:
            raise ValueError(f"k_masks {too_many} exceed the {n_train} training images.")
        config = segmenter_config(S, seed)
        rows.append({"name": "whole_image", "seed": seed, "n_masks": 0, **whole})
        rows.append({"name": "untrained", "seed": seed, "n_masks": 0,
                     **measure_segmenter(untrained_segmenter(config), sets)})

        run = get_or_train(paradigm_configs({**S, "paradigms": [pipeline]}, seed)[pipeline],
                           progress=progress)
        readout, _ = run_readout(run, sets, S.get("cam_readouts"))
        networks.setdefault("pipeline", (run, readout))
        masks = pseudo_masks(run, train, readout)
        label_quality = evaluate_cams(masks.astype(np.float32), train.smoke_masks,
                                      labels=train.labels, threshold=0.5)
        rows.append({"name": "pseudo_masks", "seed": seed, "n_masks": 0,
                     **_measure_pipeline(run, readout, sets), "readout": readout.label,
                     "train_mask_iou": float(label_quality["smoke_iou"]),
                     "train_mask_precision": float(label_quality["precision"]),
                     "train_mask_recall": float(label_quality["recall"])})

        trainings = [("stage2", 0, with_masks(train, masks)), ("supervised", n_train, train)]
        trainings += [(k_row(k), k, repeat_to_length(train, k, n_train, seed)) for k in k_masks]
        for name, n_masks, scenes in tqdm(trainings, desc=f"segmenters (seed {seed})",
                                          disable=not progress, leave=False):
            segmenter = get_or_train(config, train_scenes=scenes, progress=progress)
            if name in ("stage2", "supervised"):
                networks.setdefault(name, segmenter)
            rows.append({"name": name, "seed": seed, "n_masks": n_masks,
                         **measure_segmenter(segmenter, sets)})
    return {"rows": rows, "pipeline": pipeline, "pipelines": table, "n_train": n_train,
            "networks": networks}
