"""Choosing a network's CAM read-out (map and threshold) on the validation split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsss_lib.data import make_split
from wsss_lib.metrics import threshold_sweep
from wsss_lib.models import build_classifier
from wsss_lib.train import (
    READOUT_THRESHOLDS,
    CamReadout,
    choose_readout,
    evaluate_model,
    evaluate_readout,
)


@pytest.fixture(scope="module")
def val():
    return make_split("val", image_size=32, n_images=24)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_classifier("test_resnet", img_size=32, output_stride=8).eval()


def test_the_chosen_threshold_is_the_best_of_a_direct_sweep(model, val):
    choice = choose_readout(model, val, [CamReadout("cam")])
    cams = evaluate_model(model, val, method="cam").cams
    sweep = threshold_sweep(cams, val.smoke_masks, val.labels, thresholds=READOUT_THRESHOLDS)
    assert choice.readout == CamReadout("cam", threshold=sweep.best_threshold)
    assert choice.val_iou == pytest.approx(sweep.best_iou)
    assert 0.05 <= choice.readout.threshold <= 0.9


def test_the_best_candidate_wins_and_each_is_recorded(model, val):
    candidates = [CamReadout("cam"), CamReadout("gradcam", layers=("layer3",)),
                  CamReadout("gradcam", layers=("layer4",))]
    choice = choose_readout(model, val, candidates)
    ious = [row["val_iou"] for row in choice.candidates]
    assert choice.val_iou == max(ious)
    best = candidates[ious.index(max(ious))]
    assert (choice.readout.method, choice.readout.layers) == (best.method, best.layers)
    assert [row["method"] for row in choice.candidates] == ["cam", "gradcam", "gradcam"]


def test_a_tie_keeps_the_earlier_candidate(model, val):
    first, second = CamReadout("cam", threshold=0.5), CamReadout("cam", threshold=0.1)
    choice = choose_readout(model, val, [first, second])
    assert choice.candidates[0]["val_iou"] == choice.candidates[1]["val_iou"]
    # Both sweep the same map; the first is kept, with the swept threshold.
    assert choice.candidates[0]["val_iou_at_default"] != choice.candidates[1]["val_iou_at_default"]
    assert choice.readout.threshold == choice.candidates[0]["best_threshold"]


def test_evaluate_readout_uses_the_readout_threshold(model, val):
    low = evaluate_readout(model, val, CamReadout("cam", threshold=0.1)).metrics
    high = evaluate_readout(model, val, CamReadout("cam", threshold=0.8)).metrics
    assert low["smoke_iou"] != high["smoke_iou"]
    assert low["smoke_iou"] == evaluate_model(model, val, threshold=0.1).metrics["smoke_iou"]


def test_readout_round_trips_and_validates():
    readout = CamReadout("gradcam", layers=["blocks.-1.norm1"], threshold=0.45)
    assert readout.layers == ("blocks.-1.norm1",)
    assert CamReadout.from_dict(readout.to_dict()) == readout
    assert readout.label == "gradcam[blocks.-1.norm1] > 0.45"
    with pytest.raises(ValueError, match="no layers"):
        CamReadout("cam", layers=("layer4",))
    with pytest.raises(ValueError, match="threshold"):
        CamReadout(threshold=1.5)
    with pytest.raises(ValueError, match="Unknown CamReadout keys"):
        CamReadout.from_dict({"method": "cam", "thresh": 0.3})


def test_choosing_needs_candidates_and_masks(model, val):
    with pytest.raises(ValueError, match="at least one"):
        choose_readout(model, val, [])
    clean = val.subset(np.flatnonzero(val.labels == 0))
    with pytest.raises(ValueError, match="smoke images and smoke masks"):
        choose_readout(model, clean)
