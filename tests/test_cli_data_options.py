"""Issue 21: the CLI exposes what the loaders need, and nothing is dropped silently.

Each bad input has its message and exit code asserted here: categories that are not counted as
smoke (listed with their counts; an error when a split is left without smoke), an empty or missing
validation split, a corrupt image inside a COCO export; and library messages that name Python
arguments are re-worded with the CLI's options when ``wsss`` prints them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_mixed_sizes import make_mixed_coco, make_mixed_folder, run_cli  # tests/ is on the path

from wsss_lib import cli
from wsss_lib.data import load_coco, load_folder
from wsss_lib.data.coco import IgnoredCategoriesWarning

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PLUME = [{"id": 1, "name": "plume", "supercategory": "none"}]
SMOKE_AND_PLUME = [{"id": 1, "name": "smoke", "supercategory": "none"},
                   {"id": 2, "name": "plume", "supercategory": "none"}]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _train(export: Path, cache: Path, *extra) -> list:
    return ["train", "--profile", "quick", "--coco", export, "--cache-dir", cache, "--quiet",
            *extra]


# ---------------------------------------------------------------------------- categories


def test_categories_not_named_smoke_are_an_error_that_names_the_option(
    tmp_path: Path, cache: Path, capsys
) -> None:
    export = make_mixed_coco(tmp_path / "plume", categories=PLUME)
    code, out, err = run_cli(_train(export, cache), capsys)
    assert code == 2 and "Run:" not in out
    assert "no category name contains 'smoke'" in err and "1: 'plume'" in err
    assert "--smoke-categories NAME,..." in err and "smoke_categories" not in err
    # Python names its argument
    with pytest.raises(ValueError, match=r"Pass smoke_categories=\[<names or ids>\]"):
        load_coco(export, "train", image_size=32)

    code, out, err = run_cli(_train(export, cache, "--smoke-categories", "plume"), capsys)
    assert code == 0, err
    assert "split train: 8 images (4 smoke, 4 clean" in out
    assert "--smoke-categories plume" in out  # the Next: commands keep the choice
    recorded = json.loads(next((cache / "runs").glob("*/wsss_recipe.json")).read_text())
    assert recorded["train_data"]["smoke_categories"] == ["plume"]


def test_a_split_whose_smoke_is_all_in_another_category_is_an_error_with_the_counts(
    tmp_path: Path, cache: Path, capsys
) -> None:
    export = make_mixed_coco(tmp_path / "renamed", categories=SMOKE_AND_PLUME, category_id=2)
    code, _, err = run_cli(_train(export, cache), capsys)
    assert code == 2
    assert "no image has an annotation of the smoke categories ('smoke')" in err
    assert "4 annotations of other categories are ignored: 'plume' (4)" in err
    assert "--smoke-categories plume" in err
    with pytest.raises(ValueError, match=r"pass smoke_categories=\['plume'\]"):
        load_coco(export, "train", image_size=32)


def test_annotations_of_other_categories_are_listed_with_their_counts(
    tmp_path: Path, capsys
) -> None:
    export = make_mixed_coco(tmp_path / "mixed", categories=SMOKE_AND_PLUME)
    data = json.loads((export / "train" / "_annotations.coco.json").read_text())
    data["annotations"][0]["category_id"] = 2  # one class renamed on one annotation
    (export / "train" / "_annotations.coco.json").write_text(json.dumps(data))
    with pytest.warns(IgnoredCategoriesWarning, match=r"1 annotations of categories not counted "
                      r"as smoke are ignored: 'plume' \(1\).*smoke_categories=\['smoke', "
                      r"'plume'\]") as caught:
        scenes = load_coco(export, "train", image_size=32)
    assert caught[0].message.counts == {"plume": 1} and int(scenes.labels.sum()) == 3
    code, out, err = run_cli(_train(export, tmp_path / "c"), capsys)
    assert code == 0, err  # a warning, in the CLI's words
    assert "warning:" in err and "'plume' (1)" in err and "--smoke-categories smoke,plume" in err


def test_smoke_categories_apply_to_coco_only(tmp_path: Path, cache: Path, capsys) -> None:
    data = make_mixed_folder(tmp_path / "data")
    code, _, err = run_cli(["train", "--data", data, "--smoke-categories", "smoke",
                            "--cache-dir", cache], capsys)
    assert code == 2 and "--smoke-categories applies to --coco exports only" in err


# ---------------------------------------------------------------------------- validation


def test_an_empty_or_missing_validation_split_is_said(tmp_path: Path, cache: Path,
                                                      capsys) -> None:
    export = make_mixed_coco(tmp_path / "export")
    valid = export / "valid" / "_annotations.coco.json"
    data = json.loads(valid.read_text())
    valid.write_text(json.dumps({**data, "images": [], "annotations": []}))
    code, out, err = run_cli(_train(export, cache), capsys)
    assert code == 0, err
    assert "Validation: none (" in out and "lists no images" in out
    assert "--val-split NAME or --val-data DIR" in out

    shutil.rmtree(export / "valid")
    code, out, err = run_cli(_train(export, cache), capsys)
    assert code == 0, err
    assert "valid does not exist" in out and "Validation: none" in out

    code, out, _ = run_cli(_train(export, cache, "--val-split", "none"), capsys)
    assert code == 0 and "Validation: none (--val-split none)." in out

    code, _, err = run_cli(_train(export, cache, "--val-split", "valid"), capsys)
    assert code == 2 and "Split 'valid' not found" in err


# ---------------------------------------------------------------------------- corrupt image


def test_a_corrupt_image_in_a_coco_export_names_the_annotations_file(
    tmp_path: Path, cache: Path, capsys
) -> None:
    export = make_mixed_coco(tmp_path / "export")
    (export / "train" / "frame_03.png").write_bytes(b"not a png at all")
    code, _, err = run_cli(_train(export, cache), capsys)
    assert code == 2
    assert "Cannot read image" in err and "frame_03.png" in err
    assert "remove its entry from _annotations.coco.json" in err and "CSV" not in err

    folder = make_mixed_folder(tmp_path / "folder")
    (folder / "images" / "img_03.png").write_bytes(b"broken")
    with pytest.raises(ValueError, match="remove its row from the CSV"):
        load_folder(folder, image_size=32)


# ---------------------------------------------------------------------------- options


def test_image_size_and_resize_options_reach_the_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    seen = {}

    def fake_train(recipe, scenes, val, **kwargs):
        seen.update(recipe=recipe, scenes=scenes, data=kwargs["data"])
        return SimpleNamespace(run_dir=tmp_path / "run-x", history=[])

    monkeypatch.setattr("wsss_lib.runs.train_recipe", fake_train)
    data = make_mixed_folder(tmp_path / "data")
    code, out, err = run_cli(["train", "--data", data, "--image-size", "40", "--resize", "crop",
                              "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0, err
    assert seen["recipe"].image_size == 40 and seen["recipe"].resize == "crop"
    assert seen["scenes"].image_size == (40, 40)
    assert "40 px (crop)" in out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--data", str(data), "--image-size", "0"])
    assert exit_info.value.code == 2 and "must be a positive integer" in capsys.readouterr().err


def test_smoke_shrunk_to_a_few_pixels_at_the_training_size_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import numpy as np
    from PIL import Image

    monkeypatch.setattr("wsss_lib.runs.train_recipe", lambda *a, **k: SimpleNamespace(
        run_dir=tmp_path / "run-x", history=[]))
    root = tmp_path / "wide"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    lines = ["file,label"]
    for k in range(4):  # 192x108 frames; a 10x5 px plume = ~1.7x0.8 px at 32 px
        Image.new("RGB", (192, 108), (120, 140, 160)).save(root / "images" / f"f{k}.png")
        mask = np.zeros((108, 192), dtype=np.uint8)
        if k % 2 == 0:
            mask[40:45, 90:100] = 255
        Image.fromarray(mask).save(root / "masks" / f"f{k}.png")
        lines.append(f"images/f{k}.png,{'smoke' if k % 2 == 0 else 'clean'}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(["train", "--data", root, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0, err
    assert "Note: in 2 of 2 smoke images the smoke covers fewer than 16 pixels at 32 px" in out
    assert "--image-size" in out
    code, out, _ = run_cli(["train", "--data", root, "--image-size", "256", "--cache-dir",
                            tmp_path / "c"], capsys)
    assert code == 0 and "Note: in" not in out


def test_opacity_option_reports_recall_per_opacity_class(
    tmp_path: Path, cache: Path, capsys
) -> None:
    samples = Path(__file__).resolve().parents[1] / "data_samples" / "coco"
    code, out, err = run_cli(["train", "--profile", "quick", "--coco", samples, "--cache-dir",
                              cache, "--quiet"], capsys)
    assert code == 0, err
    assert "'steam' (6)" in err  # the sample's steam annotations are listed, not dropped silently
    key = re.search(r"^Run: (\S+)$", out, re.M).group(1)
    report = tmp_path / "e.json"
    code, out, err = run_cli(["evaluate", key, "--coco", samples, "--opacity", "--out", report,
                              "--cache-dir", cache, "--quiet"], capsys)
    assert code == 0, err
    assert "recall of 'smoke-low-opacity' pixels" in out
    recall = json.loads(report.read_text())["metrics"]["recall_per_opacity"]
    assert set(recall) == {"smoke-low-opacity", "smoke-high-opacity"}
    code, _, err = run_cli(["evaluate", key, "--data", tmp_path, "--opacity", "--cache-dir",
                            cache], capsys)
    assert code == 2 and "--opacity needs --coco" in err


def test_python_arguments_are_reworded_as_cli_options() -> None:
    wording = cli.cli_wording
    assert wording("Pass smoke_categories=[<names or ids>] to say which are smoke.") == \
        "Pass --smoke-categories NAME,... to say which are smoke."
    assert wording("pass smoke_categories=['smoke', 'plume'] (names or ids)") == \
        "pass --smoke-categories smoke,plume (names or ids)"
    assert wording("Pass their names or ids in smoke_categories.") == \
        "Pass their names or ids in --smoke-categories."
    assert "--image-size 224" in wording("Pass image_size=<side> (e.g. image_size=224) to resize")
    assert "--image-size 512" in wording("Pass image_size=<side> (e.g. 512) to bring them")
    assert wording("resize='stretch' is not a resize mode") == \
        "--resize stretch is not a resize mode"
    assert wording("No _annotations.coco.json in x; pass split= one of ['train']") == \
        "No _annotations.coco.json in x; pass --split one of ['train']"


def test_catalogue_section_names_the_tests_of_issue_21() -> None:
    import test_mixed_sizes

    catalogue = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
    section = catalogue.read_text().split("### Users' data through")[1]
    section = section.split("\n## ")[0].split("\n### ")[0]
    rows = re.findall(r"^\| (\d+) \|.*\| (`test_\w+`(?:, `test_\w+`)*) \|$", section,
                      flags=re.MULTILINE)
    assert [int(number) for number, _ in rows] == list(range(35, 35 + len(rows)))
    named = {name for _, cell in rows for name in re.findall(r"`(test_\w+)`", cell)}
    here = {name for name in globals() if name.startswith("test_")}
    there = {name for name in vars(test_mixed_sizes) if name.startswith("test_")}
    assert named == (here | there) - {"test_catalogue_section_names_the_tests_of_issue_21"}

