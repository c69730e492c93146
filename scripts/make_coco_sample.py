"""Regenerate ``data_samples/coco/``: a tiny COCO-segmentation export made by the project itself.

It has the shape of Roboflow's IJmond-SEG export: ``train/ valid/ test/`` folders, each with its
images and one ``_annotations.coco.json``; two smoke categories (``smoke-low-opacity``,
``smoke-high-opacity``) and a ``steam`` category that is *not* smoke. Eight synthetic scenes from
the ``test`` split (128 px): the ``train`` and ``test`` frames are cut to 16:9 (128x72 JPEG, the
shape of real 1920x1080 frames), ``valid`` keeps square PNGs. Smoke pixels whose rendered opacity
is at least :data:`HIGH_OPACITY` are high-opacity smoke, the rest low-opacity; the generator's
clouds and haze are written as ``steam``. One ``valid`` image is written as compressed RLE, one
``test`` image as uncompressed RLE, everything else as polygons (:func:`save_coco`), and two clean
images have no annotation at all.

Deterministic: the same library version writes the same bytes. Run from the repository root::

    .venv/bin/python scripts/make_coco_sample.py
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from wsss_lib.data import GENERATOR_VERSION, SmokeScenes, make_split, render_scene
from wsss_lib.data.coco import ANNOTATIONS_FILE, save_coco
from wsss_lib.utils import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SIZE = 128
WIDE = (72, 128)  # (H, W): 16:9
SEED = 0
#: Rendered smoke opacity from which a pixel counts as high-opacity smoke.
HIGH_OPACITY = 0.5
OPACITY_CLASSES = ["none", "smoke-low-opacity", "smoke-high-opacity"]
SPLITS = ("train", "valid", "test")


def opacity_classes(scenes: SmokeScenes) -> np.ndarray:
    """``uint8 [N, H, W]``: 0 none, 1 low-opacity, 2 high-opacity smoke (from the render)."""
    maps = np.zeros(scenes.smoke_masks.shape, dtype=np.uint8)
    for i, params in enumerate(scenes.params):
        alpha = render_scene(params).smoke_alpha
        maps[i][scenes.smoke_masks[i]] = 1
        maps[i][scenes.smoke_masks[i] & (alpha >= HIGH_OPACITY)] = 2
    return maps


def crop_rows(scenes: SmokeScenes, maps: np.ndarray, height: int) -> tuple[SmokeScenes, np.ndarray]:
    """Cut each scene to ``height`` rows centred on its smoke (or on the image when clean)."""
    n, size = len(scenes), scenes.image_size[0]
    tops = []
    for i in range(n):
        rows = np.flatnonzero(scenes.smoke_masks[i].any(axis=1))
        centre = (rows[0] + rows[-1]) // 2 if rows.size else size // 2
        tops.append(int(np.clip(centre - height // 2, 0, size - height)))
    cut = [slice(top, top + height) for top in tops]
    cropped = SmokeScenes(
        images=np.stack([scenes.images[i, c] for i, c in enumerate(cut)]),
        labels=scenes.labels,
        smoke_masks=np.stack([scenes.smoke_masks[i, c] for i, c in enumerate(cut)]),
        distractor_masks=np.stack([scenes.distractor_masks[i, c] for i, c in enumerate(cut)]),
        names=scenes.names,
    )
    return cropped, np.stack([maps[i, c] for i, c in enumerate(cut)])


def with_opacity(scenes: SmokeScenes, maps: np.ndarray, names: list[str]) -> SmokeScenes:
    return SmokeScenes(
        images=scenes.images,
        labels=scenes.labels,
        smoke_masks=scenes.smoke_masks,
        distractor_masks=scenes.distractor_masks,
        names=names,
        meta={"opacity_classes": OPACITY_CLASSES},
        opacity_maps=maps,
    )


def pick(scenes: SmokeScenes, maps: np.ndarray) -> dict[str, list[int]]:
    """Pool indices per role (after cropping, so every smoke scene keeps both classes or not)."""
    n = len(scenes)
    flat = maps.reshape(n, -1)
    both = np.flatnonzero((flat == 1).any(1) & (flat == 2).any(1) & ((flat == 2).sum(1) > 40))
    low_only = np.flatnonzero((flat == 1).any(1) & ~(flat == 2).any(1))
    clean = scenes.labels == 0
    steam = np.flatnonzero(clean & scenes.distractor_masks.reshape(n, -1).any(1))
    bare = np.flatnonzero(clean & ~scenes.distractor_masks.reshape(n, -1).any(1))
    if len(both) < 3 or len(steam) < 2 or len(bare) < 2:
        raise ValueError("The pool has too few scenes of some kind; enlarge it.")
    smoke_second = low_only[0] if low_only.size else both[3]
    return {
        "train": [int(both[0]), int(smoke_second), int(steam[0]), int(bare[0])],
        "valid": [int(both[1]), int(steam[1])],
        "test": [int(both[2]), int(bare[1])],
    }


def readme_text(counts: dict[str, tuple[int, int]]) -> str:
    rows = "\n".join(f"| `{s}/` | {a} | {b} |" for s, (a, b) in counts.items())
    return f"""# data_samples/coco — a tiny COCO-segmentation export

Written by `scripts/make_coco_sample.py` from synthetic scenes (`test` split, seed {SEED},
generator `{GENERATOR_VERSION}`) in the layout of Roboflow's IJmond-SEG export: one folder per
split, each with its images and `{ANNOTATIONS_FILE}`.

| split | smoke images | clean images |
|---|---|---|
{rows}

- `train/` and `test/`: 16:9 JPEG frames (128x72); `valid/`: square PNGs (128x128).
- Categories: `smoke-low-opacity`, `smoke-high-opacity` (both smoke) and `steam` (not smoke).
- Polygons everywhere except one compressed-RLE image in `valid/` and one uncompressed-RLE
  image in `test/`; clean images carry only `steam` annotations or none at all.

```python
from wsss_lib.data import load_coco
train = load_coco("data_samples/coco", split="train", image_size=64)          # pad: 16:9 kept
opacity = load_coco("data_samples/coco", "train", keep_opacity=True)          # 0/1/2 per pixel
```

Regenerate (deterministic) with `python scripts/make_coco_sample.py`.
"""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "data_samples" / "coco")
    args = parser.parse_args(argv)
    out: Path = args.out

    pool = make_split("test", image_size=SIZE, n_images=64, seed=SEED)
    maps = opacity_classes(pool)
    wide, wide_maps = crop_rows(pool, maps, WIDE[0])
    roles = pick(wide, wide_maps)
    counts = {}
    for split in SPLITS:
        shutil.rmtree(out / split, ignore_errors=True)
        square = split == "valid"
        source, source_maps = (pool, maps) if square else (wide, wide_maps)
        idx = roles[split]
        names = [f"frame_{i:03d}" for i in idx]
        scenes = with_opacity(source.subset(idx), source_maps[idx], names)
        encodings = {"valid": {names[0]: "rle"}, "test": {names[0]: "rle-uncompressed"}}
        save_coco(
            scenes,
            out / split,
            extra_masks={"steam": scenes.distractor_masks},
            encodings=encodings.get(split),
            image_format="png" if square else "jpg",
        )
        counts[split] = (int(scenes.labels.sum()), int(len(scenes) - scenes.labels.sum()))
    atomic_write_text(out / "README.md", readme_text(counts))
    return out


if __name__ == "__main__":
    print(f"wrote {main()}")
