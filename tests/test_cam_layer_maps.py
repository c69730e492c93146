"""``wsss_lib.cam.layer_maps``: the stored per-layer Grad-CAMs and the CAMs built from them.

Protects, with answers worked out by hand on maps small enough to write down: which maps
:func:`layer_gradcams` stores (the raw Grad-CAM of each layer of the images resized by each
scale, batches concatenated in order, on the CPU), the sizes and padded extents it records, the
model's mode restored, and its input checks; and how :meth:`LayerCams.cam` turns stored maps into
one CAM (each layer upsampled over the padded extent and cropped, ReLU'd and normalised, fused by
the rule, the scales resized to the image and averaged, normalised once more), with its errors.
The fast, paired test of ``layer_maps.py`` for the mutation run (``benchmarks/mutation``); the
end-to-end check against ``compute_cam`` on a real ViT lives in ``test_experiments_refinement.py``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss_lib.cam import LayerCams, layer_gradcams, torch_gradcam, upsample_cam
from wsss_lib.data import to_tensor_batch
from wsss_lib.models import build_classifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _stored(maps: dict[float, dict[str, list]], image_size=(2, 2), extents=None) -> LayerCams:
    """A LayerCams from nested lists ``scale -> layer -> [N][h][w]`` (no model involved)."""
    tensors = {s: {name: torch.tensor(m, dtype=torch.float32) for name, m in layers.items()}
               for s, layers in maps.items()}
    if extents is None:  # grid = image at that scale, nothing padded
        extents = {s: (tuple(next(iter(t.values())).shape[-2:]),) * 2 for s, t in tensors.items()}
    names = list(next(iter(tensors.values())))
    return LayerCams(maps=tensors, layers=names, image_size=image_size, extents=extents)


# ---------------------------------------------------------------------------- LayerCams.cam


# Two layers of one 2 x 2 image at scale 1:
#   a = [[0, 1], [2, 3]]  -> min-max: [[0, 1/3], [2/3, 1]]
#   b = [[3, 3], [-1, 0]] -> ReLU [[3, 3], [0, 0]] -> min-max: [[1, 1], [0, 0]]
A = [[[0.0, 1.0], [2.0, 3.0]]]
B = [[[3.0, 3.0], [-1.0, 0.0]]]


def test_cam_of_one_layer_is_its_min_max_normalised_map():
    cams = _stored({1.0: {"a": A, "b": B}})
    torch.testing.assert_close(cams.cam(["a"]), torch.tensor([[[0.0, 1 / 3], [2 / 3, 1.0]]]))
    torch.testing.assert_close(cams.cam(["b"]), torch.tensor([[[1.0, 1.0], [0.0, 0.0]]]))


def test_cam_fuses_the_normalised_layers_by_each_rule_and_normalises_again():
    cams = _stored({1.0: {"a": A, "b": B}})
    assert cams.layers == ["a", "b"] and cams.scales == (1.0,) and len(cams) == 1
    # mean: [[1/2, 2/3], [1/3, 1/2]] -> min 1/3, max 2/3 -> [[1/2, 1], [0, 1/2]]
    torch.testing.assert_close(cams.cam(), torch.tensor([[[0.5, 1.0], [0.0, 0.5]]]))
    torch.testing.assert_close(cams.cam(["b", "a"]), cams.cam())  # the order of layers is moot
    # max: [[1, 1], [2/3, 1]] -> [[1, 1], [0, 1]]
    torch.testing.assert_close(cams.cam(rule="max"), torch.tensor([[[1.0, 1.0], [0.0, 1.0]]]))
    # weighted 3:1 -> (3a' + b') / 4 = [[1/4, 1/2], [1/2, 3/4]] -> [[0, 1/2], [1/2, 1]]
    torch.testing.assert_close(cams.cam(rule="weighted", weights=(3.0, 1.0)),
                               torch.tensor([[[0.0, 0.5], [0.5, 1.0]]]))
    # normalize="none": ReLU'd raw values averaged, no stretching: [[1.5, 2], [1, 1.5]]
    torch.testing.assert_close(cams.cam(normalize="none"),
                               torch.tensor([[[1.5, 2.0], [1.0, 1.5]]]))
    # normalize="max": a / 3 and b / 3, mean [[1/2, 2/3], [1/3, 1/2]], / max -> times 3/2
    torch.testing.assert_close(cams.cam(normalize="max"),
                               torch.tensor([[[0.75, 1.0], [0.5, 0.75]]]))


def test_cam_upsamples_each_layer_over_the_padded_extent_then_crops_the_image():
    # A 1 x 2 grid covering a 2 x 4 padded area of which the image is the top-left 2 x 3.
    # Bilinear (half-pixel centres) from 2 columns to 4: source x = -0.25, 0.25, 0.75, 1.25,
    # clamped -> weights on the right column 0, 1/4, 3/4, 1; cropped to 3 columns.
    grid = [[[0.0, 8.0]]]
    cams = LayerCams(maps={1.0: {"a": torch.tensor(grid)}}, layers=["a"], image_size=(2, 3),
                     extents={1.0: ((2, 3), (2, 4))})
    torch.testing.assert_close(cams.cam(normalize="none"),
                               torch.tensor([[[0.0, 2.0, 6.0], [0.0, 2.0, 6.0]]]))
    # Normalised after the crop: the cropped maximum 6 becomes 1, not the padding's 8.
    torch.testing.assert_close(cams.cam(), torch.tensor([[[0.0, 1 / 3, 1.0]] * 2]))


def test_cam_averages_scales_each_resized_to_the_image_and_normalises_once():
    # Scale 2: a 4 x 4 map of the image at twice its size; brought back to 2 x 2 by bilinear
    # down-sampling by exactly two, i.e. the mean of each 2 x 2 block.
    at_two = [[[0.0, 0.0, 4.0, 4.0],
               [0.0, 0.0, 4.0, 4.0],
               [8.0, 8.0, 0.0, 4.0],
               [8.0, 8.0, 4.0, 0.0]]]
    at_one = [[[0.0, 1.0], [1.0, 1.0]]]
    cams = _stored({1.0: {"a": at_one}, 2.0: {"a": at_two}})
    # Per scale (normalize="none"): [[0, 1], [1, 1]] and [[0, 4], [8, 2]]; mean [[0, 2.5], [4.5,
    # 1.5]].
    torch.testing.assert_close(cams.cam(scales=(1.0, 2.0), normalize="none"),
                               torch.tensor([[[0.0, 2.5], [4.5, 1.5]]]))
    # min-max per scale: [[0, 1], [1, 1]] and [[0, .5], [1, .25]]; mean [[0, .75], [1, .625]];
    # already spanning 0..1.
    torch.testing.assert_close(cams.cam(scales=(1.0, 2.0)),
                               torch.tensor([[[0.0, 0.75], [1.0, 0.625]]]))
    torch.testing.assert_close(cams.cam(scales=(2.0,)),
                               torch.tensor([[[0.0, 0.5], [1.0, 0.25]]]))
    torch.testing.assert_close(cams.cam(scales=[2]), cams.cam(scales=(2.0,)))  # int scale
    # The default is scale 1 only, not every stored scale.
    torch.testing.assert_close(cams.cam(), torch.tensor([[[0.0, 1.0], [1.0, 1.0]]]))


def test_cam_keeps_images_apart():
    # Image 0 of layer "a" spans 0..3, image 1 spans 10..11: normalised separately.
    cams = _stored({1.0: {"a": [A[0], [[10.0, 10.0], [11.0, 10.0]]]}})
    expected = torch.tensor([[[0.0, 1 / 3], [2 / 3, 1.0]], [[0.0, 0.0], [1.0, 0.0]]])
    torch.testing.assert_close(cams.cam(), expected)
    assert len(cams) == 2


def test_cam_rejects_layers_and_scales_that_were_not_computed():
    cams = _stored({1.0: {"a": A, "b": B}})
    with pytest.raises(ValueError, match=r"Layers \['c'\] were not computed; have \['a', 'b'\]"):
        cams.cam(["a", "c"])
    with pytest.raises(ValueError, match=r"Layers \[\] were not computed"):
        cams.cam([])
    with pytest.raises(ValueError, match=r"Scales \[0.5\] were not computed; have \[1.0\]"):
        cams.cam(scales=(1.0, 0.5))
    with pytest.raises(ValueError, match=r"Scales \[\] were not computed"):
        cams.cam(scales=())
    with pytest.raises(ValueError, match="one weight per map"):
        cams.cam(rule="weighted", weights=(1.0,))


# ---------------------------------------------------------------------------- layer_gradcams


@pytest.fixture(scope="module")
def tiny_vit():
    torch.manual_seed(0)
    return build_classifier("test_vit", patch_size=8, img_size=32).eval()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(4).integers(0, 256, size=(5, 20, 28, 3), dtype=np.uint8)


def test_layer_gradcams_stores_each_layers_raw_gradcam_per_scale_in_image_order(tiny_vit,
                                                                                images):
    layers = ["blocks.5.norm1", "blocks.-3.norm1"]  # a negative index is resolved to its name
    cams = layer_gradcams(tiny_vit, images, layers, scales=(1.0, 0.6), batch_size=2,
                          progress=False)
    assert cams.layers == ["blocks.5.norm1", "blocks.3.norm1"]
    assert cams.scales == (1.0, 0.6) and cams.image_size == (20, 28) and len(cams) == 5
    # 20 x 28 px -> padded to 24 x 32 (patch 8) -> a 3 x 4 grid; at 0.6: 12 x 17 px (16.8
    # rounded) -> padded 16 x 24 -> 2 x 3.
    assert cams.extents == {1.0: ((20, 28), (24, 32)), 0.6: ((12, 17), (16, 24))}
    x = to_tensor_batch(images)
    for scale, size in ((1.0, (20, 28)), (0.6, (12, 17))):
        resized = x if scale == 1.0 else F.interpolate(x, size=size, mode="bilinear",
                                                       align_corners=False)
        expected = torch_gradcam(tiny_vit, resized, ["blocks.5.norm1", "blocks.3.norm1"])
        for name in cams.layers:
            stored = cams.maps[scale][name]
            assert stored.device.type == "cpu" and stored.dtype == torch.float32
            assert stored.shape == (5, *expected[name].shape[-2:])
            # All five images, in order, although they were computed two at a time.
            torch.testing.assert_close(stored, expected[name], rtol=1e-4, atol=1e-7)
            assert stored.amax() > 0  # a real map, not an empty one
    # Different layers, different maps (a layer's map is not stored under another's name).
    assert not torch.allclose(cams.maps[1.0]["blocks.5.norm1"], cams.maps[1.0]["blocks.3.norm1"])


def test_layer_gradcams_defaults_to_the_papers_layers_and_restores_the_mode(tiny_vit, images):
    tiny_vit.train()
    try:
        cams = layer_gradcams(tiny_vit, torch.from_numpy(images[:2]), progress=False)
        assert tiny_vit.training
    finally:
        tiny_vit.eval()
    assert cams.layers == ["blocks.1.norm1", "blocks.2.norm1", "blocks.4.norm1", "blocks.5.norm1"]
    assert cams.scales == (1.0,)
    # It ran in eval mode: the stored maps are those of the eval model.
    expected = torch_gradcam(tiny_vit, to_tensor_batch(images[:2]), "blocks.5.norm1")
    torch.testing.assert_close(cams.maps[1.0]["blocks.5.norm1"], expected["blocks.5.norm1"],
                               rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"images": "float"}, r"uint8 \[N, H, W, 3\]"),
        ({"images": "channels_first"}, r"got uint8 \(2, 3, 20, 28\)"),
        ({"images": "gray"}, r"got uint8 \(2, 20, 28\)"),
        ({"images": "empty"}, "No images given"),
        ({"scales": ()}, "scales must be positive"),
        ({"scales": (1.0, 0.0)}, "scales must be positive"),
        ({"scales": (-0.5,)}, "scales must be positive"),
        ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ],
)
def test_layer_gradcams_rejects_bad_arguments(tiny_vit, images, bad, message):
    kinds = {
        "float": images[:2].astype(np.float32),
        "channels_first": np.ascontiguousarray(images[:2].transpose(0, 3, 1, 2)),
        "gray": images[:2, ..., 0],
        "empty": images[:0],
    }
    kwargs = {"scales": (1.0,), "batch_size": 4, **bad}
    x = kinds[kwargs.pop("images")] if "images" in kwargs else images[:2]
    with pytest.raises(ValueError, match=message):
        layer_gradcams(tiny_vit, x, ["blocks.5.norm1"], progress=False, **kwargs)


def test_layer_gradcams_accepts_a_batch_size_of_one(tiny_vit, images):
    one = layer_gradcams(tiny_vit, images[:3], ["blocks.5.norm1"], batch_size=1, progress=False)
    whole = layer_gradcams(tiny_vit, images[:3], ["blocks.5.norm1"], batch_size=3,
                           progress=False)
    torch.testing.assert_close(one.maps[1.0]["blocks.5.norm1"],
                               whole.maps[1.0]["blocks.5.norm1"], rtol=1e-4, atol=1e-7)


def test_layer_gradcams_progress_bar_counts_batches_times_scales(tiny_vit, images, capsys):
    layer_gradcams(tiny_vit, images, ["blocks.5.norm1"], scales=(1.0, 0.5), batch_size=3,
                   progress=False)
    assert capsys.readouterr().err == ""
    layer_gradcams(tiny_vit, images, ["blocks.5.norm1"], scales=(1.0, 0.5), batch_size=3)
    err = capsys.readouterr().err
    assert re.search(r"(^|\r)Grad-CAM: ", err)
    assert re.findall(r"(\d+)/(\d+) ", err)[-1] == ("4", "4")  # 2 batches x 2 scales, 1 each


def test_fuse_layer_maps_defaults_to_the_papers_mean_of_min_max_normalised_maps():
    from wsss_lib.cam import fuse_layer_maps

    a, b = torch.tensor(A), torch.tensor(B)
    fused = fuse_layer_maps([a, b], (2, 2), (2, 2))
    torch.testing.assert_close(fused, torch.tensor([[[0.5, 1.0], [0.0, 0.5]]]))  # as above
    # Over a padded extent: each map resized to 4 x 4 and cropped to the 3 x 3 image first.
    torch.testing.assert_close(
        fuse_layer_maps([a, b], (3, 3), (4, 4), rule="max", normalize="none"),
        torch.maximum(upsample_cam(a, 4), upsample_cam(b, 4).clamp_min(0))[:, :3, :3])
