"""COCO segmentations <-> pixel masks: decoding polygons and RLE (compressed and uncompressed) of
one image into its smoke class map, and encoding masks as pixel-exact polygons
(:func:`mask_to_polygons`, traced along pixel edges) or RLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

#: How far (in pixels) a polygon point may lie outside its image before the file is refused
#: (annotation tools round and snap to the border; anything beyond is another image's polygon).
POLYGON_TOLERANCE_PX = 2.0


#: Values of :func:`save_coco`'s ``encodings``.
SEGMENTATION_ENCODINGS: tuple[str, ...] = ("polygon", "rle", "rle-uncompressed")


@dataclass(frozen=True)
class _ImageRecord:
    """One entry of the export's ``images`` list, with its file resolved."""

    image_id: int
    file_name: str
    height: int
    width: int
    path: Path


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
