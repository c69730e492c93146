"""How the studies measure: the evaluation scenes, a trained run's row, a CAM's row.

Shared by the method studies (02–06):

- **Runs** (02–04): :func:`evaluation_sets` loads ``val`` / ``test`` / ``test_decoupled``;
  :func:`run_readout` chooses how a run's CAM is read (map and threshold) on ``val``;
  :func:`evaluate_run` gives one run's :data:`ROW_METRICS` (fractions in ``[0, 1]``) with that
  read-out; :func:`train_and_evaluate` trains (or loads from the cache) configs over seeds and
  returns one row per (name, seed): the tidy rows every summary, table and claim is computed
  from.
- **CAMs** (05–06): :func:`evaluation_scenes` (the ``test`` scenes, cut to ``n_eval``),
  :func:`score_map_cam` (the classifier's own CAM, what 02–04 measure), :func:`metric_row` (the
  :data:`CAM_METRICS` of a CAM ``[N, H, W]`` plus :func:`blank_share`).
- **Galleries**: :func:`gallery_scenes`, :func:`gallery_cams`, :func:`pick_showcase` choose the
  images and compute the CAMs the figures show.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from wsss_lib.cam import compute_cam
from wsss_lib.data import to_tensor_batch
from wsss_lib.metrics import evaluate_cams
from wsss_lib.train import (
    CamReadout,
    TrainConfig,
    TrainedRun,
    choose_readout,
    evaluate_readout,
    get_or_train,
)
from wsss_lib.utils import PAPER_THRESHOLD, get_device

__all__ = [
    "CAM_METRICS",
    "ROW_METRICS",
    "blank_share",
    "evaluate_run",
    "evaluation_scenes",
    "evaluation_sets",
    "gallery_cams",
    "gallery_scenes",
    "gallery_thresholds",
    "metric_row",
    "pick_showcase",
    "readout_candidates",
    "run_readout",
    "score_map_cam",
    "train_and_evaluate",
    "training_smoke_scenes",
]


#: Metrics measured per run (fractions in [0, 1]).
ROW_METRICS = (
    "smoke_iou",
    "precision",
    "recall",
    "boundary_f",
    "chimney_fp_rate",
    "cam_chimney_mass",
    "accuracy",
    "smoke_iou_decoupled",
    "boundary_f_decoupled",
    "chimney_fp_rate_decoupled",
    "cam_chimney_mass_decoupled",
    "accuracy_decoupled",
    "shortcut_gap",
    "smoke_iou_val",
    "smoke_iou_score_map",
)

#: The fixed read-out when no candidates are given: the score map, cut at the paper's 0.3.
SCORE_MAP_READOUT = CamReadout("cam", threshold=PAPER_THRESHOLD)


#: Metrics of a CAM row (:func:`metric_row`), fractions in [0, 1].
CAM_METRICS = (
    "smoke_iou", "precision", "recall", "chimney_fp_rate", "distractor_fp_rate",
    "cam_chimney_mass", "best_threshold_iou",
)


#: A map whose maximum is at most this is blank (min-max normalisation maps all-zero to zero).
_BLANK_LEVEL = 1e-6


# ------------------------------------------------------------------------------ trained runs


def evaluation_sets(S: Mapping[str, Any]) -> dict[str, Any]:
    """The ``val`` (for choosing settings), ``test`` (biased, like training) and
    ``test_decoupled`` (shortcut broken) scenes, at the profile's scene preset."""
    from wsss_lib.data import load_split

    sizes = {"val": S["n_val"], "test": S["n_test"], "test_decoupled": S["n_test"]}
    return {
        split: load_split(split, image_size=S["image_size"], n_images=n,
                          preset=S.get("scene_preset"))
        for split, n in sizes.items()
    }


def readout_candidates(
    readouts: Mapping[str, Sequence[Any]] | None, family: str
) -> list[CamReadout] | None:
    """The candidate read-outs of a network family from a profile's ``cam_readouts`` setting.

    Args:
        readouts: ``{"cnn": [...], "vit": [...]}``, each entry a :class:`CamReadout` or its dict
            (``{"method": "gradcam", "layers": ["blocks.-1.norm1"]}``); None: no choice.
        family: ``"cnn"`` or ``"vit"``.

    Raises:
        ValueError: a mapping without an entry for ``family``.
    """
    if readouts is None:
        return None
    if family not in readouts:
        raise ValueError(f"cam_readouts has no candidates for {family!r} networks; give a list "
                         f"under {family!r} (e.g. [{{'method': 'cam'}}]).")
    return [r if isinstance(r, CamReadout) else CamReadout.from_dict(r) for r in readouts[family]]


# The choice of a cached run, per (run folder, candidates, val images): notebooks 02-07 measure
# the same runs again and again.
_READOUT_CHOICES: dict[tuple[str, str, str], Any] = {}


def run_readout(
    run: TrainedRun, sets: Mapping[str, Any],
    readouts: Mapping[str, Sequence[Any]] | None = None,
    default: CamReadout = SCORE_MAP_READOUT,
) -> tuple[CamReadout, dict[str, Any] | None]:
    """How ``run``'s main network's CAM is read: chosen on ``sets["val"]`` among
    :func:`readout_candidates`, or ``default`` (the score map at 0.3) when ``readouts`` is None.

    Returns:
        ``(readout, choice)`` where ``choice`` is :meth:`~wsss_lib.train.ReadoutChoice.to_dict`
        (every candidate's best threshold and val IoU), or None without a choice.
    """
    candidates = readout_candidates(readouts, run.model.family)
    if candidates is None:
        return default, None
    if "val" not in sets:
        raise ValueError("Choosing a read-out needs a 'val' split in the evaluation sets.")
    val = sets["val"]
    memo = None
    if run.run_dir is not None:
        memo = (str(run.run_dir), repr(candidates), val.fingerprint())
        if memo in _READOUT_CHOICES:
            choice = _READOUT_CHOICES[memo]
            return CamReadout.from_dict(choice["readout"]), choice
    choice = choose_readout(run, val, candidates).to_dict()
    if memo is not None:
        _READOUT_CHOICES[memo] = choice
    return CamReadout.from_dict(choice["readout"]), choice


def evaluate_run(
    run: TrainedRun, sets: Mapping[str, Any],
    readouts: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, Any]:
    """:data:`ROW_METRICS` of a run's main network (the student of KT runs), as fractions.

    The CAM is read with :func:`run_readout`: the map and threshold with the best smoke IoU on
    ``val`` among ``readouts`` (or the score map at 0.3). ``smoke_iou_val`` is that read-out's
    IoU on ``val``; ``smoke_iou_score_map`` the score-map CAM's at 0.3 on ``test`` (the fixed
    read-out, for comparison); ``readout`` names the choice (a string, not summarised).
    ``precision`` / ``recall`` are the pseudo-masks' smoke pixel scores on ``test``, pooled over
    all its images: a map that covers the whole sky has a high recall and a low precision.
    ``boundary_f`` is the pseudo-masks' boundary F-score (:mod:`wsss_lib.boundary`, 2-px
    tolerance), per smoke image of ``test``.
    ``shortcut_gap`` = accuracy on ``test`` minus accuracy on ``test_decoupled``: how much the
    classifier loses when chimneys stop predicting smoke.
    """
    readout, _ = run_readout(run, sets, readouts)
    test = evaluate_readout(run, sets["test"], readout).metrics
    decoupled = evaluate_readout(run, sets["test_decoupled"], readout).metrics
    row: dict[str, Any] = {k: float(test[k]) for k in (
        "smoke_iou", "precision", "recall", "boundary_f", "chimney_fp_rate", "cam_chimney_mass",
        "accuracy")}
    for key in ("smoke_iou", "boundary_f", "chimney_fp_rate", "cam_chimney_mass", "accuracy"):
        row[f"{key}_decoupled"] = float(decoupled[key])
    row["shortcut_gap"] = row["accuracy"] - row["accuracy_decoupled"]
    if "val" in sets:
        row["smoke_iou_val"] = float(evaluate_readout(run, sets["val"], readout)
                                     .metrics["smoke_iou"])
    row["smoke_iou_score_map"] = (
        row["smoke_iou"] if readout == SCORE_MAP_READOUT
        else float(evaluate_readout(run, sets["test"], SCORE_MAP_READOUT).metrics["smoke_iou"]))
    row["readout"] = readout.label
    return row


def train_and_evaluate(
    build: Callable[[int], Mapping[Any, TrainConfig]],
    seeds: Iterable[int],
    sets: Mapping[str, Any],
    progress: bool = True,
    readouts: Mapping[str, Sequence[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Train (or load from the cache) every config for every seed and measure it.

    Args:
        build: ``fn(seed) -> {row name: TrainConfig}``, e.g.
            ``lambda seed: paradigm_configs(S, seed)``.
        seeds: Training seeds.
        sets: :func:`evaluation_sets` output.
        progress: Show a progress bar over runs (and the training bars).
        readouts: Candidate read-outs per network family (:func:`readout_candidates`), chosen
            on ``val`` for every run; None reads every run's score map at 0.3.

    Returns:
        One dict per (row, seed): ``{"name", "seed", "readout", **ROW_METRICS}``, seed by seed
        in the order of ``seeds``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; pass at least one training seed, e.g. [0].")
    jobs = [(name, config, seed) for seed in seeds for name, config in build(seed).items()]
    # Trained from the last seed to the first: notebooks run side by side in a report, and the
    # first seed's single networks are notebook 01's too, so starting elsewhere keeps a
    # notebook from waiting on another's training lock. Training is deterministic: the order
    # changes no number.
    order = sorted(range(len(jobs)), key=lambda i: -seeds.index(jobs[i][2]))
    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    for i in tqdm(order, desc="runs", disable=not progress):
        name, config, seed = jobs[i]
        run = get_or_train(config, progress=progress)
        rows[i] = {"name": name, "seed": seed, **evaluate_run(run, sets, readouts)}
    return [row for row in rows if row is not None]


# ------------------------------------------------------------------------------ CAMs


def evaluation_scenes(S: Mapping[str, Any], split: str = "test") -> Any:
    """The ``test`` (or ``val``) scenes of the method notebooks (the same cache files as
    :func:`evaluation_sets`), cut to ``S["n_eval"]``.

    Args:
        S: Settings with ``image_size``, ``n_test``, ``n_val`` and ``n_eval`` (None: all).
        split: ``"test"`` (reported) or ``"val"`` (for choosing settings).
    """
    from wsss_lib.data import load_split

    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val'; got {split!r}.")
    size = S["n_test"] if split == "test" else S["n_val"]
    scenes = load_split(split, image_size=S["image_size"], n_images=size,
                        preset=S.get("scene_preset"))
    n_eval = S.get("n_eval")
    return scenes if n_eval is None else scenes.subset(range(min(int(n_eval), len(scenes))))


def training_smoke_scenes(S: Mapping[str, Any], n: int) -> Any:
    """The first ``n`` smoke images of the training split the method's models were trained on
    (to fit AffinityNet on CAMs of images it is not evaluated on)."""
    from wsss_lib.data import load_split

    train = load_split("train", image_size=S["image_size"], n_images=S["n_train"])
    smoke = np.flatnonzero(np.asarray(train.labels) == 1)[: int(n)]
    return train.subset(smoke)


def score_map_cam(
    model: nn.Module,
    images: np.ndarray,
    scales: Sequence[float] = (1.0,),
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> Tensor:
    """The classifier's own CAM (head applied at every patch: what notebook 02 reports).

    Args:
        model: A ``WSSSClassifier``.
        images: uint8 ``[N, H, W, 3]``.
        scales: Image scales averaged (:func:`wsss_lib.cam.compute_cam`).
        batch_size: Images per pass.
        device: Where to run (default: CUDA when present).

    Returns:
        float ``[N, H, W]`` in ``[0, 1]`` on the CPU.
    """
    device = get_device(device)
    model.to(device)
    out = []
    for start in range(0, len(images), batch_size):
        x = to_tensor_batch(images[start:start + batch_size]).to(device)
        with torch.no_grad():
            out.append(compute_cam(model, x, method="cam", scales=tuple(scales)).cpu())
    return torch.cat(out)


def blank_share(cam: Tensor | np.ndarray) -> float:
    """Share of images whose CAM ``[N, H, W]`` is blank (all zero): Grad-CAM gives such maps when
    the ReLU removes everything (a network that has not learned, or a layer the logit ignores);
    their pseudo-mask is empty, which scores 0 smoke IoU on a smoke image."""
    flat = np.asarray(cam, dtype=np.float32).reshape(len(cam), -1)
    return float((flat.max(axis=1) <= _BLANK_LEVEL).mean()) if len(flat) else math.nan


def metric_row(cam: Tensor | np.ndarray, scenes: Any, threshold: float) -> dict[str, float]:
    """:data:`CAM_METRICS` and ``blank_share`` of CAMs float ``[N, H, W]`` on ``scenes``."""
    metrics = evaluate_cams(
        cam, scenes.smoke_masks, chimney_masks=scenes.chimney_masks, labels=scenes.labels,
        threshold=threshold, distractor_masks=scenes.distractor_masks,
    )
    return {**{k: float(metrics[k]) for k in CAM_METRICS}, "blank_share": blank_share(cam)}


# ------------------------------------------------------------------------------ galleries


def gallery_cams(
    configs: Mapping[Any, TrainConfig], scenes: Any, progress: bool = False,
    sets: Mapping[str, Any] | None = None,
    readouts: Mapping[str, Sequence[Any]] | None = None,
) -> dict[Any, np.ndarray]:
    """CAMs (min-max normalised, image size) of each config's main network on ``scenes``, read
    as :func:`evaluate_run` reads them (``readouts`` chosen on ``sets["val"]``).

    Returns:
        ``{name: float [N, H, W]}`` in ``[0, 1]``, in the order of ``configs``.
    """
    out = {}
    for name, config in configs.items():
        run = get_or_train(config, progress=progress)
        readout, _ = run_readout(run, sets or {}, readouts)
        out[name] = evaluate_readout(run, scenes, readout).cams
    return out


def gallery_thresholds(
    configs: Mapping[Any, TrainConfig], sets: Mapping[str, Any] | None = None,
    readouts: Mapping[str, Sequence[Any]] | None = None, progress: bool = False,
) -> dict[Any, float]:
    """The pseudo-mask threshold of each config's main network (:func:`run_readout`), for the
    outline drawn on :func:`gallery_cams`' maps."""
    return {name: run_readout(get_or_train(config, progress=progress), sets or {}, readouts)[0]
            .threshold for name, config in configs.items()}


def gallery_scenes(sets: Mapping[str, Any], n_per_kind: int = 2) -> Any:
    """A few telling images, the same for every model: smoke at a chimney (``test``), smoke
    without a chimney and a clean image with a bare chimney (``test_decoupled``).

    Returns:
        :class:`~wsss_lib.data.SmokeScenes` with ``3 * n_per_kind`` images (fewer if a kind is
        missing), the kinds in that order.
    """

    def pick(scenes: Any, label: int, with_chimney: bool) -> list[int]:
        has_chimney = scenes.chimney_masks.reshape(len(scenes), -1).any(axis=1)
        ok = (scenes.labels == label) & (has_chimney == with_chimney)
        return [int(i) for i in np.flatnonzero(ok)[:n_per_kind]]

    test, decoupled = sets["test"], sets["test_decoupled"]
    parts = [
        test.subset(pick(test, 1, True)),
        decoupled.subset(pick(decoupled, 1, False)),
        decoupled.subset(pick(decoupled, 0, True)),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise ValueError("No gallery images found; the evaluation sets are too small.")
    return _concatenate(parts)


def _concatenate(parts: Sequence[Any]) -> Any:
    """Join :class:`~wsss_lib.data.SmokeScenes` (a mask field stays only if all parts have it)."""
    from wsss_lib.data import SmokeScenes

    def stack(field: str) -> Any:
        values = [getattr(p, field) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    return SmokeScenes(
        images=np.concatenate([p.images for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        smoke_masks=stack("smoke_masks"),
        chimney_masks=stack("chimney_masks"),
        distractor_masks=stack("distractor_masks"),
        names=[n for p in parts for n in p.names],
        params=[q for p in parts for q in p.params],
    )


def pick_showcase(scenes: Any, n: int = 4) -> list[int]:
    """Indices of ``n`` smoke images that show most pitfalls: a chimney and clouds/haze first.

    Ties are broken by index, so the choice is deterministic.
    """
    labels = np.asarray(scenes.labels)
    smoke = np.flatnonzero(labels == 1)
    if smoke.size == 0:
        raise ValueError("pick_showcase needs at least one smoke image.")

    def has(masks: np.ndarray | None, i: int) -> bool:
        return masks is not None and bool(masks[i].any())

    score = [2 * has(scenes.chimney_masks, i) + has(scenes.distractor_masks, i) for i in smoke]
    order = sorted(range(len(smoke)), key=lambda k: (-score[k], k))
    return [int(smoke[k]) for k in order[:n]]
