"""The method studies (02–04): shared configs, runs and rows; their summaries, claims, verdicts
and figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from wsss_lib import paper, results
from wsss_lib.plots import method as plots
from wsss_lib.results import alignment as alignment_results
from wsss_lib.results import lambda_sweep as lambda_results
from wsss_lib.results import paradigms as paradigm_results
from wsss_lib.results.lambda_sweep import INTERIOR_OPTIMUM
from wsss_lib.results.method import (
    FULL_RESULTS_DIR,
    chance_labels,
    seed_readouts,
    single_seed_note,
)
from wsss_lib.studies import alignment, configs, measure, paradigms
from wsss_lib.train import ModelSpec, TrainConfig, get_or_train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# timm's test_resnet / test_vit build in milliseconds (vit_tiny's init takes seconds on a busy CPU).
TINY = {
    "image_size": 32,
    "n_train": 8,
    "n_val": 4,
    "n_test": 24,
    "epochs": 1,
    "batch_size": 8,
    "lr": 1e-3,
    "cnn": "test_resnet",
    "cnn_output_stride": 16,
    "vit": "test_vit",
    "vit_patch_size": 8,
}


def _row(name: str, seed: int, smoke_iou: float, **extra: float) -> dict:
    """A run's row; its classifier learned the label (accuracy 0.9) unless ``extra`` says not."""
    row = {"name": name, "seed": seed, **{k: 0.5 for k in measure.ROW_METRICS}, "accuracy": 0.9}
    row.update(smoke_iou=smoke_iou, **extra)
    return row


# ------------------------------------------------------------------------------- configs


def test_teacher_is_shared_by_every_cnn_to_vit_run():
    """Every CNN→ViT run's teacher equals teacher_config, so the cache trains it once."""
    teacher = configs.teacher_config(TINY, seed=3)
    students = [
        configs.teacher_student_config(TINY, 3),
        configs.teacher_student_config(TINY, 3, lam=0.3),
        *[alignment.alignment_config(TINY, v, 3) for v in alignment.ALIGNMENT_VARIANTS
          if not v.startswith("co_training")],
    ]
    assert all(s.teacher_config() == teacher for s in students)
    assert configs.teacher_student_config(TINY, 4).teacher_config() != teacher  # seed is part of it


def test_train_level_sets_the_method_notebooks_co_occurrence():
    assert configs.data_spec(TINY, 1).overrides == {} and configs.data_spec(TINY, 1).seed == 1
    spec = configs.data_spec({**TINY, "train_level": [0.75, 0.25]})
    assert spec.overrides == {"p_chimney_given_smoke": 0.75, "p_chimney_given_clean": 0.25}


def test_vit_to_cnn_teacher_is_the_single_vit():
    config = configs.teacher_student_config(TINY, 1, direction="vit_to_cnn")
    assert config.teacher_config() == configs.single_config(TINY, "vit", 1)
    assert config.student.name == "test_resnet" and config.student.kwargs["pcm"] is True


def test_paradigm_configs_cover_the_rows():
    rows = paradigms.paradigm_configs(TINY, 0)
    assert list(rows) == list(paradigms.PARADIGM_ROWS)
    assert rows["co_training"].paradigm == "co_training"
    assert rows["ts_cnn_to_vit"].kt.lam == 1.0 and rows["ts_cnn_to_vit"].kt.level == "global"


def test_bad_choices_are_named():
    with pytest.raises(ValueError, match="direction"):
        configs.teacher_student_config(TINY, direction="sideways")
    with pytest.raises(ValueError, match="Unknown alignment variant 'global_cos'"):
        alignment.alignment_config(TINY, "global_cos")
    with pytest.raises(ValueError, match="family"):
        configs.model_spec(TINY, "rnn")


def _write_profile(tmp_path, sections):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"*": {}, **sections}))
    return path


def _write_recipe(tmp_path, recipe, sections):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"*": recipe, **sections}))
    return path


def test_method_settings_take_training_keys_from_the_shared_section(tmp_path):
    path = _write_recipe(tmp_path, TINY, {
        "02_teacher_student": {"seeds": [0]},
        "03_lambda_sensitivity": {"seeds": [0, 1], "lams": [0.0, 1.0], "epochs": 99},
    })
    assert configs.method_settings(path).epochs == 1  # the recipe of "*"
    S = configs.method_settings(path, "03_lambda_sensitivity")
    assert S.epochs == 99  # a section holds what differs for its notebook
    assert S.seeds == [0, 1] and S.lams == [0.0, 1.0]
    assert S.schedule == "constant"  # an optional key left out: TrainConfig's default
    assert configs.method_settings(path, "03_lambda_sensitivity", epochs=2, lams=None).epochs == 2
    with pytest.raises(ValueError, match="Unknown setting"):
        configs.method_settings(path, "03_lambda_sensitivity", epoch=2)


def test_method_settings_name_missing_training_keys(tmp_path):
    path = _write_profile(tmp_path, {"02_teacher_student": {**TINY, "seeds": [0]}})
    with pytest.raises(ValueError, match="image_size.*'\\*'"):
        configs.method_settings(path)


def test_old_setting_names_are_refused_with_the_new_name(tmp_path):
    path = _write_recipe(tmp_path, {**TINY, "pretrain": True}, {"02_teacher_student": {}})
    with pytest.raises(ValueError, match="'pretrain' is now 'proxy_pretrain'"):
        configs.method_settings(path)
    with pytest.raises(ValueError, match="'candidate_levels' is now 'candidate_train_levels'"):
        configs.method_settings("quick", "09_shortcut_claims", candidate_levels=[[0.5, 0.5]])
    with pytest.raises(ValueError, match="'pipelines' is now 'rows'"):
        configs.method_settings("quick", "10_second_stage", pipelines=["single_cnn"])


def test_optional_defaults_are_the_dataclasses_own():
    defaults = configs.OPTIONAL_TRAINING_KEYS
    config = TrainConfig(model=ModelSpec("x"))
    for name in ("schedule", "augment", "weight_decay", "amp", "grad_clip"):
        assert defaults[name] == getattr(config, name), name
    assert defaults["vit_lr"] == ModelSpec("x").lr and defaults["proxy_pretrain"] is False


def test_shipped_profiles_have_every_method_notebook():
    for profile in ("quick", "full"):
        for stem, keys in (("02_teacher_student", ("seeds", "gallery_per_kind")),
                           ("03_lambda_sensitivity", ("seeds", "lams")),
                           ("04_alignment_variants", ("seeds", "variants"))):
            S = configs.method_settings(profile, stem)
            assert all(k in S for k in (*configs.TRAINING_KEYS, *keys))
        variants = configs.method_settings(profile, "04_alignment_variants").variants
        assert set(variants) <= set(alignment.ALIGNMENT_VARIANTS)
    full = configs.method_settings("full", "03_lambda_sensitivity")
    lams = [lam for lam in full.lams if lam > 0]
    assert 0.0 in full.lams and len(lams) >= 3  # an interior optimum needs three λ > 0
    assert len(full.seeds) >= 3 and len(configs.method_settings("full").seeds) >= 3


# --------------------------------------------------------------- no-projection score-map variant


def test_projection_mismatch_error_names_both_channel_counts():
    run = get_or_train(configs.teacher_student_config(TINY), progress=False)
    scenes = measure.evaluation_sets(TINY)["test"]
    message = alignment.projection_mismatch_error(run, scenes)
    assert "student 64, teacher 1" in message and "projection=True" in message


def test_score_map_variant_aligns_the_students_score_map():
    from wsss_lib.losses import kt_loss
    from wsss_lib.train import build_model
    from wsss_lib.train.paradigms import TeacherStudent

    config = alignment.alignment_config(TINY, "no_projection_score_maps")
    assert config.kt.student_map == "score_map" and not config.kt.projection
    assert alignment.alignment_config(TINY, "global_cosine").kt.student_map == "features"
    torch.manual_seed(0)
    student = build_model(config.student, 32)
    teacher = build_model(config.teacher, 32)
    paradigm = TeacherStudent(student, teacher, config.kt, 32, 0)
    images = torch.randn(4, 3, 32, 32)
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])
    paradigm.train()
    out = paradigm.step({"image": images, "label": labels})
    paradigm.eval()
    with torch.no_grad():
        expected = kt_loss(student(images).score_map, paradigm.modules["teacher"](images).score_map)
    assert torch.allclose(out.terms["kt"], expected, atol=1e-5)
    out.loss.backward()
    assert student.backbone.head.weight.grad is not None  # the head is what gets aligned
    assert all(p.grad is None for p in paradigm.modules["teacher"].parameters())


def test_score_map_variant_trains_and_caches_like_any_run():
    config = alignment.alignment_config(TINY, "no_projection_score_maps")
    run = get_or_train(config, progress=False)
    assert run.history[-1]["train_kt"] >= 0 and math.isfinite(run.history[-1]["train_loss"])
    again = get_or_train(config, progress=False)  # now from the cache
    assert again.history == run.history


# ------------------------------------------------------------------ evaluation and summaries


def test_evaluation_sets_gallery_and_evaluate_run():
    sets = measure.evaluation_sets(TINY)
    assert len(sets["test"]) == 24 and len(sets["test_decoupled"]) == 24
    gallery = measure.gallery_scenes(sets, n_per_kind=1)
    has_chimney = gallery.chimney_masks.reshape(len(gallery), -1).any(axis=1)
    assert list(gallery.labels) == [1, 1, 0]
    assert list(has_chimney) == [True, False, True]
    run = get_or_train(configs.teacher_config(TINY), progress=False)
    row = measure.evaluate_run(run, sets)
    assert set(row) == {*measure.ROW_METRICS, "readout"}
    assert row["shortcut_gap"] == pytest.approx(row["accuracy"] - row["accuracy_decoupled"])
    # Without candidates: the score map at the paper's 0.3, which is also the fixed read-out.
    assert row["readout"] == "cam > 0.30"
    assert row["smoke_iou_score_map"] == row["smoke_iou"]


READOUTS = {"cnn": [{"method": "cam"}],
            "vit": [{"method": "cam"}, {"method": "gradcam", "layers": ["blocks.-1.norm1"]}]}


def test_evaluate_run_reads_each_run_the_way_chosen_on_val():
    from wsss_lib.train import CamReadout, choose_readout, evaluate_readout

    sets = measure.evaluation_sets({**TINY, "n_val": 16})
    run = get_or_train(configs.single_config(TINY, "vit"), progress=False)
    row = measure.evaluate_run(run, sets, READOUTS)
    choice = choose_readout(run, sets["val"], [CamReadout.from_dict(r) for r in READOUTS["vit"]])
    assert row["readout"] == choice.readout.label
    assert row["smoke_iou_val"] == pytest.approx(choice.val_iou)
    test = evaluate_readout(run, sets["test"], choice.readout).metrics
    assert row["smoke_iou"] == pytest.approx(test["smoke_iou"])
    fixed = evaluate_readout(run, sets["test"], CamReadout("cam", threshold=0.3)).metrics
    assert row["smoke_iou_score_map"] == pytest.approx(fixed["smoke_iou"])
    # The gallery reads the same way, at the same threshold.
    cams = measure.gallery_cams({"vit": configs.single_config(TINY, "vit")}, sets["test"],
                                sets=sets, readouts=READOUTS)
    np.testing.assert_allclose(cams["vit"], evaluate_readout(run, sets["test"],
                                                              choice.readout).cams)
    assert measure.gallery_thresholds({"vit": configs.single_config(TINY, "vit")}, sets,
                                      READOUTS) == {"vit": choice.readout.threshold}


def test_readout_candidates_need_an_entry_per_family():
    assert measure.readout_candidates(None, "vit") is None
    assert [r.method for r in measure.readout_candidates(READOUTS, "vit")] == ["cam", "gradcam"]
    with pytest.raises(ValueError, match="no candidates for 'vit'"):
        measure.readout_candidates({"cnn": [{"method": "cam"}]}, "vit")


def test_lambda_zero_is_the_single_vit_config():
    from wsss_lib.studies import lambda_sweep

    built = lambda_sweep.lambda_configs(TINY, [0.0, 1.0], seed=2)
    assert built[0.0] == configs.single_config(TINY, "vit", 2)
    assert built[1.0] == configs.teacher_student_config(TINY, 2, lam=1.0)


def test_vit_stem_and_amp_reach_every_method_config():
    S = {**TINY, "vit_stem": "conv", "amp": "bf16", "grad_clip": 1.0}
    ts = configs.teacher_student_config(S, 0)
    assert ts.student.kwargs == {"patch_size": 8, "stem": "conv"} and ts.amp == "bf16"
    assert ts.grad_clip == 1.0 and ts.teacher_config() == configs.teacher_config(S, 0)
    assert "stem" not in configs.single_config(TINY, "vit").model.kwargs  # old keys unchanged
    assert configs.single_config(TINY, "vit").amp == "auto"


def test_notebook_01_and_the_method_share_their_seed_zero_models():
    from wsss_lib.profiles import notebook_settings
    from wsss_lib.studies.bias import bias_model_config

    S01, S02 = notebook_settings("01_co_occurrence_bias", "full"), configs.method_settings("full")
    level = S02["train_level"]
    assert bias_model_config(S01, "cnn", *level, seed=0) == configs.single_config(S02, "cnn", 0)
    assert bias_model_config(S01, "vit", *level, seed=0) == configs.single_config(S02, "vit", 0)


def test_summarize_mean_std_and_single_seed():
    rows = [_row("a", 0, 0.2), _row("a", 1, 0.4), _row("b", 0, 0.3)]
    summary = results.summarize(rows)
    assert list(summary) == ["a", "b"]
    assert summary["a"]["smoke_iou"] == pytest.approx(0.3)
    assert summary["a"]["smoke_iou_std"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert summary["a"]["n_seeds"] == 2
    assert math.isnan(summary["b"]["smoke_iou_std"])
    by_lam = results.summarize([{**_row("x", 0, 0.1), "lam": 0.5}], key="lam")
    assert list(by_lam) == [0.5]
    assert results.as_percent(summary)["a"]["smoke_iou"] == pytest.approx(30.0)


def _pairs(name_a, name_b, diffs, base=0.3, **extra):
    """Rows of two variants over seeds whose smoke IoU differs by ``diffs`` (fractions)."""
    rows = []
    for seed, diff in enumerate(diffs):
        rows += [_row(name_a, seed, base + diff, **extra), _row(name_b, seed, base, **extra)]
    return rows


def test_paired_claim_interval_is_students_t_by_hand():
    claim = results.paired_claim(_pairs("a", "b", [0.10, 0.12, 0.14]), "a", "b", "a beats b")
    half = 4.303 * 2.0 / math.sqrt(3)  # t(0.975, 2) * sd of (10, 12, 14) / sqrt(3), in points
    assert claim["verdict"] == "supported"
    assert claim["mean"] == pytest.approx(12.0)
    assert (claim["low"], claim["high"]) == (pytest.approx(12 - half), pytest.approx(12 + half))
    assert claim["n"] == 3 and "**supported**" in claim["sentence"]
    assert "+12.00 points" in claim["sentence"] and "paired t" in claim["sentence"]


def test_paired_claim_contradicted_inconclusive_and_one_seed():
    rows = _pairs("a", "b", [0.10, 0.12, 0.14])
    assert results.paired_claim(rows, "b", "a", "b beats a")["verdict"] == "contradicted"
    lower = results.paired_claim(rows, "a", "b", "a is lower", expect="less")
    assert lower["verdict"] == "contradicted"
    noisy = _pairs("a", "b", [0.10, -0.08, 0.02])
    assert results.paired_claim(noisy, "a", "b", "a beats b")["verdict"] == "inconclusive"
    one = results.paired_claim(_pairs("a", "b", [0.2]), "a", "b", "a beats b")
    assert one["verdict"] == "inconclusive" and "1 paired seed" in one["sentence"]


def test_paired_rows_pair_by_seed_not_by_order():
    rows = [_row("a", 1, 0.5), _row("b", 0, 0.1), _row("a", 0, 0.2), _row("b", 1, 0.4),
            _row("a", 2, 0.9)]  # seed 2 has no "b": left out
    assert results.paired_rows(rows, "a", "b") == ([0.2, 0.5], [0.1, 0.4], [0, 1])


def test_paradigm_verdicts_test_the_papers_claims():
    rows = []
    for seed, jitter in enumerate((0.0, 0.01, -0.01)):
        rows += [_row("single_cnn", seed, 0.40 + jitter), _row("single_vit", seed, 0.10),
                 _row("ts_cnn_to_vit", seed, 0.20 + jitter), _row("ts_vit_to_cnn", seed, 0.25),
                 _row("co_training", seed, 0.20 + 2 * jitter)]
    verdicts = paradigm_results.paradigm_verdicts(results.summarize(rows), rows)
    assert verdicts[0].startswith("Teacher-student (CNN→ViT) beats the single ViT")
    assert "**supported**" in verdicts[0]
    assert verdicts[1].startswith("The student beats its teacher") and "**contradicted**" in (
        verdicts[1])
    assert "**inconclusive**" in verdicts[2]  # vs co-training: differences 0, -1, +1 points
    assert "Best smoke IoU here: single CNN" in verdicts[-1]
    assert verdicts[-2].startswith("Precision and recall, teacher-student CNN→ViT")
    assert not any("not judged" in v or "chance" in v for v in verdicts)


def test_precision_sentence_says_where_a_smoke_iou_gain_comes_from():
    """Issue 19: notebook 02 promised a precision sentence that no cell printed."""
    def summary(ts_precision, ts_recall):
        rows = [_row("single_vit", s, 0.30, precision=0.15, recall=0.60) for s in range(2)]
        rows += [_row("ts_cnn_to_vit", s, 0.38, precision=ts_precision, recall=ts_recall)
                 for s in range(2)]
        return results.summarize(rows)

    tighter = paradigm_results.precision_sentence(summary(0.25, 0.60))
    assert "smoke IoU +8.00 points, pixel precision +10.00 and recall +0.00" in tighter
    assert "outline the plume better" in tighter and "(means over 2 seeds)" in tighter
    wider = paradigm_results.precision_sentence(summary(0.10, 0.90))
    assert "cover more of the image" in wider
    assert paradigm_results.precision_sentence({"single_vit": {}}) is None  # no student row
    verdicts = paradigm_results.paradigm_verdicts(summary(0.25, 0.6))
    assert any(v.startswith("Precision and recall") for v in verdicts)


def test_networks_at_chance_get_no_verdict_but_a_note_next_to_their_numbers():
    rows = []
    for seed, jitter in enumerate((0.0, 0.01, -0.01)):
        rows += [_row("single_cnn", seed, 0.40 + jitter),
                 _row("single_vit", seed, 0.10, accuracy=0.52),  # never learned the label
                 _row("ts_cnn_to_vit", seed, 0.45 + jitter)]
    summary = results.summarize(rows)
    verdicts = paradigm_results.paradigm_verdicts(summary, rows)
    assert verdicts[0].startswith("Some networks stayed near chance on test (accuracy single ViT "
                                  "52 %")
    vs_vit = next(v for v in verdicts if v.startswith("Teacher-student (CNN→ViT) beats the single"))
    assert "**not judged** — at chance on test (accuracy single ViT 52 %)" in vs_vit
    assert "**supported**" not in vs_vit
    vs_teacher = next(v for v in verdicts if v.startswith("The student beats its teacher"))
    assert "**supported**" in vs_teacher  # both trained: judged as usual
    assert not any(v.startswith("Teacher-student beats co-training") for v in verdicts)  # no row
    assert "**not judged**" in next(v for v in verdicts if v.startswith("Precision and recall"))
    assert chance_labels(summary, paradigms.PARADIGM_ROWS)["single_vit"] == (
        "single ViT (at chance)")

    untrained = [{**r, "accuracy": 0.5} for r in rows]
    verdicts = paradigm_results.paradigm_verdicts(results.summarize(untrained), untrained)
    assert verdicts[0].startswith("Every network here stayed near chance on test (accuracy 50 % "
                                  "each")
    assert "(45.00 ± 1.00 %, at chance: 50 % accuracy on test)" in verdicts[-1]

    lam_rows = [{**_row(lam, s, 0.2 + lam / 10, accuracy=0.5 if lam == 0 else 0.9),
                 "smoke_iou_val": 0.2 + lam / 10} for lam in (0.0, 0.3, 1.0, 1.5) for s in (0, 1)]
    lam_verdicts = lambda_results.lambda_verdicts(results.summarize(lam_rows), lam_rows)
    assert "**not judged** — at chance on test (accuracy λ = 0 50 %)" in lam_verdicts[1]
    assert "**not judged**" not in lam_verdicts[2]  # the interior claim compares λ > 0 only

    al_rows = [_row(v, s, iou, accuracy=acc) for s in range(2)
               for v, iou, acc in (("global_cosine", 0.3, 0.9), ("global_l1_raw", 0.4, 0.5))]
    al_verdicts = alignment_results.alignment_verdicts(results.summarize(al_rows), al_rows)
    assert "**not judged**" in al_verdicts[1]
    assert "score map · global L1 (raw) (40.00 ± 0.00 %, at chance: 50 % accuracy" in (
        al_verdicts[2])


def test_single_seed_verdicts_say_so_and_point_to_the_full_results():
    note, = single_seed_note("02_teacher_student", [0])
    assert note.startswith("These verdicts rest on one seed (seed 0)")
    assert f"`{FULL_RESULTS_DIR}/02_teacher_student/`" in note and "(3 seeds," in note
    assert single_seed_note("02_teacher_student", [0, 1, 2]) == []
    note, = single_seed_note("01_co_occurrence_bias", [0])  # full runs one seed there too
    assert "it uses one seed too" in note and "`seeds=[0, 1, 2]`" in note


def test_seed_readouts_name_each_runs_map_and_threshold():
    rows = [{**_row("single_cnn", s, 0.4), "readout": f"cam > 0.{s + 3}0"} for s in (0, 1)]
    rows.append({**_row("single_vit", 0, 0.2), "readout": "gradcam[blocks.-1.norm1] > 0.85"})
    assert seed_readouts(rows, 0) == {"single_cnn": "cam > 0.30",
                                      "single_vit": "gradcam[blocks.-1.norm1] > 0.85"}
    assert seed_readouts(rows, 1) == {"single_cnn": "cam > 0.40"}


def _lambda_rows(test, val):
    return [{**_row(lam, seed, test[lam] + 0.01 * seed), "smoke_iou_val": val[lam]}
            for lam in test for seed in range(3)]


def test_lambda_interior_optimum_is_chosen_on_val_and_tested_on_test():
    test = {0.0: 0.10, 0.3: 0.20, 1.0: 0.40, 1.5: 0.15}
    rows = _lambda_rows(test, val={0.0: 0.1, 0.3: 0.2, 1.0: 0.5, 1.5: 0.3})
    helps, interior = lambda_results.lambda_claims(rows)
    assert helps["verdict"] == "supported" and "λ = 1 (best on val)" in helps["claim"]
    assert interior["verdict"] == "supported" and interior["interior_on_val"] == 1.0
    # The interior λ is chosen on val, the verdict comes from test: an end that beats it there
    # contradicts the claim, whatever val preferred.
    rising = {0.0: 0.10, 0.3: 0.20, 1.0: 0.30, 1.5: 0.50}
    end = lambda_results.lambda_claims(
        _lambda_rows(rising, val={0.0: 0.1, 0.3: 0.2, 1.0: 0.5, 1.5: 0.3}))
    assert end[1]["verdict"] == "contradicted" and end[1]["claim"] == INTERIOR_OPTIMUM
    assert "λ = 1.5 -20.00" in end[1]["sentence"]  # the paired difference is printed
    assert end[0]["claim"].startswith("Using the teacher helps: λ = 1 (best on val)")
    verdicts = lambda_results.lambda_verdicts(results.summarize(rows), rows)
    assert "Best mean smoke IoU on test at λ = 1 " in verdicts[-1]
    assert lambda_results.lambda_chosen_on_val(rows) == 1.0
    assert lambda_results.lambda_chosen_on_val(rows, [0.3, 1.5]) == 1.5
    tie = _lambda_rows(test, val={0.0: 0.1, 0.3: 0.5, 1.0: 0.5, 1.5: 0.3})
    assert lambda_results.lambda_chosen_on_val(tie) == 0.3  # a tie goes to the smaller λ
    assert helps["rows"] == (1.0, 0.0) and interior["rows"] == (1.0, 0.3, 1.5)


def test_alignment_verdicts_and_table():
    rows = [_row(v, s, iou + 0.01 * s, cam_chimney_mass=mass) for s in range(3)
            for v, iou, mass in (("global_cosine", 0.3, 0.2), ("spatial_cosine", 0.4, 0.1),
                                 ("no_projection_score_maps", 0.1, 0.3))]
    summary = results.summarize(rows)
    verdicts = alignment_results.alignment_verdicts(summary, rows)
    assert verdicts[0].startswith("Global cosine is the best alignment (paper): **contradicted**")
    # projection vs none, paired by seed: +20 points in every seed
    assert verdicts[1].startswith("The feature projection helps (paper)") and (
        "**supported**" in verdicts[1] and "+20.00 points" in verdicts[1])
    assert verdicts[2].startswith("Best mean alignment here: score map · spatial cosine (41.00")
    assert verdicts[-1] == ("CAM mass on chimneys ranges from 10.00 ± 0.00 % (score map · "
                            "spatial cosine) to 30.00 ± 0.00 % (no projection · score map ↔ "
                            "score map).")
    channel = [{**r, "name": "channel_cosine"} for r in rows if r["name"] == "global_cosine"]
    same = results.summarize([*rows, *channel])
    assert any("identical smoke IoU" in v for v in alignment_results.alignment_verdicts(same, rows))
    co = [*_pairs("co_training_cosine", "co_training_l1_raw", [0.1, 0.12, 0.11]),
          *_pairs("co_training_cosine", "co_training_l2_raw", [0.1, 0.12, 0.11])]
    co_claim = alignment_results.alignment_claims(
        [r for r in co if r["name"] != "co_training_cosine"]
        + [r for r in co if r["name"] == "co_training_cosine"][:3])
    assert co_claim[-1]["claim"].startswith("L1 and L2 lose") and co_claim[-1]["verdict"] == (
        "supported")
    # the level claim is tested on the teacher's features, where the levels differ
    levels = [_row(name, seed, iou) for name, ious in (
        ("features_global_cosine", (0.40, 0.40, 0.40)),
        ("features_spatial_cosine", (0.35, 0.34, 0.36)),  # 5, 6, 4 points below: supported
        ("features_channel_cosine", (0.50, 0.38, 0.35)),  # -10, 2, 5: inconclusive
    ) for seed, iou in enumerate(ious)]
    level_claim = next(c for c in alignment_results.alignment_claims(levels)
                       if c["claim"].startswith("Global alignment beats spatial-wise"))
    assert level_claim["rows"] == ("features_global_cosine", "features_spatial_cosine",
                                   "features_channel_cosine")
    assert [p["verdict"] for p in level_claim["parts"]] == ["supported", "inconclusive"]
    assert level_claim["verdict"] == "inconclusive"
    table = results.summary_table(results.summarize(rows[:3]), ["smoke_iou"],
                                  paper=paper.PAPER_ALIGNMENT)
    lines = table.splitlines()
    assert lines[0].startswith("| run | smoke iou (%) | paper smoke IoU (%, real data) |")
    assert "| global_cosine | 30.00 | 47.37 |" in lines
    assert "| no_projection_score_maps | 10.00 | – |" in lines


def test_configs_round_trip_through_json():
    for config in paradigms.paradigm_configs(TINY, 2).values():
        assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# ---------------------------------------------------------------------------------- figures


def test_method_figures_draw_ours_and_label_the_paper():
    rows = [_row(name, s, 0.1 * (i + 1) + 0.01 * s) for s in (0, 1)
            for i, name in enumerate(paradigms.PARADIGM_ROWS)]
    summary = results.summarize(rows)
    fig = plots.plot_metric_bars(summary, ["smoke_iou", "accuracy"],
                                 labels=paradigms.PARADIGM_SHORT, paper=paper.PAPER_PARADIGMS)
    smoke_ax = fig.axes[0]
    assert len(fig.axes) == 2 and len(smoke_ax.patches) == len(paradigms.PARADIGM_ROWS)
    expected = 100 * summary["co_training"]["smoke_iou"]
    assert smoke_ax.patches[-1].get_height() == pytest.approx(expected)
    assert smoke_ax.get_legend().get_texts()[0].get_text() == "paper, real data"

    by_lam = results.summarize([{**_row(str(lam), s, 0.2 + lam / 10), "lam": lam}
                                for lam in (0.0, 0.5, 1.0) for s in (0, 1)], key="lam")
    fig = plots.plot_lambda_curve(by_lam, paper.PAPER_LAMBDA)
    assert "paper, real data" in fig.axes[1].get_title()
    assert fig.axes[0].lines[0].get_ydata()[-1] == pytest.approx(100 * by_lam[1.0]["smoke_iou"])

    fig = plots.plot_alignment({"a": summary["single_cnn"]})
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="non-empty"):
        plots.plot_alignment({})


@pytest.mark.parametrize("profile", ["quick", "full", "tutorial", "paper"])
def test_star_carries_the_recipe_and_no_section_repeats_it(profile):
    from wsss_lib.profiles import SHARED_SECTION, load_profile

    data = load_profile(profile)
    recipe = data[SHARED_SECTION]
    assert recipe, f"{profile}: the recipe lives in '*'"
    for section, settings in data.items():
        if section == SHARED_SECTION:
            continue
        same = sorted(k for k, v in settings.items() if k in recipe and recipe[k] == v)
        assert not same, f"{profile} {section} repeats {same} of '*' with the same value"
