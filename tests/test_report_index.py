"""The report's ``index.html`` as a reader sees it, built from hand-made summaries (no notebook
runs): findings first, readable verdicts, captioned figures linked to full size, the quick-profile
banner, one-seed claims, the networks table; and the notebooks' HTML with a local MathJax."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest

from wsss_lib.report.findings import (
    FullResults,
    claim_badge,
    figure_caption,
    full_results_links,
    notebook_title,
)
from wsss_lib.report.html import build_index_html, render_notebook_html, write_index_html
from wsss_lib.report.markup import markdown_inline, readable_mappings
from wsss_lib.report.mathjax import MATHJAX_FILE, mathjax_source

CLAIMS_3_SEEDS = [
    {"claim": "Teacher-student beats the single ViT (paper: 47.37 vs 13.18)", "mean": 8.23,
     "low": -1.78, "high": 18.24, "n": 3, "verdict": "inconclusive"},
    {"claim": "The student beats its teacher", "mean": -8.63, "low": -16.97, "high": -0.28,
     "n": 3, "verdict": "contradicted"},
]
NOTES = [
    "Teacher-student beats the single ViT (paper: 47.37 vs 13.18): **inconclusive** — "
    "difference in smoke IoU +8.23 points (95 % interval -1.78 to +18.24, paired t, n = 3).",
    "AffinityNet: pairs {'fg_fg': 609912, 'bg_bg': 248058}, settings {'radius': 5, "
    "'backbone': None}; read with `load_split`.",
]
NETWORKS = [
    {"run": "single-resnet_mini-3f2a9c", "paradigm": "single", "model": "resnet_mini",
     "origin": "trained", "shipped_commit": None, "val_acc": 0.875},
    {"run": "single-vit_mini-77aa01", "paradigm": "single", "model": "vit_mini",
     "origin": "cache", "shipped_commit": None, "val_acc": None},
    {"run": "ts-vit_mini-0b1c2d", "paradigm": "teacher_student", "model": "vit_mini",
     "origin": "shipped", "shipped_commit": "abc1234", "val_acc": 0.9},
]


def notebook(name: str = "02_teacher_student", **metrics: Any) -> dict[str, Any]:
    """A summary entry of one finished notebook, as :class:`NotebookResult` writes it."""
    return {
        "name": name,
        "status": "ok",
        "wall_time_s": 12.5,
        "html": f"{name}/{name}.html",
        "executed_notebook": f"{name}/{name}.ipynb",
        "metrics_file": f"{name}/metrics.json",
        "figures": [f"{name}/cam_gallery.png", f"{name}/paradigms.png"],
        "cell_timings": {"slowest": [{"cell": 3, "duration_s": 4.0, "source": "x"}]},
        "metrics": {"notebook": name, "results": {"single_vit": {"smoke_iou": 13.2}},
                    "paper": {}, **metrics},
    }


def summary(*notebooks: dict[str, Any], profile: str = "full") -> dict[str, Any]:
    return {
        "profile": profile,
        "created": "2026-01-01T00:00:00+00:00",
        "total_wall_time_s": 25.0,
        "counts": {"ok": len(notebooks), "failed": 0, "skipped": 0},
        "notebooks": list(notebooks),
    }


class _Links(HTMLParser):
    """Every ``<img>`` with the ``href`` of the ``<a>`` it sits in (None: not in a link)."""

    def __init__(self) -> None:
        super().__init__()
        self.open_links: list[str | None] = []
        self.images: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.open_links.append(dict(attrs).get("href"))
        elif tag == "img":
            href = self.open_links[-1] if self.open_links else None
            self.images.append((dict(attrs).get("src") or "", href))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.open_links:
            self.open_links.pop()


@pytest.fixture
def page() -> str:
    return build_index_html(summary(
        notebook(claims=CLAIMS_3_SEEDS, notes=NOTES, networks=NETWORKS),
        notebook("05_cam_fusion", claims=[]) | {
            "figures": ["05_cam_fusion/fusion_variants.png", "05_cam_fusion/layer_gallery_weak.png"]
        },
    ))


def test_findings_come_first_then_the_guide_then_run_status_and_metrics(page: str) -> None:
    order = [page.index(marker) for marker in (
        '<h2>Findings</h2>', "<h2>What to look at next</h2>", '<h2 id="status">',
        '<h2 id="results">', "All metrics of every notebook", '<h2 id="notebooks">',
    )]
    assert order == sorted(order)
    findings = page[order[0]:order[1]]
    assert "Teacher-student beats the single ViT (paper: 47.37 vs 13.18)" in findings
    assert '<span class="badge inconclusive">inconclusive</span>' in findings
    assert '<span class="badge contradicted">contradicted</span>' in findings
    assert "+8.23 [−1.78, +18.24]" in findings and "n = 3" in findings
    assert "smoke IoU, points" in findings  # the measure, read from the claim's note
    assert 'href="02_teacher_student/02_teacher_student.html">02 · Teacher-student</a>' in findings
    assert 'href="02_teacher_student/paradigms.png"' in findings  # the figure of 02's claims


def test_no_markdown_markup_and_no_python_dicts_on_the_page(page: str) -> None:
    assert "**" not in page
    assert "<strong>inconclusive</strong>" in page
    assert "<code>load_split</code>" in page
    assert "pairs (fg_fg: 609912, bg_bg: 248058)" in page
    assert "backbone: none" in page
    assert "{'" not in page and "{&#x27;" not in page


def test_every_image_is_a_link_to_its_full_size_png_with_a_caption(page: str) -> None:
    parser = _Links()
    parser.feed(page)
    assert len(parser.images) == 5  # 02's claims share one thumbnail; 4 in the galleries
    for src, href in parser.images:
        assert href == src and src.endswith(".png"), (src, href)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert len(captions) == len(parser.images)
    assert any("Layer gallery weak" in c for c in captions)  # readable fallback
    assert any(c.startswith("CAMs of the five paradigms") for c in captions)  # known name


def test_quick_profile_opens_with_a_banner_other_profiles_do_not() -> None:
    quick = build_index_html(summary(notebook(claims=[]), profile="quick"))
    full = build_index_html(summary(notebook(claims=[]), profile="full"))
    assert 'class="banner"' in quick and "Quick profile" in quick
    assert quick.index('class="banner"') < quick.index("<h2>Findings</h2>")
    assert "make report" in quick and "docs/results/full" in quick
    assert 'class="banner"' not in full and "Quick profile" not in full


def test_a_one_seed_claim_is_labelled_and_points_to_the_full_run() -> None:
    one_seed = {"claim": "The student beats its teacher", "mean": 5.4, "low": None,
                "high": None, "n": 1, "verdict": "inconclusive"}
    full = FullResults(folder="../../docs/results/full", pages={
        "02_teacher_student": "../../docs/results/full/02_teacher_student/02_teacher_student.html"
    })
    page = build_index_html(summary(notebook(claims=[one_seed])), full)
    findings = page[page.index("<h2>Findings</h2>"):page.index("<h2>What to look at next</h2>")]
    assert '<span class="badge oneseed">one seed — not a paired verdict</span>' in findings
    assert "+5.40 (one seed: no interval)" in findings and "n = 1" in findings
    assert ('href="../../docs/results/full/02_teacher_student/02_teacher_student.html"'
            in findings)
    assert 'href="../../docs/results/full"' in findings
    assert "badge inconclusive\">inconclusive</span></td>" not in findings
    # Without the repository's folder the page names the file in plain text.
    plain = build_index_html(summary(notebook(claims=[one_seed])))
    assert "<code>docs/results/full/02_teacher_student/02_teacher_student.html</code>" in plain


def test_claim_badges() -> None:
    assert claim_badge({"verdict": "supported", "n": 128})[:2] == ("supported", "supported")
    assert claim_badge({"verdict": "inconclusive", "n": 1})[0] == "oneseed"
    assert claim_badge({"verdict": "skipped: no CLIP weights"}) == (
        "skipped", "not tested", "no CLIP weights"
    )
    assert claim_badge({"verdict": "inconclusive", "n": 0})[2] == "no paired seeds"


def test_claims_with_parts_show_each_comparison() -> None:
    claim = {"claim": "λ has an interior optimum", "n": 3, "verdict": "contradicted", "parts": [
        {"claim": "vs λ = 0.3", "mean": 0.55, "low": -16.4, "high": 17.49, "n": 3,
         "verdict": "inconclusive"},
        {"claim": "vs λ = 10", "mean": -6.75, "low": -9.94, "high": -3.56, "n": 3,
         "verdict": "contradicted"},
    ]}
    nb = notebook("03_lambda_sensitivity", claims=[claim]) | {
        "figures": ["03_lambda_sensitivity/lambda_curve.png"]
    }
    page = build_index_html(summary(nb))
    assert "vs λ = 0.3: +0.55 [−16.40, +17.49]" in page
    assert "vs λ = 10: −6.75 [−9.94, −3.56]" in page
    assert '<span class="badge contradicted small">contradicted</span>' in page
    assert 'href="03_lambda_sensitivity/lambda_curve.png"' in page


def test_networks_table_says_where_each_network_came_from(page: str) -> None:
    assert "<h4>Networks</h4>" in page
    assert "<code>single-resnet_mini-3f2a9c</code>" in page
    assert "trained in this run" in page
    assert "loaded from the cache (trained earlier)" in page
    assert "loaded from the kit's shipped checkpoint (commit <code>abc1234</code>)" in page
    assert ">87.5 %<" in page and ">90.0 %<" in page
    without = build_index_html(summary(notebook(claims=[])))
    assert "<h4>Networks</h4>" not in without


def test_guide_has_one_line_per_notebook_linked_to_its_html(page: str) -> None:
    guide = page[page.index("<h2>What to look at next</h2>"):page.index('<h2 id="status">')]
    assert guide.count("<li>") == 2
    assert 'href="05_cam_fusion/05_cam_fusion.html">05 · CAM fusion</a> — which layers' in guide


def test_markdown_inline_escapes_before_formatting() -> None:
    assert markdown_inline("<b>x</b> **y** `a<b`") == (
        "&lt;b&gt;x&lt;/b&gt; <strong>y</strong> <code>a&lt;b</code>"
    )
    assert markdown_inline("unpaired ** star") == "unpaired  star"
    assert markdown_inline("*_std stays") == "*_std stays"
    assert readable_mappings("p {'a': {'b': nan}, 'c': [1, 2.5]} {not a dict}") == (
        "p (a: (b: nan), c: [1, 2.5]) {not a dict}"
    )


def test_figure_captions_and_titles() -> None:
    assert figure_caption("01_co_occurrence_bias/bias_sweep.png").startswith("The co-occurrence")
    assert figure_caption("01_co_occurrence_bias/cam_gallery.png") != figure_caption(
        "02_teacher_student/cam_gallery.png"
    )
    assert figure_caption("09_new/layer_gallery_weak.png") == "Layer gallery weak"
    assert notebook_title("02_teacher_student") == "02 · Teacher-student"
    assert notebook_title("11_my_study") == "11 · My study"


def test_write_index_links_the_repositorys_full_results_relatively(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    folder = repo / "docs" / "results" / "full"
    (folder / "02_teacher_student").mkdir(parents=True)
    (folder / "02_teacher_student" / "metrics.json").write_text("{}")
    (folder / "03_lambda_sensitivity").mkdir()
    (folder / "03_lambda_sensitivity" / "03_lambda_sensitivity.html").write_text("<html>")
    out = repo / "reports" / "quick"
    out.mkdir(parents=True)
    links = full_results_links(out, roots=[tmp_path / "elsewhere"])
    assert links.folder == "../../docs/results/full"
    assert links.pages == {
        "02_teacher_student": "../../docs/results/full/02_teacher_student/metrics.json",
        "03_lambda_sensitivity":
            "../../docs/results/full/03_lambda_sensitivity/03_lambda_sensitivity.html",
    }
    one_seed = {"claim": "x", "mean": 1.0, "n": 1, "verdict": "inconclusive"}
    index = write_index_html(summary(notebook(claims=[one_seed]), profile="quick"), out)
    page = index.read_text(encoding="utf-8")
    assert 'href="../../docs/results/full/02_teacher_student/metrics.json"' in page
    lonely = tmp_path / "lonely" / "report"
    lonely.mkdir(parents=True)
    assert full_results_links(lonely, roots=[tmp_path / "elsewhere"]) == FullResults()


@pytest.mark.skipif(mathjax_source() is None, reason="django-static-mathjax is not installed")
def test_notebook_html_loads_mathjax_from_the_report_not_a_cdn(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(r"Inline $a^2$ and $$\text{logit} = w^\top f$$")]
    report = tmp_path / "report"
    path = render_notebook_html(nb, report / "01_x" / "01_x.html")
    text = path.read_text(encoding="utf-8")
    script = report / "_static" / "mathjax" / MATHJAX_FILE
    assert script.is_file() and script.stat().st_size > 1_000_000
    assert f'src="../_static/mathjax/{MATHJAX_FILE}"' in text
    sources = re.findall(r'<script[^>]*src="([^"]+)"', text)
    assert not [s for s in sources if "mathjax" in s.lower() and "://" in s]
    assert "inlineMath: [['$', '$']" in text  # MathJax 3 reads Jupyter's delimiters
    assert r"$$\text{logit} = w^\top f$$" in text
    before = script.stat().st_mtime_ns
    render_notebook_html(nb, report / "02_y" / "02_y.html")  # a second notebook: no new copy
    assert script.stat().st_mtime_ns == before
    assert not list(script.parent.glob("*.tmp"))
