"""Writing pseudo-masks: one PNG per image plus ``manifest.json``, atomic and resumable
(:func:`export_pseudo_masks`), and reading a mask PNG back (:func:`read_mask_png`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from wsss_lib.cam.readout import CamReadout, readout_or_settings
from wsss_lib.pseudo_masks.evaluation import _pixel_counts, _pooled_scores, _whole_image_scores
from wsss_lib.pseudo_masks.scene_cams import (
    _check_truth_shape,
    _output_geometry,
    _prepare_cams,
    _truth_source,
)
from wsss_lib.train.evaluate import EVAL_BATCH_SIZE, scene_cams
from wsss_lib.utils import (
    atomic_write_bytes,
    atomic_write_json,
    json_differences,
)

MANIFEST_NAME = "manifest.json"


MANIFEST_FORMAT = "wsss-lab-pseudo-masks/1"


_SMOKE_VALUE = 255


_NAME_PATTERN = re.compile(r"^[^/\\\x00]+$")


def _library_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("wsss-lab")
    except metadata.PackageNotFoundError:
        return "unknown"


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
        settings: The recorded read-out (:meth:`CamReadout.to_record`) plus the input
            geometry (``input_size``, ``resize``, ``output_size``).
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
    readout: CamReadout | None = None,
    *,
    method: str | None = None,
    layers: str | int | Sequence[str | int] | None = None,
    scales: Sequence[float] | None = None,
    fusion: str | None = None,
    refine: Sequence[str | Any] | None = None,
    threshold: float | None = None,
    normalize: str | None = None,
    truth: Any = None,
    batch_size: int = EVAL_BATCH_SIZE,
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
        readout: How the CAM is read, refined and cut: a
            :class:`~wsss_lib.cam.readout.CamReadout` (method, layers, scales, fusion,
            normalisation, refinement steps, threshold; default: the score map at 0.3).
        method, layers, scales, fusion, refine, threshold, normalize: Instead of ``readout``:
            the fields of the read-out it is made of (e.g. ``method="gradcam",
            scales=(0.5, 1.0, 1.5, 2.0), refine=("crf",)``).
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
    readout = readout_or_settings(readout, method=method, layers=layers, scales=scales,
                                  fusion=fusion, refine=refine, threshold=threshold,
                                  normalize=normalize)
    device, model, info, steps, settings = _prepare_cams(run_or_model, readout, batch_size,
                                                         device)
    output_size, to_output = _output_geometry(scenes)
    meta = dict(getattr(scenes, "meta", {}) or {})
    recorded_settings = {
        **settings.to_record(),
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
        for index, cams, _logits in scene_cams(
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
