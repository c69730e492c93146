"""The ``wsss train`` command: train a profile's recipe on your data through the model cache.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from wsss_lib.cli.data_source import (
    _data_source,
    _default_validation,
    _describe_data,
    _load,
    _small_smoke_notice,
)
from wsss_lib.cli.options import _add_common_arguments, _add_data_arguments, _setting
from wsss_lib.report.command import positive_int as _positive_int


def add_parser(commands: Any) -> None:
    """Add ``wsss train`` and its options to the ``wsss`` subcommands."""
    train = commands.add_parser(
        "train", help="train a profile's recipe on your data (cached); prints the run id",
        description="Train the recipe of a profile's \"*\" and 08_your_own_data sections on your "
        "data, through the model cache (an identical run is loaded, an interrupted one resumed). "
        "quick and full train the method notebooks' recipe (their \"*\" section: "
        "warm-up + cosine, proxy pre-training, ...), and choose the CAM "
        "read-out (map and threshold) on the validation split when it has masks (fallback "
        "without: the score map at 0.3, said and recorded). Example, the method on a COCO "
        "export: wsss train --profile full --coco EXPORT. The paper's setting: wsss train "
        "--profile paper --coco IJmond-SEG --cnn-weights resnet50.safetensors --vit-weights "
        "vit_base.safetensors",
    )
    train.add_argument("--profile", default="quick",
                       help="quick (seconds, networks at chance), full (the method notebooks' "
                       "recipe, minutes on a CPU), paper (the paper's setting, a GPU job) or a "
                       "profile .json (default: quick)")
    _add_data_arguments(train, "train")
    train.add_argument("--val-data", metavar="DIR",
                       help="validation data in the folder layout (default: none)")
    train.add_argument("--val-split",
                       help="COCO validation split (default: valid when training on train and it "
                       "exists; none: no validation); with masks, the CAM read-out is chosen "
                       "on it")
    train.add_argument("--image-size", type=_positive_int, metavar="SIDE",
                       help="square side the images are loaded and trained at (default: the "
                       "recipe's; same as --set image_size=SIDE)")
    train.add_argument("--resize", choices=("pad", "crop", "squash"),
                       help="how non-square images become square (default: the recipe's, pad; "
                       "same as --set resize=MODE)")
    train.add_argument("--set", dest="settings", type=_setting, action="append", default=[],
                       metavar="KEY=VALUE",
                       help="override a recipe setting, e.g. --set image_size=256 --set epochs=1 "
                       "--set paradigm=single_cnn; with quick/full also the method's training "
                       "settings, e.g. --set proxy_pretrain=false (no proxy pre-training) or --set "
                       "cam_readouts=null (no read-out choice); the read-out: one key, --set "
                       "readout.threshold=0.4, or all, --set readout='{\"method\": \"gradcam\"}' "
                       "(value parsed as JSON when possible; repeatable)")
    train.add_argument("--cnn-weights", metavar="FILE",
                       help="local weights of the CNN backbone (.safetensors/.pth), e.g. "
                       "ImageNet's; they replace the proxy pre-training (of the same "
                       "architecture: --set cnn=NAME)")
    train.add_argument("--vit-weights", metavar="FILE",
                       help="local weights of the ViT backbone (.safetensors/.pth), e.g. "
                       "ImageNet's; they replace the proxy pre-training (--set vit=NAME)")
    _add_common_arguments(train)


def _train(args: argparse.Namespace) -> int:
    from wsss_lib.runs import RECIPE_FILE, describe_recipe, load_recipe, train_recipe
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
    print(f"Recipe and read-out: {run.run_dir / RECIPE_FILE}")
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
