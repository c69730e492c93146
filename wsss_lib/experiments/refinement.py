"""Improving pseudo-masks after training: CAM fusion (notebook 05) and post-processing (06).

Two questions of arXiv 2507.21959 (Zhang & Hsu 2025), measured on the synthetic benchmark:

- **Fusion and multi-scale.** Grad-CAM of a ViT at several blocks (the paper: ``norm1`` of
  blocks -5, -4, -2, -1), each ReLU'd and min-max normalised, combined per pixel (mean / max /
  weighted) and renormalised; and the same averaged over image scales (0.5, 1, 1.5, 2).
  :func:`~wsss_lib.cam.layer_maps.layer_gradcams` runs the network once per scale and keeps
  every layer's raw map, so :meth:`~wsss_lib.cam.layer_maps.LayerCams.cam` can then build any
  variant (:class:`CamVariant`) without re-running it, with the steps of
  :func:`wsss_lib.cam.compute_cam` (both live in :mod:`wsss_lib.cam`; they are re-exported here).
- **Post-processing.** A pipeline (:class:`Pipeline`) is a CAM source (single- or multi-scale)
  followed by steps of :mod:`wsss_lib.postprocess` (dense CRF, PAR, AffinityNet, CLIP, SAM).
  :func:`run_pipelines` measures each against the ground truth, and :func:`region_masks` /
  :func:`false_positive_breakdown` say *where* the wrong smoke pixels land (sky, clouds and haze,
  chimney, ground): class-agnostic refiners spread smoke into whatever looks alike.

CLIP and SAM need pretrained weights that are never downloaded here: :func:`clip_step` and
:func:`sam_step` return the step when weights are available and a ``"skipped: ..."`` string
otherwise, which the pipeline table records instead of a number.

Units: rows hold fractions in ``[0, 1]`` (smoke IoU is the paper's "mIoU": per image, averaged
over smoke images); :func:`percent_rows` converts them to percent for tables and ``metrics.json``,
the unit of the paper's numbers (:data:`PAPER_FUSION`, :data:`PAPER_POSTPROCESS`) and of
:mod:`wsss_lib.experiments.method`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from wsss_lib.cam import FUSION_RULES, compute_cam
from wsss_lib.cam.layer_maps import LayerCams, layer_gradcams
from wsss_lib.data import to_tensor_batch
from wsss_lib.data.regions import REGIONS, region_masks
from wsss_lib.metrics import evaluate_cams, per_image_iou_values
from wsss_lib.utils import get_device

__all__ = [
    "GAIN_COLUMNS",
    "METRIC_COLUMNS",
    "MIN_SEED_GAP",
    "PAPER_FUSION",
    "PAPER_POSTPROCESS",
    "POSTPROCESS_CLAIMS",
    "PAPER_SCALES",
    "PIPELINE_COLUMNS",
    "PIPELINE_KEEP",
    "PIPELINE_NAMES",
    "REGIONS",
    "CamVariant",
    "LayerCams",
    "Pipeline",
    "PipelineRun",
    "SEED_CAMS",
    "blank_share",
    "cam_row",
    "clip_step",
    "evaluate_variants",
    "evaluation_scenes",
    "false_positive_breakdown",
    "fusion_summary",
    "fusion_variants",
    "fusion_verdicts",
    "gallery_columns",
    "layer_gradcams",
    "markdown_table",
    "paired_gain",
    "percent_rows",
    "pick_showcase",
    "rank_seeds",
    "postprocess_claims",
    "postprocess_verdicts",
    "region_masks",
    "run_pipelines",
    "sam_step",
    "score_map_cam",
    "seed_cams",
    "short_layer_name",
    "standard_pipelines",
    "training_smoke_scenes",
    "weak_strong_rows",
]

#: The paper's multi-scale inference scales.
PAPER_SCALES: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)

#: arXiv 2507.21959 on real IJmond data (512 px), smoke IoU in %. The paper's "poor" and "good"
#: seed CAMs are our weak and strong seeds; rows are named like those of :func:`fusion_summary`.
PAPER_FUSION: dict[str, dict[str, float]] = {
    "weak seed / last layer": {"smoke_iou": 37.42},
    "weak seed / fused (mean)": {"smoke_iou": 46.91},
    "strong seed / last layer": {"smoke_iou": 46.25},
    "strong seed / fused (mean)": {"smoke_iou": 45.27},
    "strong seed / multi-scale (last layer)": {"smoke_iou": 47.37},
}

#: arXiv 2507.21959 on real IJmond data, smoke IoU in % after each refinement (and before it,
#: where the paper states it). Rows are named like :data:`PIPELINE_NAMES`. CLIP is reported as a
#: failure without a number; AffinityNet was applied to the poor seed.
PAPER_POSTPROCESS: dict[str, dict[str, float]] = {
    "MS": {"smoke_iou": 47.37, "smoke_iou_before": 46.25},
    "CRF": {"smoke_iou": 52.52},
    "AffinityNet": {"smoke_iou": 34.00, "smoke_iou_before": 37.42},
    "SAM": {"smoke_iou": 51.00},
    "SAM+CRF": {"smoke_iou": 52.93},
}

#: The pipelines of notebook 06, in table order.
PIPELINE_NAMES: tuple[str, ...] = (
    "none", "CRF", "MS", "MS+CRF", "PAR", "AffinityNet", "AffinityNet+CRF", "CLIP", "SAM",
    "SAM+CRF",
)


_ROW_METRICS = (
    "smoke_iou", "precision", "recall", "chimney_fp_rate", "distractor_fp_rate",
    "cam_chimney_mass", "best_threshold_iou",
)
# Row entries that are fractions (converted by percent_rows); "fp_rate" holds a dict of them.
_FRACTION_KEYS = frozenset(_ROW_METRICS) | {
    "blank_share",
    "gain", "ci95", "improved_share", "gain_vs_none", "fp_rate", "fp_share",
}
#: Table columns (entry key -> header) of CAM variants and pipelines; values in %.
METRIC_COLUMNS: dict[str, str] = {
    "smoke_iou": "smoke IoU",
    "precision": "precision",
    "recall": "recall",
    "chimney_fp_rate": "chimney FP",
    "distractor_fp_rate": "cloud/haze FP",
    "cam_chimney_mass": "CAM mass on chimney",
    "blank_share": "blank CAMs",
}
#: Columns of the paper comparison (:func:`fusion_summary`); values in %, gains in points.
GAIN_COLUMNS: dict[str, str] = {
    "smoke_iou": "smoke IoU",
    "gain": "gain vs last layer",
    "ci95": "± 95 % interval",
    "improved_share": "images improved",
}
#: Columns of the pipeline table (:func:`run_pipelines` rows); dotted keys read ``fp_rate``.
PIPELINE_COLUMNS: dict[str, str] = {
    "smoke_iou": "smoke IoU",
    "gain_vs_none": "vs none (points)",
    "precision": "precision",
    "recall": "recall",
    **{f"fp_rate.{region}": f"{region} FP" for region in REGIONS},
    "seconds": "seconds",
}
#: Entries of a pipeline row kept in tables and ``metrics.json``.
PIPELINE_KEEP: tuple[str, ...] = (
    "status", "smoke_iou", "gain_vs_none", "precision", "recall", "fp_rate", "seconds",
)
#: A map whose maximum is at most this is blank (min-max normalisation maps all-zero to zero).
_BLANK_LEVEL = 1e-6
#: Smallest gap in last-layer smoke IoU for :func:`fusion_verdicts` to call one seed the weaker.
MIN_SEED_GAP = 0.02
#: Seed CAMs of notebook 06 (:func:`seed_cams`).
SEED_CAMS = ("gradcam_fused", "gradcam_last", "cam")


def short_layer_name(layer: str) -> str:
    """``"blocks.11.norm1"`` -> ``"block 11"``; other names unchanged."""
    parts = layer.split(".")
    if len(parts) >= 2 and parts[0] == "blocks" and parts[1].isdigit():
        return f"block {parts[1]}"
    return layer


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


def seed_cams(
    model: nn.Module,
    images: np.ndarray,
    kind: str = "gradcam_fused",
    scales: Sequence[float] = PAPER_SCALES,
    batch_size: int = 16,
    progress: bool = True,
) -> dict[str, Tensor]:
    """Single-scale and multi-scale seed CAMs for the post-processing pipelines.

    Args:
        model: The network whose CAMs are refined.
        images: uint8 ``[N, H, W, 3]``.
        kind: ``"gradcam_fused"`` (the paper's four layers, mean), ``"gradcam_last"`` (the last
            of them) or ``"cam"`` (the classifier's score map, as notebooks 02-04 report).
        scales: Scales of the multi-scale CAM (1.0 is added for the single-scale one).
        batch_size: Images per pass.
        progress: Show a progress bar.

    Returns:
        ``{"single": float [N, H, W], "multiscale": float [N, H, W]}`` in ``[0, 1]``.
    """
    if kind not in SEED_CAMS:
        raise ValueError(f"Unknown seed CAM {kind!r}; choose one of {SEED_CAMS}.")
    scales = tuple(float(s) for s in scales)
    if kind == "cam":
        return {"single": score_map_cam(model, images, (1.0,), batch_size),
                "multiscale": score_map_cam(model, images, scales, batch_size)}
    maps = layer_gradcams(model, images, scales=tuple(dict.fromkeys((1.0, *scales))),
                          batch_size=batch_size, progress=progress)
    layers = maps.layers if kind == "gradcam_fused" else maps.layers[-1:]
    return {"single": maps.cam(layers), "multiscale": maps.cam(layers, scales=scales)}


def evaluation_scenes(S: Mapping[str, Any]) -> Any:
    """The ``test`` scenes of the method notebooks (same cache file), cut to ``S["n_eval"]``.

    Args:
        S: Settings with ``image_size``, ``n_test`` and ``n_eval`` (None: all ``n_test``).
    """
    from wsss_lib.data import load_split

    scenes = load_split("test", image_size=S["image_size"], n_images=S["n_test"])
    n_eval = S.get("n_eval")
    return scenes if n_eval is None else scenes.subset(range(min(int(n_eval), len(scenes))))


def training_smoke_scenes(S: Mapping[str, Any], n: int) -> Any:
    """The first ``n`` smoke images of the training split the method's models were trained on
    (to fit AffinityNet on CAMs of images it is not evaluated on)."""
    from wsss_lib.data import load_split

    train = load_split("train", image_size=S["image_size"], n_images=S["n_train"])
    smoke = np.flatnonzero(np.asarray(train.labels) == 1)[: int(n)]
    return train.subset(smoke)


def percent_rows(
    rows: Mapping[str, Mapping[str, Any]], digits: int = 2, keep: Iterable[str] | None = None
) -> dict[str, Any]:
    """Rows with every fraction (smoke IoU, rates, gains, nested ``fp_rate``) in %, rounded;
    other entries (names, counts, seconds, statuses) unchanged; NaN becomes None.

    Args:
        rows: Row name -> entries.
        digits: Decimals kept.
        keep: Only these entry keys (default: all).
    """
    keys = None if keep is None else set(keep)

    def convert(key: str, value: Any, inside: bool = False) -> Any:
        if isinstance(value, Mapping):
            return {k: convert(k, v, inside or key in _FRACTION_KEYS) for k, v in value.items()}
        if isinstance(value, float) and (inside or key in _FRACTION_KEYS):
            return None if math.isnan(value) else round(100.0 * value, digits)
        return value

    return {
        name: convert(name, {k: v for k, v in row.items() if keys is None or k in keys})
        for name, row in rows.items()
    }


def markdown_table(
    rows: Mapping[str, Mapping[str, Any]],
    columns: Mapping[str, str],
    paper: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """A Markdown table of rows already in % (:func:`percent_rows`).

    Args:
        rows: Row name -> entries; a dotted column key (``"fp_rate.sky"``) reads a nested entry.
        columns: Entry key -> column header.
        paper: Optional paper rows (in %); adds a "paper smoke IoU" column.
    """
    def cell(row: Mapping[str, Any], key: str) -> str:
        value: Any = row
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return row.get("status", "–") if key == "smoke_iou" else "–"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    header = ["", *columns.values()]
    if paper is not None:
        header.append("paper smoke IoU (real data)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in rows.items():
        cells = [name, *[cell(row, key) for key in columns]]
        if paper is not None:
            value = paper.get(name, {}).get("smoke_iou")
            cells.append("–" if value is None else f"{value:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ============================================================================ 05: fusion


@dataclass(frozen=True)
class CamVariant:
    """A way to turn stored layer maps into one CAM (see :meth:`LayerCams.cam`).

    Attributes:
        name: Row name in tables and figures.
        layers: Layers fused (one layer: no fusion).
        rule: ``"mean"``, ``"max"`` or ``"weighted"``.
        scales: Image scales averaged.
        weights: Per-layer weights for ``"weighted"``.
    """

    name: str
    layers: tuple[str, ...]
    rule: str = "mean"
    scales: tuple[float, ...] = (1.0,)
    weights: tuple[float, ...] | None = None

    def cam(self, layer_cams: LayerCams) -> Tensor:
        """This variant's CAM float ``[N, H, W]`` in ``[0, 1]``."""
        return layer_cams.cam(self.layers, self.rule, self.scales, self.weights)


def fusion_variants(
    layers: Sequence[str],
    scales: Sequence[float] = PAPER_SCALES,
    weights: Sequence[float] | None = None,
    rules: Sequence[str] = FUSION_RULES,
) -> list[CamVariant]:
    """The variants of notebook 05: each layer alone, fused by each rule, and multi-scale.

    Args:
        layers: Layer names, shallow to deep (the last is "the last layer").
        scales: Scales of the two multi-scale variants.
        weights: Weights of ``"weighted"`` fusion (default: proportional to depth rank, 1..L,
            so deeper layers count more).
        rules: Fusion rules to include.

    Returns:
        Variants named ``"layer <block>"``, ``"last layer"``, ``"fused (<rule>)"``,
        ``"multi-scale (last layer)"`` and ``"multi-scale + fused (mean)"``.
    """
    layers = tuple(layers)
    if not layers:
        raise ValueError("fusion_variants needs at least one layer.")
    bad = [r for r in rules if r not in FUSION_RULES]
    if bad:
        raise ValueError(f"Unknown fusion rules {bad}; valid: {FUSION_RULES}.")
    weights = tuple(float(w) for w in (weights or range(1, len(layers) + 1)))
    if len(weights) != len(layers):
        raise ValueError(f"{len(weights)} fusion weights for {len(layers)} layers: {weights}.")
    scales = tuple(float(s) for s in scales)
    last = layers[-1]
    variants = [CamVariant(f"layer {short_layer_name(x)}", (x,)) for x in layers[:-1]]
    variants.append(CamVariant("last layer", (last,)))
    for rule in rules:
        variants.append(CamVariant(f"fused ({rule})", layers, rule,
                                   weights=weights if rule == "weighted" else None))
    variants.append(CamVariant("multi-scale (last layer)", (last,), scales=scales))
    variants.append(CamVariant("multi-scale + fused (mean)", layers, "mean", scales=scales))
    return variants


def blank_share(cam: Tensor | np.ndarray) -> float:
    """Share of images whose CAM ``[N, H, W]`` is blank (all zero): Grad-CAM gives such maps when
    the ReLU removes everything (a network that has not learned, or a layer the logit ignores);
    their pseudo-mask is empty, which scores 0 smoke IoU on a smoke image."""
    flat = np.asarray(cam, dtype=np.float32).reshape(len(cam), -1)
    return float((flat.max(axis=1) <= _BLANK_LEVEL).mean()) if len(flat) else math.nan


def _metric_row(cam: Tensor | np.ndarray, scenes: Any, threshold: float) -> dict[str, float]:
    metrics = evaluate_cams(
        cam, scenes.smoke_masks, chimney_masks=scenes.chimney_masks, labels=scenes.labels,
        threshold=threshold, distractor_masks=scenes.distractor_masks,
    )
    return {**{k: float(metrics[k]) for k in _ROW_METRICS}, "blank_share": blank_share(cam)}


def cam_row(
    cam: Tensor | np.ndarray, scenes: Any, seed: str, variant: str, threshold: float = 0.3
) -> dict[str, Any]:
    """Metrics of one CAM ``[N, H, W]`` on ``scenes`` as a table row (see
    :func:`evaluate_variants` for the keys)."""
    return {"seed": seed, "variant": variant, **_metric_row(cam, scenes, threshold)}


def evaluate_variants(
    layer_cams: LayerCams,
    variants: Sequence[CamVariant],
    scenes: Any,
    seed: str,
    threshold: float = 0.3,
) -> list[dict[str, Any]]:
    """Metrics of every variant's CAM on ``scenes``.

    Args:
        layer_cams: Maps of ``scenes.images`` from :func:`layer_gradcams`.
        variants: From :func:`fusion_variants`.
        scenes: The evaluated scenes (with masks).
        seed: Name of the network the maps come from (e.g. ``"weak"``), stored in each row.
        threshold: Pseudo-mask threshold (paper 0.3).

    Returns:
        One dict per variant: ``seed``, ``variant``, ``layers``, ``rule``, ``scales`` and the
        metrics ``smoke_iou``, ``precision``, ``recall``, ``chimney_fp_rate``,
        ``distractor_fp_rate``, ``cam_chimney_mass``, ``best_threshold_iou``.
    """
    if len(layer_cams) != len(scenes):
        raise ValueError(f"{len(layer_cams)} CAMs for {len(scenes)} scenes; compute the maps of "
                         "exactly these scenes.")
    rows = []
    for variant in variants:
        row = cam_row(variant.cam(layer_cams), scenes, seed, variant.name, threshold)
        row["layers"] = [short_layer_name(x) for x in variant.layers]
        row["rule"] = variant.rule if len(variant.layers) > 1 else "single"
        row["scales"] = list(variant.scales)
        rows.append(row)
    return rows


def gallery_columns(layer_cams: LayerCams, scales: Sequence[float] = PAPER_SCALES
                    ) -> dict[str, Tensor]:
    """Columns of the per-layer gallery: each layer alone, fused (mean), multi-scale + fused."""
    columns = {short_layer_name(x): layer_cams.cam([x]) for x in layer_cams.layers}
    columns["fused (mean)"] = layer_cams.cam()
    usable = [s for s in scales if float(s) in layer_cams.maps]
    if len(usable) > 1:
        columns["multi-scale + fused"] = layer_cams.cam(scales=usable)
    return columns


def paired_gain(
    cam_before: Tensor | np.ndarray,
    cam_after: Tensor | np.ndarray,
    scenes: Any,
    threshold: float = 0.3,
) -> dict[str, float]:
    """Change of per-image smoke IoU from one CAM to another, with a 95 % interval over images.

    The same smoke images are scored under both CAMs, so the per-image differences are paired;
    the interval is ``mean +- 1.96 * std / sqrt(n)`` of those differences (normal approximation).

    Returns:
        ``{"gain", "ci95", "n_images", "improved_share"}``: mean IoU difference (after - before),
        the interval's half-width, how many smoke images, and the share of them that improved.
    """
    before = per_image_iou_values(np.asarray(cam_before) > threshold, scenes.smoke_masks,
                                  scenes.labels)
    after = per_image_iou_values(np.asarray(cam_after) > threshold, scenes.smoke_masks,
                                 scenes.labels)
    diff = (after - before)[~np.isnan(before)]
    n = int(diff.size)
    if n == 0:
        return {"gain": math.nan, "ci95": math.nan, "n_images": 0, "improved_share": math.nan}
    ci = 1.96 * float(diff.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return {"gain": float(diff.mean()), "ci95": ci, "n_images": n,
            "improved_share": float((diff > 0).mean())}


_SUMMARY_VARIANTS = ("last layer", "fused (mean)", "multi-scale (last layer)")


def fusion_summary(
    seed_cams: Mapping[str, LayerCams],
    scenes: Any,
    scales: Sequence[float] = PAPER_SCALES,
    threshold: float = 0.3,
) -> dict[str, dict[str, float]]:
    """The paper's comparison per seed: last layer vs fused (mean) vs multi-scale (last layer).

    Args:
        seed_cams: Seed name (e.g. ``"single ViT"``) -> its :class:`LayerCams` on ``scenes``.
        scenes: The evaluated scenes.
        scales: Scales of the multi-scale CAM.
        threshold: Pseudo-mask threshold.

    Returns:
        Rows ``"<seed> / last layer"``, ``"<seed> / fused (mean)"`` and ``"<seed> / multi-scale
        (last layer)"`` with ``smoke_iou`` and, for the last two, ``gain`` / ``ci95`` /
        ``improved_share`` relative to the last layer (see :func:`paired_gain`).
    """
    out: dict[str, dict[str, float]] = {}
    for seed, cams in seed_cams.items():
        last = cams.layers[-1]
        single = cams.cam([last])
        candidates = dict(zip(_SUMMARY_VARIANTS, (
            single, cams.cam(cams.layers, "mean"), cams.cam([last], scales=scales)), strict=True))
        for name, cam in candidates.items():
            row: dict[str, float] = {"smoke_iou": _metric_row(cam, scenes, threshold)["smoke_iou"]}
            if name != "last layer":
                gain = paired_gain(single, cam, scenes, threshold)
                row.update({k: gain[k] for k in ("gain", "ci95", "improved_share")})
            out[f"{seed} / {name}"] = row
    return out


def rank_seeds(summary: Mapping[str, Mapping[str, float]]) -> tuple[str, str]:
    """``(weak, strong)``: the two seeds of a :func:`fusion_summary`, ordered by their measured
    last-layer smoke IoU (not by what they were expected to be)."""
    suffix = " / last layer"
    seeds = [k[: -len(suffix)] for k in summary if k.endswith(suffix)]
    if len(seeds) != 2:
        raise ValueError(f"Expected exactly two seeds in the summary, found {seeds}.")
    weak, strong = sorted(seeds, key=lambda k: summary[k + suffix]["smoke_iou"])
    return weak, strong


def weak_strong_rows(summary: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """The summary renamed ``"weak seed / ..."`` / ``"strong seed / ..."`` (by measured rank), the
    row names of :data:`PAPER_FUSION`."""
    weak, strong = rank_seeds(summary)
    return {f"{role} seed / {name}": dict(summary[f"{seed} / {name}"])
            for role, seed in (("weak", weak), ("strong", strong)) for name in _SUMMARY_VARIANTS}


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _gain_phrase(row: Mapping[str, float]) -> str:
    gain, ci = row["gain"], row["ci95"]
    if math.isnan(ci):
        return f"{_points(gain)} points"
    return f"{_points(gain)} ± {100 * ci:.1f} points (95% interval over images)"


def _significant(row: Mapping[str, float]) -> bool:
    return not math.isnan(row["ci95"]) and abs(row["gain"]) > row["ci95"]


def _effect(row: Mapping[str, float]) -> str:
    if not _significant(row):
        return "within noise"
    return "a real gain" if row["gain"] > 0 else "a real loss"


def fusion_verdicts(summary: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Sentences comparing our fusion / multi-scale gains with the paper's, computed from numbers.

    The weak and strong seed are told apart by their measured last-layer smoke IoU
    (:func:`rank_seeds`), so the comparison stays right even if the expected order flips.

    Args:
        summary: Output of :func:`fusion_summary` with two seeds.

    Returns:
        Plain-English verdicts, each true for whatever the numbers are.
    """
    weak, strong = rank_seeds(summary)
    single = {s: summary[f"{s} / last layer"]["smoke_iou"] for s in (weak, strong)}
    fused = {s: summary[f"{s} / fused (mean)"] for s in (weak, strong)}
    lines = [f"Weaker seed here: {weak} (last-layer smoke IoU {_pct(single[weak])}); stronger: "
             f"{strong} ({_pct(single[strong])})."]
    distinct = single[strong] - single[weak] >= MIN_SEED_GAP
    if not distinct:
        lines[0] = (f"The two seeds are about equally good here (last-layer smoke IoU "
                    f"{_pct(single[weak])} for {weak}, {_pct(single[strong])} for {strong}; less "
                    f"than {100 * MIN_SEED_GAP:.0f} points apart), so the poor-vs-good-seed "
                    "comparison cannot be tested on these models.")
    for s in (weak, strong):
        lines.append(
            f"Fusing the layers changes the {s} seed's smoke IoU by {_gain_phrase(fused[s])}: "
            f"{_pct(single[s])} -> {_pct(fused[s]['smoke_iou'])}, {_effect(fused[s])}."
        )
    helps_weak_more = fused[weak]["gain"] > fused[strong]["gain"]
    helps_weak = fused[weak]["gain"] > 0 and _significant(fused[weak])
    hurts_strong = fused[strong]["gain"] <= 0
    if not distinct:
        claim = "cannot be tested here: the two seeds are not a poor and a good one"
    elif helps_weak and helps_weak_more:
        claim = ("HOLDS here" if hurts_strong else
                 "holds in part here: fusion helps the weaker seed more, but it does not hurt the "
                 "stronger one")
    elif helps_weak_more:
        claim = ("does NOT clearly hold here: fusion favours the weaker seed, but its gain there "
                 "is not distinguishable from noise")
    else:
        claim = ("does NOT hold here: fusion does not help the weaker seed more than the stronger "
                 "one")
    lines.append(
        f"The paper's finding (fusion helps a poor seed a lot, +9.5 points, and slightly hurts a "
        f"good one, -1.0 point, on real data) {claim}."
    )
    ms = summary[f"{strong} / multi-scale (last layer)"]
    lines.append(
        f"Multi-scale inference changes the {strong} seed's smoke IoU by {_gain_phrase(ms)}, "
        f"{_effect(ms)} (paper: +1.1 points on real data)."
    )
    return lines


# ============================================================================ 06: pipelines


@dataclass
class Pipeline:
    """A post-processing pipeline: a CAM source and the steps applied to it, in order.

    Attributes:
        name: Row name (one of :data:`PIPELINE_NAMES` for the standard set).
        source: ``"single"`` (single-scale seed CAM) or ``"multiscale"``.
        steps: Post-processing steps (``step(cam, images) -> cam``).
        skipped: Reason the pipeline cannot run here (``"skipped: no CLIP weights"``), or None.
    """

    name: str
    source: str = "single"
    steps: list[Any] = field(default_factory=list)
    skipped: str | None = None

    def __post_init__(self) -> None:
        if self.source not in ("single", "multiscale"):
            raise ValueError(f"Pipeline.source must be 'single' or 'multiscale', got "
                             f"{self.source!r}.")


@dataclass
class PipelineRun:
    """Results of :func:`run_pipelines`.

    Attributes:
        rows: Pipeline name -> metrics (or ``{"status": "skipped: ..."}``).
        cams: Pipeline name -> refined CAMs float ``[N, H, W]`` (numpy) of those that ran.
        breakdown: Pipeline name -> :func:`false_positive_breakdown` of those that ran.
    """

    rows: dict[str, dict[str, Any]]
    cams: dict[str, np.ndarray]
    breakdown: dict[str, dict[str, dict[str, float]]]


def clip_step(weights_path: str | None = None, **kwargs: Any) -> Any:
    """A :class:`~wsss_lib.postprocess.ClipRefiner`, or ``"skipped: no CLIP weights"``.

    Args:
        weights_path: Local open_clip checkpoint; None looks in open_clip's cache (and downloads
            only when the hub is reachable).
        **kwargs: Further ``ClipRefiner`` arguments (prompts, mode, ...).

    Returns:
        The step, or the skip string when no weights can be found (see
        :func:`wsss_lib.postprocess.weights.clip_weights_available`).
    """
    from wsss_lib.postprocess.clip_refine import ClipRefiner
    from wsss_lib.postprocess.weights import clip_weights_available

    ok, _ = clip_weights_available(weights_path=weights_path)
    return ClipRefiner(weights_path=weights_path, **kwargs) if ok else "skipped: no CLIP weights"


def sam_step(checkpoint: str | None = None, **kwargs: Any) -> Any:
    """A :class:`~wsss_lib.postprocess.SamRefiner`, or ``"skipped: no SAM weights"``.

    Args:
        checkpoint: Local ``sam_vit_*.pth``; None looks in ``<cache>/weights``.
        **kwargs: Further ``SamRefiner`` arguments (``model_type``, ``iou_threshold``, ...).
    """
    from wsss_lib.postprocess.sam_refine import SamRefiner
    from wsss_lib.postprocess.weights import sam_weights_available

    ok, _ = sam_weights_available(kwargs.get("model_type", "vit_b"), checkpoint)
    return SamRefiner(checkpoint=checkpoint, **kwargs) if ok else "skipped: no SAM weights"


def standard_pipelines(crf: Any, par: Any, affinity: Any, clip: Any, sam: Any) -> list[Pipeline]:
    """The ten pipelines of :data:`PIPELINE_NAMES` from ready steps.

    Any argument may be a ``"skipped: ..."`` string instead of a step; the pipelines using it
    are then marked skipped.
    """
    def make(name: str, steps: list[Any], source: str = "single") -> Pipeline:
        reasons = [s for s in steps if isinstance(s, str)]
        return Pipeline(name, source, [] if reasons else steps, reasons[0] if reasons else None)

    return [
        make("none", []),
        make("CRF", [crf]),
        make("MS", [], "multiscale"),
        make("MS+CRF", [crf], "multiscale"),
        make("PAR", [par]),
        make("AffinityNet", [affinity]),
        make("AffinityNet+CRF", [affinity, crf]),
        make("CLIP", [clip]),
        make("SAM", [sam]),
        make("SAM+CRF", [sam, crf]),
    ]


def false_positive_breakdown(
    pred: np.ndarray, regions: Mapping[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Where a pseudo-mask's false positives are.

    Args:
        pred: bool ``[N, H, W]`` pseudo-masks.
        regions: From :func:`region_masks` (disjoint, non-smoke).

    Returns:
        ``{"fp_rate": {region: share of the region's pixels called smoke}, "fp_share": {region:
        share of all false-positive pixels lying in the region}}`` (pooled over images; NaN for
        an empty region or no false positive).
    """
    pred = np.asarray(pred, dtype=bool)
    counts = {name: int(np.count_nonzero(pred & mask)) for name, mask in regions.items()}
    total = sum(counts.values())
    rates, shares = {}, {}
    for name, mask in regions.items():
        size = int(np.count_nonzero(mask))
        rates[name] = counts[name] / size if size else math.nan
        shares[name] = counts[name] / total if total else math.nan
    return {"fp_rate": rates, "fp_share": shares}


def _apply_steps(steps: Sequence[Any], cam: Tensor, images: np.ndarray, batch_size: int) -> Tensor:
    from wsss_lib.postprocess import run_pipeline

    out = []
    for start in range(0, cam.shape[0], batch_size):
        stop = start + batch_size
        out.append(run_pipeline(steps, cam[start:stop], images[start:stop]).cpu())
    return torch.cat(out)


def run_pipelines(
    pipelines: Sequence[Pipeline],
    sources: Mapping[str, Tensor],
    scenes: Any,
    *,
    threshold: float = 0.3,
    batch_size: int = 8,
    progress: bool = True,
) -> PipelineRun:
    """Run every pipeline on the seed CAMs of ``scenes`` and measure the refined CAMs.

    Args:
        pipelines: E.g. :func:`standard_pipelines`.
        sources: ``{"single": cam, "multiscale": cam}``, float ``[N, H, W]`` in ``[0, 1]``.
        scenes: The scenes the CAMs belong to (with masks).
        threshold: Pseudo-mask threshold.
        batch_size: Images per step call.
        progress: Show a progress bar.

    Returns:
        A :class:`PipelineRun`. Each row holds the metrics of :func:`evaluate_variants` plus
        ``gain_vs_none`` (smoke IoU change against the ``"none"`` pipeline when it ran), the
        ``fp_rate`` per region, ``seconds`` and ``steps``; a skipped pipeline's row is
        ``{"status": <reason>}``.
    """
    regions = region_masks(scenes)
    rows: dict[str, dict[str, Any]] = {}
    cams: dict[str, np.ndarray] = {}
    breakdown: dict[str, dict[str, dict[str, float]]] = {}
    bar = tqdm(pipelines, desc="pipelines", disable=not progress)
    for pipe in bar:
        bar.set_postfix_str(pipe.name)
        if pipe.skipped:
            rows[pipe.name] = {"status": pipe.skipped}
            continue
        if pipe.source not in sources:
            raise ValueError(f"Pipeline {pipe.name!r} needs the {pipe.source!r} CAM; sources "
                             f"given: {sorted(sources)}.")
        cam = sources[pipe.source]
        if cam.shape[0] != len(scenes):
            raise ValueError(f"{cam.shape[0]} CAMs for {len(scenes)} scenes.")
        start = time.perf_counter()
        refined = _apply_steps(pipe.steps, cam.float().cpu(), scenes.images, batch_size)
        seconds = time.perf_counter() - start
        cams[pipe.name] = refined.numpy()
        breakdown[pipe.name] = false_positive_breakdown(cams[pipe.name] > threshold, regions)
        row: dict[str, Any] = {"status": "ok"}
        row.update(_metric_row(refined, scenes, threshold))
        row["fp_rate"] = breakdown[pipe.name]["fp_rate"]
        row["seconds"] = round(seconds, 2)
        row["steps"] = [getattr(s, "name", type(s).__name__) for s in pipe.steps]
        rows[pipe.name] = row
    if "none" in cams:
        base = rows["none"]["smoke_iou"]
        for row in rows.values():
            if row.get("status") == "ok":
                row["gain_vs_none"] = row["smoke_iou"] - base
    return PipelineRun(rows=rows, cams=cams, breakdown=breakdown)


#: The paper's claims about refinement: (pipeline, claim, expected sign of the IoU change).
POSTPROCESS_CLAIMS = (
    ("CRF", "Dense CRF helps (paper: 47.37 -> 52.52 after multi-scale)", "greater"),
    ("AffinityNet", "Affinity refinement hurts (paper: 37.42 -> 34.00)", "less"),
    ("CLIP", "CLIP refinement hurts (paper)", "less"),
)


def postprocess_claims(
    run: PipelineRun, scenes: Any, threshold: float = 0.3
) -> list[dict[str, Any]]:
    """The paper's refinement claims, each tested on per-image smoke IoU paired over images.

    Every refined CAM and the unrefined one are scored on the same smoke images, so their
    per-image IoU differences are paired; a percentile bootstrap over images gives the 95 %
    interval (:func:`wsss_lib.stats.claim_verdict`). This speaks for the one model whose CAMs
    were refined, not for training seeds. A skipped pipeline (no weights) gets no verdict.

    Returns:
        One dict per claim: ``claim``, ``verdict`` (or ``"skipped: ..."``), ``sentence`` and the
        interval in points.
    """
    from wsss_lib.stats import claim_verdict, paired_bootstrap

    if "none" not in run.cams:
        raise ValueError("postprocess_claims needs the 'none' pipeline as the baseline.")

    def ious(name: str) -> np.ndarray:
        return per_image_iou_values(run.cams[name] > threshold, scenes.smoke_masks,
                                    scenes.labels)

    base = ious("none")
    claims = []
    for name, claim, expect in POSTPROCESS_CLAIMS:
        status = run.rows.get(name, {}).get("status", "not run")
        if name not in run.cams:
            claims.append({"claim": claim, "verdict": status,
                           "sentence": f"{claim}: not tested ({status})."})
            continue
        keep = ~np.isnan(base)
        comparison = paired_bootstrap(100 * ious(name)[keep], 100 * base[keep])
        result = claim_verdict(f"{claim} — {name} vs none", comparison, expect=expect)
        result["differences"] = []  # per-image values are not worth storing
        claims.append(result)
    return claims


def postprocess_verdicts(run: PipelineRun) -> list[str]:
    """One sentence per pipeline that ran (or was skipped), from the measured numbers.

    Each compares the pipeline with ``"none"``: smoke IoU change, and the false-positive rates
    on sky and on clouds/haze that tell whether a refiner spread smoke into look-alikes.
    """
    rows = run.rows
    if rows.get("none", {}).get("status") != "ok":
        raise ValueError("postprocess_verdicts needs the 'none' pipeline as the baseline.")
    base = rows["none"]
    lines = []
    for name, row in rows.items():
        if name == "none":
            continue
        if row.get("status") != "ok":
            lines.append(f"{name}: {row['status']} (no number recorded).")
            continue
        gain = row["gain_vs_none"]
        verdict = "helps" if gain > 0.005 else ("hurts" if gain < -0.005 else "changes little")
        extra = []
        for region in ("sky", "cloud/haze", "chimney"):
            before, after = base["fp_rate"][region], row["fp_rate"][region]
            if not (math.isnan(before) or math.isnan(after)) and after > before + 0.01:
                extra.append(f"{region} false positives {100 * before:.1f}% -> {100 * after:.1f}%")
        bleed = f"; smoke bleeds: {', '.join(extra)}" if extra else ""
        lines.append(
            f"{name} {verdict}: smoke IoU {_pct(base['smoke_iou'])} -> {_pct(row['smoke_iou'])} "
            f"({_points(gain)} points){bleed}."
        )
    ran = {n: r for n, r in rows.items() if r.get("status") == "ok"}
    best = max(ran, key=lambda n: ran[n]["smoke_iou"])
    lines.append(f"Best pipeline here: {best} (smoke IoU {_pct(ran[best]['smoke_iou'])}).")
    return lines


# ============================================================================ selection


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
