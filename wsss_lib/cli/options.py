"""The options the run commands share: the ``--set``, list and number argument types, the data
options (``--data`` / ``--coco``), the CAM settings and the common ones (``--cache-dir``,
``--device``, ``--quiet``).
"""

from __future__ import annotations

import argparse
from typing import Any

from wsss_lib.report.command import positive_int as _positive_int


def _setting(text: str) -> tuple[str, Any]:
    from wsss_lib.report.plan import parse_value

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. image_size=64; got {text!r}")
    return key.strip(), parse_value(value.strip())


def _float_list(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected positive numbers separated by commas, e.g. 0.5,1,1.5,2; got {text!r}"
        )
    return values


def _layer_list(text: str) -> list[str | int]:
    if text.strip().lower() in ("", "default"):
        return []  # the model's default layers
    return [int(p) if p.strip().lstrip("-").isdigit() else p.strip()
            for p in text.split(",") if p.strip()]


def _category_list(text: str) -> list[str | int]:
    values = [int(p) if p.strip().isdigit() else p.strip() for p in text.split(",") if p.strip()]
    if not values:
        raise argparse.ArgumentTypeError(
            f"expected category names or ids separated by commas, e.g. smoke,plume; got {text!r}"
        )
    return values


def _name_list(text: str) -> list[str]:
    if text.strip().lower() in ("", "none"):
        return []
    return [p.strip() for p in text.split(",") if p.strip()]


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1] (paper: 0.3); got {text}")
    return value


def _add_data_arguments(parser: argparse.ArgumentParser, default_split: str) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--data", metavar="DIR",
                       help="your data in the folder layout: labels.csv + images/ (+ masks/)")
    group.add_argument("--coco", metavar="DIR",
                       help="a COCO-segmentation export (e.g. Roboflow's IJmond-SEG: train/ "
                       "valid/ test/, each with _annotations.coco.json), or one split folder")
    parser.add_argument("--split", help=f"COCO split folder to read (default: {default_split}; "
                        "none when DIR is itself a split folder)")
    parser.add_argument("--smoke-categories", type=_category_list, metavar="NAMES",
                        help="COCO categories (names or ids, comma-separated, thinnest first) "
                        "that count as smoke (default: every name containing 'smoke'); "
                        "annotations of other categories are listed with their counts")


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", help="model cache root (default: $WSSS_CACHE or "
                        "~/.cache/wsss-lab)")
    parser.add_argument("--device", help="cuda, cuda:1 or cpu (default: CUDA when present)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_cam_arguments(parser: argparse.ArgumentParser) -> None:
    cam = parser.add_argument_group(
        "CAM settings", "default: the recipe the run was trained with (wsss train; with "
        "quick / full its read-out chosen on validation), else --profile's, else cam / scale 1 "
        "/ threshold 0.3"
    )
    cam.add_argument("--profile", help="take the CAM settings of this profile's recipe "
                     "(quick, full, paper or a .json)")
    cam.add_argument("--method", help="cam, gradcam, or a pytorch-grad-cam method (layercam, ...)")
    cam.add_argument("--layers", type=_layer_list,
                     help="Grad-CAM layers, comma-separated, e.g. blocks.-5.norm1,blocks.-1.norm1 "
                     "(default: the model's; 'default' overrides a recipe's layers)")
    cam.add_argument("--scales", type=_float_list, help="multi-scale factors, e.g. 0.5,1,1.5,2")
    cam.add_argument("--fusion", choices=("mean", "max"), help="layer fusion rule")
    cam.add_argument("--threshold", type=_unit_float, help="pseudo-mask threshold (paper 0.3)")
    cam.add_argument("--refine", type=_name_list,
                     help="post-processing steps in order, e.g. par,crf (none: no refinement)")
    cam.add_argument("--resize", choices=("pad", "crop", "squash"),
                     help="how images become square (default: the run's recipe, else pad)")
    cam.add_argument("--batch-size", type=_positive_int, default=16,
                     help="images per forward pass (default: 16)")
