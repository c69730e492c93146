"""Tests for pixel-adaptive refinement (PAR): edge sharpening, invariants, class-agnostic spread."""

from __future__ import annotations

import pytest
import torch
from postprocess_scenes import blurred_cam, disc_scene, iou

from wsss_lib.postprocess import PixelAdaptiveRefiner
from wsss_lib.postprocess.pixel_adaptive import pixel_adaptive_weights


def test_par_sharpens_a_blurred_cam_toward_the_colour_edge() -> None:
    image, truth = disc_scene()
    cam = blurred_cam(truth, sigma=4.0)
    refined = PixelAdaptiveRefiner()(cam, image)
    assert iou(cam > 0.3, truth) < 0.8
    assert iou(refined > 0.3, truth) > 0.95

    def contrast(x: torch.Tensor) -> float:  # mean inside minus mean outside the disc
        return float(x[truth].mean() - x[~truth].mean())

    assert contrast(refined) > contrast(cam) + 0.05


def test_constant_map_is_unchanged_on_any_image() -> None:
    gen = torch.Generator().manual_seed(1)
    image = torch.randint(0, 256, (2, 24, 24, 3), dtype=torch.uint8, generator=gen)
    cam = torch.full((2, 24, 24), 0.42)
    refined = PixelAdaptiveRefiner(iterations=20)(cam, image)
    assert torch.allclose(refined, cam, atol=1e-5)


def test_weights_are_a_convex_combination_of_48_neighbours() -> None:
    gen = torch.Generator().manual_seed(2)
    rgb = torch.rand(1, 3, 16, 16, generator=gen)
    weights = pixel_adaptive_weights(rgb)
    assert weights.shape == (1, 48, 16, 16)
    assert float(weights.min()) >= 0.0
    assert torch.allclose(weights.sum(dim=1), torch.ones(1, 16, 16), atol=1e-5)


def test_zero_iterations_is_the_identity() -> None:
    image, truth = disc_scene(size=16, radius=4)
    cam = blurred_cam(truth, sigma=2.0)
    assert torch.equal(PixelAdaptiveRefiner(iterations=0)(cam, image), cam)


def test_spread_is_class_agnostic_within_a_uniform_colour_region() -> None:
    # One flat grey image ("sky and smoke alike"): activation on the left spreads right.
    image = torch.full((1, 32, 32, 3), 150, dtype=torch.uint8)
    cam = torch.zeros(1, 32, 32)
    cam[..., :8] = 1.0
    refined = PixelAdaptiveRefiner()(cam, image)
    assert float(refined[..., 12:16].mean()) > 0.1
    assert float(refined[..., :8].mean()) < 0.9


def test_params_and_errors() -> None:
    par = PixelAdaptiveRefiner(dilations=[1, 3], iterations=4)
    assert par.params() == {
        "dilations": [1, 3],
        "iterations": 4,
        "color_temperature": 0.3,
        "position_weight": 0.01,
    }
    assert par.name == "par"
    with pytest.raises(ValueError, match="dilations"):
        PixelAdaptiveRefiner(dilations=())
    with pytest.raises(ValueError, match="dilations"):
        PixelAdaptiveRefiner(dilations=(0, 2))
    with pytest.raises(ValueError, match="color_temperature"):
        PixelAdaptiveRefiner(color_temperature=0)
    with pytest.raises(ValueError, match="iterations"):
        PixelAdaptiveRefiner(iterations=1.5)
