"""Metrics against small hand-computed cases, edge cases, and numpy/torch parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wsss_lib.metrics import (
    EVAL_KEYS,
    cam_chimney_mass,
    chimney_false_positive_rate,
    classification_accuracy,
    confusion_iou,
    distractor_false_positive_rate,
    evaluate_cams,
    per_image_iou_values,
    per_image_smoke_iou,
    precision_recall_f1,
    threshold_sweep,
)


def _masks(*rows: str) -> np.ndarray:
    """Build a bool [N, 2, 4] stack from strings like "1100/0000" (one per image)."""
    return np.array(
        [[[c == "1" for c in line] for line in row.split("/")] for row in rows], dtype=bool
    )


# Image 0: gt 4 px, pred 2 of them -> IoU 2/4.
# Image 1: gt 2 px, pred 3 px overlapping 1 -> IoU 1/4.
# Image 2: clean (empty gt), pred 2 px -> false positives only.
# Image 3: clean, empty prediction.
GT = _masks("1111/0000", "0011/0000", "0000/0000", "0000/0000")
PRED = _masks("1100/0000", "0001/1100", "0000/0011", "0000/0000")


def test_per_image_iou_values_and_mean_by_hand():
    values = per_image_iou_values(PRED, GT)
    np.testing.assert_allclose(values[:2], [0.5, 0.25])
    assert np.isnan(values[2:]).all()  # clean images do not count
    assert per_image_smoke_iou(PRED, GT) == pytest.approx(0.375)


def test_per_image_iou_empty_mask_conventions():
    all_values = per_image_iou_values(PRED, GT, smoke_only=False)
    assert all_values[2] == 0.0  # prediction on an empty gt
    assert all_values[3] == 1.0  # empty prediction on an empty gt
    # A label-1 image with an empty gt counts, with the documented convention.
    labels = np.array([1, 1, 0, 1])
    values = per_image_iou_values(PRED, GT, labels=labels)
    np.testing.assert_allclose(values, [0.5, 0.25, np.nan, 1.0])
    assert per_image_smoke_iou(PRED, GT, labels) == pytest.approx((0.5 + 0.25 + 1.0) / 3)


def test_per_image_smoke_iou_without_smoke_images_is_nan():
    assert math.isnan(per_image_smoke_iou(PRED[2:], GT[2:]))


def test_single_image_hw_input_is_accepted():
    assert per_image_smoke_iou(PRED[0], GT[0]) == pytest.approx(0.5)
    assert confusion_iou(PRED[0].astype(np.uint8), GT[0].astype(np.uint8))["iou_smoke"] == 0.5


def test_confusion_iou_and_prf_by_hand():
    # Pooled over the 32 pixels. tp: 2 + 1; fp: image 1 row 2 (2) + image 2 (2); fn: 2 + 1.
    tp, fp, fn = 3, 4, 3
    tn = GT.size - tp - fp - fn
    conf = confusion_iou(PRED, GT)
    assert conf["iou_smoke"] == pytest.approx(tp / (tp + fp + fn))
    assert conf["iou_background"] == pytest.approx(tn / (tn + fp + fn))
    assert conf["miou"] == pytest.approx((conf["iou_smoke"] + conf["iou_background"]) / 2)
    prf = precision_recall_f1(PRED, GT)
    assert prf["precision"] == pytest.approx(tp / (tp + fp))
    assert prf["recall"] == pytest.approx(tp / (tp + fn))
    assert prf["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_all_background_images():
    empty = np.zeros((2, 3, 3), dtype=bool)
    conf = confusion_iou(empty, empty)
    assert math.isnan(conf["iou_smoke"]) and conf["iou_background"] == 1.0
    assert conf["miou"] == 1.0  # mean over the classes that are defined
    prf = precision_recall_f1(empty, empty)
    assert all(math.isnan(v) for v in prf.values())
    one_smoke_pixel = empty.copy()
    one_smoke_pixel[1, 0, 0] = True
    missed = precision_recall_f1(empty, one_smoke_pixel)
    assert math.isnan(missed["precision"]) and missed["recall"] == 0.0 and missed["f1"] == 0.0


def _brute_force_sweep(cam, gt, thresholds):
    curves = []
    for t in thresholds:
        curves.append(per_image_iou_values(cam > float(t), gt))  # as a user would write it
    per_image = np.array(curves).T  # [N, T], NaN rows for non-smoke images
    smoke = ~np.isnan(per_image[:, 0])
    return per_image[smoke]


def test_threshold_sweep_matches_brute_force_including_ties():
    rng = np.random.default_rng(0)
    # Values on the 0.01 grid hit thresholds exactly: `cam > t` must be strict.
    cam = np.round(rng.random((6, 8, 8)), 2).astype(np.float32)
    gt = rng.random((6, 8, 8)) > 0.6
    gt[5] = False  # one image without smoke
    result = threshold_sweep(cam, gt)
    expected = _brute_force_sweep(cam, gt, result.thresholds)
    assert result.thresholds.shape == (101,)
    assert result.n_smoke_images == 5
    np.testing.assert_allclose(result.ious, expected.mean(axis=0))
    assert result.best_iou == pytest.approx(expected.mean(axis=0).max())
    assert result.best_threshold == result.thresholds[np.argmax(result.ious)]
    assert result.oracle_iou == pytest.approx(expected.max(axis=1).mean())
    assert result.oracle_iou >= result.best_iou


def test_threshold_sweep_oracle_beats_single_threshold_when_images_disagree():
    # Image 0 is perfectly segmented only at t in [0.2, 0.6), image 1 only at t in [0.6, 0.9).
    cam = np.zeros((2, 1, 4))
    cam[0, 0] = [0.6, 0.6, 0.1, 0.1]
    cam[1, 0] = [0.9, 0.9, 0.2, 0.2]
    gt = np.array([[[1, 1, 0, 0]], [[1, 1, 0, 0]]], dtype=bool)
    result = threshold_sweep(cam, gt, thresholds=[0.7, 0.3, 0.3])
    np.testing.assert_allclose(result.thresholds, [0.3, 0.7])  # sorted, de-duplicated
    np.testing.assert_allclose(result.ious, [1.0, 0.5])
    assert result.best_threshold == 0.3 and result.oracle_iou == 1.0


def test_threshold_sweep_edge_cases():
    empty = np.zeros((2, 3, 3), dtype=bool)
    result = threshold_sweep(np.full((2, 3, 3), 0.5), empty)
    assert result.n_smoke_images == 0 and np.isnan(result.ious).all()
    assert math.isnan(result.best_iou) and math.isnan(result.oracle_iou)
    with pytest.raises(ValueError, match="normalise"):
        threshold_sweep(np.full((2, 3, 3), 5.0), empty)
    # Explicit thresholds allow raw (unnormalised) maps.
    raw = threshold_sweep(np.full((1, 3, 3), 5.0), np.ones((1, 3, 3), bool), thresholds=[1, 10])
    np.testing.assert_allclose(raw.ious, [1.0, 0.0])


def test_chimney_and_distractor_false_positive_rates():
    chimney = _masks("0000/1111", "0000/0011", "0000/0000", "0000/0000")  # 6 chimney pixels
    assert chimney_false_positive_rate(PRED, chimney) == 0.0  # PRED never touches them
    # 2 of image 0's chimney pixels + both of image 1's; image 3 has no chimney to hit.
    pred = _masks("0000/0110", "0000/0011", "0000/0000", "0000/1111")
    assert chimney_false_positive_rate(pred, chimney) == pytest.approx(4 / 6)
    assert distractor_false_positive_rate(pred, chimney) == pytest.approx(4 / 6)
    assert math.isnan(chimney_false_positive_rate(pred, np.zeros_like(chimney)))


def test_cam_chimney_mass_by_hand():
    cam = np.zeros((3, 1, 4))
    cam[0, 0] = [0.5, 0.5, 1.0, 0.0]  # 1.0 of total 2.0 on the chimney -> 0.5
    cam[1, 0] = [0.0, 0.0, 0.0, 0.0]  # zero CAM: excluded
    cam[2, 0] = [1.0, 0.0, 0.0, 1.0]  # no chimney: excluded
    chimney = np.zeros((3, 1, 4), dtype=bool)
    chimney[0, 0, 2:] = True
    chimney[1, 0, :1] = True
    assert cam_chimney_mass(cam, chimney) == pytest.approx(0.5)
    assert math.isnan(cam_chimney_mass(cam[1:], chimney[1:]))
    # Scale-free: a raw CAM gives the same share.
    assert cam_chimney_mass(cam * 7.0, chimney) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="non-negative"):
        cam_chimney_mass(cam - 0.5, chimney)


def test_evaluate_cams_keys_and_consistency():
    rng = np.random.default_rng(1)
    cam = rng.random((5, 8, 8)).astype(np.float32)
    gt = rng.random((5, 8, 8)) > 0.5
    chimney = np.zeros_like(gt)
    chimney[:, -2:, 3:5] = True
    out = evaluate_cams(cam, gt, chimney_masks=chimney, distractor_masks=~gt)
    assert tuple(out) == EVAL_KEYS
    assert out["smoke_iou"] == pytest.approx(per_image_smoke_iou(cam > 0.3, gt))
    assert out["chimney_fp_rate"] == pytest.approx(chimney_false_positive_rate(cam > 0.3, chimney))
    assert out["n_images"] == 5 and out["threshold"] == 0.3
    assert out["oracle_iou"] >= out["best_threshold_iou"] >= out["smoke_iou"] - 1e-12
    bare = evaluate_cams(cam, gt)
    assert math.isnan(bare["chimney_fp_rate"]) and math.isnan(bare["distractor_fp_rate"])
    assert math.isnan(bare["cam_chimney_mass"])


def test_torch_and_numpy_give_identical_results():
    rng = np.random.default_rng(2)
    cam = rng.random((4, 6, 6)).astype(np.float32)
    gt = rng.random((4, 6, 6)) > 0.5
    chimney = rng.random((4, 6, 6)) > 0.8
    labels = np.array([1, 0, 1, 1])
    from_numpy = evaluate_cams(cam, gt, chimney, labels=labels)
    from_torch = evaluate_cams(
        torch.from_numpy(cam),
        torch.from_numpy(gt),
        torch.from_numpy(chimney),
        labels=torch.tensor(labels),
    )
    assert from_numpy == pytest.approx(from_torch, nan_ok=True)
    # bool and 0/1 integer masks are interchangeable
    assert per_image_smoke_iou(torch.from_numpy(cam > 0.3).long(), gt.astype(np.int64)) == (
        pytest.approx(per_image_smoke_iou(cam > 0.3, gt))
    )


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match=r"\(4, 2, 4\).*\(3, 2, 4\)"):
        per_image_smoke_iou(PRED, GT[:3])
    with pytest.raises(ValueError, match="Threshold soft maps"):
        per_image_smoke_iou(np.full(GT.shape, 0.4), GT)
    with pytest.raises(ValueError, match="one entry per image"):
        per_image_smoke_iou(PRED, GT, labels=[1, 0])
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        confusion_iou(PRED[:, None], GT[:, None])
    with pytest.raises(ValueError, match="NaN"):
        evaluate_cams(np.full(GT.shape, np.nan), GT)
    with pytest.raises(ValueError, match="has_masks"):
        evaluate_cams(np.zeros(GT.shape), None)


def test_classification_accuracy():
    labels = np.array([1, 0, 1, 0])
    logits = torch.tensor([[2.0], [-1.0], [-0.5], [3.0]])  # right, right, wrong, wrong
    assert classification_accuracy(logits, labels) == 0.5
    probs = np.array([0.9, 0.2, 0.6, 0.4])
    assert classification_accuracy(probs, labels) == 1.0
    assert classification_accuracy(probs, labels, threshold=0.7) == 0.75
    # Logits that happen to lie in [0, 1] are ambiguous: from_logits says which they are.
    small_scores = np.array([0.2, 0.1, 0.3, 0.4])
    mostly_smoke = np.array([1, 1, 1, 0])
    assert classification_accuracy(small_scores, mostly_smoke, from_logits=True) == 0.75
    assert classification_accuracy(small_scores, mostly_smoke) == 0.25  # read as probabilities
    with pytest.raises(ValueError, match=r"\[N\] or \[N, 1\]"):
        classification_accuracy(np.zeros((4, 2)), labels)
