"""Metric paths off the common case, each against values worked out by hand.

Protects :mod:`wsss_lib.metrics` where the common-case tests cannot see a change:
``threshold_sweep`` with ``labels`` (which images count), a label-1 image whose mask is empty,
per-image averaging (not pooling) of the CAM chimney mass over several images, the strict
``cam > t`` at a threshold value, the lowest threshold winning a tie, the chunked sweep, and the
pooled (not per-image) chimney / distractor false-positive rates.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import wsss_lib.metrics as metrics
from wsss_lib.metrics import (
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


def _rows(*rows) -> np.ndarray:
    """``[N, 1, W]`` array from one list of values per image."""
    return np.array([[row] for row in rows])


# Image 0: label 1, smoke on the first two pixels.
# Image 1: label 1 but an empty mask (a missing annotation); only its first pixel is bright.
# Image 2: label 0 but a (wrong) one-pixel mask: counts only when labels are not given.
CAM = _rows([0.8, 0.6, 0.4, 0.2], [0.5, 0.1, 0.1, 0.1], [0.9, 0.9, 0.0, 0.0]).astype(np.float64)
GT = _rows([1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]).astype(bool)
LABELS = np.array([1, 1, 0])
THRESHOLDS = [0.3, 0.5, 0.7]


def test_threshold_sweep_with_labels_counts_label_one_images_only() -> None:
    # Image 0: t=.3 -> 3 px, IoU 2/3; t=.5 -> exact, 1; t=.7 -> 1 px, 1/2.
    # Image 1 (empty gt): t=.3 -> 1 px claimed, 0; t=.5 -> 0.5 is not > 0.5, empty, 1; t=.7 -> 1.
    result = threshold_sweep(CAM, GT, labels=LABELS, thresholds=THRESHOLDS)
    np.testing.assert_allclose(result.ious, [(2 / 3 + 0) / 2, 1.0, (0.5 + 1) / 2])
    assert result.best_threshold == 0.5 and result.best_iou == pytest.approx(1.0)
    assert result.oracle_iou == pytest.approx(1.0)
    assert result.n_smoke_images == 2


def test_threshold_sweep_without_labels_counts_images_with_a_mask() -> None:
    # Images 0 and 2. Image 2: two pixels claimed at every threshold, one is smoke -> 1/2.
    result = threshold_sweep(CAM, GT, thresholds=THRESHOLDS)
    np.testing.assert_allclose(result.ious, [(2 / 3 + 0.5) / 2, (1 + 0.5) / 2, (0.5 + 0.5) / 2])
    assert result.best_threshold == 0.5
    assert result.oracle_iou == pytest.approx((1.0 + 0.5) / 2)
    assert result.n_smoke_images == 2


def test_labels_as_a_column_and_as_torch_are_accepted_and_bad_labels_refused() -> None:
    column = threshold_sweep(CAM, GT, labels=LABELS[:, None], thresholds=THRESHOLDS)
    as_torch = threshold_sweep(CAM, GT, labels=torch.tensor(LABELS), thresholds=THRESHOLDS)
    np.testing.assert_allclose(column.ious, as_torch.ious)
    np.testing.assert_allclose(column.ious, [1 / 3, 1.0, 0.75])
    with pytest.raises(ValueError, match="0 \\(clean\\) or 1 \\(smoke\\)"):
        threshold_sweep(CAM, GT, labels=[1, 2, 0], thresholds=THRESHOLDS)
    with pytest.raises(ValueError, match="one entry per image"):
        per_image_iou_values(CAM > 0.3, GT, labels=np.ones((3, 2)))


def test_a_smoke_image_with_an_empty_mask_counts_in_every_per_image_metric() -> None:
    pred = CAM > 0.3
    values = per_image_iou_values(pred, GT, labels=LABELS)
    np.testing.assert_allclose(values, [2 / 3, 0.0, np.nan])  # claimed smoke on an empty mask
    assert per_image_smoke_iou(pred, GT, LABELS) == pytest.approx(1 / 3)
    assert per_image_smoke_iou(CAM > 0.5, GT, LABELS) == pytest.approx(1.0)  # empty on empty
    out = evaluate_cams(CAM, GT, labels=LABELS, threshold=0.3)
    assert out["smoke_iou"] == pytest.approx(1 / 3)
    assert out["n_smoke_images"] == 2 and out["n_images"] == 3
    without_labels = evaluate_cams(CAM, GT, threshold=0.3)
    assert without_labels["smoke_iou"] == pytest.approx((2 / 3 + 0.5) / 2)


def test_pseudo_mask_is_strictly_above_the_threshold_everywhere() -> None:
    cam = _rows([0.25, 0.25, 0.5, 0.75]).astype(np.float64)  # values equal to thresholds
    gt = _rows([0, 0, 1, 1]).astype(bool)
    out = evaluate_cams(cam, gt, chimney_masks=_rows([1, 0, 0, 0]).astype(bool), threshold=0.25)
    # cam > 0.25 -> the last two pixels, exactly the mask; the chimney pixel (0.25) is not hit.
    assert out["smoke_iou"] == 1.0 and out["precision"] == 1.0 and out["chimney_fp_rate"] == 0.0
    sweep = threshold_sweep(cam, gt, thresholds=[0.25, 0.5, 0.75])
    np.testing.assert_allclose(sweep.ious, [1.0, 0.5, 0.0])
    # The default grid holds 0.25 exactly as well.
    default = threshold_sweep(cam, gt)
    assert default.ious[25] == 1.0 and default.ious[24] == pytest.approx(0.5)


def test_best_threshold_is_the_lowest_of_tied_thresholds() -> None:
    cam = _rows([0.6, 0.6, 0.2, 0.2]).astype(np.float64)
    gt = _rows([1, 1, 0, 0]).astype(bool)
    result = threshold_sweep(cam, gt, thresholds=[0.7, 0.5, 0.3, 0.1])
    np.testing.assert_allclose(result.ious, [0.5, 1.0, 1.0, 0.0])
    assert result.best_threshold == 0.3
    result = threshold_sweep(cam, gt)  # 0.20 .. 0.59 all perfect: the lowest is 0.2
    assert result.best_threshold == pytest.approx(0.2) and result.best_iou == 1.0


def test_sweep_in_chunks_gives_the_same_curve(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    cam = rng.random((7, 5, 5)).astype(np.float32)
    gt = rng.random((7, 5, 5)) > 0.5
    whole = threshold_sweep(cam, gt)
    monkeypatch.setattr(metrics, "_SWEEP_CHUNK_PIXELS", 50)  # two images per chunk
    chunked = threshold_sweep(cam, gt)
    np.testing.assert_array_equal(chunked.ious, whole.ious)
    assert chunked.oracle_iou == whole.oracle_iou
    brute = np.array([[per_image_iou_values(c > t, g)[0] for t in whole.thresholds]
                      for c, g in zip(cam, gt, strict=True)])
    np.testing.assert_allclose(chunked.ious, brute.mean(axis=0))
    np.testing.assert_allclose(chunked.oracle_iou, brute.max(axis=1).mean())


def test_sweep_compares_in_the_cams_own_precision() -> None:
    cam = np.array([[[0.3, 0.7]]], dtype=np.float32)  # float32(0.3) is just above 0.3
    gt = np.array([[[False, True]]])
    result = threshold_sweep(cam, gt, thresholds=[0.3])
    expected = per_image_smoke_iou(cam > np.float32(0.3), gt)
    assert result.ious[0] == pytest.approx(expected) == pytest.approx(1.0)


def test_cam_chimney_mass_is_averaged_per_image_not_pooled() -> None:
    cam = _rows([1.0, 1.0, 0.0, 0.0], [4.0, 4.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1, 1, 1, 1])
    chimney = _rows([1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0]).astype(bool)
    # Shares 1/2 and 1/10; image 2 has a chimney but no CAM, image 3 a CAM but no chimney.
    assert cam_chimney_mass(cam, chimney) == pytest.approx((0.5 + 0.1) / 2)
    assert cam_chimney_mass(cam, chimney) != pytest.approx(2 / 12)  # the pooled share
    assert cam_chimney_mass(torch.from_numpy(cam[:2]).float(), torch.from_numpy(chimney[:2])) == (
        pytest.approx(0.3)
    )


def test_false_positive_rates_are_pooled_over_the_dataset() -> None:
    pred = _rows([1, 0, 0, 0], [1, 1, 1, 0]).astype(bool)
    region = _rows([1, 1, 0, 0], [1, 1, 1, 1]).astype(bool)
    # Per image: 1/2 and 3/4 (mean 0.625); pooled: 4 of 6.
    assert chimney_false_positive_rate(pred, region) == pytest.approx(4 / 6)
    assert distractor_false_positive_rate(pred, region) == pytest.approx(4 / 6)
    out = evaluate_cams(pred.astype(np.float64), np.zeros_like(pred), chimney_masks=region,
                        distractor_masks=~region, threshold=0.5)
    assert out["chimney_fp_rate"] == pytest.approx(4 / 6)
    assert out["distractor_fp_rate"] == pytest.approx(0 / 2)
    assert out["cam_chimney_mass"] == pytest.approx((1.0 + 1.0) / 2)


def test_confusion_and_prf_on_a_dataset_with_one_empty_image() -> None:
    pred = _rows([1, 1, 0, 0], [0, 0, 0, 0]).astype(bool)
    gt = _rows([0, 1, 1, 0], [0, 0, 0, 0]).astype(bool)
    # tp 1, fp 1, fn 1, tn 5.
    conf = confusion_iou(pred, gt)
    assert conf["iou_smoke"] == pytest.approx(1 / 3)
    assert conf["iou_background"] == pytest.approx(5 / 7)
    assert conf["miou"] == pytest.approx((1 / 3 + 5 / 7) / 2)
    assert precision_recall_f1(pred, gt) == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    )
    every_pixel = confusion_iou(np.ones_like(gt), np.ones_like(gt))
    assert every_pixel["iou_smoke"] == 1.0 and math.isnan(every_pixel["iou_background"])
    assert every_pixel["miou"] == 1.0


def test_classification_accuracy_at_the_threshold_and_guessing_logits() -> None:
    labels = np.array([1, 0, 1])
    # p >= threshold is smoke: 0.5 exactly counts as smoke.
    assert classification_accuracy(np.array([0.5, 0.49, 0.7]), labels) == 1.0
    # A negative value means logits: sigmoid(0) = 0.5 -> smoke, sigmoid(-3) -> clean.
    assert classification_accuracy(np.array([0.0, -3.0, 2.0]), labels) == 1.0
    assert classification_accuracy(np.array([[0.9], [0.1], [0.2]]), labels) == pytest.approx(2 / 3)
    assert math.isnan(classification_accuracy(np.zeros(0), np.zeros(0)))
    with pytest.raises(ValueError, match="outside"):
        classification_accuracy(np.array([0.5, 2.0, 0.1]), labels, from_logits=False)
    with pytest.raises(ValueError, match="NaN"):
        classification_accuracy(np.array([0.5, np.nan, 0.1]), labels)


def test_half_precision_cams_are_read_in_float32() -> None:
    cam = torch.tensor([[[0.8, 0.6, 0.2, 0.1]]])
    gt = torch.tensor([[[True, True, False, False]]])
    for dtype in (torch.float16, torch.bfloat16):
        out = evaluate_cams(cam.to(dtype), gt)
        assert out["smoke_iou"] == 1.0
        assert cam_chimney_mass(cam.to(dtype), gt) == pytest.approx(1.4 / 1.7, rel=1e-2)
    assert evaluate_cams(cam.numpy().astype(np.float16), gt.numpy())["smoke_iou"] == 1.0
    integer_cam = np.array([[[1, 0, 0, 0]]])
    assert evaluate_cams(integer_cam, gt.numpy())["smoke_iou"] == 0.5


# ---------------------------------------------------------------------------- input checks


def test_cam_range_check_has_a_small_tolerance_and_names_the_fix() -> None:
    gt = np.array([[[True, False]]])
    slightly_over = np.array([[[1.0 + 5e-6, 0.0]]])  # float32 rounding of a normalised CAM
    assert evaluate_cams(slightly_over, gt)["smoke_iou"] == 1.0
    slightly_under = np.array([[[1.0, -5e-6]]])
    assert evaluate_cams(slightly_under, gt)["smoke_iou"] == 1.0
    for bad in (np.array([[[1.001, 0.0]]]), np.array([[[1.0, -0.001]]])):
        with pytest.raises(ValueError, match="must be normalised to \\[0, 1\\]"):
            evaluate_cams(bad, gt)
    with pytest.raises(ValueError, match="float map"):
        evaluate_cams(gt, gt)  # a mask is not a CAM
    with pytest.raises(ValueError, match="float map"):
        evaluate_cams(np.array([[["a", "b"]]]), gt)


def test_masks_must_be_binary_and_arrays_must_be_rectangular() -> None:
    with pytest.raises(ValueError, match="bool or 0/1 mask; got dtype"):
        per_image_smoke_iou(np.array([[["1", "0"]]]), np.array([[[True, False]]]))
    with pytest.raises(ValueError, match="min 0.*max 2"):
        per_image_smoke_iou(np.array([[[0, 2]]]), np.array([[[True, False]]]))
    with pytest.raises(ValueError, match="could not be converted"):
        per_image_smoke_iou([[[1, 0]], [[1]]], np.ones((2, 1, 2), bool))
    two_d = np.array([[True, False], [False, True]])
    assert per_image_iou_values(two_d, two_d).shape == (1,)  # [H, W] is one image


def test_threshold_validation_and_explicit_thresholds_accept_raw_maps() -> None:
    cam = np.array([[[0.2, 3.0]]])
    gt = np.array([[[False, True]]])
    result = threshold_sweep(cam, gt, thresholds=np.array([2.0, 0.5, 2.0]))
    np.testing.assert_array_equal(result.thresholds, [0.5, 2.0])
    np.testing.assert_allclose(result.ious, [1.0, 1.0])
    assert result.best_threshold == 0.5
    default = threshold_sweep(np.array([[[0.2, 0.9]]]), gt)
    np.testing.assert_allclose(default.thresholds, np.linspace(0, 1, 101))
    for bad in ([], [0.1, np.nan], [np.inf]):
        with pytest.raises(ValueError, match="non-empty sequence of finite numbers"):
            threshold_sweep(cam, gt, thresholds=bad)
    for bad in (float("nan"), "0.3", None):
        with pytest.raises(ValueError, match="threshold must be a finite number"):
            evaluate_cams(np.array([[[0.2, 0.9]]]), gt, threshold=bad)


def test_evaluate_cams_checks_the_shapes_of_the_optional_masks() -> None:
    cam = np.zeros((2, 3, 3))
    gt = np.zeros((2, 3, 3), bool)
    with pytest.raises(ValueError, match="chimney_masks"):
        evaluate_cams(cam, gt, chimney_masks=np.zeros((2, 3, 4), bool))
    with pytest.raises(ValueError, match="distractor_masks"):
        evaluate_cams(cam, gt, distractor_masks=np.zeros((1, 3, 3), bool))
    with pytest.raises(ValueError, match="smoke_masks"):
        evaluate_cams(cam, np.zeros((2, 3, 2), bool))
    with pytest.raises(ValueError, match="chimney_mask"):
        cam_chimney_mass(cam, np.zeros((2, 2, 3), bool))
    with pytest.raises(ValueError, match="pred.*chimney_mask"):
        chimney_false_positive_rate(gt, np.zeros((3, 3), bool))


def test_evaluate_cams_without_smoke_images_reports_nan_not_zero() -> None:
    cam = np.full((2, 2, 2), 0.5)
    gt = np.zeros((2, 2, 2), bool)
    out = evaluate_cams(cam, gt)
    for key in ("smoke_iou", "best_threshold", "best_threshold_iou", "oracle_iou", "recall"):
        assert math.isnan(out[key]), key
    assert out["n_smoke_images"] == 0 and out["precision"] == 0.0
    assert out["iou_smoke_dataset"] == 0.0 and out["iou_background"] == 0.0


def test_classification_accuracy_boundaries_of_probabilities_and_logits() -> None:
    # 0 and 1 are valid probabilities, not a hint that the scores are logits.
    assert classification_accuracy(np.array([0.0, 1.0]), np.array([0, 1])) == 1.0
    assert classification_accuracy(np.array([1.0, 0.3]), np.array([1, 0])) == 1.0
    assert classification_accuracy(np.array([0.0, 1.0]), np.array([0, 1]), from_logits=False) == 1.0
    # Logits above 1 with none below 0 are still recognised as logits.
    assert classification_accuracy(np.array([1.5, 0.2]), np.array([1, 1])) == 1.0
    # The sigmoid itself: sigmoid(-0.5) = 0.38 is clean at 0.5; sigmoid(0.5) = 0.62 < 0.7.
    assert classification_accuracy(np.array([-0.5]), np.array([0])) == 1.0
    assert classification_accuracy(np.array([0.5, 1.0]), np.array([0, 1]), threshold=0.7,
                                   from_logits=True) == 1.0
    assert classification_accuracy(np.array([3.0]), np.array([1])) == 1.0  # one image
    assert classification_accuracy(torch.tensor([[-2.0], [2.0]]), torch.tensor([[0], [1]])) == 1.0


def test_evaluate_cams_passes_the_labels_to_the_threshold_sweep() -> None:
    with_labels = evaluate_cams(CAM, GT, labels=LABELS)
    sweep = threshold_sweep(CAM, GT, labels=LABELS)
    assert with_labels["oracle_iou"] == pytest.approx(sweep.oracle_iou)
    assert with_labels["best_threshold_iou"] == pytest.approx(sweep.best_iou)
    without = threshold_sweep(CAM, GT)
    assert sweep.oracle_iou != pytest.approx(without.oracle_iou)  # the labels matter here


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: evaluate_cams(np.full((1, 2, 2), np.nan), np.zeros((1, 2, 2), bool)), ["cam "]),
        (lambda: evaluate_cams(np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)), ["smoke_masks "]),
        (lambda: evaluate_cams(np.zeros((1, 2, 2)), np.zeros((1, 2, 3), bool)),
         ["cam has", "smoke_masks has"]),
        (lambda: evaluate_cams(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), bool),
                               chimney_masks=np.full((1, 2, 2), 0.5)), ["chimney_masks "]),
        (lambda: evaluate_cams(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), bool),
                               distractor_masks=np.full((1, 2, 2), 0.5)), ["distractor_masks "]),
        (lambda: distractor_false_positive_rate(np.zeros((1, 2, 2), bool), np.zeros((1, 2, 3))),
         ["pred has", "distractor_mask has"]),
        (lambda: distractor_false_positive_rate(np.full((1, 2, 2), 0.5), np.zeros((1, 2, 2))),
         ["pred "]),
        (lambda: distractor_false_positive_rate(np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)),
         ["distractor_mask "]),
        (lambda: chimney_false_positive_rate(np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)),
         ["chimney_mask "]),
        (lambda: chimney_false_positive_rate(np.full((1, 2, 2), 0.5), np.zeros((1, 2, 2))),
         ["pred "]),
        (lambda: cam_chimney_mass(np.full((1, 2, 2), np.inf), np.zeros((1, 2, 2), bool)),
         ["cam "]),
        (lambda: cam_chimney_mass(np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)),
         ["chimney_mask "]),
        (lambda: cam_chimney_mass(np.zeros((1, 2, 2)), np.zeros((1, 2, 3), bool)),
         ["cam has", "chimney_mask has"]),
        (lambda: evaluate_cams(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), bool),
                               chimney_masks=np.zeros((1, 2, 3), bool)),
         ["cam has", "chimney_masks has"]),
        (lambda: evaluate_cams(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), bool),
                               distractor_masks=np.zeros((1, 3, 2), bool)),
         ["cam has", "distractor_masks has"]),
        (lambda: threshold_sweep(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), bool),
                                 thresholds=[[0.1], [0.2, 0.3]]), ["thresholds could not"]),
        (lambda: threshold_sweep(np.full((1, 2, 2), np.nan), np.zeros((1, 2, 2), bool)),
         ["cam "]),
        (lambda: threshold_sweep(np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)), ["gt "]),
        (lambda: threshold_sweep(np.zeros((1, 2, 2)), np.zeros((1, 3, 2), bool)),
         ["cam has", "gt has"]),
        (lambda: per_image_smoke_iou(np.full((1, 2, 2), 0.5), np.zeros((1, 2, 2))), ["pred "]),
        (lambda: per_image_smoke_iou(np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)), ["gt "]),
        (lambda: per_image_smoke_iou(np.zeros((1, 2, 2)), np.zeros((1, 2, 3))),
         ["pred has", "gt has"]),
        (lambda: confusion_iou(np.full((1, 2, 2), 0.5), np.zeros((1, 2, 2))), ["pred "]),
        (lambda: confusion_iou(np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)), ["gt "]),
        (lambda: confusion_iou(np.zeros((1, 2, 2)), np.zeros((1, 2, 3))), ["pred has", "gt has"]),
        (lambda: per_image_smoke_iou(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), labels=[2]),
         ["labels must be 0"]),
        (lambda: classification_accuracy([[1.0], [1.0, 2.0]], [1, 0]), ["logits_or_probs "]),
        (lambda: classification_accuracy(np.zeros(2), [[1, 0]]), ["labels must have"]),
        (lambda: evaluate_cams(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), bool)),
         ["cam must have"]),
        (lambda: evaluate_cams([[[0.1, 0.2]], [[0.1]]], np.zeros((2, 1, 2), bool)),
         ["cam could not"]),
        (lambda: per_image_smoke_iou(np.zeros((1, 1, 2, 2), bool), np.zeros((1, 1, 2, 2), bool)),
         ["pred must have"]),
        (lambda: per_image_smoke_iou([[[1, 0]], [[1]]], np.ones((2, 1, 2), bool)),
         ["pred could not"]),
        (lambda: per_image_smoke_iou(np.ones((2, 1, 2), bool), np.ones((2, 1, 2), bool),
                                     labels=[[1], [0, 1]]), ["labels could not"]),
    ],
)
def test_error_messages_name_the_argument_at_fault(call, names) -> None:
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    for name in names:  # as a word of its own, in its own case
        assert re.search(rf"(?<![\w]){re.escape(name)}", message), (name, message)


def test_threshold_sweep_of_an_integer_cam_compares_in_float():
    # explicit thresholds on a raw uint8 map: 256 must not wrap to 0 in the CAM's own dtype
    cam = np.array([[[0, 200]]], np.uint8)
    gt = np.array([[[False, True]]])
    np.testing.assert_allclose(threshold_sweep(cam, gt, thresholds=[100, 256]).ious, [1.0, 0.0])
    # nor may -0.5 be truncated to 0 on an int64 map: every pixel is above it
    ints = threshold_sweep(np.array([[[0, 1]]]), np.ones((1, 1, 2), bool), thresholds=[-0.5])
    np.testing.assert_allclose(ints.ious, [1.0])


def test_threshold_sweep_without_smoke_images_still_returns_its_thresholds():
    empty = np.zeros((2, 3, 3), dtype=bool)
    default = threshold_sweep(np.full((2, 3, 3), 0.5), empty)
    np.testing.assert_allclose(default.thresholds, np.linspace(0, 1, 101))
    explicit = threshold_sweep(np.full((2, 3, 3), 0.5), empty, thresholds=[0.7, 0.2, 0.7])
    np.testing.assert_allclose(explicit.thresholds, [0.2, 0.7])
    assert explicit.ious.shape == (2,) and np.isnan(explicit.ious).all()
