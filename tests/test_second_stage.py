"""Notebook 10 (second stage of WSSS): every derived number computed by hand on a tiny case, and
the study's pieces on the quick profile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wsss_lib.results.second_stage import (
    learning_curve,
    masks_worth,
    masks_worth_text,
    percent_of_supervised,
    second_stage_claims,
    second_stage_document,
    second_stage_summary,
    second_stage_verdicts,
    segmenters_learned,
)


def _rows(values: dict[str, list[float]], metric: str = "smoke_iou") -> list[dict]:
    return [{"name": name, "seed": seed, metric: value}
            for name, per_seed in values.items() for seed, value in enumerate(per_seed)]


# ------------------------------------------------------------------------------ % of supervised


def test_percent_of_supervised_is_the_mean_of_per_seed_ratios_with_a_t_interval() -> None:
    rows = _rows({"stage2": [0.3, 0.4], "supervised": [0.6, 0.5]})
    share = percent_of_supervised(rows)
    # Per seed: 100 * 0.3 / 0.6 = 50 and 100 * 0.4 / 0.5 = 80; mean 65.
    assert share["per_seed"] == pytest.approx([50.0, 80.0])
    assert share["mean"] == pytest.approx(65.0)
    # std (ddof 1) of [50, 80] = 21.2132; half width = 12.706 * 21.2132 / sqrt(2) = 190.59.
    assert share["low"] == pytest.approx(65.0 - 190.59, abs=0.01)
    assert share["high"] == pytest.approx(65.0 + 190.59, abs=0.01)
    assert share["n"] == 2 and share["seeds"] == [0, 1]


def test_percent_of_supervised_is_not_the_ratio_of_means_and_skips_a_zero_reference() -> None:
    rows = _rows({"stage2": [0.1, 0.4, 0.2], "supervised": [0.2, 0.8, 0.0]})
    share = percent_of_supervised(rows)
    # Seeds 0 and 1: 50 % each; seed 2's reference is 0 -> NaN and left out.
    assert share["per_seed"][:2] == pytest.approx([50.0, 50.0])
    assert math.isnan(share["per_seed"][2])
    assert share["mean"] == pytest.approx(50.0) and share["n"] == 2
    assert share["low"] == pytest.approx(50.0) and share["high"] == pytest.approx(50.0)
    one = percent_of_supervised(_rows({"stage2": [0.25], "supervised": [0.5]}))
    assert one["mean"] == pytest.approx(50.0) and math.isnan(one["low"]) and one["n"] == 1


# ------------------------------------------------------------------------------ masks worth


def test_masks_worth_interpolates_in_log2_k() -> None:
    # log2 k = 4 + (0.3 - 0.2) / (0.4 - 0.2) * (6 - 4) = 5 -> 32 masks.
    assert masks_worth([16, 64], [0.2, 0.4], 0.3) == (pytest.approx(32.0), "within")
    # A quarter of the way from 16 to 256 in log2: 2 ** (4 + 0.25 * 4) = 32.
    assert masks_worth([16, 256], [0.0, 0.4], 0.1)[0] == pytest.approx(32.0)
    # The first crossing counts on a curve that dips: 16 -> 0.1, 32 -> 0.5, 64 -> 0.2.
    assert masks_worth([16, 32, 64], [0.1, 0.5, 0.2], 0.3) == (
        pytest.approx(2 ** (4 + 0.5)), "within")
    # Exactly on a point: that point.
    assert masks_worth([16, 32, 64], [0.1, 0.2, 0.3], 0.2) == (pytest.approx(32.0), "within")


def test_masks_worth_outside_the_curve_says_which_side() -> None:
    assert masks_worth([16, 64], [0.2, 0.4], 0.1) == (16.0, "below")
    assert masks_worth([16, 64], [0.2, 0.4], 0.5) == (64.0, "above")
    k, status = masks_worth([16, 64], [0.2, 0.4], math.nan)
    assert math.isnan(k) and status == "undefined"
    assert masks_worth_text(32.0, "within") == "about 32 masks"
    assert masks_worth_text(16.0, "below") == "16 masks or fewer"
    assert masks_worth_text(64.0, "above") == "more than 64 masks"
    with pytest.raises(ValueError, match="increasing"):
        masks_worth([64, 16], [0.2, 0.4], 0.3)
    with pytest.raises(ValueError, match="same non-zero length"):
        masks_worth([16], [0.2, 0.4], 0.3)


def test_learning_curve_orders_k_and_puts_the_full_run_at_n_train() -> None:
    summary = {"supervised_k64": {"smoke_iou": 0.4, "smoke_iou_std": 0.01},
               "supervised_k16": {"smoke_iou": 0.2, "smoke_iou_std": 0.02},
               "supervised": {"smoke_iou": 0.6, "smoke_iou_std": 0.03},
               "stage2": {"smoke_iou": 0.3}}
    curve = learning_curve(summary, n_train=256)
    assert curve == {"k": [16.0, 64.0, 256.0], "mean": [0.2, 0.4, 0.6],
                     "std": [0.02, 0.01, 0.03]}


# ------------------------------------------------------------------------------ claims, document


def _study_rows() -> list[dict]:
    per_seed = {"whole_image": [0.10, 0.10, 0.10], "untrained": [0.0, 0.0, 0.0],
                "pseudo_masks": [0.30, 0.32, 0.31], "stage2": [0.40, 0.43, 0.41],
                "supervised": [0.60, 0.62, 0.61], "supervised_k16": [0.20, 0.22, 0.21],
                "supervised_k64": [0.50, 0.52, 0.51]}
    rows = []
    for name, values in per_seed.items():
        for seed, value in enumerate(values):
            row = {"name": name, "seed": seed, "n_masks": 256, "smoke_iou": value,
                   "smoke_iou_decoupled": value / 2}
            if name == "pseudo_masks":
                row.update(accuracy=0.9, readout="cam > 0.30")
            rows.append(row)
    return rows


def test_claims_verdicts_and_document_on_a_hand_made_study() -> None:
    rows = _study_rows()
    summary = second_stage_summary(rows)
    assert segmenters_learned(summary)
    claims = second_stage_claims(rows)
    by_claim = {c["claim"]: c for c in claims}
    beats = by_claim["stage 2 beats its own pseudo-masks (smoke IoU, test)"]
    assert beats["verdict"] == "supported" and beats["mean"] == pytest.approx(10.333, abs=1e-3)
    assert by_claim["full supervision beats stage 2 (smoke IoU, test)"]["mean"] == \
        pytest.approx(19.667, abs=1e-3)
    sentences = second_stage_verdicts(summary, claims, rows, n_train=256, pipeline="single_cnn")
    # stage 2 at 0.4133 on the mean curve 16 -> 0.21, 64 -> 0.51:
    # log2 k = 4 + (0.41333 - 0.21) / 0.3 * 2 = 5.3556 -> 40.9 masks.
    assert any("about 41 masks" in s for s in sentences)
    doc = second_stage_document("quick", summary, rows, claims, sentences, {"seeds": [0, 1, 2]},
                                n_train=256, pipeline="single_cnn").to_json()
    derived = doc["results"]["derived"]
    # Per seed 40/60, 43/62, 41/61 -> 66.667, 69.355, 67.213; mean 67.745.
    assert derived["percent_of_supervised"] == pytest.approx(67.74, abs=0.01)
    assert derived["percent_of_supervised_decoupled"] == pytest.approx(67.74, abs=0.01)
    assert derived["masks_worth"] == pytest.approx(40.9, abs=0.05)
    # test_decoupled: stage 2 at 0.20667 on 16 -> 0.105, 64 -> 0.255:
    # log2 k = 4 + (0.20667 - 0.105) / 0.15 * 2 = 5.3556 -> 40.9 masks as well.
    assert derived["masks_worth_decoupled"] == pytest.approx(40.9, abs=0.05)
    assert "n_masks" not in doc["results"]["supervised"]
    assert doc["results"]["pseudo_masks"]["readout_per_seed"] == ["cam > 0.30"] * 3
    assert doc["results"]["stage2"]["smoke_iou"] == pytest.approx(41.33, abs=0.01)


def test_untrained_networks_are_not_judged() -> None:
    rows = [{**r, "smoke_iou": 0.0} if r["name"].startswith("supervised") else r
            for r in _study_rows()]
    summary = second_stage_summary(rows)
    assert not segmenters_learned(summary)
    sentences = second_stage_verdicts(summary, second_stage_claims(rows), rows, 256, "x")
    assert sentences[0].startswith("The segmenters did not learn")
    assert sum("**not judged**" in s for s in sentences) == 4
    assert not any("masks or fewer" in s or "% of the fully" in s for s in sentences)


# ------------------------------------------------------------------------------ the study


def test_repeat_to_length_takes_nested_subsets_with_equal_repeats() -> None:
    from wsss_lib.data import SmokeScenes
    from wsss_lib.studies.second_stage import repeat_to_length, with_masks

    n = 12
    images = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2)
    scenes = SmokeScenes(images=images.repeat(3, 3), labels=np.arange(n) % 2,
                         smoke_masks=np.zeros((n, 4, 4), bool))
    four = repeat_to_length(scenes, 4, n, seed=0)
    two = repeat_to_length(scenes, 2, n, seed=0)
    ids4, ids2 = four.images[:, 0, 0, 0], two.images[:, 0, 0, 0]
    assert len(four) == n and len(set(ids4.tolist())) == 4
    assert np.bincount(ids4, minlength=n)[sorted(set(ids4.tolist()))].tolist() == [3] * 4
    assert set(ids2.tolist()) <= set(ids4.tolist())  # nested: the 2 are among the 4
    with pytest.raises(ValueError, match="k must be"):
        repeat_to_length(scenes, 13, n, seed=0)
    masked = with_masks(scenes, np.ones((n, 4, 4), bool))
    assert masked.smoke_masks.all() and not scenes.smoke_masks.any()


def test_pseudo_masks_empty_clean_images() -> None:
    import torch

    from wsss_lib.data import load_split
    from wsss_lib.studies.second_stage import pseudo_masks
    from wsss_lib.train import CamReadout, DataSpec, ModelSpec, TrainConfig, build_model

    scenes = load_split("val", image_size=32, n_images=8)
    config = TrainConfig(model=ModelSpec("test_resnet"), data=DataSpec(image_size=32))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(config.model, 32)
    readout = CamReadout("cam", threshold=0.3)
    masks = pseudo_masks(model, scenes, readout)
    raw = pseudo_masks(model, scenes, readout, use_labels=False)
    assert masks.dtype == bool and masks.shape == scenes.smoke_masks.shape
    clean = scenes.labels == 0
    assert not masks[clean].any() and np.array_equal(masks[~clean], raw[~clean])


@pytest.mark.slow
def test_quick_profile_study_runs(tmp_path, monkeypatch) -> None:
    from wsss_lib.studies.second_stage import (
        SECOND_STAGE_ROWS,
        run_second_stage,
        second_stage_settings,
    )

    monkeypatch.setenv("WSSS_CACHE", str(tmp_path))
    S = second_stage_settings("quick")
    out = run_second_stage(S, progress=False)
    names = {r["name"] for r in out["rows"]}
    assert names == {*SECOND_STAGE_ROWS, *(f"supervised_k{k}" for k in S.k_masks)}
    assert out["pipeline"] in S.rows and out["n_train"] == S.n_train
    by_name = {r["name"]: r for r in out["rows"]}
    assert by_name["supervised"]["n_masks"] == S.n_train
    assert by_name["whole_image"]["recall"] == pytest.approx(1.0)
