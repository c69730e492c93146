"""scripts/collect_results.py: a report's numbers land in the repository, or a clear error."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "collect_results.py"


def _load():
    spec = importlib.util.spec_from_file_location("collect_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_copies_summary_and_each_notebooks_metrics(tmp_path):
    report = tmp_path / "report"
    (report / "02_x").mkdir(parents=True)
    (report / "03_y").mkdir()
    summary = {"notebooks": [{"name": "02_x"}, {"name": "03_y"}]}
    (report / "summary.json").write_text(json.dumps(summary))
    (report / "02_x" / "metrics.json").write_text('{"a": 1}')
    (report / "02_x" / "02_x.ipynb").write_text("{}")
    (report / "02_x" / "02_x.html").write_text("<html></html>")
    (report / "02_x" / "figure.png").write_bytes(b"png")  # embedded in both: not copied
    (report / "_static" / "mathjax").mkdir(parents=True)
    (report / "_static" / "mathjax" / "tex-svg-full.js").write_text("// mathjax")
    written = _load().collect(report, tmp_path / "out")
    assert {p.relative_to(tmp_path / "out").as_posix() for p in written} == {
        "summary.json", "02_x/metrics.json", "02_x/02_x.ipynb", "02_x/02_x.html",
        "_static/mathjax/tex-svg-full.js",
    }  # 03_y failed: no metrics, nothing copied
    assert json.loads((tmp_path / "out" / "02_x" / "metrics.json").read_text()) == {"a": 1}


def test_a_missing_report_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="make report-full"):
        _load().collect(tmp_path, tmp_path / "out")


def _results_dir(tmp_path: Path) -> Path:
    """A collected-results folder with notebook 01 and 02 documents shaped like the report's."""
    out = tmp_path / "results"
    for name in ("01_co_occurrence_bias", "02_teacher_student"):
        (out / name).mkdir(parents=True)
    summary = {"created": "2026-11-29T15:00:00+00:00", "profile": "full", "status": "ok",
               "total_wall_time_s": 1800.0, "jobs": 2, "kernel_threads": 1,
               "machine": "cpu Xeon, 2 cores visible",
               "notebooks": [{"name": "01_co_occurrence_bias", "wall_time_s": 600.0,
                              "status": "ok"},
                             {"name": "02_teacher_student", "wall_time_s": 2400.0}]}
    (out / "summary.json").write_text(json.dumps(summary))
    bias = {"results": {
        "cnn@0.50": {"level": "0.50/0.50", "accuracy": 91.8, "accuracy_decoupled": 93.04,
                     "smoke_iou": 33.08, "smoke_iou_decoupled": 36.1},
        "vit@0.50": {"level": "0.50/0.50", "accuracy": 71.9, "accuracy_decoupled": 67.2},
        "cnn@0.95": {"level": "0.95/0.05", "chimney_fp_rate": 99.6},
        "supervised": {"model": "resnet_mini", "level": "0.95/0.05", "smoke_iou": 70.2},
        "whole_image_baseline": {"smoke_iou": 10.5, "smoke_iou_decoupled": 13.6}}}
    (out / "01_co_occurrence_bias" / "metrics.json").write_text(json.dumps(bias))
    method = {
        "results": {"single_vit": {"smoke_iou": 4.25, "smoke_iou_std": 1.5, "n_seeds": 3,
                                   "readout_per_seed": ["gradcam > 0.45", "cam > 0.30"]},
                    "ts_cnn_to_vit": {"smoke_iou": 9.0, "smoke_iou_std": 0.5, "n_seeds": 3}},
        "paper": {"ts_cnn_to_vit": {"smoke_iou": 47.37}},
        "claims": [{"claim": "teacher-student beats the single ViT", "verdict": "supported",
                    "mean": 4.75, "low": 1.0, "high": 8.5, "n": 3},
                   {"claim": "cosine is best", "verdict": "contradicted", "n": 3,
                    "parts": [{"claim": "vs L2", "mean": -6.75, "low": -9.94, "high": -3.56}]}],
        "settings": {"train_level": [0.75, 0.25]}}
    (out / "02_teacher_student" / "metrics.json").write_text(json.dumps(method))
    return out


def test_results_block_is_rendered_from_the_files(tmp_path):
    block = _load().render_results(_results_dir(tmp_path))
    # the report's own wall time (two notebooks at a time), the machine, the notebooks' sum
    assert ("the report ran **30.0 min** of wall time with 2 notebook(s) at a time (1 CPU "
            "thread(s) each) on "
            "`cpu Xeon, 2 cores visible`; the notebooks' own times add up to 50.0 min (minutes "
            "per notebook: 01 10.0, 02 40.0;") in block
    # notebook 01: one column per level, sorted, values from the right rows
    assert "| trained at P(chimney\\|smoke) / P(chimney\\|clean) | 0.50/0.50 | 0.95/0.05 |" in block
    assert "| CNN accuracy test / test_decoupled | 91.8 / 93.0 | — / — |" in block
    assert "| CNN chimney FP rate (test) | — | 99.6 |" in block
    assert "resnet_mini` (trained on the masks at 0.95/0.05) 70.2" in block
    # notebook 02: rows in paradigm order, mean ± std, the paper, the level trained at
    assert block.index("single ViT") < block.index("teacher-student CNN→ViT")
    assert "| 9.00 ± 0.50 |" in block and "| 47.37 |" in block
    assert "| `gradcam > 0.45` |" in block  # the read-out chosen on val for seed 0
    assert "= 0.75 / 0.25" in block
    assert ("- teacher-student beats the single ViT: **supported**, +4.75 points "
            "(95 % interval 1.00 to 8.50, n = 3)") in block
    # a claim decided by several paired comparisons prints each of them
    assert ("- cosine is best: **contradicted** — vs L2 -6.75 (-9.94 to -3.56) (points, 95 % "
            "intervals, n = 3)") in block


def test_a_report_that_skipped_notebooks_states_their_summed_times(tmp_path):
    out = _results_dir(tmp_path)
    summary = json.loads((out / "summary.json").read_text())
    summary["notebooks"][1]["status"] = "skipped"  # its numbers come from an earlier run
    (out / "summary.json").write_text(json.dumps(summary))
    block = _load().render_results(out)
    assert "the notebooks' last runs took **50.0 min** together" in block
    assert "wall time" not in block


def test_readme_block_is_replaced_and_the_rest_kept(tmp_path):
    module = _load()
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{module.BEGIN}\nold numbers\n{module.END}\noutro\n")
    module.update_readme(readme, f"{module.BEGIN}\nnew\n{module.END}")
    assert readme.read_text() == f"intro\n{module.BEGIN}\nnew\n{module.END}\noutro\n"


def test_readme_without_markers_names_the_fix(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no block here\n")
    with pytest.raises(ValueError, match="add the two lines"):
        _load().update_readme(readme, "x")
    assert readme.read_text() == "no block here\n"


def test_results_block_opens_with_the_paper_claims_and_shows_notebook_09(tmp_path):
    out = _results_dir(tmp_path)
    (out / "09_shortcut_claims").mkdir()
    summary = json.loads((out / "summary.json").read_text())
    summary["notebooks"].append({"name": "09_shortcut_claims", "wall_time_s": 60.0})
    (out / "summary.json").write_text(json.dumps(summary))
    shortcut = {
        "results": {"single_vit@0.75": {"smoke_iou": 30.0, "smoke_iou_std": 2.0, "n_seeds": 5,
                                        "boundary_f": 40.0, "boundary_f_std": 1.0},
                    "level_check": {"0.75/0.25": {"accuracy_val_decoupled": 84.4}}},
        "claims": [{"claim": "The student suppresses spurious activations — trained at "
                             "0.75/0.25", "id": "suppress_fp@0.75", "regime":
                    "trained at 0.75/0.25", "mean": -5.0, "low": -8.0, "high": -2.0, "n": 5,
                    "verdict": "supported"}]}
    (out / "09_shortcut_claims" / "metrics.json").write_text(json.dumps(shortcut))
    block = _load().render_results(out)
    table = block.index("**The paper's claims, one table**")
    assert table < block.index("Notebook 02")  # findings first
    assert ("| The student suppresses spurious activations (chimney false positives) | trained "
            "at 0.75/0.25 | 5 | -5.00 [-8.00, -2.00] | **supported** | 09 |") in block
    assert "| single vit @ 0.75 | — | — | — | — | 30.00 ± 2.00 | 40.00 ± 1.00 |" in block
    assert "0.75/0.25: 84.4 %" in block


def test_results_block_shows_the_second_stage_beside_its_baselines(tmp_path):
    out = _results_dir(tmp_path)
    (out / "10_second_stage").mkdir()
    summary = json.loads((out / "summary.json").read_text())
    summary["notebooks"].append({"name": "10_second_stage", "wall_time_s": 60.0})
    (out / "summary.json").write_text(json.dumps(summary))
    second = {"results": {
        "whole_image": {"smoke_iou": 10.5, "n_seeds": 3},
        "pseudo_masks": {"smoke_iou": 46.0, "smoke_iou_std": 0.5, "n_seeds": 3,
                         "pipeline": "ts_vit_to_cnn"},
        "stage2": {"smoke_iou": 48.0, "smoke_iou_std": 1.0, "n_seeds": 3},
        "supervised": {"smoke_iou": 69.0, "smoke_iou_std": 1.5, "n_seeds": 3},
        "supervised_k16": {"smoke_iou": 28.0, "smoke_iou_std": 9.0, "n_seeds": 3},
        "supervised_k128": {"smoke_iou": 50.0, "smoke_iou_std": 4.0, "n_seeds": 3},
        "derived": {"percent_of_supervised": 69.6, "percent_of_supervised_low": 63.0,
                    "percent_of_supervised_high": 76.0, "masks_worth": 97.2,
                    "masks_worth_decoupled": 223.7}},
        "claims": []}
    (out / "10_second_stage" / "metrics.json").write_text(json.dumps(second))
    block = _load().render_results(out)
    assert "pseudo-masks of `ts_vit_to_cnn`" in block
    assert "| **stage 2** (segmenter on them) | 48.00 ± 1.00 |" in block
    assert "| whole image = smoke | 10.50 |" in block
    assert "k = 16: 28.00 ± 9.00; k = 128: 50.00 ± 4.00" in block  # sorted by k
    assert "69.6 % of the supervised segmenter on `test` (95 % interval 63.0 to 76.0)" in block
    assert "worth about 97 true masks" in block
