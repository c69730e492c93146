"""The ``wsss`` command.

Subcommands:
    ``wsss report``        run the notebooks with a profile and write the report (see
                           :mod:`wsss_lib.report`; ``python -m wsss_lib.report`` is the same).
    ``wsss cache``         list or clear the model/dataset cache folder (``$WSSS_CACHE``).
    ``wsss train``         train a profile's recipe on your data (folder or COCO export), through
                           the model cache; prints the run's id and folder.
    ``wsss evaluate``      a run's metrics on a data set, printed and written as JSON.
    ``wsss pseudo-masks``  one pseudo-mask PNG per image plus ``manifest.json`` (resumable).
    ``wsss runs``          list the training runs in the cache.

The run commands are thin layers over :mod:`wsss_lib.runs` and :mod:`wsss_lib.pseudo_masks`.

Exit status: 0 success, 1 a notebook failed (report) or training diverged (train), 2 bad input,
130 interrupted.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main", "report_main"]

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
#: What a Ctrl-C leaves behind, per command.
_INTERRUPTED = {
    "report": "run again to continue (finished notebooks are skipped)",
    "train": "run the same command again to resume from the last finished epoch",
    "pseudo-masks": "run the same command again to resume (written masks are skipped)",
}


def _version() -> str:
    try:
        return metadata.version("wsss-lab")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``wsss report`` (shared with ``python -m wsss_lib.report``)."""
    parser.add_argument(
        "--profile",
        default="quick",
        help="profile name (quick, full) or path to a profile .json (default: quick)",
    )
    parser.add_argument("--out", help="report folder (default: reports/<profile>)")
    parser.add_argument("--only", help="notebooks to run, e.g. 01,03 (default: all)")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a notebook parameter: NAME for every notebook declaring it, or "
        "NN:NAME for one notebook; VALUE is parsed as JSON when possible (repeatable)",
    )
    parser.add_argument(
        "--jobs", type=_positive_int, default=1, help="notebooks run in parallel (default: 1)"
    )
    parser.add_argument("--force", action="store_true", help="re-run notebooks even when unchanged")
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train every network here instead of loading the checkpoints shipped with the kit "
        "(sets WSSS_RETRAIN=1 for the notebooks; networks trained on this machine are reused)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        help="per-cell execution timeout in seconds (default: 600 quick, 7200 otherwise)",
    )
    parser.add_argument(
        "--cache-dir", help="model/dataset cache folder for the notebooks (sets WSSS_CACHE)"
    )
    parser.add_argument(
        "--notebooks",
        default=None,
        help="folder with NN_*.ipynb (default: ./notebooks when it holds notebooks, else the "
        "notebooks installed with wsss-lab)",
    )
    parser.add_argument(
        "--kernel",
        default="python3",
        help="Jupyter kernel (default: python3 = the interpreter running this command)",
    )


def build_parser(prog: str = "wsss") -> argparse.ArgumentParser:
    """The argument parser of the ``wsss`` command."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="wsss-lab: the notebook report, training on your data, pseudo-masks, the "
        "model/dataset cache.",
        epilog="Exit status: 0 success, 1 a notebook failed or training diverged, 2 bad input, "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"wsss-lab {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser(
        "report", help="run the notebooks and write reports/<profile>/index.html"
    )
    add_report_arguments(report)
    cache = commands.add_parser("cache", help="list or clear the model/dataset cache folder")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="show the cache folder and what it holds")
    clear = actions.add_parser("clear", help="delete everything in the cache folder")
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _add_run_commands(commands)
    return parser


def _run_report(args: argparse.Namespace) -> int:
    from wsss_lib.profiles import PROFILE_NOTEBOOKS
    from wsss_lib.report import parse_value, run_report
    from wsss_lib.resources import default_notebooks_dir

    overrides = [(name, parse_value(value)) for name, value in args.parameter]
    only = args.only
    if only is None and args.profile in PROFILE_NOTEBOOKS:
        only = ",".join(stem[:2] for stem in PROFILE_NOTEBOOKS[args.profile])
        print(f"Profile {args.profile!r} runs notebooks {only} (their networks ship trained with "
              "the kit); the others train dozens of networks: make report-full, or see "
              "docs/results/full/.", flush=True)
    notebooks = args.notebooks
    if notebooks is None:
        notebooks = default_notebooks_dir()
        print(f"Notebooks: {notebooks}", flush=True)
        _check_profile_covers(args.profile, notebooks, only)
    summary = run_report(
        notebooks,
        profile=args.profile,
        out_dir=args.out,
        only=only,
        retrain=args.retrain,
        overrides=overrides,
        jobs=args.jobs,
        force=args.force,
        timeout=args.timeout,
        cache_dir=args.cache_dir,
        kernel_name=args.kernel,
        echo=lambda line: print(line, flush=True),
    )
    return summary.exit_code


def _check_profile_covers(profile: str, notebooks: Path, only: str | None) -> None:
    """Before any kernel starts: a shipped profile must have a section for every notebook run.

    (``paper`` holds only ``08_your_own_data``; the tutorial notebooks would each fail on it.)
    """
    from wsss_lib.report import discover_notebooks, load_profile

    if Path(profile).suffix == ".json":
        return  # your own profile file: the notebooks say what they need
    sections = load_profile(profile)
    missing = [nb.stem for nb in discover_notebooks(notebooks, only) if nb.stem not in sections]
    if missing:
        covered = sorted(k for k in sections if k != "*")
        selectors = ",".join(stem[:2] for stem in covered)
        raise ValueError(
            f"Profile {profile!r} has no settings for {', '.join(missing)}; it covers "
            f"{', '.join(covered) or 'no notebook'}. Run those with --only {selectors}, or use "
            "--profile quick / full for the others."
        )


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _cache(args: argparse.Namespace) -> int:
    from wsss_lib.utils import default_cache_dir

    folder = default_cache_dir()
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    if args.action == "list":
        print(f"Cache folder: {folder}" + ("" if folder.is_dir() else " (does not exist yet)"))
        sizes = [(entry, _size(entry)) for entry in entries]
        for entry, size in sizes:
            print(f"  {entry.name + ('/' if entry.is_dir() else ''):<48} {_human(size):>10}")
        print(f"{len(sizes)} entries, {_human(sum(size for _, size in sizes))} in total")
        return 0
    # clear
    if folder.resolve() in (Path(folder.anchor), Path.home().resolve()):
        raise ValueError(
            f"Refusing to clear {folder}: it is not a dedicated cache folder. Point WSSS_CACHE "
            "at a folder used only by wsss-lab."
        )
    if not entries:
        print(f"Cache folder {folder} is already empty.")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValueError(f"Clearing {folder} needs confirmation: pass --yes.")
        answer = input(f"Delete {len(entries)} entries in {folder}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    print(f"Deleted {len(entries)} entries in {folder}.")
    return 0

# ---------------------------------------------------------------------------- run commands

#: CAM settings when neither the run's recipe nor --profile gives them.
_CAM_DEFAULTS: dict[str, Any] = {
    "method": "cam",
    "layers": None,
    "scales": [1.0],
    "fusion": "mean",
    "threshold": 0.3,
    "refine": [],
}
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

#: Commands whose errors come from the data loaders and are re-worded with :func:`cli_wording`.
_RUN_COMMANDS = ("train", "evaluate", "pseudo-masks", "runs")
#: Python arguments named in the library's messages -> the CLI options that set them (the
#: library speaks Python; ``wsss`` re-words what it prints).
_CLI_WORDING: tuple[tuple[str, Any], ...] = (
    (r"smoke_categories=\[([^\]]*)\]",
     lambda m: "--smoke-categories " + (
         "NAME,..." if "<" in m.group(1) or not m.group(1).strip()
         else ",".join(part.strip().strip("'\"") for part in m.group(1).split(",")))),
    (r"\bsmoke_categories\b", "--smoke-categories"),
    (r"\bimage_size=<side> \(e\.g\. (?:image_size=)?(\d+)\)", r"--image-size \1"),
    (r"\bimage_size=(\S+?)([,.;)]?\s)", r"--image-size \1\2"),
    (r"\bresize='(\w+)'", r"--resize \1"),
    (r"\bsplit= ", "--split "),
    (r"\bsplit='(\w+)'", r"--split \1"),
    (r"pass masks=None to load without masks", "move the masks/ folder aside to load without "
     "masks"),
    (r", or pass labels=<its name>", ""),
    (r"\bkeep_opacity=True\b", "--opacity"),
)


def cli_wording(message: str) -> str:
    """A library message with its Python arguments replaced by the ``wsss`` options."""
    for pattern, replacement in _CLI_WORDING:
        message = re.sub(pattern, replacement, message)
    return message


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
        "CAM settings", "default: the recipe the run was trained with (wsss train), else "
        "--profile's, else cam / scale 1 / threshold 0.3"
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


def _add_run_commands(commands: Any) -> None:
    train = commands.add_parser(
        "train", help="train a profile's recipe on your data (cached); prints the run id",
        description="Train the recipe of a profile's 08_your_own_data section on your data, "
        "through the model cache (an identical run is loaded, an interrupted one resumed). "
        "Example, the paper's setting: wsss train --profile paper --coco IJmond-SEG "
        "--cnn-weights resnet50.safetensors --vit-weights vit_base.safetensors",
    )
    train.add_argument("--profile", default="quick",
                       help="quick, full, paper or a profile .json (default: quick)")
    _add_data_arguments(train, "train")
    train.add_argument("--val-data", metavar="DIR",
                       help="validation data in the folder layout (default: none)")
    train.add_argument("--val-split",
                       help="COCO validation split (default: valid when training on train and it "
                       "exists; none: no validation)")
    train.add_argument("--image-size", type=_positive_int, metavar="SIDE",
                       help="square side the images are loaded and trained at (default: the "
                       "recipe's; same as --set image_size=SIDE)")
    train.add_argument("--resize", choices=("pad", "crop", "squash"),
                       help="how non-square images become square (default: the recipe's, pad; "
                       "same as --set resize=MODE)")
    train.add_argument("--set", dest="settings", type=_setting, action="append", default=[],
                       metavar="KEY=VALUE",
                       help="override a recipe setting, e.g. --set image_size=256 --set epochs=1 "
                       "(value parsed as JSON when possible; repeatable)")
    train.add_argument("--cnn-weights", metavar="FILE",
                       help="local weights of the CNN backbone (.safetensors/.pth)")
    train.add_argument("--vit-weights", metavar="FILE",
                       help="local weights of the ViT backbone (.safetensors/.pth)")
    _add_common_arguments(train)

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

    runs = commands.add_parser("runs", help="list the training runs in the cache")
    runs.add_argument("--cache-dir", help="model cache root (default: $WSSS_CACHE)")


def _data_source(args: argparse.Namespace, default_split: str) -> dict[str, Any]:
    """``{"layout", "path", "split"[, "smoke_categories"]}`` of the --data / --coco arguments."""
    from wsss_lib.data.coco import ANNOTATIONS_FILE

    categories = getattr(args, "smoke_categories", None)
    if args.coco is not None:
        root = Path(args.coco).expanduser()
        split = args.split
        if split is None and not (root / ANNOTATIONS_FILE).is_file():
            split = default_split
        source = {"layout": "coco", "path": str(root), "split": split}
        if categories is not None:
            source["smoke_categories"] = categories
        return source
    if args.split is not None:
        raise ValueError(
            "--split applies to --coco exports only; point --data at the folder to read instead."
        )
    if categories is not None:
        raise ValueError(
            "--smoke-categories applies to --coco exports only; a folder's labels.csv and masks/ "
            "say what is smoke."
        )
    return {"layout": "folder", "path": str(Path(args.data).expanduser()), "split": None}


def _warn(message: str) -> None:
    print(f"warning: {cli_wording(message)}", file=sys.stderr, flush=True)


def _load(source: dict[str, Any], image_size: int | None, resize: str) -> Any:
    """Load the data; the loaders' warnings (e.g. annotations of categories not counted as
    smoke) are printed on stderr in the CLI's words."""
    from wsss_lib.data.coco import IgnoredCategoriesWarning
    from wsss_lib.runs import load_data

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IgnoredCategoriesWarning)
        scenes = load_data(source["path"], layout=source["layout"], split=source["split"],
                           image_size=image_size, resize=resize,
                           smoke_categories=source.get("smoke_categories"))
    for item in caught:
        if issubclass(item.category, IgnoredCategoriesWarning):
            _warn(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return scenes


def _describe_data(source: dict[str, Any], scenes: Any) -> str:
    split = f" split {source['split']}" if source.get("split") else ""
    n_smoke = int(scenes.labels.sum())
    masks = "with masks" if scenes.has_masks else "no masks"
    sizes = {tuple(p["original_size"]) for p in scenes.params if "original_size" in p}
    shown = ""
    if sizes:
        wh = sorted(f"{w}x{h}" for h, w in sizes)
        more = ", ..." if len(wh) > 4 else ""
        shown = (f", original size {wh[0]}" if len(wh) == 1 else
                 f", {len(wh)} original sizes ({', '.join(wh[:4])}{more})")
    return (f"{source['layout']} {source['path']}{split}: {len(scenes)} images ({n_smoke} smoke, "
            f"{len(scenes) - n_smoke} clean, {masks}{shown})")


#: Smoke covering fewer pixels than this at the training size is hard to localise (a 4 x 4 px
#: patch; the quick networks' feature maps have a stride of 8-16 px).
_SMALL_SMOKE_PX = 16


def _small_smoke_notice(scenes: Any, image_size: int) -> None:
    """Say when the training size shrinks the smoke of some images to a few pixels."""
    if scenes.smoke_masks is None:
        return
    labels = scenes.labels.astype(bool)
    areas = scenes.smoke_masks[labels].reshape(int(labels.sum()), -1).sum(axis=1)
    small = areas[areas < _SMALL_SMOKE_PX]
    if small.size:
        print(f"Note: in {small.size} of {areas.size} smoke images the smoke covers fewer than "
              f"{_SMALL_SMOKE_PX} pixels at {image_size} px (the smallest: {int(small.min())}); "
              "small plumes in wide frames need a larger --image-size (e.g. 256, or the paper's "
              "512) or tiles of the frames.")


def _default_validation(source: dict[str, Any]) -> tuple[str | None, str | None]:
    """The COCO split validated on by default (``valid`` beside ``train``), or a notice why
    there is none."""
    import json

    from wsss_lib.data.coco import ANNOTATIONS_FILE

    hint = ("per-epoch validation accuracy is not measured; pass --val-split NAME or --val-data "
            "DIR to measure it")
    if source["split"] != "train":
        return None, f"Validation: none (training on split {source['split']!r}; {hint})."
    valid = Path(source["path"]) / "valid"
    annotations = valid / ANNOTATIONS_FILE
    if not annotations.is_file():
        where = "is empty" if valid.is_dir() else "does not exist"
        return None, (f"Validation: none ({valid} {where}: no {ANNOTATIONS_FILE}; {hint}).")
    try:
        images = json.loads(annotations.read_text(encoding="utf-8")).get("images")
    except (OSError, ValueError, AttributeError):
        return "valid", None  # loading it says what is wrong
    if not images:
        return None, f"Validation: none ({annotations} lists no images; {hint})."
    return "valid", None


def _train(args: argparse.Namespace) -> int:
    from wsss_lib.runs import describe_recipe, load_recipe, train_recipe
    from wsss_lib.train.loop import resolve_amp_dtype
    from wsss_lib.utils import get_device

    overrides = dict(args.settings)
    for key, value in (("cnn_weights", args.cnn_weights), ("vit_weights", args.vit_weights),
                       ("image_size", args.image_size), ("resize", args.resize)):
        if value is not None:
            overrides[key] = value
    recipe = load_recipe(args.profile, **overrides)
    recipe.train_config()  # bad settings / missing weight files fail before data is loaded
    source = _data_source(args, "train")
    device = get_device(args.device)
    amp = resolve_amp_dtype("auto", device)
    print(f"Profile {args.profile}: {describe_recipe(recipe)}")
    print(f"Device: {device}" + (f" (mixed precision {str(amp).removeprefix('torch.')})"
                                 if amp else ""), flush=True)
    scenes = _load(source, recipe.image_size, recipe.resize)
    print(f"Training data: {_describe_data(source, scenes)}")
    _small_smoke_notice(scenes, recipe.image_size)
    val, val_source = None, None
    if args.val_data is not None:
        val_source = {"layout": "folder", "path": str(Path(args.val_data).expanduser()),
                      "split": None}
    elif source["layout"] == "coco":
        val_split = args.val_split
        if val_split is None:
            val_split, notice = _default_validation(source)
            if notice:
                print(notice)
        if val_split not in (None, "none"):
            val_source = {**source, "split": val_split}
        elif args.val_split == "none":
            print("Validation: none (--val-split none).")
    elif args.val_split is not None:
        raise ValueError("--val-split applies to --coco exports; use --val-data DIR for folders.")
    else:
        print("Validation: none (per-epoch validation accuracy is not measured; pass --val-data "
              "DIR to measure it).")
    if val_source is not None:
        val = _load(val_source, recipe.image_size, recipe.resize)
        print(f"Validation data: {_describe_data(val_source, val)}")
    try:
        run = train_recipe(recipe, scenes, val, profile=args.profile,
                           data={"train": source, "val": val_source}, cache_dir=args.cache_dir,
                           device=device, progress=not args.quiet)
    except RuntimeError as err:
        if "weights_path" in str(err):
            raise RuntimeError(
                f"{err} With wsss train: pass --cnn-weights FILE / --vit-weights FILE (or --set "
                "pretrained=false to train from scratch)."
            ) from err
        raise
    last = run.history[-1] if run.history else {}
    scores = ", ".join(f"{k} {last[k]:.3f}" for k in ("train_acc", "val_acc")
                       if isinstance(last.get(k), (int, float)))
    print(f"Run: {run.run_dir.name}")
    print(f"Folder: {run.run_dir}")
    if scores:
        print(f"Last epoch: {scores}")
    data_flag = (f"--coco {source['path']}" if source["layout"] == "coco"
                 else f"--data {source['path']}")
    if source.get("smoke_categories"):
        data_flag += " --smoke-categories " + ",".join(
            str(c) for c in source["smoke_categories"])
    print("Next:")
    print(f"  wsss evaluate {run.run_dir.name} {data_flag}"
          + (" --split test" if source["layout"] == "coco" else ""))
    print(f"  wsss pseudo-masks --run {run.run_dir.name} {data_flag} --out pseudo_masks")
    return 0


def _cam_settings(args: argparse.Namespace, run_dir: Path) -> tuple[dict[str, Any], str, str]:
    """CAM keyword arguments, resize mode and where they came from (for the printout)."""
    from wsss_lib.runs import Recipe, load_recipe, read_run_recipe

    cam, resize, source = dict(_CAM_DEFAULTS), "pad", "kit defaults"
    recorded = read_run_recipe(run_dir)
    if recorded is not None:
        try:
            recipe = Recipe.from_mapping(recorded["recipe"])
        except ValueError:
            recipe = None  # recorded by another version: fall back to the defaults
        if recipe is not None:
            cam, resize = recipe.cam_kwargs(), recipe.resize
            source = f"the run's recipe (profile {recorded.get('profile')})"
    if args.profile is not None:
        recipe = load_recipe(args.profile)
        cam, resize, source = recipe.cam_kwargs(), recipe.resize, f"profile {args.profile}"
    explicit = {"method": args.method, "layers": args.layers, "scales": args.scales,
                "fusion": args.fusion, "threshold": args.threshold, "refine": args.refine}
    given = {k: v for k, v in explicit.items() if v is not None}
    if "method" in given and given["method"] != cam["method"] and "layers" not in given:
        cam["layers"] = None  # another method: its own default layers
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


def _original_truth(source: dict[str, Any], scenes: Any, opacity: bool = False) -> Any:
    """The ground truth at each image's original size (sizes may differ) when the scenes were
    resized and have masks, else None (the scenes' own masks are the truth)."""
    from wsss_lib.pseudo_masks import masks_at_original_size
    from wsss_lib.runs import load_truth

    if scenes.smoke_masks is None or not (opacity or masks_at_original_size(scenes)):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said when the scenes were loaded
        return load_truth(source["path"], layout=source["layout"], split=source["split"],
                          smoke_categories=source.get("smoke_categories"), keep_opacity=opacity)


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


def _evaluate(args: argparse.Namespace) -> int:
    from wsss_lib.pseudo_masks import evaluate_scenes
    from wsss_lib.utils import atomic_write_json

    if args.opacity and (args.coco is None or args.resolution != "original"):
        raise ValueError("--opacity needs --coco (opacity classes are COCO categories) and "
                         "--resolution original.")
    run, run_dir, cam, resize, source, scenes = _run_and_data(args, "test")
    truth = (_original_truth(source, scenes, args.opacity) if args.resolution == "original"
             else None)
    result = evaluate_scenes(run, scenes, truth=truth, batch_size=args.batch_size,
                             device=args.device, progress=not args.quiet, **cam)
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


def _pseudo_masks(args: argparse.Namespace) -> int:
    from wsss_lib.pseudo_masks import export_pseudo_masks

    run, run_dir, cam, resize, source, scenes = _run_and_data(args, "train")
    truth = None if args.no_score else _original_truth(source, scenes)
    result = export_pseudo_masks(run, scenes, args.out, truth=truth,
                                 batch_size=args.batch_size, device=args.device,
                                 progress=not args.quiet, **cam)
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


def _runs(args: argparse.Namespace) -> int:
    from wsss_lib.runs import list_runs
    from wsss_lib.utils import default_cache_dir

    root = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    runs = list_runs(root)
    print(f"Runs in {root / 'runs'}:")
    for r in runs:
        what = r.model if r.teacher is None else f"{r.teacher} -> {r.model}"
        acc = "" if r.val_acc is None else f", val acc {r.val_acc:.2f}"
        done = "" if r.complete else "  UNFINISHED"
        profile = f", profile {r.profile}" if r.profile else ""
        print(f"  {r.key}  {what}, {r.image_size} px, {r.epochs_done}/{r.epochs} epochs"
              f"{acc}{profile}{done}")
        if r.data:
            d = r.data
            split = f" split {d['split']}" if d.get("split") else ""
            print(f"      trained on {d.get('format')} {d.get('path')}{split}: "
                  f"{d.get('n_images')} images ({d.get('n_smoke')} smoke), "
                  f"fingerprint {str(d.get('fingerprint'))[:12]}")
    print(f"{len(runs)} runs (newest first)")
    return 0


def _dispatch(args: argparse.Namespace, prog: str) -> int:
    handlers = {
        "report": _run_report,
        "cache": _cache,
        "train": _train,
        "evaluate": _evaluate,
        "pseudo-masks": _pseudo_masks,
        "runs": _runs,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        hint = _INTERRUPTED.get(args.command, "nothing was lost")
        print(f"{prog}: interrupted; {hint}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FloatingPointError as err:  # the training loop's NaN guard
        print(f"{prog}: failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    except (ValueError, OSError, RuntimeError) as err:
        message = str(err)
        if args.command in _RUN_COMMANDS:  # the library's messages, in the CLI's options
            message = cli_wording(message)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None, prog: str = "wsss") -> int:
    """Entry point of the ``wsss`` console script; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    return _dispatch(args, f"{prog} {args.command}")


def report_main(argv: Sequence[str] | None = None, prog: str = "python -m wsss_lib.report") -> int:
    """Entry point of ``python -m wsss_lib.report`` (the options of ``wsss report``)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Run the notebooks with a profile and write the report."
    )
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    args.command = "report"
    return _dispatch(args, prog)
