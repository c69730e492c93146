"""Torch side of the data: normalisation, SmokeDataset items, augmentation, iterate_batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsss_lib.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SceneConfig,
    SmokeDataset,
    SmokeScenes,
    augment_batch,
    denormalize,
    generate_scenes,
    iterate_batches,
    to_tensor_batch,
)


@pytest.fixture(scope="module")
def scenes() -> SmokeScenes:
    return generate_scenes(SceneConfig(image_size=32, n_images=10, seed=2))


def _marker_scenes(n: int = 6, size: int = 24) -> SmokeScenes:
    """Images that are white exactly where the smoke mask is True, black elsewhere (asymmetric)."""
    rng = np.random.default_rng(0)
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        x0, y0 = rng.integers(0, size // 3, 2)
        masks[i, y0 : y0 + size // 2, x0 : x0 + size // 4] = True  # left of centre
    images = np.repeat(masks[..., None], 3, axis=-1).astype(np.uint8) * 255
    return SmokeScenes(
        images=images, labels=np.ones(n, np.int64), smoke_masks=masks, chimney_masks=~masks
    )


def _bright(image: torch.Tensor) -> torch.Tensor:
    """Pixels of a normalised ``[..., 3, H, W]`` image that are white-ish after denormalising."""
    x = image if image.ndim == 4 else image[None]
    return (denormalize(x).mean(dim=1) > 0.5).squeeze(0)


def test_to_tensor_batch_normalises_with_imagenet_stats() -> None:
    images = np.zeros((2, 4, 5, 3), np.uint8)
    images[1, 0, 0] = (255, 128, 0)
    x = to_tensor_batch(images)
    assert x.shape == (2, 3, 4, 5) and x.dtype == torch.float32
    pixel = (1.0, 128 / 255, 0.0)
    expected = [(v - m) / s for v, m, s in zip(pixel, IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert x[1, :, 0, 0].tolist() == pytest.approx(expected, abs=1e-6)
    assert x[0, 0, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[0] / IMAGENET_STD[0])
    back = (denormalize(x) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(back, images)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 4, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4, 1))],
)
def test_to_tensor_batch_rejects_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"uint8 RGB images \[N, H, W, 3\]"):
        to_tensor_batch(bad)


def test_dataset_item_shapes_and_dtypes(scenes: SmokeScenes) -> None:
    dataset = SmokeDataset(scenes)
    assert len(dataset) == 10 and dataset.has_masks
    item = dataset[3]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["label"].shape == () and item["label"].dtype == torch.float32
    assert item["label"].item() == float(scenes.labels[3])
    assert item["smoke_mask"].shape == (32, 32) and item["smoke_mask"].dtype == torch.bool
    assert torch.equal(item["smoke_mask"], torch.from_numpy(scenes.smoke_masks[3]))
    assert torch.equal(item["chimney_mask"], torch.from_numpy(scenes.chimney_masks[3]))
    assert item["index"] == 3
    assert torch.allclose(item["image"], to_tensor_batch(scenes.images[3:4])[0])
    with pytest.raises(IndexError, match="out of range"):
        dataset[10]


def test_dataset_without_masks_gives_empty_masks(scenes: SmokeScenes) -> None:
    dataset = SmokeDataset(SmokeScenes(images=scenes.images, labels=scenes.labels))
    assert not dataset.has_masks
    item = dataset[0]
    assert item["smoke_mask"].dtype == torch.bool and not item["smoke_mask"].any()


def test_dataset_works_with_a_dataloader(scenes: SmokeScenes) -> None:
    loader = torch.utils.data.DataLoader(SmokeDataset(scenes, augment=True), batch_size=4)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["smoke_mask"].shape == (4, 32, 32)


def test_augmentation_flips_masks_with_the_image() -> None:
    marker = _marker_scenes()
    dataset = SmokeDataset(marker, augment=True)
    torch.manual_seed(0)
    flipped = 0
    for _ in range(12):
        item = dataset[1]
        assert torch.equal(_bright(item["image"]), item["smoke_mask"])
        assert torch.equal(item["chimney_mask"], ~item["smoke_mask"])
        flipped += not torch.equal(item["smoke_mask"], torch.from_numpy(marker.smoke_masks[1]))
    assert 0 < flipped < 12  # both outcomes happen


def test_random_resized_crop_keeps_masks_aligned() -> None:
    marker = _marker_scenes()
    generator = torch.Generator().manual_seed(1)
    images01 = torch.from_numpy(marker.images).permute(0, 3, 1, 2).float() / 255
    masks = torch.from_numpy(marker.smoke_masks)[:, None]
    out, out_masks = augment_batch(images01, masks, generator, crop_scale=(0.5, 0.8))
    assert out.shape == images01.shape and out_masks.dtype == torch.bool
    assert not torch.equal(out_masks, masks)  # the crops really moved things
    agreement = ((out.mean(1, keepdim=True) > 0.5) == out_masks).float().mean()
    assert agreement > 0.97  # only boundary pixels may differ (bilinear vs nearest)


def test_colour_jitter_is_mild() -> None:
    images01 = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out, _ = augment_batch(images01, None, torch.Generator().manual_seed(3))
    unflipped = [i for i in range(8) if (out[i] - images01[i]).abs().mean() < 0.2]
    assert unflipped, "expected some images without a flip"
    for i in unflipped:
        assert 0 < (out[i] - images01[i]).abs().max() < 0.25


def test_bad_crop_scale_is_rejected(scenes: SmokeScenes) -> None:
    with pytest.raises(ValueError, match="crop_scale"):
        SmokeDataset(scenes, augment=True, crop_scale=(0.0, 1.0))


def test_iterate_batches_covers_every_image_once(scenes: SmokeScenes) -> None:
    batches = list(iterate_batches(scenes, 4, shuffle=True, seed=5))
    assert [len(b["index"]) for b in batches] == [4, 4, 2]
    order = torch.cat([b["index"] for b in batches])
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))
    first = batches[0]
    assert first["image"].shape == (4, 3, 32, 32) and first["label"].dtype == torch.float32
    assert torch.equal(first["label"], torch.from_numpy(scenes.labels[first["index"]]).float())
    assert torch.equal(first["smoke_mask"], torch.from_numpy(scenes.smoke_masks[first["index"]]))


def test_iterate_batches_is_seeded(scenes: SmokeScenes) -> None:
    def run(seed: int) -> list[torch.Tensor]:
        batches = iterate_batches(scenes, 4, shuffle=True, seed=seed, augment=True)
        return [b["image"] for b in batches]

    same, again, other = run(1), run(1), run(2)
    assert all(torch.equal(a, b) for a, b in zip(same, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(same, other, strict=True))
    unshuffled = torch.cat([b["index"] for b in iterate_batches(scenes, 3)])
    assert unshuffled.tolist() == list(range(10))
    assert len(list(iterate_batches(scenes, 4, drop_last=True))) == 2


def test_iterate_batches_augmentation_keeps_masks_aligned() -> None:
    marker = _marker_scenes()
    for batch in iterate_batches(marker, 4, shuffle=True, seed=0, augment=True):
        assert torch.equal(_bright(batch["image"]), batch["smoke_mask"])


def test_iterate_batches_rejects_bad_batch_size(scenes: SmokeScenes) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        next(iterate_batches(scenes, 0))
