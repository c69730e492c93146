"""Datasets: the synthetic smoke-and-chimney benchmark, user image folders and COCO exports,
aspect-preserving resizing, torch wrappers.

Every dataset is a :class:`SmokeScenes` (``uint8`` images, 0/1 labels, optional ``bool`` masks).

>>> from wsss_lib.data import load_split, to_tensor_batch
>>> train = load_split("train", image_size=96)          # cached under $WSSS_CACHE/datasets
>>> x = to_tensor_batch(train.images[:8])               # float [8, 3, 96, 96], normalised
"""

from .coco import load_coco, save_coco
from .folder import load_folder, save_folder
from .resize import (
    PAD_VALUE,
    RESIZE_MODES,
    ResizeGeometry,
    cam_to_original,
    cams_to_original,
    plan_resize,
    resize_image,
    resize_mask,
    scene_geometry,
    valid_masks,
    valid_region,
)
from .scenes import SmokeScenes
from .splits import (
    DEFAULT_PRESET,
    SCENE_PRESETS,
    SPLITS,
    dataset_cache_path,
    load_split,
    make_split,
    split_config,
    split_seed,
)
from .synthetic import (
    GENERATOR_VERSION,
    MASK_ALPHA_THRESHOLD,
    RenderedScene,
    SceneConfig,
    generate_scenes,
    render_scene,
    sample_scene_params,
)
from .torch_data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SmokeDataset,
    augment_batch,
    denormalize,
    iterate_batches,
    normalize,
    to_tensor_batch,
)

__all__ = [
    "GENERATOR_VERSION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MASK_ALPHA_THRESHOLD",
    "DEFAULT_PRESET",
    "SCENE_PRESETS",
    "SPLITS",
    "RenderedScene",
    "SceneConfig",
    "SmokeDataset",
    "SmokeScenes",
    "augment_batch",
    "dataset_cache_path",
    "denormalize",
    "generate_scenes",
    "iterate_batches",
    "load_folder",
    "load_split",
    "make_split",
    "normalize",
    "render_scene",
    "sample_scene_params",
    "save_folder",
    "split_config",
    "split_seed",
    "to_tensor_batch",
    "load_coco",
    "save_coco",
    "PAD_VALUE",
    "RESIZE_MODES",
    "ResizeGeometry",
    "cam_to_original",
    "cams_to_original",
    "plan_resize",
    "resize_image",
    "resize_mask",
    "scene_geometry",
    "valid_masks",
    "valid_region",
]
