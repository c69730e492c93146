"""HTML for the report: each executed notebook rendered by nbconvert, plus one ``index.html``.

``index.html`` is a pure function of the report summary (:func:`build_index_html`), so what the
page shows is exactly what ``summary.json`` records. It reads top-down as a reader needs it:

1. a banner when the profile is ``quick`` (near-chance networks: the numbers test the plumbing);
2. **Findings**: every claim of the paper the notebooks test, with our verdict, the paired
   difference and its interval, the notebook and the figure (:mod:`wsss_lib.report.findings`);
3. **What to look at next**: one line per notebook;
4. run status, the key results and every metric;
5. per notebook: its notes, the networks it used and its figures (each a captioned link to the
   full-size PNG).

The notebooks' HTML (:func:`render_notebook_html`) loads a MathJax copied into the report
(:mod:`wsss_lib.report.mathjax`), so formulas render offline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import nbformat
from nbconvert import HTMLExporter

from wsss_lib.report.findings import (
    FullResults,
    figure_html,
    findings_html,
    full_results_links,
    guide_html,
    networks_html,
    notebook_title,
)
from wsss_lib.report.markup import escape_html as _esc
from wsss_lib.report.markup import format_plain, markdown_inline
from wsss_lib.report.mathjax import MATHJAX_CONFIG, install_mathjax
from wsss_lib.report.paper_table import paper_claims_html
from wsss_lib.utils import atomic_write_text

__all__ = [
    "PAPER_LABEL",
    "KEY_METRICS",
    "QUICK_BANNER",
    "STATIC_DIR",
    "build_index_html",
    "key_results_rows",
    "render_notebook_html",
    "results_table_rows",
    "write_index_html",
]

PAPER_LABEL = "paper (real IJmond data, different from ours)"

#: Columns of the key-results table: ``(metric in metrics.json, column title)``; values in %.
KEY_METRICS = (
    ("smoke_iou", "smoke IoU"),
    ("chimney_fp_rate", "chimney FP rate"),
    ("cam_chimney_mass", "CAM chimney mass"),
    ("accuracy", "acc. test"),
    ("accuracy_decoupled", "acc. test_decoupled"),
)

#: Folder of the report that holds files its pages share (the MathJax script).
STATIC_DIR = "_static"

#: Banner of a report made with the ``quick`` profile.
QUICK_BANNER = (
    "<strong>Quick profile:</strong> the networks here are trained for seconds and are (near) "
    "chance, so the numbers only check that every step of the pipeline runs; they say nothing "
    "about the method. For results, open the tutorial report (<code>make report</code>: the "
    "networks shipped trained with the kit) or the committed full run in {full}."
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num, span.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { background: #f4f4f4; padding: 0 0.2em; border-radius: 3px; font-size: 0.92em; }
.ok { color: #17692e; font-weight: bold; }
.skipped { color: #555; font-weight: bold; }
.failed { color: #b00020; font-weight: bold; }
.banner { background: #fff4d6; border: 2px solid #e0a800; border-radius: 6px; padding: 0.8em 1em;
          font-size: 1.1em; margin: 1em 0; }
.badge { display: inline-block; padding: 0.1em 0.55em; border-radius: 1em; font-weight: bold;
         font-size: 0.9em; color: #fff; background: #777; white-space: nowrap; }
.badge.small { font-size: 0.75em; }
.badge.supported { background: #17692e; }
.badge.contradicted { background: #b00020; }
.badge.inconclusive { background: #8a6d00; }
.badge.oneseed { background: #4a5a7a; white-space: normal; }
.badge.skipped, .badge.other { background: #777; }
.detail, .measure, .file { color: #555; font-size: 0.85em; }
table.findings td { padding: 0.5em 0.6em; }
table.findings td:first-child { max-width: 24em; }
ul.parts { margin: 0; padding-left: 1.1em; }
ul.guide li { margin: 0.3em 0; }
p.note { background: #eef1f7; border-left: 4px solid #4a5a7a; padding: 0.5em 0.8em; }
pre.error { background: #fff0f0; border: 1px solid #f3c0c0; padding: 0.5em; white-space: pre-wrap; }
figure { margin: 0.8em 0; }
figure img { border: 1px solid #ddd; background: #fff; }
figure.figure img { display: block; min-width: 260px; max-width: 100%; max-height: 40em;
                    width: auto; height: auto; }
figure.thumb { margin: 0; width: 320px; }
figure.thumb img { display: block; width: 320px; height: auto; max-height: 240px;
                   object-fit: contain; }
figcaption { font-size: 0.85em; color: #444; max-width: 60em; }
.paper { color: #555; font-style: italic; }
section.notebook { border-top: 1px solid #ddd; margin-top: 2em; }
"""

#: nbconvert's ``lab`` page with MathJax 3 (local file, Jupyter's delimiters) instead of 2.7.
_NOTEBOOK_TEMPLATE = (
    "{%- extends 'index.html.j2' -%}\n"
    "{%- block html_head_js_mathjax -%}\n"
    "<script>" + MATHJAX_CONFIG + "</script>\n"
    '<script id="MathJax-script" src="{{ resources.mathjax_url }}"></script>\n'
    "{%- endblock html_head_js_mathjax -%}\n"
)
_NOTEBOOK_TEMPLATE_NAME = "wsss_notebook.html.j2"


def render_notebook_html(
    nb: nbformat.NotebookNode, path: str | Path, static_dir: str | Path | None = None
) -> Path:
    """Render an executed notebook to a standalone HTML file (images embedded), atomically.

    Formulas render offline: MathJax 3 (``tex-svg-full.js`` of django-static-mathjax) is copied
    once into ``static_dir`` and the page loads it by a relative path. Without that package the
    page falls back to nbconvert's MathJax from a CDN.

    Args:
        nb: the executed (or partially executed) notebook.
        path: the ``.html`` file to write.
        static_dir: the report's shared folder; default ``<report>/_static`` for the report's
            layout ``<report>/<stem>/<stem>.html``, i.e. ``path``'s grandparent folder.

    Returns:
        The written path.
    """
    path = Path(path)
    if static_dir is None:
        static_dir = path.resolve().parent.parent / STATIC_DIR
    script = install_mathjax(static_dir)
    if script is None:
        exporter = HTMLExporter(embed_images=True)
    else:
        exporter = HTMLExporter(
            embed_images=True,
            extra_loaders=[jinja2.DictLoader({_NOTEBOOK_TEMPLATE_NAME: _NOTEBOOK_TEMPLATE})],
            template_file=_NOTEBOOK_TEMPLATE_NAME,
            mathjax_url=Path(os.path.relpath(script, path.resolve().parent)).as_posix(),
        )
    body, _ = exporter.from_notebook_node(nb)
    return atomic_write_text(path, body)


def _flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        pairs: list[tuple[str, Any]] = []
        for key, inner in value.items():
            pairs.extend(_flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return pairs
    return [(prefix, value)]


def _metric_cells(section: Any) -> dict[tuple[str, str], Any]:
    """``{row: {metric: value}}`` (any depth) as ``{(row, "metric[.sub]"): value}``."""
    if not isinstance(section, Mapping):
        return {}
    cells: dict[tuple[str, str], Any] = {}
    for row, value in section.items():
        for metric, inner in _flatten("", value):
            cells[(str(row), metric)] = inner
    return cells


def results_table_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of the results table for one notebook's ``metrics.json``.

    Args:
        metrics: A ``metrics.json`` (:class:`~wsss_lib.results.MetricsDocument`): ``{"results":
            {row: {metric: value}}, "paper": {row: {metric: value}}, ...}``;
            ``"paper"`` is optional, values may nest deeper (flattened as ``metric.sub``).

    Returns:
        One dict per (row, metric) with keys ``row``, ``metric``, ``ours`` and ``paper`` (``None``
        where a side has no value). Our rows come first, then rows only the paper reports.
    """
    ours = _metric_cells(metrics.get("results"))
    paper = _metric_cells(metrics.get("paper"))
    keys = list(ours) + [key for key in paper if key not in ours]
    return [
        {
            "row": row,
            "metric": metric,
            "ours": ours.get((row, metric)),
            "paper": paper.get((row, metric)),
        }
        for row, metric in keys
    ]


def key_results_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of the key-results table for one notebook's ``metrics.json``.

    One row per result row that reports a ``smoke_iou`` (or that only the paper reports), with
    the :data:`KEY_METRICS` as ``"x"`` or ``"x ± std"`` strings (``None`` where absent) and
    the paper's smoke IoU.

    Returns:
        Dicts with keys ``row``, one per :data:`KEY_METRICS` name, and ``paper``.
    """
    results = metrics.get("results")
    paper = metrics.get("paper")
    results = results if isinstance(results, Mapping) else {}
    paper = paper if isinstance(paper, Mapping) else {}
    names = [r for r, v in results.items() if isinstance(v, Mapping) and "smoke_iou" in v]
    names += [r for r, v in paper.items()
              if r not in results and isinstance(v, Mapping) and "smoke_iou" in v]
    rows = []
    for name in names:
        ours = results.get(name) or {}
        row: dict[str, Any] = {"row": str(name)}
        for metric, _ in KEY_METRICS:
            value, std = ours.get(metric), ours.get(f"{metric}_std")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                row[metric] = None if value is None else str(value)
            elif isinstance(std, (int, float)) and std:
                row[metric] = f"{value:.2f} ± {std:.2f}"
            else:
                row[metric] = f"{value:.2f}"
        paper_row = paper.get(name)
        row["paper"] = paper_row.get("smoke_iou") if isinstance(paper_row, Mapping) else None
        rows.append(row)
    return rows


def _format_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    text = format_plain(value)  # mappings as "key: value" lists, never a Python / JSON literal
    return text if len(text) <= 80 else text[:77] + "..."


def _link(href: str | None, text: str) -> str:
    if not href:
        return _esc(text)
    return f'<a href="{_esc(quote(href))}">{_esc(text)}</a>'


def _notebooks_table(notebooks: list[Mapping[str, Any]]) -> str:
    lines = [
        "<table>",
        "<tr><th>notebook</th><th>status</th><th>wall time</th><th>slowest cell</th>"
        "<th>files</th></tr>",
    ]
    for nb in notebooks:
        status = nb["status"]
        label = "skipped (unchanged)" if status == "skipped" else status
        slowest = (nb.get("cell_timings") or {}).get("slowest") or []
        slow_text = (
            f"cell {slowest[0]['cell']}: {slowest[0]['duration_s']:.1f} s" if slowest else "—"
        )
        files = " · ".join(
            _link(nb.get(key), text)
            for key, text in (
                ("html", "html"),
                ("executed_notebook", "ipynb"),
                ("metrics_file", "metrics"),
            )
            if nb.get(key)
        )
        lines.append(
            f'<tr><td><a href="#{_esc(nb["name"])}">{_esc(nb["name"])}</a></td>'
            f'<td class="{_esc(status)}">{_esc(label)}</td>'
            f'<td class="num">{nb["wall_time_s"]:.1f} s</td><td>{_esc(slow_text)}</td>'
            f"<td>{files or '—'}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def _key_results_table(with_metrics: list[Mapping[str, Any]], has_paper: bool) -> str:
    header = "<tr><th>notebook</th><th>row</th>" + "".join(
        f"<th>{_esc(title)} (%)</th>" for _, title in KEY_METRICS
    )
    if has_paper:
        header += f'<th class="paper">smoke IoU, {_esc(PAPER_LABEL)}</th>'
    lines = ["<table>", header + "</tr>"]
    for nb in with_metrics:
        for row in key_results_rows(nb["metrics"]):
            cells = f"<td>{_esc(nb['name'])}</td><td>{_esc(row['row'])}</td>" + "".join(
                f'<td class="num">{_esc(_format_value(row[metric]))}</td>'
                for metric, _ in KEY_METRICS
            )
            if has_paper:
                cells += f'<td class="num paper">{_esc(_format_value(row["paper"]))}</td>'
            lines.append(f"<tr>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _all_metrics_table(with_metrics: list[Mapping[str, Any]], has_paper: bool) -> str:
    header = "<tr><th>notebook</th><th>row</th><th>metric</th><th>ours (synthetic data)</th>"
    if has_paper:
        header += f'<th class="paper">{_esc(PAPER_LABEL)}</th>'
    lines = ["<table>", header + "</tr>"]
    for nb in with_metrics:
        for row in results_table_rows(nb["metrics"]):
            cells = (
                f"<td>{_esc(nb['name'])}</td><td>{_esc(row['row'])}</td><td>{_esc(row['metric'])}</td>"
                f'<td class="num">{_esc(_format_value(row["ours"]))}</td>'
            )
            if has_paper:
                cells += f'<td class="num paper">{_esc(_format_value(row["paper"]))}</td>'
            lines.append(f"<tr>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _results_table(notebooks: list[Mapping[str, Any]]) -> str:
    """Key results (smoke IoU and friends, one line per result row) beside the paper's smoke
    IoU, then every metric of every notebook in a collapsed table."""
    with_metrics = [nb for nb in notebooks if isinstance(nb.get("metrics"), Mapping)]
    if not with_metrics:
        return "<p>No notebook wrote a <code>metrics.json</code>.</p>"
    has_paper = any(isinstance(nb["metrics"].get("paper"), Mapping) for nb in with_metrics)
    return (
        _key_results_table(with_metrics, has_paper)
        + "\n<details><summary>All metrics of every notebook</summary>\n"
        + _all_metrics_table(with_metrics, has_paper)
        + "\n</details>"
    )


def _notebook_section(nb: Mapping[str, Any]) -> str:
    name = str(nb["name"])
    title = notebook_title(name)
    parts = [f'<section class="notebook" id="{_esc(name)}">', f"<h3>{_esc(title)}</h3>"]
    links = " · ".join(
        _link(nb.get(key), text)
        for key, text in (("html", "the notebook as HTML"), ("executed_notebook", "ipynb"),
                          ("metrics_file", "metrics.json"))
        if nb.get(key)
    )
    if links:
        parts.append(f"<p>{links}</p>")
    if nb.get("error"):
        parts.append(f'<pre class="error">{_esc(nb["error"])}</pre>')
    metrics = nb.get("metrics")
    notes = metrics.get("notes") if isinstance(metrics, Mapping) else None
    if isinstance(notes, list) and notes:
        parts.append("<ul>" + "".join(f"<li>{markdown_inline(note)}</li>" for note in notes)
                     + "</ul>")
    networks = networks_html(metrics)
    if networks:
        parts.append(networks)
    figures = [str(figure) for figure in nb.get("figures") or []]
    parts.extend(figure_html(figure) for figure in figures)
    if not figures:
        parts.append("<p>No figures saved.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def build_index_html(summary: Mapping[str, Any], full_results: FullResults | None = None) -> str:
    """The report's ``index.html`` page for a summary (the content of ``summary.json``).

    Args:
        summary: ``{"profile", "created", "total_wall_time_s", "counts", "notebooks": [...]}``
            where each notebook has ``name``, ``status``, ``wall_time_s``, optional ``error``,
            ``metrics``, ``figures`` (paths relative to the report folder), ``cell_timings``,
            ``html``, ``executed_notebook`` and ``metrics_file``.
        full_results: links to the committed full-profile results (``docs/results/full``), from
            :func:`~wsss_lib.report.findings.full_results_links`; None: named in plain text.

    Returns:
        A standalone HTML document (figures referenced by relative path).
    """
    full = full_results or FullResults()
    notebooks = list(summary.get("notebooks", []))
    counts = summary.get("counts", {})
    count_text = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("ok", "failed", "skipped"))
    profile = summary.get("profile", "?")
    title = f"wsss-lab report — profile {profile}"
    body = [f"<h1>{_esc(title)}</h1>"]
    if profile == "quick":
        banner = QUICK_BANNER.format(full=full.folder_html())
        body.append(f'<div class="banner" role="note">{banner}</div>')
    body += [
        f"<p>Created {_esc(summary.get('created', '?'))}; {len(notebooks)} notebooks "
        f"({_esc(count_text)}); total wall time {summary.get('total_wall_time_s', 0.0):.1f} s. "
        "Our numbers come from synthetic smoke scenes. "
        'Machine-readable: <a href="summary.json">summary.json</a>.</p>',
        paper_claims_html(notebooks),
        findings_html(notebooks, full),
        guide_html(notebooks),
        '<h2 id="status">Run status</h2>',
        _notebooks_table(notebooks),
        '<h2 id="results">Results</h2>',
        "<p>Our numbers come from synthetic smoke scenes. Where a notebook quotes the paper "
        "(arXiv 2507.21959), those numbers were measured on real IJmond data at 512 px: a "
        "different dataset, shown for orientation, not as a like-for-like comparison.</p>",
        _results_table(notebooks),
        '<h2 id="notebooks">Notebooks: notes, networks and figures</h2>',
        *(_notebook_section(nb) for nb in notebooks),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_index_html(summary: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``out_dir/index.html`` for ``summary`` atomically and return its path.

    Links to the committed full-profile results are made relative to ``out_dir`` when the
    repository's ``docs/results/full`` can be found (:func:`full_results_links`).
    """
    page = build_index_html(summary, full_results_links(out_dir))
    return atomic_write_text(Path(out_dir) / "index.html", page)
