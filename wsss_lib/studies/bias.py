"""Notebook 01's question: how much does a classifier rely on the chimney shortcut?

A classifier trained on image labels only learns whatever separates smoke images from clean
ones. When chimneys appear in almost every smoke image and almost no clean one, "there is a
chimney" is such a feature, and the network's CAM lights up the chimney instead of the smoke.

This study trains a CNN and a ViT on ``train`` splits whose co-occurrence
``P(chimney | smoke) / P(chimney | clean)`` is swept (``0.5/0.5`` = independent ... ``1.0/0.0`` =
a perfect shortcut), evaluates them on ``test`` (same bias as training) and ``test_decoupled``
(smoke never at a chimney, every clean image has a bare chimney), and returns plain rows::

    S = notebook_settings("01_co_occurrence_bias", "quick")
    rows = run_bias_sweep(S)                    # one row per (architecture, level, seed)
    reference = run_supervised_reference(S)     # fully supervised, same CNN backbone
    baseline = whole_image_baseline(load_test_sets(S))

(:mod:`wsss_lib.results.bias` summarises them over seeds and words the findings;
:mod:`wsss_lib.plots.bias` draws them.)

Conventions of every number here: CAMs are class activation maps (``method="cam"``) min-max
normalised per image; the pseudo-mask is ``CAM > threshold`` (0.3 by default, as the paper);
smoke IoU is computed per image and averaged over the smoke images (the paper's "mIoU"). Rows
hold fractions in ``[0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from wsss_lib.metrics import per_image_smoke_iou, threshold_sweep
from wsss_lib.utils import PAPER_THRESHOLD

if TYPE_CHECKING:
    from wsss_lib.train import TrainConfig

__all__ = [
    "ARCHS",
    "ARCH_TITLES",
    "DEFAULT_LEVELS",
    "EXAMPLE_KINDS",
    "METRIC_KEYS",
    "TEST_SPLITS",
    "BiasExample",
    "bias_examples",
    "bias_model_config",
    "cooccurrence_levels",
    "cooccurrence_strength",
    "evaluate_bias_run",
    "gallery_maps",
    "level_label",
    "load_test_sets",
    "load_val_set",
    "run_bias_sweep",
    "run_supervised_reference",
    "supervised_config",
    "whole_image_baseline",
]


#: The two architectures compared: the settings name their models (``cnn``, ``vit``, as in the
#: method notebooks' settings).
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
#: suffix ``_decoupled``. (Same names as :data:`wsss_lib.studies.measure.ROW_METRICS`.)
METRIC_KEYS: tuple[str, ...] = ("accuracy", "smoke_iou", "boundary_f", "chimney_fp_rate",
                                "cam_chimney_mass")

#: Kinds of illustrative images of :func:`bias_examples`: (split, label, has chimney, caption).
EXAMPLE_KINDS: tuple[tuple[str, int, bool, str], ...] = (
    ("test", 1, True, "smoke from chimney"),
    ("test", 0, False, "clean, no chimney"),
    ("test_decoupled", 1, False, "smoke, NO chimney"),
    ("test_decoupled", 0, True, "chimney, NO smoke"),
)

#: How the architectures are named in titles and sentences.
ARCH_TITLES = {"cnn": "CNN", "vit": "ViT"}


_MIN_SMOKE_FRACTION = 0.02  # gallery smoke must cover at least 2 % of the image to be readable


# ------------------------------------------------------------------------------ levels and configs


def cooccurrence_levels(
    levels: Sequence[Sequence[float]] | None = None,
) -> list[tuple[float, float]]:
    """Validated co-occurrence levels ``[(P(chimney | smoke), P(chimney | clean)), ...]``.

    Args:
        levels: Pairs of probabilities (e.g. the profile's ``train_levels``); None for
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


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {list(ARCHS)}.")


def _config(S: Mapping[str, Any], row: str, p_smoke: float, p_clean: float, seed: int,
            epochs: Any) -> TrainConfig:
    """The method's builder with notebook 01's differences as its parameters: one data set for
    every training seed (``S.data_seed``, default 0), no overrides at the ``train`` split's own
    level (so a model there is the cache entry of any notebook training on the plain split), no
    PCM (plain classifiers), and ``cnn_output_stride`` None naming no stride (the model's own)."""
    from wsss_lib.studies.configs import data_spec, paradigm_config

    data = data_spec(S, int(S.get("data_seed", 0)), level=(p_smoke, p_clean),
                     omit_split_level=True)
    return paradigm_config(S, row, seed, data=data, epochs=int(epochs), pcm=False,
                           omit_unset_stride=True)


def bias_model_config(
    S: Mapping[str, Any], arch: str, p_smoke: float, p_clean: float, seed: int
) -> TrainConfig:
    """The :class:`~wsss_lib.train.TrainConfig` of one single-network classifier of the sweep.

    Built by :func:`wsss_lib.studies.configs.paradigm_config` (the method's rows) with the
    differences of notebook 01 as parameters.

    Args:
        S: Notebook settings (``image_size``, ``n_train``, ``n_val``, ``epochs``, ``batch_size``,
            ``lr``, ``cnn``, ``vit``, ``vit_patch_size``; optional
            ``cnn_output_stride`` (None: the model's own, 32 for a ResNet), ``vit_epochs``
            (None: ``epochs``), ``vit_lr`` (None: ``lr``), ``vit_stem``, ``amp``, ``data_seed``
            (default 0: the data of every training seed).
        arch: ``"cnn"`` or ``"vit"``.
        p_smoke, p_clean: The training split's ``P(chimney | smoke)`` and ``P(chimney | clean)``
            (validation uses the same level).
        seed: Initialisation / shuffling seed.

    Returns:
        A ``paradigm="single"`` config; :func:`wsss_lib.train.get_or_train` trains it once.
    """
    _check_arch(arch)
    (p_smoke, p_clean), = cooccurrence_levels([(p_smoke, p_clean)])
    epochs = S["epochs"]
    if arch == "vit":
        epochs = S.get("vit_epochs") or epochs  # ViTs may need more steps than a CNN
    return _config(S, f"single_{arch}", p_smoke, p_clean, seed, epochs)


def supervised_config(S: Mapping[str, Any], seed: int | None = None) -> TrainConfig:
    """Fully supervised reference: the CNN backbone + light decoder trained on smoke masks.

    Trained once at the training co-occurrence ``S.train_level``; ``seed`` defaults to the first
    of ``S.seeds``.
    """
    (p_smoke, p_clean), = cooccurrence_levels([S["train_level"]])
    return _config(S, "supervised", p_smoke, p_clean,
                   int(S["seeds"][0] if seed is None else seed),
                   S.get("supervised_epochs") or S["epochs"])


def load_test_sets(S: Mapping[str, Any]) -> dict[str, Any]:
    """``{"test": ..., "test_decoupled": ...}`` :class:`~wsss_lib.data.SmokeScenes` (cached)."""
    from wsss_lib.data import load_split

    return {
        split: load_split(
            split, image_size=int(S["image_size"]), n_images=int(S["n_test"]),
            seed=int(S.get("data_seed", 0)), preset=S.get("scene_preset"),
        )
        for split in TEST_SPLITS
    }


def load_val_set(S: Mapping[str, Any]) -> Any:
    """The ``val`` scenes on which each network's CAM read-out is chosen: the split's own
    co-occurrence (as ``test``), ``n_val`` images (cached)."""
    from wsss_lib.data import load_split

    return load_split("val", image_size=int(S["image_size"]), n_images=int(S["n_val"]),
                      seed=int(S.get("data_seed", 0)), preset=S.get("scene_preset"))


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


def evaluate_bias_run(model: Any, test_sets: Mapping[str, Any], threshold: float = PAPER_THRESHOLD,
                      readout: Any = None) -> dict:
    """Metrics of one trained network on ``test`` and ``test_decoupled``.

    Args:
        model: A :class:`~wsss_lib.train.TrainedRun` or a network (classifier or supervised
            segmenter, whose probabilities take the place of CAMs).
        test_sets: Output of :func:`load_test_sets`.
        threshold: Pseudo-mask threshold on the min-max normalised CAMs (without ``readout``).
        readout: A :class:`~wsss_lib.train.CamReadout` (map and threshold, e.g. chosen on
            ``val`` by :func:`wsss_lib.studies.measure.run_readout`); None: the score map at
            ``threshold``.

    Returns:
        Flat dict of fractions: ``accuracy``, ``smoke_iou``, ``chimney_fp_rate``,
        ``cam_chimney_mass`` and the same with ``_decoupled``; ``shortcut_gap`` (test minus
        decoupled; NaN for a segmenter); from the ``test`` CAMs, the threshold sweep:
        ``best_threshold``, ``best_threshold_iou``, ``oracle_iou``, ``sweep_thresholds`` and
        ``sweep_ious`` (lists) — an analysis of the test maps, never used to choose anything.
    """
    from wsss_lib.train import CamReadout, evaluate_model

    readout = readout or CamReadout("cam", threshold=threshold)
    row: dict[str, Any] = {}
    for split, suffix in TEST_SPLITS.items():
        if split not in test_sets:
            raise ValueError(f"test_sets needs a {split!r} entry (use load_test_sets(S)).")
        result = evaluate_model(model, test_sets[split], readout)
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
              "cnn", "vit", "vit_patch_size", "train_levels", "train_level", "threshold")
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
            ``train_levels``, ``threshold``).
        progress: Show a progress bar over the runs (and each run's training bar).
        archs: Subset of :data:`ARCHS` to run.
        cache_dir: Model and dataset cache (default: ``$WSSS_CACHE``).

    Returns:
        One dict per run: ``arch``, ``model``, ``p_smoke``, ``p_clean``, ``strength``,
        ``level``, ``seed``, ``train_accuracy`` (last epoch) and :func:`evaluate_bias_run`'s keys.
    """
    from wsss_lib.studies.measure import run_readout
    from wsss_lib.train import CamReadout, get_or_train

    _check_settings(S)
    for arch in archs:
        _check_arch(arch)
    levels = cooccurrence_levels(S["train_levels"])
    test_sets = load_test_sets(S)
    sets = {**test_sets, "val": load_val_set(S)} if S.get("cam_readouts") else test_sets
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
            "train_accuracy": float(run.history[-1].get("train_acc", math.nan)),
        }
        readout, _ = run_readout(run, sets, S.get("cam_readouts"),
                                 default=CamReadout("cam", threshold=float(S["threshold"])))
        row.update(threshold=readout.threshold, readout=readout.label)
        row.update(evaluate_bias_run(run, test_sets, readout=readout))
        if readout.method != "cam":
            fixed = evaluate_bias_run(run, test_sets, float(S["threshold"]))
            row["smoke_iou_score_map"] = fixed["smoke_iou"]
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
        "row_titles": [...], "cams": {title: float [N,H,W]}, "probs": {title: float [N]},
        "thresholds": {title: float}}``; each network's CAM read as :func:`run_bias_sweep` reads
        it (with ``S.cam_readouts``: map and threshold chosen on ``val``).
    """
    import torch

    from wsss_lib.cam import compute_cam
    from wsss_lib.data import to_tensor_batch
    from wsss_lib.studies.measure import run_readout
    from wsss_lib.train import CamReadout, get_or_train

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
        "thresholds": {},
    }
    sets = {"val": load_val_set(S)} if S.get("cam_readouts") else {}
    batch = to_tensor_batch(images)
    for arch, level in models:
        (p_smoke, p_clean), = cooccurrence_levels([level])
        run = get_or_train(bias_model_config(S, arch, p_smoke, p_clean, seed),
                           cache_dir=cache_dir, progress=False)
        model = run.model
        device = next(model.parameters()).device
        title = f"{ARCH_TITLES[arch]} CAM @{level_label(p_smoke, p_clean)}"
        readout, _ = run_readout(run, sets, S.get("cam_readouts"),
                                 default=CamReadout("cam", threshold=float(S["threshold"])))
        cam = compute_cam(model, batch.to(device), method=readout.method,
                          layers=list(readout.layers) if readout.layers else None,
                          normalize="minmax")
        out["cams"][title] = cam.cpu().numpy()
        out["thresholds"][title] = readout.threshold
        with torch.no_grad():
            logits = model(batch.to(device)).logits[:, 0]
        out["probs"][title] = torch.sigmoid(logits.float()).cpu().numpy()
    return out
