"""The dense CRF against a brute-force mean-field written out in numpy on tiny images.

Protects the exact formulation of :mod:`wsss_lib.postprocess.crf` (not only its IoU on a disc):
the unary ``-log clip([(1 - cam) ** bg_power, cam], 1e-5, 1)``, the two Gaussian kernels over all
pixel pairs (smoothness on position, appearance on position and RGB in 0..255), their symmetric
normalisation ``D^-1/2 K D^-1/2`` with ``D`` the row sums *including* the self-pair while the
message itself excludes it, the weights of the two kernels, the sign of the Potts message, and the
number of mean-field iterations. The windowed appearance kernel is checked against the same
reference restricted to its window.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsss_lib.postprocess import DenseCRF
from wsss_lib.postprocess.crf import dense_crf

# Settings where every part of the model moves the result: different widths and weights for the
# two kernels (a swap shows), colours that differ by about one srgb, a mild unary.
SETTINGS = {
    "bg_power": 3.0,
    "gaussian_sxy": 1.0,
    "gaussian_compat": 1.7,
    "bilateral_sxy": 2.5,
    "bilateral_srgb": 20.0,
    "bilateral_compat": 2.9,
}


def _tiny_scene(height: int = 3, width: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    cam = rng.uniform(0.05, 0.95, (1, height, width))
    rgb = rng.integers(90, 150, (1, height, width, 3)).astype(np.uint8)
    return cam, rgb


def _kernel(features: np.ndarray) -> np.ndarray:
    """``exp(-|f_i - f_j|^2 / 2)`` for features already divided by their widths, ``[N, N]``."""
    diff = features[:, None, :] - features[None, :, :]
    return np.exp(-0.5 * (diff**2).sum(-1))


def _normalised_without_self(kernel: np.ndarray) -> np.ndarray:
    """``D^-1/2 (K - I) D^-1/2`` with ``D = diag(row sums of K)``, self-pair included in ``D``."""
    inv_sqrt_d = 1.0 / np.sqrt(kernel.sum(axis=1))
    no_self = kernel - np.diag(np.diag(kernel))
    return inv_sqrt_d[:, None] * no_self * inv_sqrt_d[None, :]


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def mean_field_by_hand(cam, rgb, iterations, *, bg_power, gaussian_sxy, gaussian_compat,
                       bilateral_sxy, bilateral_srgb, bilateral_compat, window=None):
    """Smoke probability after ``iterations`` mean-field updates, float64 ``[H, W]``.

    ``window=(radius, stride)`` keeps only appearance pairs at offsets ``(dy, dx)`` that are
    multiples of ``stride`` within ``radius`` (the windowed kernel), otherwise all pairs.
    """
    _, height, width = cam.shape
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    pos = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(np.float64)  # [N, 2]
    colour = rgb[0].reshape(-1, 3).astype(np.float64)  # [N, 3], 0..255
    c = cam[0].ravel()
    probs = np.stack([(1.0 - c) ** bg_power, c])  # [2, N]: background, smoke
    log_unary = np.log(np.clip(probs, 1e-5, 1.0))  # = -U

    smooth = _normalised_without_self(_kernel(pos / gaussian_sxy))
    appearance_kernel = _kernel(np.concatenate([pos / bilateral_sxy, colour / bilateral_srgb], 1))
    if window is not None:
        radius, stride = window
        dy = pos[:, None, 0] - pos[None, :, 0]
        dx = pos[:, None, 1] - pos[None, :, 1]
        inside = (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
        inside &= (dy % stride == 0) & (dx % stride == 0)
        appearance_kernel = appearance_kernel * inside
    appearance = _normalised_without_self(appearance_kernel)

    q = _softmax(log_unary)
    for _ in range(iterations):
        # Potts model: a neighbour's belief in label l lowers the energy of l (and, for two
        # labels, the constant from the other label cancels in the softmax).
        message = gaussian_compat * q @ smooth.T + bilateral_compat * q @ appearance.T
        q = _softmax(log_unary + message)
    return q[1].reshape(height, width)


def _run(cam, rgb, **kwargs) -> np.ndarray:
    out = dense_crf(torch.as_tensor(cam, dtype=torch.float32), torch.as_tensor(rgb), **kwargs)
    return out[0].double().numpy()


@pytest.mark.parametrize("iterations", [0, 1, 2, 5])
def test_exact_kernel_matches_the_brute_force_mean_field(iterations: int) -> None:
    cam, rgb = _tiny_scene()
    got = _run(cam, rgb, iterations=iterations, **SETTINGS)
    expected = mean_field_by_hand(cam.astype(np.float32).astype(np.float64), rgb, iterations,
                                  **SETTINGS)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


def test_each_iteration_and_each_kernel_changes_the_result() -> None:
    """The reference is sensitive to what it checks, so the test above can catch a mutation."""
    cam, rgb = _tiny_scene()
    base = mean_field_by_hand(cam, rgb, 2, **SETTINGS)
    assert np.abs(base - mean_field_by_hand(cam, rgb, 1, **SETTINGS)).max() > 1e-3
    assert np.abs(base - mean_field_by_hand(cam, rgb, 3, **SETTINGS)).max() > 1e-3
    swapped = {**SETTINGS, "gaussian_compat": SETTINGS["bilateral_compat"],
               "bilateral_compat": SETTINGS["gaussian_compat"]}
    assert np.abs(base - mean_field_by_hand(cam, rgb, 2, **swapped)).max() > 1e-3
    for key in ("gaussian_compat", "bilateral_compat"):
        without = mean_field_by_hand(cam, rgb, 2, **{**SETTINGS, key: 0.0})
        assert np.abs(base - without).max() > 1e-3
    flat = np.full_like(rgb, 120)  # colour matters only through the appearance kernel
    assert np.abs(base - mean_field_by_hand(cam, flat, 2, **SETTINGS)).max() > 1e-3


def test_crf_step_defaults_are_the_papers_settings_on_a_tiny_image() -> None:
    cam, rgb = _tiny_scene(4, 5, seed=1)
    defaults = {
        "bg_power": 48.0,
        "gaussian_sxy": 3.0,
        "gaussian_compat": 5.0,
        "bilateral_sxy": 60.0,
        "bilateral_srgb": 5.0,
        "bilateral_compat": 15.0,
    }
    step = DenseCRF()
    assert step.iterations == 5
    assert {k: step.params()[k] for k in defaults} == defaults
    got = step(torch.as_tensor(cam, dtype=torch.float32), torch.as_tensor(rgb))[0].double()
    expected = mean_field_by_hand(cam.astype(np.float32).astype(np.float64), rgb, 5, **defaults)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize(("radius", "stride"), [(1, 1), (2, 2), (3, 2)])
def test_windowed_kernel_matches_the_brute_force_restricted_to_its_window(radius, stride) -> None:
    cam, rgb = _tiny_scene(5, 6, seed=2)
    got = _run(cam, rgb, iterations=2, max_exact_pixels=0, window_radius=radius,
               window_stride=stride, **SETTINGS)
    expected = mean_field_by_hand(cam.astype(np.float32).astype(np.float64), rgb, 2,
                                  window=(radius, stride), **SETTINGS)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
    full = mean_field_by_hand(cam, rgb, 2, **SETTINGS)
    assert np.abs(expected - full).max() > 1e-4  # the window really cut pairs off


def test_exact_path_is_used_up_to_max_exact_pixels_and_windowed_beyond() -> None:
    cam, rgb = _tiny_scene(3, 4, seed=3)
    settings = {**SETTINGS, "iterations": 2, "window_radius": 1, "window_stride": 1}
    exact = mean_field_by_hand(cam.astype(np.float32).astype(np.float64), rgb, 2, **SETTINGS)
    windowed = mean_field_by_hand(cam.astype(np.float32).astype(np.float64), rgb, 2,
                                  window=(1, 1), **SETTINGS)
    np.testing.assert_allclose(_run(cam, rgb, max_exact_pixels=12, **settings), exact, atol=2e-5)
    np.testing.assert_allclose(_run(cam, rgb, max_exact_pixels=11, **settings), windowed,
                               atol=2e-5)


def test_label_output_thresholds_the_hand_computed_probability_at_one_half() -> None:
    _, rgb = _tiny_scene(4, 4, seed=4)
    cam = np.linspace(0.02, 0.6, 16).reshape(1, 4, 4)  # faint on top, bright at the bottom
    prob = mean_field_by_hand(cam.astype(np.float32).astype(np.float64), rgb, 3, **SETTINGS)
    assert (prob > 0.5).any() and (prob <= 0.5).any()
    labels = DenseCRF(iterations=3, output="label", **SETTINGS)(
        torch.as_tensor(cam, dtype=torch.float32), torch.as_tensor(rgb)
    )[0].numpy()
    np.testing.assert_array_equal(labels, (prob > 0.5).astype(np.float32))


def test_label_output_is_strictly_above_one_half_in_the_cams_dtype() -> None:
    # No iterations and bg_power 1: Q = softmax(log [1 - cam, cam]) = cam, so a CAM of 0.5 ties.
    cam = torch.tensor([[[0.5, 0.75], [0.25, 0.5]]], dtype=torch.float64)
    rgb = torch.full((1, 2, 2, 3), 100, dtype=torch.uint8)
    step = DenseCRF(iterations=0, bg_power=1.0, output="label")
    prob = DenseCRF(iterations=0, bg_power=1.0)(cam, rgb)
    torch.testing.assert_close(prob, cam)  # the unary alone is the CAM itself
    labels = step(cam, rgb)
    assert labels.dtype == torch.float64
    assert labels.tolist() == [[[0.0, 1.0], [0.0, 0.0]]]


def test_exact_appearance_message_of_an_image_larger_than_two_row_chunks() -> None:
    """46 x 46 = 2 116 pixels: the dense kernel is built in chunks of 1 024 rows; every row of
    it must be computed (a message written out with the full pairwise distance matrix)."""
    from wsss_lib.postprocess.crf import _bilateral_features, _dense_bilateral_message

    generator = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (3, 46, 46), generator=generator).float()
    features = _bilateral_features(rgb, sxy=9.0, srgb=60.0)
    flat = features.reshape(5, -1).T.double()
    kernel = torch.exp(-0.5 * torch.cdist(flat, flat).square())
    inv_sqrt_d = kernel.sum(dim=1).rsqrt()  # the self-pair included in D
    kernel.fill_diagonal_(0.0)  # ... but not in the message
    q = torch.rand(2, 46 * 46, generator=generator).double()
    expected = ((q * inv_sqrt_d) @ kernel) * inv_sqrt_d
    got = _dense_bilateral_message(features)(q.float().reshape(2, 46, 46))
    torch.testing.assert_close(got.double().reshape(2, -1), expected, rtol=1e-4, atol=1e-6)
