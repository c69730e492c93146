"""Issue 21: real data comes in mixed sizes. A folder and a COCO export whose images differ in size
(made here from data_samples/ at several sizes) go through the README commands
``wsss train`` -> ``wsss evaluate`` -> ``wsss pseudo-masks`` with exit 0, masks at every image's
original size, per-image and pooled IoU, and every metric beside its trivial baseline.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from wsss_lib import cli
from wsss_lib.data.coco import load_coco_truth
from wsss_lib.data.folder import load_folder_truth
from wsss_lib.metrics import evaluate_cams
from wsss_lib.pseudo_masks import metrics_at_original_size, trivial_baselines
from wsss_lib.runs import list_runs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
#: (width, height) of the copies: landscape, wide 16:9-ish, square.
SIZES = [(48, 40), (96, 54), (64, 64)]
N_IMAGES = 12


def _sample_rows() -> list[tuple[str, str]]:
    with open(SAMPLES / "labels.csv", newline="") as handle:
        rows = [(r["file"], r["label"]) for r in csv.DictReader(handle)]
    smoke = [r for r in rows if r[1] == "smoke"][: N_IMAGES // 2]
    clean = [r for r in rows if r[1] == "clean"][: N_IMAGES // 2]
    return [row for pair in zip(smoke, clean, strict=True) for row in pair]


def _resized(file: str, size: tuple[int, int]) -> tuple[Image.Image, np.ndarray]:
    stem = Path(file).stem
    with Image.open(SAMPLES / file) as img:
        image = img.convert("RGB").resize(size, Image.BILINEAR)
    mask_path = SAMPLES / "masks" / f"{stem}.png"
    if mask_path.is_file():
        with Image.open(mask_path) as m:
            mask = np.asarray(m.convert("L").resize(size, Image.NEAREST)) > 0
    else:
        mask = np.zeros((size[1], size[0]), dtype=bool)
    return image, mask


def make_mixed_folder(root: Path) -> Path:
    """labels.csv + images/ + masks/ with images of three sizes."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    lines = ["file,label"]
    for k, (file, label) in enumerate(_sample_rows()):
        image, mask = _resized(file, SIZES[k % len(SIZES)])
        name = f"img_{k:02d}"
        image.save(root / "images" / f"{name}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"{name}.png")
        lines.append(f"images/{name}.png,{label}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def write_coco_split(folder: Path, items: list[tuple[str, Image.Image, np.ndarray]],
                     categories: list[dict] | None = None, category_id: int = 1) -> None:
    """One split folder: PNGs and _annotations.coco.json with one RLE per smoke mask."""
    folder.mkdir(parents=True)
    images, annotations = [], []
    for k, (name, image, mask) in enumerate(items):
        image.save(folder / f"{name}.png")
        images.append({"id": k, "file_name": f"{name}.png", "width": image.size[0],
                       "height": image.size[1]})
        if mask.any():
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            annotations.append({"id": len(annotations), "image_id": k,
                                "category_id": category_id, "iscrowd": 0,
                                "area": float(mask.sum()), "bbox": [0, 0, 1, 1],
                                "segmentation": {"size": list(mask.shape),
                                                 "counts": rle["counts"].decode()}})
    categories = categories or [{"id": 1, "name": "smoke", "supercategory": "none"}]
    (folder / "_annotations.coco.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}))


def make_mixed_coco(root: Path, **kwargs) -> Path:
    """train/ (8 images), valid/ (2), test/ (2) of three sizes."""
    items = []
    for k, (file, _label) in enumerate(_sample_rows()):
        image, mask = _resized(file, SIZES[k % len(SIZES)])
        items.append((f"frame_{k:02d}", image, mask))
    write_coco_split(root / "train", items[:8], **kwargs)
    write_coco_split(root / "valid", items[8:10], **kwargs)
    write_coco_split(root / "test", items[10:], **kwargs)
    return root


def run_cli(argv: list, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_key(out: str) -> str:
    match = re.search(r"^Run: (\S+)$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


# ---------------------------------------------------------------------------- end to end


def test_mixed_size_folder_goes_train_evaluate_pseudo_masks(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture
) -> None:
    data = make_mixed_folder(tmp_path / "data")
    code, out, err = run_cli(["train", "--profile", "quick", "--data", data, "--cache-dir", cache,
                              "--quiet"], capsys)
    assert code == 0, err
    assert "12 images (6 smoke, 6 clean, with masks, 3 original sizes" in out
    assert "Validation: none" in out  # said, not silent
    key = run_key(out)
    evaluate_line = next(line.strip() for line in out.splitlines()
                         if line.strip().startswith("wsss evaluate"))
    assert evaluate_line == f"wsss evaluate {key} --data {data}"

    code, out, err = run_cli(["evaluate", key, "--data", data, "--cache-dir", cache, "--quiet"],
                             capsys)
    assert code == 0, err
    assert "resolution original" in out
    assert "smoke IoU (per image; paper mIoU)" in out and "smoke IoU (pooled pixels)" in out
    assert "(baseline: always smoke 50.00 %, always clean 50.00 %)" in out
    assert "(baseline: whole image smoke" in out
    written = Path(re.search(r"^Metrics: (.+)$", out, re.MULTILINE).group(1))
    assert written.parent == Path(cache) / "runs" / key / "evaluations"  # not the current folder
    metrics = json.loads(written.read_text())["metrics"]
    assert metrics["resolution"] == "original" and metrics["n_images"] == 12
    for name in ("smoke_iou", "miou_dataset", "iou_smoke_dataset", "precision", "recall"):
        assert isinstance(metrics[name], float) and 0.0 <= metrics[name] <= 1.0, name
    assert metrics["baselines"]["accuracy_always_smoke"] == pytest.approx(0.5)
    truth = load_folder_truth(data)
    fractions = [m.mean() for m, label in zip(truth.smoke_masks, [1, 0] * 6, strict=True)
                 if label]
    assert metrics["baselines"]["smoke_iou_whole_image"] == pytest.approx(np.mean(fractions))

    masks = tmp_path / "masks"
    code, out, err = run_cli(["pseudo-masks", "--run", key, "--data", data, "--out", masks,
                              "--cache-dir", cache, "--quiet"], capsys)
    assert code == 0, err
    assert "12 masks written" in out and "size: original" in out
    assert "smoke IoU (per image, 6 smoke images)" in out and "smoke IoU (pooled pixels)" in out
    for k in range(12):
        with Image.open(masks / f"img_{k:02d}.png") as img:
            assert img.size == SIZES[k % len(SIZES)]
    manifest = json.loads((masks / "manifest.json").read_text())
    # the PNGs score exactly what the evaluation scored at the original size
    assert manifest["metrics"]["smoke_iou"] == pytest.approx(metrics["smoke_iou"])
    assert manifest["metrics"]["iou_smoke_dataset"] == pytest.approx(metrics["iou_smoke_dataset"])

    code, out, _ = run_cli(["runs", "--cache-dir", cache], capsys)
    assert code == 0 and f"trained on folder {data}: 12 images (6 smoke)" in out
    info = next(r for r in list_runs(cache) if r.key == key)
    assert info.data["format"] == "folder" and len(info.data["fingerprint"]) == 64


def test_mixed_size_coco_export_goes_train_evaluate_pseudo_masks(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture
) -> None:
    export = make_mixed_coco(tmp_path / "export")
    code, out, err = run_cli(["train", "--profile", "quick", "--coco", export, "--cache-dir",
                              cache, "--quiet"], capsys)
    assert code == 0, err
    assert "Validation data: coco" in out and "split valid" in out
    key = run_key(out)

    code, out, err = run_cli(["evaluate", key, "--coco", export, "--cache-dir", cache,
                              "--quiet"], capsys)  # the README command: test/ split
    assert code == 0, err
    assert "resolution original" in out and "2 images (1 smoke)" in out
    assert "always smoke 50.00 %" in out
    document = json.loads(Path(re.search(r"^Metrics: (.+)$", out, re.M).group(1)).read_text())
    assert document["data"]["split"] == "test"
    assert not math.isnan(document["metrics"]["iou_smoke_dataset"])

    masks = tmp_path / "pm"
    code, out, err = run_cli(["pseudo-masks", "--run", key, "--coco", export, "--out", masks,
                              "--cache-dir", cache, "--quiet"], capsys)
    assert code == 0, err
    assert "8 masks written" in out and "smoke IoU (pooled pixels)" in out
    for k in range(8):
        with Image.open(masks / f"frame_{k:02d}.png") as img:
            assert img.size == SIZES[k % len(SIZES)]

    code, out, _ = run_cli(["runs", "--cache-dir", cache], capsys)
    assert f"trained on coco {export} split train: 8 images (4 smoke)" in out


# ---------------------------------------------------------------------------- the library


def test_metrics_at_original_size_equal_evaluate_cams_on_one_size() -> None:
    rng = np.random.default_rng(0)
    cams = rng.random((5, 12, 10)).astype(np.float32)
    gts = rng.random((5, 12, 10)) > 0.6
    gts[3] = False
    labels = np.array([1, 1, 0, 0, 1])
    gts[2] = False
    expected = evaluate_cams(cams, gts, labels=labels, threshold=0.4)
    got = metrics_at_original_size(list(cams), list(gts), labels, 0.4)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, nan_ok=True), key


def test_metrics_at_original_size_pool_pixels_over_images_of_different_sizes() -> None:
    a, b = np.zeros((2, 4), np.float32), np.zeros((3, 3), np.float32)
    a[0, :2] = 1.0  # predicts 2 pixels
    b[:, 0] = 1.0  # predicts 3 pixels
    gt_a, gt_b = np.zeros((2, 4), bool), np.zeros((3, 3), bool)
    gt_a[0, :1] = True  # 1 of the 2 predicted
    gt_b[:, :2] = True  # 3 of 6
    result = metrics_at_original_size([a, b], [gt_a, gt_b], [1, 1], 0.5)
    assert result["smoke_iou"] == pytest.approx((1 / 2 + 3 / 6) / 2)
    assert result["iou_smoke_dataset"] == pytest.approx((1 + 3) / (2 + 6))  # pooled
    base = trivial_baselines([1, 1], [gt_a, gt_b])
    assert base["smoke_iou_whole_image"] == pytest.approx((1 / 8 + 6 / 9) / 2)
    assert base["iou_smoke_dataset_whole_image"] == pytest.approx(7 / 17)
    assert base["recall_whole_image"] == 1.0


def test_accuracy_baseline_of_always_smoke_is_the_share_of_smoke_images() -> None:
    base = trivial_baselines([1] * 60 + [0] * 4)
    assert base["accuracy_always_smoke"] == 0.9375 and base["accuracy_always_clean"] == 0.0625


def test_truth_loaders_keep_each_image_at_its_own_size(tmp_path: Path) -> None:
    folder = load_folder_truth(make_mixed_folder(tmp_path / "f"))
    assert folder.sizes[:3] == [(40, 48), (54, 96), (64, 64)]
    coco = load_coco_truth(make_mixed_coco(tmp_path / "c"), "train")
    assert coco.names[0] == "frame_00" and coco.sizes[:3] == [(40, 48), (54, 96), (64, 64)]
    assert sum(int(m.any()) for m in coco.smoke_masks) == 4
