"""Resizing real images to the model's square size, and mapping CAMs back to the original image.

Three modes, shared by :func:`~wsss_lib.data.load_folder` and :func:`~wsss_lib.data.load_coco`:

- ``"pad"`` (default): keep the aspect ratio, scale the longer side to the target and letterbox
  the shorter one (padded pixels get :data:`PAD_VALUE`, the ImageNet mean, so they normalise to
  about 0). Nothing of the image is lost; :func:`valid_region` says which pixels are image.
- ``"crop"``: keep the aspect ratio, scale the shorter side to the target and cut the centre.
  Nothing is padded; the cut-away margins are not seen by the model.
- ``"squash"``: scale each axis on its own (the old behaviour): distorts non-square images.

Every mode is one :class:`ResizeGeometry`: the whole original image, scaled to ``box`` height x
width, sits at ``box``'s ``(top, left)`` in the output frame. Padding has ``top, left >= 0``,
cropping ``top, left <= 0``, squashing ``box == (0, 0, H, W)``. Images are resampled bilinearly,
masks and label maps with nearest neighbour, both through the same box, so a mask follows its
image exactly. :func:`cam_to_original` inverts the mapping for soft maps: metrics at the original
resolution upsample the CAM to the ground truth, never downsample the ground truth.

Loaded scenes record the geometry of every image in ``params[i]`` (``"original_size": [h, w]``,
``"resize_box": [top, left, height, width]``; per image, so :meth:`SmokeScenes.subset` keeps it
right) and the set-level choice in ``meta`` (``"resize"``, ``"image_size"``, ``"pad_value"``);
:func:`scene_geometry` reads it back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "PAD_VALUE",
    "RESIZE_MODES",
    "ResizeGeometry",
    "TruthMasks",
    "cam_to_original",
    "cams_to_original",
    "check_resize_mode",
    "plan_resize",
    "resize_image",
    "resize_mask",
    "scene_geometry",
    "valid_masks",
    "valid_region",
]

#: Accepted values of ``resize=``.
RESIZE_MODES: tuple[str, ...] = ("pad", "crop", "squash")

#: RGB of padded pixels: the ImageNet mean (0.485, 0.456, 0.406) x 255, so padding normalises
#: to about zero and carries no signal of its own.
PAD_VALUE: tuple[int, int, int] = (124, 116, 104)


@dataclass(frozen=True)
class ResizeGeometry:
    """Where one original image lies in the model's frame.

    Attributes:
        original_size: ``(h, w)`` of the original image.
        output_size: ``(H, W)`` of the resized image.
        box: ``(top, left, height, width)``: the whole original image, scaled to
            ``height x width``, placed with its top-left corner at ``(top, left)`` of the output
            (negative when cropped).
        mode: ``"pad"``, ``"crop"`` or ``"squash"``.
    """

    original_size: tuple[int, int]
    output_size: tuple[int, int]
    box: tuple[int, int, int, int]
    mode: str

    @property
    def is_identity(self) -> bool:
        """True when the output is the original image, pixel for pixel."""
        h, w = self.original_size
        return self.output_size == (h, w) and self.box == (0, 0, h, w)

    def valid_slices(self) -> tuple[slice, slice]:
        """Rows and columns of the output that show the image (not padding)."""
        top, left, height, width = self.box
        out_h, out_w = self.output_size
        return (
            slice(max(top, 0), min(top + height, out_h)),
            slice(max(left, 0), min(left + width, out_w)),
        )


def check_resize_mode(resize: str) -> str:
    """Return ``resize`` if it is one of :data:`RESIZE_MODES`, else raise a ValueError."""
    if resize not in RESIZE_MODES:
        raise ValueError(
            f"resize={resize!r} is not a resize mode; use one of {', '.join(RESIZE_MODES)} "
            "('pad' keeps the aspect ratio and letterboxes, 'crop' cuts the centre, 'squash' "
            "distorts)."
        )
    return resize


def _round(value: float) -> int:
    return int(math.floor(value + 0.5))


def _target(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"image_size must be a positive int or (H, W); got {image_size!r}.")
    return size  # type: ignore[return-value]


def plan_resize(
    original_size: Sequence[int], image_size: int | Sequence[int] | None, mode: str = "pad"
) -> ResizeGeometry:
    """The geometry that resizes an image of ``original_size`` to ``image_size``.

    Args:
        original_size: ``(h, w)`` of the original image.
        image_size: Side of the square output, ``(H, W)``, or None to keep the original size.
        mode: One of :data:`RESIZE_MODES`.

    Returns:
        The :class:`ResizeGeometry` (the identity when ``image_size`` is None or equal to the
        original size).
    """
    check_resize_mode(mode)
    h, w = (int(s) for s in original_size)
    if image_size is None:
        return ResizeGeometry((h, w), (h, w), (0, 0, h, w), mode)
    out_h, out_w = _target(image_size)
    if mode == "squash":
        return ResizeGeometry((h, w), (out_h, out_w), (0, 0, out_h, out_w), mode)
    if mode == "pad":
        scale = min(out_h / h, out_w / w)
        height = min(out_h, max(1, _round(h * scale)))
        width = min(out_w, max(1, _round(w * scale)))
        top, left = (out_h - height) // 2, (out_w - width) // 2
    else:  # crop
        scale = max(out_h / h, out_w / w)
        height, width = max(out_h, _round(h * scale)), max(out_w, _round(w * scale))
        top, left = -((height - out_h) // 2), -((width - out_w) // 2)
    return ResizeGeometry((h, w), (out_h, out_w), (top, left, height, width), mode)


def _place(img: Image.Image, geometry: ResizeGeometry, resample: int, fill: Any) -> Image.Image:
    """Scale ``img`` to the box and paste it at the box's corner on an output-sized canvas."""
    top, left, height, width = geometry.box
    out_h, out_w = geometry.output_size
    if img.size != (width, height):
        img = img.resize((width, height), resample)
    if (top, left, height, width) == (0, 0, out_h, out_w):
        return img
    canvas = Image.new(img.mode, (out_w, out_h), fill)
    canvas.paste(img, (left, top))  # PIL clips a negative offset: that is the crop
    return canvas


def _check_size(size_hw: tuple[int, int], geometry: ResizeGeometry, what: str) -> None:
    if tuple(size_hw) != geometry.original_size:
        raise ValueError(
            f"The {what} is {size_hw[1]}x{size_hw[0]} (WxH) but the geometry was planned "
            f"for {geometry.original_size[1]}x{geometry.original_size[0]}; plan it with "
            "plan_resize(<its (h, w)>, ...)."
        )


def resize_image(
    image: np.ndarray | Image.Image,
    geometry: ResizeGeometry,
    pad_value: Sequence[int] = PAD_VALUE,
) -> np.ndarray:
    """Resize an RGB image (bilinear) as ``geometry`` says.

    Args:
        image: ``uint8 [h, w, 3]`` or a PIL image of that size (converted to RGB first).
        geometry: From :func:`plan_resize`.
        pad_value: RGB of padded pixels.

    Returns:
        ``uint8 [H, W, 3]``.
    """
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    img = img.convert("RGB")  # before resizing: PIL resizes palette images with nearest
    _check_size((img.size[1], img.size[0]), geometry, "image")
    placed = _place(img, geometry, Image.BILINEAR, tuple(int(v) for v in pad_value))
    return np.asarray(placed, dtype=np.uint8)


def resize_mask(mask: np.ndarray, geometry: ResizeGeometry) -> np.ndarray:
    """Resize a mask or label map (nearest neighbour) exactly like its image; padding is 0.

    Args:
        mask: ``bool [h, w]`` or ``uint8 [h, w]`` (e.g. an opacity label map).
        geometry: The geometry of its image, from :func:`plan_resize`.

    Returns:
        Same dtype, ``[H, W]``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype not in (np.bool_, np.uint8):
        raise ValueError(
            f"resize_mask needs a bool or uint8 [h, w] array; got {mask.dtype} {mask.shape}. "
            "Convert label maps with .astype(np.uint8)."
        )
    _check_size(mask.shape, geometry, "mask")
    if geometry.is_identity:
        return mask.copy()
    as_uint8 = mask.astype(np.uint8) if mask.dtype == np.bool_ else mask
    placed = np.asarray(_place(Image.fromarray(as_uint8), geometry, Image.NEAREST, 0))
    return placed.astype(mask.dtype, copy=False)


def valid_region(geometry: ResizeGeometry) -> np.ndarray:
    """``bool [H, W]``: True where the output shows the image, False on padding."""
    region = np.zeros(geometry.output_size, dtype=bool)
    region[geometry.valid_slices()] = True
    return region


def _sample_axis(
    n_original: int, n_box: int, offset: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source coordinates in the output frame for each original pixel along one axis.

    Pixel centres map as in ``F.interpolate(..., align_corners=False)``. Returns the two
    neighbour indices, the weight of the second, and whether the pixel was seen at all (a crop
    cuts margins away). Sampling is clamped to ``[lo, hi]``, the rows/columns that show the
    image, so padding never bleeds into the border of the result.
    """
    coord = (np.arange(n_original) + 0.5) * (n_box / n_original) - 0.5 + offset
    seen = (coord >= lo - 0.5) & (coord <= hi + 0.5)
    coord = np.clip(coord, lo, hi)
    first = np.floor(coord).astype(np.int64)
    second = np.minimum(first + 1, hi)
    return first, second, (coord - first).astype(np.float32), seen


def cam_to_original(cam: np.ndarray, geometry: ResizeGeometry, fill: float = 0.0) -> np.ndarray:
    """Map a soft map from the model's frame back onto the original image (bilinear).

    Use it to compute metrics at the original resolution: the CAM is upsampled, the ground
    truth is never downsampled. Padding is dropped; with ``"crop"`` the margins the model never
    saw get ``fill``.

    Args:
        cam: ``float [H, W]`` in the model's frame (``geometry.output_size``); a numpy array or
            a CPU tensor without grad (``cam.detach().cpu()``).
        geometry: The image's geometry (:func:`scene_geometry` for loaded scenes).
        fill: Value for original pixels outside the model's view (crop margins).

    Returns:
        ``float32 [h, w]`` (``geometry.original_size``).
    """
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape != geometry.output_size:
        raise ValueError(
            f"The CAM has shape {cam.shape} but this image's model frame is "
            f"{geometry.output_size}; pass one [H, W] map at the size the images were loaded at."
        )
    top, left, height, width = geometry.box
    rows, cols = geometry.valid_slices()
    h, w = geometry.original_size
    y0, y1, wy, seen_y = _sample_axis(h, height, top, rows.start, rows.stop - 1)
    x0, x1, wx, seen_x = _sample_axis(w, width, left, cols.start, cols.stop - 1)
    by_rows = cam[y0] * (1 - wy)[:, None] + cam[y1] * wy[:, None]
    out = by_rows[:, x0] * (1 - wx)[None, :] + by_rows[:, x1] * wx[None, :]
    out[~seen_y, :] = fill
    out[:, ~seen_x] = fill
    return out.astype(np.float32, copy=False)


def scene_geometry(scenes: Any, index: int) -> ResizeGeometry:
    """The :class:`ResizeGeometry` of image ``index`` of loaded :class:`SmokeScenes`.

    Reads ``params[index]["original_size"]`` and ``["resize_box"]`` (written by
    :func:`load_folder` / :func:`load_coco`); scenes without them (synthetic data) get the
    identity.
    """
    params = scenes.params[index]
    out_size = scenes.image_size
    if "original_size" not in params or "resize_box" not in params:
        return ResizeGeometry(out_size, out_size, (0, 0, *out_size), "squash")
    box = tuple(int(v) for v in params["resize_box"])
    original = tuple(int(v) for v in params["original_size"])
    return ResizeGeometry(original, out_size, box, str(scenes.meta.get("resize", "squash")))


def cams_to_original(cams: np.ndarray, scenes: Any, fill: float = 0.0) -> list[np.ndarray]:
    """:func:`cam_to_original` for every image of ``scenes``.

    Args:
        cams: ``float [N, H, W]`` in the model's frame, one per image of ``scenes``.
        scenes: The loaded scenes the CAMs were computed on.
        fill: As in :func:`cam_to_original`.

    Returns:
        A list of ``float32 [h_i, w_i]`` maps (original sizes may differ between images).
    """
    cams = np.asarray(cams)
    if cams.ndim != 3 or cams.shape[0] != len(scenes):
        raise ValueError(
            f"cams must be [N, H, W] with N = {len(scenes)} (one per image); got {cams.shape}."
        )
    return [cam_to_original(cams[i], scene_geometry(scenes, i), fill) for i in range(len(cams))]


def valid_masks(scenes: Any) -> np.ndarray:
    """``bool [N, H, W]``: True on image pixels, False on padding added by ``resize="pad"``.

    Pass it to metrics (e.g. ``pred & valid``) to ignore the letterbox bands.
    """
    n, (h, w) = len(scenes), scenes.image_size
    masks = np.ones((n, h, w), dtype=bool)
    for i in range(n):
        masks[i] = valid_region(scene_geometry(scenes, i))
    return masks


@dataclass(frozen=True)
class TruthMasks:
    """Ground-truth smoke masks at each image's original size, which may differ between images.

    What ``truth=`` of :func:`wsss_lib.pseudo_masks.evaluate_scenes` /
    :func:`~wsss_lib.pseudo_masks.export_pseudo_masks` takes for real data of mixed sizes (a
    :class:`SmokeScenes` stacks its masks and so needs one size). Made by
    :func:`wsss_lib.data.folder.load_folder_truth` / :func:`wsss_lib.data.coco.load_coco_truth`
    (or :func:`wsss_lib.runs.load_truth`), matched to scenes by name.

    Attributes:
        names: One name per image (file stem), as in ``scenes.names``.
        smoke_masks: ``bool [h_i, w_i]`` per image, at its original size (never resized).
        opacity_maps: Optional ``uint8 [h_i, w_i]`` per image: 0 none, k the k-th smoke class
            (``load_coco_truth(..., keep_opacity=True)``).
        opacity_classes: Names of the classes of ``opacity_maps`` (``["none", ...]``).
    """

    names: list[str]
    smoke_masks: list[np.ndarray]
    opacity_maps: list[np.ndarray] | None = None
    opacity_classes: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.names) != len(self.smoke_masks):
            raise ValueError(
                f"TruthMasks needs one mask per name; got {len(self.names)} names and "
                f"{len(self.smoke_masks)} masks."
            )

    def __len__(self) -> int:
        return len(self.names)

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """``(height, width)`` of every mask."""
        return [tuple(int(v) for v in m.shape[:2]) for m in self.smoke_masks]
