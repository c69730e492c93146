"""Notebook 06's question: which post-processing improves pseudo-masks, and where does it fail?

A pipeline (:class:`Pipeline`) is a seed CAM (single- or multi-scale, :func:`seed_cams`)
followed by steps of :mod:`wsss_lib.postprocess` (dense CRF, PAR, AffinityNet, CLIP, SAM).
:func:`run_pipelines` measures each against the ground truth (one row per pipeline, fractions in
``[0, 1]``), and :func:`false_positive_breakdown` says *where* the wrong smoke pixels land (sky,
clouds and haze, chimney, ground: :func:`wsss_lib.data.regions.region_masks`): class-agnostic
refiners spread smoke into whatever looks alike.

CLIP and SAM need pretrained weights that are never downloaded here: :func:`clip_step` and
:func:`sam_step` return the step when weights are available and a ``"skipped: ..."`` string
otherwise, which the pipeline's row records instead of a number.
:mod:`wsss_lib.results.postprocessing` tests the paper's claims on the rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from wsss_lib.cam.layer_maps import layer_gradcams
from wsss_lib.data.regions import region_masks
from wsss_lib.metrics import per_image_smoke_iou, threshold_sweep
from wsss_lib.paper import PAPER_SCALES
from wsss_lib.studies.measure import metric_row, score_map_cam
from wsss_lib.train import READOUT_THRESHOLDS
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "CRF_INPUTS",
    "CRF_KERNEL_GRID",
    "CRF_POSTERIOR_THRESHOLD",
    "PIPELINE_NAMES",
    "SEED_CAMS",
    "Pipeline",
    "PipelineRun",
    "choose_crf_kernel",
    "choose_pipeline_thresholds",
    "choose_seed_cam",
    "clip_step",
    "crf_power_for",
    "false_positive_breakdown",
    "run_pipelines",
    "sam_step",
    "seed_cams",
    "standard_pipelines",
]


#: The pipelines of notebook 06, in table order.
PIPELINE_NAMES: tuple[str, ...] = (
    "none", "CRF", "MS", "MS+CRF", "PAR", "AffinityNet", "AffinityNet+CRF", "CLIP", "SAM",
    "SAM+CRF",
)


#: Seed CAMs of notebook 06 (:func:`seed_cams`).
SEED_CAMS = ("gradcam_fused", "gradcam_last", "cam")


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


#: The CRF pipelines and the pipeline whose output each one refines.
CRF_INPUTS: dict[str, str] = {"CRF": "none", "MS+CRF": "MS", "AffinityNet+CRF": "AffinityNet",
                              "SAM+CRF": "SAM"}

#: Pseudo-mask threshold of a CRF's output: its posterior, smoke where smoke is likelier (MAP).
CRF_POSTERIOR_THRESHOLD = 0.5


def crf_power_for(threshold: float) -> float:
    """The :class:`~wsss_lib.postprocess.DenseCRF` ``bg_power`` whose unary ties at ``threshold``.

    The CRF's unary favours smoke where ``cam > (1 - cam) ** bg_power``; solving
    ``(1 - t) ** p = t`` for ``p`` puts that tie where the map's own pseudo-mask cut ``t`` is
    (e.g. 0.06 for the default 48, 0.5 for 1), so the CRF starts from the same mask and only
    moves its edges. Thresholds are clipped to ``[0.001, 0.999]``.
    """
    t = min(max(float(threshold), 1e-3), 1.0 - 1e-3)
    return math.log(t) / math.log(1.0 - t)


def standard_pipelines(crf: Any, par: Any, affinity: Any, clip: Any, sam: Any) -> list[Pipeline]:
    """The ten pipelines of :data:`PIPELINE_NAMES` from ready steps.

    Any argument may be a ``"skipped: ..."`` string instead of a step; the pipelines using it
    are then marked skipped. ``crf`` may also map a CRF's input pipeline (``"none"``, ``"MS"``,
    ``"AffinityNet"``, ``"SAM"``: the values of :data:`CRF_INPUTS`) to the CRF step refining it,
    e.g. each with its unary matched to that input's threshold (:func:`crf_power_for`).
    """
    def make(name: str, steps: list[Any], source: str = "single") -> Pipeline:
        reasons = [s for s in steps if isinstance(s, str)]
        return Pipeline(name, source, [] if reasons else steps, reasons[0] if reasons else None)

    def crf_after(name: str) -> Any:
        if not isinstance(crf, Mapping):
            return crf
        return crf.get(name, f"skipped: no CRF for the {name} output")

    return [
        make("none", []),
        make("CRF", [crf_after("none")]),
        make("MS", [], "multiscale"),
        make("MS+CRF", [crf_after("MS")], "multiscale"),
        make("PAR", [par]),
        make("AffinityNet", [affinity]),
        make("AffinityNet+CRF", [affinity, crf_after("AffinityNet")]),
        make("CLIP", [clip]),
        make("SAM", [sam]),
        make("SAM+CRF", [sam, crf_after("SAM")]),
    ]


def false_positive_breakdown(
    pred: np.ndarray, regions: Mapping[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Where a pseudo-mask's false positives are.

    Args:
        pred: bool ``[N, H, W]`` pseudo-masks.
        regions: From :func:`wsss_lib.data.regions.region_masks` (disjoint, non-smoke).

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
    threshold: float = PAPER_THRESHOLD,
    thresholds: Mapping[str, float] | None = None,
    fixed_threshold: float | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> PipelineRun:
    """Run every pipeline on the seed CAMs of ``scenes`` and measure the refined CAMs.

    Args:
        pipelines: E.g. :func:`standard_pipelines`.
        sources: ``{"single": cam, "multiscale": cam}``, float ``[N, H, W]`` in ``[0, 1]``.
        scenes: The scenes the CAMs belong to (with masks).
        threshold: Pseudo-mask threshold of every pipeline ``thresholds`` does not name.
        thresholds: Pipeline name -> its own threshold (e.g. from
            :func:`choose_pipeline_thresholds`, chosen on ``val``).
        fixed_threshold: Also record, for every pipeline not ending in a CRF (:data:`CRF_INPUTS`:
            a CRF's output is a posterior, always cut at :data:`CRF_POSTERIOR_THRESHOLD`), the
            smoke IoU at this one cut (e.g. the paper's 0.3) and its change against ``"none"`` at
            the same cut: ``row["fixed_threshold"] = {"threshold", "smoke_iou",
            "gain_vs_none"}``.
        batch_size: Images per step call.
        progress: Show a progress bar.

    Returns:
        A :class:`PipelineRun`. Each row holds the metrics of
        :func:`~wsss_lib.studies.measure.metric_row` plus ``gain_vs_none`` (smoke IoU change
        against the ``"none"`` pipeline when it ran), the ``fp_rate`` per region, ``seconds``,
        ``steps`` and ``threshold`` (and ``fixed_threshold`` when asked); a skipped pipeline's
        row is ``{"status": <reason>}``.
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
        cut = float((thresholds or {}).get(pipe.name, threshold))
        breakdown[pipe.name] = false_positive_breakdown(cams[pipe.name] > cut, regions)
        row: dict[str, Any] = {"status": "ok", "threshold": cut}
        row.update(metric_row(refined, scenes, cut))
        row["fp_rate"] = breakdown[pipe.name]["fp_rate"]
        row["seconds"] = round(seconds, 2)
        row["steps"] = [getattr(s, "name", type(s).__name__) for s in pipe.steps]
        if fixed_threshold is not None and pipe.name not in CRF_INPUTS:
            fixed_iou = per_image_smoke_iou(cams[pipe.name] > fixed_threshold, scenes.smoke_masks,
                                            scenes.labels)
            row["fixed_threshold"] = {"threshold": float(fixed_threshold),
                                      "smoke_iou": float(fixed_iou)}
        rows[pipe.name] = row
    if "none" in cams:
        base = rows["none"]["smoke_iou"]
        base_fixed = rows["none"].get("fixed_threshold", {}).get("smoke_iou")
        for row in rows.values():
            if row.get("status") == "ok":
                row["gain_vs_none"] = row["smoke_iou"] - base
                if "fixed_threshold" in row and base_fixed is not None:
                    fixed = row["fixed_threshold"]
                    fixed["gain_vs_none"] = fixed["smoke_iou"] - base_fixed
    return PipelineRun(rows=rows, cams=cams, breakdown=breakdown)


def choose_seed_cam(
    model: nn.Module,
    val_scenes: Any,
    kinds: Sequence[str] = SEED_CAMS,
    thresholds: Sequence[float] = READOUT_THRESHOLDS,
    batch_size: int = 16,
    progress: bool = False,
) -> tuple[str, dict[str, float]]:
    """The seed CAM kind (:data:`SEED_CAMS`) whose single-scale map has the best smoke IoU on
    ``val_scenes``, each at its best threshold there (ties keep the earlier kind).

    Returns:
        ``(kind, {kind: val smoke IoU})``.
    """
    ious: dict[str, float] = {}
    for kind in kinds:
        cam = seed_cams(model, val_scenes.images, kind, (1.0,), batch_size, progress)["single"]
        sweep = threshold_sweep(cam.numpy(), val_scenes.smoke_masks, val_scenes.labels,
                                thresholds=thresholds)
        ious[kind] = float(sweep.best_iou)
    best = max(ious, key=lambda k: (ious[k] if math.isfinite(ious[k]) else -math.inf,
                                    -list(kinds).index(k)))
    return best, ious


def choose_pipeline_thresholds(
    pipelines: Sequence[Pipeline],
    sources: Mapping[str, Tensor],
    val_scenes: Any,
    *,
    thresholds: Sequence[float] = READOUT_THRESHOLDS,
    batch_size: int = 8,
    progress: bool = False,
) -> dict[str, float]:
    """Each pipeline's pseudo-mask threshold, chosen on ``val_scenes`` (best smoke IoU there).

    A refiner changes how a map is spread over ``[0, 1]`` (a CRF's output is nearly binary, a
    random walk smooths), so one fixed threshold would favour some pipelines over others.

    Args:
        pipelines: As for :func:`run_pipelines` (skipped ones are left out).
        sources: The seed CAMs of ``val_scenes`` (``{"single": ..., "multiscale": ...}``).
        val_scenes: Validation scenes with smoke masks, never the ones reported.
        thresholds: Candidates swept for every pipeline.

    Returns:
        ``{pipeline name: threshold}``.
    """
    out: dict[str, float] = {}
    for pipe in tqdm(pipelines, desc="thresholds on val", disable=not progress):
        if pipe.skipped:
            continue
        refined = _apply_steps(pipe.steps, sources[pipe.source].float().cpu(), val_scenes.images,
                               batch_size)
        sweep = threshold_sweep(refined.numpy(), val_scenes.smoke_masks, val_scenes.labels,
                                thresholds=thresholds)
        out[pipe.name] = float(sweep.best_threshold)
    return out


#: Appearance-kernel settings of :func:`choose_crf_kernel` (``bilateral_sxy``, ``bilateral_srgb``):
#: the paper's 60 / 5 are pixel distances for 512-px frames; narrower kernels suit smaller images.
CRF_KERNEL_GRID: tuple[tuple[float, float], ...] = (
    (60.0, 5.0), (60.0, 13.0), (20.0, 5.0), (20.0, 13.0), (8.0, 5.0), (8.0, 13.0), (4.0, 5.0),
    (4.0, 13.0),
)


def choose_crf_kernel(
    cam: Tensor,
    val_scenes: Any,
    threshold: float,
    *,
    grid: Sequence[tuple[float, float]] = CRF_KERNEL_GRID,
    iterations: int = 5,
    n_images: int | None = 64,
    batch_size: int = 8,
) -> tuple[dict[str, float], dict[str, float]]:
    """The CRF appearance kernel with the best smoke IoU on ``val_scenes``.

    Each candidate :class:`~wsss_lib.postprocess.DenseCRF` refines ``cam`` (the seed CAM of the
    validation images) with its unary tied at ``threshold`` (:func:`crf_power_for`) and its
    posterior cut at :data:`CRF_POSTERIOR_THRESHOLD`; ties keep the earlier setting (the paper's
    comes first).

    Args:
        cam: float ``[N, H, W]`` seed CAMs of ``val_scenes``.
        val_scenes: Validation scenes with smoke masks.
        threshold: The seed CAM's own threshold on val.
        grid: ``(bilateral_sxy, bilateral_srgb)`` pairs to try.
        iterations: Mean-field iterations.
        n_images: Only the first ``n_images`` validation images (the CRF is the slow step).
        batch_size: Images per CRF call.

    Returns:
        ``(settings, {"sxy/srgb": val smoke IoU})``, ``settings`` holding ``bilateral_sxy`` and
        ``bilateral_srgb`` of the best pair.
    """
    from wsss_lib.postprocess import DenseCRF

    if not grid:
        raise ValueError("choose_crf_kernel needs at least one (bilateral_sxy, bilateral_srgb).")
    count = len(val_scenes) if n_images is None else min(int(n_images), len(val_scenes))
    scenes = val_scenes.subset(range(count))
    power = crf_power_for(threshold)
    ious: dict[str, float] = {}
    best: tuple[float, dict[str, float]] | None = None
    for sxy, srgb in grid:
        step = DenseCRF(iterations=iterations, bg_power=power, bilateral_sxy=sxy,
                        bilateral_srgb=srgb)
        refined = _apply_steps([step], cam[:count].float().cpu(), scenes.images, batch_size)
        iou = float(per_image_smoke_iou(refined.numpy() > CRF_POSTERIOR_THRESHOLD,
                                        scenes.smoke_masks, scenes.labels))
        ious[f"{sxy:g}/{srgb:g}"] = iou
        if math.isfinite(iou) and (best is None or iou > best[0]):
            best = (iou, {"bilateral_sxy": float(sxy), "bilateral_srgb": float(srgb)})
    if best is None:
        raise ValueError("No CRF setting gave a finite smoke IoU on the validation images.")
    return best[1], ious
