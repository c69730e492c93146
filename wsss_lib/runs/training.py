"""Training a recipe through the model cache (:func:`train_recipe`), choosing its CAM read-out on
validation (:func:`choose_recipe_readout`), and the record left beside the run
(:data:`RECIPE_FILE`, :func:`read_run_recipe`, :func:`load_run_recipe`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from wsss_lib.runs.data import describe_scenes
from wsss_lib.runs.recipe import FALLBACK_READOUT, Recipe

#: Written into a run folder by :func:`train_recipe`: the recipe, profile and data it came from.
RECIPE_FILE = "wsss_recipe.json"


def load_run_recipe(run_dir: str | os.PathLike[str]) -> Recipe | None:
    """The :class:`Recipe` recorded beside a run by :func:`train_recipe` (for a method recipe,
    with the read-out chosen on validation as its ``readout``), or None when there is none or it
    is unreadable (a run trained otherwise, or by another version). A record written before the
    read-out was one setting (flat ``cam_method``, ``cam_layers``, ... keys) still loads."""
    recorded = read_run_recipe(run_dir)
    if recorded is None:
        return None
    try:
        return Recipe.from_mapping(recorded["recipe"])
    except (ValueError, TypeError):
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def train_recipe(
    recipe: Recipe,
    train_scenes: Any,
    val_scenes: Any = None,
    *,
    profile: str | os.PathLike[str] | None = None,
    data: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device: Any = None,
    progress: bool = True,
) -> Any:
    """Train (or load from the cache) the recipe's run on your scenes, and record the recipe.

    Args:
        recipe: From :func:`load_recipe`.
        train_scenes: Training :class:`~wsss_lib.data.SmokeScenes` at ``recipe.image_size``.
        val_scenes: Optional validation scenes (per-epoch accuracy in the history).
        profile: The profile's name, recorded beside the run.
        data: What the scenes are (e.g. ``{"layout": "coco", "path": ..., "split": "train"}``),
            recorded beside the run.
        cache_dir: Model cache root (default ``$WSSS_CACHE``).
        device: Training device (default: CUDA when present; mixed precision there).
        progress: Show progress bars.

    A method recipe's read-out is chosen on ``val_scenes`` when they have smoke masks
    (:func:`choose_recipe_readout`), else it is :data:`FALLBACK_READOUT`; either way it is
    printed and recorded in the run's :data:`RECIPE_FILE` (``readout``: how it was chosen, and
    the recipe's own ``readout``), which ``wsss evaluate`` / ``wsss pseudo-masks`` and
    :func:`load_run_recipe` read.

    Returns:
        The :class:`~wsss_lib.train.TrainedRun`; ``run.run_dir`` is its folder.
    """
    from wsss_lib.train import get_or_train
    from wsss_lib.utils import atomic_write_json

    run = get_or_train(recipe.train_config(), cache_dir=cache_dir, progress=progress,
                       device=device, train_scenes=train_scenes, val_scenes=val_scenes)
    recipe, readout = choose_recipe_readout(recipe, run, val_scenes, device=device)
    print(f"Read-out: {readout['note']}", flush=True)
    if run.run_dir is not None:
        atomic_write_json(run.run_dir / RECIPE_FILE, {
            "profile": None if profile is None else str(profile),
            "recipe": recipe.to_dict(),
            "readout": readout,
            "data": dict(data or {}),
            "n_train": len(train_scenes),
            "n_val": None if val_scenes is None else len(val_scenes),
            "train_data": describe_scenes(train_scenes, (data or {}).get("train")),
            "val_data": None if val_scenes is None
            else describe_scenes(val_scenes, (data or {}).get("val")),
            "written": _now(),
        })
    return run


def choose_recipe_readout(recipe: Recipe, run: Any, val_scenes: Any = None, *,
                          device: Any = None) -> tuple[Recipe, dict[str, Any]]:
    """How a trained run's CAM is read: chosen on ``val_scenes`` as notebook 02 chooses it.

    For a method recipe with ``cam_readouts``, every candidate read-out of the run's main
    network (the student of KT runs) is tried on ``val_scenes`` with a threshold sweep
    (:func:`wsss_lib.train.choose_readout`) and the best smoke IoU is kept. Without validation
    scenes with smoke masks and smoke images, the recipe's own read-out stays
    (:data:`FALLBACK_READOUT`: the first candidate at 0.3), and the note says why. Either way
    the returned recipe's ``readout`` is :meth:`Recipe.with_readout` of the choice (one scale,
    mean fusion, no refinement); without ``cam_readouts`` it is the recipe's own.

    Args:
        recipe: The recipe the run was trained with.
        run: The :class:`~wsss_lib.train.TrainedRun`.
        val_scenes: Validation :class:`~wsss_lib.data.SmokeScenes` (masks needed), or None.
        device: Where to compute the CAMs.

    Returns:
        ``(recipe, readout)``: the recipe with the chosen read-out as its ``readout``, and a
        JSON-able record: ``chosen_on`` (``"val"`` or None), ``note`` (one sentence), and for a
        choice ``label``, ``val_iou``, ``n_val``, ``candidates`` (every candidate's best
        threshold and IoU on val).
    """
    import numpy as np

    from wsss_lib.train import choose_readout

    fixed = recipe.readout.label
    candidates = recipe.readout_candidates(run.model.family)
    if candidates is None:
        return recipe, {"chosen_on": None, "label": fixed,
                        "note": f"{fixed}, the recipe's fixed CAM settings."}
    has_masks = (val_scenes is not None and getattr(val_scenes, "smoke_masks", None) is not None
                 and bool(np.any(np.asarray(val_scenes.labels) == 1)))
    if not has_masks:
        why = ("no validation split" if val_scenes is None
               else "the validation split has no smoke masks" if val_scenes.smoke_masks is None
               else "the validation split has no smoke image")
        fallback = replace(candidates[0], threshold=FALLBACK_READOUT.threshold)
        return recipe.with_readout(fallback), {
            "chosen_on": None, "label": fallback.label, "fallback": True,
            "note": (f"{fallback.label} (FALLBACK: {why}, so the read-out could not be chosen "
                     "on validation; it is the first candidate map cut at the paper's 0.3. Pass "
                     "a validation split with masks to choose it, as notebook 02 does.)")}
    choice = choose_readout(run, val_scenes, candidates, device=device)
    record = choice.to_dict()
    record.update({
        "chosen_on": "val", "n_val": len(val_scenes),
        "note": (f"{choice.readout.label}, chosen on the validation split ({len(val_scenes)} "
                 f"images; smoke IoU {choice.val_iou:.1%} there) among "
                 f"{len(candidates)} candidate map(s) and thresholds "
                 f"{READOUT_SWEEP}.")})
    return recipe.with_readout(choice.readout), record


#: How :func:`choose_recipe_readout` describes the threshold sweep.
READOUT_SWEEP = "0.05-0.90"


def read_run_recipe(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What :func:`train_recipe` recorded beside a run (``recipe``, ``profile``, ``data``), or
    None for runs trained otherwise (e.g. by notebooks 01-07) or with an unreadable record."""
    path = Path(run_dir) / RECIPE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("recipe"), dict) else None
