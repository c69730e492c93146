"""Named splits of the synthetic benchmark, and a disk cache for them.

=================  ==========================  ==========================  ================
split              P(chimney | smoke)          P(chimney | clean)          default images
=================  ==========================  ==========================  ================
``train``          0.95                        0.05                        1024
``val``            0.95                        0.05                        256
``test``           0.95                        0.05                        512
``test_decoupled`` 0.0 (smoke never at one)    1.0 (every clean image)     512
=================  ==========================  ==========================  ================

Every split is drawn at a named difficulty, a :data:`SCENE_PRESETS` entry (default
``"standard"``): ``"standard"`` has at most one cloud or haze bank per image and plumes of peak
opacity 0.45-0.95, which small networks learn to classify in minutes on a CPU; ``"hard"`` is the
benchmark's first setting (up to two distractors, plumes as faint as 0.25), where smoke often
looks like cloud and from-scratch networks stay near chance.

``train``, ``val`` and ``test`` share one biased distribution, in which "there is a chimney" is a
strong shortcut for "there is smoke". ``test_decoupled`` breaks the shortcut both ways: smoke
rises from vents or mid-air sources, and every clean image shows a bare chimney. A classifier
that relies on chimneys loses accuracy from ``test`` to ``test_decoupled``, and its CAMs light
up chimneys there.

Each split's generator seed is derived from ``(split name, seed)`` with SHA-256, so two splits
never share an image, and ``seed`` makes independent replicates of the whole benchmark.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from wsss_lib.utils import config_hash, default_cache_dir, to_jsonable

from .scenes import SCENES_FORMAT_VERSION, SmokeScenes
from .synthetic import GENERATOR_VERSION, SceneConfig, generate_scenes

__all__ = [
    "DEFAULT_PRESET",
    "SCENE_PRESETS",
    "SPLITS",
    "SPLIT_DEFAULTS",
    "dataset_cache_path",
    "load_split",
    "make_split",
    "split_config",
    "split_seed",
]

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test", "test_decoupled")

_BIASED = {"p_chimney_given_smoke": 0.95, "p_chimney_given_clean": 0.05}

#: SceneConfig fields of each split (before overrides).
SPLIT_DEFAULTS: dict[str, dict[str, Any]] = {
    "train": {"n_images": 1024, **_BIASED},
    "val": {"n_images": 256, **_BIASED},
    "test": {"n_images": 512, **_BIASED},
    "test_decoupled": {
        "n_images": 512,
        "p_chimney_given_smoke": 0.0,
        "p_chimney_given_clean": 1.0,
    },
}

#: Named scene difficulties: SceneConfig fields applied under each split's own settings.
SCENE_PRESETS: dict[str, dict[str, Any]] = {
    "standard": {"n_distractors": (0, 1), "opacity_range": (0.45, 0.95)},
    "hard": {"n_distractors": (0, 2), "opacity_range": (0.25, 0.9)},
}
DEFAULT_PRESET = "standard"

_EXPLICIT = ("image_size", "n_images", "seed")


def _check_preset(preset: str) -> None:
    if preset not in SCENE_PRESETS:
        raise ValueError(
            f"Unknown scene preset {preset!r}; choose one of {list(SCENE_PRESETS)} (or override "
            "single SceneConfig fields such as opacity_range)."
        )


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {list(SPLITS)}.")


def split_seed(split: str, seed: int = 0) -> int:
    """Generator seed of ``split`` for the benchmark replicate ``seed`` (stable across runs)."""
    _check_split(split)
    digest = hashlib.sha256(f"wsss-lab/{split}/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # non-negative int64


def split_config(
    split: str,
    image_size: int = 96,
    n_images: int | None = None,
    seed: int = 0,
    preset: str | None = DEFAULT_PRESET,
    **overrides: Any,
) -> SceneConfig:
    """The :class:`SceneConfig` that generates ``split``.

    Args:
        split: One of :data:`SPLITS`.
        image_size: Side of the square images in pixels.
        n_images: Number of images; None for the split's default (see the module table).
        seed: Benchmark replicate; the split's generator seed is ``split_seed(split, seed)``.
        preset: Scene difficulty, a :data:`SCENE_PRESETS` name (None: the default, as in
            ``DataSpec``).
        **overrides: Other :class:`SceneConfig` fields, e.g. ``p_chimney_given_smoke=0.5`` for a
            co-occurrence sweep on ``train``.

    Raises:
        ValueError: for an unknown split, an unknown or reserved override name, or invalid values.
    """
    _check_split(split)
    valid = sorted({f.name for f in fields(SceneConfig)} - set(_EXPLICIT))
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown SceneConfig override(s) {unknown} for split {split!r}; valid names are "
            f"{valid} (image_size, n_images and seed are arguments of their own)."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    preset = DEFAULT_PRESET if preset is None else preset
    _check_preset(preset)
    settings = {**SCENE_PRESETS[preset], **SPLIT_DEFAULTS[split], **overrides}
    if n_images is not None:
        settings["n_images"] = n_images
    return SceneConfig(image_size=image_size, seed=split_seed(split, seed), **settings)


def make_split(
    split: str,
    image_size: int = 96,
    n_images: int | None = None,
    seed: int = 0,
    **overrides: Any,
) -> SmokeScenes:
    """Generate ``split`` in memory (no cache; see :func:`load_split`).

    Arguments are those of :func:`split_config`. Images are named ``f"{split}_{i:05d}"`` and
    ``meta`` records the split, the seed, the config and ``GENERATOR_VERSION``.
    """
    config = split_config(split, image_size, n_images, seed, **overrides)
    scenes = generate_scenes(config, name_prefix=split)
    scenes.meta.update({"split": split, "seed": seed, "overrides": to_jsonable(overrides)})
    return scenes


def dataset_cache_path(
    config: SceneConfig, split: str, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Where :func:`load_split` keeps the npz of ``config``.

    The name carries a hash of the config, ``GENERATOR_VERSION`` and the file format version,
    so a changed generator never serves stale images.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = config_hash(
        {
            "config": config.to_dict(),
            "generator_version": GENERATOR_VERSION,
            "format_version": SCENES_FORMAT_VERSION,
        }
    )
    name = f"{split}-{config.image_size}px-{config.n_images}-{key}.npz"
    return root / "datasets" / name


def load_split(
    split: str,
    image_size: int = 96,
    n_images: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> SmokeScenes:
    """Like :func:`make_split`, but cached as ``<cache_dir>/datasets/<split>-...-<hash>.npz``.

    The first call generates and saves the split (atomically, so parallel processes cannot
    leave a half-written file); later calls load it bit-identically. An unreadable cache file
    is regenerated.

    Args:
        split, image_size, n_images, seed, **overrides: As in :func:`split_config`.
        cache_dir: Cache root; default :func:`wsss_lib.utils.default_cache_dir`
            (``$WSSS_CACHE`` or ``~/.cache/wsss-lab``).
    """
    config = split_config(split, image_size, n_images, seed, **overrides)
    path = dataset_cache_path(config, split, cache_dir)
    if path.is_file():
        try:
            return SmokeScenes.load(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            logger.warning("Regenerating unreadable dataset cache %s (%s).", path, err)
    scenes = make_split(split, image_size, n_images, seed, **overrides)
    scenes.save(path)
    return scenes
