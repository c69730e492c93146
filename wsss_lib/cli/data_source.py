"""The data of a run command: the ``--data`` / ``--coco`` source, loading it with the loaders'
warnings in the CLI's words (:func:`cli_wording`), a one-line description, the default
validation split and the ground truth at the original size.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import Any

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
