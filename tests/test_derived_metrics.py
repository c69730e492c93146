"""Every number a study derives, computed by hand on a tiny case: the boundary F-score, the
shortcut gap (its sign included), the paired difference and its interval."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from wsss_lib import boundary, metrics
from wsss_lib.results import paired_claim
from wsss_lib.studies import bias, measure
from wsss_lib.train import CamReadout


def _square(top: int, left: int, size: int = 4, side: int = 8) -> np.ndarray:
    mask = np.zeros((side, side), dtype=bool)
    mask[top:top + size, left:left + size] = True
    return mask


def test_boundary_of_a_square_is_its_ring_and_the_frame_is_no_edge():
    ring = boundary.mask_boundary(_square(2, 2))[0].numpy()
    assert ring.sum() == 12 and not ring[3:5, 3:5].any()  # 4x4 square: 16 - 4 inner pixels
    full = np.ones((1, 5, 5), dtype=bool)
    assert boundary.mask_boundary(full).sum() == 0  # the frame does not count as an edge
    corner = _square(0, 0, size=3, side=6)
    assert boundary.mask_boundary(corner)[0].sum() == 5  # only the two inner sides: 3 + 3 - 1


def test_boundary_f_of_a_shifted_square_by_hand():
    gt, pred = _square(2, 2)[None], _square(3, 2)[None]  # the prediction one pixel lower
    # Tolerance 0: of each 12-pixel ring, 6 pixels lie on the other ring (rows 3-5: 2+2+2),
    # so P = R = 6/12 and F = 0.5. Tolerance 1 covers the shift: F = 1.
    assert boundary.boundary_f_values(pred, gt, tolerance=0)[0] == pytest.approx(0.5)
    assert boundary.boundary_f_values(pred, gt, tolerance=1)[0] == pytest.approx(1.0)
    # Two 4x4 squares side by side in a 12-px image, 5 px apart (columns 2-5 and 7-10).
    left, right = _square(2, 2, side=12)[None], _square(2, 7, side=12)[None]
    assert boundary.boundary_f_values(right, left, tolerance=1)[0] == 0.0  # 2 px apart at best
    # Tolerance 2: only the facing columns (column 5 of one, column 7 of the other, 4 pixels
    # each) lie within 2 px of the other ring: P = R = 4/12, F = 1/3.
    assert boundary.boundary_f_values(right, left, tolerance=2)[0] == pytest.approx(1 / 3)


def test_boundary_f_conventions_and_smoke_selection():
    empty = np.zeros((1, 8, 8), dtype=bool)
    square = _square(2, 2)[None]
    assert boundary.boundary_f_values(empty, empty, labels=[1])[0] == 1.0  # nothing to outline
    assert boundary.boundary_f_values(empty, square)[0] == 0.0
    assert boundary.boundary_f_values(square, empty, labels=[1])[0] == 0.0
    assert math.isnan(boundary.boundary_f_values(square, empty)[0])  # clean image: left out
    pair = boundary.boundary_f_score(np.concatenate([square, square]),
                                     np.concatenate([square, empty]))
    assert pair == 1.0  # the clean image does not count
    with pytest.raises(ValueError, match="binary"):
        boundary.boundary_f_values(np.full((1, 4, 4), 0.5), np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="tolerance"):
        boundary.boundary_f_values(square, square, tolerance=-1)


def test_evaluate_cams_reports_the_boundary_f_of_its_pseudo_mask():
    gt = np.stack([_square(2, 2), _square(1, 1)])
    cam = np.stack([_square(3, 2), _square(1, 1)]).astype(np.float32)  # first one shifted
    out = metrics.evaluate_cams(cam, gt, threshold=0.5)
    expected = np.mean([boundary.boundary_f_values(cam[:1] > 0.5, gt[:1])[0], 1.0])
    assert out["boundary_f"] == pytest.approx(expected)


def _fake_eval(table):
    """``evaluate_readout`` stand-in: the metrics of ``table[split name]``."""
    def evaluate(run, scenes, readout):
        return SimpleNamespace(metrics=table[scenes])
    return evaluate


def _split_metrics(accuracy: float, iou: float) -> dict[str, float]:
    return {"smoke_iou": iou, "precision": 0.5, "recall": 0.5, "boundary_f": iou / 2,
            "chimney_fp_rate": 0.1, "cam_chimney_mass": 0.2, "accuracy": accuracy}


def test_evaluate_run_shortcut_gap_is_test_minus_decoupled(monkeypatch):
    # A chimney detector: 0.95 on test, 0.40 on test_decoupled -> gap +0.55 (not -0.55).
    table = {"test": _split_metrics(0.95, 0.30), "test_decoupled": _split_metrics(0.40, 0.10),
             "val": _split_metrics(0.90, 0.25)}
    readout = CamReadout("gradcam", threshold=0.4)
    monkeypatch.setattr(measure, "run_readout", lambda run, sets, readouts=None: (readout, None))
    monkeypatch.setattr(measure, "evaluate_readout", _fake_eval(table))
    row = measure.evaluate_run(object(), {k: k for k in table})
    assert row["shortcut_gap"] == pytest.approx(0.55)
    assert row["accuracy"] == 0.95 and row["accuracy_decoupled"] == 0.40
    assert row["smoke_iou_decoupled"] == 0.10 and row["boundary_f_decoupled"] == 0.05
    assert row["smoke_iou_val"] == 0.25 and row["readout"] == readout.label


def test_bias_run_shortcut_gap_is_test_minus_decoupled(monkeypatch):
    import wsss_lib.train as train

    table = {"test": _split_metrics(0.97, 0.30), "test_decoupled": _split_metrics(0.52, 0.12)}

    def evaluate_model(model, scenes, readout=None, **kwargs):
        return SimpleNamespace(metrics=table[scenes.name], cams=np.zeros((2, 4, 4)))

    monkeypatch.setattr(train, "evaluate_model", evaluate_model)
    scenes = {s: SimpleNamespace(name=s, smoke_masks=np.zeros((2, 4, 4), dtype=bool),
                                 labels=np.array([1, 0])) for s in table}
    row = bias.evaluate_bias_run(object(), scenes)
    assert row["shortcut_gap"] == pytest.approx(0.45)
    assert row["boundary_f_decoupled"] == pytest.approx(0.06)


def test_paired_difference_and_interval_by_hand():
    # Differences a - b over three seeds: 6, 7, 8 points -> mean 7, sample sd 1, half-width
    # t(0.975, 2) * sd / sqrt(3) with t = 4.3027 (the library's table rounds it to 4.303).
    rows = [{"name": name, "seed": seed, "smoke_iou": value}
            for seed, (a, b) in enumerate([(0.30, 0.24), (0.40, 0.33), (0.50, 0.42)])
            for name, value in (("a", a), ("b", b))]
    claim = paired_claim(rows, "a", "b", "a beats b")
    half = 4.3027 * 1.0 / math.sqrt(3)
    assert claim["mean"] == pytest.approx(7.0)
    assert (claim["low"], claim["high"]) == pytest.approx((7 - half, 7 + half), rel=1e-3)
    assert claim["verdict"] == "supported" and claim["n"] == 3
    flipped = paired_claim(rows, "b", "a", "b beats a")
    assert flipped["mean"] == pytest.approx(-7.0) and flipped["verdict"] == "contradicted"


def test_teacher_data_trains_the_teacher_elsewhere_and_keeps_old_keys():
    from wsss_lib.train import DataSpec, ModelSpec, TrainConfig, cache_key

    base = TrainConfig(paradigm="teacher_student", student=ModelSpec("test_vit"),
                       teacher=ModelSpec("test_resnet"), data=DataSpec(image_size=32))
    assert "teacher_data" not in base.to_dict()  # absent: every older cache key stays valid
    decoupled = DataSpec(image_size=32, overrides={"p_chimney_given_smoke": 0.5,
                                                   "p_chimney_given_clean": 0.5})
    other = TrainConfig(**{**base.__dict__, "teacher_data": decoupled})
    assert other.teacher_config().data == decoupled and base.teacher_config().data == base.data
    assert other.teacher_config().to_dict().get("teacher_data") is None
    assert TrainConfig.from_dict(other.to_dict()) == other
    assert cache_key(other) != cache_key(base)
    with pytest.raises(ValueError, match="teacher_data only applies"):
        TrainConfig(model=ModelSpec("test_resnet"), teacher_data=decoupled)
