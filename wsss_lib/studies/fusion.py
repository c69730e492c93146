"""Notebook 05's question: which layers, and which scales, should a ViT's CAM come from?

Grad-CAM of a ViT at several blocks (the paper: ``norm1`` of blocks -5, -4, -2, -1), each
ReLU'd and min-max normalised, combined per pixel (mean / max / weighted) and renormalised; and
the same averaged over image scales (0.5, 1, 1.5, 2).
:func:`~wsss_lib.cam.layer_maps.layer_gradcams` runs the network once per scale and keeps every
layer's raw map, so :func:`~wsss_lib.cam.readout.layer_cams_readout` builds any variant (a
name and its :class:`~wsss_lib.cam.readout.CamReadout`) without re-running it, with the steps of
:func:`wsss_lib.cam.compute_cam`.

Rows: :func:`evaluate_variants` (one per variant and seed model), :func:`cam_row` (any CAM) and
:func:`fusion_summary` (the paper's comparison: last layer vs fused vs multi-scale, with the
per-image paired gain of :func:`paired_gain`); fractions in ``[0, 1]``. Every CAM is cut at a
threshold of its own, chosen on ``val`` (:func:`choose_variant_thresholds`,
:func:`choose_threshold`: the way notebooks 02-04 and 06 read pseudo-masks), and every row also
records its smoke IoU at the paper's fixed threshold (``fixed_threshold``), so both read-outs can
be compared side by side. :func:`classifier_accuracy` tells whether a seed network learnt to
classify at all (a network near chance has CAMs of an untrained network).
:mod:`wsss_lib.results.fusion` words them; :mod:`wsss_lib.plots.refinement` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import Tensor

from wsss_lib.cam import FUSION_RULES
from wsss_lib.cam.layer_maps import LayerCams
from wsss_lib.cam.readout import CamReadout, layer_cams_readout
from wsss_lib.metrics import per_image_iou_values, per_image_smoke_iou, threshold_sweep
from wsss_lib.paper import PAPER_SCALES
from wsss_lib.studies.measure import metric_row
from wsss_lib.train import READOUT_THRESHOLDS
from wsss_lib.train.evaluate import classifier_accuracy
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "SUMMARY_VARIANTS",
    "cam_row",
    "choose_threshold",
    "choose_variant_thresholds",
    "classifier_accuracy",
    "evaluate_variants",
    "fusion_summary",
    "fusion_variants",
    "gallery_columns",
    "paired_gain",
    "short_layer_name",
]


def short_layer_name(layer: str) -> str:
    """``"blocks.11.norm1"`` -> ``"block 11"``; other names unchanged."""
    parts = layer.split(".")
    if len(parts) >= 2 and parts[0] == "blocks" and parts[1].isdigit():
        return f"block {parts[1]}"
    return layer


def fusion_variants(
    layers: Sequence[str],
    scales: Sequence[float] = PAPER_SCALES,
    weights: Sequence[float] | None = None,
    rules: Sequence[str] = FUSION_RULES,
) -> dict[str, CamReadout]:
    """The variants of notebook 05: each layer alone, fused by each rule, and multi-scale.

    Args:
        layers: Layer names, shallow to deep (the last is "the last layer").
        scales: Scales of the two multi-scale variants.
        weights: Weights of ``"weighted"`` fusion (default: proportional to depth rank, 1..L,
            so deeper layers count more).
        rules: Fusion rules to include.

    Returns:
        Variant name -> its Grad-CAM :class:`~wsss_lib.cam.readout.CamReadout` (built from
        stored maps by :func:`~wsss_lib.cam.readout.layer_cams_readout`), named
        ``"layer <block>"``, ``"last layer"``, ``"fused (<rule>)"``,
        ``"multi-scale (last layer)"`` and ``"multi-scale + fused (mean)"``; the thresholds are
        chosen per variant (:func:`choose_variant_thresholds`), not taken from the read-outs.
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
    variants = {f"layer {short_layer_name(x)}": CamReadout("gradcam", (x,)) for x in layers[:-1]}
    variants["last layer"] = CamReadout("gradcam", (last,))
    for rule in rules:
        variants[f"fused ({rule})"] = CamReadout(
            "gradcam", layers, fusion=rule, fusion_weights=weights if rule == "weighted" else None)
    variants["multi-scale (last layer)"] = CamReadout("gradcam", (last,), scales=scales)
    variants["multi-scale + fused (mean)"] = CamReadout("gradcam", layers, scales=scales)
    return variants


def _iou_at(cam: Tensor | np.ndarray, scenes: Any, threshold: float) -> float:
    """Per-image smoke IoU of ``cam > threshold`` on ``scenes``."""
    return float(per_image_smoke_iou(np.asarray(cam) > threshold, scenes.smoke_masks,
                                     scenes.labels))


def cam_row(
    cam: Tensor | np.ndarray,
    scenes: Any,
    seed: str,
    variant: str,
    threshold: float = PAPER_THRESHOLD,
    fixed_threshold: float | None = None,
) -> dict[str, Any]:
    """Metrics of one CAM ``[N, H, W]`` on ``scenes`` as a table row (see
    :func:`evaluate_variants` for the keys), its pseudo-mask cut at ``threshold``.

    With ``fixed_threshold``, the row also holds ``fixed_threshold``: ``{"threshold",
    "smoke_iou"}``, the smoke IoU at that other cut (e.g. the paper's 0.3), for comparison.
    """
    row = {"seed": seed, "variant": variant, "threshold": float(threshold),
           **metric_row(cam, scenes, threshold)}
    if fixed_threshold is not None:
        row["fixed_threshold"] = {"threshold": float(fixed_threshold),
                                  "smoke_iou": _iou_at(cam, scenes, fixed_threshold)}
    return row


def choose_threshold(
    cam: Tensor | np.ndarray, val_scenes: Any, thresholds: Sequence[float] = READOUT_THRESHOLDS
) -> float:
    """The pseudo-mask threshold with the best smoke IoU of ``cam`` (CAMs of ``val_scenes``)
    on ``val_scenes`` (ties: the lowest), among ``thresholds``.

    Choose on ``val``, report on ``test``: a threshold picked on the reported images flatters
    them (``best_threshold_iou`` is that optimistic number).
    """
    if len(cam) != len(val_scenes):
        raise ValueError(f"{len(cam)} CAMs for {len(val_scenes)} validation scenes.")
    sweep = threshold_sweep(np.asarray(cam, dtype=np.float32), val_scenes.smoke_masks,
                            val_scenes.labels, thresholds=thresholds)
    if not math.isfinite(sweep.best_iou):
        raise ValueError("The validation scenes have no smoke image to choose a threshold on.")
    return float(sweep.best_threshold)


def choose_variant_thresholds(
    val_layer_cams: LayerCams,
    variants: Mapping[str, CamReadout],
    val_scenes: Any,
    thresholds: Sequence[float] = READOUT_THRESHOLDS,
) -> dict[str, float]:
    """Each variant's pseudo-mask threshold, chosen on ``val`` (:func:`choose_threshold`).

    A fused or multi-scale map is spread over ``[0, 1]`` differently from a single layer's, so
    one fixed cut (the paper's 0.3) favours some variants over others; this gives each its own.

    Args:
        val_layer_cams: :func:`~wsss_lib.cam.layer_maps.layer_gradcams` of ``val_scenes``.
        variants: Name -> read-out, from :func:`fusion_variants`.
        val_scenes: Validation scenes with smoke masks (never the reported ones).
        thresholds: Candidates.

    Returns:
        ``{variant name: threshold}``.
    """
    return {name: choose_threshold(layer_cams_readout(readout, val_layer_cams), val_scenes,
                                   thresholds)
            for name, readout in variants.items()}


def evaluate_variants(
    layer_cams: LayerCams,
    variants: Mapping[str, CamReadout],
    scenes: Any,
    seed: str,
    threshold: float = PAPER_THRESHOLD,
    thresholds: Mapping[str, float] | None = None,
    fixed_threshold: float | None = None,
) -> list[dict[str, Any]]:
    """Metrics of every variant's CAM on ``scenes``.

    Args:
        layer_cams: Maps of ``scenes.images`` from :func:`layer_gradcams`.
        variants: Name -> read-out, from :func:`fusion_variants`.
        scenes: The evaluated scenes (with masks).
        seed: Name of the network the maps come from (e.g. ``"weak"``), stored in each row.
        threshold: Pseudo-mask threshold of the variants ``thresholds`` does not name (paper 0.3).
        thresholds: Variant name -> its own threshold (:func:`choose_variant_thresholds`).
        fixed_threshold: Also record each variant's smoke IoU at this cut (see :func:`cam_row`).

    Returns:
        One dict per variant: ``seed``, ``variant``, ``layers``, ``rule``, ``scales``,
        ``threshold`` (the cut used) and the metrics ``smoke_iou``, ``precision``, ``recall``,
        ``chimney_fp_rate``, ``distractor_fp_rate``, ``cam_chimney_mass``,
        ``best_threshold_iou``, ``blank_share`` (and ``fixed_threshold`` when asked).
    """
    if len(layer_cams) != len(scenes):
        raise ValueError(f"{len(layer_cams)} CAMs for {len(scenes)} scenes; compute the maps of "
                         "exactly these scenes.")
    rows = []
    for name, readout in variants.items():
        cut = float((thresholds or {}).get(name, threshold))
        row = cam_row(layer_cams_readout(readout, layer_cams), scenes, seed, name, cut,
                      fixed_threshold)
        layers = readout.layers or tuple(layer_cams.layers)
        row["layers"] = [short_layer_name(x) for x in layers]
        row["rule"] = readout.fusion if len(layers) > 1 else "single"
        row["scales"] = list(readout.scales)
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
    threshold: float = PAPER_THRESHOLD,
    threshold_after: float | None = None,
) -> dict[str, float]:
    """Change of per-image smoke IoU from one CAM to another, with a 95 % interval over images.

    The same smoke images are scored under both CAMs, so the per-image differences are paired;
    the interval is ``mean +- 1.96 * std / sqrt(n)`` of those differences (normal approximation).

    Args:
        cam_before, cam_after: float ``[N, H, W]`` CAMs of ``scenes``.
        scenes: The evaluated scenes.
        threshold: Pseudo-mask threshold of ``cam_before`` (and of ``cam_after`` unless
            ``threshold_after`` is given).
        threshold_after: Threshold of ``cam_after`` when it has its own (chosen on val).

    Returns:
        ``{"gain", "ci95", "n_images", "improved_share"}``: mean IoU difference (after - before),
        the interval's half-width, how many smoke images, and the share of them that improved.
    """
    cut_after = threshold if threshold_after is None else threshold_after
    before = per_image_iou_values(np.asarray(cam_before) > threshold, scenes.smoke_masks,
                                  scenes.labels)
    after = per_image_iou_values(np.asarray(cam_after) > cut_after, scenes.smoke_masks,
                                 scenes.labels)
    diff = (after - before)[~np.isnan(before)]
    n = int(diff.size)
    if n == 0:
        return {"gain": math.nan, "ci95": math.nan, "n_images": 0, "improved_share": math.nan}
    ci = 1.96 * float(diff.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return {"gain": float(diff.mean()), "ci95": ci, "n_images": n,
            "improved_share": float((diff > 0).mean())}


#: The variants of the paper's comparison (:func:`fusion_summary`), per seed model.
SUMMARY_VARIANTS = ("last layer", "fused (mean)", "multi-scale (last layer)")


def fusion_summary(
    seed_cams: Mapping[str, LayerCams],
    scenes: Any,
    scales: Sequence[float] = PAPER_SCALES,
    threshold: float = PAPER_THRESHOLD,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, dict[str, float]]:
    """The paper's comparison per seed: last layer vs fused (mean) vs multi-scale (last layer).

    Args:
        seed_cams: Seed name (e.g. ``"single ViT"``) -> its :class:`LayerCams` on ``scenes``.
        scenes: The evaluated scenes.
        scales: Scales of the multi-scale CAM.
        threshold: Pseudo-mask threshold of every CAM ``thresholds`` does not name.
        thresholds: Seed name -> variant name -> that CAM's own threshold (chosen on val,
            :func:`choose_variant_thresholds`); the gains then compare each CAM at its own cut.

    Returns:
        Rows ``"<seed> / last layer"``, ``"<seed> / fused (mean)"`` and ``"<seed> / multi-scale
        (last layer)"`` with ``smoke_iou``, ``threshold``, ``blank_share`` and, for the last
        two, ``gain`` / ``ci95`` / ``improved_share`` relative to the last layer (see
        :func:`paired_gain`).
    """
    out: dict[str, dict[str, float]] = {}
    for seed, cams in seed_cams.items():
        cuts = (thresholds or {}).get(seed, {})
        last = cams.layers[-1]
        readouts = dict(zip(SUMMARY_VARIANTS, (
            CamReadout("gradcam", (last,)), CamReadout("gradcam", tuple(cams.layers)),
            CamReadout("gradcam", (last,), scales=scales)), strict=True))
        candidates = {name: layer_cams_readout(r, cams) for name, r in readouts.items()}
        single = candidates["last layer"]
        base_cut = float(cuts.get("last layer", threshold))
        for name, cam in candidates.items():
            cut = float(cuts.get(name, threshold))
            metrics = metric_row(cam, scenes, cut)
            row: dict[str, float] = {"smoke_iou": metrics["smoke_iou"], "threshold": cut,
                                     "blank_share": metrics["blank_share"]}
            if name != "last layer":
                gain = paired_gain(single, cam, scenes, base_cut, cut)
                row.update({k: gain[k] for k in ("gain", "ci95", "improved_share")})
            out[f"{seed} / {name}"] = row
    return out
