"""Your data for a run: loading a folder or COCO export at the recipe's size (:func:`load_data`),
its ground truth at the original size (:func:`load_truth`), what a run was trained on
(:func:`describe_scenes`), and notebook 02's scenes written as a COCO export
(:func:`export_benchmark`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wsss_lib.runs.recipe import DATA_LAYOUTS, RESIZE_MODES


def load_data(
    path: str | os.PathLike[str],
    *,
    layout: str = "folder",
    split: str | None = None,
    image_size: int | None = None,
    resize: str = "pad",
    smoke_categories: Any = None,
    keep_opacity: bool = False,
) -> Any:
    """Load your data: a folder (``labels.csv`` + ``images/`` + optional ``masks/``) or a
    COCO-segmentation export (e.g. Roboflow's ``train/``, ``valid/``, ``test/`` folders, each
    with ``_annotations.coco.json``).

    Args:
        path: The data folder or the export's root.
        layout: ``"folder"`` (:func:`wsss_lib.data.load_folder`) or ``"coco"``
            (:func:`wsss_lib.data.load_coco`).
        split: COCO only: the split folder to read (``"train"``, ``"valid"``, ``"test"``).
        image_size: Square side the images are resized to (None: keep their size).
        resize: ``"pad"``, ``"crop"`` or ``"squash"`` (see :data:`RESIZE_MODES`).
        smoke_categories: COCO only: category names or ids that count as smoke (None: names
            containing "smoke").
        keep_opacity: COCO only: also load the per-pixel opacity classes (``opacity_maps``).

    Returns:
        :class:`~wsss_lib.data.SmokeScenes`.
    """
    from wsss_lib import data

    if layout not in DATA_LAYOUTS:
        raise ValueError(f"layout must be one of {DATA_LAYOUTS}; got {layout!r}.")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}; got {resize!r}.")
    if layout == "folder":
        if split is not None:
            raise ValueError(
                f"split={split!r} applies to COCO exports only; a folder is loaded whole. Point "
                "--data at the folder of that split instead."
            )
        if smoke_categories is not None or keep_opacity:
            raise ValueError(
                "smoke_categories and keep_opacity apply to COCO exports only; a folder's "
                "labels.csv and masks/ say what is smoke."
            )
        return data.load_folder(path, image_size=image_size, resize=resize)
    return data.load_coco(path, split, image_size=image_size, resize=resize,
                          smoke_categories=smoke_categories, keep_opacity=keep_opacity)


def load_truth(
    path: str | os.PathLike[str],
    *,
    layout: str = "folder",
    split: str | None = None,
    smoke_categories: Any = None,
    keep_opacity: bool = False,
) -> Any:
    """The ground-truth smoke masks of your data at every image's original size.

    Images may differ in size (real sets do): the result is a
    :class:`~wsss_lib.data.resize.TruthMasks` (names + one mask per image), what ``truth=`` of
    :func:`wsss_lib.pseudo_masks.evaluate_scenes` / ``export_pseudo_masks`` takes. Same arguments
    as :func:`load_data` (``keep_opacity=True``: COCO opacity classes too); None for a folder
    without ``masks/``.
    """
    from wsss_lib.data.coco import load_coco_truth
    from wsss_lib.data.folder import load_folder_truth

    if layout not in DATA_LAYOUTS:
        raise ValueError(f"layout must be one of {DATA_LAYOUTS}; got {layout!r}.")
    if layout == "folder":
        if keep_opacity:
            raise ValueError("keep_opacity applies to COCO exports only (their opacity classes).")
        return load_folder_truth(path)
    return load_coco_truth(path, split, smoke_categories=smoke_categories,
                           keep_opacity=keep_opacity)


def describe_scenes(scenes: Any, source: Mapping[str, Any] | str | None = None
                    ) -> dict[str, Any]:
    """What a run was trained on, as recorded beside it: ``path``, ``format`` (``folder`` /
    ``coco``), ``split``, ``n_images``, ``n_smoke``, ``fingerprint`` (the content hash the model
    cache keys runs by) and, for COCO, the ``smoke_categories``. ``source`` describes the data
    (``{"layout", "path", "split"}``) or is a free-text label of it (kept as ``label``)."""
    meta = dict(getattr(scenes, "meta", {}) or {})
    label = source if isinstance(source, str) else None
    source = {} if label is not None else dict(source or {})
    labels = getattr(scenes, "labels", [])
    record = {
        "path": source.get("path", meta.get("root") or meta.get("annotations")),
        "format": source.get("layout", meta.get("source")),
        "split": source.get("split", meta.get("split")),
        "n_images": len(scenes),
        "n_smoke": int(sum(int(v) for v in labels)),
        "fingerprint": scenes.fingerprint(),
    }
    if label is not None:
        record["label"] = label
    if "smoke_categories" in meta:
        record["smoke_categories"] = list(meta["smoke_categories"])
    return record


def benchmark_export_dir(profile: str, seed: int = 0) -> Path:
    """Where :func:`export_benchmark` writes by default: ``$WSSS_CACHE/benchmarks/
    notebook02-<profile>-seed<seed>-coco`` (shared by notebook 08 and
    ``benchmarks/bench_cli_reproduces.py``, so each reuses the other's runs)."""
    from wsss_lib.utils import default_cache_dir

    name = Path(str(profile)).stem
    return default_cache_dir() / "benchmarks" / f"notebook02-{name}-seed{seed}-coco"


def export_benchmark(
    profile: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, *,
    seed: int = 0,
) -> Path:
    """Notebook 02's synthetic scenes as a COCO export: data whose answer is known.

    Writes ``root/train`` (the training split the method's networks of ``seed`` train on: the
    profile's ``n_train`` images at its ``train_level``), ``root/valid`` (the ``val`` split notebook
    02 chooses read-outs on) and ``root/test`` (the ``test`` split its rows report), each with
    ``_annotations.coco.json`` (:func:`wsss_lib.data.save_coco`, lossless PNG). A split already
    written is kept (the export is deterministic). ``wsss train --profile PROFILE --coco ROOT``
    then trains notebook 02's rows on it (``benchmarks/bench_cli_reproduces.py``), and notebook
    08 uses it as its example data in the ``full`` profile.

    Args:
        profile: Profile whose recipe (``"*"``) says the splits (``"full"``).
        root: Export folder (None: :func:`benchmark_export_dir`).
        seed: Training seed (the replicate of the training split).

    Returns:
        ``root``.
    """
    from wsss_lib.data import save_coco
    from wsss_lib.data.coco import ANNOTATIONS_FILE
    from wsss_lib.studies import measure
    from wsss_lib.studies.configs import method_settings, single_config
    from wsss_lib.train.loop import load_training_data

    S = method_settings(profile)
    root = benchmark_export_dir(str(profile), seed) if root is None else Path(root).expanduser()
    splits = {"train": lambda: load_training_data(single_config(S, "cnn", seed))[0],
              "valid": lambda: measure.evaluation_sets(S)["val"],
              "test": lambda: measure.evaluation_sets(S)["test"]}
    for name, scenes in splits.items():
        if not (root / name / ANNOTATIONS_FILE).is_file():
            save_coco(scenes(), root / name)
    return root
