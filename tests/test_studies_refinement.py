"""The refinement studies (notebooks 05 and 06), their results and figures, on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from wsss_lib import paper, results
from wsss_lib.cam import compute_cam, layer_maps
from wsss_lib.cam.readout import CamReadout, layer_cams_readout
from wsss_lib.data import make_split, to_tensor_batch
from wsss_lib.data.regions import REGIONS, region_masks
from wsss_lib.models import build_classifier
from wsss_lib.plots import refinement as plots
from wsss_lib.postprocess import RefinementStep
from wsss_lib.results import fusion as fusion_results
from wsss_lib.results import postprocessing as postprocess_results
from wsss_lib.studies import fusion, measure, postprocessing

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32


@pytest.fixture(scope="module")
def scenes():
    return make_split("test", image_size=SIZE, n_images=6)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return build_classifier("vit_tiny", patch_size=8, img_size=SIZE).eval()


@pytest.fixture(scope="module")
def layer_cams(vit, scenes):
    return layer_maps.layer_gradcams(vit, scenes.images, scales=(0.5, 1.0, 1.5), batch_size=3,
                            progress=False)


class _TruthStep(RefinementStep):
    """Stand-in step that returns a fixed map (e.g. the ground truth)."""

    name = "truth"

    def __init__(self, maps: np.ndarray) -> None:
        self.maps = torch.as_tensor(maps, dtype=torch.float32)
        self.offset = 0

    def params(self) -> dict:
        return {}

    def refine(self, cam, images):
        out = self.maps[self.offset:self.offset + cam.shape[0]]
        self.offset = (self.offset + cam.shape[0]) % self.maps.shape[0]
        return out


# ------------------------------------------------------------------------------ layer maps


@pytest.mark.parametrize(
    ("layers", "rule", "scales", "weights"),
    [
        (None, "max", (0.5, 1.0, 1.5), None),
        (None, "weighted", (1.0,), (1.0, 2.0, 3.0, 4.0)),
        (["blocks.11.norm1"], "mean", (0.5, 1.0), None),
    ],
)
def test_layer_cams_equal_compute_cam(vit, scenes, layer_cams, layers, rule, scales, weights):
    ours = layer_cams.cam(layers, rule, scales, weights)
    reference = compute_cam(vit, to_tensor_batch(scenes.images), method="gradcam", layers=layers,
                            scales=scales, fusion=rule, fusion_weights=weights)
    assert ours.shape == (len(scenes), SIZE, SIZE)
    # batches of 3 against one batch of 6: kernels differ by batch size in the last float bits
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=0)


def test_layer_cams_default_layers_are_the_papers(layer_cams):
    assert layer_cams.layers == [f"blocks.{i}.norm1" for i in (7, 8, 10, 11)]
    assert layer_cams.scales == (0.5, 1.0, 1.5)
    assert layer_cams.maps[0.5]["blocks.7.norm1"].shape == (6, 2, 2)  # 16 px / patch 8


def test_layer_cams_reject_bad_input(vit, scenes, layer_cams):
    with pytest.raises(ValueError, match="uint8"):
        layer_maps.layer_gradcams(vit, scenes.images.astype(np.float32), progress=False)
    with pytest.raises(ValueError, match="scales=..."):
        layer_cams.cam(scales=(2.0,))
    with pytest.raises(ValueError, match="not computed"):
        layer_cams.cam(["blocks.0.norm1"])


def test_seed_cams_match_layer_maps_and_score_map(vit, scenes, layer_cams):
    # layer_cams itself is checked against compute_cam above.
    last = postprocessing.seed_cams(vit, scenes.images, "gradcam_last", scales=(0.5, 1.0),
                                    batch_size=4, progress=False)
    torch.testing.assert_close(last["single"], layer_cams.cam(["blocks.11.norm1"]))
    torch.testing.assert_close(last["multiscale"],
                               layer_cams.cam(["blocks.11.norm1"], scales=(0.5, 1.0)))
    score = postprocessing.seed_cams(vit, scenes.images, "cam", scales=(0.5, 1.0), batch_size=4)
    with torch.no_grad():
        reference = compute_cam(vit, to_tensor_batch(scenes.images), method="cam",
                                scales=(0.5, 1.0))
    torch.testing.assert_close(score["multiscale"], reference)
    with pytest.raises(ValueError, match="Unknown seed CAM"):
        postprocessing.seed_cams(vit, scenes.images, "gradcam")


# ------------------------------------------------------------------------------ 05: fusion


def test_fusion_variants_names_and_weights():
    layers = ["blocks.7.norm1", "blocks.8.norm1", "blocks.10.norm1", "blocks.11.norm1"]
    variants = fusion.fusion_variants(layers, scales=(0.5, 1.0))
    assert list(variants)[:4] == ["layer block 7", "layer block 8", "layer block 10", "last layer"]
    assert variants["last layer"] == CamReadout("gradcam", ("blocks.11.norm1",))
    assert variants["fused (weighted)"].fusion_weights == (1.0, 2.0, 3.0, 4.0)
    assert variants["fused (max)"].fusion_weights is None
    assert variants["multi-scale (last layer)"].scales == (0.5, 1.0)
    with pytest.raises(ValueError, match="2 fusion weights for 4 layers"):
        fusion.fusion_variants(layers, weights=(1, 2))
    with pytest.raises(ValueError, match="Unknown fusion rules"):
        fusion.fusion_variants(layers, rules=("median",))


def test_evaluate_variants_rows(layer_cams, scenes):
    variants = fusion.fusion_variants(layer_cams.layers, scales=(0.5, 1.0, 1.5))
    rows = fusion.evaluate_variants(layer_cams, variants, scenes, "weak")
    assert [r["variant"] for r in rows] == list(variants)
    fused = next(r for r in rows if r["variant"] == "fused (mean)")
    assert fused["rule"] == "mean" and fused["seed"] == "weak"
    assert all(0.0 <= r["smoke_iou"] <= 1.0 for r in rows)
    # Different CAMs give different numbers: the rows are not copies of one evaluation.
    assert len({round(r["smoke_iou"], 6) for r in rows}) > 1
    with pytest.raises(ValueError, match="CAMs for"):
        fusion.evaluate_variants(layer_cams, variants, scenes.subset(range(4)), "weak")


def test_paired_gain_from_empty_to_perfect(scenes):
    truth = scenes.smoke_masks.astype(np.float32)
    gain = fusion.paired_gain(np.zeros_like(truth), truth, scenes)
    n_smoke = int((scenes.labels == 1).sum())
    assert gain["gain"] == pytest.approx(1.0)
    assert gain["ci95"] == pytest.approx(0.0)
    assert gain["n_images"] == n_smoke
    assert gain["improved_share"] == 1.0
    assert fusion.paired_gain(truth, np.zeros_like(truth), scenes)["gain"] == pytest.approx(-1.0)


def _summary(weak_gain: float, strong_gain: float, ci: float = 0.01) -> dict:
    out = {}
    # "strong" is listed first: the verdicts must rank the seeds by their numbers, not order.
    for seed, gain, base in (("strong", strong_gain, 0.45), ("weak", weak_gain, 0.3)):
        out[f"{seed} / last layer"] = {"smoke_iou": base}
        for name in ("fused (mean)", "multi-scale (last layer)"):
            out[f"{seed} / {name}"] = {"smoke_iou": base + gain, "gain": gain, "ci95": ci,
                                       "improved_share": 0.5}
    return out


def test_fusion_verdicts_follow_the_numbers():
    holds = fusion_results.fusion_verdicts(_summary(0.09, -0.02))
    assert holds[0].startswith("Weaker seed here: weak (last-layer smoke IoU 30.0%)")
    assert "weak seed's smoke IoU by +9.0 ± 1.0 points" in holds[1]
    assert holds[1].endswith("30.0% -> 39.0%, a real gain.")
    assert holds[2].endswith("a real loss.")
    assert "HOLDS here" in holds[3]
    fails = fusion_results.fusion_verdicts(_summary(-0.02, 0.03))
    assert "does NOT hold" in fails[3]
    assert "by +3.0 ± 1.0 points" in fails[4] and "a real gain" in fails[4]
    noisy = fusion_results.fusion_verdicts(_summary(0.01, -0.01, ci=0.05))
    assert "does NOT clearly hold" in noisy[3]
    assert noisy[1].endswith("within noise.")


def test_fusion_verdicts_refuse_to_judge_equal_seeds():
    summary = _summary(0.09, -0.02)
    summary["strong / last layer"]["smoke_iou"] = 0.305  # within MIN_SEED_GAP of the weak seed
    lines = fusion_results.fusion_verdicts(summary)
    assert lines[0].startswith("The two seeds are about equally good here")
    assert "cannot be tested here" in lines[3] and "HOLDS" not in lines[3]


def test_blank_share_counts_all_zero_maps():
    cams = np.zeros((4, 5, 5), dtype=np.float32)
    cams[1, 2, 2] = 0.5
    assert measure.blank_share(cams) == 0.75
    assert measure.blank_share(torch.ones(2, 3, 3)) == 0.0


def test_seeds_are_ranked_by_measured_iou():
    summary = _summary(0.0, 0.0)
    summary["weak / last layer"]["smoke_iou"] = 0.9  # the "weak" model scores higher here
    assert fusion_results.rank_seeds(summary) == ("strong", "weak")
    renamed = fusion_results.weak_strong_rows(summary)
    assert renamed["strong seed / last layer"]["smoke_iou"] == 0.9
    assert set(renamed) == set(paper.PAPER_FUSION) | {"weak seed / multi-scale (last layer)"}


def test_fusion_summary_gains_are_paired_differences(layer_cams, scenes):
    summary = fusion.fusion_summary({"a": layer_cams}, scenes, scales=(0.5, 1.0, 1.5))
    fused, single = summary["a / fused (mean)"], summary["a / last layer"]
    assert fused["gain"] == pytest.approx(fused["smoke_iou"] - single["smoke_iou"])
    assert set(summary) == {"a / last layer", "a / fused (mean)", "a / multi-scale (last layer)"}


def test_percent_rows_and_markdown_table():
    rows = {"CRF": {"status": "ok", "smoke_iou": 0.5, "fp_rate": {"sky": 0.25}, "seconds": 1.5,
                    "gain_vs_none": float("nan")},
            "SAM": {"status": "skipped: no SAM weights"}}
    pct = results.percent_rows(rows)
    assert pct["CRF"] == {"status": "ok", "smoke_iou": 50.0, "fp_rate": {"sky": 25.0},
                          "seconds": 1.5, "gain_vs_none": None}
    table = results.markdown_table(pct, {"smoke_iou": "IoU", "fp_rate.sky": "sky"},
                                   paper={"SAM": {"smoke_iou": 51.0}})
    lines = table.splitlines()
    assert lines[2] == "| CRF | 50.00 | 25.00 | – |"
    assert lines[3] == "| SAM | skipped: no SAM weights | – | 51.00 |"


# ------------------------------------------------------------------------------ 06: pipelines


def test_region_masks_partition_the_non_smoke_pixels(scenes):
    regions = region_masks(scenes)
    stack = np.stack([regions[name] for name in REGIONS]).astype(int)
    assert (stack.sum(axis=0) == (~scenes.smoke_masks).astype(int)).all()
    i = int(np.flatnonzero(scenes.chimney_masks.reshape(6, -1).any(axis=1))[0])
    horizon = scenes.params[i]["horizon"]
    rows = np.flatnonzero(regions["sky"][i].any(axis=1))
    assert rows.max() < horizon
    assert not (regions["chimney"][i] ^ (scenes.chimney_masks[i] & ~scenes.smoke_masks[i])).any()


def test_false_positive_breakdown_locates_the_pixels(scenes):
    regions = region_masks(scenes)
    out = postprocessing.false_positive_breakdown(regions["cloud/haze"], regions)
    assert out["fp_rate"]["cloud/haze"] == 1.0
    assert out["fp_share"]["cloud/haze"] == 1.0
    assert out["fp_rate"]["sky"] == 0.0
    none = postprocessing.false_positive_breakdown(np.zeros_like(scenes.smoke_masks), regions)
    assert math.isnan(none["fp_share"]["sky"]) and none["fp_rate"]["sky"] == 0.0


def test_standard_pipelines_mark_skipped_steps():
    crf, par, aff = object(), object(), object()
    pipes = postprocessing.standard_pipelines(crf, par, aff, "skipped: no CLIP weights",
                                              "skipped: no SAM weights")
    assert [p.name for p in pipes] == list(postprocessing.PIPELINE_NAMES)
    by_name = {p.name: p for p in pipes}
    assert by_name["CLIP"].skipped == "skipped: no CLIP weights"
    assert by_name["SAM+CRF"].skipped == "skipped: no SAM weights"
    assert by_name["MS+CRF"].source == "multiscale" and by_name["MS+CRF"].skipped is None
    assert by_name["AffinityNet+CRF"].steps == [aff, crf]
    with pytest.raises(ValueError, match="source"):
        postprocessing.Pipeline("x", source="tiled")


def test_clip_and_sam_steps_skip_without_weights():
    # conftest isolates the cache and sets HF_HUB_OFFLINE: no weights can be found.
    assert postprocessing.clip_step() == "skipped: no CLIP weights"
    assert postprocessing.sam_step() == "skipped: no SAM weights"


def test_run_pipelines_measures_each_pipeline(scenes):
    truth = scenes.smoke_masks.astype(np.float32)
    seed = torch.full(truth.shape, 0.5)  # everything called smoke
    pipes = [
        postprocessing.Pipeline("none"),
        postprocessing.Pipeline("truth", steps=[_TruthStep(truth)]),
        postprocessing.Pipeline("MS", source="multiscale"),
        postprocessing.Pipeline("CLIP", skipped="skipped: no CLIP weights"),
    ]
    run = postprocessing.run_pipelines(
        pipes, {"single": seed, "multiscale": torch.zeros(truth.shape)}, scenes, batch_size=3,
        progress=False)
    assert run.rows["truth"]["smoke_iou"] == pytest.approx(1.0)
    assert run.rows["truth"]["fp_rate"]["sky"] == 0.0
    assert run.rows["none"]["fp_rate"]["sky"] == 1.0
    assert run.rows["MS"]["smoke_iou"] == 0.0
    assert run.rows["truth"]["gain_vs_none"] == pytest.approx(1.0 - run.rows["none"]["smoke_iou"])
    assert run.rows["CLIP"] == {"status": "skipped: no CLIP weights"}
    assert "CLIP" not in run.cams
    lines = postprocess_results.postprocess_verdicts(run)
    assert any(line.startswith("CLIP: skipped: no CLIP weights") for line in lines)
    assert any(line.startswith("truth helps") for line in lines)
    assert lines[-1].startswith("Best pipeline here: truth")
    with pytest.raises(ValueError, match="needs the 'multiscale' CAM"):
        postprocessing.run_pipelines(pipes[2:3], {"single": seed}, scenes, progress=False)


def test_verdict_reports_bleeding_into_the_sky(scenes):
    regions = region_masks(scenes)
    truth = scenes.smoke_masks.astype(np.float32)
    bleeding = np.maximum(truth, regions["sky"].astype(np.float32))
    pipes = [postprocessing.Pipeline("none", steps=[_TruthStep(truth)]),
             postprocessing.Pipeline("PAR", steps=[_TruthStep(bleeding)])]
    run = postprocessing.run_pipelines(pipes, {"single": torch.zeros(truth.shape)}, scenes,
                                       progress=False)
    line = next(x for x in postprocess_results.postprocess_verdicts(run) if x.startswith("PAR"))
    assert line.startswith("PAR hurts") and "sky false positives 0.0% -> 100.0%" in line


# ------------------------------------------------------------------------------ figures


def test_pick_showcase_prefers_chimney_and_clouds(scenes):
    picked = measure.pick_showcase(scenes, n=2)
    assert all(scenes.labels[i] == 1 for i in picked)
    assert scenes.chimney_masks[picked[0]].any()


def test_figures_build(scenes, layer_cams):
    idx = measure.pick_showcase(scenes, n=2)
    gallery = plots.plot_layer_gallery(scenes, {"last": layer_cams.cam(), "max": layer_cams.cam(
        rule="max")}, idx, title="t")
    assert isinstance(gallery, Figure)
    assert len([ax for ax in gallery.axes if ax.images]) == 2 * 3  # image + 2 CAM columns
    rows = fusion.evaluate_variants(layer_cams, fusion.fusion_variants(layer_cams.layers, (1.0,)),
                                    scenes, "weak")
    assert isinstance(plots.plot_variant_bars(rows), Figure)
    truth = scenes.smoke_masks.astype(np.float32)
    pipes = [postprocessing.Pipeline("none"),
             postprocessing.Pipeline("SAM", skipped="skipped: no SAM")]
    run = postprocessing.run_pipelines(pipes, {"single": torch.as_tensor(truth)}, scenes,
                                       progress=False)
    assert isinstance(plots.plot_pipeline_bars(run), Figure)
    overlay = plots.plot_bleed_overlays(scenes, run, idx)
    assert len([ax for ax in overlay.axes if ax.images]) == 1 * 2


class _ScaleStep(RefinementStep):
    """Multiplies the map: a refiner that changes where a fixed threshold cuts."""

    name = "scale"

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def params(self) -> dict:
        return {"factor": self.factor}

    def refine(self, cam, images):
        return cam * self.factor


def test_pipeline_thresholds_are_chosen_on_val_and_used_on_test(scenes):
    truth = torch.from_numpy(scenes.smoke_masks.astype(np.float32))
    seed = 0.2 + 0.6 * truth  # 0.2 off smoke, 0.8 on smoke
    pipes = [postprocessing.Pipeline("none"),
             postprocessing.Pipeline("CRF", steps=[_ScaleStep(0.3)]),  # 0.06 / 0.24
             postprocessing.Pipeline("CLIP", skipped="skipped: no CLIP weights")]
    sources = {"single": seed, "multiscale": seed}
    cuts = postprocessing.choose_pipeline_thresholds(pipes, sources, scenes, batch_size=3)
    # Any cut between a map's two levels is perfect; the sweep keeps the lowest such threshold.
    assert cuts == {"none": 0.2, "CRF": 0.1}
    run = postprocessing.run_pipelines(pipes, sources, scenes, thresholds=cuts, batch_size=3,
                                       progress=False)
    assert (run.rows["CRF"]["threshold"], run.rows["none"]["threshold"]) == (0.1, 0.2)
    assert run.rows["CRF"]["smoke_iou"] == pytest.approx(1.0)
    fixed = postprocessing.run_pipelines(pipes, sources, scenes, threshold=0.3, batch_size=3,
                                         progress=False)
    assert fixed.rows["CRF"]["smoke_iou"] == 0.0  # 0.24 never exceeds 0.3

    def crf_claim(pipeline_run):
        claims = postprocess_results.postprocess_claims(pipeline_run, scenes, threshold=0.3)
        return next(c for c in claims if c["claim"].startswith("Dense CRF"))

    # The claims score each pipeline at the threshold its row records.
    assert crf_claim(run)["mean"] == pytest.approx(0.0)
    assert crf_claim(fixed)["verdict"] == "contradicted"


def test_seed_cam_is_chosen_on_val(vit, scenes):
    kind, ious = postprocessing.choose_seed_cam(vit, scenes, batch_size=3)
    assert set(ious) == set(postprocessing.SEED_CAMS)
    assert ious[kind] == max(ious.values())
    only, _ = postprocessing.choose_seed_cam(vit, scenes, kinds=("cam",), batch_size=3)
    assert only == "cam"


@pytest.mark.parametrize("threshold", [0.06, 0.3, 0.55, 0.9])
def test_crf_power_puts_the_unary_tie_at_the_threshold(threshold):
    power = postprocessing.crf_power_for(threshold)
    assert (1 - threshold) ** power == pytest.approx(threshold)
    assert postprocessing.crf_power_for(0.5) == pytest.approx(1.0)


def test_standard_pipelines_take_one_crf_per_input():
    crf_none, crf_ms, step = object(), object(), object()  # stand-ins for the steps
    crfs = {"none": crf_none, "MS": crf_ms}
    pipes = {p.name: p for p in postprocessing.standard_pipelines(crfs, step, step, step,
                                                                   "skipped: no SAM weights")}
    assert pipes["CRF"].steps == [crf_none] and pipes["MS+CRF"].steps == [crf_ms]
    assert pipes["AffinityNet+CRF"].skipped == "skipped: no CRF for the AffinityNet output"
    assert pipes["SAM+CRF"].skipped == "skipped: no SAM weights"
    assert set(postprocessing.CRF_INPUTS) == {n for n in pipes if n.endswith("CRF")}


def test_crf_kernel_is_chosen_on_val_among_the_grid(scenes):
    truth = torch.from_numpy(scenes.smoke_masks.astype(np.float32))
    blurred = torch.nn.functional.avg_pool2d(truth[:, None], 5, 1, 2)[:, 0].clamp(0, 1)
    settings, ious = postprocessing.choose_crf_kernel(
        blurred, scenes, 0.5, grid=((60.0, 5.0), (8.0, 13.0)), iterations=2, n_images=4,
        batch_size=2)
    assert set(ious) == {"60/5", "8/13"}
    best = max(ious, key=ious.get)
    assert f"{settings['bilateral_sxy']:g}/{settings['bilateral_srgb']:g}" == best
    with pytest.raises(ValueError, match="at least one"):
        postprocessing.choose_crf_kernel(blurred, scenes, 0.5, grid=())


# ------------------------------------------------------------------------------ read-outs


def test_thresholds_are_chosen_on_val_per_variant(scenes, layer_cams):
    truth = scenes.smoke_masks.astype(np.float32)
    seed = 0.2 + 0.6 * truth  # 0.2 off smoke, 0.8 on smoke: any cut in [0.2, 0.8) is perfect
    assert fusion.choose_threshold(seed, scenes) == 0.2  # the lowest of the best
    with pytest.raises(ValueError, match="CAMs for"):
        fusion.choose_threshold(seed[:2], scenes)
    variants = fusion.fusion_variants(layer_cams.layers, scales=(0.5, 1.0))
    cuts = fusion.choose_variant_thresholds(layer_cams, variants, scenes)
    assert set(cuts) == set(variants)
    for name in list(variants)[:2]:
        sweep = _sweep(layer_cams_readout(variants[name], layer_cams), scenes)
        assert cuts[name] == pytest.approx(sweep.best_threshold)


def _sweep(cam, scenes):
    from wsss_lib.metrics import threshold_sweep
    from wsss_lib.train import READOUT_THRESHOLDS

    return threshold_sweep(np.asarray(cam), scenes.smoke_masks, scenes.labels,
                           thresholds=READOUT_THRESHOLDS)


def test_each_variant_row_is_cut_at_its_own_threshold(scenes, layer_cams):
    variants = fusion.fusion_variants(layer_cams.layers, scales=(0.5, 1.0))
    cuts = {"last layer": 0.7, "fused (mean)": 0.1}
    rows = {r["variant"]: r for r in fusion.evaluate_variants(
        layer_cams, variants, scenes, "s", threshold=0.3, thresholds=cuts, fixed_threshold=0.3)}
    assert rows["last layer"]["threshold"] == 0.7 and rows["fused (max)"]["threshold"] == 0.3
    fused = rows["fused (mean)"]
    assert fused["smoke_iou"] == pytest.approx(fusion.cam_row(
        layer_cams.cam(), scenes, "s", "x", 0.1)["smoke_iou"])
    assert fused["fixed_threshold"]["threshold"] == 0.3
    assert fused["fixed_threshold"]["smoke_iou"] == pytest.approx(fusion.cam_row(
        layer_cams.cam(), scenes, "s", "x", 0.3)["smoke_iou"])
    # The table keeps the nested entry and shows it in %.
    table = results.percent_rows({"r": fused}, keep=fusion_results.METRIC_KEEP)
    assert table["r"]["fixed_threshold"]["smoke_iou"] == pytest.approx(
        round(100 * fused["fixed_threshold"]["smoke_iou"], 2))
    assert "fixed_threshold.smoke_iou" in fusion_results.METRIC_COLUMNS


def test_fusion_summary_compares_each_cam_at_its_own_threshold(layer_cams, scenes):
    cuts = {"a": {"last layer": 0.6, "fused (mean)": 0.2, "multi-scale (last layer)": 0.4}}
    summary = fusion.fusion_summary({"a": layer_cams}, scenes, scales=(0.5, 1.0, 1.5),
                                    thresholds=cuts)
    fused, single = summary["a / fused (mean)"], summary["a / last layer"]
    assert (single["threshold"], fused["threshold"]) == (0.6, 0.2)
    assert fused["gain"] == pytest.approx(fused["smoke_iou"] - single["smoke_iou"])
    assert 0.0 <= single["blank_share"] <= 1.0
    gain = fusion.paired_gain(layer_cams.cam(["blocks.11.norm1"]), layer_cams.cam(), scenes,
                              0.6, threshold_after=0.2)
    assert gain["gain"] == pytest.approx(fused["gain"])


def test_classifier_accuracy_counts_correct_images(vit, scenes):
    from wsss_lib.data import to_tensor_batch

    with torch.no_grad():
        logits = vit(to_tensor_batch(scenes.images)).logits[:, 0]
    expected = float(((logits > 0).numpy().astype(int) == scenes.labels).mean())
    assert fusion.classifier_accuracy(vit, scenes, batch_size=4) == pytest.approx(expected)


def test_fusion_verdicts_withhold_judgement_near_chance():
    lines = fusion_results.fusion_verdicts(_summary(0.09, -0.02),
                                           accuracy={"weak": 0.5, "strong": 0.9})
    assert lines[0].startswith("The weak classifies the test images near chance (accuracy 50 %")
    assert not any("strong classifies" in line for line in lines)
    weak_line = next(line for line in lines if "the weak seed's" in line)
    assert "no verdict: the classifier is near chance" in weak_line
    assert "a real gain" not in weak_line
    assert "cannot be tested here: the weak classifier is near chance" in " ".join(lines)
    assert "HOLDS" not in " ".join(lines)
    # the trained seed keeps its verdict
    assert next(line for line in lines if "the strong seed's smoke IoU by" in line).endswith(
        "a real loss.")


def test_fusion_verdicts_state_both_read_outs_and_where_they_disagree():
    chosen = _summary(0.09, -0.02)
    fixed = _summary(0.09, 0.03)  # at the fixed cut fusion helps the strong seed instead
    for rows, cut in ((chosen, 0.45), (fixed, 0.3)):
        for row in rows.values():
            row["threshold"] = cut
    lines = fusion_results.fusion_verdicts(chosen, fixed=fixed, fixed_threshold=0.3)
    assert lines[0].startswith("Read-out of the sentences below: each CAM at its own threshold")
    assert "(> 0.45)" in lines[2]
    fixed_line = next(x for x in lines if x.startswith("At the fixed threshold 0.3 instead"))
    assert "strong seed's smoke IoU by +3.0 ± 1.0 points" in fixed_line
    disagree = [line for line in lines if line.startswith("The two read-outs disagree")]
    assert len(disagree) == 2  # fusion and multi-scale on the strong seed
    assert "fusion on the strong seed: a real loss with thresholds chosen on val, a real gain " \
           "at the fixed 0.3" in disagree[0]


def test_weak_strong_rows_keep_the_given_order():
    summary = _summary(0.0, 0.0)
    renamed = fusion_results.weak_strong_rows(summary, order=("strong", "weak"))
    assert renamed["weak seed / last layer"]["smoke_iou"] == 0.45


def test_fixed_threshold_is_recorded_except_for_crf_outputs(scenes):
    truth = torch.from_numpy(scenes.smoke_masks.astype(np.float32))
    seed = 0.2 + 0.6 * truth
    pipes = [postprocessing.Pipeline("none"),
             postprocessing.Pipeline("MS", source="multiscale", steps=[_ScaleStep(0.3)]),
             postprocessing.Pipeline("CRF", steps=[_ScaleStep(1.0)])]
    run = postprocessing.run_pipelines(
        pipes, {"single": seed, "multiscale": seed}, scenes, thresholds={"none": 0.2, "MS": 0.1},
        fixed_threshold=0.3, batch_size=3, progress=False)
    # MS is perfect at its own cut (0.1) but empty at the fixed 0.3 (0.24 < 0.3).
    assert run.rows["MS"]["smoke_iou"] == pytest.approx(1.0)
    assert run.rows["MS"]["fixed_threshold"]["smoke_iou"] == 0.0
    assert run.rows["MS"]["fixed_threshold"]["gain_vs_none"] == pytest.approx(-1.0)
    assert run.rows["none"]["fixed_threshold"] == {"threshold": 0.3, "smoke_iou": 1.0,
                                                   "gain_vs_none": 0.0}
    assert "fixed_threshold" not in run.rows["CRF"]  # a posterior, always cut at 0.5
    lines = postprocess_results.postprocess_verdicts(run)
    ms = [line for line in lines if "MS" in line]
    assert ms[0].startswith("MS changes little") and "thresholds 0.2 -> 0.1" in ms[0]
    assert ms[1].startswith("The read-out matters for MS: it changes little with thresholds "
                            "chosen on val but hurts at the fixed 0.3")
    table = results.percent_rows(run.rows, keep=postprocess_results.PIPELINE_KEEP)
    assert table["MS"]["fixed_threshold"]["gain_vs_none"] == pytest.approx(-100.0)
    markdown = results.markdown_table(table, postprocess_results.FIXED_COLUMNS)
    assert "| CRF | 100.00 | 0.30 | 0.00 | – | – |" in markdown


def test_postprocess_verdicts_and_claims_near_chance(scenes):
    truth = scenes.smoke_masks.astype(np.float32)
    pipes = [postprocessing.Pipeline("none"),
             postprocessing.Pipeline("CRF", steps=[_TruthStep(truth)]),
             postprocessing.Pipeline("CLIP", skipped="skipped: no CLIP weights")]
    run = postprocessing.run_pipelines(pipes, {"single": torch.full(truth.shape, 0.5)}, scenes,
                                       progress=False)
    lines = postprocess_results.postprocess_verdicts(run, accuracy=0.5, model="seed ViT")
    assert lines[0].startswith("The seed ViT classifies the test images near chance (accuracy "
                               "50 %")
    crf = next(line for line in lines if line.startswith("CRF"))
    assert crf.startswith("CRF (no verdict: classifier near chance)") and "helps" not in crf
    assert lines[-1].startswith("Highest smoke IoU here: CRF") and "not a ranking" in lines[-1]
    claims = {c["claim"].split(" (")[0]: c for c in postprocess_results.postprocess_claims(
        run, scenes, accuracy=0.5)}
    assert claims["Dense CRF helps"]["verdict"] == postprocess_results.NEAR_CHANCE_VERDICT
    assert "from an untrained network" in claims["Dense CRF helps"]["sentence"]
    clip = claims["CLIP refinement hurts"]
    assert clip["verdict"] == "skipped: no CLIP weights"
    assert "not tested here" in clip["sentence"] and "no verdict" in clip["sentence"]
    trained = postprocess_results.postprocess_claims(run, scenes, accuracy=0.95)
    assert trained[0]["verdict"] == "supported"


def test_figures_name_each_rows_own_threshold(scenes, layer_cams):
    rows = fusion.evaluate_variants(layer_cams, fusion.fusion_variants(layer_cams.layers, (1.0,)),
                                    scenes, "s", thresholds={"last layer": 0.65})
    fig = plots.plot_variant_bars(rows)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert any(text.endswith(">0.65") for text in labels)
    assert any(text.endswith(">0.3") for text in labels)
    truth = torch.from_numpy(scenes.smoke_masks.astype(np.float32))
    pipes = [postprocessing.Pipeline("none"), postprocessing.Pipeline("PAR", steps=[_ScaleStep(1)])]
    run = postprocessing.run_pipelines(pipes, {"single": truth}, scenes,
                                       thresholds={"none": 0.25, "PAR": 0.55}, progress=False)
    bars = plots.plot_pipeline_bars(run)
    ticks = [t.get_text() for t in bars.axes[0].get_xticklabels()]
    assert ticks == ["none (>0.25)", "PAR (>0.55)"]
    overlay = plots.plot_bleed_overlays(scenes, run, measure.pick_showcase(scenes, n=2))
    ylabels = [ax.get_ylabel() for ax in overlay.axes if ax.get_ylabel()]
    assert ylabels == ["none\n> 0.25", "PAR\n> 0.55"]
