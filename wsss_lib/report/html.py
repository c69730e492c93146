"""HTML for the report: each executed notebook rendered by nbconvert, plus one ``index.html``.

``index.html`` is a pure function of the report summary (:func:`build_index_html`), so what the
page shows is exactly what ``summary.json`` records: each notebook's status and time, one results
table gathered from the notebooks' ``metrics.json``, and the figures each notebook saved.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
from nbconvert import HTMLExporter

from wsss_lib.utils import atomic_write_text

__all__ = [
    "PAPER_LABEL",
    "KEY_METRICS",
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

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #17692e; font-weight: bold; }
.skipped { color: #555; font-weight: bold; }
.failed { color: #b00020; font-weight: bold; }
pre.error { background: #fff0f0; border: 1px solid #f3c0c0; padding: 0.5em; white-space: pre-wrap; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 36em; max-height: 28em; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
.paper { color: #555; font-style: italic; }
"""


def render_notebook_html(nb: nbformat.NotebookNode, path: str | Path) -> Path:
    """Render an executed notebook to a standalone HTML file (images embedded), atomically.

    Args:
        nb: the executed (or partially executed) notebook.
        path: the ``.html`` file to write.

    Returns:
        The written path.
    """
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb)
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
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


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
    parts = [f'<section id="{_esc(nb["name"])}">', f"<h3>{_esc(nb['name'])}</h3>"]
    if nb.get("error"):
        parts.append(f'<pre class="error">{_esc(nb["error"])}</pre>')
    metrics = nb.get("metrics")
    notes = metrics.get("notes") if isinstance(metrics, Mapping) else None
    if isinstance(notes, list) and notes:
        parts.append("<ul>" + "".join(f"<li>{_esc(note)}</li>" for note in notes) + "</ul>")
    for figure in nb.get("figures") or []:
        parts.append(
            f'<figure><img src="{_esc(quote(figure))}" alt="{_esc(figure)}" loading="lazy">'
            f"<figcaption>{_esc(Path(figure).name)}</figcaption></figure>"
        )
    if not nb.get("figures"):
        parts.append("<p>No figures saved.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def build_index_html(summary: Mapping[str, Any]) -> str:
    """The report's ``index.html`` page for a summary (the content of ``summary.json``).

    Args:
        summary: ``{"profile", "created", "total_wall_time_s", "counts", "notebooks": [...]}``
            where each notebook has ``name``, ``status``, ``wall_time_s``, optional ``error``,
            ``metrics``, ``figures`` (paths relative to the report folder), ``cell_timings``,
            ``html``, ``executed_notebook`` and ``metrics_file``.

    Returns:
        A standalone HTML document (figures referenced by relative path).
    """
    notebooks = list(summary.get("notebooks", []))
    counts = summary.get("counts", {})
    count_text = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("ok", "failed", "skipped"))
    title = f"wsss-lab report — profile {summary.get('profile', '?')}"
    body = [
        f"<h1>{_esc(title)}</h1>",
        f"<p>Created {_esc(summary.get('created', '?'))}; {len(notebooks)} notebooks "
        f"({_esc(count_text)}); total wall time {summary.get('total_wall_time_s', 0.0):.1f} s. "
        'Machine-readable: <a href="summary.json">summary.json</a>.</p>',
        "<h2>Notebooks</h2>",
        _notebooks_table(notebooks),
        "<h2>Results</h2>",
        "<p>Our numbers come from synthetic smoke scenes. Where a notebook quotes the paper "
        "(arXiv 2507.21959), those numbers were measured on real IJmond data at 512 px: a "
        "different dataset, shown for orientation, not as a like-for-like comparison.</p>",
        _results_table(notebooks),
        "<h2>Figures</h2>",
        *(_notebook_section(nb) for nb in notebooks),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_index_html(summary: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``out_dir/index.html`` for ``summary`` atomically and return its path."""
    return atomic_write_text(Path(out_dir) / "index.html", build_index_html(summary))
