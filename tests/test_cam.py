"""Tests of wsss_lib.cam: normalisation, torch CAM and Grad-CAM, grad-cam adapter, fusion."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss_lib.cam import (
    CAM_METHODS,
    GradCamAdapter,
    class_activation_map,
    compute_cam,
    default_gradcam_layers,
    fuse_cams,
    multiscale_cam,
    normalize_cam,
    pseudo_masks,
    sliding_window_cam,
    torch_gradcam,
    upsample_cam,
)

# Models: the ``resnet`` and ``vit`` fixtures of conftest.py.


def _images(size: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=generator)


def _live_tensor_count() -> int:
    gc.collect()
    kinds = (torch.Tensor, torch.nn.Parameter)
    return sum(type(obj) in kinds for obj in gc.get_objects())  # type(): no attribute lookups


def _hook_count(model, names) -> int:
    modules = [model.resolve_module(name)[1] for name in names]
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in modules)


# --- normalisation, upsampling, pseudo-masks ---------------------------------------------------


def test_normalize_modes() -> None:
    cam = torch.rand(3, 5, 7) * torch.tensor([1.0, 10.0, 0.01]).view(3, 1, 1) + 0.5
    minmax = normalize_cam(cam, "minmax")
    low, high = cam.amin(dim=(1, 2), keepdim=True), cam.amax(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(minmax, (cam - low) / (high - low))  # per image, not per batch
    by_max = normalize_cam(cam, "max")
    torch.testing.assert_close(by_max.amax(dim=(1, 2)), torch.ones(3))
    torch.testing.assert_close(by_max * cam.amax(dim=(1, 2), keepdim=True), cam)  # ratios kept
    assert normalize_cam(cam, "none") is cam
    flat = torch.zeros(2, 4, 4)
    for mode in ("minmax", "max"):
        assert torch.equal(normalize_cam(flat + (mode == "minmax"), mode), flat)  # no NaN
    numpy_minmax = normalize_cam(cam.numpy(), "minmax")
    assert isinstance(numpy_minmax, np.ndarray)
    np.testing.assert_allclose(numpy_minmax, minmax.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="minmax"):
        normalize_cam(cam, "l2")


def test_upsample_cam_resizes_and_crops_padded_extent() -> None:
    cam = torch.arange(4.0).view(1, 2, 2)
    assert upsample_cam(cam, 8).shape == (1, 8, 8)
    assert upsample_cam(cam, (6, 4)).shape == (1, 6, 4)
    padded = upsample_cam(cam, (6, 7), extent=(8, 8))
    torch.testing.assert_close(padded, upsample_cam(cam, 8)[:, :6, :7])
    assert upsample_cam(cam.numpy(), 8).shape == (1, 8, 8)
    with pytest.raises(ValueError, match="extent"):
        upsample_cam(cam, 8, extent=(4, 4))


def test_pseudo_masks_threshold_torch_and_numpy() -> None:
    cam = torch.tensor([[[0.1, 0.3], [0.31, 0.9]]])
    assert pseudo_masks(cam).tolist() == [[[False, False], [True, True]]]
    masks = pseudo_masks(cam.numpy(), threshold=0.5)
    assert masks.dtype == np.bool_ and masks.tolist() == [[[False, False], [False, True]]]
    with pytest.raises(ValueError, match="threshold"):
        pseudo_masks(cam, threshold=float("nan"))
    for bad in (True, "0.3", None, float("inf")):
        with pytest.raises(ValueError, match="finite number"):
            pseudo_masks(cam, threshold=bad)
    assert pseudo_masks(cam, threshold=0).tolist() == [[[True, True], [True, True]]]  # an int
    with pytest.raises(ValueError, match="batch"):
        pseudo_masks(cam[0])


# --- torch CAM and Grad-CAM --------------------------------------------------------------------


@pytest.mark.parametrize("family", ["cnn", "vit"])
def test_class_activation_map_is_differentiable(family, resnet, vit) -> None:
    model = resnet if family == "cnn" else vit
    model.zero_grad(set_to_none=True)
    x = _images(40)
    result = class_activation_map(model, x, normalize="minmax", return_raw=True)
    assert result.cam.shape == (2, 40, 40)
    torch.testing.assert_close(result.cam.amax(dim=(1, 2)), torch.ones(2))
    assert result.raw.shape[-2:] != (40, 40) and (result.raw >= 0).all()
    (result.cam * torch.linspace(0, 1, 40)).mean().backward()
    head = model.classifier.weight if family == "cnn" else model.backbone.head.weight
    assert head.grad is not None and head.grad.abs().sum() > 0
    stem = model.backbone.conv1 if family == "cnn" else model.backbone.patch_embed.proj
    assert stem.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_cnn_gradcam_at_layer4_equals_the_cam_minus_bias(resnet) -> None:
    # With a GAP + linear head, Grad-CAM weights are the head weights / (h*w), so
    # Grad-CAM(layer4) = relu(score_map - bias) / (h*w): an exact check of the gradient plumbing.
    x = _images(64)
    cams = torch_gradcam(resnet, x, "layer4")
    with torch.no_grad():
        score = resnet(x).score_map[:, 0]
    expected = F.relu(score - resnet.classifier.bias) / score[0].numel()
    torch.testing.assert_close(cams["layer4"], expected, rtol=1e-4, atol=1e-6)
    assert not cams["layer4"].requires_grad
    assert _hook_count(resnet, ["layer4"]) == 0


def test_torch_gradcam_create_graph_is_differentiable(vit) -> None:
    vit.zero_grad(set_to_none=True)
    layers = default_gradcam_layers(vit)
    assert layers == ["blocks.7.norm1", "blocks.8.norm1", "blocks.10.norm1", "blocks.11.norm1"]
    cams = torch_gradcam(vit, _images(32), layers, create_graph=True)
    assert all(cam.shape == (2, 4, 4) and cam.requires_grad for cam in cams.values())
    assert all(cam.amax() > 0 for cam in cams.values())
    detached = torch_gradcam(vit, _images(32), layers)  # the same maps, only not differentiable
    for name in layers:
        assert not detached[name].requires_grad
        torch.testing.assert_close(cams[name].detach(), detached[name], rtol=1e-4, atol=1e-6)
    sum(cam.sum() for cam in cams.values()).backward()
    assert vit.backbone.head.weight.grad.abs().sum() > 0  # only reachable through the gradients
    assert vit.backbone.blocks[10].attn.qkv.weight.grad.abs().sum() > 0
    vit.zero_grad(set_to_none=True)


def test_vit_gradcam_on_last_block_output_is_zero_hence_norm1(vit) -> None:
    cams = torch_gradcam(vit, _images(32), ["blocks.-1", "blocks.-1.norm1", "blocks.-2"])
    assert torch.count_nonzero(cams["blocks.11"]) == 0  # the head reads only the CLS token
    assert cams["blocks.11.norm1"].amax() > 0 and cams["blocks.10"].amax() > 0


def test_torch_gradcam_works_on_frozen_models(resnet) -> None:
    unfrozen = torch_gradcam(resnet, _images(64), ["layer3", "layer4"])
    resnet.requires_grad_(False)
    try:
        with torch.no_grad():  # e.g. inside an evaluation loop
            cams = torch_gradcam(resnet, _images(64), ["layer3", "layer4"])
    finally:
        resnet.requires_grad_(True)
    assert cams["layer3"].shape == (2, 4, 4) and cams["layer4"].shape == (2, 2, 2)
    assert all(cam.amax() > 0 for cam in cams.values())
    for name, cam in cams.items():  # the same maps as with trainable parameters, not zeros
        torch.testing.assert_close(cam, unfrozen[name], rtol=1e-4, atol=1e-7)
    assert all(p.grad is None for p in resnet.parameters())  # no parameter gradients made


# --- pytorch-grad-cam adapter ------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 44])
def test_adapter_on_vit_any_size_matches_torch_gradcam(vit, size) -> None:
    x = _images(size, batch=3)
    with GradCamAdapter(vit, method="gradcam", layers=["blocks.-1.norm1"]) as adapter:
        cams = adapter(x)
    assert cams.shape == (3, size, size) and cams.dtype == torch.float32
    torch.testing.assert_close(cams.amax(dim=(1, 2)), torch.ones(3))  # every image got a map
    raw = torch_gradcam(vit, x, "blocks.11.norm1")["blocks.11.norm1"]
    expected = upsample_cam(normalize_cam(raw), (size, size), vit.grid_extent((size, size)))
    torch.testing.assert_close(normalize_cam(cams), normalize_cam(expected), atol=2e-3, rtol=0)


def test_adapter_targets_per_image_and_errors(resnet) -> None:
    with GradCamAdapter(resnet, method="Grad-CAM++", layers="layer4") as adapter:
        assert adapter.method == "gradcam++"
        with torch.no_grad():  # e.g. inside an evaluation loop
            assert adapter(_images(32, batch=2), targets=[0, 0]).shape == (2, 32, 32)
        with pytest.raises(ValueError, match="one per image"):
            adapter(_images(32, batch=2), targets=[0])
        with pytest.raises(ValueError, match="class"):
            adapter(_images(32, batch=2), targets=3)
    with pytest.raises(ValueError, match="gradcam"):
        GradCamAdapter(resnet, method="magiccam")


def test_adapter_releases_hooks_and_does_not_grow(vit) -> None:
    layers = default_gradcam_layers(vit)[-2:]
    vit.train()
    before = _hook_count(vit, layers)
    x = _images(32)
    adapter = GradCamAdapter(vit, method="gradcam", layers=layers)
    sentinel = torch.ones_like(vit.backbone.head.weight)
    vit.backbone.head.weight.grad = sentinel.clone()  # e.g. mid gradient accumulation
    with adapter:
        during = _hook_count(vit, layers)
        adapter(x)
        tensors_after_first = _live_tensor_count()
        for _ in range(2):
            adapter(x)
        tensors_after_three = _live_tensor_count()
        assert _hook_count(vit, layers) == during
        with torch.no_grad():  # other forward passes while open: not tapped (other grid size)
            vit(_images(48))
        assert not adapter._cam.activations_and_grads.activations
        assert torch.equal(vit.backbone.head.weight.grad, sentinel)  # user's grads untouched
        assert sum(p.grad is not None for p in vit.parameters()) == 1
        assert all(p.requires_grad for p in vit.parameters())
    assert during > before == 0
    assert _hook_count(vit, layers) == before
    assert tensors_after_three - tensors_after_first <= 2
    vit.zero_grad(set_to_none=True)
    assert vit.training  # mode restored after the library's model.eval()
    vit.eval()
    with pytest.raises(RuntimeError, match="closed"):
        adapter(x)


# --- fusion, multi-scale, sliding window, compute_cam -----------------------------------------


def test_fuse_cams_rules() -> None:
    a, b = torch.rand(2, 8, 8), torch.rand(2, 4, 4)
    fused = fuse_cams([a, b])
    assert fused.shape == (2, 8, 8)
    torch.testing.assert_close(fuse_cams([5 * a, b + 3]), fused)  # each map min-max'd first
    big_b = upsample_cam(b, 8)
    torch.testing.assert_close(fuse_cams([a, b], rule="weighted", weights=[0.0, 2.0]),
                               normalize_cam(big_b))
    signed = a - 0.5  # ReLU'd before fusing
    torch.testing.assert_close(fuse_cams([signed, b], rule="max", normalize="none"),
                               torch.maximum(signed.clamp_min(0), big_b))
    torch.testing.assert_close(fuse_cams([signed, b], normalize="none"),
                               (signed.clamp_min(0) + big_b) / 2)
    with pytest.raises(ValueError, match="mean"):
        fuse_cams([a], rule="median")
    with pytest.raises(ValueError, match="weight"):
        fuse_cams([a, b], rule="weighted")


def test_multiscale_and_sliding_window() -> None:
    x = _images(32, batch=2)
    seen = []

    def brightness(batch: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(batch.shape[-2:]))
        return batch.mean(dim=1)

    cam = multiscale_cam(brightness, x, scales=(0.5, 1.0, 2.0))
    assert seen == [(16, 16), (32, 32), (64, 64)]
    per_scale = [
        upsample_cam(F.interpolate(x, size=(s, s), mode="bilinear").mean(dim=1), 32)
        for s in (16, 64)
    ]
    torch.testing.assert_close(cam, (per_scale[0] + x.mean(dim=1) + per_scale[1]) / 3)
    torch.testing.assert_close(multiscale_cam(brightness, x, scales=(1.0,)), x.mean(dim=1))
    seen.clear()
    # A per-pixel map stitched from overlapping windows equals the map of the whole image.
    stitched = sliding_window_cam(brightness, _images(40), window=16, stride=12)
    torch.testing.assert_close(stitched, _images(40).mean(dim=1))
    assert seen == [(16, 16)] * 9  # window starts 0, 12, 24 on each axis
    with pytest.raises(ValueError, match="scales"):
        multiscale_cam(brightness, x, scales=(0.0,))


@pytest.mark.parametrize(
    ("method", "families"),
    [("cam", ("cnn", "vit")), ("gradcam", ("cnn", "vit")), ("layercam", ("vit",))],
)
def test_compute_cam_methods(method, families, resnet, vit) -> None:
    # 48 and 36 px: every scale gives the ResNet a 2 x 2 grid (a 1 x 1 grid is flat, see
    # test_cam_values.py::test_a_flat_map_after_upsampling_normalises_to_zero).
    x = _images(48)
    small = F.interpolate(x, size=(36, 36), mode="bilinear", align_corners=False)
    for model in [resnet if family == "cnn" else vit for family in families]:
        model.train()
        cam = compute_cam(model, x, method=method, scales=(1.0, 0.75))
        assert model.training  # mode restored
        model.eval()
        assert cam.shape == (2, 48, 48) and not cam.requires_grad
        # Two scales = the renormalised mean of the single-scale maps, the smaller one resized.
        at_full = compute_cam(model, x, method=method)
        at_small = upsample_cam(compute_cam(model, small, method=method), (48, 48))
        torch.testing.assert_close(cam, normalize_cam((at_full + at_small) / 2),
                                   atol=2e-3 if method == "layercam" else 1e-5, rtol=0)
        assert (at_full - at_small).abs().max() > 1e-2  # the second scale mattered


def test_compute_cam_single_scale_cam_equals_class_activation_map(vit) -> None:
    x = _images(32)
    with torch.no_grad():
        expected = class_activation_map(vit, x, normalize="max")
    torch.testing.assert_close(compute_cam(vit, x, "cam", normalize="max"), expected)


def test_compute_cam_rejects_bad_arguments(resnet) -> None:
    assert "cam" in CAM_METHODS and "layercam" in CAM_METHODS
    with pytest.raises(ValueError, match="gradcam"):
        compute_cam(resnet, _images(32), method="attention-rollout")
    with pytest.raises(ValueError, match="no layers"):
        compute_cam(resnet, _images(32), method="cam", layers=["layer3"])
    with pytest.raises(ValueError, match="to_tensor_batch"):
        compute_cam(resnet, torch.zeros(32, 32, 3))
