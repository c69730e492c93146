"""Regenerate ``data_samples/``: a small committed sample of the synthetic benchmark.

Draws scenes from the ``test`` split (96 px), keeps an equal number of each of four kinds —
smoke with a chimney, smoke without one, a chimney without smoke, clean sky with clouds/haze (one
row of the contact sheet each) — and writes them in the folder layout
that :func:`wsss_lib.data.load_folder` reads, plus ``contact_sheet.png`` and ``README.md``.

Deterministic: the same library version writes the same bytes. Run from the repository root::

    .venv/bin/python scripts/make_data_samples.py
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from wsss_lib.data import GENERATOR_VERSION, SmokeScenes, make_split
from wsss_lib.data.folder import save_folder
from wsss_lib.plots.scenes import contact_sheet
from wsss_lib.utils import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SPLIT = "test"
IMAGE_SIZE = 96
PER_KIND = 9
SEED = 0
# Sub-folders this script owns; they are emptied first so no stale file survives a rename.
OWNED_DIRS = ("images", "masks", "chimney_masks", "distractor_masks")

KINDS = (
    "smoke with chimney",
    "smoke without chimney",
    "chimney without smoke",
    "clean with clouds/haze",
)


def scene_kinds(scenes: SmokeScenes) -> np.ndarray:
    """Index into :data:`KINDS` per scene, or -1 for scenes of none of the four kinds."""
    n = len(scenes)
    smoke = scenes.labels == 1
    chimney = scenes.chimney_masks.reshape(n, -1).any(axis=1)
    clouds = scenes.distractor_masks.reshape(n, -1).any(axis=1)
    kinds = np.full(n, -1)
    kinds[smoke & chimney] = 0
    kinds[smoke & ~chimney] = 1
    kinds[~smoke & chimney] = 2
    kinds[~smoke & ~chimney & clouds] = 3
    return kinds


def pick_samples(pool: SmokeScenes, per_kind: int = PER_KIND) -> SmokeScenes:
    """The first ``per_kind`` scenes of each kind, grouped by kind in the order of :data:`KINDS`.

    Raises:
        ValueError: the pool has too few scenes of some kind.
    """
    kinds = scene_kinds(pool)
    groups = [np.flatnonzero(kinds == k)[:per_kind] for k in range(len(KINDS))]
    short = [KINDS[k] for k, g in enumerate(groups) if len(g) < per_kind]
    if short:
        raise ValueError(f"The pool has fewer than {per_kind} scenes of: {short}; enlarge it.")
    return pool.subset(np.concatenate(groups))


def draw_pool(per_kind: int = PER_KIND) -> SmokeScenes:
    """The standard test split, enlarged (doubling) only if some kind has too few examples."""
    pool = make_split(SPLIT, image_size=IMAGE_SIZE, seed=SEED)
    while len(pool) < 8192:
        counts = np.bincount(scene_kinds(pool) + 1, minlength=len(KINDS) + 1)[1:]
        if counts.min() >= per_kind:
            break
        pool = make_split(SPLIT, image_size=IMAGE_SIZE, n_images=2 * len(pool), seed=SEED)
    return pool


def readme_text(samples: SmokeScenes) -> str:
    kinds = scene_kinds(samples)
    counts = "\n".join(f"| {name} | {int((kinds == k).sum())} |" for k, name in enumerate(KINDS))
    n_smoke = int(samples.labels.sum())
    n_clean = len(samples) - n_smoke
    return f"""# data_samples — a small sample of the synthetic smoke benchmark

{len(samples)} scenes ({n_smoke} smoke, {n_clean} clean), {IMAGE_SIZE}x{IMAGE_SIZE} px, \
from the `{SPLIT}` split (seed {SEED}, generator version `{GENERATOR_VERSION}`), in the folder \
layout that `wsss_lib.data.load_folder` reads — the same layout your own data uses.

![contact sheet](contact_sheet.png)

| kind | scenes |
|---|---|
{counts}

## Layout

```
labels.csv            header "file,label"; label is smoke / clean (also 1 / 0)
images/<name>.png     RGB image
masks/<name>.png      smoke mask: non-zero = smoke (255 here), one per image
chimney_masks/        chimney mask, same name (optional extra folder: synthetic data only)
distractor_masks/     clouds / haze mask, same name (optional extra folder: synthetic data only)
contact_sheet.png     smoke outlined in cyan, chimneys in orange, clouds/haze dashed white
```

Real data needs only `labels.csv` and the images; `masks/` is optional (without it you can train
and look at CAMs but not measure IoU). Load it with:

```python
from wsss_lib.data import load_folder
scenes = load_folder("data_samples")          # your folder: load_folder("my_data", image_size=224)
```

Regenerate everything here (deterministic) with `python scripts/make_data_samples.py`.
"""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "data_samples", help="output folder")
    args = parser.parse_args(argv)
    out: Path = args.out

    samples = pick_samples(draw_pool())
    for name in OWNED_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    save_folder(samples, out, overwrite=True)
    contact_sheet(
        samples,
        n=len(samples),
        path=out / "contact_sheet.png",
        ncols=PER_KIND,
        row_titles=KINDS,
        title=(
            f"Synthetic smoke scenes ({SPLIT} split, {IMAGE_SIZE} px): smoke outlined in cyan, "
            "chimneys in orange, clouds/haze dashed"
        ),
    )
    atomic_write_text(out / "README.md", readme_text(samples))
    size_kb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1024
    print(f"wrote {len(samples)} scenes to {out} ({size_kb:.0f} KiB)")
    return out


if __name__ == "__main__":
    main()
