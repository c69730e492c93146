"""Pseudo-masks to disk: PNG per image, manifest, scoring, resume, refusal, original-size masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsss_lib.cam import compute_cam, pseudo_masks
from wsss_lib.data import SmokeScenes, load_folder, make_split, to_tensor_batch
from wsss_lib.data.resize import cam_to_original, scene_geometry
from wsss_lib.metrics import per_image_smoke_iou
from wsss_lib.models import build_classifier
from wsss_lib.pseudo_masks import (
    MANIFEST_NAME,
    evaluate_scenes,
    export_pseudo_masks,
    masks_at_original_size,
    read_mask_png,
)
from wsss_lib.train import evaluate_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_classifier("test_vit", img_size=SIZE, patch_size=8).eval()


@pytest.fixture(scope="module")
def scenes() -> SmokeScenes:
    """Synthetic scenes: square, not resized, so masks are written at the input size."""
    return make_split("test", image_size=SIZE, n_images=6)


def _cams(model, scenes, **kwargs) -> np.ndarray:
    x = to_tensor_batch(scenes.images)
    grad = kwargs.get("method", "cam") != "cam"
    with torch.enable_grad() if grad else torch.no_grad():
        return compute_cam(model, x, **kwargs).numpy()


def test_one_png_per_image_named_after_it_equal_to_the_thresholded_cam(
    model, scenes, tmp_path: Path
) -> None:
    result = export_pseudo_masks(model, scenes, tmp_path / "out", threshold=0.3, progress=False)
    expected = pseudo_masks(torch.from_numpy(_cams(model, scenes)), 0.3).numpy()
    assert result.output_size == "input"
    assert [p.name for p in result.paths] == [f"{n}.png" for n in scenes.names]
    assert sorted(result.written) == sorted(scenes.names) and result.skipped == []
    for k, path in enumerate(result.paths):
        with Image.open(path) as img:
            assert img.mode == "L" and img.size == (SIZE, SIZE)
            values = set(np.unique(np.asarray(img)).tolist())
        assert values <= {0, 255}
        np.testing.assert_array_equal(read_mask_png(path), expected[k])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [MANIFEST_NAME, *(f"{n}.png" for n in scenes.names)]
    )  # nothing else: no temporary files left behind


def test_manifest_records_the_settings_model_and_images(model, scenes, tmp_path: Path) -> None:
    result = export_pseudo_masks(
        model, scenes, tmp_path, method="gradcam",
        layers=["blocks.-5.norm1", "blocks.-4.norm1", "blocks.-2.norm1", "blocks.-1.norm1"],
        scales=(0.5, 1.0), fusion="max", refine=("par",), threshold=0.4, progress=False,
    )  # fmt: skip
    manifest = json.loads(result.manifest_path.read_text())
    settings = manifest["settings"]
    assert settings["method"] == "gradcam"
    # Negative indices are recorded as canonical names (test_vit has 6 blocks).
    assert settings["layers"] == ["blocks.1.norm1", "blocks.2.norm1", "blocks.4.norm1",
                                  "blocks.5.norm1"]
    assert settings["scales"] == [0.5, 1.0] and settings["fusion"] == "max"
    assert settings["threshold"] == 0.4 and settings["normalize"] == "minmax"
    assert [step["name"] for step in settings["refine"]] == ["par"]
    assert isinstance(settings["refine"][0]["params"], dict)
    assert settings["input_size"] == [SIZE, SIZE] and settings["output_size"] == "input"
    assert manifest["model"]["id"].startswith("weights-")
    assert sorted(manifest["images"]) == sorted(scenes.names)
    assert manifest["metrics"] == result.metrics


def test_smoke_iou_is_the_kits_per_image_metric(model, scenes, tmp_path: Path) -> None:
    result = export_pseudo_masks(model, scenes, tmp_path, threshold=0.3, progress=False)
    written = np.stack([read_mask_png(p) for p in result.paths])
    expected = per_image_smoke_iou(written, scenes.smoke_masks, scenes.labels)
    assert result.metrics["smoke_iou"] == pytest.approx(expected)
    assert result.metrics["n_smoke_images"] == int(scenes.labels.sum())
    assert set(result.per_image_iou) == {n for n, y in zip(scenes.names, scenes.labels,
                                                           strict=True) if y == 1}


def test_export_resumes_and_skips_finished_images(model, scenes, tmp_path: Path) -> None:
    first = export_pseudo_masks(model, scenes, tmp_path, progress=False)
    missing = first.paths[2]
    missing.unlink()
    kept = first.paths[0]
    stamp = kept.stat().st_mtime_ns
    again = export_pseudo_masks(model, scenes, tmp_path, progress=False)
    assert again.written == [scenes.names[2]]
    assert sorted(again.skipped) == sorted(n for n in scenes.names if n != scenes.names[2])
    assert kept.stat().st_mtime_ns == stamp  # not rewritten
    assert again.metrics == first.metrics  # skipped masks are read back and scored too


def test_interrupted_export_leaves_whole_files_and_resumes(
    model, scenes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wsss_lib.pseudo_masks.export as pm  # where the PNG encoder lives

    real, calls = pm._mask_png, {"n": 0}

    def crash_on_third(mask):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(mask)

    monkeypatch.setattr(pm, "_mask_png", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        export_pseudo_masks(model, scenes, tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.png"))) == 2 and not list(tmp_path.glob(".*"))
    monkeypatch.setattr(pm, "_mask_png", real)
    result = export_pseudo_masks(model, scenes, tmp_path, progress=False)
    assert len(result.skipped) == 2 and len(result.written) == len(scenes) - 2
    reference = export_pseudo_masks(model, scenes, tmp_path / "ref", progress=False)
    for a, b in zip(result.paths, reference.paths, strict=True):
        np.testing.assert_array_equal(read_mask_png(a), read_mask_png(b))


def test_a_changed_image_is_redone(model, scenes, tmp_path: Path) -> None:
    export_pseudo_masks(model, scenes, tmp_path, progress=False)
    changed = scenes.subset(slice(None))
    changed.images[1] = 255 - changed.images[1]
    result = export_pseudo_masks(model, changed, tmp_path, progress=False)
    assert result.written == [scenes.names[1]]


def test_other_settings_or_foreign_files_are_refused(model, scenes, tmp_path: Path) -> None:
    export_pseudo_masks(model, scenes, tmp_path / "a", threshold=0.3, progress=False)
    with pytest.raises(ValueError, match=r"other settings.*settings\.threshold"):
        export_pseudo_masks(model, scenes, tmp_path / "a", threshold=0.5, progress=False)
    torch.manual_seed(5)
    other = build_classifier("test_vit", img_size=SIZE, patch_size=8).eval()
    with pytest.raises(ValueError, match=r"other settings.*model"):
        export_pseudo_masks(other, scenes, tmp_path / "a", threshold=0.3, progress=False)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "someone_else.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="no manifest.json"):
        export_pseudo_masks(model, scenes, tmp_path / "b", progress=False)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / MANIFEST_NAME).write_text("{broken")
    with pytest.raises(ValueError, match="unreadable"):
        export_pseudo_masks(model, scenes, tmp_path / "c", progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, "threshold must be a number in"),
        ({"method": "cam", "layers": ["blocks.-1"]}, "takes no layers"),
        ({"method": "nope"}, "Unknown CAM method"),
        ({"method": "gradcam", "layers": ["layer9"]}, "layer"),
        ({"scales": []}, "scales must be"),
        ({"refine": ["sharpen"]}, "Unknown refinement step"),
        ({"fusion": "median"}, "Unknown fusion rule"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_fail_before_anything_is_written(
    model, scenes, tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        export_pseudo_masks(model, scenes, tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_names_must_work_as_file_names(model, scenes, tmp_path: Path) -> None:
    twins = scenes.subset([0, 1])
    twins.names = ["same", "same"]
    with pytest.raises(ValueError, match="unique"):
        export_pseudo_masks(model, twins, tmp_path, progress=False)
    twins.names = ["a/b", "c"]
    with pytest.raises(ValueError, match="plain file stems"):
        export_pseudo_masks(model, twins, tmp_path, progress=False)
    with pytest.raises(ValueError, match="empty"):
        export_pseudo_masks(model, scenes.subset([]), tmp_path, progress=False)


def _wide_folder(root: Path) -> Path:
    """Two 16:9 images (one with a smoke mask) in the folder layout."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = ["file,label"]
    for k, label in enumerate(("smoke", "clean", "smoke")):
        image = rng.integers(0, 255, (54, 96, 3), dtype=np.uint8)
        mask = np.zeros((54, 96), dtype=np.uint8)
        if label == "smoke":
            mask[10:40, 30 + 10 * k:70] = 255
        Image.fromarray(image).save(root / "images" / f"frame_{k}.png")
        Image.fromarray(mask).save(root / "masks" / f"frame_{k}.png")
        rows.append(f"images/frame_{k}.png,{label}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_letterboxed_images_get_masks_at_their_original_size(model, tmp_path: Path) -> None:
    root = _wide_folder(tmp_path / "data")
    scenes = load_folder(root, image_size=SIZE, resize="pad")
    truth = load_folder(root)  # original size: 96x54
    assert masks_at_original_size(scenes)
    result = export_pseudo_masks(model, scenes, tmp_path / "out", truth=truth, progress=False)
    assert result.output_size == "original"
    cams = _cams(model, scenes)
    written = []
    for k, path in enumerate(result.paths):
        with Image.open(path) as img:
            assert img.size == (96, 54)
        expected = cam_to_original(cams[k], scene_geometry(scenes, k)) > 0.3
        np.testing.assert_array_equal(read_mask_png(path), expected)
        written.append(read_mask_png(path))
    expected_iou = per_image_smoke_iou(np.stack(written), truth.smoke_masks, truth.labels)
    assert result.metrics["smoke_iou"] == pytest.approx(expected_iou)
    assert result.metrics["resolution"] == "original"
    # Without the original-size truth the masks are written but not scored (never a resized gt).
    unscored = export_pseudo_masks(model, scenes, tmp_path / "out2", progress=False)
    assert "smoke_iou" not in unscored.metrics and "truth=" in unscored.metrics["note"]


def test_evaluation_at_the_original_size_scores_the_written_masks(model, tmp_path: Path) -> None:
    root = _wide_folder(tmp_path / "data")
    scenes = load_folder(root, image_size=SIZE)
    truth = load_folder(root)
    exported = export_pseudo_masks(model, scenes, tmp_path / "out", truth=truth, progress=False)
    evaluated = evaluate_scenes(model, scenes, truth=truth, progress=False)["metrics"]
    assert evaluated["resolution"] == "original"
    assert evaluated["smoke_iou"] == pytest.approx(exported.metrics["smoke_iou"])
    in_frame = evaluate_scenes(model, scenes, progress=False)["metrics"]
    assert in_frame["resolution"] == "model"


def test_evaluate_scenes_agrees_with_evaluate_model(model, scenes) -> None:
    ours = evaluate_scenes(model, scenes, progress=False)["metrics"]
    kit = evaluate_model(model, scenes).metrics
    for key in ("smoke_iou", "accuracy", "precision", "recall", "chimney_fp_rate"):
        assert ours[key] == pytest.approx(kit[key], nan_ok=True), key
