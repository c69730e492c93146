"""The ``wsss evaluate`` command: a run's metrics on a data set, printed beside trivial baselines
and written as JSON.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from wsss_lib.cli.data_source import _original_truth
from wsss_lib.cli.options import _add_cam_arguments, _add_common_arguments, _add_data_arguments
from wsss_lib.cli.run_settings import _percent, _run_and_data

#: Metrics ``wsss evaluate`` prints (all are written to the JSON file), each with the key of its
#: trivial baseline in ``metrics["baselines"]`` (:func:`wsss_lib.pseudo_masks.trivial_baselines`).
_PRINTED_METRICS = (
    ("accuracy", "image accuracy", None),
    ("smoke_iou", "smoke IoU (per image; paper mIoU)", "smoke_iou_whole_image"),
    ("iou_smoke_dataset", "smoke IoU (pooled pixels)", "iou_smoke_dataset_whole_image"),
    ("miou_dataset", "mIoU (pooled pixels)", "miou_dataset_whole_image"),
    ("precision", "pixel precision", "precision_whole_image"),
    ("recall", "pixel recall", "recall_whole_image"),
    ("f1", "pixel F1", "f1_whole_image"),
    ("best_threshold_iou", "smoke IoU at best threshold", "smoke_iou_whole_image"),
    ("oracle_iou", "per-image oracle (upper bound)", "smoke_iou_whole_image"),
)


def _print_metrics(metrics: dict[str, Any]) -> None:
    """Every metric beside its trivial baseline."""
    baselines = metrics.get("baselines") or {}
    for key, label, baseline in _PRINTED_METRICS:
        value = metrics.get(key)
        if not (isinstance(value, (int, float)) and value == value):  # skip NaN / absent
            continue
        if key == "accuracy":
            reference = (f"always smoke {_percent(baselines.get('accuracy_always_smoke')).strip()}"
                         f", always clean "
                         f"{_percent(baselines.get('accuracy_always_clean')).strip()}")
        else:
            reference = f"whole image smoke {_percent(baselines.get(baseline)).strip()}"
        print(f"  {label:<36} {100 * value:6.2f} %   (baseline: {reference})")


def _evaluation_path(run_dir: Path, source: dict[str, Any]) -> Path:
    """Default ``--out``: beside the run, one file per data set."""
    name = Path(source["path"]).name or "data"
    tag = "-".join(part for part in (source["layout"], name, source.get("split")) if part)
    return run_dir / "evaluations" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', tag)}.json"


def add_parser(commands: Any) -> None:
    """Add ``wsss evaluate`` and its options to the ``wsss`` subcommands."""
    evaluate = commands.add_parser(
        "evaluate", help="a run's metrics on a data set (printed and written as JSON)",
        description="Evaluate a run's CAMs and pseudo-masks on data with ground-truth masks "
        "(image accuracy also without). RUN is a run folder or a cache key (wsss runs).",
    )
    evaluate.add_argument("run", metavar="RUN", help="run folder or cache key (or its prefix)")
    _add_data_arguments(evaluate, "test")
    _add_cam_arguments(evaluate)
    evaluate.add_argument("--resolution", choices=("original", "model"), default="original",
                          help="compare at the images' original size (the CAM is upsampled; "
                          "loads the data a second time at full size; default) or in the "
                          "model's frame")
    evaluate.add_argument("--opacity", action="store_true",
                          help="COCO only: also report the share of each opacity class's pixels "
                          "(e.g. smoke-low-opacity, smoke-high-opacity) the pseudo-masks find")
    evaluate.add_argument("--out", metavar="FILE",
                          help="metrics JSON (default: <run folder>/evaluations/<data>.json)")
    _add_common_arguments(evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from wsss_lib.cam.readout import CamReadout
    from wsss_lib.pseudo_masks import evaluate_scenes
    from wsss_lib.utils import atomic_write_json

    if args.opacity and (args.coco is None or args.resolution != "original"):
        raise ValueError("--opacity needs --coco (opacity classes are COCO categories) and "
                         "--resolution original.")
    run, run_dir, cam, resize, source, scenes = _run_and_data(args, "test")
    truth = (_original_truth(source, scenes, args.opacity) if args.resolution == "original"
             else None)
    result = evaluate_scenes(run, scenes, CamReadout.from_dict(cam), truth=truth,
                             batch_size=args.batch_size, device=args.device,
                             progress=not args.quiet)
    metrics = result["metrics"]
    document = {
        "run": run_dir.name,
        "run_dir": str(run_dir),
        "data": {**source, "n_images": len(scenes), "image_size": run.config.data.image_size,
                 "resize": resize},
        "settings": result["settings"],
        "metrics": metrics,
        "config": run.config.to_dict(),
    }
    out = Path(args.out).expanduser() if args.out else _evaluation_path(run_dir, source)
    atomic_write_json(out, document)
    _print_metrics(metrics)
    for name, value in (metrics.get("recall_per_opacity") or {}).items():
        label = f"recall of {name!r} pixels"
        print(f"  {label:<36} {_percent(value)}   (baseline: whole image smoke 100.00 %)")
    if "smoke_iou" not in metrics:
        print("  (no ground-truth masks: pixel metrics need them)")
    print(f"  threshold {metrics['threshold']}, {metrics['n_images']} images "
          f"({metrics['n_smoke_images']} smoke), resolution {metrics.get('resolution', '-')}")
    print(f"Metrics: {out}")
    return 0
