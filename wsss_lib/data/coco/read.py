"""Reading a COCO-segmentation export: locating its annotations file, checking the file's entries,
choosing the smoke categories, and loading the images and masks (:func:`load_coco`) or only the
masks at their original size (:func:`load_coco_truth`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from wsss_lib.data.coco.masks import _ImageRecord, _smoke_pixels
from wsss_lib.data.folder import IMAGE_SUFFIXES, _check_image_size, _open_image
from wsss_lib.data.resize import (
    PAD_VALUE,
    TruthMasks,
    check_resize_mode,
    plan_resize,
    resize_image,
    resize_mask,
)
from wsss_lib.data.scenes import SmokeScenes

#: The annotations file of a Roboflow COCO export, one per split folder.
ANNOTATIONS_FILE = "_annotations.coco.json"


class IgnoredCategoriesWarning(UserWarning):
    """Annotations of categories that are not counted as smoke were left out (``load_coco``).

    Attributes:
        counts: Category name -> number of annotations left out.
    """

    def __init__(self, message: str, counts: Mapping[str, int]) -> None:
        super().__init__(message)
        self.counts = dict(counts)


_SPLIT_ALIASES = {"val": "valid", "valid": "val", "validation": "valid"}


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


def _read_export(root: str | os.PathLike[str], split: str | None, smoke_categories: Any
                 ) -> tuple[Path, dict[int, str], list[int], list[_ImageRecord],
                            dict[int, list[dict[str, Any]]]]:
    """The checked parts of a split's annotation file: its path, category names, the smoke
    category ids, the image records and each image's annotations (what :func:`load_coco` and
    :func:`load_coco_truth` both start from)."""
    path = _annotations_path(Path(root).expanduser(), split)
    data = _read_json(path)
    table = _category_names(data["categories"], path)
    smoke_ids = _select_smoke_ids(data["categories"], smoke_categories, table, path)
    records = _image_records(data["images"], path.parent, path)
    by_image = _group_annotations(data.get("annotations", []), records, table, path)
    return path, table, smoke_ids, records, by_image


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
    path, table, smoke_ids, records, by_image = _read_export(root, split, smoke_categories)
    ranks = {cat_id: k for k, cat_id in enumerate(smoke_ids, start=1)}
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
    path, table, smoke_ids, records, by_image = _read_export(root, split, smoke_categories)
    ranks = {cat_id: k for k, cat_id in enumerate(smoke_ids, start=1)}
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
