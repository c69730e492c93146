"""SamRefiner: the seed/proposal union rule (stub proposer) and the real SAM path (tiny SAM)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from wsss_lib.postprocess.sam_refine import (
    SamArchitecture,
    SamRefiner,
    build_sam,
    union_overlapping_masks,
)
from wsss_lib.postprocess.weights import (
    WeightsUnavailableError,
    sam_weights_available,
    weights_dir,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32
TINY_SAM = SamArchitecture(
    encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2, encoder_global_attn_indexes=(1,),
    image_size=64, patch_size=16, window_size=2, prompt_embed_dim=32, decoder_mlp_dim=64,
    decoder_num_heads=2, iou_head_hidden_dim=32,
)
# Random weights predict poor masks: keep every proposal so the test sees some.
KEEP_ALL = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0,
            "box_nms_thresh": 1.0}


def _box(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


SEED = _box(8, 8, 16, 16)  # 64 px
GROWS_SEED = _box(8, 8, 16, 22)  # contains the seed, IoU 64 / 112 = 0.57 -> kept
ELSEWHERE = _box(24, 24, 30, 30)  # disjoint -> dropped
INSIDE_SMALL = _box(8, 8, 10, 10)  # inside the seed, IoU 4 / 64 -> kept only by min_overlap
SPILLS_OVER = _box(12, 12, 28, 28)  # IoU 16 / 304 -> dropped


def test_union_keeps_only_masks_overlapping_the_seed():
    masks = np.stack([GROWS_SEED, ELSEWHERE, INSIDE_SMALL, SPILLS_OVER])
    union, kept = union_overlapping_masks(SEED, masks, iou_threshold=0.4)
    assert kept.tolist() == [True, False, False, False]
    np.testing.assert_array_equal(union, SEED | GROWS_SEED)
    _, kept = union_overlapping_masks(SEED, masks, iou_threshold=0.4, min_overlap=0.9)
    assert kept.tolist() == [True, False, True, False]


def test_union_with_an_empty_seed_or_no_masks_changes_nothing():
    empty = np.zeros((SIZE, SIZE), dtype=bool)
    union, kept = union_overlapping_masks(empty, np.stack([GROWS_SEED]), min_overlap=0.0)
    assert not union.any() and not kept.any()
    union, kept = union_overlapping_masks(SEED, np.zeros((0, SIZE, SIZE), dtype=bool))
    np.testing.assert_array_equal(union, SEED)
    assert kept.shape == (0,)


def _cam_and_images(batch: int = 2):
    cam = torch.full((batch, SIZE, SIZE), 0.1)
    cam[:, torch.from_numpy(SEED)] = 0.8
    images = np.random.default_rng(0).integers(0, 256, (batch, SIZE, SIZE, 3), dtype=np.uint8)
    return cam, images


def test_refiner_sets_the_grown_seed_to_one_and_keeps_the_cam_elsewhere():
    seen = []

    def proposer(image):
        seen.append(image.shape)
        return [GROWS_SEED, {"segmentation": ELSEWHERE}]  # plain masks and SAM-style records

    cam, images = _cam_and_images()
    refined = SamRefiner(mask_generator=proposer, device="cpu")(cam, images)
    grown = torch.from_numpy(SEED | GROWS_SEED)
    assert seen == [(SIZE, SIZE, 3)] * 2
    assert bool((refined[:, grown] == 1.0).all())
    torch.testing.assert_close(refined[:, ~grown], cam[:, ~grown])


def test_refiner_accepts_objects_with_generate_and_reports_counts():
    class Proposer:
        def generate(self, image):
            return [{"segmentation": GROWS_SEED}, {"segmentation": SPILLS_OVER}]

    cam, images = _cam_and_images(batch=1)
    refiner = SamRefiner(mask_generator=Proposer(), seed_threshold=0.5, device="cpu")
    refiner(cam, images)
    assert refiner.last_stats == [{"proposals": 2, "kept": 1}]
    params = refiner.params()
    json.dumps(params)
    assert params["proposer"] == "Proposer" and params["iou_threshold"] == 0.4


def test_proposals_of_the_wrong_size_are_rejected():
    cam, images = _cam_and_images(batch=1)
    refiner = SamRefiner(mask_generator=lambda image: [np.ones((8, 8), dtype=bool)], device="cpu")
    with pytest.raises(ValueError, match="proposals must be bool"):
        refiner(cam, images)


@pytest.fixture(scope="module")
def tiny_sam_checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_sam") / "tiny_sam.pth"
    torch.save(build_sam(TINY_SAM, device="cpu").state_dict(), path)
    return str(path)


def test_real_sam_path_loads_the_checkpoint_and_grows_the_seed(tiny_sam_checkpoint):
    refiner = SamRefiner(checkpoint=tiny_sam_checkpoint, architecture=TINY_SAM,
                         generator_kwargs=KEEP_ALL, device="cpu")
    saved = torch.load(tiny_sam_checkpoint, weights_only=True)
    for key, value in refiner.sam.state_dict().items():
        torch.testing.assert_close(value, saved[key])

    image = np.random.default_rng(1).integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)
    proposals = refiner.proposals(image[0])
    areas = proposals.reshape(len(proposals), -1).mean(axis=1)
    assert proposals.dtype == bool and proposals.shape[1:] == (SIZE, SIZE)
    target = proposals[int(np.argmin(np.abs(areas - 0.3)))]  # a mid-sized SAM mask
    assert 0.1 < target.mean() < 0.6
    # Seed = the first 60 % of the mask's pixels: IoU 0.6 > 0.4, so SAM must add the rest.
    seed = np.zeros(SIZE * SIZE, dtype=bool)
    seed[np.flatnonzero(target)[: int(0.6 * target.sum())]] = True
    cam = torch.from_numpy(np.where(seed.reshape(SIZE, SIZE), 0.9, 0.05).astype(np.float32))[None]

    refined = refiner(cam, image)
    assert bool((refined[0][torch.from_numpy(target)] == 1.0).all())
    assert bool((refined >= cam).all())
    assert refiner.last_stats[0]["proposals"] == len(proposals)
    torch.testing.assert_close(refined, refiner(cam, image))  # deterministic


def test_checkpoint_for_another_architecture_is_rejected_with_a_clear_error(tiny_sam_checkpoint):
    other = SamArchitecture(**{**TINY_SAM.__dict__, "encoder_embed_dim": 48})
    with pytest.raises(RuntimeError, match="does not match the architecture"):
        SamRefiner(checkpoint=tiny_sam_checkpoint, architecture=other, device="cpu")


def test_missing_weights_fail_fast_with_download_instructions(tmp_path):
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="sam_vit_b_01ec64.pth"):
        SamRefiner(device="cpu")
    assert time.perf_counter() - start < 3.0
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        SamRefiner(checkpoint=tmp_path / "nope.pth", device="cpu")
    available, reason = sam_weights_available("vit_b")
    assert not available and "dl.fbaipublicfiles.com" in reason


def test_weights_folder_is_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("WSSS_CACHE", str(tmp_path))
    (weights_dir()).mkdir(parents=True)
    (weights_dir() / "sam_vit_b_01ec64.pth").write_bytes(b"")
    available, where = sam_weights_available("vit_b")
    assert available and where.endswith("sam_vit_b_01ec64.pth")


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="iou_threshold"):
        SamRefiner(mask_generator=lambda image: [], iou_threshold=1.5)
    with pytest.raises(ValueError, match="model_type"):
        SamRefiner(model_type="vit_x")
    with pytest.raises(ValueError, match="not both"):
        SamRefiner(mask_generator=lambda image: [], checkpoint="x.pth")
    with pytest.raises(ValueError, match="needs checkpoint"):
        SamRefiner(architecture=TINY_SAM)
