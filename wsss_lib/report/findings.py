"""The reader-facing parts of the report's ``index.html``: findings, guide, networks, figures.

Everything here turns what ``summary.json`` records into HTML fragments for
:func:`wsss_lib.report.html.build_index_html`:

- :func:`findings_html`: every claim of the paper the notebooks test (``metrics.json``'s
  ``claims``), one table row each: the claim in words, our verdict as a badge, the paired
  difference with its 95 % interval and n, the notebook and the figure that shows it;
- :func:`guide_html`: one line per notebook, what it teaches, linked to its HTML;
- :func:`networks_html`: where each network of a notebook came from (``metrics.json``'s
  optional ``networks``);
- :func:`figure_html` with :func:`figure_caption`: a figure as a captioned link to its PNG.

Text the notebooks wrote goes through :func:`wsss_lib.report.markup.markdown_inline` (escaped,
then ``**bold**`` and ```code```); nothing a notebook writes is trusted as HTML.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from wsss_lib.report.markup import escape_html as _esc
from wsss_lib.report.markup import markdown_inline

__all__ = [
    "CLAIM_FIGURES",
    "FIGURE_CAPTIONS",
    "FULL_RESULTS_DIR",
    "NOTEBOOK_GUIDE",
    "FullResults",
    "claim_badge",
    "figure_caption",
    "figure_html",
    "findings_html",
    "full_results_links",
    "guide_html",
    "networks_html",
    "notebook_title",
]

#: Where the repository keeps the committed results of the full profile.
FULL_RESULTS_DIR = PurePosixPath("docs", "results", "full")

#: What each figure shows, by file stem; ``"<notebook>/<stem>"`` for a name two notebooks share.
FIGURE_CAPTIONS: dict[str, str] = {
    "train_examples": "Training images at 0.95 / 0.05: smoke comes with chimneys (smoke outlined "
                      "cyan, chimneys orange)",
    "test_decoupled_examples": "test_decoupled images: smoke without chimneys, chimneys without "
                               "smoke",
    "01_co_occurrence_bias/cam_gallery": "CAMs of the CNN and the ViT trained at 0.95 / 0.05 "
                                         "co-occurrence, on test and test_decoupled images",
    "cam_gallery_extremes": "CAMs of models trained at the weakest and the strongest "
                            "co-occurrence of the sweep",
    "bias_sweep": "The co-occurrence sweep: smoke IoU, chimney FP rate, CAM mass on chimneys and "
                  "accuracy against co-occurrence (CNN blue, ViT red; test solid, test_decoupled "
                  "dashed)",
    "threshold_sweep": "Smoke IoU on test against the CAM threshold, with the per-image oracle "
                       "(models at 0.95 / 0.05)",
    "02_teacher_student/paradigms": "The five paradigms side by side: smoke IoU and the chimney "
                                    "measures (black diamonds: the paper, real data)",
    "02_teacher_student/cam_gallery": "CAMs of the five paradigms on the same images",
    "cam_gallery": "CAM gallery",
    "lambda_curve": "Smoke IoU against λ (ours, and the paper's curve on its own axis) and the "
                    "chimney shortcut against λ",
    "alignment_variants": "Smoke IoU and the chimney measures per alignment variant",
    "fusion_variants": "Smoke IoU per CAM variant (last layer, fused layers, multi-scale) and seed",
    "layer_gallery_single": "Grad-CAM of each ViT layer, fused and multi-scale: the single ViT",
    "layer_gallery_teacher_student": "Grad-CAM of each ViT layer, fused and multi-scale: the "
                                     "teacher-student ViT",
    "pipelines": "Post-processing pipelines: smoke IoU (left) and false positives per region "
                 "(right)",
    "bleed_overlays": "Where each pipeline's smoke label lands (cyan: smoke found; red, magenta, "
                      "orange: sky, clouds, chimney marked as smoke)",
    "explorer_view": "CAM explorer: one image, each model's CAM, pseudo-mask and numbers",
    "explorer_clean_chimney": "CAM explorer on a clean image with a chimney: every activation is "
                              "a false positive",
    "shortcut_levels": "The chimney shortcut across training levels: decoupled accuracy, "
                       "chimney FP rate, CAM mass on chimneys, decoupled smoke IoU and boundary "
                       "F-score of each row",
    "09_shortcut_claims/claims": "Every claim of notebook 09 as a paired difference with its 95 % "
                                 "interval, coloured by verdict",
    "09_shortcut_claims/cam_gallery": "CAMs of the networks trained at the most coupled level, "
                                      "on the same images",
    "label_efficiency": "Smoke IoU of a segmenter trained on k true masks against k, with the "
                        "stage-2 segmenter (all image labels) and the fully supervised one",
    "mask_gallery": "Pseudo-masks, the stage-2 segmenter and the supervised one on the same "
                    "test images",
    "coco_letterbox": "An image of the COCO export, as exported and as loaded (letterboxed)",
    "cams": "CAMs of a trained network on a folder of your own images",
    "pseudo_masks": "A pseudo-mask written to disk, beside the image's ground truth",
}

#: The figure that shows a notebook's claims (file name), where the notebook saved it.
CLAIM_FIGURES: dict[str, str] = {
    "01_co_occurrence_bias": "bias_sweep.png",
    "02_teacher_student": "paradigms.png",
    "03_lambda_sensitivity": "lambda_curve.png",
    "04_alignment_variants": "alignment_variants.png",
    "05_cam_fusion": "fusion_variants.png",
    "06_postprocessing_failures": "pipelines.png",
    "09_shortcut_claims": "claims.png",
    "10_second_stage": "label_efficiency.png",
}

#: Per notebook number: its short title and what it teaches.
NOTEBOOK_GUIDE: dict[str, tuple[str, str]] = {
    "01": ("Co-occurrence bias",
           "how a smoke classifier learns to see chimneys when smoke comes with them, in its "
           "accuracy and in its CAMs; start here"),
    "02": ("Teacher-student",
           "whether a CNN teacher helps a ViT student find the smoke, against single networks "
           "and co-training"),
    "03": ("λ sensitivity",
           "how much the student should follow its teacher: the weight λ of the "
           "knowledge-transfer loss"),
    "04": ("Alignment variants",
           "what exactly the student should align with its teacher: levels, distances, "
           "projection and target"),
    "05": ("CAM fusion",
           "which layers a ViT's CAM should come from: layer fusion and multi-scale inference"),
    "06": ("Post-processing",
           "refining pseudo-masks (CRF, AffinityNet, …): what helps, what hurts, and where the "
           "smoke label bleeds"),
    "07": ("CAM explorer",
           "one image at a time: every model's CAM and pseudo-mask, and the chimney shortcut "
           "made visible"),
    "08": ("Your own data",
           "from a folder of images or a COCO export to pseudo-masks on disk"),
    "09": ("Where the shortcut lives",
           "whether the teacher-student suppresses the chimney shortcut where one exists: "
           "coupled training levels, five paired seeds, a boundary F-score"),
    "10": ("Second stage",
           "what the pseudo-masks are for: a segmenter trained on them against one trained on "
           "true masks, and how many pixel masks weak supervision is worth"),
}

_VERDICTS = ("supported", "contradicted", "inconclusive")
_MEASURE = re.compile(r"differences? in ([^,()]+?)(?=,| [+\-−]?\d| points)")
_ONE_SEED = "one seed — not a paired verdict"


def _href(path: str) -> str:
    return _esc(quote(path, safe="/#:._-~"))


def _humanize(stem: str) -> str:
    words = stem.replace("_", " ").replace("-", " ").split()
    return (" ".join(words)).capitalize() if words else stem


def notebook_title(name: str) -> str:
    """``"02_teacher_student"`` -> ``"02 · Teacher-student"`` (:data:`NOTEBOOK_GUIDE`, else the
    name in words)."""
    number, _, rest = name.partition("_")
    if number in NOTEBOOK_GUIDE:
        return f"{number} · {NOTEBOOK_GUIDE[number][0]}"
    if number.isdigit() and rest:
        return f"{number} · {_humanize(rest)}"
    return _humanize(name)


def figure_caption(path: str) -> str:
    """What a figure shows, from its path ``<notebook>/<stem>.png``: :data:`FIGURE_CAPTIONS`
    (notebook-qualified first), else the file name in words (``layer_gallery_weak`` ->
    ``Layer gallery weak``)."""
    pure = PurePosixPath(path)
    qualified = f"{pure.parent.name}/{pure.stem}"
    return FIGURE_CAPTIONS.get(qualified) or FIGURE_CAPTIONS.get(pure.stem) or _humanize(pure.stem)


def figure_html(path: str, caption: str | None = None, css_class: str = "figure") -> str:
    """A ``<figure>``: the image inside a link to the full-size PNG, with a caption.

    Args:
        path: the PNG, relative to the report folder.
        caption: what it shows; default :func:`figure_caption`.
        css_class: ``"figure"`` (full width, in a notebook's section) or ``"thumb"`` (small).
    """
    caption = caption or figure_caption(path)
    name = PurePosixPath(path).name
    return (
        f'<figure class="{_esc(css_class)}"><a href="{_href(path)}" title="open full size">'
        f'<img src="{_href(path)}" alt="{_esc(name)}" loading="lazy"></a>'
        f'<figcaption>{_esc(caption)} <span class="file">({_esc(name)})</span></figcaption>'
        "</figure>"
    )


@dataclass(frozen=True)
class FullResults:
    """Links from a report to the committed results of the full profile.

    Attributes:
        folder: href of ``docs/results/full`` relative to the report folder, or None when the
            report cannot reach it (then the page names the path in plain text).
        pages: notebook stem -> href of its committed page (``<stem>.html`` when committed, else
            its ``metrics.json``).
    """

    folder: str | None = None
    pages: Mapping[str, str] = field(default_factory=dict)

    def page_html(self, name: str) -> str:
        """A link to notebook ``name``'s full-profile results, or its path as text."""
        href = self.pages.get(name)
        if href:
            return f'<a href="{_href(href)}">full run of {_esc(name)}</a>'
        return f"<code>{_esc(FULL_RESULTS_DIR / name / f'{name}.html')}</code>"

    def folder_html(self) -> str:
        """A link to ``docs/results/full``, or its path as text."""
        if self.folder:
            return f'<a href="{_href(self.folder)}"><code>{FULL_RESULTS_DIR}</code></a>'
        return f"<code>{FULL_RESULTS_DIR}</code> in the wsss-lab repository"


def _repository_root() -> Path:
    return Path(__file__).resolve().parents[2]


def full_results_links(report_dir: str | Path, roots: Sequence[Path] | None = None) -> FullResults:
    """Find ``docs/results/full`` for a report folder and link it relatively.

    Looked for in the report folder's parents (a report under ``reports/`` of a clone), then in
    ``roots`` (default: the clone ``wsss_lib`` is imported from, if it is one).

    Returns:
        A :class:`FullResults`; its ``folder`` is None when no such folder exists.
    """
    report = Path(report_dir).resolve()
    candidates = [parent / FULL_RESULTS_DIR for parent in (report, *report.parents)]
    candidates += [Path(root) / FULL_RESULTS_DIR for root in (roots or [_repository_root()])]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        return FullResults()

    def relative(path: Path) -> str:
        return Path(os.path.relpath(path, report)).as_posix()

    pages: dict[str, str] = {}
    try:
        folder_href = relative(folder)
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            for candidate in (sub / f"{sub.name}.html", sub / "metrics.json"):
                if candidate.is_file():
                    pages[sub.name] = relative(candidate)
                    break
    except ValueError:  # another drive (Windows): no relative path exists
        return FullResults()
    return FullResults(folder=folder_href, pages=pages)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def claim_badge(claim: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(css class, badge text, detail)`` for a claim's verdict.

    A claim measured on one seed (``n == 1``) gets ``"one seed — not a paired verdict"``: one
    difference has no interval. ``"skipped: reason"`` becomes *not tested* with the reason.
    """
    verdict = str(claim.get("verdict", "")).strip()
    head, _, rest = verdict.partition(":")
    head = head.strip().lower()
    if claim.get("n") == 1:
        return "oneseed", _ONE_SEED, ""
    if head in _VERDICTS:
        detail = "no paired seeds" if claim.get("n") == 0 else rest.strip()
        return head, head, detail
    if head == "skipped":
        return "skipped", "not tested", rest.strip()
    return "other", verdict or "—", ""


def _badge_html(claim: Mapping[str, Any], small: bool = False) -> str:
    css, text, detail = claim_badge(claim)
    size = " small" if small else ""
    badge = f'<span class="badge {css}{size}">{_esc(text)}</span>'
    return badge + (f' <span class="detail">{markdown_inline(detail)}</span>' if detail else "")


def _difference_text(claim: Mapping[str, Any]) -> str:
    mean, low, high = (_number(claim.get(k)) for k in ("mean", "low", "high"))
    if mean is None:
        return "—"
    text = _signed(mean)
    if low is not None and high is not None:
        text += f" [{_signed(low)}, {_signed(high)}]"
    elif claim.get("n") == 1:
        text += " (one seed: no interval)"
    return text


def _n_text(claim: Mapping[str, Any]) -> str:
    n = claim.get("n")
    return f"n = {n}" if isinstance(n, int) and not isinstance(n, bool) else ""


def _claim_measure(claim_text: str, notes: Sequence[Any]) -> str:
    """The measure a claim compares ("smoke IoU"), read from the note that states the claim."""
    for note in notes:
        if isinstance(note, str) and note.startswith(claim_text):
            found = _MEASURE.search(note[len(claim_text):])
            if found:
                return found.group(1).strip()
    return ""


def _claim_figure(name: str, claim: Mapping[str, Any], figures: Sequence[str]) -> str | None:
    wanted = [claim.get("figure"), CLAIM_FIGURES.get(name)]
    for want in wanted:
        if isinstance(want, str):
            for figure in figures:
                if PurePosixPath(figure).name == PurePosixPath(want).name:
                    return figure
    return figures[0] if figures else None


def _notebook_link(nb: Mapping[str, Any]) -> str:
    title = notebook_title(str(nb["name"]))
    target = nb.get("html") or f"#{nb['name']}"
    return f'<a href="{_href(str(target))}">{_esc(title)}</a>'


def _claims(nb: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    metrics = nb.get("metrics")
    claims = metrics.get("claims") if isinstance(metrics, Mapping) else None
    return [c for c in claims if isinstance(c, Mapping)] if isinstance(claims, list) else []


def _claim_cells(nb: Mapping[str, Any], claim: Mapping[str, Any], full: FullResults) -> str:
    """The claim, verdict and difference cells of one claim's row."""
    metrics = nb.get("metrics") or {}
    notes = metrics.get("notes") if isinstance(metrics.get("notes"), list) else []
    text = str(claim.get("claim", ""))
    measure = _claim_measure(text, notes)
    parts = [p for p in claim.get("parts") or [] if isinstance(p, Mapping)]
    verdict = _badge_html(claim)
    if claim.get("n") == 1:
        verdict += (f'<br><span class="detail">with 3 seeds: {full.page_html(str(nb["name"]))}'
                    "</span>")
    if parts:
        difference = '<ul class="parts">' + "".join(
            f"<li>{markdown_inline(str(p.get('claim', '')))}: {_esc(_difference_text(p))} "
            f"{_badge_html(p, small=True)}</li>"
            for p in parts
        ) + "</ul>"
    else:
        difference = f'<span class="num">{_esc(_difference_text(claim))}</span>'
    what = f'<div class="measure">{_esc(measure)}, points</div>' if measure else ""
    n_text = _n_text(claim)
    n_html = f'<div class="detail">{_esc(n_text)}</div>' if n_text else ""
    return (f"<td>{markdown_inline(text)}</td><td>{verdict}</td>"
            f"<td>{what}{difference}{n_html}</td>")


def _notebook_rows(nb: Mapping[str, Any], full: FullResults) -> list[str]:
    """One row per claim of a notebook; the notebook and figure cells span the rows when all
    its claims show the same figure."""
    claims = _claims(nb)
    figures = [str(f) for f in nb.get("figures") or []]
    shown = [_claim_figure(str(nb["name"]), claim, figures) for claim in claims]

    def tail(figure: str | None, rowspan: int) -> str:
        span = f' rowspan="{rowspan}"' if rowspan > 1 else ""
        cell = figure_html(figure, css_class="thumb") if figure else "—"
        return f"<td{span}>{_notebook_link(nb)}</td><td{span}>{cell}</td>"

    shared = len(set(shown)) == 1
    rows = []
    for index, (claim, figure) in enumerate(zip(claims, shown, strict=True)):
        cells = _claim_cells(nb, claim, full)
        if not shared:
            cells += tail(figure, 1)
        elif index == 0:
            cells += tail(figure, len(claims))
        rows.append(f"<tr>{cells}</tr>")
    return rows


def findings_html(notebooks: Sequence[Mapping[str, Any]], full: FullResults | None = None) -> str:
    """The "Findings" section: every claim the notebooks test, as a table.

    Args:
        notebooks: the summary's notebooks (``name``, ``metrics``, ``figures``, ``html``).
        full: links to the committed full-profile results, for claims measured on one seed.

    Returns:
        HTML: a heading, how to read the table, the table (or a sentence when no claim was tested).
    """
    full = full or FullResults()
    rows = [row for nb in notebooks for row in _notebook_rows(nb, full)]
    parts = ['<section id="findings">', "<h2>Findings</h2>"]
    if not rows:
        parts.append("<p>No notebook of this report tests a claim of the paper (notebooks 02, "
                     "03, 04 and 06 do).</p></section>")
        return "\n".join(parts)
    parts.append(
        "<p>Each row is a claim of the paper (Zhang &amp; Hsu 2025, arXiv 2507.21959) tested on "
        "our synthetic scenes. The difference is the first method minus the second, in "
        "percentage points, paired over training seeds (or images, for a bootstrap), with its "
        "95 % interval in brackets. <span class=\"badge supported\">supported</span>: the "
        "interval lies on the claimed side of zero; <span class=\"badge contradicted\">"
        "contradicted</span>: on the other side; <span class=\"badge inconclusive\">"
        "inconclusive</span>: it straddles zero.</p>"
    )
    if any(claim.get("n") == 1 for nb in notebooks for claim in _claims(nb)):
        parts.append(
            '<p class="note">Claims marked <span class="badge oneseed">'
            f"{_esc(_ONE_SEED)}</span> were measured on a single training seed: one difference, "
            "no interval, so it can neither support nor contradict the paper. The full profile "
            f"trains 3 seeds; its committed results are in {full.folder_html()}.</p>"
        )
    parts += [
        '<table class="findings">',
        "<tr><th>claim</th><th>our verdict</th><th>difference [95 % interval]</th>"
        "<th>notebook</th><th>figure</th></tr>",
        *rows,
        "</table>",
        "</section>",
    ]
    return "\n".join(parts)


def guide_html(notebooks: Sequence[Mapping[str, Any]]) -> str:
    """The "What to look at next" section: one line per notebook, linked to its HTML."""
    lines = ['<section id="next">', "<h2>What to look at next</h2>", '<ul class="guide">']
    for nb in notebooks:
        name = str(nb["name"])
        number = name.partition("_")[0]
        lesson = NOTEBOOK_GUIDE.get(number, ("", ""))[1]
        status = nb.get("status")
        flag = ' <span class="failed">(failed)</span>' if status == "failed" else ""
        tail = f" — {_esc(lesson)}" if lesson else ""
        lines.append(f"<li>{_notebook_link(nb)}{tail}{flag}</li>")
    lines += ["</ul>", "</section>"]
    return "\n".join(lines)


def _origin_text(network: Mapping[str, Any]) -> str:
    origin = network.get("origin")
    if origin == "trained":
        return "trained in this run"
    if origin == "cache":
        return "loaded from the cache (trained earlier)"
    if origin == "shipped":
        commit = network.get("shipped_commit")
        where = f" (commit <code>{_esc(commit)}</code>)" if commit else ""
        return f"loaded from the kit's shipped checkpoint{where}"
    return _esc(origin if origin is not None else "—")


def _accuracy_text(value: Any) -> str:
    number = _number(value)
    if number is None:
        return "—"
    return f"{100 * number if number <= 1 else number:.1f} %"


def networks_html(metrics: Any) -> str:
    """The "Networks" table of one notebook from ``metrics.json``'s optional ``networks``
    (``run``, ``paradigm``, ``model``, ``origin``, ``shipped_commit``, ``val_acc`` in [0, 1]);
    ``""`` when the key is missing or empty."""
    networks = metrics.get("networks") if isinstance(metrics, Mapping) else None
    if not isinstance(networks, list) or not networks:
        return ""
    lines = [
        "<h4>Networks</h4>",
        '<table class="networks">',
        "<tr><th>run</th><th>paradigm</th><th>model</th><th>weights</th>"
        "<th>val accuracy</th></tr>",
    ]
    for net in networks:
        if not isinstance(net, Mapping):
            continue
        lines.append(
            f"<tr><td><code>{_esc(net.get('run', '—'))}</code></td>"
            f"<td>{_esc(net.get('paradigm', '—'))}</td><td>{_esc(net.get('model', '—'))}</td>"
            f"<td>{_origin_text(net)}</td>"
            f'<td class="num">{_esc(_accuracy_text(net.get("val_acc")))}</td></tr>'
        )
    lines.append("</table>")
    return "\n".join(lines)
