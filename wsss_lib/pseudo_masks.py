"""Pseudo-masks to disk: the product of WSSS, as PNG files a segmentation network can train on.

::

    from wsss_lib.pseudo_masks import export_pseudo_masks
    result = export_pseudo_masks(run, scenes, "pseudo_masks/", method="gradcam",
                                 scales=(0.5, 1.0, 1.5, 2.0), threshold=0.3)
    print(result.metrics)            # smoke IoU when the scenes have ground-truth masks

One PNG per image, ``<out_dir>/<image name>.png``: 8-bit grey, 255 = smoke, 0 = background.
The CAM comes from :func:`wsss_lib.cam.compute_cam` (the one place that fuses layers, averages
scales and upsamples), optionally refined by post-processing steps
(:mod:`wsss_lib.postprocess`), and is thresholded into the mask. Scenes whose images were resized
when loaded (``load_folder`` / ``load_coco`` record each image's original size and resize box in
``scenes.params``) get masks at the images' original size: the CAM is mapped back through the
letterbox / crop and upsampled (:func:`wsss_lib.data.resize.cam_to_original`); the ground truth
is never downsampled. Images of different sizes are fine: ``truth=`` takes their masks one by one
(:class:`wsss_lib.data.resize.TruthMasks`, from ``wsss_lib.runs.load_truth``); per-image metrics
are taken per image, pooled ones over all pixels, and every metric comes with what a trivial
predictor scores on the same data (:func:`trivial_baselines`).

``manifest.json`` beside the PNGs records the settings (method, layers, scales, fusion,
refinement steps, threshold, input geometry), the model (run id, config and its hash) and one
content hash per image. Every file is written atomically. Running the export again with the same
settings skips the images whose PNG already exists (an interrupted export resumes); an image whose
content changed is redone; other settings in the same folder are refused with an error, so one
folder never mixes masks of different settings.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from wsss_lib.postprocess import DenseCRF, PixelAdaptiveRefiner, run_pipeline
from wsss_lib.utils import (
    atomic_write_bytes,
    atomic_write_json,
    config_hash,
    get_device,
    json_differences,
)

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "REFINEMENT_STEPS",
    "CamSettings",
    "ExportResult",
    "compute_scene_cams",
    "evaluate_scenes",
    "export_pseudo_masks",
    "make_refinement_steps",
    "masks_at_original_size",
    "metrics_at_original_size",
    "recall_per_opacity",
    "read_mask_png",
    "resolve_cam_settings",
    "trivial_baselines",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "wsss-lab-pseudo-masks/1"
#: Refinement steps that can be named (``refine=("par", "crf")``): they need no fitting and no
#: downloaded weights. Others (a fitted ``AffinityRefiner``, ``ClipRefiner``/``SamRefiner`` with
#: local weights) are passed as step objects.
REFINEMENT_STEPS: dict[str, Callable[[], Any]] = {
    "par": PixelAdaptiveRefiner,
    "crf": DenseCRF,
}
_SMOKE_VALUE = 255
_NAME_PATTERN = re.compile(r"^[^/\\\x00]+$")


# ---------------------------------------------------------------------------- settings


def make_refinement_steps(refine: Sequence[str | Any]) -> list[Any]:
    """Post-processing steps from names (:data:`REFINEMENT_STEPS`) or step objects.

    Args:
        refine: Step names (``"par"``, ``"crf"``) and/or objects with ``name``, ``params()`` and
            ``__call__(cam, images)`` (see :mod:`wsss_lib.postprocess`), run in order.

    Raises:
        ValueError: an unknown name or an object that is not a post-processing step.
    """
    if isinstance(refine, str):
        refine = [refine]
    steps = []
    for item in refine:
        if isinstance(item, str):
            if item not in REFINEMENT_STEPS:
                raise ValueError(
                    f"Unknown refinement step {item!r}; named steps are "
                    f"{sorted(REFINEMENT_STEPS)} (AffinityNet, CLIP and SAM need fitting or local "
                    "weights: pass the step object, e.g. ClipRefiner(weights_path=...))."
                )
            steps.append(REFINEMENT_STEPS[item]())
        elif callable(item) and hasattr(item, "params") and hasattr(item, "name"):
            steps.append(item)
        else:
            raise ValueError(
                f"refine entries must be step names {sorted(REFINEMENT_STEPS)} or post-processing "
                f"step objects (wsss_lib.postprocess); got {item!r}."
            )
    return steps


@dataclass(frozen=True)
class CamSettings:
    """How a CAM becomes a pseudo-mask (everything :func:`export_pseudo_masks` records).

    Attributes:
        method: CAM method of :func:`wsss_lib.cam.compute_cam` (``"cam"``, ``"gradcam"``, ...).
        layers: Canonical layer names fused for Grad-CAM methods (empty for ``"cam"``).
        scales: Image scales averaged over (multi-scale inference).
        fusion: Layer fusion rule (``"mean"``, ``"max"``, ``"weighted"``).
        normalize: CAM normalisation (``"minmax"``: pseudo-mask thresholds refer to it).
        threshold: Pseudo-mask = ``cam > threshold``.
        refine: ``[{"name", "params"}]`` of the post-processing steps, in order.
    """

    method: str
    layers: tuple[str, ...]
    scales: tuple[float, ...]
    fusion: str
    normalize: str
    threshold: float
    refine: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (lists, not tuples)."""
        return json.loads(json.dumps({
            "method": self.method,
            "layers": list(self.layers),
            "scales": list(self.scales),
            "fusion": self.fusion,
            "normalize": self.normalize,
            "threshold": self.threshold,
            "refine": list(self.refine),
        }))


def _check_threshold(threshold: Any) -> float:
    ok = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if not ok or not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        raise ValueError(
            f"threshold must be a number in [0, 1] (CAMs are min-max normalised; paper: 0.3); "
            f"got {threshold!r}."
        )
    return float(threshold)


def _check_scales(scales: Any) -> tuple[float, ...]:
    if isinstance(scales, (int, float)) and not isinstance(scales, bool):
        scales = (scales,)
    try:
        values = tuple(float(s) for s in scales)
    except (TypeError, ValueError):
        values = ()
    if not values or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(
            f"scales must be a non-empty list of positive factors, e.g. [1.0] or "
            f"[0.5, 1.0, 1.5, 2.0]; got {scales!r}."
        )
    return values


def resolve_cam_settings(
    model: nn.Module,
    *,
    method: str = "cam",
    layers: str | int | Sequence[str | int] | None = None,
    scales: Sequence[float] = (1.0,),
    fusion: str = "mean",
    normalize: str = "minmax",
    threshold: float = 0.3,
    steps: Sequence[Any] = (),
) -> CamSettings:
    """Validate CAM settings against ``model`` before any work is done.

    Layer specs are resolved to canonical names (``-1`` -> ``"blocks.11"``,
    ``"blocks.-1.norm1"`` -> ``"blocks.11.norm1"``); ``layers=None`` with a Grad-CAM method means
    :func:`wsss_lib.cam.default_gradcam_layers` (the paper's ``norm1`` of blocks -5, -4, -2, -1 on
    a ViT).

    Raises:
        ValueError: unknown method, fusion or normalisation, layers with ``method="cam"``, a
            layer the model does not have, bad scales or threshold.
    """
    from wsss_lib.cam import CAM_METHODS, FUSION_RULES, NORMALIZE_MODES, default_gradcam_layers
    from wsss_lib.cam.gradcam_adapter import canonical_gradcam_method

    if method not in ("cam", "gradcam"):
        try:
            method = canonical_gradcam_method(method)
        except ValueError:
            raise ValueError(f"Unknown CAM method {method!r}; valid: {CAM_METHODS}.") from None
    if fusion not in FUSION_RULES:
        raise ValueError(f"Unknown fusion rule {fusion!r}; valid: {FUSION_RULES}.")
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize={normalize!r} is not one of {NORMALIZE_MODES}.")
    if method == "cam":
        if layers not in (None, [], ()):
            raise ValueError(
                "method='cam' reads the classifier's score map and takes no layers; drop the "
                "layers or use method='gradcam'."
            )
        names: tuple[str, ...] = ()
    else:
        specs = default_gradcam_layers(model) if layers in (None, [], ()) else layers
        if isinstance(specs, (str, int)):
            specs = [specs]
        names = tuple(_canonical_layer(model, spec) for spec in specs)
    return CamSettings(
        method=method,
        layers=names,
        scales=_check_scales(scales),
        fusion=fusion,
        normalize=normalize,
        threshold=_check_threshold(threshold),
        refine=tuple({"name": str(s.name), "params": _jsonable(s.params())} for s in steps),
    )


def _canonical_layer(model: nn.Module, spec: str | int) -> str:
    """``"blocks.-1.norm1"`` -> ``"blocks.11.norm1"`` (a model layer or a sub-module of one)."""
    return model.resolve_module(spec)[0]


def _jsonable(value: Any) -> Any:
    from wsss_lib.utils import to_jsonable

    return json.loads(json.dumps(to_jsonable(value)))


# ---------------------------------------------------------------------------- the model


def _resolve_model(run_or_model: Any, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The CAM network of a run / run folder / cache key / classifier, and how to identify it."""
    from wsss_lib.train import TrainedRun, load_run

    if isinstance(run_or_model, (str, os.PathLike)):
        from wsss_lib.train.cache import find_run

        run_or_model = load_run(find_run(run_or_model), device)
    if isinstance(run_or_model, TrainedRun):
        run = run_or_model
        config = run.config.to_dict()
        run_id = None if run.run_dir is None else run.run_dir.name
        info = {
            "id": run_id or f"config-{config_hash(config)}",
            "run_id": run_id,
            "run_dir": None if run.run_dir is None else str(run.run_dir),
            "config": config,
            "config_hash": config_hash(config),
        }
        return run.model, info
    if isinstance(run_or_model, nn.Module) and hasattr(run_or_model, "resolve_module"):
        model = run_or_model
        digest = hashlib.sha256()
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        weights = digest.hexdigest()[:16]
        build_args = getattr(model, "build_args", None)
        return model, {"id": f"weights-{weights}", "build_args": build_args,
                       "weights_sha256": weights}
    raise ValueError(
        f"run_or_model must be a TrainedRun, a WSSSClassifier, a run folder or a cache key; got "
        f"{type(run_or_model).__name__}. Train one with wsss_lib.train.get_or_train or "
        "`wsss train`."
    )


# ---------------------------------------------------------------------------- geometry


def _output_geometry(scenes: Any) -> tuple[str, Callable[[np.ndarray, int], np.ndarray]]:
    """``("input" | "original", to_output)``: where masks are written and how a CAM gets there.

    ``to_output(cam float [H, W], index) -> float [h, w]``. Scenes loaded with a resize (their
    ``params`` record each image's original size and resize box) are mapped back to every
    image's original size with :func:`wsss_lib.data.resize.cam_to_original` (bilinear upsampling
    of the CAM; padding dropped, crop margins 0); other scenes keep the size the model saw.
    """
    from wsss_lib.data.resize import cam_to_original, scene_geometry

    geometries = [scene_geometry(scenes, i) for i in range(len(scenes))]
    if all(g.is_identity for g in geometries):
        return "input", lambda cam, _index: cam
    return "original", lambda cam, index: cam_to_original(cam, geometries[index])


def masks_at_original_size(scenes: Any) -> bool:
    """True when :func:`export_pseudo_masks` writes ``scenes``' masks at another size than the
    model's input (the images were resized when loaded), i.e. scoring them needs the ground
    truth at the original size (``truth=``)."""
    return _output_geometry(scenes)[0] == "original"


def _truth_source(
    scenes: Any, truth: Any, output_size: str
) -> tuple[Callable[[int], np.ndarray] | None, str | None]:
    """Ground truth at the output size, per scene index, or ``(None, reason)``.

    The ground truth is never resized: at the input size it is the scenes' own masks; at the
    original size it comes from ``truth`` (the same data loaded with ``image_size=None``).
    """
    if truth is None:
        if scenes.smoke_masks is None:
            return None, "the scenes have no ground-truth masks"
        if output_size == "original":
            return None, (
                "the masks are written at the original image size, but the ground truth was "
                "loaded resized; pass truth= the same data loaded at its original size "
                "(image_size=None) to score them without downsampling the ground truth"
            )
        return (lambda i: scenes.smoke_masks[i]), None
    if truth.smoke_masks is None:
        raise ValueError("truth= has no smoke masks; pass scenes loaded with their masks.")
    where = {name: k for k, name in enumerate(truth.names)}
    missing = [n for n in scenes.names if n not in where]
    if missing:
        raise ValueError(
            f"truth= lacks the images {missing[:3]} of the scenes; load the same data (same "
            "folder / split) at its original size."
        )
    return (lambda i: truth.smoke_masks[where[scenes.names[i]]]), None


def _check_truth_shape(truth: np.ndarray, mask: np.ndarray, name: str) -> None:
    if truth.shape != mask.shape:
        raise ValueError(
            f"The ground truth of {name!r} is {truth.shape[1]}x{truth.shape[0]} (WxH) but its "
            f"pseudo-mask is {mask.shape[1]}x{mask.shape[0]}; pass truth= loaded at the original "
            "size (image_size=None) for masks written at the original size."
        )


# ---------------------------------------------------------------------------- CAMs


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def compute_scene_cams(
    model: nn.Module,
    scenes: Any,
    settings: CamSettings,
    steps: Sequence[Any] = (),
    *,
    indices: Sequence[int] | None = None,
    batch_size: int = 16,
    device: torch.device | None = None,
    progress: bool = True,
    desc: str = "CAMs",
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """CAMs (refined by ``steps``) of some scenes, batch by batch.

    Args:
        model: A ``WSSSClassifier`` (moved to ``device``, left in eval mode).
        scenes: :class:`~wsss_lib.data.SmokeScenes`.
        settings: From :func:`resolve_cam_settings`.
        steps: Post-processing steps (from :func:`make_refinement_steps`).
        indices: Which images (default: all).
        batch_size: Images per forward pass.
        device: Where to run (default: CUDA when present).
        progress: Show a ``tqdm`` bar over images.
        desc: The bar's label.

    Yields:
        ``(indices int [B], cams float32 [B, H, W] in [0, 1], logits float32 [B])`` on the CPU.
    """
    from wsss_lib.cam import compute_cam
    from wsss_lib.data import to_tensor_batch

    device = get_device(device)
    model.to(device).eval()
    order = np.arange(len(scenes)) if indices is None else np.asarray(indices, dtype=np.int64)
    layers = list(settings.layers) or None
    with tqdm(total=len(order), desc=desc, unit="img", disable=not progress) as bar:
        for rows in _batches(len(order), batch_size):
            index = order[rows]
            images = to_tensor_batch(scenes.images[index]).to(device)
            with torch.no_grad():
                logits = model(images).logits[:, 0].float().cpu().numpy()
            with torch.no_grad() if settings.method == "cam" else torch.enable_grad():
                cam = compute_cam(
                    model,
                    images,
                    method=settings.method,
                    layers=layers,
                    scales=settings.scales,
                    fusion=settings.fusion,
                    normalize=settings.normalize,
                )
            cam = cam.detach().float()
            if steps:
                cam = run_pipeline(list(steps), cam, scenes.images[index])
            yield index, cam.cpu().numpy().astype(np.float32, copy=False), logits
            bar.update(len(index))


def _prepare_cams(
    run_or_model: Any, *, method: str, layers: Any, scales: Sequence[float], fusion: str,
    refine: Sequence[str | Any], threshold: float, normalize: str, batch_size: int,
    device: str | torch.device | None,
) -> tuple[torch.device, nn.Module, dict[str, Any], list[Any], CamSettings]:
    """What :func:`evaluate_scenes` and :func:`export_pseudo_masks` both start from: the device,
    the network and its description, the refinement steps and the checked CAM settings."""
    _check_batch_size(batch_size)
    device = get_device(device)
    model, info = _resolve_model(run_or_model, device)
    steps = make_refinement_steps(refine)
    settings = resolve_cam_settings(model, method=method, layers=layers, scales=scales,
                                    fusion=fusion, normalize=normalize, threshold=threshold,
                                    steps=steps)
    return device, model, info, steps, settings


def _pixel_counts(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``[tp, fp, fn, tn]`` of one image."""
    tp = int(np.count_nonzero(pred & gt))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(gt)) - tp
    return np.array([tp, fp, fn, gt.size - tp - fp - fn], dtype=np.int64)


def _pooled_scores(counts: np.ndarray) -> dict[str, float]:
    """Pooled pixel IoUs, precision, recall and F1 from summed ``[tp, fp, fn, tn]``."""
    tp, fp, fn, tn = (float(v) for v in counts)

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else math.nan

    iou_smoke, iou_background = ratio(tp, tp + fp + fn), ratio(tn, tn + fp + fn)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    finite = [v for v in (iou_background, iou_smoke) if not math.isnan(v)]
    return {
        "iou_background": iou_background,
        "iou_smoke_dataset": iou_smoke,
        "miou_dataset": float(np.mean(finite)) if finite else math.nan,
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * precision * recall, precision + recall)
        if not (math.isnan(precision) or math.isnan(recall)) else math.nan,
    }


def metrics_at_original_size(
    maps: Sequence[np.ndarray], gts: Sequence[np.ndarray], labels: Any, threshold: float
) -> dict[str, float]:
    """:func:`wsss_lib.metrics.evaluate_cams`' keys for images of different sizes.

    Per-image metrics (``smoke_iou``, the threshold sweep's ``best_threshold_iou`` and
    ``oracle_iou``) are taken image by image; pooled ones (``miou_dataset``,
    ``iou_smoke_dataset``, precision, recall, F1) over the pixels of all images together. On
    images of one size the values equal ``evaluate_cams``' (chimney and distractor rates are NaN:
    real data has no such masks).

    Args:
        maps: Soft CAMs ``float [h_i, w_i]`` in ``[0, 1]``, one per image, each at the size of
            its ground truth.
        gts: Ground-truth smoke masks ``bool [h_i, w_i]``.
        labels: Image labels ``[N]`` (1 = smoke); the per-image IoU is over the smoke images.
        threshold: Pseudo-mask = ``cam > threshold``.
    """
    from wsss_lib.metrics import per_image_iou_values, threshold_sweep

    labels = np.asarray(labels)
    if not len(maps) == len(gts) == len(labels):
        raise ValueError(f"maps, gts and labels need one entry per image; got {len(maps)}, "
                         f"{len(gts)} and {len(labels)}.")
    counts = np.zeros(4, dtype=np.int64)
    ious, curves = [], []
    for cam, gt, label in zip(maps, gts, labels, strict=True):
        pred = cam > threshold
        counts += _pixel_counts(pred, gt)
        if label == 1:
            ious.append(float(per_image_iou_values(pred[None], gt[None], [1])[0]))
            curves.append(threshold_sweep(cam[None], gt[None], [1]))
    result: dict[str, float] = {
        "smoke_iou": float(np.mean(ious)) if ious else math.nan,
        **_pooled_scores(counts),
        "chimney_fp_rate": math.nan,
        "cam_chimney_mass": math.nan,
        "distractor_fp_rate": math.nan,
        "best_threshold": math.nan,
        "best_threshold_iou": math.nan,
        "oracle_iou": math.nan,
        "threshold": float(threshold),
        "n_images": len(maps),
        "n_smoke_images": len(ious),
    }
    if curves:
        curve = np.mean([c.ious for c in curves], axis=0)
        best = int(np.argmax(curve))
        result.update({
            "best_threshold": float(curves[0].thresholds[best]),
            "best_threshold_iou": float(curve[best]),
            "oracle_iou": float(np.mean([c.oracle_iou for c in curves])),
        })
    return result


def recall_per_opacity(
    maps: Sequence[np.ndarray], opacity_maps: Sequence[np.ndarray], classes: Sequence[str],
    threshold: float,
) -> dict[str, float]:
    """Share of each opacity class's pixels inside the pseudo-mask (``cam > threshold``), pooled
    over the images: does the mask find thin smoke as well as dense smoke? (Calling the whole
    image smoke scores 1 on every class: read it beside the precision.)

    Args:
        maps: Soft CAMs ``float [h_i, w_i]`` at the size of their opacity maps.
        opacity_maps: ``uint8 [h_i, w_i]``: 0 none, k the k-th class of ``classes``.
        classes: ``["none", <thinnest>, ..., <densest>]``.
        threshold: Pseudo-mask threshold.
    """
    found = np.zeros(len(classes), dtype=np.int64)
    total = np.zeros(len(classes), dtype=np.int64)
    for cam, opacity in zip(maps, opacity_maps, strict=True):
        pred = cam > threshold
        total += np.bincount(opacity.ravel(), minlength=len(classes))[: len(classes)]
        found += np.bincount(opacity[pred].ravel(), minlength=len(classes))[: len(classes)]
    return {name: float(found[k] / total[k]) if total[k] else math.nan
            for k, name in enumerate(classes) if k > 0}


def trivial_baselines(
    labels: Any, gts: Sequence[np.ndarray] | None = None,
    valid: Sequence[np.ndarray] | None = None,
) -> dict[str, float]:
    """What trivial predictors score on the same data: every metric is read against these.

    Keys: ``accuracy_always_smoke`` (the share of smoke images), ``accuracy_always_clean``;
    with ground truth also ``smoke_iou_whole_image`` (per-image smoke IoU when the whole image
    is called smoke: the mean smoke fraction of the smoke images), ``iou_smoke_dataset_whole_image``
    (the pooled smoke IoU of the same prediction: all smoke pixels over all pixels),
    ``miou_dataset_whole_image`` and the same prediction's pooled ``precision_whole_image``,
    ``recall_whole_image`` (1) and ``f1_whole_image``.

    Args:
        labels: Image labels ``[N]``.
        gts: Ground-truth masks ``bool [h_i, w_i]`` per image (sizes may differ).
        valid: Optional ``bool`` masks of the image pixels (letterbox padding excluded): the
            "whole image" is then the valid region.
    """
    labels = np.asarray(labels)
    n = len(labels)
    share = float(labels.mean()) if n else math.nan
    result = {"accuracy_always_smoke": share, "accuracy_always_clean": 1.0 - share}
    if gts is None:
        return result
    counts = np.zeros(4, dtype=np.int64)
    fractions = []
    for i, gt in enumerate(gts):
        region = np.ones(gt.shape, dtype=bool) if valid is None else np.asarray(valid[i], bool)
        counts += _pixel_counts(region, gt & region)
        if labels[i] == 1:
            fractions.append(np.count_nonzero(gt & region) / max(1, np.count_nonzero(region)))
    result.update({"smoke_iou_whole_image": float(np.mean(fractions)) if fractions else math.nan,
                   **_whole_image_scores(counts)})
    return result


def _whole_image_scores(counts: np.ndarray) -> dict[str, float]:
    """Pooled scores of the whole image called smoke, from its summed ``[tp, fp, fn, tn]``."""
    pooled = _pooled_scores(counts)
    return {f"{key}_whole_image": pooled[key] for key in
            ("iou_smoke_dataset", "miou_dataset", "precision", "recall", "f1")}


def evaluate_scenes(
    run_or_model: Any,
    scenes: Any,
    *,
    truth: Any = None,
    method: str = "cam",
    layers: str | int | Sequence[str | int] | None = None,
    scales: Sequence[float] = (1.0,),
    fusion: str = "mean",
    refine: Sequence[str | Any] = (),
    threshold: float = 0.3,
    normalize: str = "minmax",
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics of a network's (refined) CAMs on scenes: what ``wsss evaluate`` reports.

    Image accuracy always; with ground truth also the keys of
    :func:`wsss_lib.metrics.evaluate_cams` (``smoke_iou`` = the paper's per-image mIoU, pooled
    IoUs, precision/recall/F1, threshold sweep; chimney/distractor rates for synthetic data).

    Where: with ``truth`` (the same data loaded at its original size) every CAM is mapped back to
    its image's original size (:func:`wsss_lib.data.resize.cam_to_original`: the CAM is
    upsampled, the ground truth is never downsampled) and compared there
    (``metrics["resolution"] == "original"``; originals of different sizes are fine: per-image
    metrics are taken per image, pooled ones over all pixels, see :func:`metrics_at_original_size`).
    Without ``truth`` the comparison is in the model's frame
    with the scenes' own masks (``"model"``), letterbox padding counted as background.

    Args:
        run_or_model: A ``TrainedRun`` (its main network), a ``WSSSClassifier``, a run folder or
            a cache key.
        scenes: :class:`~wsss_lib.data.SmokeScenes` at the model's input size.
        method, layers, scales, fusion, refine, threshold, normalize, batch_size: as in
            :func:`export_pseudo_masks`.
        truth: Optional ground truth of the same images at their original size: a
            :class:`~wsss_lib.data.resize.TruthMasks` (``load_folder_truth(root)`` /
            ``load_coco_truth(root, split)``, sizes may differ) or ``SmokeScenes`` loaded without
            ``image_size``.
        device: Where to run (default: CUDA when present).
        progress: Show a progress bar.

    Returns:
        ``{"settings": CamSettings.to_dict(), "model": {...}, "metrics": {...}}``;
        ``metrics["baselines"]`` holds what trivial predictors score on the same data
        (:func:`trivial_baselines`), to read every metric against; ``truth`` with opacity maps
        (``load_coco_truth(..., keep_opacity=True)``) adds ``metrics["recall_per_opacity"]``
        (:func:`recall_per_opacity`).
    """
    from wsss_lib.data.resize import valid_masks
    from wsss_lib.metrics import classification_accuracy, evaluate_cams

    if len(scenes) == 0:
        raise ValueError("Cannot evaluate on an empty set of scenes; load some images first.")
    device, model, info, steps, settings = _prepare_cams(
        run_or_model, method=method, layers=layers, scales=scales, fusion=fusion, refine=refine,
        threshold=threshold, normalize=normalize, batch_size=batch_size, device=device)
    cams = np.zeros((len(scenes), *scenes.image_size), dtype=np.float32)
    logits = np.zeros(len(scenes), dtype=np.float32)
    for index, cam, logit in compute_scene_cams(model, scenes, settings, steps,
                                                batch_size=batch_size, device=device,
                                                progress=progress, desc="evaluate"):
        cams[index], logits[index] = cam, logit
    labels = np.asarray(scenes.labels)
    metrics: dict[str, Any] = {
        "accuracy": classification_accuracy(logits, labels, from_logits=True),
        "n_images": len(scenes),
        "n_smoke_images": int(labels.sum()),
        "threshold": settings.threshold,
    }
    if truth is not None:
        get_truth, _ = _truth_source(scenes, truth, "original")
        _, to_output = _output_geometry(scenes)
        maps = [to_output(cams[i], i) for i in range(len(scenes))]
        gts = [np.asarray(get_truth(i), dtype=bool) for i in range(len(scenes))]
        for i, (cam, gt) in enumerate(zip(maps, gts, strict=True)):
            _check_truth_shape(gt, cam, scenes.names[i])
        metrics.update(metrics_at_original_size(maps, gts, labels, settings.threshold))
        metrics["baselines"] = trivial_baselines(labels, gts)
        if getattr(truth, "opacity_maps", None) is not None:
            where = {name: k for k, name in enumerate(truth.names)}
            metrics["recall_per_opacity"] = recall_per_opacity(
                maps, [truth.opacity_maps[where[n]] for n in scenes.names],
                truth.opacity_classes, settings.threshold)
        metrics["resolution"] = "original"
    elif scenes.smoke_masks is not None:
        # Letterbox padding is never smoke: the CAM there is set to 0 (background).
        valid = valid_masks(scenes)
        cams = np.where(valid, cams, np.float32(0.0))
        metrics.update(evaluate_cams(
            cams, scenes.smoke_masks, chimney_masks=scenes.chimney_masks, labels=labels,
            threshold=settings.threshold, distractor_masks=scenes.distractor_masks,
        ))
        metrics["baselines"] = trivial_baselines(labels, list(scenes.smoke_masks), list(valid))
        metrics["resolution"] = "model"
    else:
        metrics["baselines"] = trivial_baselines(labels)
    return {"settings": settings.to_dict(), "model": dict(info), "metrics": metrics}


def _library_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("wsss-lab")
    except metadata.PackageNotFoundError:
        return "unknown"


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")


# ---------------------------------------------------------------------------- files


def _mask_png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, _SMOKE_VALUE, 0).astype(np.uint8), mode="L").save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue()


def read_mask_png(path: str | os.PathLike[str]) -> np.ndarray:
    """A pseudo-mask PNG written by :func:`export_pseudo_masks` as ``bool [H, W]`` (True = smoke).

    Raises:
        ValueError: the file is not a readable image.
    """
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L")) > (_SMOKE_VALUE // 2)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"Cannot read pseudo-mask {path}: {err}. Delete it and export again (it is redone)."
        ) from err


def _image_digest(image: np.ndarray) -> str:
    digest = hashlib.sha256(f"{image.dtype.str}{image.shape}".encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()[:16]


def _check_names(names: Sequence[str]) -> None:
    bad = [n for n in names if not n or n in (".", "..") or not _NAME_PATTERN.match(n)]
    if bad:
        raise ValueError(
            f"Image names must be plain file stems to name their PNGs (no slashes, not empty); "
            f"got {bad[:3]}. Rename the scenes (scenes.names)."
        )
    seen: set[str] = set()
    repeated = sorted({n for n in names if n in seen or seen.add(n)})
    if repeated:
        raise ValueError(
            f"Image names must be unique to name their PNGs; repeated: {repeated[:3]}. Images "
            "with the same file stem in different folders need distinct names."
        )


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{path} is unreadable ({err}); it does not describe the masks in {path.parent}. "
            "Delete the folder or choose another output folder."
        ) from err
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ValueError(
            f"{path} is not a wsss-lab pseudo-mask manifest (format {MANIFEST_FORMAT}); choose "
            "another output folder."
        )
    return data


@dataclass
class ExportResult:
    """What :func:`export_pseudo_masks` did.

    Attributes:
        out_dir: The output folder.
        manifest_path: ``out_dir/manifest.json``.
        names: The images of this call, in scene order (PNG ``out_dir/<name>.png`` each).
        written: Names whose PNG was written now.
        skipped: Names whose PNG was already there with the same settings (resumed).
        settings: The recorded :class:`CamSettings` as a dict.
        output_size: ``"input"`` (the size the model saw) or ``"original"`` (each image's
            size before an aspect-preserving resize).
        metrics: ``smoke_iou`` (per-image mean over smoke images, the paper's mIoU),
            ``iou_smoke_dataset`` / ``miou_dataset`` (pooled over all pixels of all images),
            ``baselines`` (the same IoUs when the whole image is called smoke), ``n_images``,
            ``n_smoke_images``, ``threshold``; only ``n_images`` without ground truth.
        per_image_iou: Name -> smoke IoU of each smoke image (empty without ground truth).
    """

    out_dir: Path
    manifest_path: Path
    names: list[str]
    written: list[str]
    skipped: list[str]
    settings: dict[str, Any]
    output_size: str
    metrics: dict[str, Any] = field(default_factory=dict)
    per_image_iou: dict[str, float] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        """The PNG of every image of this call, in scene order."""
        return [self.out_dir / f"{name}.png" for name in self.names]


def _prepare_folder(
    out_dir: Path, manifest: dict[str, Any], digests: dict[str, str]
) -> dict[str, str]:
    """Check ``out_dir`` against an earlier manifest; return the images recorded there.

    Removes the PNGs of images whose content changed since (they are redone).
    """
    path = out_dir / MANIFEST_NAME
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"Output {out_dir} is a file, not a folder; choose a folder path.")
    if not path.exists():
        if out_dir.is_dir() and any(out_dir.glob("*.png")):
            raise ValueError(
                f"{out_dir} already holds PNG files but no {MANIFEST_NAME}: they were not written "
                "by this export and could be mixed up with its masks. Choose an empty or new "
                "output folder."
            )
        return {}
    old = _read_manifest(path)
    differing = json_differences(
        {"settings": old.get("settings"), "model": (old.get("model") or {}).get("id")},
        {"settings": manifest["settings"], "model": manifest["model"]["id"]},
    )
    if differing:
        raise ValueError(
            f"{out_dir} holds pseudo-masks made with other settings (they differ in "
            f"{differing}); one folder never mixes settings. Choose another output folder, or "
            "delete this one to redo every mask with the new settings."
        )
    recorded = dict(old.get("images") or {})
    for name, digest in digests.items():
        if name in recorded and recorded[name] != digest:
            (out_dir / f"{name}.png").unlink(missing_ok=True)
            del recorded[name]
    return recorded


def export_pseudo_masks(
    run_or_model: Any,
    scenes: Any,
    out_dir: str | os.PathLike[str],
    *,
    method: str = "cam",
    layers: str | int | Sequence[str | int] | None = None,
    scales: Sequence[float] = (1.0,),
    fusion: str = "mean",
    refine: Sequence[str | Any] = (),
    threshold: float = 0.3,
    normalize: str = "minmax",
    truth: Any = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> ExportResult:
    """Write one pseudo-mask PNG per image (``<out_dir>/<name>.png``) plus ``manifest.json``.

    Args:
        run_or_model: A ``TrainedRun`` (its main network: the student of a teacher-student
            run), a ``WSSSClassifier``, a run folder or a cache key (``wsss runs`` lists them).
        scenes: :class:`~wsss_lib.data.SmokeScenes` (``load_folder`` / ``load_coco`` / a split);
            ``scenes.names`` name the PNGs.
        out_dir: Output folder (created). An earlier export there with the same settings is
            resumed: images whose PNG exists are skipped.
        method: CAM method (``"cam"``, ``"gradcam"``, or a pytorch-grad-cam name).
        layers: Grad-CAM layers (None: the model's defaults; the paper's ``norm1`` of ViT blocks
            -5, -4, -2, -1). Not allowed with ``method="cam"``.
        scales: Multi-scale factors averaged over (paper: 0.5, 1.0, 1.5, 2.0).
        fusion: Layer fusion rule (``"mean"``, ``"max"``).
        refine: Post-processing steps, names (``"par"``, ``"crf"``) or step objects, in order.
        threshold: Pseudo-mask = ``cam > threshold`` on the min-max normalised CAM (paper 0.3).
        normalize: CAM normalisation before thresholding.
        truth: Ground truth for scoring masks written at the original size, matched by name: a
            :class:`~wsss_lib.data.resize.TruthMasks` (``load_folder_truth`` /
            ``load_coco_truth``; images may differ in size) or scenes loaded without
            ``image_size``. Not needed when the masks are written at the scenes' own size.
        batch_size: Images per forward pass.
        device: Where to run (default: CUDA when present).
        progress: Show a ``tqdm`` progress bar.

    Returns:
        An :class:`ExportResult`. ``result.metrics["smoke_iou"]`` (per-image mean over the smoke
        images, every image of this call, skipped ones read back from their PNGs) when ground
        truth at the written size is available; otherwise ``metrics["note"]`` says why not.

    Raises:
        ValueError: bad settings, names that cannot be file names, an empty scene set, or an
            output folder holding masks of other settings or foreign PNGs.
    """
    from wsss_lib.metrics import per_image_iou_values

    if len(scenes) == 0:
        raise ValueError("No images to export pseudo-masks for: the scenes are empty.")
    names = [str(n) for n in scenes.names]
    _check_names(names)
    device, model, info, steps, settings = _prepare_cams(
        run_or_model, method=method, layers=layers, scales=scales, fusion=fusion, refine=refine,
        threshold=threshold, normalize=normalize, batch_size=batch_size, device=device)
    output_size, to_output = _output_geometry(scenes)
    meta = dict(getattr(scenes, "meta", {}) or {})
    recorded_settings = {
        **settings.to_dict(),
        "input_size": list(scenes.image_size),
        "resize": meta.get("resize"),
        "output_size": output_size,
    }
    out = Path(out_dir).expanduser()
    digests = {name: _image_digest(scenes.images[i]) for i, name in enumerate(names)}
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "settings": recorded_settings,
        "model": info,
        "png": {"mode": "L", "smoke": _SMOKE_VALUE, "background": 0,
                "name": "<image name>.png"},
        "data": {k: meta[k] for k in ("source", "root", "annotations", "split", "image_size",
                                      "resize", "smoke_categories") if k in meta},
        "wsss_lib_version": _library_version(),
    }
    recorded = _prepare_folder(out, manifest, digests)
    todo = [i for i, name in enumerate(names)
            if not (recorded.get(name) == digests[name] and (out / f"{name}.png").is_file())]
    done = set(range(len(names))) - set(todo)
    manifest["images"] = {**recorded, **digests}
    atomic_write_json(out / MANIFEST_NAME, manifest)

    get_truth, no_score = _truth_source(scenes, truth, output_size)
    labels = np.asarray(scenes.labels)
    ious: dict[str, float] = {}
    counts = np.zeros(4, dtype=np.int64)
    whole = np.zeros(4, dtype=np.int64)  # the whole image called smoke
    fractions: list[float] = []

    def score(i: int, mask: np.ndarray) -> None:
        nonlocal counts, whole
        if get_truth is None:
            return
        gt = np.asarray(get_truth(i), dtype=bool)
        _check_truth_shape(gt, mask, names[i])
        counts += _pixel_counts(mask, gt)
        whole += _pixel_counts(np.ones(gt.shape, dtype=bool), gt)
        if labels[i] == 1:
            ious[names[i]] = float(per_image_iou_values(mask[None], gt[None], [1])[0])
            fractions.append(float(gt.mean()))

    for i in sorted(done):
        score(i, read_mask_png(out / f"{names[i]}.png"))
    written = []
    if todo:
        for index, cams, _logits in compute_scene_cams(
            model, scenes, settings, steps, indices=todo, batch_size=batch_size, device=device,
            progress=progress, desc="pseudo-masks",
        ):
            for i, cam in zip(index.tolist(), cams, strict=True):
                mask = to_output(cam, i) > settings.threshold
                atomic_write_bytes(out / f"{names[i]}.png", _mask_png(mask))
                written.append(names[i])
                score(i, mask)

    metrics: dict[str, Any] = {"n_images": len(names), "threshold": settings.threshold}
    if get_truth is not None:
        values = [ious[n] for n in names if n in ious]
        pooled = _pooled_scores(counts)
        metrics.update({
            "smoke_iou": float(np.mean(values)) if values else math.nan,
            "iou_smoke_dataset": pooled["iou_smoke_dataset"],
            "miou_dataset": pooled["miou_dataset"],
            "n_smoke_images": len(values),
            "resolution": output_size,
            "baselines": {
                "smoke_iou_whole_image": float(np.mean(fractions)) if fractions else math.nan,
                **_whole_image_scores(whole),
            },
        })
    else:
        metrics["note"] = f"no smoke IoU: {no_score}"
    manifest["metrics"] = metrics
    atomic_write_json(out / MANIFEST_NAME, manifest)
    return ExportResult(
        out_dir=out,
        manifest_path=out / MANIFEST_NAME,
        names=names,
        written=written,
        skipped=[names[i] for i in sorted(done)],
        settings=recorded_settings,
        output_size=output_size,
        metrics=metrics,
        per_image_iou=ious,
    )
