"""Read COCO-segmentation exports (e.g. Roboflow's IJmond-SEG) into :class:`SmokeScenes`, and
write scenes as one.

The layout Roboflow exports::

    root/
      train/_annotations.coco.json   images, annotations (polygons or RLE), categories
      train/frame_0001.jpg ...
      valid/...
      test/...

``load_coco(root, split="train")`` reads one split; ``load_coco(root / "train")`` (``split=None``)
reads a folder that itself holds ``_annotations.coco.json``. Image ``file_name`` entries are
relative to that folder (also looked up in its ``images/`` subfolder).

Labels come from the annotations: an image with at least one instance of a *smoke category* is
smoke (1) and its mask is the union of those instances; an image with none is clean (0). By default
every category whose name contains "smoke" (any case) is a smoke category, except Roboflow's
dataset-level group category (a name that other categories use as their ``supercategory``). So
"steam" never counts as smoke unless you list it in ``smoke_categories``.

**Opacity classes.** With ``keep_opacity=True`` the scenes also get ``opacity_maps``
(``uint8 [N, H, W]``): 0 = no smoke, k = the k-th smoke category, ordered from the thinnest to the
densest, named in ``meta["opacity_classes"]`` (``["none", ...]``). Where instances overlap the
densest class (the highest k) wins. The order is the order of ``smoke_categories`` when you give
it (list the thinnest first); by default names containing "low" come first, then names with
neither word, then names containing "high", ties by category id.

**Writing** (:func:`save_coco`): every class region of an image is outlined by
:func:`mask_to_polygons`, which traces pixel edges (vertices on pixel corners), so the polygons
rasterise back to exactly the same pixels with ``pycocotools``. COCO polygons cannot carry holes:
a region with a hole that a denser class does not fill is written as compressed RLE instead, so a
written export always loads back pixel-exact.

The package, one job per module: :mod:`~wsss_lib.data.coco.read` (the export's file, categories and
images -> :class:`SmokeScenes`), :mod:`~wsss_lib.data.coco.masks` (polygons / RLE <-> pixel masks)
and :mod:`~wsss_lib.data.coco.write` (:func:`save_coco`). Import from ``wsss_lib.data.coco``.
"""

from wsss_lib.data.coco.masks import (
    POLYGON_TOLERANCE_PX,
    SEGMENTATION_ENCODINGS,
    mask_to_polygons,
)
from wsss_lib.data.coco.masks import (
    _rasterise as _rasterise,
)
from wsss_lib.data.coco.read import (
    ANNOTATIONS_FILE,
    IgnoredCategoriesWarning,
    load_coco,
    load_coco_truth,
)
from wsss_lib.data.coco.write import (
    save_coco,
)

__all__ = [
    "ANNOTATIONS_FILE",
    "POLYGON_TOLERANCE_PX",
    "SEGMENTATION_ENCODINGS",
    "IgnoredCategoriesWarning",
    "load_coco",
    "load_coco_truth",
    "mask_to_polygons",
    "save_coco",
]
