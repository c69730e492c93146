"""What ``wsss evaluate`` and ``wsss pseudo-masks`` share: the run they read, its CAM settings
(recorded recipe, ``--profile`` or defaults, then the command line) and the data, announced on
stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from wsss_lib.cli.data_source import _data_source, _describe_data, _load

#: CAM settings when neither the run's recipe nor --profile gives them; also the keys a recipe's
#: compact ``readout.to_dict()`` is completed with for the printout (the same read-out).
_CAM_DEFAULTS: dict[str, Any] = {
    "method": "cam",
    "layers": None,
    "scales": [1.0],
    "fusion": "mean",
    "threshold": 0.3,
    "refine": [],
}


def _cam_settings(args: argparse.Namespace, run_dir: Path) -> tuple[dict[str, Any], str, str]:
    """CAM settings (a mapping ``CamReadout.from_dict`` reads: the recipe's ``readout``, then
    the command line's options key by key), resize mode and where they came from (for the
    printout)."""
    from wsss_lib.runs import Recipe, load_recipe, read_run_recipe

    cam, resize, source = dict(_CAM_DEFAULTS), "pad", "kit defaults"
    recorded = read_run_recipe(run_dir)
    if recorded is not None:
        try:
            recipe = Recipe.from_mapping(recorded["recipe"])
        except ValueError:
            recipe = None  # recorded by another version: fall back to the defaults
        if recipe is not None:
            cam, resize = {**_CAM_DEFAULTS, **recipe.readout.to_dict()}, recipe.resize
            source = f"the run's recipe (profile {recorded.get('profile')})"
            readout = recorded.get("readout") or {}
            if readout.get("chosen_on") == "val":
                source = (f"the run's recipe (profile {recorded.get('profile')}; read-out "
                          "chosen on validation)")
            elif readout.get("fallback"):
                source = (f"the run's recipe (profile {recorded.get('profile')}; fallback "
                          "read-out, not chosen on validation)")
    if args.profile is not None:
        recipe = load_recipe(args.profile)
        cam, resize = {**_CAM_DEFAULTS, **recipe.readout.to_dict()}, recipe.resize
        source = f"profile {args.profile}"
    explicit = {"method": args.method, "layers": args.layers, "scales": args.scales,
                "fusion": args.fusion, "threshold": args.threshold, "refine": args.refine}
    given = {k: v for k, v in explicit.items() if v is not None}
    if "method" in given and given["method"] != cam["method"] and "layers" not in given:
        cam["layers"] = None  # another method: its own default layers
    if "fusion" in given and given["fusion"] != "weighted":
        cam.pop("fusion_weights", None)  # the recipe's weights belong to its weighted fusion
    cam.update(given)
    if cam["method"] == "cam":
        cam["layers"] = None
    if given:
        source += " + command line"
    return cam, args.resize or resize, source


def _load_run(args: argparse.Namespace, ref: str) -> tuple[Any, Path]:
    from wsss_lib.runs import resolve_run
    from wsss_lib.train import load_run
    from wsss_lib.utils import get_device

    run_dir = resolve_run(ref, args.cache_dir)
    run = load_run(run_dir, get_device(args.device))
    return run, run_dir


def _run_and_data(args: argparse.Namespace, default_split: str) -> tuple:
    """The run, its folder, CAM settings, resize mode, data source and scenes of ``evaluate`` /
    ``pseudo-masks``, announced on stdout."""
    run, run_dir = _load_run(args, args.run)
    cam, resize, origin = _cam_settings(args, run_dir)
    source = _data_source(args, default_split)
    scenes = _load(source, run.config.data.image_size, resize)
    print(f"Run: {run_dir.name}")
    print(f"Data: {_describe_data(source, scenes)}")
    print(f"CAM settings ({origin}): {cam}", flush=True)
    return run, run_dir, cam, resize, source, scenes


def _percent(value: Any) -> str:
    ok = isinstance(value, (int, float)) and value == value
    return f"{100 * value:6.2f} %" if ok else "     - "
