"""Tests for the torch dense CRF: edge snapping, exact vs windowed kernels, options, errors."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
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


def test_a_non_numeric_kernel_setting_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="bilateral_srgb"):
        DenseCRF(bilateral_srgb="5")


# ------------------------------------------------- found by the mutation run (benchmarks/mutation)


def test_dense_crf_defaults_are_the_steps_defaults() -> None:
    """``dense_crf`` is public: called without settings it must run the documented defaults,
    the same as ``DenseCRF()`` (whose defaults the other tests pin)."""
    step_defaults = {k: v for k, v in DenseCRF().params().items() if k != "output"}
    signature = inspect.signature(dense_crf).parameters
    assert {k: signature[k].default for k in step_defaults} == step_defaults
    # And the behaviour, on the exact and on the windowed path, on random images large enough
    # that a default one step off shows: 40 px apart is 2/3 of the 60-px appearance width, the
    # CRF has not converged yet, and with a window stride of 5 the 72-px image has pairs 65 px
    # apart, one past the default radius (with the default stride 8 a radius of 65 samples the
    # same offsets as 64).
    rng = np.random.default_rng(5)
    windowed = {"max_exact_pixels": 0, "window_stride": 5}
    for side, extra in ((40, {}), (72, {"max_exact_pixels": 0}), (72, windowed)):
        cam = torch.as_tensor(rng.uniform(0.0, 1.0, (1, side, side)), dtype=torch.float32)
        rgb = torch.as_tensor(rng.integers(0, 256, (1, side, side, 3)).astype(np.uint8))
        assert torch.equal(dense_crf(cam, rgb, **extra), DenseCRF(**extra)(cam, rgb)), side


@pytest.mark.parametrize(("cam_batch", "image_batch"), [(2, 1), (1, 2)])
def test_dense_crf_rejects_cam_and_image_batches_of_different_sizes(
    cam_batch: int, image_batch: int
) -> None:
    """Without the strict zip, one CAM per image would silently drop the extra images/CAMs."""
    cam = torch.full((cam_batch, 4, 5), 0.5)
    rgb = torch.full((image_batch, 4, 5, 3), 100, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"same B, H, W; got cam \(\d, 4, 5\) and rgb"):
        dense_crf(cam, rgb, iterations=1)


@pytest.mark.parametrize(
    ("name", "bound", "bad"),
    [
        ("bg_power", "> 0", 0.0),
        ("gaussian_sxy", "> 0", 0.0),
        ("bilateral_sxy", "> 0", -1.0),
        ("bilateral_srgb", "> 0", -3.0),
        ("gaussian_compat", ">= 0", -0.5),
        ("bilateral_compat", ">= 0", float("inf")),
    ],
)
def test_kernel_setting_errors_name_the_setting_and_its_bound(
    name: str, bound: str, bad: float
) -> None:
    """The whole message: the exact setting name (not a decorated key) and its own bound."""
    expected = f"{name} must be a finite number {bound}, got {bad!r}."
    with pytest.raises(ValueError) as info:
        DenseCRF(**{name: bad})
    assert str(info.value) == expected


def test_exact_kernel_of_more_than_1024_pixels_warns_nothing() -> None:
    """The row chunks of the dense kernel are written in place through ``out=``; a
    wrongly sliced chunk only "works" through torch's deprecated resizing of ``out`` (a
    UserWarning now, an error in a future torch)."""
    rng = np.random.default_rng(6)
    cam = torch.as_tensor(rng.uniform(0.2, 0.8, (1, 33, 34)), dtype=torch.float32)  # 1 122 px
    rgb = torch.as_tensor(rng.integers(0, 256, (1, 33, 34, 3)).astype(np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = dense_crf(cam, rgb, iterations=1)
    assert out.shape == (1, 33, 34) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("rgb_shape", [(1, 4, 5), (1, 4, 5, 1), (1, 4, 5, 3, 1)])
def test_dense_crf_rejects_an_rgb_that_is_not_b_h_w_3(rgb_shape: tuple[int, ...]) -> None:
    """A grey image of the CAM's own shape, one channel, or an extra axis: the error, not an
    IndexError or a broadcast."""
    with pytest.raises(ValueError, match=r"rgb \[B, H, W, 3\] of the same B, H, W"):
        dense_crf(torch.full((1, 4, 5), 0.5), torch.zeros(rgb_shape, dtype=torch.uint8))
