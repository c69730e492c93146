"""Tests for the post-processing step protocol: input checks, image conversion, run_pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from wsss_lib.postprocess import (
    DenseCRF,
    PixelAdaptiveRefiner,
    PostprocessStep,
    RefinementStep,
    check_cam,
    images_to_rgb_float,
    images_to_rgb_uint8,
    run_pipeline,
)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class _Square(RefinementStep):
    """A toy step: cam ** 2 (shrinks every value below 1)."""

    name = "square"

    def refine(self, cam: torch.Tensor, images: Any) -> torch.Tensor:
        return cam**2

    def params(self) -> dict[str, Any]:
        return {}


def _batch(b: int = 2, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (b, size, size, 3), dtype=torch.uint8, generator=gen)
    return torch.rand(b, size, size, generator=gen), images


def test_image_conversions_round_trip_between_uint8_and_normalised_float() -> None:
    _, images = _batch()
    normalised = (images.permute(0, 3, 1, 2).float() / 255.0 - MEAN) / STD
    assert torch.equal(images_to_rgb_uint8(normalised), images)
    assert torch.equal(images_to_rgb_uint8(images.numpy()), images)
    rgb = images_to_rgb_float(images)
    assert rgb.shape == (2, 3, 8, 8) and rgb.dtype == torch.float32
    assert torch.allclose(rgb, images_to_rgb_float(normalised), atol=1e-5)


def test_run_pipeline_applies_steps_in_order_and_empty_is_identity() -> None:
    cam, images = _batch()
    assert torch.equal(run_pipeline([], cam, images), cam)
    out = run_pipeline([_Square(), _Square()], cam, images)
    assert torch.allclose(out, cam**4)


def test_real_steps_satisfy_the_protocol_and_chain() -> None:
    cam, images = _batch(size=16)
    steps = [PixelAdaptiveRefiner(iterations=2), DenseCRF(iterations=2)]
    for step in steps:
        assert isinstance(step, PostprocessStep)
        assert isinstance(step.params(), dict)
    out = run_pipeline(steps, cam, images)
    # The pipeline is the steps applied one after the other, in the order given.
    torch.testing.assert_close(out, steps[1](steps[0](cam, images), images))
    reversed_order = run_pipeline(steps[::-1], cam, images)
    assert (out - reversed_order).abs().max() > 1e-3
    assert (out - steps[1](cam, images)).abs().max() > 1e-3  # the first step was not skipped
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_check_cam_names_the_problem_and_the_fix() -> None:
    cam, images = _batch()
    with pytest.raises(ValueError, match=r"\[B, H, W\].*batch dimension"):
        check_cam(cam[0])
    with pytest.raises(ValueError, match="float torch tensor"):
        check_cam(cam > 0.5)
    with pytest.raises(ValueError, match="NaN"):
        check_cam(cam.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match=r"\[0, 1\].*normalize_cam"):
        check_cam(cam + 1.0)
    with pytest.raises(ValueError, match="upsample_cam"):
        check_cam(cam, images[:, :4, :4])
    with pytest.raises(ValueError, match="RGB"):
        check_cam(cam, np.zeros((2, 8, 8, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="to_tensor_batch"):
        check_cam(cam, torch.zeros(2, 8, 8, 3))


def test_run_pipeline_rejects_things_that_are_not_steps() -> None:
    cam, images = _batch()
    with pytest.raises(ValueError, match="not a step"):
        run_pipeline(["crf"], cam, images)


def test_a_step_that_changes_the_shape_is_reported() -> None:
    class _Broken(_Square):
        def refine(self, cam: torch.Tensor, images: Any) -> torch.Tensor:
            return cam[:, :4]

    cam, images = _batch()
    with pytest.raises(RuntimeError, match="keep the CAM's shape"):
        _Broken()(cam, images)
