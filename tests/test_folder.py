"""Folder loader: round trip with save_folder, the layout rules, and every bad-input error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss_lib.data.folder import load_folder, save_folder
from wsss_lib.data.resize import PAD_VALUE, scene_geometry, valid_masks
from wsss_lib.data.scenes import SmokeScenes

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples"


def _scenes(n: int = 4, h: int = 10, w: int = 12, seed: int = 0) -> SmokeScenes:
    """Small random scenes: smoke images have a non-empty smoke mask, clean ones an empty one."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    smoke = rng.random((n, h, w)) > 0.5
    smoke[labels == 0] = False
    return SmokeScenes(
        images=rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        labels=labels,
        smoke_masks=smoke,
        chimney_masks=rng.random((n, h, w)) > 0.8,
        distractor_masks=rng.random((n, h, w)) > 0.9,
        names=[f"img_{i}" for i in range(n)],
    )


def _write_image(path: Path, size=(12, 10), color=(10, 20, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def _write_mask(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8) * 255).save(path)


def _folder(tmp_path: Path, csv_text: str, images=("a.png", "b.png")) -> Path:
    for name in images:
        _write_image(tmp_path / "images" / name)
    (tmp_path / "labels.csv").write_text(csv_text)
    return tmp_path


def test_save_then_load_round_trip_is_exact(tmp_path):
    scenes = _scenes()
    save_folder(scenes, tmp_path / "out")
    loaded = load_folder(tmp_path / "out")
    np.testing.assert_array_equal(loaded.images, scenes.images)
    np.testing.assert_array_equal(loaded.labels, scenes.labels)
    for field in ("smoke_masks", "chimney_masks", "distractor_masks"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(scenes, field))
    assert loaded.names == scenes.names
    assert loaded.params[0] == {
        "file": "images/img_0.png",
        "original_size": [10, 12],
        "resize_box": [0, 0, 10, 12],
    }
    assert loaded.meta["resize"] == "pad" and loaded.meta["image_size"] is None
    csv_lines = (tmp_path / "out" / "labels.csv").read_text().splitlines()
    assert csv_lines[:3] == ["file,label", "images/img_0.png,clean", "images/img_1.png,smoke"]


def test_save_folder_is_deterministic_and_refuses_to_overwrite(tmp_path):
    scenes = _scenes()
    save_folder(scenes, tmp_path / "one")
    save_folder(scenes, tmp_path / "two")
    for path in sorted((tmp_path / "one").rglob("*.*")):
        assert (
            path.read_bytes()
            == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
        )
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_folder(scenes, tmp_path / "one")
    save_folder(scenes.subset([0, 1]), tmp_path / "one", overwrite=True)
    assert len(load_folder(tmp_path / "one")) == 2  # the CSV, not the folder, decides


def test_labels_are_case_and_space_insensitive_and_bare_names_resolve(tmp_path):
    root = _folder(
        tmp_path,
        "\ufefffile, label\n images/a.png , Smoke \n\nb.png,CLEAN\n",  # BOM, spaces, blank line
    )
    scenes = load_folder(root)
    assert scenes.labels.tolist() == [1, 0]
    assert scenes.names == ["a", "b"]
    assert scenes.smoke_masks is None and scenes.chimney_masks is None
    assert scenes.distractor_masks is None
    assert scenes.images.shape == (2, 10, 12, 3) and scenes.images[0, 0, 0].tolist() == [10, 20, 30]


def test_masks_are_optional_per_image_and_nonzero_means_smoke(tmp_path):
    root = _folder(tmp_path, "file,label\nimages/a.png,1\nimages/b.png,0\n")
    rgb_mask = np.zeros((10, 12, 3), dtype=np.uint8)
    rgb_mask[2:4, 3:6, 1] = 7  # any non-zero channel counts
    (root / "masks").mkdir()
    Image.fromarray(rgb_mask).save(root / "masks" / "a.png")
    scenes = load_folder(root)
    assert scenes.smoke_masks.dtype == bool
    assert scenes.smoke_masks[0].sum() == 6 and scenes.smoke_masks[0, 2:4, 3:6].all()
    assert not scenes.smoke_masks[1].any()  # clean image without a mask file: empty
    assert load_folder(root, masks=None).smoke_masks is None


def test_smoke_image_without_mask_is_an_error(tmp_path):
    root = _folder(tmp_path, "file,label\nimages/a.png,1\nimages/b.png,smoke\n")
    _write_mask(root / "masks" / "a.png", np.ones((10, 12), bool))
    with pytest.raises(FileNotFoundError, match=r"line 3.*b\.png.*masks=None"):
        load_folder(root)


def test_clean_image_with_smoke_in_its_mask_is_an_error(tmp_path):
    root = _folder(tmp_path, "file,label\nimages/a.png,clean\n", images=("a.png",))
    _write_mask(root / "masks" / "a.png", np.ones((10, 12), bool))
    with pytest.raises(ValueError, match="labelled clean"):
        load_folder(root)


def test_clean_image_with_a_single_smoke_pixel_is_an_error(tmp_path):
    """Strict: one smoke pixel in a clean image's mask is enough (not "all pixels")."""
    root = _folder(tmp_path, "file,label\nimages/a.png,clean\n", images=("a.png",))
    one_pixel = np.zeros((10, 12), bool)
    one_pixel[4, 5] = True
    _write_mask(root / "masks" / "a.png", one_pixel)
    with pytest.raises(ValueError, match=r"labelled clean but its mask .* has 1 smoke pixels"):
        load_folder(root)


@pytest.mark.parametrize("row", ["images/a.png,", "images/a.png,   ", 'images/a.png,""'])
def test_empty_label_cell_is_an_error_not_clean(tmp_path, row):
    root = _folder(tmp_path, f"file,label\nimages/b.png,smoke\n{row}\n")
    with pytest.raises(ValueError, match=r"labels\.csv line 3: the label cell is empty"):
        load_folder(root)


def _wide_folder(tmp_path: Path) -> Path:
    """One 40x20 (WxH) smoke image: left half red, right half blue; smoke = 4x4 block at
    rows 8..11, columns 30..33 (in the blue half)."""
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = (255, 0, 0)
    image[:, 20:] = (0, 0, 255)
    (tmp_path / "images").mkdir(parents=True)
    Image.fromarray(image).save(tmp_path / "images" / "wide.png")
    mask = np.zeros((20, 40), bool)
    mask[8:12, 30:34] = True
    _write_mask(tmp_path / "masks" / "wide.png", mask)
    (tmp_path / "labels.csv").write_text("file,label\nimages/wide.png,smoke\n")
    return tmp_path


def test_resize_modes_move_the_mask_exactly_with_the_image(tmp_path):
    root = _wide_folder(tmp_path)
    # pad: scale 0.5 -> 20x10 content in rows 5..14; the block lands at rows 9..10, cols 15..16.
    pad = load_folder(root, image_size=20)
    assert pad.params[0]["resize_box"] == [5, 0, 10, 20] and pad.meta["resize"] == "pad"
    assert np.argwhere(pad.smoke_masks[0]).tolist() == [[9, 15], [9, 16], [10, 15], [10, 16]]
    assert pad.images[0, 9, 15].tolist() == [0, 0, 255]  # the smoke pixel is in the blue half
    assert pad.images[0, 2, 2].tolist() == list(PAD_VALUE)
    assert valid_masks(pad)[0].sum() == 200 and not valid_masks(pad)[0, :5].any()
    # crop: scale 1 -> the centre 20 columns (10..29); the block at columns 30..33 is cut off,
    # and the crop's right edge (original column 29) is blue.
    crop = load_folder(root, image_size=20, resize="crop")
    assert crop.params[0]["resize_box"] == [0, -10, 20, 40]
    assert not crop.smoke_masks[0].any()
    assert crop.images[0, 10, 19].tolist() == [0, 0, 255]
    assert crop.images[0, 10, 0].tolist() == [255, 0, 0]
    # squash: columns halve, rows stay: the block lands at rows 8..11, columns 15..16.
    squash = load_folder(root, image_size=20, resize="squash")
    assert np.argwhere(squash.smoke_masks[0].any(axis=0)).ravel().tolist() == [15, 16]
    assert np.argwhere(squash.smoke_masks[0].any(axis=1)).ravel().tolist() == [8, 9, 10, 11]
    # image_size=None keeps the original size whatever the mode.
    same = load_folder(root, resize="crop")
    assert same.images.shape == (1, 20, 40, 3) and same.smoke_masks[0, 8:12, 30:34].all()
    assert scene_geometry(same, 0).is_identity


def test_unknown_resize_mode_is_refused(tmp_path):
    root = _wide_folder(tmp_path)
    with pytest.raises(ValueError, match=r"resize='stretch' is not a resize mode.*pad, crop"):
        load_folder(root, image_size=8, resize="stretch")


def test_different_sizes_need_image_size(tmp_path):
    _write_image(tmp_path / "images" / "a.png", size=(12, 10))
    _write_image(tmp_path / "images" / "b.png", size=(20, 16))
    mask = np.zeros((16, 20), bool)
    mask[:, :10] = True  # left half
    _write_mask(tmp_path / "masks" / "b.png", mask)
    (tmp_path / "labels.csv").write_text("file,label\nimages/a.png,clean\nimages/b.png,smoke\n")
    with pytest.raises(ValueError, match=r"different sizes.*image_size="):
        load_folder(tmp_path)
    squashed = load_folder(tmp_path, image_size=8, resize="squash")
    assert squashed.images.shape == (2, 8, 8, 3) and squashed.smoke_masks.shape == (2, 8, 8)
    assert squashed.smoke_masks[1, :, :4].all() and not squashed.smoke_masks[1, :, 4:].any()
    assert squashed.params[1]["original_size"] == [16, 20]
    # The default keeps the aspect ratio: 20x16 -> 8x6 (rounded 6.4) in rows 1..6, padding around.
    padded = load_folder(tmp_path, image_size=8)
    assert padded.meta["resize"] == "pad" and padded.params[1]["resize_box"] == [1, 0, 6, 8]
    assert padded.smoke_masks[1, 1:7, :4].all() and not padded.smoke_masks[1, :, 4:].any()
    assert not padded.smoke_masks[1, [0, 7]].any()
    assert padded.images[1, 0, 0].tolist() == list(PAD_VALUE)


@pytest.mark.parametrize(
    ("csv_text", "error", "pattern"),
    [
        ("file,label\nimages/a.png,maybe\n", ValueError, r"line 2: label 'maybe'.*smoke, clean"),
        ("file,label\n../a.png,smoke\n", ValueError, "outside the data folder"),
        ("file,label\n/etc/a.png,smoke\n", ValueError, "outside the data folder"),
        ("file,label\nimages/a.png,1\nimages/a.png,0\n", ValueError, r"line 3.*listed twice"),
        ("file,label\nimages/a.png,1\nimages/a.jpg,0\n", ValueError, r"line 3.*same name 'a'"),
        ("file,label\nimages/zzz.png,1\n", FileNotFoundError, r"line 2.*zzz\.png.*does not exist"),
        ("file,label\n", ValueError, "no rows"),
        ("a.png,smoke\n", ValueError, "header"),
        ("file,label\nimages/a.txt,1\n", ValueError, "not an image file name"),
    ],
)
def test_bad_csv_rows_are_refused_with_file_and_line(tmp_path, csv_text, error, pattern):
    root = _folder(tmp_path, csv_text, images=("a.png", "a.jpg"))
    with pytest.raises(error, match=pattern):
        load_folder(root)


def test_missing_folder_csv_corrupt_image_and_mask_size(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_folder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"labels\.csv not found"):
        load_folder(tmp_path)

    root = _folder(tmp_path, "file,label\nimages/a.png,1\nimages/b.png,0\n")
    (root / "images" / "b.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"Cannot read image .*b\.png"):
        load_folder(root, masks=None)

    _write_image(root / "images" / "b.png")
    _write_mask(root / "masks" / "a.png", np.ones((5, 5), bool))
    with pytest.raises(ValueError, match=r"Mask .*a\.png is 5x5 .* 12x10"):
        load_folder(root)
    with pytest.raises(ValueError, match="positive int"):
        load_folder(root, image_size=1.5)


def test_committed_data_samples_are_consistent():
    scenes = load_folder(SAMPLES)
    assert len(scenes) == 36 and scenes.images.shape[1:] == (96, 96, 3)
    smoke_pixels = scenes.smoke_masks.reshape(len(scenes), -1).sum(axis=1)
    chimney_pixels = scenes.chimney_masks.reshape(len(scenes), -1).sum(axis=1)
    assert ((smoke_pixels > 0) == (scenes.labels == 1)).all()
    # The four kinds of scene the sample is meant to show are all there.
    has_chimney = chimney_pixels > 0
    assert (has_chimney & (scenes.labels == 1)).any() and (
        ~has_chimney & (scenes.labels == 1)
    ).any()
    assert (has_chimney & (scenes.labels == 0)).any()
    assert scenes.distractor_masks[scenes.labels == 0].any()
    assert not (scenes.smoke_masks & scenes.chimney_masks).any()  # chimney pixels are not smoke
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 1_000_000
    assert (SAMPLES / "contact_sheet.png").stat().st_size > 10_000
