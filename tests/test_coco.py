"""COCO exports: load_coco / save_coco, the committed sample, opacity classes, resizing and the
inverse mapping to the original resolution. Bad inputs are in test_reliability_coco.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from wsss_lib.data import make_split
from wsss_lib.data.coco import (
    ANNOTATIONS_FILE,
    _rasterise,
    load_coco,
    mask_to_polygons,
    save_coco,
)
from wsss_lib.data.folder import load_folder, save_folder
from wsss_lib.data.resize import (
    PAD_VALUE,
    cam_to_original,
    cams_to_original,
    plan_resize,
    resize_mask,
    scene_geometry,
    valid_masks,
)
from wsss_lib.data.scenes import SmokeScenes

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data_samples" / "coco"

#: Stated round-trip tolerance of folder -> COCO -> folder: per smoke mask IoU at least this,
#: and every differing pixel on the mask's boundary. (Measured: 1.0, pixel-exact; asserted too.)
ROUND_TRIP_MIN_IOU = 0.95

CATEGORIES = [
    {"id": 0, "name": "smoke-plumes", "supercategory": "none"},  # Roboflow's group category
    {"id": 1, "name": "Smoke-High-Opacity", "supercategory": "smoke-plumes"},
    {"id": 2, "name": "smoke-low-opacity", "supercategory": "smoke-plumes"},
    {"id": 3, "name": "steam", "supercategory": "smoke-plumes"},
]


def write_export(
    folder: Path, images: dict[str, np.ndarray], annotations: list[dict], categories=CATEGORIES
) -> Path:
    """A split folder: the images (by file name) and an annotations file listing them."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (name, pixels) in enumerate(images.items()):
        Image.fromarray(pixels).save(folder / name, quality=95)
        entries.append({"id": i, "file_name": name, "height": pixels.shape[0],
                        "width": pixels.shape[1]})
    anns = [{"id": k, "iscrowd": 0, **a} for k, a in enumerate(annotations)]
    data = {"images": entries, "categories": categories, "annotations": anns}
    (folder / ANNOTATIONS_FILE).write_text(json.dumps(data))
    return folder


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def grey(h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), 90, np.uint8)


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` or its complement that have a 4-neighbour of the other kind."""
    padded = np.pad(mask, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    return (
        (padded[:-2, 1:-1] != centre)
        | (padded[2:, 1:-1] != centre)
        | (padded[1:-1, :-2] != centre)
        | (padded[1:-1, 2:] != centre)
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


@pytest.fixture(scope="module")
def scenes() -> SmokeScenes:
    return make_split("test", image_size=64, n_images=16)


# ------------------------------------------------------------------------------ round trip


def test_round_trip_folder_to_coco_to_folder(scenes, tmp_path):
    first = load_folder(save_folder(scenes, tmp_path / "folder"))
    save_coco(first, tmp_path / "coco", extra_masks={"steam": first.distractor_masks})
    via_coco = load_coco(tmp_path / "coco")
    back = load_folder(save_folder(via_coco, tmp_path / "folder2"))

    np.testing.assert_array_equal(back.images, scenes.images)
    np.testing.assert_array_equal(back.labels, scenes.labels)
    assert back.names == scenes.names
    ious = []
    for before, after in zip(scenes.smoke_masks, back.smoke_masks, strict=True):
        ious.append(iou(before, after))
        assert not ((before ^ after) & ~boundary(before)).any()  # boundary-only differences
    assert min(ious) >= ROUND_TRIP_MIN_IOU
    assert ious == [1.0] * len(ious)  # measured: the edge-traced polygons are pixel-exact


def test_written_polygons_are_polygons_and_clean_images_have_no_smoke(scenes, tmp_path):
    save_coco(scenes, tmp_path)
    data = json.loads((tmp_path / ANNOTATIONS_FILE).read_text())
    assert [c["name"] for c in data["categories"]] == ["smoke"]
    annotated = {a["image_id"] for a in data["annotations"]}
    assert annotated == set(np.flatnonzero(scenes.labels == 1).tolist())
    assert all(isinstance(a["segmentation"], list) for a in data["annotations"])
    assert all(a["iscrowd"] == 0 and a["area"] > 0 for a in data["annotations"])


def test_folder_and_coco_loaders_resize_identically(scenes, tmp_path):
    wide = SmokeScenes(
        images=np.concatenate([scenes.images[:4], scenes.images[:4]], axis=2)[:, 8:44],
        labels=scenes.labels[:4],
        smoke_masks=np.concatenate([scenes.smoke_masks[:4]] * 2, axis=2)[:, 8:44],
        names=scenes.names[:4],
    )  # 128x36: far from square
    wide.labels[:] = wide.smoke_masks.reshape(4, -1).any(axis=1)
    save_folder(wide, tmp_path / "folder")
    save_coco(wide, tmp_path / "coco")
    for mode in ("pad", "crop", "squash"):
        a = load_folder(tmp_path / "folder", image_size=24, resize=mode)
        b = load_coco(tmp_path / "coco", image_size=24, resize=mode)
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.smoke_masks, b.smoke_masks)
        assert [p["resize_box"] for p in a.params] == [p["resize_box"] for p in b.params]
        assert a.meta["resize"] == b.meta["resize"] == mode


# ------------------------------------------------------------------------------ the sample


def test_committed_sample_export_loads_as_documented():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 300_000
    train = load_coco(SAMPLE, split="train", keep_opacity=True)
    assert train.images.shape == (4, 72, 128, 3)  # 16:9 frames
    assert train.labels.tolist() == [1, 1, 0, 0]
    assert train.meta["smoke_categories"] == ["smoke-low-opacity", "smoke-high-opacity"]
    assert train.meta["opacity_classes"] == ["none", "smoke-low-opacity", "smoke-high-opacity"]
    assert ((train.opacity_maps > 0) == train.smoke_masks).all()
    assert (train.opacity_maps[0] == 2).any() and (train.opacity_maps[0] == 1).any()
    assert not train.smoke_masks[2:].any()

    data = json.loads((SAMPLE / "train" / ANNOTATIONS_FILE).read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    per_image = {i: {names[a["category_id"]] for a in data["annotations"] if a["image_id"] == i}
                 for i in range(4)}
    assert per_image[2] == {"steam"}  # steam only: clean
    assert per_image[3] == set()  # no annotation at all: clean
    assert all(isinstance(a["segmentation"], list) for a in data["annotations"])  # polygons
    assert Image.open(SAMPLE / "train" / data["images"][0]["file_name"]).format == "JPEG"

    valid = load_coco(SAMPLE, split="val")  # "val" finds Roboflow's valid/
    assert valid.images.shape == (2, 128, 128, 3) and valid.labels.tolist() == [1, 0]
    test = load_coco(SAMPLE / "test")  # a split folder itself
    assert test.labels.tolist() == [1, 0] and test.smoke_masks[0].sum() > 100
    rle_kinds = set()
    for split in ("valid", "test"):
        for ann in json.loads((SAMPLE / split / ANNOTATIONS_FILE).read_text())["annotations"]:
            if isinstance(ann["segmentation"], dict):
                rle_kinds.add(type(ann["segmentation"]["counts"]).__name__)
    assert rle_kinds == {"str", "list"}  # compressed and uncompressed RLE


# ------------------------------------------------------------------------------ RLE, categories


def test_polygon_compressed_and_uncompressed_rle_decode_identically(scenes, tmp_path):
    smoke = scenes.subset(np.flatnonzero(scenes.labels == 1)[:3])
    loaded = []
    for encoding in ("polygon", "rle", "rle-uncompressed"):
        folder = tmp_path / encoding
        save_coco(smoke, folder, encodings={name: encoding for name in smoke.names})
        segs = [a["segmentation"] for a in json.loads((folder / ANNOTATIONS_FILE).read_text())[
            "annotations"]]
        expected = {"polygon": list, "rle": dict, "rle-uncompressed": dict}[encoding]
        assert all(isinstance(s, expected) for s in segs)
        loaded.append(load_coco(folder).smoke_masks)
    np.testing.assert_array_equal(loaded[0], smoke.smoke_masks)
    np.testing.assert_array_equal(loaded[1], smoke.smoke_masks)
    np.testing.assert_array_equal(loaded[2], smoke.smoke_masks)


def test_hand_written_rle_of_both_kinds(tmp_path):
    mask = np.zeros((6, 5), bool)
    mask[1:3, 2:4] = True  # column-major runs: 13 zeros, 2 ones, 4 zeros, 2 ones, 9 zeros
    counts = [13, 2, 4, 2, 9]
    annotations = [
        {"image_id": 0, "category_id": 2, "iscrowd": 1,
         "segmentation": {"size": [6, 5], "counts": counts}},
        {"image_id": 1, "category_id": 2, "iscrowd": 1,
         "segmentation": {"size": [6, 5], "counts": "=2405"}},  # pycocotools' string
    ]
    root = write_export(tmp_path, {"a.png": grey(6, 5), "b.png": grey(6, 5)}, annotations)
    scenes = load_coco(root)
    np.testing.assert_array_equal(scenes.smoke_masks[0], mask)
    np.testing.assert_array_equal(scenes.smoke_masks[1], mask)


def _category_export(tmp_path: Path) -> Path:
    """a: steam only; b: high over low (overlap at columns 4..5); c: nothing."""
    annotations = [
        {"image_id": 0, "category_id": 3, "segmentation": square(1, 1, 7, 5)},
        {"image_id": 1, "category_id": 1, "segmentation": square(0, 0, 6, 4)},  # high, first
        {"image_id": 1, "category_id": 2, "segmentation": square(4, 0, 10, 4)},  # low
    ]
    images = {"a.png": grey(8, 10), "b.png": grey(8, 10), "c.png": grey(8, 10)}
    return write_export(tmp_path, images, annotations)


def test_default_smoke_categories_exclude_steam_and_the_group_category(tmp_path):
    scenes = load_coco(_category_export(tmp_path))
    assert scenes.labels.tolist() == [0, 1, 0]  # steam is not smoke
    assert scenes.meta["smoke_categories"] == ["smoke-low-opacity", "Smoke-High-Opacity"]
    assert scenes.smoke_masks[1].sum() == 40 and not scenes.smoke_masks[0].any()
    assert scenes.opacity_maps is None
    assert load_coco(tmp_path, smoke_categories=["STEAM"]).labels.tolist() == [1, 0, 0]
    assert load_coco(tmp_path, smoke_categories=3).labels.tolist() == [1, 0, 0]
    both = load_coco(tmp_path, smoke_categories=["steam", 2])
    assert both.labels.tolist() == [1, 1, 0] and both.smoke_masks[1].sum() == 24


def test_opacity_map_densest_wins_where_instances_overlap(tmp_path):
    root = _category_export(tmp_path)
    scenes = load_coco(root, keep_opacity=True)
    assert scenes.meta["opacity_classes"] == ["none", "smoke-low-opacity", "Smoke-High-Opacity"]
    opacity = scenes.opacity_maps[1]
    assert opacity.dtype == np.uint8 and opacity.shape == (8, 10)
    assert (opacity[:4, :4] == 2).all() and (opacity[:4, 4:6] == 2).all()  # overlap: high
    assert (opacity[:4, 6:10] == 1).all() and not opacity[4:].any()
    assert ((scenes.opacity_maps > 0) == scenes.smoke_masks).all()
    # With smoke_categories the caller's order is the density order (thinnest first).
    reversed_order = load_coco(root, smoke_categories=[1, 2], keep_opacity=True).opacity_maps[1]
    assert (reversed_order[:4, 4:6] == 2).all() and (reversed_order[:4, :4] == 1).all()
    # Resizing keeps the classes (nearest neighbour), padding is class 0.
    small = load_coco(root, keep_opacity=True, image_size=5).opacity_maps[1]
    assert set(np.unique(small).tolist()) <= {0, 1, 2} and not small[4].any()


def test_opacity_maps_survive_save_load_subset_and_change_the_fingerprint(tmp_path):
    scenes = load_coco(SAMPLE, "train", keep_opacity=True)
    loaded = SmokeScenes.load(scenes.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(loaded.opacity_maps, scenes.opacity_maps)
    assert loaded.meta == scenes.meta and loaded.fingerprint() == scenes.fingerprint()
    part = scenes.subset([1, 0])
    np.testing.assert_array_equal(part.opacity_maps[0], scenes.opacity_maps[1])
    plain = load_coco(SAMPLE, "train")
    assert plain.fingerprint() != scenes.fingerprint()
    # Without opacity maps the fingerprint is the one it always was (cache keys stay valid).
    digest = __import__("hashlib").sha256()
    for name in ("images", "labels", "smoke_masks", "chimney_masks", "distractor_masks"):
        array = getattr(plain, name)
        if array is None:
            digest.update(f"{name}:none;".encode())
            continue
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    assert plain.fingerprint() == digest.hexdigest()
    with pytest.raises(ValueError, match=r"opacity_maps must be an integer class map"):
        SmokeScenes(plain.images, plain.labels, opacity_maps=plain.smoke_masks)


# ------------------------------------------------------------------------------ resizing


def test_load_coco_pads_a_16_9_frame_and_the_mask_follows(tmp_path):
    image = np.zeros((18, 32, 3), np.uint8)
    image[:, 16:] = (0, 0, 255)
    annotations = [{"image_id": 0, "category_id": 2, "segmentation": square(24, 6, 28, 10)}]
    root = write_export(tmp_path, {"frame.png": image}, annotations)
    scenes = load_coco(root, image_size=16)  # scale 0.5: 16x9 content at rows 3..11
    assert scenes.params[0]["resize_box"] == [3, 0, 9, 16]
    assert np.argwhere(scenes.smoke_masks[0]).tolist() == [[6, 12], [6, 13], [7, 12], [7, 13]]
    assert scenes.images[0, 6, 12].tolist() == [0, 0, 255]
    assert scenes.images[0, 0, 0].tolist() == list(PAD_VALUE)
    assert valid_masks(scenes)[0].sum() == 9 * 16
    cropped = load_coco(root, image_size=16, resize="crop")  # centre columns 7..24 at scale 8/9
    assert cropped.params[0]["resize_box"] == [0, -6, 16, 28]
    assert cropped.smoke_masks[0].any() and not cropped.smoke_masks[0, :, :10].any()
    with pytest.raises(ValueError, match="is not a resize mode"):
        load_coco(root, image_size=16, resize="fit")


def test_plan_resize_boxes():
    assert plan_resize((1080, 1920), 512, "pad").box == (112, 0, 288, 512)
    assert plan_resize((1080, 1920), 512, "crop").box == (0, -199, 512, 910)
    assert plan_resize((1080, 1920), 512, "squash").box == (0, 0, 512, 512)
    assert plan_resize((1080, 1920), None, "pad").is_identity
    assert plan_resize((64, 64), 32, "pad").box == (0, 0, 32, 32)  # square: all modes agree
    with pytest.raises(ValueError, match="bool or uint8"):
        resize_mask(np.zeros((4, 4), np.float32), plan_resize((4, 4), 2))


def _torch_upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    tensor = torch.from_numpy(cam)[None, None]
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def test_cam_to_original_inverts_each_mode():
    rng = np.random.default_rng(0)
    cam = rng.random((16, 16)).astype(np.float32)
    squash = plan_resize((27, 48), 16, "squash")
    np.testing.assert_allclose(cam_to_original(cam, squash), _torch_upsample(cam, (27, 48)),
                               atol=1e-6)
    # pad: content rows 3..11; the padding's values never reach the original image.
    pad = plan_resize((27, 48), 16, "pad")
    assert pad.box == (3, 0, 9, 16)
    padded = np.ones((16, 16), np.float32)
    padded[3:12] = cam[3:12]
    np.testing.assert_allclose(cam_to_original(padded, pad),
                               _torch_upsample(cam[3:12].copy(), (27, 48)), atol=1e-6)
    # crop: the margins the model never saw get the fill value.
    crop = plan_resize((27, 48), 16, "crop")
    back = cam_to_original(cam, crop, fill=-1.0)
    assert back.shape == (27, 48) and back.dtype == np.float32
    # box (0, -6, 16, 28): output columns 0..15 are resized columns 6..21, i.e. original
    # columns 10..37 (centres (x + 0.5) * 28 / 48 - 0.5 - 6 within [-0.5, 15.5]).
    assert crop.box == (0, -6, 16, 28)
    assert np.flatnonzero(back[0] != -1).tolist() == list(range(10, 38))
    assert (back[:, 10:38] != -1).all()
    with pytest.raises(ValueError, match="model frame is"):
        cam_to_original(cam[:8], pad)


def test_metrics_at_the_original_resolution_upsample_the_cam(tmp_path):
    """A CAM equal to the loaded mask maps back onto the full-resolution ground truth."""
    yy, xx = np.mgrid[:90, :160]
    truth = (yy - 40) ** 2 / 20**2 + (xx - 100) ** 2 / 35**2 < 1  # an ellipse in a 16:9 frame
    polygons = mask_to_polygons(truth)
    annotations = [{"image_id": 0, "category_id": 2, "segmentation": polygons}]
    root = write_export(tmp_path, {"f.png": grey(90, 160)}, annotations)
    scenes = load_coco(root, image_size=32)
    cam = scenes.smoke_masks.astype(np.float32)  # a perfect CAM in the model's frame
    (full,) = cams_to_original(cam, scenes)
    assert full.shape == truth.shape
    assert iou(full > 0.5, truth) > 0.9  # only the 5x coarser outline differs
    assert scene_geometry(scenes, 0).original_size == (90, 160)


def test_real_looking_16_9_jpeg_with_a_coco_polygon_loads(tmp_path):
    scene = make_split("test", image_size=320, n_images=4)
    i = int(np.flatnonzero(scene.labels == 1)[0])
    rows = np.flatnonzero(scene.smoke_masks[i].any(axis=1))
    top = int(np.clip((rows[0] + rows[-1]) // 2 - 90, 0, 320 - 180))
    frame, truth = scene.images[i, top:top + 180], scene.smoke_masks[i, top:top + 180]
    # An annotator's polygon: the outline at 1/4 resolution, scaled up, with float coordinates.
    coarse = np.asarray(Image.fromarray(truth).resize((80, 45), Image.NEAREST))
    polygons = [[v * 4 + 0.25 for v in poly] for poly in mask_to_polygons(coarse)]
    annotations = [{"image_id": 0, "category_id": 1, "segmentation": polygons}]
    root = write_export(tmp_path, {"frame_0001.jpg": frame}, annotations)
    assert Image.open(root / "frame_0001.jpg").format == "JPEG"

    scenes = load_coco(root, image_size=64)
    assert scenes.labels.tolist() == [1] and scenes.images.shape == (1, 64, 64, 3)
    assert scenes.params[0]["original_size"] == [180, 320]
    assert scenes.params[0]["resize_box"] == [14, 0, 36, 64]
    assert not scenes.smoke_masks[0, :14].any() and not scenes.smoke_masks[0, 50:].any()
    expected = resize_mask(truth, scene_geometry(scenes, 0))
    assert iou(scenes.smoke_masks[0], expected) > 0.8
    (back,) = cams_to_original(scenes.smoke_masks.astype(np.float32), scenes)
    assert iou(back > 0.5, truth) > 0.7


# ------------------------------------------------------------------------------ polygons


def test_mask_to_polygons_is_exact_without_holes_and_fills_holes():
    rng = np.random.default_rng(3)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 20, 2))
        mask = rng.random((h, w)) > rng.uniform(0.2, 0.8)
        polygons = mask_to_polygons(mask)
        if not polygons:
            assert not mask.any()
            continue
        drawn = _rasterise(polygons, h, w)
        assert (drawn >= mask).all()  # every mask pixel, and extra pixels only inside holes
        outside = ~drawn
        assert not (outside & mask).any()
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6] = True
    ring[3, 3] = False
    assert mask_to_polygons(ring) == [[1.0, 1.0, 6.0, 1.0, 6.0, 6.0, 1.0, 6.0]]


def test_save_coco_writes_a_region_with_a_hole_as_rle_and_reloads_it_exactly(tmp_path):
    ring = np.zeros((1, 9, 9), bool)
    ring[0, 1:8, 1:8] = True
    ring[0, 3:6, 3:6] = False
    scenes = SmokeScenes(np.zeros((1, 9, 9, 3), np.uint8), [1], smoke_masks=ring, names=["ring"])
    save_coco(scenes, tmp_path)
    (ann,) = json.loads((tmp_path / ANNOTATIONS_FILE).read_text())["annotations"]
    assert isinstance(ann["segmentation"], dict) and ann["iscrowd"] == 1
    np.testing.assert_array_equal(load_coco(tmp_path).smoke_masks, ring)


def test_save_coco_refuses_inconsistent_scenes(scenes, tmp_path):
    smoke = int(np.flatnonzero(scenes.labels == 1)[0])
    broken = scenes.subset([smoke])
    broken.smoke_masks[:] = False
    with pytest.raises(ValueError, match=r"labelled 1 but its smoke mask is empty"):
        save_coco(broken, tmp_path / "a")
    with pytest.raises(ValueError, match="needs scenes with smoke_masks"):
        save_coco(SmokeScenes(scenes.images, scenes.labels), tmp_path / "b")
    with pytest.raises(ValueError, match="Unknown encodings"):
        save_coco(scenes, tmp_path / "c", encodings={scenes.names[0]: "bitmap"})
    save_coco(scenes, tmp_path / "d")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_coco(scenes, tmp_path / "d")


def test_frames_of_different_sizes_need_image_size(tmp_path):
    annotations = [{"image_id": 1, "category_id": 2, "segmentation": square(2, 2, 6, 6)}]
    root = write_export(tmp_path, {"a.png": grey(9, 16), "b.png": grey(12, 12)}, annotations)
    with pytest.raises(ValueError, match=r"different sizes, e\.g\. a\.png is 16x9 and b\.png is "
                       r"12x12 \(WxH\)\. Pass image_size="):
        load_coco(root)
    scenes = load_coco(root / ANNOTATIONS_FILE, image_size=8)  # the file itself works too
    assert scenes.images.shape == (2, 8, 8, 3) and scenes.labels.tolist() == [0, 1]
    assert [p["resize_box"] for p in scenes.params] == [[1, 0, 5, 8], [0, 0, 8, 8]]  # 4.5 rounds up
    assert [p["original_size"] for p in scenes.params] == [[9, 16], [12, 12]]
    cams = cams_to_original(np.zeros((2, 8, 8), np.float32), scenes)
    assert [c.shape for c in cams] == [(9, 16), (12, 12)]
