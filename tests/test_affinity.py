"""AffinityRefiner: affinity training + random walk spread activation within look-alike regions."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from wsss_lib.postprocess.affinity import (
    AffinityRefiner,
    affinity_loss,
    cam_labels,
    neighbour_offsets,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 64
SKY, SMOKE_GREY = (90, 150, 225), (150, 150, 150)
CLOUD_GREY, HILL_GREEN = (165, 165, 168), (60, 120, 50)


def _noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def _blob_cam(cy: float, cx: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)).astype(np.float32)


def two_region_scenes(n: int = 6, seed: int = 0):
    """Red region A left of a random split, blue region B right; CAM confident in A's centre."""
    rng = np.random.default_rng(seed)
    xx = np.mgrid[:SIZE, :SIZE][1]
    images, cams, regions = [], [], []
    for _ in range(n):
        split = int(rng.integers(24, 40))
        region_a = xx < split
        image = np.where(region_a[..., None], np.array([200, 60, 60]), np.array([40, 90, 200]))
        images.append(_noisy(image.astype(float), rng))
        cams.append(_blob_cam(SIZE / 2, split / 2, sigma=7.0))
        regions.append(region_a)
    return np.stack(images), torch.from_numpy(np.stack(cams)), np.stack(regions)


def smoke_scenes(n: int = 6, neighbour: tuple[int, int, int] | None = None, seed: int = 0):
    """Grey smoke plume on blue sky, CAM confident in its centre; optionally a region touching it.

    Returns images uint8 [n, S, S, 3], cams [n, S, S], smoke and neighbour masks bool [n, S, S].
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    images, cams, smokes, neighbours = [], [], [], []
    for _ in range(n):
        sx = int(rng.integers(14, 22))
        smoke = ((xx - sx) / 10.0) ** 2 + ((yy - 32) / 18.0) ** 2 < 1
        touching = (((xx - (sx + 22)) / 12.0) ** 2 + ((yy - 30) / 14.0) ** 2 < 1) & ~smoke
        image = np.empty((SIZE, SIZE, 3))
        image[:] = SKY
        image[smoke] = SMOKE_GREY
        if neighbour is not None:
            image[touching] = neighbour
        images.append(_noisy(image, rng))
        cams.append(_blob_cam(32, sx, sigma=6.0))
        smokes.append(smoke)
        neighbours.append(touching)
    cams_t = torch.from_numpy(np.stack(cams))
    return np.stack(images), cams_t, np.stack(smokes), np.stack(neighbours)


def _iou(pred: np.ndarray, gt: np.ndarray) -> float:
    return float((pred & gt).sum() / (pred | gt).sum())


def _refiner(**kwargs) -> AffinityRefiner:
    settings = {"bg_thresh": 0.05, "progress": False, "device": "cpu", **kwargs}
    return AffinityRefiner(**settings)


def test_walk_spreads_activation_within_the_confident_region():
    images, cams, region_a = two_region_scenes()
    refiner = _refiner().fit(cams, images)
    refined = refiner(cams, images).numpy()

    before = np.mean([_iou(c > 0.3, a) for c, a in zip(cams.numpy(), region_a, strict=True)])
    after = np.mean([_iou(r > 0.3, a) for r, a in zip(refined, region_a, strict=True)])
    assert after > before + 0.25, (before, after)
    leaked = np.mean([(r[~a] > 0.3).mean() for r, a in zip(refined, region_a, strict=True)])
    assert leaked < 0.1
    assert refiner.history[-1] < refiner.history[0]  # the affinity loss went down
    assert refiner.pair_counts["fg_bg"] > 0


def test_failure_mode_smoke_bleeds_into_similar_grey_cloud_but_not_into_green_hill():
    # Trained on plumes against clear sky, the class-agnostic affinity learns "grey vs blue".
    train_images, train_cams, _, _ = smoke_scenes(neighbour=None)
    refiner = _refiner().fit(train_cams, train_images)

    cloud_images, cams, smoke, cloud = smoke_scenes(neighbour=CLOUD_GREY)
    hill_images, _, _, hill = smoke_scenes(neighbour=HILL_GREEN)
    on_cloud = refiner(cams, cloud_images).numpy()
    on_hill = refiner(cams, hill_images).numpy()

    cloud_before = np.mean([(c[m] > 0.3).mean() for c, m in zip(cams.numpy(), cloud, strict=True)])
    cloud_after = np.mean([(r[m] > 0.3).mean() for r, m in zip(on_cloud, cloud, strict=True)])
    hill_after = np.mean([(r[m] > 0.3).mean() for r, m in zip(on_hill, hill, strict=True)])
    sky = ~(smoke | cloud)
    assert cloud_before == 0.0
    assert cloud_after > 0.5, cloud_after  # activation bled into the look-alike cloud
    assert hill_after < 0.1, hill_after  # ...but not into a differently coloured neighbour
    assert np.mean([r[s].mean() for r, s in zip(on_cloud, sky, strict=True)]) < 0.1


def test_transition_weights_are_a_local_probability_distribution():
    images, cams, _ = two_region_scenes(n=2)
    refiner = _refiner(epochs=1, radius=4).fit(cams, images)
    weights = refiner.transition_weights(images)
    grid = SIZE // 4
    assert weights.shape == (2, 49, grid, grid)  # 7x7 window at stride 4
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, grid, grid))
    assert float(weights[:, 0].max()) == 0.0  # offset (-3, -3): 18 >= radius**2, off the disk
    assert float(weights[:, 24].min()) > 0.0  # a cell always keeps some of its own activation
    top_left = weights[:, :, 0, 0].reshape(2, 7, 7)
    assert float(top_left[:, :3].max()) == 0.0  # neighbours above the grid do not exist


def test_zero_iterations_returns_the_pooled_cam():
    images, cams, _ = two_region_scenes(n=2)
    refiner = _refiner(epochs=1, iterations=0, normalize="none").fit(cams, images)
    walked = refiner.random_walk(cams, images)
    pooled = torch.nn.functional.avg_pool2d(cams[:, None], 4)[:, 0]
    torch.testing.assert_close(walked, pooled)


def test_fit_is_deterministic_for_a_seed_and_call_keeps_shape_and_range():
    images, cams, _ = two_region_scenes(n=3)
    first = _refiner(epochs=2, seed=3).fit(cams, images)(cams, images)
    second = _refiner(epochs=2, seed=3).fit(cams, images)(cams, images)
    assert first.shape == cams.shape and first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    torch.testing.assert_close(first, second)


def test_accepts_normalised_float_images_like_uint8():
    images, cams, _ = two_region_scenes(n=2)
    refiner = _refiner(epochs=1).fit(cams, images)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    normalised = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - mean) / std
    torch.testing.assert_close(refiner(cams, normalised), refiner(cams, images), atol=1e-4,
                               rtol=1e-4)


def test_call_before_fit_raises_a_clear_error():
    images, cams, _ = two_region_scenes(n=1)
    with pytest.raises(RuntimeError, match=r"fit\(cams, images\)"):
        AffinityRefiner(progress=False, device="cpu")(cams, images)


def test_paper_bg_thresh_on_minmax_cams_warns_about_missing_negative_pairs():
    images, cams, _ = two_region_scenes(n=2)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    faint = 0.9 * cams + 0.1 * (yy + xx) / (2 * SIZE)  # real CAMs are rarely exactly 0...
    low = faint.amin(dim=(1, 2), keepdim=True)
    minmax = (faint - low) / (faint.amax(dim=(1, 2), keepdim=True) - low)  # ...0 at one pixel
    with pytest.warns(UserWarning, match="no foreground-background pairs"):
        _refiner(bg_thresh=1e-4, epochs=1).fit(minmax, images)


def test_rejects_bad_settings_and_inputs():
    with pytest.raises(ValueError, match="bg_thresh"):
        AffinityRefiner(fg_thresh=0.3, bg_thresh=0.5)
    with pytest.raises(ValueError, match="radius"):
        AffinityRefiner(radius=1)
    with pytest.raises(ValueError, match="power of two"):
        AffinityRefiner(stride=3)
    images, cams, _ = two_region_scenes(n=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _refiner(epochs=1).fit(cams * 3, images)
    with pytest.raises(ValueError, match="No confident CAM cells"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _refiner(epochs=1, fg_thresh=0.99, bg_thresh=0.0).fit(cams * 0.5, images)


def test_loss_counts_pairs_by_kind():
    labels = torch.tensor([[[1, 1, -1, 0]]])  # one row: fg fg ignore bg
    offsets = neighbour_offsets(2, half=True)  # radius 2: right, and the row below (none)
    distances = torch.ones(1, len(offsets), 1, 4)
    _, counts = affinity_loss(distances, labels, offsets)
    assert counts == {"fg_fg": 1, "bg_bg": 0, "fg_bg": 0}
    labels = torch.tensor([[[1, 0, 0, -1]]])
    _, counts = affinity_loss(distances, labels, offsets)
    assert counts == {"fg_fg": 0, "bg_bg": 1, "fg_bg": 1}


def test_cam_labels_use_both_thresholds_and_an_ignore_band():
    cam = torch.tensor([[[0.9, 0.2], [0.0, 0.05]]])
    labels = cam_labels(cam, (2, 2), fg_thresh=0.3, bg_thresh=0.05)
    assert labels.tolist() == [[[1, -1], [0, -1]]]


class _StandInClassifier(nn.Module):
    """Follows the WSSSClassifier forward contract: ``forward(x, layers) -> output`` with
    ``feature_map [B, C, h, w]`` and ``features`` for the requested layers."""

    name = "stand-in"
    embed_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, stride=4)

    def forward(self, x: torch.Tensor, layers=()):
        features = self.stem(x)
        return SimpleNamespace(feature_map=features, features={name: features for name in layers})


def test_backbone_features_variant_trains_only_the_head():
    images, cams, _ = two_region_scenes(n=2)
    backbone = _StandInClassifier()
    frozen = backbone.stem.weight.detach().clone()
    refiner = _refiner(backbone=backbone, backbone_layer="stem", epochs=2).fit(cams, images)
    refined = refiner(cams, images)
    assert refined.shape == cams.shape
    torch.testing.assert_close(backbone.stem.weight, frozen)
    assert backbone.stem.weight.requires_grad  # the caller's model is not altered
    assert refiner.params()["backbone"] == "stand-in"
    json.dumps(refiner.params())


def test_grids_smaller_than_the_radius_work():
    images, cams, _ = two_region_scenes(n=2)
    small_images, small_cams = images[:, ::4, ::4].copy(), cams[:, ::4, ::4].contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 4 cells hold no fg-bg pair; not the point here
        refiner = _refiner(stride=8, epochs=1).fit(small_cams, small_images)  # 16 px: 2x2 grid
    refined = refiner(small_cams, small_images)
    assert refined.shape == small_cams.shape and bool(torch.isfinite(refined).all())
