"""``SmokeScenes``: the one container every dataset in wsss-lab is held in.

Synthetic scenes (:mod:`wsss_lib.data.synthetic`) and user folders (:mod:`wsss_lib.data.folder`)
both produce a :class:`SmokeScenes`, so everything downstream (training, CAMs, metrics, notebooks)
reads images, labels and masks from the same fields.

On disk a container is one ``.npz`` file written with ``np.savez_compressed`` and read with
``allow_pickle=False``: arrays are stored as they are, names as a fixed-width unicode array and the
per-image parameter dicts (plus ``meta``) as JSON text in a ``uint8`` array. Nothing is pickled, and
``SmokeScenes.load(path)`` returns arrays that are bit-identical to the saved ones.

``opacity_maps`` (optional, ``uint8 [N, H, W]``) is stored only when present, so files without
it keep the same layout (and the same format version).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wsss_lib.utils import atomic_write_bytes, to_jsonable

__all__ = ["SCENES_FORMAT_VERSION", "SmokeScenes"]

#: Bumped whenever the npz layout changes; files with another version are refused on load.
SCENES_FORMAT_VERSION = 1

_MASK_FIELDS = ("smoke_masks", "chimney_masks", "distractor_masks")


def _plain_json(obj: Any) -> Any:
    """``obj`` with only JSON types (tuples -> lists, numpy scalars -> Python numbers).

    A C-speed ``json`` round trip; :func:`to_jsonable` is only called for values ``json`` cannot
    encode itself (numpy, paths, dataclasses).
    """
    return json.loads(json.dumps(obj, default=to_jsonable))


def _json_to_bytes(obj: Any, what: str) -> np.ndarray:
    try:
        text = json.dumps(obj, sort_keys=True, allow_nan=False)
    except ValueError as err:
        raise ValueError(
            f"SmokeScenes.{what} contains NaN or infinity, which JSON cannot store; "
            "replace them (e.g. with None) before saving."
        ) from err
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _bytes_to_json(array: np.ndarray) -> Any:
    return json.loads(array.tobytes().decode("utf-8"))


def _as_label_map(name: str, labels: Any, shape: tuple[int, int, int]) -> np.ndarray | None:
    """Check a per-pixel class map: ``uint8 [N, H, W]`` (other integer arrays in 0..255 too)."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        raise ValueError(
            f"SmokeScenes.{name} must be an integer class map (0 = none, k = class k), got dtype "
            f"{labels.dtype}; convert it with .astype(np.uint8)."
        )
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(
            f"SmokeScenes.{name} values must lie in 0..255, got {labels.min()}..{labels.max()}."
        )
    if labels.shape != shape:
        raise ValueError(
            f"SmokeScenes.{name} has shape {labels.shape} but the images need {shape} "
            "(one H x W map per image); pass maps with the same size as the images."
        )
    return labels.astype(np.uint8, copy=False)


def _as_mask(name: str, mask: Any, shape: tuple[int, int, int]) -> np.ndarray | None:
    """Check one mask stack: ``bool [N, H, W]`` (integer 0/1 arrays are converted)."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        if not np.issubdtype(mask.dtype, np.integer):
            raise ValueError(
                f"SmokeScenes.{name} must be a bool array, got dtype {mask.dtype}; "
                "threshold soft masks first, e.g. mask > 0.5."
            )
        mask = mask != 0
    if mask.shape != shape:
        raise ValueError(
            f"SmokeScenes.{name} has shape {mask.shape} but the images need {shape} "
            "(one H x W mask per image); pass masks with the same size as the images."
        )
    return mask


@dataclass
class SmokeScenes:
    """A set of images with image-level labels and optional pixel masks.

    Attributes:
        images: ``uint8 [N, H, W, 3]`` RGB images.
        labels: ``int64 [N]``, 1 = smoke, 0 = clean.
        smoke_masks: ``bool [N, H, W]`` ground-truth smoke pixels, or ``None`` when unknown.
        chimney_masks: ``bool [N, H, W]`` chimney pixels, or ``None`` when unknown.
        distractor_masks: ``bool [N, H, W]`` smoke look-alikes (clouds, haze), or ``None``.
        names: one string per image (file stem or ``"<split>_00042"``); filled in when empty.
        params: one JSON-able dict per image (generator parameters; ``{}`` for real data).
        meta: JSON-able dict about the whole set (e.g. the generator config and version).
        opacity_maps: ``uint8 [N, H, W]`` per-pixel smoke class (0 = no smoke, k = the k-th
            class of ``meta["opacity_classes"]``, e.g. low/high opacity from
            :func:`~wsss_lib.data.load_coco` with ``keep_opacity=True``), or ``None``.

    Raises:
        ValueError: when shapes, dtypes or lengths do not agree; the message names the field.
    """

    images: np.ndarray
    labels: np.ndarray
    smoke_masks: np.ndarray | None = None
    chimney_masks: np.ndarray | None = None
    distractor_masks: np.ndarray | None = None
    names: list[str] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    opacity_maps: np.ndarray | None = None

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"SmokeScenes.images must be uint8 [N, H, W, 3] RGB, got dtype {images.dtype} "
                f"and shape {images.shape}; convert with np.asarray(img.convert('RGB'), np.uint8)."
            )
        n, h, w, _ = images.shape
        labels = np.asarray(self.labels)
        if labels.shape != (n,):
            raise ValueError(
                f"SmokeScenes.labels must have shape ({n},) (one label per image), "
                f"got {labels.shape}."
            )
        if labels.size and not np.isin(labels, (0, 1)).all():
            bad = sorted({v for v in labels.tolist() if v not in (0, 1)})[:5]
            raise ValueError(
                f"SmokeScenes.labels must be 0 (clean) or 1 (smoke), found {bad}; "
                "map your classes to 0/1 first."
            )
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        for name in _MASK_FIELDS:
            setattr(self, name, _as_mask(name, getattr(self, name), (n, h, w)))
        self.opacity_maps = _as_label_map("opacity_maps", self.opacity_maps, (n, h, w))

        self.names = [str(s) for s in self.names] or [f"scene_{i:05d}" for i in range(n)]
        if len(self.names) != n:
            raise ValueError(f"SmokeScenes.names has {len(self.names)} entries for {n} images.")
        # Plain JSON types (lists, not tuples) so a save/load round trip compares equal.
        self.params = _plain_json(list(self.params)) or [{} for _ in range(n)]
        if len(self.params) != n:
            raise ValueError(f"SmokeScenes.params has {len(self.params)} entries for {n} images.")
        self.meta = _plain_json(dict(self.meta))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        n_smoke = int(self.labels.sum())
        masks = [m for m in _MASK_FIELDS if getattr(self, m) is not None]
        if self.opacity_maps is not None:
            masks.append("opacity_maps")
        return (
            f"SmokeScenes(n={len(self)}, size={self.image_size}, smoke={n_smoke}, "
            f"clean={len(self) - n_smoke}, masks={masks})"
        )

    @property
    def has_masks(self) -> bool:
        """True when pixel-level smoke masks are known (needed for IoU evaluation)."""
        return self.smoke_masks is not None

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def fingerprint(self) -> str:
        """SHA-256 (hex) of what training can see: images, labels, the three mask arrays and,
        when present, the opacity maps.

        Equal for equal content whatever the names, params or meta (scenes without opacity maps
        hash exactly as before that field existed); used by
        :func:`wsss_lib.train.get_or_train` to cache runs trained on your own data.
        """
        digest = hashlib.sha256()
        for name in ("images", "labels", "smoke_masks", "chimney_masks", "distractor_masks"):
            array = getattr(self, name)
            if array is None:
                digest.update(f"{name}:none;".encode())
                continue
            array = np.ascontiguousarray(array)
            digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            digest.update(array.tobytes())
        if self.opacity_maps is not None:
            array = np.ascontiguousarray(self.opacity_maps)
            digest.update(f"opacity_maps:{array.dtype.str}:{array.shape};".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    def subset(self, indices: Sequence[int] | np.ndarray | slice) -> SmokeScenes:
        """Return a new container with the selected images (copies, in the given order).

        Args:
            indices: integer indices, a boolean mask of length ``N``, or a slice.
        """
        if isinstance(indices, slice):
            idx = np.arange(len(self))[indices]
        else:
            idx = np.asarray(indices)
            if idx.dtype == np.bool_:
                if idx.shape != (len(self),):
                    raise ValueError(
                        f"A boolean subset mask needs shape ({len(self)},), got {idx.shape}."
                    )
                idx = np.flatnonzero(idx)
            elif idx.size == 0:
                idx = idx.astype(np.int64)
            elif not np.issubdtype(idx.dtype, np.integer):
                raise ValueError(f"subset() needs integer indices, got dtype {idx.dtype}.")
            idx = idx.reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise ValueError(f"subset() index out of range for {len(self)} images.")

        def take(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[idx]

        return SmokeScenes(
            images=self.images[idx],
            labels=self.labels[idx],
            smoke_masks=take(self.smoke_masks),
            chimney_masks=take(self.chimney_masks),
            distractor_masks=take(self.distractor_masks),
            names=[self.names[i] for i in idx.tolist()],
            params=[self.params[i] for i in idx.tolist()],
            meta=dict(self.meta),
            opacity_maps=take(self.opacity_maps),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the container to one compressed, pickle-free ``.npz`` file (atomically).

        Returns:
            The path written, exactly as given (no ``.npz`` suffix is added).
        """
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(SCENES_FORMAT_VERSION, dtype=np.int64),
            "images": self.images,
            "labels": self.labels,
            "names": np.array(self.names, dtype=np.str_).reshape(len(self)),
            "params_json": _json_to_bytes(self.params, "params"),
            "meta_json": _json_to_bytes(self.meta, "meta"),
        }
        for name in _MASK_FIELDS:
            mask = getattr(self, name)
            if mask is not None:
                arrays[name] = mask
        if self.opacity_maps is not None:
            arrays["opacity_maps"] = self.opacity_maps
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SmokeScenes:
        """Read a file written by :meth:`save` (``allow_pickle=False``).

        Raises:
            FileNotFoundError: when ``path`` does not exist.
            ValueError: when the file is not a SmokeScenes npz or has another format version.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"No dataset file at {path}; create it with SmokeScenes.save() or "
                "wsss_lib.data.load_split(...)."
            )
        try:
            archive = np.load(path, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with archive as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            # numpy's own message for pickled data suggests allow_pickle=True: never do that.
            raise ValueError(
                f"{path} is not a readable SmokeScenes .npz file: it is corrupt, not an npz "
                "archive, or holds pickled Python objects (never loaded: they could run code). "
                "Delete it and regenerate it (wsss_lib.data.load_split / SmokeScenes.save)."
            ) from err
        needed = {"format_version", "images", "labels", "names", "params_json", "meta_json"}
        if not needed <= set(arrays):
            raise ValueError(
                f"{path} is not a SmokeScenes file (missing {sorted(needed - set(arrays))}); "
                "it must be written by SmokeScenes.save()."
            )
        version = int(arrays["format_version"])
        if version != SCENES_FORMAT_VERSION:
            raise ValueError(
                f"{path} uses SmokeScenes format {version}, this version reads "
                f"{SCENES_FORMAT_VERSION}; delete the file to regenerate it."
            )
        masks = {name: arrays.get(name) for name in _MASK_FIELDS}
        return cls(
            images=arrays["images"],
            labels=arrays["labels"],
            names=arrays["names"].tolist(),
            params=_bytes_to_json(arrays["params_json"]),
            meta=_bytes_to_json(arrays["meta_json"]),
            opacity_maps=arrays.get("opacity_maps"),
            **masks,
        )
