"""What the explorer computes, independent of any widget: images, cached CAMs, metrics.

:class:`ExplorerData` is the explorer's only mutable part: the image sources, the loaded networks
and two CAM caches (raw model CAM keyed by :func:`~wsss_lib.widgets.state.cam_key` without the
post-processing steps, refined CAM keyed with them). Everything else is a pure function of an
:class:`~wsss_lib.widgets.state.ExplorerState` and this data, so it can be unit-tested without
a browser and reused in a static figure.
"""

from __future__ import annotations

import io
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from wsss_lib.cam import compute_cam, default_gradcam_layers
from wsss_lib.data import SPLITS, SmokeScenes, load_folder, load_split, to_tensor_batch
from wsss_lib.metrics import cam_chimney_mass, chimney_false_positive_rate, per_image_iou_values
from wsss_lib.postprocess import REFINEMENT_STEPS, run_pipeline
from wsss_lib.utils import get_device
from wsss_lib.widgets.catalog import CachedModel, load_cached_model, with_unique_labels
from wsss_lib.widgets.state import ExplorerState, cam_key

__all__ = [
    "POSTPROCESS_STEPS",
    "ExplorerData",
    "ImageRecord",
    "SlotCam",
    "chimney_sentence",
    "format_metrics",
    "image_metrics",
    "layer_choices",
    "layers_for_model",
    "read_image",
]

#: The explorer's label of each named refinement step it offers, in the order they run.
_STEP_LABELS = {"par": "pixel-adaptive refinement (PAR)", "crf": "dense CRF"}
#: Post-processing steps the explorer can toggle: name -> (label, factory), the factories those
#: registered under the name (:mod:`wsss_lib.postprocess.registry`). Both work without trained
#: weights; AffinityNet (needs fitting) and CLIP/SAM (need downloaded weights) are explored in
#: notebook 06 instead.
POSTPROCESS_STEPS: dict[str, tuple[str, Callable[[], Any]]] = {
    name: (label, REFINEMENT_STEPS[name]) for name, label in _STEP_LABELS.items()}

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ImageRecord:
    """One image with what is known about it.

    Attributes:
        image: ``uint8 [H, W, 3]`` RGB.
        name: Display name.
        label: 1 smoke, 0 clean, None unknown (a loaded file).
        smoke_mask: bool ``[H, W]`` ground truth, or None when unknown.
        chimney_mask: bool ``[H, W]`` chimney pixels, or None when unknown.
    """

    image: np.ndarray
    name: str
    label: int | None = None
    smoke_mask: np.ndarray | None = None
    chimney_mask: np.ndarray | None = None


@dataclass(frozen=True)
class SlotCam:
    """The CAM of one model on one image, and how it was made.

    Attributes:
        cam: float32 ``[H, W]`` in ``[0, 1]``, after the post-processing steps.
        raw_cam: float32 ``[H, W]`` in ``[0, 1]``, the model's CAM before post-processing.
        probability: The model's P(smoke) for the image.
        layers: Layers that were fused (empty for ``method="cam"``).
        notes: Things the user should know (e.g. a layer the model does not have).
    """

    cam: np.ndarray
    raw_cam: np.ndarray
    probability: float
    layers: tuple[str, ...]
    notes: tuple[str, ...] = ()


def read_image(source: str | os.PathLike[str] | bytes, image_size: int | None = None) -> np.ndarray:
    """Read an image file (path or raw bytes) as ``uint8 [H, W, 3]`` RGB.

    Args:
        source: A file path or the file's bytes (e.g. from a FileUpload widget).
        image_size: Resize (bilinear) to this square side, as :func:`wsss_lib.data.load_folder`
            does; None keeps the original size.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not an image.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        handle, what = io.BytesIO(bytes(source)), "the uploaded file"
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"Image file {path} does not exist; check the path.")
        handle, what = path, str(path)
    try:
        with Image.open(handle) as img:
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(
            f"Cannot read {what} as an image ({err}); use a PNG or JPEG file."
        ) from err
    if image_size is not None:
        rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).copy()


def records_from_scenes(scenes: SmokeScenes) -> tuple[ImageRecord, ...]:
    """One :class:`ImageRecord` per image of ``scenes`` (arrays are views, not copies)."""
    def mask(masks: np.ndarray | None, i: int) -> np.ndarray | None:
        return None if masks is None else masks[i]

    return tuple(
        ImageRecord(
            image=scenes.images[i],
            name=scenes.names[i],
            label=int(scenes.labels[i]),
            smoke_mask=mask(scenes.smoke_masks, i),
            chimney_mask=mask(scenes.chimney_masks, i),
        )
        for i in range(len(scenes))
    )


def layer_choices(model: Any) -> list[tuple[str, str]]:
    """``(label, layer spec)`` pairs a user can pick for Grad-CAM on ``model``.

    CNN: ``layer1..layer4``. ViT: ``blocks.i.norm1`` (the paper's taps; the last block's output
    gets no gradient from the CLS logit, see ``wsss_lib.cam.default_gradcam_layers``).
    """
    if model.family == "vit":
        return [(f"block {i} (norm1)", f"{name}.norm1")
                for i, name in enumerate(model.layer_names)]
    return [(name, name) for name in model.layer_names]


def layers_for_model(model: Any, method: str,
                     requested: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The layers to fuse on ``model`` and notes about requested layers it lacks.

    Args:
        model: A ``WSSSClassifier``.
        method: CAM method; ``"cam"`` uses no layers.
        requested: Layer specs chosen by the user; empty means the model's default layers.

    Returns:
        ``(layers, notes)``. Layers the model does not have are dropped (e.g. CNN layer names on
        a ViT in a comparison); when none is left the default layers are used and a note says so.
    """
    if method == "cam":
        return (), ()
    default = tuple(default_gradcam_layers(model))
    if not requested:
        return default, ()
    kept = []
    for spec in requested:
        try:
            model.resolve_module(spec)
        except ValueError:
            continue
        kept.append(spec)
    if len(kept) == len(requested):
        return tuple(kept), ()
    missing = sorted(set(requested) - set(kept))
    if kept:
        return tuple(kept), (f"{model.name} has no layer(s) {missing}; fused {kept} only.",)
    return default, (f"{model.name} has none of the chosen layers {missing}; "
                     f"used its default layers {list(default)}.",)


def _nan_if_missing(value: float | None) -> float:
    return math.nan if value is None else float(value)


def image_metrics(cam: np.ndarray, pred: np.ndarray, record: ImageRecord) -> dict[str, float]:
    """The explorer's numbers for one image.

    Args:
        cam: float ``[H, W]`` in ``[0, 1]`` (the thresholded CAM).
        pred: bool ``[H, W]`` pseudo-mask ``cam > threshold``.
        record: The image and its masks.

    Returns:
        ``smoke_iou`` (NaN for a clean image or an unknown mask), ``chimney_fp_rate`` (share of
        chimney pixels called smoke; NaN without chimney pixels), ``cam_chimney_mass`` (share of
        the CAM's activation on chimney pixels; NaN without), ``predicted_fraction`` (share of
        all pixels called smoke).
    """
    smoke_iou = chimney_fp = mass = None
    if record.smoke_mask is not None:
        labels = None if record.label is None else [record.label]
        smoke_iou = per_image_iou_values(pred[None], record.smoke_mask[None], labels)[0]
    if record.chimney_mask is not None:
        chimney_fp = chimney_false_positive_rate(pred[None], record.chimney_mask[None])
        mass = cam_chimney_mass(cam[None], record.chimney_mask[None])
    return {
        "smoke_iou": _nan_if_missing(smoke_iou),
        "chimney_fp_rate": _nan_if_missing(chimney_fp),
        "cam_chimney_mass": _nan_if_missing(mass),
        "predicted_fraction": float(pred.mean()) if pred.size else math.nan,
    }


def _fmt(value: float, why_missing: str) -> str:
    return why_missing if math.isnan(value) else f"{value:.3f}"


def format_metrics(metrics: Mapping[str, float], record: ImageRecord, probability: float) -> str:
    """One line of text with the image's numbers (what the explorer's metrics label shows)."""
    if record.smoke_mask is None:
        iou_missing = "n/a (no smoke mask)"
    else:
        iou_missing = "n/a (clean image)"
    chimney_missing = "n/a (no chimney mask)" if record.chimney_mask is None else "n/a (no chimney)"
    return (
        f"smoke IoU {_fmt(metrics['smoke_iou'], iou_missing)} · "
        f"chimney FP rate {_fmt(metrics['chimney_fp_rate'], chimney_missing)} · "
        f"CAM chimney mass {_fmt(metrics['cam_chimney_mass'], chimney_missing)} · "
        f"{100 * metrics['predicted_fraction']:.1f}% of pixels called smoke · "
        f"P(smoke) {probability:.2f}"
    )


def chimney_sentence(metrics: Mapping[str, float], record: ImageRecord, who: str) -> str:
    """A sentence comparing the CAM's chimney mass with the chimney's share of the image.

    A CAM spread evenly over the image would put exactly the chimney's area share on it, so
    the ratio says how strongly the CAM concentrates on (> 1) or avoids (< 1) the chimney.
    """
    mass = metrics["cam_chimney_mass"]
    if record.chimney_mask is None or not record.chimney_mask.any():
        return f"{who}: this image has no chimney, so there is no chimney mass."
    if math.isnan(mass):  # a chimney but no activation at all
        return (f"{who}: the CAM is zero everywhere on this image (the model sees nothing "
                "smoke-like), so none of it lies on the chimney.")
    area = float(record.chimney_mask.mean())
    ratio = mass / area
    if ratio > 1.25:
        verdict = "the CAM concentrates ON the chimney (shortcut)"
    elif ratio < 0.8:
        verdict = "the CAM avoids the chimney"
    else:
        verdict = "no clear preference for or against the chimney"
    return (f"{who}: {mass:.1%} of the CAM lies on the chimney, which covers {area:.1%} of the "
            f"image ({ratio:.2f}x the share of an evenly spread map): {verdict}.")


class _LRU(OrderedDict):
    """A dict that forgets its least recently used entries beyond ``size``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class ExplorerData:
    """Images, models and cached CAMs behind the explorer.

    Sources are the synthetic splits (generated on first use with ``image_size``, ``n_images``,
    ``seed`` and cached on disk by :func:`wsss_lib.data.load_split`) plus any scenes, folders or
    image files added later. Networks are loaded from the cache on first use.

    Args:
        models: Cached runs the user can pick (see :func:`~wsss_lib.widgets.list_cached_models`).
        splits: Split names offered as sources.
        image_size: Side of the generated split images.
        n_images: Images per split.
        seed: Benchmark replicate seed of the splits.
        device: Where the networks run (default :func:`wsss_lib.utils.get_device`).
        cache_dir: Dataset cache root (default: ``$WSSS_CACHE``).
        max_cached_cams: How many CAMs to keep per cache (raw, refined).
        networks: Already-built networks by model key (skips loading from the cache; for tests
            and for models that are not in the cache).
    """

    def __init__(
        self,
        models: Sequence[CachedModel] = (),
        *,
        splits: Sequence[str] = SPLITS,
        image_size: int = 64,
        n_images: int = 32,
        seed: int = 0,
        device: str | torch.device | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        max_cached_cams: int = 64,
        networks: Mapping[str, torch.nn.Module] | None = None,
    ) -> None:
        self.models: dict[str, CachedModel] = {m.key: m for m in with_unique_labels(models)}
        self.image_size = int(image_size)
        self.n_images = int(n_images)
        self.seed = int(seed)
        self.device = get_device(device)
        self.cache_dir = cache_dir
        self._sources: dict[str, tuple[ImageRecord, ...] | None] = {s: None for s in splits}
        self._networks: dict[str, torch.nn.Module] = dict(networks or {})
        self._raw_cams = _LRU(max_cached_cams)
        self._refined_cams = _LRU(max_cached_cams)
        self._steps: dict[str, Any] = {}
        #: Number of times a network was run to make a CAM (cache misses); tests and the
        #: notebook's benchmark read it to check that a threshold change does not run a model.
        self.model_runs = 0

    # ------------------------------------------------------------------ sources
    def source_names(self) -> list[str]:
        """Names of the image sources, splits first, then added ones in order of addition."""
        return list(self._sources)

    def records(self, source: str) -> tuple[ImageRecord, ...]:
        """All images of ``source`` (a split is generated or read from the disk cache once)."""
        if source not in self._sources:
            raise ValueError(f"Unknown image source {source!r}; known: {self.source_names()}.")
        records = self._sources[source]
        if records is None:
            scenes = load_split(source, image_size=self.image_size, n_images=self.n_images,
                                seed=self.seed, cache_dir=self.cache_dir)
            records = self._sources[source] = records_from_scenes(scenes)
        return records

    def record(self, source: str, index: int) -> ImageRecord:
        """Image ``index`` of ``source``."""
        records = self.records(source)
        if not 0 <= index < len(records):
            raise ValueError(f"Image index {index} is out of range for {source!r} "
                             f"({len(records)} images: 0..{len(records) - 1}).")
        return records[index]

    def add_records(self, name: str, records: Sequence[ImageRecord]) -> str:
        """Add (or replace) a source made of ``records``; returns its name."""
        if not records:
            raise ValueError(f"Source {name!r} has no images.")
        self._sources[name] = tuple(records)
        self._forget_source(name)
        return name

    def add_scenes(self, name: str, scenes: SmokeScenes) -> str:
        """Add a :class:`~wsss_lib.data.SmokeScenes` (e.g. from ``load_folder``) as a source."""
        return self.add_records(name, records_from_scenes(scenes))

    def add_path(self, path: str | os.PathLike[str]) -> str:
        """Add an image file or a data folder (``labels.csv`` + masks) as a source.

        Images are resized to ``image_size`` (the size the explorer's splits use).

        Raises:
            FileNotFoundError: nothing exists at ``path``.
            ValueError: the file is not an image, or the folder is not a wsss-lab data folder.
        """
        path = Path(path).expanduser()
        if path.is_dir():
            scenes = load_folder(path, image_size=self.image_size)
            return self.add_scenes(f"folder: {path.name}", scenes)
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist; give an image file ({', '.join(_IMAGE_SUFFIXES)}) or a "
                "data folder with labels.csv."
            )
        image = read_image(path, self.image_size)
        return self.add_records(f"file: {path.name}", [ImageRecord(image, path.stem)])

    def add_image_bytes(self, name: str, data: bytes) -> str:
        """Add an uploaded image file's bytes as a one-image source."""
        image = read_image(data, self.image_size)
        return self.add_records(f"file: {name}", [ImageRecord(image, Path(name).stem)])

    def _forget_source(self, source: str) -> None:
        for cache in (self._raw_cams, self._refined_cams):
            for key in [k for k in cache if k[0] == source]:
                del cache[key]

    # ------------------------------------------------------------------ models
    def add_models(self, models: Sequence[CachedModel]) -> None:
        """Make more cached runs available (e.g. after training one); labels stay unique."""
        merged = {**self.models, **{m.key: m for m in models}}
        self.models = {m.key: m for m in with_unique_labels(merged.values())}

    def network(self, key: str) -> torch.nn.Module:
        """The network of model ``key``, loaded from the cache on first use."""
        if key not in self._networks:
            if key not in self.models:
                raise ValueError(f"Unknown model {key!r}; cached models: {sorted(self.models)}.")
            self._networks[key] = load_cached_model(self.models[key], self.device)
        return self._networks[key]

    # ------------------------------------------------------------------ CAMs
    def _step(self, name: str) -> Any:
        if name not in POSTPROCESS_STEPS:
            raise ValueError(f"Unknown post-processing step {name!r}; "
                             f"choose from {list(POSTPROCESS_STEPS)}.")
        if name not in self._steps:
            self._steps[name] = POSTPROCESS_STEPS[name][1]()
        return self._steps[name]

    def _raw_cam(self, state: ExplorerState, slot: str) -> SlotCam:
        key = state.model(slot)
        if key is None:
            raise ValueError(f"No model chosen for slot {slot!r}.")
        model = self.network(key)
        record = self.record(state.source, state.index)
        layers, notes = layers_for_model(model, state.method, state.layers)
        readout = replace(state.readout, layers=layers or None, refine=())
        x = to_tensor_batch(record.image[None]).to(self.device)
        self.model_runs += 1
        cam = compute_cam(model, x, **readout.cam_kwargs())
        with torch.no_grad():
            probability = torch.sigmoid(model(x).logits[0, 0]).item()
        cam_np = cam[0].detach().cpu().float().numpy()
        return SlotCam(cam_np, cam_np, probability, layers, notes)

    def _refined_cam(self, state: ExplorerState, slot: str) -> SlotCam:
        raw = self._raw_cams.get_or_make(cam_key(state, slot, refined=False),
                                         lambda: self._raw_cam(state, slot))
        if not state.refine:
            return raw
        record = self.record(state.source, state.index)
        steps = [self._step(name) for name in state.refine]
        refined = run_pipeline(steps, torch.from_numpy(raw.raw_cam)[None], record.image[None])
        cam = refined[0].cpu().float().numpy()
        return SlotCam(cam, raw.raw_cam, raw.probability, raw.layers, raw.notes)

    def is_cached(self, state: ExplorerState, slot: str) -> bool:
        """Whether :meth:`cam` would answer ``slot`` from the cache (no model run, no steps)."""
        return cam_key(state, slot) in self._refined_cams

    def cam(self, state: ExplorerState, slot: str) -> SlotCam:
        """The (post-processed) CAM of ``slot``'s model on the current image, cached.

        The model runs only when the raw CAM's key (image, model, method, layers, scales,
        fusion) is new; toggling steps re-runs only the post-processing, and the threshold is
        not part of either key.
        """
        return self._refined_cams.get_or_make(cam_key(state, slot),
                                              lambda: self._refined_cam(state, slot))
