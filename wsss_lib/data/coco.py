"""Read COCO-segmentation exports (e.g. Roboflow's IJmond-SEG) into :class:`SmokeScenes`, and
write scenes as one.

The layout Roboflow exports::

    root/
      train/_annotations.coco.json   images, annotations (polygons or RLE), categories
      train/frame_0001.jpg ...
      valid/...
      test/...

``load_coco(root, split="train")`` reads one split; ``load_coco(root / "train")`` (``split=None``)
reads a folder that itself holds ``_annotations.coco.json``. Image ``file_name`` entries are
relative to that folder (also looked up in its ``images/`` subfolder).

Labels come from the annotations: an image with at least one instance of a *smoke category* is
smoke (1) and its mask is the union of those instances; an image with none is clean (0). By default
every category whose name contains "smoke" (any case) is a smoke category, except Roboflow's
dataset-level group category (a name that other categories use as their ``supercategory``). So
"steam" never counts as smoke unless you list it in ``smoke_categories``.

**Opacity classes.** With ``keep_opacity=True`` the scenes also get ``opacity_maps``
(``uint8 [N, H, W]``): 0 = no smoke, k = the k-th smoke category, ordered from the thinnest to the
densest, named in ``meta["opacity_classes"]`` (``["none", ...]``). Where instances overlap the
densest class (the highest k) wins. The order is the order of ``smoke_categories`` when you give
it (list the thinnest first); by default names containing "low" come first, then names with
neither word, then names containing "high", ties by category id.

**Writing** (:func:`save_coco`): every class region of an image is outlined by
:func:`mask_to_polygons`, which traces pixel edges (vertices on pixel corners), so the polygons
rasterise back to exactly the same pixels with ``pycocotools``. COCO polygons cannot carry holes:
a region with a hole that a denser class does not fill is written as compressed RLE instead, so a
written export always loads back pixel-exact.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from wsss_lib.utils import atomic_write_bytes, atomic_write_text

from .folder import IMAGE_SUFFIXES, _check_image_size, _open_image, _png_bytes
from .resize import (
    PAD_VALUE,
    TruthMasks,
    check_resize_mode,
    plan_resize,
    resize_image,
    resize_mask,
)
from .scenes import SmokeScenes

__all__ = [
    "ANNOTATIONS_FILE",
    "POLYGON_TOLERANCE_PX",
    "SEGMENTATION_ENCODINGS",
    "IgnoredCategoriesWarning",
    "load_coco",
    "load_coco_truth",
    "mask_to_polygons",
    "save_coco",
]

#: The annotations file of a Roboflow COCO export, one per split folder.
ANNOTATIONS_FILE = "_annotations.coco.json"

#: How far (in pixels) a polygon point may lie outside its image before the file is refused
#: (annotation tools round and snap to the border; anything beyond is another image's polygon).
POLYGON_TOLERANCE_PX = 2.0

#: Values of :func:`save_coco`'s ``encodings``.
SEGMENTATION_ENCODINGS: tuple[str, ...] = ("polygon", "rle", "rle-uncompressed")


class IgnoredCategoriesWarning(UserWarning):
    """Annotations of categories that are not counted as smoke were left out (``load_coco``).

    Attributes:
        counts: Category name -> number of annotations left out.
    """

    def __init__(self, message: str, counts: Mapping[str, int]) -> None:
        super().__init__(message)
        self.counts = dict(counts)


_SPLIT_ALIASES = {"val": "valid", "valid": "val", "validation": "valid"}


@dataclass(frozen=True)
class _ImageRecord:
    """One entry of the export's ``images`` list, with its file resolved."""

    image_id: int
    file_name: str
    height: int
    width: int
    path: Path


# ---------------------------------------------------------------------------- locating


def _annotations_path(root: Path, split: str | None) -> Path:
    """``root/<split>/_annotations.coco.json`` (or ``root/_annotations.coco.json``)."""
    if root.is_file() and root.suffix == ".json":
        return root
    if not root.is_dir():
        raise FileNotFoundError(
            f"COCO export folder {root} does not exist (or is not a folder). Pass the folder of "
            "the export (holding train/ valid/ test/) or one split folder."
        )
    splits = sorted(p.name for p in root.iterdir() if (p / ANNOTATIONS_FILE).is_file())
    if split is None:
        if (root / ANNOTATIONS_FILE).is_file():
            return root / ANNOTATIONS_FILE
        hint = f"pass split= one of {splits}" if splits else "check the folder"
        raise FileNotFoundError(
            f"No {ANNOTATIONS_FILE} in {root}; {hint} (a Roboflow export keeps one file per split "
            "folder)."
        )
    for name in (split, _SPLIT_ALIASES.get(split)):
        if name and (root / name / ANNOTATIONS_FILE).is_file():
            return root / name / ANNOTATIONS_FILE
    raise FileNotFoundError(
        f"Split {split!r} not found: {root / split / ANNOTATIONS_FILE} does not exist. "
        f"Splits in {root}: {splits or 'none'}."
    )


# ---------------------------------------------------------------------------- JSON


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text; re-export the dataset.") from err
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}). The "
            "file is truncated or was edited by hand; re-download or re-export the dataset."
        ) from err
    if not isinstance(data, dict):
        raise ValueError(
            f"{path} is not a COCO annotations file: the top level is a {type(data).__name__}, "
            "not an object with 'images', 'annotations' and 'categories'."
        )
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(
                f"{path} is not a COCO annotations file: it has no {key!r} list. Export the "
                "dataset in the 'COCO Segmentation' format."
            )
    if not isinstance(data.get("annotations", []), list):
        raise ValueError(f"{path}: 'annotations' must be a list.")
    return data


def _int_field(entry: Any, key: str, where: str) -> int:
    value = entry.get(key) if isinstance(entry, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} has no integer {key!r} (got {value!r}); the entry is broken.")
    return value


# ---------------------------------------------------------------------------- categories


def _category_names(categories: list[Any], path: Path) -> dict[int, str]:
    table: dict[int, str] = {}
    for i, entry in enumerate(categories):
        cat_id = _int_field(entry, "id", f"{path}: categories[{i}]")
        table[cat_id] = str(entry.get("name", cat_id))
    return table


def _available(table: Mapping[int, str]) -> str:
    return ", ".join(f"{cat_id}: {name!r}" for cat_id, name in sorted(table.items()))


def _density_rank(name: str) -> int:
    lowered = name.lower()
    return 0 if "low" in lowered else 2 if "high" in lowered else 1


def _default_smoke_ids(categories: list[Any], table: Mapping[int, str], path: Path) -> list[int]:
    """Categories named like smoke, without Roboflow's dataset-level group category."""
    smoke = [cat_id for cat_id, name in table.items() if "smoke" in name.lower()]
    parents = {  # names other categories give as their supercategory
        str(c.get("supercategory"))
        for c in categories
        if isinstance(c, dict) and c.get("supercategory") != c.get("name")
    }
    leaves = [cat_id for cat_id in smoke if table[cat_id] not in parents]
    chosen = leaves or smoke
    if not chosen:
        raise ValueError(
            f"{path}: no category name contains 'smoke'. Available categories: "
            f"{_available(table)}. Pass smoke_categories=[<names or ids>] to say which are smoke."
        )
    return sorted(chosen, key=lambda cat_id: (_density_rank(table[cat_id]), cat_id))


def _select_smoke_ids(
    categories: list[Any], smoke_categories: Any, table: Mapping[int, str], path: Path
) -> list[int]:
    """Smoke category ids, ordered from the thinnest to the densest (see the module docstring)."""
    if smoke_categories is None:
        return _default_smoke_ids(categories, table, path)
    if isinstance(smoke_categories, (str, int)):
        smoke_categories = [smoke_categories]
    chosen: list[int] = []
    for item in smoke_categories:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise ValueError(f"smoke_categories entries must be names or ids; got {item!r}.")
        if isinstance(item, int):
            matches = [item] if item in table else []
        else:
            matches = sorted(i for i, name in table.items() if name.lower() == item.lower())
        if not matches:
            raise ValueError(
                f"{path}: smoke category {item!r} matches no category. Available categories: "
                f"{_available(table)}. Pass their names or ids in smoke_categories."
            )
        chosen += [cat_id for cat_id in matches if cat_id not in chosen]
    if not chosen:
        raise ValueError("smoke_categories is empty; name at least one category, or pass None.")
    return chosen


# ---------------------------------------------------------------------------- images


def _safe_relative(value: str, where: str) -> PurePosixPath:
    rel = PurePosixPath(value.replace("\\", "/"))
    if not value or rel.is_absolute() or (len(value) > 1 and value[1] == ":") or ".." in rel.parts:
        raise ValueError(
            f"{where}: file_name {value!r} is empty or points outside the export folder; image "
            "paths must be relative to the folder that holds the annotations file."
        )
    if rel.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(
            f"{where}: {value!r} is not an image file name; accepted endings: "
            f"{', '.join(IMAGE_SUFFIXES)}."
        )
    return rel


def _image_records(images: list[Any], folder: Path, path: Path) -> list[_ImageRecord]:
    if not images:
        raise ValueError(
            f"{path} lists no images: the export is empty. Export the dataset again with its "
            "images, or pick another split."
        )
    records: list[_ImageRecord] = []
    seen_ids: set[int] = set()
    seen_stems: dict[str, str] = {}
    for i, entry in enumerate(images):
        where = f"{path}: images[{i}]"
        image_id = _int_field(entry, "id", where)
        height, width = _int_field(entry, "height", where), _int_field(entry, "width", where)
        rel = _safe_relative(str(entry.get("file_name", "")), where)
        if image_id in seen_ids:
            raise ValueError(f"{where}: image id {image_id} is used twice; ids must be unique.")
        if rel.stem in seen_stems:
            raise ValueError(
                f"{where}: {rel.as_posix()!r} has the same name {rel.stem!r} as "
                f"{seen_stems[rel.stem]!r}; names (file stems) must be unique. Rename one."
            )
        candidates = [folder / rel, folder / "images" / rel]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"{where}: image file {rel.as_posix()!r} (id {image_id}) does not exist in "
                f"{folder}. Copy the image next to the annotations file or remove its entry."
            )
        seen_ids.add(image_id)
        seen_stems[rel.stem] = rel.as_posix()
        records.append(_ImageRecord(image_id, rel.as_posix(), height, width, found))
    return records


def _open_checked(record: _ImageRecord, path: Path) -> Image.Image:
    """The image file, checked against the size the annotations were made for."""
    image = _open_image(record.path, f"remove its entry from {path.name}")
    if image.size != (record.width, record.height):
        raise ValueError(
            f"Image {record.path} is {image.size[0]}x{image.size[1]} (WxH) but {path} says "
            f"{record.width}x{record.height}; its polygons would not fit. Re-export the dataset "
            "(or fix width/height; a rotated phone photo needs its EXIF rotation applied)."
        )
    return image


# ---------------------------------------------------------------------------- annotations


def _group_annotations(
    annotations: list[Any], records: list[_ImageRecord], table: Mapping[int, str], path: Path
) -> dict[int, list[dict[str, Any]]]:
    """Annotations per image id, after checking every image and category reference."""
    by_image: dict[int, list[dict[str, Any]]] = {r.image_id: [] for r in records}
    for i, ann in enumerate(annotations):
        label = ann.get("id", f"#{i}") if isinstance(ann, dict) else f"#{i}"
        where = f"{path}: annotation {label}"
        image_id = _int_field(ann, "image_id", where)
        category_id = _int_field(ann, "category_id", where)
        if image_id not in by_image:
            raise ValueError(
                f"{where} points at image_id {image_id}, which is not in the file's 'images' "
                "list. The export is incomplete: re-export it, or delete the annotation."
            )
        if category_id not in table:
            raise ValueError(
                f"{where} has category_id {category_id}, which is not in 'categories' "
                f"({_available(table)}). Re-export the dataset."
            )
        by_image[image_id].append(ann)
    return by_image


def _check_polygon(poly: Any, record: _ImageRecord, where: str) -> list[float]:
    if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
        size = len(poly) if isinstance(poly, list) else type(poly).__name__
        raise ValueError(
            f"{where}: a polygon needs an even number of coordinates, at least 3 (x, y) points; "
            f"got {size}. Delete or redraw the annotation."
        )
    coords = np.asarray(poly, dtype=np.float64)
    if not np.isfinite(coords).all():
        raise ValueError(f"{where}: polygon has a non-finite coordinate; redraw it.")
    xs, ys = coords[0::2], coords[1::2]
    tol = POLYGON_TOLERANCE_PX
    outside = (xs < -tol) | (xs > record.width + tol) | (ys < -tol) | (ys > record.height + tol)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"{where}: polygon point ({xs[k]:g}, {ys[k]:g}) lies outside image "
            f"{record.file_name!r} ({record.width}x{record.height}, WxH) by more than "
            f"{tol:g} px. The annotation belongs to another image size: re-export the dataset, "
            "or fix the image's width/height."
        )
    return coords.tolist()


def _counts_from_string(text: bytes) -> list[int]:
    """Run lengths of COCO's compressed RLE string (the inverse of pycocotools' rleToString).

    Decoded here rather than with ``pycocotools.mask.decode``, which warns under numpy 2.
    """
    counts: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(text):
                raise ValueError("the string ends inside a number")
            char = text[pos] - 48
            value |= (char & 0x1F) << shift
            more = bool(char & 0x20)
            pos, shift = pos + 1, shift + 5
            if not more and char & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _mask_from_counts(counts: list[int], height: int, width: int) -> np.ndarray:
    """``bool [height, width]`` from column-major run lengths that start with background."""
    if any(c < 0 for c in counts) or sum(counts) != height * width:
        raise ValueError(f"run lengths must be >= 0 and sum to {height} x {width}")
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def _rle_object(seg: dict[str, Any], record: _ImageRecord, where: str) -> dict[str, Any]:
    size = seg.get("size")
    if list(size or []) != [record.height, record.width]:
        raise ValueError(
            f"{where}: RLE size {size} does not match image {record.file_name!r} "
            f"([height, width] = [{record.height}, {record.width}]). Re-export the dataset."
        )
    counts = seg.get("counts")
    if isinstance(counts, list):
        if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != (
            record.height * record.width
        ):
            raise ValueError(
                f"{where}: uncompressed RLE counts must be non-negative integers summing to "
                f"height x width = {record.height * record.width}. Re-export the dataset."
            )
        return {"size": [record.height, record.width], "counts": counts}
    if isinstance(counts, str) and counts.isascii():
        return {"size": [record.height, record.width], "counts": counts.encode("ascii")}
    raise ValueError(
        f"{where}: RLE 'counts' must be a list of run lengths or an ASCII string, got "
        f"{counts!r:.40}. Re-export the dataset."
    )


def _decode_segmentation(ann: dict[str, Any], record: _ImageRecord, where: str) -> np.ndarray:
    """``bool [h, w]`` of one annotation (polygons, compressed or uncompressed RLE)."""
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        rle = _rle_object(seg, record, where)
    elif isinstance(seg, list) and seg:
        if all(isinstance(v, (int, float)) for v in seg):
            seg = [seg]  # a single flat polygon, as some tools write it
        polys = [_check_polygon(poly, record, where) for poly in seg]
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, record.height, record.width))
    else:
        raise ValueError(
            f"{where} has no segmentation (got {seg!r:.40}): a detection-only export? Export the "
            "dataset as 'COCO Segmentation' (polygons), or leave this category out of "
            "smoke_categories."
        )
    try:
        return _decode_rle(rle)
    except ValueError as err:
        raise ValueError(f"{where}: cannot decode the RLE ({err}); re-export the dataset.") from err


def _decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """``bool [h, w]`` of an RLE dict (counts as a list, or as pycocotools' bytes string)."""
    height, width = rle["size"]
    counts = rle["counts"]
    if not isinstance(counts, list):
        counts = _counts_from_string(counts)
    return _mask_from_counts(counts, height, width)


def _smoke_pixels(
    anns: list[dict[str, Any]], record: _ImageRecord, ranks: Mapping[int, int], path: Path
) -> np.ndarray | None:
    """``uint8 [h, w]`` smoke class per pixel (densest wins), or None without smoke instances."""
    classes: np.ndarray | None = None
    for ann in anns:
        rank = ranks.get(ann["category_id"])
        if rank is None:
            continue
        where = f"{path}: annotation {ann.get('id', '?')} (image {record.file_name!r})"
        pixels = _decode_segmentation(ann, record, where)
        if classes is None:
            classes = np.zeros((record.height, record.width), dtype=np.uint8)
        np.maximum(classes, pixels.astype(np.uint8) * rank, out=classes)
    return classes


# ---------------------------------------------------------------------------- load


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _check_ignored_categories(
    by_image: Mapping[int, list[dict[str, Any]]], smoke_ids: Sequence[int],
    table: Mapping[int, str], path: Path,
) -> None:
    """Say which annotations are left out because their category is not smoke.

    A warning (:class:`IgnoredCategoriesWarning`) lists them with their counts; when no image of
    the split has a smoke annotation at all (so every image would be clean) it is an error.
    """
    chosen = set(smoke_ids)
    ignored = Counter(table[a["category_id"]] for anns in by_image.values() for a in anns
                      if a["category_id"] not in chosen)
    if not ignored:
        return
    listed = ", ".join(f"{name!r} ({n})" for name, n in sorted(ignored.items()))
    smoke_names = [table[i] for i in smoke_ids]
    has_smoke = any(a["category_id"] in chosen for anns in by_image.values() for a in anns)
    if not has_smoke:
        raise ValueError(
            f"{path}: no image has an annotation of the smoke categories "
            f"({_quoted(smoke_names)}), so every image would be clean, while "
            f"{sum(ignored.values())} annotations of other categories are ignored: {listed}. "
            f"If they are smoke, pass smoke_categories=[{_quoted(sorted(ignored))}] (names or "
            "ids)."
        )
    warnings.warn(IgnoredCategoriesWarning(
        f"{path}: {sum(ignored.values())} annotations of categories not counted as smoke are "
        f"ignored: {listed} (smoke categories: {_quoted(smoke_names)}). If some of them are "
        f"smoke, pass smoke_categories=[{_quoted([*smoke_names, *sorted(ignored)])}] (names or "
        "ids; drop the ones that are not).",
        ignored,
    ), stacklevel=3)


def _check_same_size(records: list[_ImageRecord], path: Path) -> None:
    """Without ``image_size`` the images are stacked as they are: one size for all."""
    first = (records[0].height, records[0].width)
    other = next((r for r in records if (r.height, r.width) != first), None)
    if other is not None:
        a, b = records[0], other
        raise ValueError(
            f"Images of {path} have different sizes, e.g. {a.file_name} is {a.width}x{a.height} "
            f"and {b.file_name} is {b.width}x{b.height} (WxH). Pass image_size=<side> (e.g. 512) "
            "to bring them to one square size (resize='pad' keeps the aspect ratio)."
        )


def load_coco(
    root: str | os.PathLike[str],
    split: str | None = None,
    *,
    smoke_categories: Sequence[str | int] | str | int | None = None,
    image_size: int | None = None,
    resize: str = "pad",
    keep_opacity: bool = False,
) -> SmokeScenes:
    """Load a COCO-segmentation export (polygons or RLE) as smoke / clean scenes with masks.

    See the module docstring for the layout, the labelling rule and the opacity classes.

    Args:
        root: The export folder (with ``train/ valid/ test/``), one split folder, or the
            ``_annotations.coco.json`` file itself.
        split: Split folder name (``"train"``, ``"valid"``; ``"val"`` also finds ``valid``), or
            None when ``root`` is a split folder.
        smoke_categories: Category names (case-insensitive) or ids that count as smoke, listed
            from the thinnest to the densest; None: every category whose name contains "smoke".
        image_size: Side of the square the images (bilinear) and masks (nearest) are resized to;
            None keeps the original size (all images must then have the same size).
        resize: ``"pad"`` (keep the aspect ratio, letterbox; default), ``"crop"`` (keep the
            aspect ratio, cut the centre) or ``"squash"``; see :mod:`wsss_lib.data.resize`.
        keep_opacity: Also return ``opacity_maps`` (``uint8 [N, H, W]``, 0 = none, k = k-th
            smoke class, densest wins) and ``meta["opacity_classes"]``.

    Returns:
        :class:`SmokeScenes`: ``images uint8 [N, H, W, 3]`` in the file's order, ``labels``,
        ``smoke_masks bool [N, H, W]``, ``names`` = file stems, ``params[i]`` = ``{"file",
        "coco_id", "original_size": [h, w], "resize_box": [top, left, height, width]}`` and
        ``meta`` = ``{"source": "coco", "annotations", "split", "smoke_categories",
        "image_size", "resize", "pad_value"[, "opacity_classes"]}``.

    Raises:
        FileNotFoundError: no export / split / annotations file, or a listed image is missing.
        ValueError: broken JSON, an empty export, an annotation pointing at an unknown image or
            category, a smoke category that matches nothing, a polygon outside its image, an
            RLE of the wrong size, an image whose size differs from the file's record, or images
            of different sizes without ``image_size``.
    """
    image_size = _check_image_size(image_size)
    check_resize_mode(resize)
    path = _annotations_path(Path(root).expanduser(), split)
    data = _read_json(path)
    table = _category_names(data["categories"], path)
    smoke_ids = _select_smoke_ids(data["categories"], smoke_categories, table, path)
    ranks = {cat_id: k for k, cat_id in enumerate(smoke_ids, start=1)}
    records = _image_records(data["images"], path.parent, path)
    by_image = _group_annotations(data.get("annotations", []), records, table, path)
    _check_ignored_categories(by_image, smoke_ids, table, path)
    if image_size is None:
        _check_same_size(records, path)

    images, labels, masks, opacity, params = [], [], [], [], []
    for record in records:
        image = _open_checked(record, path)
        classes = _smoke_pixels(by_image[record.image_id], record, ranks, path)
        if classes is None:
            classes = np.zeros((record.height, record.width), dtype=np.uint8)
            labels.append(0)
        else:
            labels.append(1)
        geometry = plan_resize((record.height, record.width), image_size, resize)
        images.append(resize_image(image, geometry))
        classes = resize_mask(classes, geometry)
        masks.append(classes > 0)
        if keep_opacity:
            opacity.append(classes)
        params.append(
            {
                "file": record.file_name,
                "coco_id": record.image_id,
                "original_size": [record.height, record.width],
                "resize_box": list(geometry.box),
            }
        )
    meta: dict[str, Any] = {
        "source": "coco",
        "annotations": str(path),
        "split": split,
        "smoke_categories": [table[i] for i in smoke_ids],
        "image_size": image_size,
        "resize": resize,
        "pad_value": list(PAD_VALUE),
    }
    if keep_opacity:
        meta["opacity_classes"] = ["none", *meta["smoke_categories"]]
    return SmokeScenes(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        smoke_masks=np.stack(masks),
        names=[PurePosixPath(r.file_name).stem for r in records],
        params=params,
        meta=meta,
        opacity_maps=np.stack(opacity) if keep_opacity else None,
    )


def load_coco_truth(
    root: str | os.PathLike[str],
    split: str | None = None,
    *,
    smoke_categories: Sequence[str | int] | str | int | None = None,
    keep_opacity: bool = False,
) -> TruthMasks:
    """The smoke masks of a COCO export at every image's original size (sizes may differ).

    The ground truth :func:`wsss_lib.pseudo_masks.evaluate_scenes` compares CAMs with at the
    original resolution (``truth=``). Same arguments, labelling rule and checks as
    :func:`load_coco` (the image files themselves are not read again); ``keep_opacity=True``
    adds the per-pixel opacity classes (``opacity_maps``, ``opacity_classes``).

    Returns:
        :class:`~wsss_lib.data.resize.TruthMasks` in the file's order.
    """
    path = _annotations_path(Path(root).expanduser(), split)
    data = _read_json(path)
    table = _category_names(data["categories"], path)
    smoke_ids = _select_smoke_ids(data["categories"], smoke_categories, table, path)
    ranks = {cat_id: k for k, cat_id in enumerate(smoke_ids, start=1)}
    records = _image_records(data["images"], path.parent, path)
    by_image = _group_annotations(data.get("annotations", []), records, table, path)
    masks, opacity = [], []
    for record in records:
        classes = _smoke_pixels(by_image[record.image_id], record, ranks, path)
        if classes is None:
            classes = np.zeros((record.height, record.width), dtype=np.uint8)
        masks.append(classes > 0)
        if keep_opacity:
            opacity.append(classes)
    return TruthMasks(names=[PurePosixPath(r.file_name).stem for r in records],
                      smoke_masks=masks, opacity_maps=opacity if keep_opacity else None,
                      opacity_classes=["none", *(table[i] for i in smoke_ids)]
                      if keep_opacity else None)


# ---------------------------------------------------------------------------- polygons


def _boundary_edges(mask: np.ndarray) -> np.ndarray:
    """``int [E, 4]`` directed pixel edges ``(x0, y0, x1, y1)`` with the mask on their right.

    Vertices are pixel corners in COCO coordinates (pixel ``(row i, col j)`` spans
    ``[j, j+1] x [i, i+1]``); outer boundaries run clockwise on screen, holes anticlockwise.
    """
    padded = np.pad(mask, 1)
    fg = padded[1:-1, 1:-1]
    sides = (
        (fg & ~padded[:-2, 1:-1], (0, 0, 1, 0)),  # top: left -> right
        (fg & ~padded[1:-1, 2:], (1, 0, 1, 1)),  # right: top -> bottom
        (fg & ~padded[2:, 1:-1], (1, 1, 0, 1)),  # bottom: right -> left
        (fg & ~padded[1:-1, :-2], (0, 1, 0, 0)),  # left: bottom -> top
    )
    edges = []
    for where, (dx0, dy0, dx1, dy1) in sides:
        i, j = np.nonzero(where)
        edges.append(np.stack([j + dx0, i + dy0, j + dx1, i + dy1], axis=1))
    return np.concatenate(edges)


def _trace_loops(edges: np.ndarray) -> list[list[tuple[int, int]]]:
    """Chain directed edges into closed loops of corner points.

    Where two pieces touch only at a corner (a saddle vertex), the walk always turns right,
    hugging its own pixel: the mask is outlined 4-connected, the background 8-connected, so
    a pocket open at a corner is part of the outside, never a hole.
    """
    outgoing: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for x0, y0, x1, y1 in edges.tolist():
        outgoing.setdefault((x0, y0), []).append((x1, y1))
    loops = []
    while outgoing:
        start = current = next(iter(outgoing))
        points: list[tuple[int, int]] = []
        direction: tuple[int, int] | None = None
        while True:
            options = outgoing.get(current, [])
            if direction is None:
                nxt = options[0]
            else:
                right = (current[0] - direction[1], current[1] + direction[0])
                if current == start or len(options) > 1:
                    if right not in options:  # back at the start: the loop is closed
                        break
                    nxt = right
                else:
                    nxt = options[0]
            points.append(current)
            options.remove(nxt)
            if not options:
                del outgoing[current]
            direction = (nxt[0] - current[0], nxt[1] - current[1])
            current = nxt
        loops.append(points)
    return loops


def _corners_only(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop points in the middle of straight runs."""
    n = len(points)
    kept = []
    for k, (x, y) in enumerate(points):
        (xp, yp), (xn, yn) = points[k - 1], points[(k + 1) % n]
        if (x - xp) * (yn - y) - (y - yp) * (xn - x) != 0:
            kept.append((x, y))
    return kept


def _signed_area(points: list[tuple[int, int]]) -> float:
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    return float((xs * np.roll(ys, -1) - np.roll(xs, -1) * ys).sum() / 2)


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outline a mask as COCO polygons along pixel edges.

    The method: collect the pixel edges between mask and background (vertices on pixel corners),
    chain them into closed loops (pieces touching only at a corner are separate loops), keep
    the outer loops (positive area) and only their corner points. Holes are dropped: COCO
    polygons cannot express them (:func:`save_coco` checks and falls back to RLE).

    Args:
        mask: ``bool [H, W]``.

    Returns:
        One flat ``[x0, y0, x1, y1, ...]`` list per outer boundary, in COCO pixel coordinates;
        without holes, ``pycocotools`` rasterises them back to exactly ``mask``.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return []
    polygons = []
    for loop in _trace_loops(_boundary_edges(mask)):
        if _signed_area(loop) > 0:
            corners = _corners_only(loop)
            polygons.append([float(v) for point in corners for v in point])
    return polygons


# ---------------------------------------------------------------------------- save


def _rasterise(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    if not polygons:
        return np.zeros((height, width), dtype=bool)
    return _decode_rle(mask_utils.merge(mask_utils.frPyObjects(polygons, height, width)))


def _uncompressed_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE: run lengths of the column-major mask, starting with zeros."""
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    return ([0] + counts) if flat.size and flat[0] else counts


def _rle_annotation(region: np.ndarray, compressed: bool) -> dict[str, Any]:
    h, w = region.shape
    rle = mask_utils.encode(np.asfortranarray(region.astype(np.uint8)))
    counts = rle["counts"].decode("ascii") if compressed else _uncompressed_counts(region)
    return {
        "segmentation": {"size": [h, w], "counts": counts},
        "area": float(mask_utils.area(rle)),
        "bbox": [float(v) for v in mask_utils.toBbox(rle)],
        "iscrowd": 1,
    }


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

