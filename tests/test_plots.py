"""Plot helpers: overlays are exact blends, the contact sheet draws and saves what it says."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from wsss_lib.data.scenes import SmokeScenes
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
