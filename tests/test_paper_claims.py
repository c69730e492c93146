"""The paper's claims gathered into one table (wsss_lib.results.paper_claims) and rendered in the
report's index, on documents made here."""

from __future__ import annotations

import pytest

from wsss_lib.report.html import build_index_html
from wsss_lib.results.paper_claims import (
    PAPER_CLAIMS,
    paper_claims_markdown,
    paper_claims_table,
)


def _claim(text, mean, low, high, n=5, verdict="supported", **extra):
    return {"claim": text, "mean": mean, "low": low, "high": high, "n": n, "verdict": verdict,
            **extra}


def _documents():
    shortcut = {"claims": [
        _claim("The student suppresses spurious activations — trained at 0.75/0.25", -6.0, -9.0,
               -3.0, id="suppress_fp@0.75", regime="trained at 0.75/0.25"),
        _claim("The student suppresses spurious activations — trained at 0.65/0.35", -1.0, -4.0,
               2.0, verdict="inconclusive", id="suppress_fp@0.65", regime="trained at 0.65/0.35"),
    ], "results": {}, "notes": []}
    alignment = {"settings": {"train_level": [0.5, 0.5]}, "results": {}, "notes": [], "claims": [
        {"claim": "Global cosine is the best alignment (paper)", "verdict": "contradicted",
         "n": 3, "parts": [_claim("vs L1", 1.0, -2.0, 4.0, n=3, verdict="inconclusive"),
                           _claim("vs L2", -6.0, -9.0, -3.0, n=3, verdict="contradicted")]},
    ]}
    fusion = {"claims": [], "results": {"weak seed / fused (mean)": {"gain": 12.0, "ci95": 2.0},
                                        "strong seed / fused (mean)": {"gain": -1.0, "ci95": 1.0}},
              "notes": ["The paper's finding (fusion helps a poor seed a lot, +9.5 points, and "
                        "slightly hurts a good one, -1.0 point, on real data) HOLDS here."]}
    return {"09_shortcut_claims": shortcut, "04_alignment_variants": alignment,
            "05_cam_fusion": fusion}


def test_table_follows_the_papers_order_with_regimes_and_parts():
    rows = paper_claims_table(_documents())
    assert [r["key"] for r in rows][:2] == ["suppress_fp", "suppress_fp"]
    assert [r["regime"] for r in rows[:2]] == ["trained at 0.75/0.25", "trained at 0.65/0.35"]
    assert rows[0]["comparison"] == "The student suppresses spurious activations"
    assert (rows[0]["mean"], rows[0]["low"], rows[0]["high"], rows[0]["n"]) == (-6, -9, -3, 5)
    best = [r for r in rows if r["key"] == "global_best"]
    assert [r["part"] for r in best] == [False, True, True]
    assert [r["verdict"] for r in best] == ["contradicted", "inconclusive", "contradicted"]
    assert {r["regime"] for r in best} == {"trained at 0.50/0.50"}  # from the settings
    fusion = next(r for r in rows if r["key"] == "fusion_weak")
    assert fusion["mean"] == pytest.approx(13.0) and fusion["verdict"] == "supported"
    # every claim of the paper has a row: missing notebooks say "not run", and a notebook that
    # ran without the rows a claim needs says "not tested"
    assert [r["key"] for r in rows if not r["part"]] == [
        c.key for c in PAPER_CLAIMS for _ in range(2 if c.key == "suppress_fp" else 1)]
    assert next(r for r in rows if r["key"] == "crf")["verdict"] == "not run"
    assert next(r for r in rows if r["key"] == "projection")["verdict"] == "not tested"


@pytest.mark.parametrize(("said", "verdict"), [
    ("HOLDS here", "supported"),
    ("holds in part here: fusion helps the weaker seed more, but", "inconclusive"),
    ("does NOT clearly hold here: fusion favours the weaker seed", "inconclusive"),
    ("does NOT hold here: fusion does not help the weaker seed more", "contradicted"),
    ("cannot be tested here: the two seeds are not a poor and a good one", "not tested"),
])
def test_fusion_verdict_is_read_from_the_notebooks_sentence(said, verdict):
    docs = _documents()
    docs["05_cam_fusion"]["notes"] = [f"The paper's finding (fusion helps a poor seed a lot, +9.5 "
                                      f"points, ...) {said}."]
    row = next(r for r in paper_claims_table(docs) if r["key"] == "fusion_weak")
    assert row["verdict"] == verdict


def test_markdown_marks_decided_verdicts_and_repeats_no_claim_name():
    lines = paper_claims_markdown(paper_claims_table(_documents()))
    assert lines[2].startswith("| The student suppresses spurious activations (chimney false "
                               "positives) | trained at 0.75/0.25 | 5 | -6.00 [-9.00, -3.00] | "
                               "**supported** |")
    assert lines[3].startswith("| *(same claim)* | trained at 0.65/0.35 | 5 | -1.00 [-4.00, "
                               "+2.00] | inconclusive |")
    assert any(line.startswith("| ↳ vs L2 |") for line in lines)


def test_report_index_opens_with_the_paper_claims_table():
    notebooks = [{"name": name, "status": "ok", "wall_time_s": 1.0, "metrics": doc,
                  "figures": []} for name, doc in _documents().items()]
    page = build_index_html({"profile": "full", "notebooks": notebooks})
    assert page.index('id="paper-claims"') < page.index('id="findings"')
    section = page[page.index('id="paper-claims"'):page.index('id="findings"')]
    assert "trained at 0.65/0.35" in section and "−6.00 [−9.00, −3.00]" in section
    assert 'class="badge supported small"' in section and "not run" not in section
    empty = build_index_html({"profile": "quick", "notebooks": [
        {"name": "01_co_occurrence_bias", "status": "ok", "wall_time_s": 1.0,
         "metrics": {"claims": []}, "figures": []}]})
    assert 'id="paper-claims"' not in empty


def test_a_claim_falls_back_to_notebook_02_when_09_did_not_run():
    docs = {"02_teacher_student": {"claims": [
        _claim("Teacher-student (CNN→ViT) beats the single ViT (paper: 47.37 vs 13.18)", 12.9,
               None, None, n=1, verdict="inconclusive")], "settings": {"train_level": [0.5, 0.5]}}}
    row = next(r for r in paper_claims_table(docs) if r["key"] == "beats_vit")
    assert (row["notebook"], row["n"], row["mean"]) == ("02_teacher_student", 1, 12.9)
    assert row["regime"] == "trained at 0.50/0.50"
    with_09 = {**_documents(), **docs}
    rows = [r for r in paper_claims_table(with_09) if r["key"] == "beats_vit"]
    assert rows[0]["verdict"] == "not tested" and rows[0]["notebook"] == "09_shortcut_claims"
