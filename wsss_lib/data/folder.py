"""Load a user's image folder (real data) into :class:`SmokeScenes`, and write one back.

The folder layout (the shape of IJmond / SMOKE5K style exports)::

    root/
      labels.csv            header "file,label"; one row per image
      images/0001.jpg       png / jpg / jpeg / bmp
      masks/0001.png        optional: same stem as the image, non-zero pixels = smoke
      chimney_masks/...     optional extra (synthetic data): same stem, non-zero = chimney
      distractor_masks/...  optional extra (synthetic data): same stem, non-zero = cloud/haze

``file`` is a path relative to ``root`` (``images/0001.jpg``); a bare file name is also looked up
in ``root/images/``. ``label`` is ``smoke``/``clean``/``1``/``0`` (case and surrounding spaces do
not matter; an empty label cell is an error, never "clean"). The CSV is the source of truth: images
in the folder without a row are ignored. Images are resized with :mod:`wsss_lib.data.resize`
(``resize="pad"`` by default: aspect ratio kept, letterboxed to the square ``image_size``).
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from wsss_lib.utils import atomic_write_bytes, atomic_write_text

from .resize import (
    PAD_VALUE,
    TruthMasks,
    check_resize_mode,
    plan_resize,
    resize_image,
    resize_mask,
)
from .scenes import SmokeScenes

__all__ = ["IMAGE_SUFFIXES", "load_folder", "load_folder_truth", "save_folder"]

#: File name endings accepted for images (case-insensitive).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")

_LABEL_VALUES = {"smoke": 1, "1": 1, "clean": 0, "0": 0}
_IMAGES_DIR = "images"
# Extra mask folders written for synthetic data; a missing file in them means an empty mask.
_CHIMNEY_DIR = "chimney_masks"
_DISTRACTOR_DIR = "distractor_masks"
# Decoding failures PIL can raise for a corrupt or non-image file.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


# ---------------------------------------------------------------------------- CSV rows


def _read_rows(csv_path: Path) -> list[tuple[int, str, str]]:
    """Return ``(line_number, file, label)`` for every non-blank data row of the labels CSV."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")  # -sig drops the BOM Excel writes
    except UnicodeDecodeError as err:
        raise ValueError(f"{csv_path} is not UTF-8 text; save it as UTF-8 CSV.") from err
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: list[tuple[int, str, str]] = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in record]
            if "file" not in header or "label" not in header:
                raise ValueError(
                    f"{csv_path} line {reader.line_num}: header must name the columns 'file' and "
                    f"'label' (got {record}). Start the file with the line: file,label"
                )
            file_col, label_col = header.index("file"), header.index("label")
            continue
        if len(record) <= max(file_col, label_col):
            raise ValueError(
                f"{csv_path} line {reader.line_num}: expected columns {header}, got {record}. "
                "Each row needs a file and a label, e.g. images/0001.png,smoke"
            )
        rows.append((reader.line_num, record[file_col].strip(), record[label_col].strip()))
    if header is None:
        raise ValueError(
            f"{csv_path} is empty; it needs the header 'file,label' and one row per image."
        )
    if not rows:
        raise ValueError(
            f"{csv_path} has a header but no rows: the dataset is empty. Add one line per image, "
            "e.g. images/0001.png,smoke"
        )
    return rows


def _parse_label(value: str, where: str) -> int:
    if not value.strip():
        raise ValueError(
            f"{where}: the label cell is empty. Write smoke or clean (or 1 / 0) for every image; "
            "an empty cell is never read as clean."
        )
    label = _LABEL_VALUES.get(value.strip().lower())
    if label is None:
        raise ValueError(f"{where}: label {value!r} is not valid. Use one of: smoke, clean, 1, 0.")
    return label


def _relative_path(value: str, where: str) -> PurePosixPath:
    """Validate a CSV path: relative, inside the data folder, with an image file ending."""
    if not value:
        raise ValueError(
            f"{where}: the file column is empty; give the image path, e.g. images/0001.png"
        )
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or (len(value) > 1 and value[1] == ":") or ".." in path.parts:
        raise ValueError(
            f"{where}: path {value!r} points outside the data folder. Paths must be relative to "
            "the folder that holds the CSV (e.g. images/0001.png); copy the image into it."
        )
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(
            f"{where}: {value!r} is not an image file name; accepted endings: "
            f"{', '.join(IMAGE_SUFFIXES)}."
        )
    return path


def _resolve_image(root: Path, rel: PurePosixPath, where: str) -> Path:
    candidates = [root / rel]
    if len(rel.parts) == 1:
        candidates.append(root / _IMAGES_DIR / rel)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = " or ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"{where}: image {str(rel)!r} does not exist (looked for {tried}). Fix the path in the "
        "CSV (relative to the data folder) or remove the row."
    )


# ---------------------------------------------------------------------------- pixels


#: How to drop a corrupt file from a folder dataset (COCO exports pass their own fix).
_REMOVE_FROM_CSV = "remove its row from the CSV"


def _open_image(path: Path, remove: str = _REMOVE_FROM_CSV) -> Image.Image:
    """The decoded image; ``remove`` says how to leave the file out of its dataset."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except _DECODE_ERRORS as err:
        raise ValueError(
            f"Cannot read image {path}: {err}. The file is corrupt or not an image; re-export it "
            f"as PNG/JPEG or {remove}."
        ) from err


def _mask_array(img: Image.Image) -> np.ndarray:
    """Bool ``[H, W]``: non-zero pixels (grey level, palette index, or any RGB channel)."""
    bands = img.getbands()
    if len(bands) == 1:  # 1, L, P (palette index), I, F
        arr = np.asarray(img)
    elif bands in (("L", "A"), ("P", "A")):  # ignore transparency
        arr = np.asarray(img.getchannel(0))
    else:
        arr = np.asarray(img.convert("RGB")).any(axis=-1)
    return arr != 0


def _read_mask(path: Path, image_size: tuple[int, int], image_path: Path) -> np.ndarray:
    """Read a mask PNG and check it matches its image's ``(width, height)``."""
    img = _open_image(path)
    if img.size != image_size:
        raise ValueError(
            f"Mask {path} is {img.size[0]}x{img.size[1]} (WxH) but its image {image_path} is "
            f"{image_size[0]}x{image_size[1]}. Masks must have exactly their image's size; "
            "re-export the mask."
        )
    return _mask_array(img)


def _resize_pair(
    image: Image.Image, masks: list[np.ndarray | None], size: int | None, resize: str
) -> tuple[np.ndarray, list[np.ndarray | None], list[int]]:
    """Resize an image (bilinear) and its masks (nearest) through one geometry.

    Returns:
        ``uint8 [S, S, 3]``, the masks ``bool [S, S]`` (None stays None) and the geometry's box
        ``[top, left, height, width]`` (see :mod:`wsss_lib.data.resize`).
    """
    geometry = plan_resize((image.size[1], image.size[0]), size, resize)
    pixels = resize_image(image, geometry)
    masks = [None if m is None else resize_mask(m, geometry) for m in masks]
    return pixels, masks, list(geometry.box)


# ---------------------------------------------------------------------------- load


def _check_image_size(image_size: int | None) -> int | None:
    if image_size is None:
        return None
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
        raise ValueError(
            f"image_size must be a positive int (the side of the square) or None; "
            f"got {image_size!r}."
        )
    if image_size <= 0:
        raise ValueError(f"image_size must be positive; got {image_size}.")
    return int(image_size)


def _optional_dir(root: Path, name: str | os.PathLike[str] | None) -> Path | None:
    if name is None:
        return None
    path = Path(name) if Path(name).is_absolute() else root / name
    return path if path.is_dir() else None


def _smoke_mask(
    mask_dir: Path, stem: str, label: int, image: Image.Image, image_path: Path, where: str
) -> np.ndarray:
    """The smoke mask of one image when the mask folder exists (see :func:`load_folder`)."""
    mask_path = mask_dir / f"{stem}.png"
    if not mask_path.is_file():
        if label == 1:
            raise FileNotFoundError(
                f"{where}: smoke image {image_path.name!r} has no mask {mask_path}. Add the mask "
                "(non-zero = smoke), or pass masks=None to load without masks."
            )
        return np.zeros((image.size[1], image.size[0]), dtype=bool)
    mask = _read_mask(mask_path, image.size, image_path)
    if label == 0 and mask.any():
        raise ValueError(
            f"{where}: {image_path.name!r} is labelled clean but its mask {mask_path} has "
            f"{int(mask.sum())} smoke pixels. Fix the label or the mask."
        )
    return mask


def _extra_mask(
    extra_dir: Path | None, stem: str, image: Image.Image, image_path: Path
) -> np.ndarray | None:
    """A chimney/distractor mask: None without the folder, empty when the file is missing."""
    if extra_dir is None:
        return None
    path = extra_dir / f"{stem}.png"
    if not path.is_file():
        return np.zeros((image.size[1], image.size[0]), dtype=bool)
    return _read_mask(path, image.size, image_path)


class _DuplicateGuard:
    """Refuses a second row for the same image file or the same file stem."""

    def __init__(self) -> None:
        self.paths: dict[str, int] = {}
        self.stems: dict[str, int] = {}

    def check(self, key: str, stem: str, line: int, where: str, file_value: str) -> None:
        if key in self.paths:
            raise ValueError(
                f"{where}: {file_value!r} is listed twice (first on line {self.paths[key]}). "
                "Keep one row per image."
            )
        if stem in self.stems:
            raise ValueError(
                f"{where}: {file_value!r} has the same name {stem!r} as the image on line "
                f"{self.stems[stem]}; names (file stems) must be unique because masks are "
                "matched by stem. Rename one of them."
            )
        self.paths[key], self.stems[stem] = line, line


def _stack_masks(masks: list[np.ndarray | None]) -> np.ndarray | None:
    return None if masks[0] is None else np.stack(masks).astype(bool)


def load_folder(
    root: str | os.PathLike[str],
    labels: str | os.PathLike[str] = "labels.csv",
    masks: str | os.PathLike[str] | None = "masks",
    image_size: int | None = None,
    resize: str = "pad",
) -> SmokeScenes:
    """Load images, image labels and optional masks from a folder (see the module docstring).

    Masks are optional per folder: when ``root/<masks>`` exists, every smoke image needs a mask
    PNG with its stem (clean images without one get an empty mask); otherwise ``smoke_masks`` is
    None. ``chimney_masks`` / ``distractor_masks`` are None unless the extra folders
    ``chimney_masks/`` / ``distractor_masks/`` exist (synthetic data saved by :func:`save_folder`);
    there a missing file means an empty mask.

    Args:
        root: The data folder.
        labels: The labels CSV, relative to ``root`` (or absolute).
        masks: Name of the mask subfolder, or None to ignore masks.
        image_size: Resize every image (bilinear) and mask (nearest) to this square side. Needed
            when the images do not all have the same size; None keeps the original size.
        resize: How a non-square image becomes square: ``"pad"`` (keep the aspect ratio,
            letterbox; the default), ``"crop"`` (keep the aspect ratio, cut the centre) or
            ``"squash"`` (distort). Masks follow their image exactly. See
            :mod:`wsss_lib.data.resize`; :func:`~wsss_lib.data.resize.valid_masks` gives the
            non-padded pixels and :func:`~wsss_lib.data.resize.cam_to_original` maps CAMs back.

    Returns:
        :class:`SmokeScenes` with ``images uint8 [N, H, W, 3]``, ``labels int64 [N]``, masks
        ``bool [N, H, W]`` or None, ``names`` = image stems in CSV order, per-image ``params``
        ``{"file": <path in the CSV>, "original_size": [h, w], "resize_box": [top, left, height,
        width]}`` and ``meta`` ``{"source": "folder", "root", "image_size", "resize",
        "pad_value"}``.

    Raises:
        FileNotFoundError: the folder, the CSV or a listed image does not exist, or a smoke image
            has no mask.
        ValueError: bad CSV content (label, empty label cell, path outside the folder, duplicate,
            no rows), an unknown ``resize``, a corrupt image, a mask whose size differs from its
            image, a clean image whose mask has smoke, or images of different sizes without
            ``image_size``.
    """
    image_size = _check_image_size(image_size)
    check_resize_mode(resize)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"Data folder {root} does not exist (or is not a folder). Pass the folder that holds "
            "labels.csv and the images."
        )
    csv_path = Path(labels) if Path(labels).is_absolute() else root / labels
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"Labels file {csv_path} not found. Create it with the header 'file,label' and one "
            "row per image (e.g. images/0001.png,smoke), or pass labels=<its name>."
        )
    mask_dir = _optional_dir(root, masks)
    chimney_dir = _optional_dir(root, _CHIMNEY_DIR)
    distractor_dir = _optional_dir(root, _DISTRACTOR_DIR)

    duplicates = _DuplicateGuard()
    images, label_list, names, params = [], [], [], []
    smoke, chimney, distractor = [], [], []
    for line, file_value, label_value in _read_rows(csv_path):
        where = f"{csv_path} line {line}"
        rel = _relative_path(file_value, where)
        label = _parse_label(label_value, where)
        image_path = _resolve_image(root, rel, where)
        key = image_path.relative_to(root).as_posix()
        duplicates.check(key, rel.stem, line, where, file_value)

        image = _open_image(image_path)
        raw_masks = [
            None
            if mask_dir is None
            else _smoke_mask(mask_dir, rel.stem, label, image, image_path, where),
            _extra_mask(chimney_dir, rel.stem, image, image_path),
            _extra_mask(distractor_dir, rel.stem, image, image_path),
        ]
        pixels, (smoke_mask, chimney_mask, distractor_mask), box = _resize_pair(
            image, raw_masks, image_size, resize
        )
        images.append(pixels)
        label_list.append(label)
        names.append(rel.stem)
        params.append(
            {
                "file": file_value,
                "original_size": [image.size[1], image.size[0]],
                "resize_box": box,
            }
        )
        smoke.append(smoke_mask)
        chimney.append(chimney_mask)
        distractor.append(distractor_mask)

    first = images[0].shape
    other = next((i for i, img in enumerate(images) if img.shape != first), None)
    if other is not None:
        raise ValueError(
            f"Images in {root} have different sizes, e.g. {params[0]['file']} is "
            f"{first[1]}x{first[0]} and {params[other]['file']} is "
            f"{images[other].shape[1]}x{images[other].shape[0]} (WxH). Pass image_size=<side> "
            "(e.g. image_size=224) to resize them all to one square size (resize='pad' keeps "
            "the aspect ratio)."
        )
    return SmokeScenes(
        images=np.stack(images).astype(np.uint8),
        labels=np.asarray(label_list, dtype=np.int64),
        smoke_masks=_stack_masks(smoke),
        chimney_masks=_stack_masks(chimney),
        distractor_masks=_stack_masks(distractor),
        names=names,
        params=params,
        meta={
            "source": "folder",
            "root": str(root),
            "image_size": image_size,
            "resize": resize,
            "pad_value": list(PAD_VALUE),
        },
    )


def load_folder_truth(
    root: str | os.PathLike[str],
    labels: str | os.PathLike[str] = "labels.csv",
    masks: str | os.PathLike[str] = "masks",
) -> TruthMasks | None:
    """The smoke masks of a folder at every image's original size (sizes may differ).

    The ground truth :func:`wsss_lib.pseudo_masks.evaluate_scenes` compares CAMs with at the
    original resolution (``truth=``); the same checks as :func:`load_folder` apply to the masks.

    Returns:
        :class:`~wsss_lib.data.resize.TruthMasks` in CSV order, or None when the folder has no
        mask subfolder.
    """
    root = Path(root).expanduser()
    mask_dir = _optional_dir(root, masks)
    if mask_dir is None:
        return None
    csv_path = Path(labels) if Path(labels).is_absolute() else root / labels
    names, smoke = [], []
    for line, file_value, label_value in _read_rows(csv_path):
        where = f"{csv_path} line {line}"
        rel = _relative_path(file_value, where)
        label = _parse_label(label_value, where)
        image_path = _resolve_image(root, rel, where)
        with Image.open(image_path) as img:  # the size only; load_folder decoded it already
            size_only = Image.new("1", img.size)
        smoke.append(_smoke_mask(mask_dir, rel.stem, label, size_only, image_path, where))
        names.append(rel.stem)
    return TruthMasks(names=names, smoke_masks=smoke)


# ---------------------------------------------------------------------------- save


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _check_names(names: list[str], n: int) -> None:
    if len(names) != n:
        raise ValueError(
            f"scenes.names has {len(names)} entries for {n} images; give one per image."
        )
    bad = [name for name in names if not name or "/" in name or "\\" in name or name in (".", "..")]
    if bad:
        raise ValueError(
            f"Scene names must be plain file stems (no slashes, not empty); got {bad[:3]}. "
            "Rename the scenes before saving."
        )
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ValueError(
            f"Scene names must be unique to be used as file names; repeated: {duplicates[:3]}."
        )


def save_folder(
    scenes: SmokeScenes, root: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write scenes in the folder layout that :func:`load_folder` reads.

    Writes ``images/<name>.png``, ``labels.csv`` (``file,label`` with ``smoke``/``clean``) and,
    for each mask kind the scenes have, ``masks/``, ``chimney_masks/`` and ``distractor_masks/``
    (``<name>.png``, 0 or 255, one per image). Files are written atomically and PNG encoding is
    deterministic, so saving the same scenes twice gives identical bytes.

    Args:
        scenes: The scenes to save; ``names`` become the file stems.
        root: Output folder (created if needed).
        overwrite: Allow writing into a folder that already has a ``labels.csv``.

    Returns:
        The output folder.

    Raises:
        FileExistsError: ``root/labels.csv`` exists and ``overwrite`` is False.
        ValueError: names are not unique plain file stems.
    """
    root = Path(root).expanduser()
    csv_path = root / "labels.csv"
    if csv_path.exists() and not overwrite:
        raise FileExistsError(
            f"{csv_path} already exists; pass overwrite=True or choose an empty folder."
        )
    n = len(scenes.images)
    names = list(scenes.names)
    _check_names(names, n)
    mask_sets = {
        "masks": scenes.smoke_masks,
        _CHIMNEY_DIR: scenes.chimney_masks,
        _DISTRACTOR_DIR: scenes.distractor_masks,
    }
    lines = ["file,label"]
    for i, name in enumerate(names):
        atomic_write_bytes(
            root / _IMAGES_DIR / f"{name}.png", _png_bytes(np.asarray(scenes.images[i]))
        )
        for folder, masks in mask_sets.items():
            if masks is not None:
                mask = np.asarray(masks[i], dtype=bool).astype(np.uint8) * 255
                atomic_write_bytes(root / folder / f"{name}.png", _png_bytes(mask))
        label = "smoke" if int(scenes.labels[i]) == 1 else "clean"
        lines.append(f"{_IMAGES_DIR}/{name}.png,{label}")
    atomic_write_text(csv_path, "\n".join(lines) + "\n")
    return root
