"""Notebook 01: the chimney shortcut, measured across a sweep of co-occurrence strengths.

A classifier trained on image labels only learns whatever separates smoke images from clean
ones. When chimneys appear in almost every smoke image and almost no clean one, "there is a
chimney" is such a feature, and the network's CAM lights up the chimney instead of the smoke.

This module trains a CNN and a ViT on ``train`` splits whose co-occurrence
``P(chimney | smoke) / P(chimney | clean)`` is swept (``0.5/0.5`` = independent ... ``1.0/0.0`` =
a perfect shortcut), evaluates them on ``test`` (same bias as training) and ``test_decoupled``
(smoke never at a chimney, every clean image has a bare chimney), and returns plain rows::

    S = notebook_settings("01_co_occurrence_bias", "quick")
    rows = run_bias_sweep(S)                    # one row per (architecture, level, seed)
    summary = summarize_sweep(rows)             # mean and std over seeds
    reference = run_supervised_reference(S)     # fully supervised, same CNN backbone
    fig = plot_bias_sweep(summary, reference)

Conventions of every number here: CAMs are class activation maps (``method="cam"``) min-max
normalised per image; the pseudo-mask is ``CAM > threshold`` (0.3 by default, as the paper);
smoke IoU is computed per image and averaged over the smoke images (the paper's "mIoU"). Rows
hold fractions in ``[0, 1]``; :func:`bias_results` converts to % for ``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from wsss_lib.metrics import SweepResult, per_image_smoke_iou, threshold_sweep

__all__ = [
    "ARCHS",
    "DEFAULT_LEVELS",
    "EXAMPLE_KINDS",
    "METRIC_KEYS",
    "NEAR_CHANCE_ACCURACY",
    "PAPER_NUMBERS",
    "BiasExample",
    "bias_examples",
    "bias_findings",
    "bias_metrics",
    "bias_model_config",
    "bias_results",
    "cooccurrence_levels",
    "cooccurrence_strength",
    "evaluate_bias_run",
    "gallery_maps",
    "level_label",
    "load_test_sets",
    "plot_bias_sweep",
    "plot_cam_gallery",
    "result_key",
    "run_bias_sweep",
    "run_supervised_reference",
    "summarize_sweep",
    "supervised_config",
    "sweep_curves",
    "sweep_table",
    "whole_image_baseline",
]

#: The two architectures compared: the settings name their models (``cnn_model``, ``vit_model``).
ARCHS: tuple[str, ...] = ("cnn", "vit")

#: ``(P(chimney | smoke), P(chimney | clean))`` from independent to a perfect shortcut.
DEFAULT_LEVELS: tuple[tuple[float, float], ...] = (
    (0.5, 0.5),
    (0.75, 0.25),
    (0.95, 0.05),
    (1.0, 0.0),
)

#: Test splits every model is evaluated on, and the suffix of their metric keys.
TEST_SPLITS: dict[str, str] = {"test": "", "test_decoupled": "_decoupled"}

#: Metrics of one evaluated row: on ``test`` under these names, on ``test_decoupled`` with the
#: suffix ``_decoupled``. (Same names as :mod:`wsss_lib.experiments.method`.)
METRIC_KEYS: tuple[str, ...] = ("accuracy", "smoke_iou", "chimney_fp_rate", "cam_chimney_mass")

#: The paper's smoke IoU (%), on real IJmond data at 512 px (Zhang & Hsu 2025).
PAPER_NUMBERS: dict[str, dict[str, float]] = {
    "resnet50_pcm": {"smoke_iou": 33.56},
    "vit": {"smoke_iou": 13.18},
    "fully_supervised_setr": {"smoke_iou": 68.27},
}

#: Kinds of illustrative images of :func:`bias_examples`: (split, label, has chimney, caption).
EXAMPLE_KINDS: tuple[tuple[str, int, bool, str], ...] = (
    ("test", 1, True, "smoke from chimney"),
    ("test", 0, False, "clean, no chimney"),
    ("test_decoupled", 1, False, "smoke, NO chimney"),
    ("test_decoupled", 0, True, "chimney, NO smoke"),
)

# Image-classification metrics: undefined for the supervised segmenter.
_CLASSIFIER_ONLY = ("accuracy", "accuracy_decoupled", "shortcut_gap", "train_accuracy")
_ARCH_TITLES = {"cnn": "CNN", "vit": "ViT"}
_ARCH_COLORS = {"cnn": "#1f77b4", "vit": "#d62728"}
#: Test accuracy below which :func:`bias_findings` calls a classifier untrained (chance is 0.5).
NEAR_CHANCE_ACCURACY = 0.6

_MIN_SMOKE_FRACTION = 0.02  # gallery smoke must cover at least 2 % of the image to be readable


# ------------------------------------------------------------------------------ levels and configs


def cooccurrence_levels(
    levels: Sequence[Sequence[float]] | None = None,
) -> list[tuple[float, float]]:
    """Validated co-occurrence levels ``[(P(chimney | smoke), P(chimney | clean)), ...]``.

    Args:
        levels: Pairs of probabilities (e.g. the profile's ``levels``); None for
            :data:`DEFAULT_LEVELS`. Returned sorted by :func:`cooccurrence_strength`.

    Raises:
        ValueError: when a level is not a pair of probabilities, or a level repeats.
    """
    raw = DEFAULT_LEVELS if levels is None else levels
    out: list[tuple[float, float]] = []
    for level in raw:
        if isinstance(level, (str, bytes)) or not isinstance(level, Sequence) or len(level) != 2:
            raise ValueError(
                f"Each co-occurrence level must be a pair [P(chimney|smoke), P(chimney|clean)], "
                f"e.g. [0.95, 0.05]; got {level!r}."
            )
        p_smoke, p_clean = level
        for name, p in (("P(chimney|smoke)", p_smoke), ("P(chimney|clean)", p_clean)):
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1]; got {p!r} in {level}.")
        out.append((float(p_smoke), float(p_clean)))
    if not out:
        raise ValueError("levels is empty; give at least one [P(chimney|smoke), P(chimney|clean)].")
    if len(set(out)) != len(out):
        raise ValueError(f"levels contains a repeated level: {out}.")
    return sorted(out, key=lambda lv: (cooccurrence_strength(*lv), lv))


def cooccurrence_strength(p_smoke: float, p_clean: float) -> float:
    """How much a chimney raises the chance of smoke: ``P(chimney|smoke) - P(chimney|clean)``.

    0 for independent chimneys, 1 for a perfect shortcut (negative: chimneys predict *clean*).
    """
    return float(p_smoke) - float(p_clean)


def level_label(p_smoke: float, p_clean: float) -> str:
    """``"0.95/0.05"``: how levels are written in tables and on axes."""
    return f"{p_smoke:.2f}/{p_clean:.2f}"


def result_key(arch: str, p_smoke: float) -> str:
    """Row name in ``metrics.json``: ``"cnn@0.95"`` (the level's ``P(chimney | smoke)``)."""
    return f"{arch}@{p_smoke:.2f}"


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {list(ARCHS)}.")


def _model_spec(S: Mapping[str, Any], arch: str):
    from wsss_lib.train import ModelSpec

    _check_arch(arch)
    pretrain = {} if S.get("pretrain") else None
    if arch == "cnn":
        stride = S.get("cnn_output_stride")
        return ModelSpec(S["cnn_model"], {} if stride is None else {"output_stride": int(stride)},
                         pretrain=pretrain)
    return ModelSpec(S["vit_model"], {"patch_size": int(S["vit_patch_size"])}, pretrain=pretrain)


def _recipe(S: Mapping[str, Any]) -> dict[str, Any]:
    """Optimisation settings beyond epochs / lr (defaults: the kit's first recipe)."""
    return {
        "schedule": S.get("schedule") or "constant",
        "augment": S.get("augment", True),
        "weight_decay": float(S.get("weight_decay") or 0.01),
    }


def _data_spec(S: Mapping[str, Any], p_smoke: float, p_clean: float):
    """Training data at one level. The ``train`` split's own level needs no overrides, which keeps
    its cache key equal to that of any other notebook training on the plain ``train`` split."""
    from wsss_lib.data.splits import SPLIT_DEFAULTS
    from wsss_lib.train import DataSpec

    default = SPLIT_DEFAULTS["train"]
    overrides = {}
    if (p_smoke, p_clean) != (default["p_chimney_given_smoke"], default["p_chimney_given_clean"]):
        overrides = {"p_chimney_given_smoke": p_smoke, "p_chimney_given_clean": p_clean}
    return DataSpec(
        image_size=int(S["image_size"]),
        n_train=int(S["n_train"]),
        n_val=int(S["n_val"]),
        seed=int(S.get("data_seed", 0)),
        preset=S.get("scene_preset"),
        overrides=overrides,
    )


def bias_model_config(S: Mapping[str, Any], arch: str, p_smoke: float, p_clean: float, seed: int):
    """The :class:`~wsss_lib.train.TrainConfig` of one single-network classifier of the sweep.

    Args:
        S: Notebook settings (``image_size``, ``n_train``, ``n_val``, ``epochs``, ``batch_size``,
            ``lr``, ``cnn_model``, ``vit_model``, ``vit_patch_size``; optional
            ``cnn_output_stride`` (None: the model's own, 32 for a ResNet), ``vit_epochs`` and
            ``vit_lr`` (None: ``epochs`` and ``lr``).
        arch: ``"cnn"`` or ``"vit"``.
        p_smoke, p_clean: The training split's ``P(chimney | smoke)`` and ``P(chimney | clean)``
            (validation uses the same level).
        seed: Initialisation / shuffling seed.

    Returns:
        A ``paradigm="single"`` config; :func:`wsss_lib.train.get_or_train` trains it once.
    """
    from wsss_lib.train import TrainConfig

    (p_smoke, p_clean), = cooccurrence_levels([(p_smoke, p_clean)])
    epochs, lr = S["epochs"], S["lr"]
    if arch == "vit":
        # ViTs need a smaller learning rate and more steps than a CNN.
        epochs = S.get("vit_epochs") or epochs
        lr = S.get("vit_lr") or lr
    return TrainConfig(
        paradigm="single",
        model=_model_spec(S, arch),
        data=_data_spec(S, p_smoke, p_clean),
        epochs=int(epochs),
        batch_size=int(S["batch_size"]),
        lr=float(lr),
        seed=int(seed),
        **_recipe(S),
    )


def supervised_config(S: Mapping[str, Any], seed: int | None = None):
    """Fully supervised reference: the CNN backbone + light decoder trained on smoke masks.

    Trained once at the training co-occurrence ``S.train_level``; ``seed`` defaults to the first
    of ``S.seeds``.
    """
    from wsss_lib.train import TrainConfig

    (p_smoke, p_clean), = cooccurrence_levels([S["train_level"]])
    return TrainConfig(
        paradigm="supervised",
        model=_model_spec(S, "cnn"),
        data=_data_spec(S, p_smoke, p_clean),
        epochs=int(S.get("supervised_epochs") or S["epochs"]),
        batch_size=int(S["batch_size"]),
        lr=float(S["lr"]),
        seed=int(S["seeds"][0] if seed is None else seed),
        **_recipe(S),
    )


def load_test_sets(S: Mapping[str, Any]) -> dict[str, Any]:
    """``{"test": ..., "test_decoupled": ...}`` :class:`~wsss_lib.data.SmokeScenes` (cached)."""
    from wsss_lib.data import load_split

    return {
        split: load_split(
            split, image_size=int(S["image_size"]), n_images=int(S["n_test"]),
            seed=int(S.get("data_seed", 0)),
            **({"preset": S["scene_preset"]} if S.get("scene_preset") else {}),
        )
        for split in TEST_SPLITS
    }


def whole_image_baseline(test_sets: Mapping[str, Any]) -> dict[str, float]:
    """Smoke IoU of the trivial pseudo-mask "every pixel is smoke", per image over smoke images.

    A CAM is only useful where its pseudo-mask beats this. Keys: ``smoke_iou`` (``test``) and
    ``smoke_iou_decoupled``, fractions in ``[0, 1]``.
    """
    out = {}
    for split, suffix in TEST_SPLITS.items():
        scenes = test_sets[split]
        everything = np.ones_like(scenes.smoke_masks, dtype=bool)
        out[f"smoke_iou{suffix}"] = per_image_smoke_iou(everything, scenes.smoke_masks,
                                                        scenes.labels)
    return out


# ------------------------------------------------------------------------------ evaluation


def evaluate_bias_run(model: Any, test_sets: Mapping[str, Any], threshold: float = 0.3) -> dict:
    """Metrics of one trained network on ``test`` and ``test_decoupled``.

    Args:
        model: A :class:`~wsss_lib.train.TrainedRun` or a network (classifier or supervised
            segmenter, whose probabilities take the place of CAMs).
        test_sets: Output of :func:`load_test_sets`.
        threshold: Pseudo-mask threshold on the min-max normalised CAMs.

    Returns:
        Flat dict of fractions: ``accuracy``, ``smoke_iou``, ``chimney_fp_rate``,
        ``cam_chimney_mass`` and the same with ``_decoupled``; ``shortcut_gap`` (test minus
        decoupled; NaN for a segmenter); from the ``test`` CAMs, the threshold sweep:
        ``best_threshold``, ``best_threshold_iou``, ``oracle_iou``, ``sweep_thresholds`` and
        ``sweep_ious`` (lists).
    """
    from wsss_lib.train import evaluate_model

    row: dict[str, Any] = {}
    for split, suffix in TEST_SPLITS.items():
        if split not in test_sets:
            raise ValueError(f"test_sets needs a {split!r} entry (use load_test_sets(S)).")
        result = evaluate_model(model, test_sets[split], threshold=threshold)
        metrics = result.metrics
        for key in METRIC_KEYS:
            row[f"{key}{suffix}"] = float(metrics.get(key, math.nan))
        if split == "test":
            scenes = test_sets[split]
            sweep = threshold_sweep(result.cams, scenes.smoke_masks, scenes.labels)
            row.update(
                best_threshold=sweep.best_threshold,
                best_threshold_iou=sweep.best_iou,
                oracle_iou=sweep.oracle_iou,
                sweep_thresholds=[float(t) for t in sweep.thresholds],
                sweep_ious=[float(v) for v in sweep.ious],
                n_smoke_images=sweep.n_smoke_images,
            )
    row["shortcut_gap"] = row["accuracy"] - row["accuracy_decoupled"]
    return row


def _check_settings(S: Mapping[str, Any]) -> None:
    needed = ("image_size", "n_train", "n_val", "n_test", "epochs", "batch_size", "lr", "seeds",
              "cnn_model", "vit_model", "vit_patch_size", "levels", "train_level", "threshold")
    missing = [key for key in needed if key not in S]
    if missing:
        raise ValueError(
            f"Settings lack {missing}; build them with "
            "notebook_settings('01_co_occurrence_bias', profile)."
        )
    if not isinstance(S["seeds"], Sequence) or isinstance(S["seeds"], str) or not S["seeds"]:
        raise ValueError(f"seeds must be a non-empty list of integers; got {S['seeds']!r}.")


def run_bias_sweep(
    S: Mapping[str, Any],
    progress: bool = True,
    archs: Sequence[str] = ARCHS,
    cache_dir: Any = None,
) -> list[dict[str, Any]]:
    """Train (or load from the cache) and evaluate every (architecture, level, seed).

    Args:
        S: Notebook settings (see :func:`bias_model_config`, plus ``n_test``, ``seeds``,
            ``levels``, ``threshold``).
        progress: Show a progress bar over the runs (and each run's training bar).
        archs: Subset of :data:`ARCHS` to run.
        cache_dir: Model and dataset cache (default: ``$WSSS_CACHE``).

    Returns:
        One dict per run: ``arch``, ``model``, ``p_smoke``, ``p_clean``, ``strength``,
        ``level``, ``seed``, ``train_accuracy`` (last epoch) and :func:`evaluate_bias_run`'s keys.
    """
    from wsss_lib.train import get_or_train

    _check_settings(S)
    for arch in archs:
        _check_arch(arch)
    levels = cooccurrence_levels(S["levels"])
    test_sets = load_test_sets(S)
    jobs = [(arch, level, int(seed)) for level in levels for arch in archs for seed in S["seeds"]]
    rows = []
    bar = tqdm(jobs, desc="co-occurrence sweep", disable=not progress, unit="model")
    for arch, (p_smoke, p_clean), seed in bar:
        bar.set_postfix_str(f"{arch} @ {level_label(p_smoke, p_clean)} seed {seed}")
        config = bias_model_config(S, arch, p_smoke, p_clean, seed)
        run = get_or_train(config, cache_dir=cache_dir, progress=progress)
        row = {
            "arch": arch,
            "model": config.model.name,
            "p_smoke": p_smoke,
            "p_clean": p_clean,
            "strength": cooccurrence_strength(p_smoke, p_clean),
            "level": level_label(p_smoke, p_clean),
            "seed": seed,
            "threshold": float(S["threshold"]),
            "train_accuracy": float(run.history[-1].get("train_acc", math.nan)),
        }
        row.update(evaluate_bias_run(run, test_sets, float(S["threshold"])))
        rows.append(row)
    return rows


def run_supervised_reference(
    S: Mapping[str, Any], progress: bool = True, cache_dir: Any = None
) -> dict[str, Any]:
    """Train (or load) and evaluate the fully supervised reference of :func:`supervised_config`.

    Its "CAM" is the segmenter's smoke probability, thresholded at 0.5 (a probability, not a
    min-max normalised CAM). Returns :func:`evaluate_bias_run`'s keys plus ``model``,
    ``p_smoke``, ``p_clean``, ``level`` and ``seed``; accuracies are NaN (no image classifier).
    """
    from wsss_lib.train import get_or_train

    _check_settings(S)
    config = supervised_config(S)
    run = get_or_train(config, cache_dir=cache_dir, progress=progress)
    (p_smoke, p_clean), = cooccurrence_levels([S["train_level"]])
    row = {
        "arch": "supervised",
        "model": config.model.name,
        "p_smoke": p_smoke,
        "p_clean": p_clean,
        "strength": cooccurrence_strength(p_smoke, p_clean),
        "level": level_label(p_smoke, p_clean),
        "seed": config.seed,
        "threshold": 0.5,
    }
    row.update(evaluate_bias_run(run, load_test_sets(S), threshold=0.5))
    return row


def _scalar_keys(row: Mapping[str, Any]) -> list[str]:
    skip = {"arch", "model", "p_smoke", "p_clean", "strength", "level", "seed"}
    return [k for k, v in row.items() if k not in skip and isinstance(v, (int, float))]


def summarize_sweep(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds of every scalar metric, per (arch, level).

    Returns:
        One dict per (arch, level), ordered as the rows: the identifying keys, ``n_seeds``,
        ``seeds`` and for each scalar metric ``m``: ``m`` (mean) and ``m_std`` (population std,
        0 with one seed). ``sweep_ious`` is averaged over seeds too.
    """
    if not rows:
        raise ValueError("No rows to summarise; run run_bias_sweep(S) first.")
    groups: dict[tuple[str, float, float], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["arch"], row["p_smoke"], row["p_clean"]), []).append(row)
    summary = []
    for (arch, p_smoke, p_clean), members in groups.items():
        first = members[0]
        out: dict[str, Any] = {
            "arch": arch,
            "model": first["model"],
            "p_smoke": p_smoke,
            "p_clean": p_clean,
            "strength": first["strength"],
            "level": first["level"],
            "n_seeds": len(members),
            "seeds": [m["seed"] for m in members],
        }
        for key in _scalar_keys(first):
            values = np.array([float(m[key]) for m in members], dtype=float)
            finite = values[np.isfinite(values)]
            out[key] = float(finite.mean()) if finite.size else math.nan
            out[f"{key}_std"] = float(finite.std()) if finite.size else math.nan
        if "sweep_ious" in first:
            out["sweep_thresholds"] = list(first["sweep_thresholds"])
            out["sweep_ious"] = np.nanmean([m["sweep_ious"] for m in members], axis=0).tolist()
        summary.append(out)
    return summary


def _find(summary: Sequence[Mapping[str, Any]], arch: str, level: Sequence[float]):
    for row in summary:
        if row["arch"] == arch and (row["p_smoke"], row["p_clean"]) == tuple(level):
            return row
    return None


def sweep_curves(
    summary: Sequence[Mapping[str, Any]], level: Sequence[float]
) -> dict[str, SweepResult]:
    """Seed-averaged threshold sweeps (on ``test``) of each architecture at one level.

    The best threshold and IoU are read off the averaged curve; the oracle is the seed mean of
    the per-image oracle (an upper bound). Keys are ``"CNN (resnet18)"``-style titles.
    """
    (p_smoke, p_clean), = cooccurrence_levels([level])
    curves = {}
    for arch in ARCHS:
        row = _find(summary, arch, (p_smoke, p_clean))
        if row is None or "sweep_ious" not in row:
            continue
        ious = np.asarray(row["sweep_ious"], dtype=float)
        best = int(np.nanargmax(ious)) if np.isfinite(ious).any() else 0
        curves[f"{_ARCH_TITLES[arch]} ({row['model']})"] = SweepResult(
            thresholds=np.asarray(row["sweep_thresholds"], dtype=float),
            ious=ious,
            best_threshold=float(row["sweep_thresholds"][best]),
            best_iou=float(ious[best]),
            oracle_iou=float(row["oracle_iou"]),
            n_smoke_images=int(row.get("n_smoke_images", 0)),
        )
    if not curves:
        raise ValueError(f"No sweep rows at level {level_label(p_smoke, p_clean)}.")
    return curves


# ------------------------------------------------------------------------------ reporting


def _pct(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(100.0 * value, 2)


def bias_results(
    summary: Sequence[Mapping[str, Any]],
    supervised: Mapping[str, Any] | None = None,
    baseline: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """The ``"results"`` section of ``metrics.json``: row name -> metrics in % (2 decimals).

    Rows are ``"cnn@0.95"``-style (see :func:`result_key`) plus ``"supervised"``. IoUs, rates,
    masses and accuracies are in %; ``*_std`` are standard deviations over seeds in points;
    ``fraction_of_supervised`` is the smoke IoU on ``test`` as % of the supervised reference's;
    thresholds stay in ``[0, 1]``. ``"whole_image_baseline"`` (when given) is the smoke IoU of
    calling every pixel smoke.
    """
    ref_iou = math.nan if supervised is None else float(supervised["smoke_iou"])
    results: dict[str, dict[str, Any]] = {}
    keys = [f"{m}{s}" for m in METRIC_KEYS for s in TEST_SPLITS.values()] + [
        "shortcut_gap", "train_accuracy", "best_threshold_iou", "oracle_iou"
    ]
    for row in summary:
        out: dict[str, Any] = {"model": row["model"], "level": row["level"],
                               "n_seeds": row["n_seeds"]}
        for key in keys:
            out[key] = _pct(row.get(key))
            if row.get(f"{key}_std") is not None and row["n_seeds"] > 1:
                out[f"{key}_std"] = _pct(row[f"{key}_std"])
        out["best_threshold"] = row["best_threshold"]
        out["fraction_of_supervised"] = _pct(row["smoke_iou"] / ref_iou) if ref_iou else None
        results[result_key(row["arch"], row["p_smoke"])] = out
    if supervised is not None:
        results["supervised"] = {
            "model": supervised["model"],
            "level": supervised["level"],
            "threshold": supervised["threshold"],
            **{k: _pct(supervised[k]) for k in keys if k not in _CLASSIFIER_ONLY},
        }
    if baseline is not None:
        results["whole_image_baseline"] = {k: _pct(v) for k, v in baseline.items()}
    return results


def bias_metrics(
    S: Mapping[str, Any],
    summary: Sequence[Mapping[str, Any]],
    supervised: Mapping[str, Any] | None,
    findings: Sequence[str] = (),
    baseline: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The whole ``metrics.json`` of notebook 01: results in %, the paper's numbers, notes."""
    cnn = bias_model_config(S, "cnn", *DEFAULT_LEVELS[0], seed=0)
    vit = bias_model_config(S, "vit", *DEFAULT_LEVELS[0], seed=0)
    setup = (
        f"Ours: synthetic scenes at {S['image_size']} px, {S['n_train']} training images per "
        f"level, {S['n_test']} images in each of test and test_decoupled; networks trained "
        f"{'from the proxy pre-training' if S.get('pretrain') else 'from scratch'} "
        f"(CNN {cnn.model.name}: {cnn.epochs} epoch(s) at lr {cnn.lr:g}; ViT "
        f"{vit.model.name}: {vit.epochs} epoch(s) at lr {vit.lr:g}); seeds {list(S['seeds'])} "
        "(mean; *_std = std over seeds). Row 'cnn@0.95' = trained at P(chimney|smoke)=0.95, "
        "see its 'level'."
    )
    units = (
        "IoU, rates, CAM mass and accuracies in % (2 decimals); smoke IoU per image averaged over "
        f"smoke images, pseudo-mask = min-max normalised CAM > {S['threshold']}; the supervised "
        "reference thresholds its probability at 0.5. fraction_of_supervised = smoke IoU on test "
        "as % of the supervised reference's; best_threshold is in [0, 1] and optimistic "
        "(chosen on test); oracle_iou is a per-image upper bound."
    )
    paper = (
        "Paper numbers: smoke IoU in % on real IJmond data at 512 px with ImageNet-pretrained "
        "ResNet-50+PCM, ViT-B/16 and SETR (Zhang & Hsu 2025); not comparable in value."
    )
    return {
        "notebook": "01_co_occurrence_bias",
        "profile": str(S.get("profile", "")),
        "results": bias_results(summary, supervised, baseline),
        "paper": PAPER_NUMBERS,
        "notes": [setup, units, paper, *findings],
    }


def sweep_table(
    summary: Sequence[Mapping[str, Any]], supervised: Mapping[str, Any] | None = None
) -> str:
    """A Markdown table of the sweep in % (mean ± std over seeds when there are several)."""
    columns = [
        ("smoke_iou", "smoke IoU test"),
        ("smoke_iou_decoupled", "smoke IoU decoupled"),
        ("chimney_fp_rate_decoupled", "chimney FP decoupled"),
        ("cam_chimney_mass_decoupled", "CAM chimney mass decoupled"),
        ("accuracy", "acc. test"),
        ("accuracy_decoupled", "acc. decoupled"),
        ("shortcut_gap", "acc. gap"),
    ]

    def cell(row: Mapping[str, Any], key: str) -> str:
        value = row.get(key, math.nan)
        if value is None or not math.isfinite(value):
            return "–"
        std = row.get(f"{key}_std")
        if row.get("n_seeds", 1) > 1 and std is not None and math.isfinite(std):
            return f"{100 * value:.2f} ± {100 * std:.2f}"
        return f"{100 * value:.2f}"

    header = "| model | P(chim.\\|smoke)/P(chim.\\|clean) | " + " | ".join(t for _, t in columns)
    lines = [header + " |", "|" + "---|" * (len(columns) + 2)]
    for row in sorted(summary, key=lambda r: (ARCHS.index(r["arch"]), r["strength"])):
        name = f"{_ARCH_TITLES[row['arch']]} ({row['model']})"
        lines.append(f"| {name} | {row['level']} | "
                     + " | ".join(cell(row, k) for k, _ in columns) + " |")
    if supervised is not None:
        name = f"fully supervised ({supervised['model']}, t=0.5)"
        lines.append(f"| {name} | {supervised['level']} | "
                     + " | ".join(cell(supervised, k) for k, _ in columns) + " |")
    return "\n".join(lines)


def _trend(first: float, last: float, spread: float) -> tuple[str, int]:
    """Words for the change from ``first`` to ``last`` (fractions) and its sign (0: no change).

    A change within the seed spread ``spread``, or below 1 point, counts as no change.
    """
    values = f"({100 * first:.1f} -> {100 * last:.1f})"
    if not (math.isfinite(first) and math.isfinite(last)):
        return f"cannot be compared {values}: undefined at one end", 0
    delta = 100.0 * (last - first)
    if abs(delta) <= max(100.0 * spread, 1.0):
        return f"stays flat {values}", 0
    word = "rises" if delta > 0 else "falls"
    return f"{word} by {abs(delta):.1f} points {values}", 1 if delta > 0 else -1


_VERDICTS = {
    (True, True): "the shortcut shows up as expected, in the decisions and in the CAMs",
    (True, False): "the shortcut shows up in accuracy, but the CAMs do not move to the chimneys",
    (False, True): "the CAMs drift to the chimneys, but accuracy does not suffer from it",
    (False, False): "the expected shortcut does NOT show up",
}


def bias_findings(
    summary: Sequence[Mapping[str, Any]],
    supervised: Mapping[str, Any] | None = None,
    train_level: Sequence[float] = (0.95, 0.05),
    baseline: Mapping[str, float] | None = None,
) -> list[str]:
    """Plain-English sentences computed from the numbers, true whichever way they came out.

    Covers, per architecture: the levels where the classifier stayed near chance on ``test``
    (accuracy below ``NEAR_CHANCE_ACCURACY``: there its CAMs describe an untrained network);
    whether the accuracy gap (test - test_decoupled) and the CAM chimney mass grow from the
    weakest to the strongest co-occurrence (a change within the seed spread, or below 1 point,
    is reported as flat); the smoke IoU at ``train_level`` as a fraction of the fully supervised
    reference and against the ``baseline`` of calling the whole image smoke; and whether the CNN
    beats the ViT as in the paper.
    """
    sentences = []
    for arch in ARCHS:
        rows = sorted((r for r in summary if r["arch"] == arch), key=lambda r: r["strength"])
        if not rows:
            continue
        name = f"{_ARCH_TITLES[arch]} ({rows[0]['model']})"
        untrained = [r for r in rows if not r["accuracy"] >= NEAR_CHANCE_ACCURACY]
        if untrained:
            where = ", ".join(f"{r['level']} ({100 * r['accuracy']:.0f} %)" for r in untrained)
            sentences.append(
                f"{name} stayed near chance on test at {where}: it did not learn to recognise "
                "smoke there in this training budget, so its CAM numbers at those levels describe "
                "an untrained network, not a shortcut-free one."
            )
        if len(rows) < 2:
            continue
        weak, strong = rows[0], rows[-1]
        span = f"from {weak['level']} to {strong['level']}"

        def spread(key: str, weak=weak, strong=strong) -> float:
            return max(weak.get(f"{key}_std", 0.0) or 0.0, strong.get(f"{key}_std", 0.0) or 0.0)

        gap, gap_sign = _trend(weak["shortcut_gap"], strong["shortcut_gap"],
                               spread("shortcut_gap"))
        mass, mass_sign = _trend(weak["cam_chimney_mass_decoupled"],
                                 strong["cam_chimney_mass_decoupled"],
                                 spread("cam_chimney_mass_decoupled"))
        verdict = _VERDICTS[(gap_sign > 0, mass_sign > 0)]
        sentences.append(
            f"{name}: {span}, the accuracy gap test - test_decoupled {gap}, and the CAM mass "
            f"on chimneys in test_decoupled {mass}: {verdict}."
        )
    level = tuple(float(p) for p in train_level)
    cnn, vit = _find(summary, "cnn", level), _find(summary, "vit", level)
    if supervised is not None and math.isfinite(supervised["smoke_iou"]):
        ref = supervised["smoke_iou"]
        parts = []
        for row in (cnn, vit):
            if row is not None and ref > 0:
                parts.append(f"{_ARCH_TITLES[row['arch']]} {100 * row['smoke_iou']:.1f} % "
                             f"({100 * row['smoke_iou'] / ref:.0f} % of it)")
        sentences.append(
            f"At {level_label(*level)}, the fully supervised {supervised['model']} reaches "
            f"{100 * ref:.1f} % smoke IoU on test ({100 * supervised['smoke_iou_decoupled']:.1f} "
            "% on test_decoupled); the CAMs reach " + ", ".join(parts)
            + " (paper, real data: ResNet-50+PCM 33.56 and ViT 13.18 vs SETR 68.27, i.e. 49 % "
            "and 19 %)."
        )
    if baseline is not None and math.isfinite(baseline["smoke_iou"]):
        trivial = baseline["smoke_iou"]
        parts = [
            f"the {_ARCH_TITLES[row['arch']]} CAM {100 * row['smoke_iou']:.1f} % "
            f"({'above' if row['smoke_iou'] > trivial else 'NOT above'} it)"
            for row in (cnn, vit) if row is not None
        ]
        sentences.append(
            f"Calling the whole image smoke scores {100 * trivial:.1f} % smoke IoU on test; at "
            f"{level_label(*level)} " + " and ".join(parts) + "."
        )
    if cnn is not None and vit is not None:
        diff = 100 * (cnn["smoke_iou"] - vit["smoke_iou"])
        noise = 100 * max(cnn.get("smoke_iou_std", 0.0), vit.get("smoke_iou_std", 0.0))
        if not math.isfinite(diff):
            claim = "CNN and ViT cannot be compared (undefined smoke IoU)"
        elif abs(diff) <= max(noise, 1.0):
            claim = "CNN and ViT are on par (within noise)"
        elif diff > 0:
            claim = f"CNN beats the ViT by {diff:.1f} points, as in the paper"
        else:
            claim = (f"the ViT beats the CNN by {-diff:.1f} points, unlike the paper "
                     "(whose CNN has PCM and ImageNet weights)")
        sentences.append(f"Smoke IoU of the CAMs at {level_label(*level)}: {claim}.")
    return sentences


def plot_bias_sweep(
    summary: Sequence[Mapping[str, Any]],
    supervised: Mapping[str, Any] | None = None,
    baseline: Mapping[str, float] | None = None,
    figsize: tuple[float, float] = (12.0, 3.5),
) -> Figure:
    """Four panels against co-occurrence in training: smoke IoU, chimney FP rate, CAM chimney
    mass and accuracy; CNN blue, ViT red; solid = ``test``, dashed = ``test_decoupled``; error
    bars = std over seeds. Levels are evenly spaced, weakest to strongest co-occurrence.

    Args:
        summary: From :func:`summarize_sweep`.
        supervised: From :func:`run_supervised_reference`: a dotted black line on the IoU panel.
        baseline: From :func:`whole_image_baseline`: a dotted grey line on the IoU panel.
        figsize: Figure size in inches.
    """
    panels = [
        ("smoke_iou", "smoke IoU per image (%)"),
        ("chimney_fp_rate", "chimney pixels called smoke (%)"),
        ("cam_chimney_mass", "CAM mass on chimneys (%)"),
        ("accuracy", "classification accuracy (%)"),
    ]
    levels = sorted({(r["strength"], r["p_smoke"], r["level"]) for r in summary})
    position = {(p_smoke, label): i for i, (_, p_smoke, label) in enumerate(levels)}
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, len(panels))
    for ax, (metric, ylabel) in zip(axes, panels, strict=True):
        for arch in ARCHS:
            rows = sorted((r for r in summary if r["arch"] == arch), key=lambda r: r["strength"])
            if not rows:
                continue
            x = [position[(r["p_smoke"], r["level"])] for r in rows]
            for split, style in (("test", "-"), ("test_decoupled", "--")):
                key = metric + TEST_SPLITS[split]
                y = [100 * r[key] for r in rows]
                err = [100 * (r.get(f"{key}_std") or 0.0) for r in rows]
                ax.errorbar(x, y, yerr=err if any(err) else None, color=_ARCH_COLORS[arch],
                            ls=style, marker="o" if split == "test" else "s", ms=4, capsize=2,
                            lw=1.5, label=f"{_ARCH_TITLES[arch]} {rows[0]['model']}, {split}")
        if metric == "smoke_iou" and supervised is not None:
            ax.axhline(100 * supervised["smoke_iou"], color="0.1", ls=":", lw=1.4,
                       label=f"fully supervised {supervised['model']} @{supervised['level']}, "
                             "test")
        if metric == "smoke_iou" and baseline is not None:
            ax.axhline(100 * baseline["smoke_iou"], color="0.55", ls=":", lw=1.4,
                       label="whole image called smoke, test")
        if metric == "accuracy":
            ax.axhline(50.0, color="0.55", ls=":", lw=1.0)
        ax.set_xticks(range(len(levels)), [label for _, _, label in levels], fontsize=7,
                      rotation=25)
        ax.set_xlim(-0.3, len(levels) - 0.7)
        ax.set_xlabel("training P(chimney|smoke) / P(chimney|clean)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), fontsize=7)
    threshold = summary[0].get("threshold", 0.3) if summary else 0.3
    fig.suptitle("The chimney shortcut against co-occurrence in training (CAMs min-max "
                 f"normalised, pseudo-mask = CAM > {threshold:g}; dotted grey on accuracy = "
                 "chance)", fontsize=9)
    return fig


# ------------------------------------------------------------------------------ gallery


@dataclass(frozen=True)
class BiasExample:
    """One illustrative image: where it is and why it was picked."""

    split: str
    index: int
    kind: str


def bias_examples(
    test_sets: Mapping[str, Any], n_per_kind: int = 2, seed: int = 0
) -> list[BiasExample]:
    """Pick images that show the shortcut, ``n_per_kind`` of each of :data:`EXAMPLE_KINDS`.

    Smoke images are drawn among those whose smoke covers at least 2 % of the image (so the
    plume is visible in a small tile); within a kind the choice is random with ``seed``.

    Raises:
        ValueError: when a split has no image of a kind (e.g. a tiny test set).
    """
    if isinstance(n_per_kind, bool) or not isinstance(n_per_kind, int) or n_per_kind < 1:
        raise ValueError(f"n_per_kind must be a positive integer; got {n_per_kind!r}.")
    rng = np.random.default_rng(seed)
    examples = []
    for split, label, with_chimney, kind in EXAMPLE_KINDS:
        scenes = test_sets[split]
        if scenes.chimney_masks is None or scenes.smoke_masks is None:
            raise ValueError(f"{split!r} needs smoke and chimney masks to pick examples.")
        has_chimney = scenes.chimney_masks.reshape(len(scenes), -1).any(axis=1)
        smoke_fraction = scenes.smoke_masks.reshape(len(scenes), -1).mean(axis=1)
        ok = (np.asarray(scenes.labels) == label) & (has_chimney == with_chimney)
        if label == 1:
            ok &= smoke_fraction >= _MIN_SMOKE_FRACTION
        candidates = np.flatnonzero(ok)
        if candidates.size == 0:
            raise ValueError(
                f"No {kind!r} image in {split!r} ({len(scenes)} images); use a larger n_test."
            )
        picked = rng.choice(candidates, size=min(n_per_kind, candidates.size), replace=False)
        examples += [BiasExample(split, int(i), kind) for i in sorted(picked)]
    return examples


def gallery_maps(
    S: Mapping[str, Any],
    examples: Sequence[BiasExample],
    test_sets: Mapping[str, Any],
    models: Sequence[tuple[str, Sequence[float]]] | None = None,
    seed: int | None = None,
    cache_dir: Any = None,
) -> dict[str, Any]:
    """Images, masks, CAMs and smoke probabilities of the examples, ready for the gallery.

    Args:
        S: Notebook settings.
        examples: From :func:`bias_examples`.
        test_sets: From :func:`load_test_sets`.
        models: ``(arch, level)`` pairs whose CAMs to show; default: CNN and ViT at
            ``S.train_level``. Loaded from the cache (trained if missing).
        seed: Training seed of the models (default: the first of ``S.seeds``).
        cache_dir: Model cache.

    Returns:
        ``{"images": uint8 [N,H,W,3], "smoke": bool [N,H,W], "chimney": bool [N,H,W],
        "row_titles": [...], "cams": {title: float [N,H,W]}, "probs": {title: float [N]}}``.
    """
    import torch

    from wsss_lib.cam import compute_cam
    from wsss_lib.data import to_tensor_batch
    from wsss_lib.train import get_or_train

    if not examples:
        raise ValueError("No examples; pick some with bias_examples(test_sets).")
    seed = int(S["seeds"][0] if seed is None else seed)
    models = models or [(arch, S["train_level"]) for arch in ARCHS]
    pick = [(test_sets[e.split], e.index) for e in examples]
    images = np.stack([scenes.images[i] for scenes, i in pick])
    out: dict[str, Any] = {
        "images": images,
        "smoke": np.stack([scenes.smoke_masks[i] for scenes, i in pick]),
        "chimney": np.stack([scenes.chimney_masks[i] for scenes, i in pick]),
        "row_titles": [f"{e.split}\n{e.kind}" for e in examples],
        "cams": {},
        "probs": {},
    }
    batch = to_tensor_batch(images)
    for arch, level in models:
        (p_smoke, p_clean), = cooccurrence_levels([level])
        run = get_or_train(bias_model_config(S, arch, p_smoke, p_clean, seed),
                           cache_dir=cache_dir, progress=False)
        model = run.model
        device = next(model.parameters()).device
        title = f"{_ARCH_TITLES[arch]} CAM @{level_label(p_smoke, p_clean)}"
        out["cams"][title] = compute_cam(model, batch.to(device), method="cam",
                                         normalize="minmax").cpu().numpy()
        with torch.no_grad():
            logits = model(batch.to(device)).logits[:, 0]
        out["probs"][title] = torch.sigmoid(logits.float()).cpu().numpy()
    return out


def plot_cam_gallery(maps: Mapping[str, Any], threshold: float = 0.3, title: str | None = None):
    """Rows image | smoke mask | chimney mask | one CAM per model, from :func:`gallery_maps`.

    CAM panels outline the true smoke (cyan) and chimney (orange), dash the pseudo-mask
    ``CAM > threshold`` in white and print the classifier's smoke probability.
    """
    from wsss_lib.viz import CHIMNEY_COLOR, SMOKE_COLOR
    from wsss_lib.viz_cam import cam_gallery

    columns = {"smoke mask": maps["smoke"], "chimney mask": maps["chimney"], **maps["cams"]}
    annotations = {name: [f"p(smoke)={p:.2f}" for p in probs]
                   for name, probs in maps["probs"].items()}
    return cam_gallery(
        maps["images"],
        columns,
        row_titles=maps["row_titles"],
        outlines={
            "smoke": (maps["smoke"], SMOKE_COLOR),
            "chimney": (maps["chimney"], CHIMNEY_COLOR),
        },
        annotations=annotations,
        cam_threshold=threshold,
        title=title,
        colorbar_label="CAM (min-max normalised per image)",
    )
