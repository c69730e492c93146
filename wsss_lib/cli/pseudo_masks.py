"""The ``wsss pseudo-masks`` command: one pseudo-mask PNG per image plus ``manifest.json``
(resumable).
"""

from __future__ import annotations

import argparse
from typing import Any

from wsss_lib.cli.data_source import _original_truth
from wsss_lib.cli.options import _add_cam_arguments, _add_common_arguments, _add_data_arguments
from wsss_lib.cli.run_settings import _percent, _run_and_data


def add_parser(commands: Any) -> None:
    """Add ``wsss pseudo-masks`` and its options to the ``wsss`` subcommands."""
    pseudo = commands.add_parser(
        "pseudo-masks", help="write one pseudo-mask PNG per image (resumable)",
        description="Write <OUT>/<image name>.png (255 = smoke) for every image, at the image's "
        "original size, and OUT/manifest.json of the settings. Running it again resumes.",
    )
    pseudo.add_argument("--run", required=True, metavar="RUN",
                        help="run folder or cache key (or its prefix)")
    _add_data_arguments(pseudo, "train")
    pseudo.add_argument("--out", required=True, metavar="OUT", help="output folder")
    _add_cam_arguments(pseudo)
    pseudo.add_argument("--no-score", action="store_true",
                        help="do not load the ground truth at its original size to report the "
                        "smoke IoU (saves memory and time on large sets)")
    _add_common_arguments(pseudo)


def _pseudo_masks(args: argparse.Namespace) -> int:
    from wsss_lib.cam.readout import CamReadout
    from wsss_lib.pseudo_masks import export_pseudo_masks

    run, run_dir, cam, resize, source, scenes = _run_and_data(args, "train")
    truth = None if args.no_score else _original_truth(source, scenes)
    result = export_pseudo_masks(run, scenes, args.out, CamReadout.from_dict(cam), truth=truth,
                                 batch_size=args.batch_size, device=args.device,
                                 progress=not args.quiet)
    print(f"{len(result.written)} masks written, {len(result.skipped)} already there (resumed); "
          f"size: {result.output_size} -> {result.out_dir}")
    metrics = result.metrics
    iou = metrics.get("smoke_iou")
    if isinstance(iou, float) and iou == iou:
        baselines = metrics.get("baselines") or {}
        print(f"  smoke IoU (per image, {metrics['n_smoke_images']} smoke images): "
              f"{100 * iou:.2f} %   (baseline: whole image smoke "
              f"{_percent(baselines.get('smoke_iou_whole_image')).strip()})")
        print(f"  smoke IoU (pooled pixels): {_percent(metrics.get('iou_smoke_dataset')).strip()}"
              f"   (baseline: whole image smoke "
              f"{_percent(baselines.get('iou_smoke_dataset_whole_image')).strip()})")
    elif args.no_score:
        print("  not scored (--no-score)")
    elif "note" in metrics:
        print(f"  {metrics['note']}")
    print(f"Manifest: {result.manifest_path}")
    return 0
