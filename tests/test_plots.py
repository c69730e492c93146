"""Plot helpers: overlays are exact blends, the contact sheet draws and saves what it says, and a
CAM gallery titles every network with its own read-out (map and threshold)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from wsss_lib.data.scenes import SmokeScenes
from wsss_lib.plots.bias import plot_cam_gallery
from wsss_lib.plots.cams import cam_gallery, parse_readout, readout_text
from wsss_lib.plots.method import cam_comparison
from wsss_lib.plots.scenes import contact_sheet, overlay_cam, overlay_mask


def _image() -> np.ndarray:
    return np.full((4, 5, 3), 100, dtype=np.uint8)


def test_overlay_mask_tints_only_masked_pixels():
    mask = np.zeros((4, 5), dtype=bool)
    mask[1, 2] = True
    out = overlay_mask(_image(), mask, color=(1.0, 0.0, 0.0), alpha=0.5)
    assert out.dtype == np.uint8 and out.shape == (4, 5, 3)
    assert out[1, 2].tolist() == [178, 50, 50]  # 0.5 * 100 + 0.5 * (255, 0, 0), rounded
    assert (out[~mask] == 100).all()
    full = overlay_mask(_image(), torch.from_numpy(mask), color="#00ff00", alpha=1.0)
    assert full[1, 2].tolist() == [0, 255, 0]
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(4, 5\)"):
        overlay_mask(_image(), mask[:3])


def test_overlay_cam_is_a_jet_blend():
    cam = np.zeros((4, 5), dtype=np.float32)
    cam[0, 0] = 1.0
    assert (overlay_cam(_image(), cam, alpha=0.0) == 100).all()
    heat = overlay_cam(_image(), cam, alpha=1.0)
    assert heat[0, 0].tolist() == [128, 0, 0]  # jet(1) is dark red
    assert heat[1, 1].tolist() == [0, 0, 128]  # jet(0) is dark blue
    from_float = overlay_cam(_image().astype(np.float32) / 255.0, torch.from_numpy(cam))
    np.testing.assert_array_equal(from_float, overlay_cam(_image(), cam))
    with pytest.raises(ValueError, match="upsample"):
        overlay_cam(_image(), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="denormalize"):
        overlay_cam(_image().astype(np.float32) - 0.5, cam)


def test_contact_sheet_draws_tiles_legend_and_saves_png(tmp_path):
    rng = np.random.default_rng(0)
    smoke = np.zeros((5, 16, 16), dtype=bool)
    smoke[1::2, 2:8, 4:10] = True
    chimney = np.zeros_like(smoke)
    chimney[:, 10:, 6:8] = True
    scenes = SmokeScenes(
        images=rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8),
        labels=np.arange(5) % 2,
        smoke_masks=smoke,
        chimney_masks=chimney,
        names=[f"s{i}" for i in range(5)],
    )
    path = tmp_path / "sheet.png"
    fig = contact_sheet(scenes, n=4, path=path, ncols=2)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 4
    assert shown[1].get_title() == "s1 · smoke"
    legend_labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_labels == ["smoke", "chimney"]  # no distractor masks in these scenes
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size[0] > 100
    with pytest.raises(ValueError, match="Nothing to show"):
        contact_sheet(scenes, n=0)


def _scenes(n: int = 3, size: int = 16) -> SmokeScenes:
    rng = np.random.default_rng(0)
    smoke = np.zeros((n, size, size), dtype=bool)
    smoke[:, 2:8, 2:8] = True
    chimney = np.zeros_like(smoke)
    chimney[:, 10:, 6:8] = True
    return SmokeScenes(images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                       labels=np.ones(n, dtype=int), smoke_masks=smoke, chimney_masks=chimney,
                       names=[f"s{i}" for i in range(n)])


def _titles(fig) -> dict[str, str]:
    """First-row panel titles, keyed by their first line (a read-out too long for one line has
    its threshold on a line of its own: joined again here)."""
    titles = [ax.get_title().replace("\n> ", " > ") for ax in fig.axes
              if ax.images and ax.get_title()]
    return {title.split("\n")[0]: title for title in titles}


def test_readout_labels_become_titles_that_name_map_and_threshold():
    assert parse_readout("gradcam[blocks.-1.norm1] > 0.85") == ("gradcam[blocks.-1.norm1]", 0.85)
    assert parse_readout("cam") == ("cam", None)
    assert readout_text("cam > 0.35") == "score map > 0.35"
    assert readout_text("gradcam[blocks.-1.norm1] > 0.85") == "Grad-CAM, last block > 0.85"
    assert readout_text("gradcam", 0.3) == "Grad-CAM (default layers) > 0.30"
    with pytest.raises(ValueError, match="outside"):
        parse_readout("cam > 1.5")


def test_every_cam_column_is_titled_and_cut_at_its_own_readout():
    """Issue 19: a gallery titled "CAM > 0.05" over a ViT read at 0.85 misread every panel.
    Each network's column names its own map and threshold, and outlines at that threshold."""
    scenes = _scenes()
    flat = np.full((3, 16, 16), 0.5, dtype=np.float32)  # > 0.30 everywhere, > 0.85 nowhere
    fig = cam_gallery(scenes.images, {"smoke mask": scenes.smoke_masks, "CNN": flat, "ViT": flat},
                      readouts={"CNN": "cam > 0.30", "ViT": "gradcam[blocks.-1.norm1] > 0.85"})
    titles = _titles(fig)
    assert titles["CNN"] == "CNN\nscore map > 0.30"
    assert titles["ViT"] == "ViT\nGrad-CAM, last block > 0.85"
    assert titles["smoke mask"] == "smoke mask"  # masks have no read-out
    first_row = {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_title()}
    assert first_row["ViT"].get_title() == "ViT\nGrad-CAM, last block\n> 0.85"  # fits a column
    assert len(first_row["CNN"].collections) == 1  # its pseudo-mask (0.5 > 0.30) is outlined
    assert not first_row["ViT"].collections  # nothing is above the ViT's own 0.85
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["pseudo-mask: map > the threshold in its column's title"]

    # One threshold per column without read-outs: the titles still name each column's own.
    fig = cam_gallery(scenes.images, {"CNN": flat, "ViT": flat},
                      cam_threshold={"CNN": 0.05, "ViT": 0.85})
    assert _titles(fig)["ViT"] == "ViT\nmap > 0.85"
    # One shared threshold: the legend says it, titles stay as they are.
    fig = cam_gallery(scenes.images, {"CNN": flat}, cam_threshold=0.3)
    assert _titles(fig)["CNN"] == "CNN"
    assert "pseudo-mask: map > 0.3" in [t.get_text() for t in fig.legends[0].get_texts()]

    with pytest.raises(ValueError, match="says threshold 0.85, but cam_threshold gives 0.05"):
        cam_gallery(scenes.images, {"ViT": flat}, cam_threshold={"ViT": 0.05},
                    readouts={"ViT": "gradcam > 0.85"})
    with pytest.raises(ValueError, match="not CAM columns"):
        cam_gallery(scenes.images, {"ViT": flat}, readouts={"smoke mask": "cam > 0.3"})


def test_notebook_galleries_title_each_network_with_its_readout():
    scenes = _scenes(n=2)
    cams = {"single_cnn": np.full((2, 16, 16), 0.5), "single_vit": np.full((2, 16, 16), 0.5)}
    fig = cam_comparison(scenes, cams, labels={"single_cnn": "CNN", "single_vit": "ViT"},
                         threshold={"single_cnn": 0.35, "single_vit": 0.85},
                         readouts={"single_cnn": "cam > 0.35",
                                   "single_vit": "gradcam[blocks.-1.norm1] > 0.85"})
    titles = _titles(fig)
    assert titles["CNN"].endswith("score map > 0.35")
    assert titles["ViT"].endswith("Grad-CAM, last block > 0.85")

    maps = {"images": scenes.images, "smoke": scenes.smoke_masks,
            "chimney": scenes.chimney_masks, "row_titles": ["a", "b"],
            "cams": {"CNN CAM @0.95/0.05": cams["single_cnn"],
                     "ViT CAM @0.95/0.05": cams["single_vit"]},
            "probs": {"CNN CAM @0.95/0.05": [0.9, 0.1], "ViT CAM @0.95/0.05": [0.8, 0.2]},
            "thresholds": {"CNN CAM @0.95/0.05": 0.05, "ViT CAM @0.95/0.05": 0.85}}
    titles = _titles(plot_cam_gallery(maps, threshold=0.05))
    assert titles["ViT CAM @0.95/0.05"].endswith("map > 0.85")  # not the profile's 0.05
    titles = _titles(plot_cam_gallery(maps, readouts={
        "CNN CAM @0.95/0.05": "cam > 0.05", "ViT CAM @0.95/0.05": "gradcam > 0.85"}))
    assert titles["ViT CAM @0.95/0.05"].endswith("Grad-CAM (default layers) > 0.85")
