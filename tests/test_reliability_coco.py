"""The bad-input catalogue of docs/reliability.md for real-data loading (rows 22-34): COCO
exports, resize modes and empty label cells. Each test is one row; keep the two in step.

Every test starts from a valid export written by ``save_coco`` and breaks it in one place.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from wsss_lib.data import SceneConfig, SmokeScenes, generate_scenes, save_folder
from wsss_lib.data.coco import ANNOTATIONS_FILE, load_coco, save_coco
from wsss_lib.data.folder import load_folder

CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"


@pytest.fixture(scope="module")
def scenes() -> SmokeScenes:
    """Eight 32 px synthetic scenes with masks (both classes)."""
    return generate_scenes(SceneConfig(image_size=32, n_images=8, seed=3))


@pytest.fixture
def export(scenes: SmokeScenes, tmp_path: Path) -> Path:
    """A valid Roboflow-style export (``train/`` only) with smoke and steam categories."""
    save_coco(scenes, tmp_path / "export" / "train", extra_masks={"steam": scenes.distractor_masks})
    return tmp_path / "export"


def annotations_file(export: Path) -> Path:
    return export / "train" / ANNOTATIONS_FILE


def edit(export: Path, change) -> None:
    """Apply ``change(data)`` to the annotations file of ``train/``."""
    path = annotations_file(export)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def first_smoke_annotation(data: dict) -> dict:
    return next(a for a in data["annotations"] if a["category_id"] == 1)


def test_the_valid_export_loads(export: Path) -> None:
    scenes = load_coco(export, "train")
    assert len(scenes) == 8 and scenes.labels.sum() > 0


def test_broken_json_names_the_file_line_and_the_fix(export: Path) -> None:
    path = annotations_file(export)
    path.write_text(path.read_text()[:200])  # a download cut short
    with pytest.raises(ValueError, match=r"_annotations\.coco\.json is not valid JSON \(line \d+, "
                       r"column \d+.*re-download or re-export"):
        load_coco(export, "train")


def test_annotation_pointing_at_a_missing_image_id_is_refused(export: Path) -> None:
    edit(export, lambda data: first_smoke_annotation(data).update(image_id=99))
    with pytest.raises(ValueError, match=r"annotation \d+ points at image_id 99, which is not in "
                       r"the file's 'images' list.*re-export"):
        load_coco(export, "train")


def test_image_entry_whose_file_is_missing_is_refused(export: Path) -> None:
    missing = json.loads(annotations_file(export).read_text())["images"][2]["file_name"]
    (export / "train" / missing).unlink()
    with pytest.raises(FileNotFoundError, match=rf"image file '{missing}' \(id 2\) does not "
                       r"exist .*Copy the image .* or remove its entry"):
        load_coco(export, "train")


def test_smoke_category_that_matches_nothing_lists_the_available_names(export: Path) -> None:
    with pytest.raises(ValueError, match=r"smoke category 'smoke-dense' matches no category\. "
                       r"Available categories: 1: 'smoke', 2: 'steam'"):
        load_coco(export, "train", smoke_categories=["smoke-dense"])
    with pytest.raises(ValueError, match=r"smoke category 7 matches no category"):
        load_coco(export, "train", smoke_categories=[7])
    edit(export, lambda data: data["categories"][0].update(name="plume"))
    with pytest.raises(ValueError, match=r"no category name contains 'smoke'\. Available "
                       r"categories: 1: 'plume', 2: 'steam'\. Pass smoke_categories="):
        load_coco(export, "train")


def test_polygon_outside_the_image_is_refused_beyond_the_tolerance(export: Path) -> None:
    def push_right(by: float):
        def change(data):
            polygon = first_smoke_annotation(data)["segmentation"][0]
            polygon[0] = 32 + by  # x of the first point; the images are 32 px wide
        return change

    edit(export, push_right(1.5))  # within the 2 px tolerance: loads
    load_coco(export, "train")
    edit(export, push_right(40))
    with pytest.raises(ValueError, match=r"polygon point \(72, \d+\) lies outside image "
                       r"'.*' \(32x32, WxH\) by more than 2 px.*re-export"):
        load_coco(export, "train")


def test_empty_export_is_refused(export: Path) -> None:
    edit(export, lambda data: data.update(images=[], annotations=[]))
    with pytest.raises(ValueError, match=r"lists no images: the export is empty"):
        load_coco(export, "train")


def test_missing_split_lists_the_splits_there_are(export: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Split 'tset' not found.*Splits in .*\['train'\]"):
        load_coco(export, "tset")
    with pytest.raises(FileNotFoundError, match=r"No _annotations\.coco\.json in .*pass split= "
                       r"one of \['train'\]"):
        load_coco(export)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_coco(export / "nowhere")


def test_image_whose_size_differs_from_the_annotations_file_is_refused(export: Path) -> None:
    name = json.loads(annotations_file(export).read_text())["images"][0]["file_name"]
    Image.new("RGB", (48, 27)).save(export / "train" / name)
    with pytest.raises(ValueError, match=rf"{name} is 48x27 \(WxH\) but .* says 32x32"):
        load_coco(export, "train")


def test_rle_of_the_wrong_size_or_corrupt_is_refused(export: Path) -> None:
    def rle(counts, size=(32, 32)):
        return lambda data: first_smoke_annotation(data).update(
            segmentation={"size": list(size), "counts": counts}
        )

    edit(export, rle([1024], size=(16, 64)))
    with pytest.raises(ValueError, match=r"RLE size \[16, 64\] does not match image"):
        load_coco(export, "train")
    edit(export, rle([10, 20]))
    with pytest.raises(ValueError, match=r"counts must be non-negative integers summing to .*1024"):
        load_coco(export, "train")
    edit(export, rle("zz"))
    with pytest.raises(ValueError, match=r"cannot decode the RLE"):
        load_coco(export, "train")


def test_annotation_without_segmentation_names_the_export_format(export: Path) -> None:
    edit(export, lambda data: first_smoke_annotation(data).update(segmentation=[]))
    with pytest.raises(ValueError, match=r"has no segmentation .*detection-only export.*COCO "
                       r"Segmentation"):
        load_coco(export, "train")


def test_annotation_with_an_unknown_category_is_refused(export: Path) -> None:
    edit(export, lambda data: first_smoke_annotation(data).update(category_id=9))
    with pytest.raises(ValueError, match=r"has category_id 9, which is not in 'categories'"):
        load_coco(export, "train")


def test_empty_label_cell_is_refused_not_read_as_clean(
    scenes: SmokeScenes, tmp_path: Path
) -> None:
    folder = save_folder(scenes, tmp_path / "data")
    (folder / "labels.csv").write_text(f"file,label\nimages/{scenes.names[0]}.png,\n")
    with pytest.raises(ValueError, match=r"labels\.csv line 2: the label cell is empty.*never "
                       "read as clean"):
        load_folder(folder)


def test_unknown_resize_mode_is_refused_before_reading(export: Path, tmp_path: Path) -> None:
    for load in (lambda: load_coco(export, "train", image_size=16, resize="stretch"),
                 lambda: load_folder(tmp_path / "not_read", image_size=16, resize="stretch")):
        with pytest.raises(ValueError, match=r"resize='stretch' is not a resize mode; use one of "
                           "pad, crop, squash"):
            load()


def test_catalogue_section_and_this_module_name_the_same_tests() -> None:
    section = CATALOGUE.read_text().split("### Real data")[1].split("\n## ")[0]
    section = section.split("\n### ")[0]  # the next section is tests/test_cli_data_options.py's
    rows = re.findall(r"^\| (\d+) \|.*`(test_\w+)` \|$", section, flags=re.MULTILINE)
    assert [int(number) for number, _ in rows] == list(range(22, 22 + len(rows)))
    named = {name for _, name in rows}
    here = {name for name in globals() if name.startswith("test_")}
    assert named == here - {
        "test_the_valid_export_loads",
        "test_catalogue_section_and_this_module_name_the_same_tests",
    }
