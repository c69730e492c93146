"""Notebook 01: the study (levels, configs, tiny sweep), its results (summaries, findings,
metrics.json) and its figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from wsss_lib.data import load_split
from wsss_lib.metrics import threshold_sweep
from wsss_lib.plots.bias import plot_bias_sweep, plot_cam_gallery
from wsss_lib.plots.cams import cam_gallery, readout_text, threshold_sweep_figure
from wsss_lib.profiles import notebook_settings
from wsss_lib.results.bias import (
    bias_findings,
    bias_results,
    gallery_readouts,
    result_key,
    summarize_sweep,
    sweep_curves,
    sweep_readouts,
    sweep_table,
)
from wsss_lib.studies.bias import (
    EXAMPLE_KINDS,
    bias_examples,
    bias_model_config,
    cooccurrence_levels,
    gallery_maps,
    load_test_sets,
    run_bias_sweep,
    run_supervised_reference,
    supervised_config,
    whole_image_baseline,
)
from wsss_lib.train import DataSpec, ModelSpec, TrainConfig

TINY = {
    "image_size": 32,
    "n_train": 16,
    "n_val": 8,
    "n_test": 16,
    "epochs": 1,
    "batch_size": 16,
    "lr": 1e-3,
    "seeds": [0],
    "cnn": "resnet18",
    "vit": "vit_tiny",
    "vit_patch_size": 8,
    "train_levels": [[1.0, 0.0], [0.5, 0.5]],
    "train_level": [1.0, 0.0],
    "threshold": 0.3,
    "supervised_epochs": 1,
    "n_examples": 1,
    "vit_epochs": None,
    "vit_lr": None,
    "cnn_output_stride": None,
}


# ------------------------------------------------------------------------------ levels, configs


def test_levels_are_validated_and_sorted_by_strength():
    assert cooccurrence_levels([[1, 0], [0.5, 0.5], (0.75, 0.25)]) == [
        (0.5, 0.5), (0.75, 0.25), (1.0, 0.0)
    ]
    assert len(cooccurrence_levels()) == 4
    with pytest.raises(ValueError, match="pair"):
        cooccurrence_levels([[0.5]])
    with pytest.raises(ValueError, match=r"probability.*1.5"):
        cooccurrence_levels([[1.5, 0.0]])
    with pytest.raises(ValueError, match="repeated"):
        cooccurrence_levels([[0.5, 0.5], [0.5, 0.5]])
    assert result_key("cnn", 0.95) == "cnn@0.95" and result_key("vit", 1.0) == "vit@1.00"


def test_model_config_shares_the_plain_train_split_cache_key_at_its_own_level():
    S = {**TINY, "vit_epochs": 3, "vit_lr": 2e-4}
    plain = TrainConfig(
        paradigm="single",
        model=ModelSpec("resnet18"),
        data=DataSpec(image_size=32, n_train=16, n_val=8),
        epochs=1,
        batch_size=16,
        seed=2,
    )
    assert bias_model_config(S, "cnn", 0.95, 0.05, seed=2) == plain
    swept = bias_model_config(S, "cnn", 0.5, 0.5, seed=2)
    assert swept.data.overrides == {"p_chimney_given_smoke": 0.5, "p_chimney_given_clean": 0.5}
    vit = bias_model_config(S, "vit", 1.0, 0.0, seed=0)
    # The ViT's own rate lives in its spec (as in the method notebooks' configs).
    assert vit.model == ModelSpec("vit_tiny", {"patch_size": 8}, lr=2e-4)
    assert (vit.epochs, vit.lr) == (3, S["lr"])
    stem = bias_model_config({**S, "vit_stem": "conv", "amp": "bf16", "grad_clip": 2.0}, "vit",
                             1.0, 0.0, seed=0)
    assert stem.model.kwargs == {"patch_size": 8, "stem": "conv"} and stem.amp == "bf16"
    assert stem.grad_clip == 2.0 and bias_model_config(S, "cnn", 1.0, 0.0, 0).grad_clip is None
    strided = bias_model_config({**S, "cnn_output_stride": 16}, "cnn", 0.5, 0.5, seed=0)
    assert strided.model == ModelSpec("resnet18", {"output_stride": 16})
    with pytest.raises(ValueError, match="architecture"):
        bias_model_config(S, "mlp", 0.5, 0.5, seed=0)
    sup = supervised_config(S)
    assert sup.paradigm == "supervised" and sup.data.overrides["p_chimney_given_smoke"] == 1.0


def test_profiles_define_every_setting_the_notebook_reads():
    for profile in ("quick", "full"):
        S = notebook_settings("01_co_occurrence_bias", profile)
        assert set(TINY) <= set(S), set(TINY) - set(S)
        cooccurrence_levels(S.train_levels)
        assert tuple(S.train_level) in cooccurrence_levels(S.train_levels)


# ------------------------------------------------------------------------------ summaries


def _fake_row(arch, p_smoke, p_clean, seed, gap, mass):
    row = {
        "arch": arch, "model": "m", "p_smoke": p_smoke, "p_clean": p_clean,
        "strength": p_smoke - p_clean, "level": f"{p_smoke:.2f}/{p_clean:.2f}", "seed": seed,
        "accuracy": 0.9, "accuracy_decoupled": 0.9 - gap, "shortcut_gap": gap,
        "smoke_iou": 0.30, "smoke_iou_decoupled": 0.25,
        "chimney_fp_rate": 0.1, "chimney_fp_rate_decoupled": 0.2,
        "cam_chimney_mass": mass, "cam_chimney_mass_decoupled": mass,
        "best_threshold": 0.4, "best_threshold_iou": 0.35, "oracle_iou": 0.5,
        "sweep_thresholds": [0.0, 0.5, 1.0], "sweep_ious": [0.1, 0.3 + 0.1 * seed, 0.0],
        "n_smoke_images": 10,
    }
    return row


def _fake_rows(strong_gap):
    rows = []
    for arch in ("cnn", "vit"):
        for seed in (0, 1):
            rows.append(_fake_row(arch, 0.5, 0.5, seed, gap=0.01 * seed, mass=0.05))
            rows.append(_fake_row(arch, 1.0, 0.0, seed, gap=strong_gap + 0.02 * seed, mass=0.4))
    return rows


def test_summary_averages_seeds_and_results_are_percent():
    summary = summarize_sweep(_fake_rows(strong_gap=0.3))
    assert len(summary) == 4
    strong = next(r for r in summary if r["arch"] == "cnn" and r["p_smoke"] == 1.0)
    assert strong["n_seeds"] == 2 and strong["seeds"] == [0, 1]
    assert strong["shortcut_gap"] == pytest.approx(0.31)
    assert strong["shortcut_gap_std"] == pytest.approx(0.01)
    assert strong["sweep_ious"] == pytest.approx([0.1, 0.35, 0.0])
    supervised = dict(_fake_row("supervised", 1.0, 0.0, 0, 0.0, 0.0), smoke_iou=0.6,
                      threshold=0.5)
    results = bias_results(summary, supervised, {"smoke_iou": 0.1, "smoke_iou_decoupled": 0.12})
    assert set(results) == {"cnn@0.50", "cnn@1.00", "vit@0.50", "vit@1.00", "supervised",
                            "whole_image_baseline"}
    assert results["whole_image_baseline"] == {"smoke_iou": 10.0, "smoke_iou_decoupled": 12.0}
    assert results["cnn@1.00"]["shortcut_gap"] == 31.0
    assert results["cnn@1.00"]["shortcut_gap_std"] == 1.0
    assert results["cnn@1.00"]["fraction_of_supervised"] == 50.0  # 0.30 / 0.60
    assert results["supervised"]["smoke_iou"] == 60.0
    json.dumps(results, allow_nan=False)  # plain JSON for metrics.json
    curves = sweep_curves(summary, (1.0, 0.0))
    assert list(curves) == ["CNN (m)", "ViT (m)"]
    assert curves["CNN (m)"].best_threshold == 0.5
    assert "± 1.00" in sweep_table(summary, supervised)


def test_findings_say_plainly_whether_the_shortcut_shows():
    shows = bias_findings(summarize_sweep(_fake_rows(strong_gap=0.3)), train_level=(1.0, 0.0))
    assert "shows up as expected" in shows[0] and "rises by 30.5 points" in shows[0]
    flat = bias_findings(summarize_sweep(_fake_rows(strong_gap=0.0)), train_level=(1.0, 0.0))
    assert "stays flat" in flat[0] and "CAMs drift to the chimneys" in flat[0]
    rows = [dict(r, cam_chimney_mass_decoupled=0.05) for r in _fake_rows(strong_gap=0.0)]
    neither = bias_findings(summarize_sweep(rows), train_level=(1.0, 0.0))
    assert "does NOT show up" in neither[0]
    assert not any("near chance" in s for s in shows)
    chance = [dict(r, accuracy=0.52) if r["p_smoke"] == 0.5 else r for r in _fake_rows(0.3)]
    flagged = bias_findings(summarize_sweep(chance), train_level=(1.0, 0.0))
    assert "near chance on test at 0.50/0.50 (52 %)" in flagged[0]
    assert any("on par" in s for s in flat)  # identical fake IoUs for CNN and ViT
    above = bias_findings(summarize_sweep(_fake_rows(0.3)), train_level=(1.0, 0.0),
                          baseline={"smoke_iou": 0.35})
    assert "scores 35.0 % smoke IoU" in above[-2] and "30.0 % (NOT above it)" in above[-2]


def test_findings_give_no_verdict_on_networks_at_chance():
    """Issue 19: a verdict from an untrained network is noise; say "at chance" instead."""
    chance = [dict(r, accuracy=0.52) if r["arch"] == "vit" and r["p_smoke"] == 0.5 else r
              for r in _fake_rows(0.3)]
    findings = bias_findings(summarize_sweep(chance), train_level=(0.5, 0.5),
                             supervised={"smoke_iou": 0.6, "smoke_iou_decoupled": 0.5,
                                         "model": "m"},
                             baseline={"smoke_iou": 0.1})
    cnn_trend = next(f for f in findings if f.startswith("CNN (m): from"))
    assert "shows up as expected" in cnn_trend  # trained at both ends: judged
    vit_trend = next(f for f in findings if f.startswith("ViT (m): from"))
    assert vit_trend.endswith("; not judged: the network is at chance at 0.50/0.50 (52 % "
                              "accuracy on test), and an untrained network has no shortcut to "
                              "measure.")
    assert "shows up" not in vit_trend
    fraction = next(f for f in findings if "fully supervised" in f)
    assert "ViT 30.0 % (50 % of it) (at chance: 52 % accuracy on test)" in fraction
    assert "CNN 30.0 % (50 % of it)," in fraction  # the trained CNN carries no note
    versus = findings[-1]
    assert versus.startswith("Smoke IoU of the CAMs at 0.50/0.50: not judged, the ViT (52 % "
                             "accuracy on test) is at chance (smoke IoU: CNN 30.0 %, ViT 30.0 %)")
    assert "(at chance)" in sweep_table(summarize_sweep(chance))


def _read_rows():
    """Fake rows with the read-out each network was given on val (seeds agree except one)."""
    rows = []
    for row in _fake_rows(0.3):
        vit = row["arch"] == "vit"
        label = ("gradcam[blocks.-1.norm1] > 0.85" if vit and row["seed"] == 0 else
                 "gradcam > 0.15" if vit else "cam > 0.35")
        if vit and row["p_smoke"] == 0.5:
            label = "gradcam > 0.05"
        rows.append(dict(row, readout=label, threshold=float(label.rsplit(" ", 1)[1])))
    return rows


def test_readouts_of_gallery_columns_and_sweep_curves_are_each_networks_own():
    summary = summarize_sweep(_read_rows())
    strong = next(r for r in summary if r["arch"] == "vit" and r["p_smoke"] == 1.0)
    assert strong["readouts"] == ["gradcam[blocks.-1.norm1] > 0.85", "gradcam > 0.15"]
    models = [("cnn", (1.0, 0.0)), ("vit", (1.0, 0.0)), ("vit", (0.5, 0.5))]
    assert gallery_readouts(summary, models, seed=0) == {
        "CNN CAM @1.00/0.00": "cam > 0.35",
        "ViT CAM @1.00/0.00": "gradcam[blocks.-1.norm1] > 0.85",
        "ViT CAM @0.50/0.50": "gradcam > 0.05",
    }
    assert gallery_readouts(summary, models[1:2], seed=1) == {"ViT CAM @1.00/0.00":
                                                              "gradcam > 0.15"}
    # The sweep averages seeds: a curve whose seeds were read differently has no one threshold.
    assert sweep_readouts(summary, (1.0, 0.0)) == {"CNN (m)": "cam > 0.35"}
    assert sweep_readouts(summary, (0.5, 0.5)) == {"CNN (m)": "cam > 0.35",
                                                   "ViT (m)": "gradcam > 0.05"}
    fig = threshold_sweep_figure(sweep_curves(summary, (0.5, 0.5)), threshold=None,
                                 readouts=sweep_readouts(summary, (0.5, 0.5)))
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "ViT (m), Grad-CAM (default layers)" in labels
    assert "ViT (m): threshold chosen on val (0.05)" in labels
    assert "CNN (m): threshold chosen on val (0.35)" in labels
    assert not any(label.startswith("threshold used") for label in labels)


def test_sweep_figure_has_four_panels_with_both_models():
    summary = summarize_sweep(_fake_rows(strong_gap=0.3))
    fig = plot_bias_sweep(summary, baseline={"smoke_iou": 0.1})
    assert len(fig.axes) == 4
    assert len(fig.axes[0].lines) >= 4  # 2 architectures x {test, decoupled}
    # Networks read at different thresholds: the title names no single one of them.
    fig = plot_bias_sweep(summarize_sweep(_read_rows()))
    assert "pseudo-mask = each network's read-out, chosen on val" in fig._suptitle.get_text()
    same = [dict(r, readout="cam > 0.30", threshold=0.3) for r in _fake_rows(0.3)]
    assert "pseudo-mask = score map > 0.30" in plot_bias_sweep(
        summarize_sweep(same))._suptitle.get_text()


# ------------------------------------------------------------------------------ generic figures


def test_cam_gallery_checks_shapes_and_draws_one_row_per_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    smoke = np.zeros((3, 16, 16), dtype=bool)
    smoke[:, 2:8, 2:8] = True
    cam = torch.rand(3, 16, 16)
    fig = cam_gallery(
        images, {"smoke mask": smoke, "CAM": cam}, row_titles=["a", "b", "c"],
        outlines={"smoke": (smoke, "cyan")}, annotations={"CAM": ["p=1", "p=0", ""]},
        cam_threshold=0.3,
    )
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 9  # 3 rows x (image, mask, CAM)
    with pytest.raises(ValueError, match=r"Column 'CAM'.*\[3, 16, 16\]"):
        cam_gallery(images, {"CAM": cam[:, :8]})
    with pytest.raises(ValueError, match="annotations"):
        cam_gallery(images, {"CAM": cam}, annotations={"CAM": ["x"]})
    with pytest.raises(ValueError, match="at least one column"):
        cam_gallery(images, {})
    # Real data has no chimney masks: None columns and outlines are skipped.
    fig = cam_gallery(images, {"chimney mask": None, "CAM": cam},
                      outlines={"chimney": (None, "orange")}, show_image=False)
    assert len([ax for ax in fig.axes if ax.images]) == 3


def test_threshold_sweep_figure_labels_oracle_as_upper_bound():
    gt = np.zeros((2, 8, 8), dtype=bool)
    gt[:, :4] = True
    cam = np.where(gt, 0.8, 0.1).astype(np.float32)
    fig = threshold_sweep_figure({"perfect": threshold_sweep(cam, gt)})
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("upper bound" in label for label in labels)
    assert any("best t" in label for label in labels)


# ------------------------------------------------------------------------------ end to end


def test_examples_have_the_kind_they_claim():
    tests = {
        split: load_split(split, image_size=32, n_images=24) for split in ("test", "test_decoupled")
    }
    examples = bias_examples(tests, n_per_kind=2, seed=1)
    assert len(examples) == 2 * len(EXAMPLE_KINDS)
    for (split, label, with_chimney, kind), pair in zip(
        EXAMPLE_KINDS, (examples[i : i + 2] for i in range(0, len(examples), 2)), strict=True
    ):
        for ex in pair:
            scenes = tests[ex.split]
            assert (ex.split, ex.kind) == (split, kind)
            assert scenes.labels[ex.index] == label
            assert scenes.chimney_masks[ex.index].any() == with_chimney
    with pytest.raises(ValueError, match="n_test"):
        bias_examples({"test": tests["test"].subset([0]), "test_decoupled": tests["test"]})


def test_tiny_sweep_end_to_end():
    # timm's test-sized ResNet and ViT keep this fast; the notebook uses resnet18 / vit_tiny.
    tiny = {**TINY, "cnn": "test_resnet", "vit": "test_vit", "cnn_output_stride": 16,
            "train_levels": [[1.0, 0.0]]}
    S = notebook_settings("01_co_occurrence_bias", "quick", **{
        k: v for k, v in tiny.items() if v is not None
    })
    rows = run_bias_sweep(S, progress=False)
    assert [(r["arch"], r["level"], r["model"]) for r in rows] == [
        ("cnn", "1.00/0.00", "test_resnet"), ("vit", "1.00/0.00", "test_vit")
    ]
    for row in rows:
        for key in ("accuracy", "smoke_iou", "chimney_fp_rate_decoupled",
                    "cam_chimney_mass_decoupled", "oracle_iou"):
            # NaN is allowed where a metric is undefined (e.g. all-zero CAMs of an untrained net)
            assert not (row[key] < 0.0 or row[key] > 1.0), (key, row[key])
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["smoke_iou"] <= 1.0
        assert row["oracle_iou"] >= row["best_threshold_iou"] - 1e-9
        assert row["shortcut_gap"] == pytest.approx(
            row["accuracy"] - row["accuracy_decoupled"]
        )
    reference = run_supervised_reference(S, progress=False)
    assert 0.0 <= reference["smoke_iou"] <= 1.0 and math.isnan(reference["shortcut_gap"])

    tests = load_test_sets(S)
    baseline = whole_image_baseline(tests)
    smoke_fraction = tests["test"].smoke_masks[tests["test"].labels == 1].mean(axis=(1, 2))
    assert baseline["smoke_iou"] == pytest.approx(smoke_fraction.mean())
    maps = gallery_maps(S, bias_examples(tests, n_per_kind=1), tests)
    assert maps["images"].shape == (4, 32, 32, 3)
    assert set(maps["cams"]) == {"CNN CAM @1.00/0.00", "ViT CAM @1.00/0.00"}
    for cam in maps["cams"].values():
        assert cam.shape == (4, 32, 32) and cam.min() >= 0.0 and cam.max() <= 1.0
    fig = plot_cam_gallery(maps)
    assert len([ax for ax in fig.axes if ax.images]) == 4 * 5
    # Each CAM column is titled with the read-out its network was evaluated with.
    readouts = gallery_readouts(summarize_sweep(rows), [("cnn", (1.0, 0.0)), ("vit", (1.0, 0.0))])
    assert set(readouts) == set(maps["cams"])
    fig = plot_cam_gallery(maps, readouts=readouts)
    titles = [ax.get_title().replace("\n> ", " > ") for ax in fig.axes
              if ax.get_title().startswith(("CNN", "ViT"))]
    assert titles == [f"{title}\n{readout_text(readouts[title])}" for title in maps["cams"]]
