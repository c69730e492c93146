"""Writing scenes as a COCO-segmentation export (:func:`save_coco`): one split folder with the
images and ``_annotations.coco.json``, each class region as a polygon or RLE.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from wsss_lib.data.coco.masks import (
    SEGMENTATION_ENCODINGS,
    _rasterise,
    _rle_annotation,
    mask_to_polygons,
)
from wsss_lib.data.coco.read import ANNOTATIONS_FILE
from wsss_lib.data.folder import _png_bytes
from wsss_lib.data.scenes import SmokeScenes
from wsss_lib.utils import atomic_write_bytes, atomic_write_text


def _region_annotations(
    region: np.ndarray, covered: np.ndarray, encoding: str
) -> list[dict[str, Any]]:
    """Annotations for one class region: a polygon per outer boundary, or one RLE.

    ``covered`` marks pixels a denser class owns: a filled-in hole there changes nothing after
    loading (the densest class wins), anywhere else the region falls back to compressed RLE.
    """
    if encoding != "polygon":
        return [_rle_annotation(region, compressed=encoding == "rle")]
    h, w = region.shape
    polygons = mask_to_polygons(region)
    if ((_rasterise(polygons, h, w) ^ region) & ~covered).any():
        return [_rle_annotation(region, compressed=True)]
    annotations = []
    for poly in polygons:
        rle = mask_utils.frPyObjects([poly], h, w)[0]
        annotations.append(
            {
                "segmentation": [[int(v) for v in poly]],
                "area": float(mask_utils.area(rle)),
                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "iscrowd": 0,
            }
        )
    return annotations


def _smoke_classes(scenes: SmokeScenes, smoke_category: str) -> tuple[list[str], np.ndarray]:
    """Smoke class names (thinnest first) and ``uint8 [N, H, W]`` class maps to write."""
    if scenes.smoke_masks is None:
        raise ValueError("save_coco needs scenes with smoke_masks (COCO stores masks).")
    if scenes.opacity_maps is None:
        return [smoke_category], scenes.smoke_masks.astype(np.uint8)
    classes = list(scenes.meta.get("opacity_classes", []))[1:]
    top = int(scenes.opacity_maps.max(initial=0))
    if len(classes) < top:
        raise ValueError(
            f"scenes.opacity_maps uses class {top} but meta['opacity_classes'] names "
            f"{len(classes)} smoke classes; set meta['opacity_classes'] = ['none', <thinnest>, "
            "..., <densest>]."
        )
    if ((scenes.opacity_maps > 0) != scenes.smoke_masks).any():
        raise ValueError("scenes.opacity_maps > 0 must equal scenes.smoke_masks pixel for pixel.")
    return classes, scenes.opacity_maps


def _check_labels(scenes: SmokeScenes, class_maps: np.ndarray) -> None:
    has_smoke = class_maps.reshape(len(scenes), -1).any(axis=1)
    bad = np.flatnonzero(has_smoke != (scenes.labels == 1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"Scene {scenes.names[i]!r} is labelled {int(scenes.labels[i])} but its smoke mask is "
            f"{'non-empty' if has_smoke[i] else 'empty'}: in COCO a smoke label is a smoke "
            "instance. Fix the label or the mask."
        )


def _check_options(
    scenes: SmokeScenes,
    names: list[str],
    extra_masks: Mapping[str, np.ndarray],
    encodings: Mapping[str, str],
    image_format: str,
) -> None:
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}.")
    unknown = sorted(set(encodings) - set(scenes.names))
    if unknown:
        raise ValueError(f"encodings names images that are not in the scenes: {unknown[:3]}.")
    bad = sorted({e for e in encodings.values() if e not in SEGMENTATION_ENCODINGS})
    if bad:
        raise ValueError(f"Unknown encodings {bad}; use one of {SEGMENTATION_ENCODINGS}.")
    clash = sorted(set(extra_masks) & set(names))
    if clash or len(set(names)) != len(names):
        raise ValueError(f"Category names must be unique; repeated: {clash or names}.")
    shape = scenes.images.shape[:3]
    for name, masks in extra_masks.items():
        if np.shape(masks) != shape:
            raise ValueError(
                f"extra_masks[{name!r}] has shape {np.shape(masks)}; it needs {shape} (bool)."
            )


def _image_bytes(image: np.ndarray, image_format: str, jpeg_quality: int) -> bytes:
    if image_format == "png":
        return _png_bytes(image)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=jpeg_quality)
    return buffer.getvalue()


def _coco_text(data: dict[str, Any]) -> str:
    """Compact JSON with one list entry per line (readable, small, deterministic)."""
    parts = []
    for key, value in data.items():
        if isinstance(value, list):
            rows = ",\n".join(json.dumps(v, separators=(",", ":")) for v in value)
            parts.append(f"{json.dumps(key)}:[\n{rows}\n]")
        else:
            parts.append(f"{json.dumps(key)}:{json.dumps(value, separators=(',', ':'))}")
    return "{" + ",\n".join(parts) + "}\n"


def save_coco(
    scenes: SmokeScenes,
    root: str | os.PathLike[str],
    *,
    smoke_category: str = "smoke",
    extra_masks: Mapping[str, np.ndarray] | None = None,
    encodings: Mapping[str, str] | None = None,
    image_format: str = "png",
    jpeg_quality: int = 90,
    overwrite: bool = False,
) -> Path:
    """Write scenes as one COCO-segmentation split folder that :func:`load_coco` reads back.

    Writes ``root/<name>.<png|jpg>`` and ``root/_annotations.coco.json`` (atomically;
    deterministic bytes). Smoke categories: ``smoke_category``, or with ``scenes.opacity_maps``
    one per name of ``meta["opacity_classes"][1:]`` (thinnest first). Each class region becomes
    one polygon annotation per outer boundary (:func:`mask_to_polygons`) or, where polygons
    cannot express it exactly, one compressed RLE annotation (``iscrowd=1``). Clean images get
    no smoke annotation.

    Args:
        scenes: Scenes with ``smoke_masks``; ``names`` become the file stems.
        root: Output split folder (created if needed).
        smoke_category: Category name of the smoke masks (without opacity maps).
        extra_masks: More categories that are not smoke, ``{name: bool [N, H, W]}`` (e.g.
            ``{"steam": ...}``).
        encodings: Per image name, ``"polygon"`` (default), ``"rle"`` (compressed) or
            ``"rle-uncompressed"`` (a list of run lengths).
        image_format: ``"png"`` or ``"jpg"``.
        jpeg_quality: JPEG quality when ``image_format="jpg"``.
        overwrite: Allow writing over an existing annotations file.

    Returns:
        The split folder ``root``.

    Raises:
        FileExistsError: the annotations file exists and ``overwrite`` is False.
        ValueError: no smoke masks, a label that disagrees with its mask, bad names or options.
    """
    root = Path(root).expanduser()
    target = root / ANNOTATIONS_FILE
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True or another folder.")
    extra_masks, encodings = dict(extra_masks or {}), dict(encodings or {})
    smoke_names, class_maps = _smoke_classes(scenes, smoke_category)
    _check_options(scenes, smoke_names, extra_masks, encodings, image_format)
    _check_labels(scenes, class_maps)
    bad_names = [n for n in scenes.names if not n or "/" in n or "\\" in n or n in (".", "..")]
    duplicates = [n for n, c in Counter(scenes.names).items() if c > 1]
    if bad_names or duplicates:
        raise ValueError(
            f"Scene names must be unique plain file stems; bad: {(bad_names + duplicates)[:3]}."
        )

    names = smoke_names + list(extra_masks)
    categories = [
        {"id": k, "name": name, "supercategory": "smoke" if k <= len(smoke_names) else "none"}
        for k, name in enumerate(names, start=1)
    ]
    images, annotations = [], []
    h, w = scenes.image_size
    for i, name in enumerate(scenes.names):
        file_name = f"{name}.{image_format}"
        atomic_write_bytes(
            root / file_name, _image_bytes(scenes.images[i], image_format, jpeg_quality)
        )
        images.append({"id": i, "file_name": file_name, "height": h, "width": w})
        encoding = encodings.get(name, "polygon")
        regions = [
            (k, class_maps[i] == k, class_maps[i] > k) for k in range(1, len(smoke_names) + 1)
        ]
        regions += [
            (len(smoke_names) + 1 + j, np.asarray(m[i], dtype=bool), np.zeros((h, w), bool))
            for j, m in enumerate(extra_masks.values())
        ]
        for category_id, region, covered in regions:
            if region.any():
                for ann in _region_annotations(region, covered, encoding):
                    annotations.append(
                        {"id": len(annotations), "image_id": i, "category_id": category_id, **ann}
                    )
    data = {
        "info": {"description": "written by wsss_lib.data.save_coco", "version": "1"},
        "categories": categories,
        "images": images,
        "annotations": annotations,
    }
    atomic_write_text(target, _coco_text(data))
    return root
