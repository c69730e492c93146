"""Tests for the torch dense CRF: edge snapping, exact vs windowed kernels, options, errors."""

from __future__ import annotations

import pytest
import torch
from postprocess_scenes import blurred_cam, disc_scene, iou

from wsss_lib.postprocess import DenseCRF
from wsss_lib.postprocess.crf import dense_crf


def test_crf_snaps_a_blurred_cam_to_the_colour_edge() -> None:
    image, truth = disc_scene()
    cam = blurred_cam(truth, sigma=3.0)
    before = iou(cam > 0.3, truth)
    refined = DenseCRF()(cam, image)
    after = iou(refined > 0.5, truth)
    assert before < 0.85
    assert after > 0.95
    assert after - before > 0.1


def test_lower_bg_power_fixes_a_cam_that_spills_past_the_edge() -> None:
    image, truth = disc_scene()
    cam = blurred_cam(truth, sigma=5.0, shift=4)  # off-centre and wide: spills into the sky
    strict = DenseCRF(bg_power=8)(cam, image) > 0.5
    loose = DenseCRF(bg_power=48)(cam, image) > 0.5
    assert iou(cam > 0.3, truth) < 0.8
    assert iou(strict, truth) > 0.9
    # A large power counts faint activation as smoke, so it keeps more (here: too much) area.
    assert loose.sum() > strict.sum()


def test_exact_and_windowed_kernels_agree_when_the_window_covers_the_image() -> None:
    image, truth = disc_scene(size=12, radius=4, seed=1)
    cam = blurred_cam(truth, sigma=2.0, shift=1)
    exact = dense_crf(cam, image, bg_power=8, max_exact_pixels=12 * 12)
    windowed = dense_crf(
        cam, image, bg_power=8, max_exact_pixels=0, window_radius=11, window_stride=1
    )
    assert torch.allclose(exact, windowed, atol=1e-3)
    assert 0.05 < float(exact.mean()) < 0.95  # a non-trivial result, not all 0 or all 1


def test_default_window_approximation_still_snaps_to_the_edge() -> None:
    image, truth = disc_scene()
    cam = blurred_cam(truth, sigma=3.0)
    windowed = DenseCRF(max_exact_pixels=0)(cam, image)
    assert iou(windowed > 0.5, truth) > 0.9


def test_label_output_is_the_thresholded_probability() -> None:
    image, truth = disc_scene(size=24, radius=6)
    cam = blurred_cam(truth, sigma=3.0)
    prob = DenseCRF(output="prob")(cam, image)
    label = DenseCRF(output="label")(cam, image)
    assert set(label.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(label, (prob > 0.5).float())
    assert ((prob > 0.0) & (prob < 1.0)).any()  # soft, not already binary


def test_empty_cam_stays_background_and_batch_images_are_independent() -> None:
    image, truth = disc_scene(size=24, radius=6)
    cam = blurred_cam(truth, sigma=3.0)
    batch_cam = torch.cat([cam, torch.zeros_like(cam)])
    batch_image = torch.cat([image, image])
    refined = DenseCRF()(batch_cam, batch_image)
    assert float(refined[1].max()) < 0.01
    assert torch.allclose(refined[0], DenseCRF()(cam, image)[0], atol=1e-5)


def test_normalised_float_images_give_the_same_result_as_uint8() -> None:
    image, truth = disc_scene(size=24, radius=6)
    cam = blurred_cam(truth, sigma=3.0)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    normalised = (image.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    assert torch.allclose(DenseCRF()(cam, normalised), DenseCRF()(cam, image), atol=1e-5)


def test_params_are_json_able_and_complete() -> None:
    crf = DenseCRF(bg_power=16, output="label")
    params = crf.params()
    assert params["bg_power"] == 16.0 and params["output"] == "label"
    assert crf.name == "crf"
    rebuilt = DenseCRF(**params)
    assert rebuilt.params() == params


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output": "mask"}, "output must be one of"),
        ({"bg_power": 0}, "bg_power must be a finite number > 0"),
        ({"bilateral_srgb": float("nan")}, "bilateral_srgb"),
        ({"iterations": -1}, "iterations must be an int >= 0"),
        ({"window_stride": 0}, "window_stride must be an int >= 1"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DenseCRF(**kwargs)


def test_bad_inputs_are_rejected_with_the_fix() -> None:
    image, truth = disc_scene(size=16, radius=4)
    cam = blurred_cam(truth, sigma=2.0)
    with pytest.raises(ValueError, match="normalize_cam"):
        DenseCRF()(cam * 5, image)
    with pytest.raises(ValueError, match="upsample_cam"):
        DenseCRF()(cam[:, :8, :8], image)
    with pytest.raises(ValueError, match="batch dimension"):
        DenseCRF()(cam, image[0])


def test_defaults_of_the_kernel_evaluation() -> None:
    params = DenseCRF().params()
    assert params["max_exact_pixels"] == 96 * 96
    assert (params["window_radius"], params["window_stride"]) == (64, 8)
    assert params["output"] == "prob"


@pytest.mark.parametrize("name", ["iterations", "max_exact_pixels"])
@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_counts_that_may_be_zero_must_be_plain_ints(name: str, bad: object) -> None:
    with pytest.raises(ValueError, match=f"{name} must be an int >= 0"):
        DenseCRF(**{name: bad})
    assert DenseCRF(**{name: 0}).params()[name] == 0


@pytest.mark.parametrize("name", ["window_radius", "window_stride"])
@pytest.mark.parametrize("bad", [0, -2, 2.0, True])
def test_window_sizes_must_be_positive_plain_ints(name: str, bad: object) -> None:
    with pytest.raises(ValueError, match=f"{name} must be an int >= 1"):
        DenseCRF(**{name: bad})
    assert DenseCRF(**{name: 1}).params()[name] == 1


@pytest.mark.parametrize(
    ("name", "ok", "bad"),
    [
        ("gaussian_compat", 0.0, -0.5),
        ("bilateral_compat", 0, float("inf")),
        ("gaussian_sxy", 0.5, 0.0),
        ("bilateral_sxy", 1, -1.0),
        ("bilateral_srgb", 2.5, -3.0),
        ("bg_power", 1e-3, float("nan")),
    ],
)
def test_kernel_settings_bounds(name: str, ok: float, bad: object) -> None:
    assert DenseCRF(**{name: ok}).params()[name] == float(ok)
    with pytest.raises(ValueError, match=name):
        DenseCRF(**{name: bad})


@pytest.mark.xfail(
    strict=True,
    raises=TypeError,
    reason="library bug: DenseCRF compares a setting with 0 before checking it is a number, so "
    "a string such as bilateral_srgb='5' raises TypeError instead of the ValueError naming it",
)
def test_a_non_numeric_kernel_setting_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="bilateral_srgb"):
        DenseCRF(bilateral_srgb="5")
