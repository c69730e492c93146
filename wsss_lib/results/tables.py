"""Rows to numbers a reader sees: summaries over seeds, percent, and Markdown tables.

Studies return rows of fractions in ``[0, 1]``. Here they become:

- :func:`summarize`: mean and sample standard deviation over seeds, per row name;
- :func:`percent` / :func:`percent_rows` / :func:`as_percent`: % with 2 decimals (the unit of
  ``metrics.json`` and of the paper), NaN becoming None (null in JSON);
- :func:`percent_text` and :func:`points_text`: numbers in sentences;
- :func:`markdown_table`: one table layout for every notebook, with a cell formatter
  (:func:`percent_cell` for rows already in %, :func:`format_mean_std` for summaries in
  fractions) and an optional column of the paper's smoke IoU;
- :data:`METRIC_NAMES`: how metrics are named in sentences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "FRACTION_KEYS",
    "METRIC_NAMES",
    "as_percent",
    "format_mean_std",
    "markdown_table",
    "percent",
    "percent_cell",
    "percent_rows",
    "percent_text",
    "points_text",
    "summarize",
    "summary_table",
]

#: Readable names of the metrics of a run's row, for sentences.
METRIC_NAMES = {
    "smoke_iou": "smoke IoU",
    "precision": "pixel precision",
    "recall": "pixel recall",
    "chimney_fp_rate": "chimney FP rate",
    "cam_chimney_mass": "CAM mass on chimneys",
    "accuracy": "accuracy on test",
    "smoke_iou_decoupled": "smoke IoU on test_decoupled",
    "chimney_fp_rate_decoupled": "chimney FP rate on test_decoupled",
    "cam_chimney_mass_decoupled": "CAM mass on chimneys in test_decoupled",
    "accuracy_decoupled": "accuracy on test_decoupled",
    "shortcut_gap": "accuracy gap test - test_decoupled",
    "smoke_iou_val": "smoke IoU on val (for choosing settings)",
    "boundary_f": "boundary F-score",
    "boundary_f_decoupled": "boundary F-score on test_decoupled",
}

#: Row entries that :func:`percent_rows` converts (fractions); a mapping under one of these keys
#: (``fp_rate``, ``fp_share``: region -> fraction) is converted entry by entry.
FRACTION_KEYS = frozenset({
    "smoke_iou", "precision", "recall", "chimney_fp_rate", "distractor_fp_rate",
    "cam_chimney_mass", "best_threshold_iou", "blank_share", "boundary_f",
    "gain", "ci95", "improved_share", "gain_vs_none", "fp_rate", "fp_share",
})

#: Header of the paper's column in :func:`markdown_table`.
PAPER_COLUMN = "paper smoke IoU (real data)"


def summarize(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None = None, key: str = "name"
) -> dict[Any, dict[str, float]]:
    """Mean and sample standard deviation over seeds, per value of ``row[key]`` (first-seen order).

    Args:
        rows: Tidy rows, one per (name, seed), e.g. from a study's ``run_*``.
        metrics: The entries to summarise; None: every numeric entry of the first row except
            ``key`` and ``seed``.
        key: The entry naming a row.

    Returns:
        ``{row[key]: {metric: mean, f"{metric}_std": std, "n_seeds": n}}``; the std is NaN for a
        single seed (no spread can be estimated from one run). NaN values are left out.
    """
    if metrics is None:
        first = rows[0] if rows else {}
        metrics = [k for k, v in first.items() if k not in (key, "seed")
                   and isinstance(v, (int, float)) and not isinstance(v, bool)]
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    out: dict[Any, dict[str, float]] = {}
    for name, group in groups.items():
        entry: dict[str, float] = {"n_seeds": len(group)}
        for metric in metrics:
            values = np.array([row[metric] for row in group], dtype=np.float64)
            values = values[np.isfinite(values)]
            entry[metric] = float(values.mean()) if values.size else math.nan
            entry[f"{metric}_std"] = float(values.std(ddof=1)) if values.size > 1 else math.nan
        out[name] = entry
    return out


def percent(value: float | None, digits: int = 2) -> float | None:
    """A fraction in %, rounded; None for None, NaN or inf."""
    return None if value is None or not math.isfinite(value) else round(100.0 * value, digits)


def as_percent(summary: Mapping[Any, Mapping[str, float]], digits: int = 2) -> dict[Any, Any]:
    """A :func:`summarize` result with every metric (and std) in %, rounded; ``n_seeds``
    unchanged; NaN becomes None."""
    return {
        name: {k: (v if k == "n_seeds" else percent(v, digits)) for k, v in entry.items()}
        for name, entry in summary.items()
    }


def percent_rows(
    rows: Mapping[str, Mapping[str, Any]],
    digits: int = 2,
    keep: Iterable[str] | None = None,
    fraction_keys: Iterable[str] = FRACTION_KEYS,
) -> dict[str, Any]:
    """Rows with every fraction (``fraction_keys``, nested mappings under them too) in %,
    rounded; other entries (names, counts, seconds, statuses) unchanged; NaN becomes None.

    Args:
        rows: Row name -> entries.
        digits: Decimals kept.
        keep: Only these entry keys (default: all).
        fraction_keys: The entries that hold fractions.
    """
    keys = None if keep is None else set(keep)
    fractions = frozenset(fraction_keys)

    def convert(key: str, value: Any, inside: bool = False) -> Any:
        if isinstance(value, Mapping):
            return {k: convert(k, v, inside or key in fractions) for k, v in value.items()}
        if isinstance(value, float) and (inside or key in fractions):
            return None if math.isnan(value) else round(100.0 * value, digits)
        return value

    return {
        name: convert(name, {k: v for k, v in row.items() if keys is None or k in keys})
        for name, row in rows.items()
    }


def percent_text(value: float) -> str:
    """A fraction as ``"12.3%"`` (one decimal), for sentences."""
    return f"{100 * value:.1f}%"


def points_text(value: float) -> str:
    """A difference of fractions as signed points, ``"+1.2"`` (one decimal), for sentences."""
    return f"{100 * value:+.1f}"


def format_mean_std(entry: Mapping[str, float], metric: str) -> str:
    """``"30.00 ± 1.50"`` (``entry[metric]`` and its ``_std`` in %), or ``"30.00"`` without a
    finite std."""
    mean, std = 100 * entry[metric], 100 * entry.get(f"{metric}_std", math.nan)
    return f"{mean:.2f} ± {std:.2f}" if math.isfinite(std) else f"{mean:.2f}"


def percent_cell(row: Mapping[str, Any], key: str) -> str:
    """A cell of a row already in %: a dotted ``key`` (``"fp_rate.sky"``) reads a nested entry;
    a missing smoke IoU shows the row's ``status`` (e.g. ``"skipped: no SAM weights"``)."""
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return row.get("status", "–") if key == "smoke_iou" else "–"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def markdown_table(
    rows: Mapping[Any, Mapping[str, Any]],
    columns: Mapping[str, str],
    *,
    corner: str = "",
    labels: Mapping[Any, str] | None = None,
    paper: Mapping[Any, Mapping[str, float]] | None = None,
    paper_header: str = PAPER_COLUMN,
    cell: Callable[[Mapping[str, Any], str], str] = percent_cell,
) -> str:
    """A Markdown table: one line per row, one column per entry of ``columns``.

    Args:
        rows: Row name -> entries.
        columns: Entry key -> column header.
        corner: Header of the row-name column.
        labels: Row name -> the label shown (default: the name).
        paper: Row name -> the paper's numbers in %; adds a column of its ``smoke_iou`` ("–" for
            rows it does not report).
        paper_header: Header of that column.
        cell: ``cell(row, key) -> str`` (default :func:`percent_cell`).
    """
    labels = labels or {}
    header = [corner, *columns.values()]
    if paper is not None:
        header.append(paper_header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in rows.items():
        cells = [str(labels.get(name, name)), *[cell(row, key) for key in columns]]
        if paper is not None:
            value = (paper.get(name) or {}).get("smoke_iou")
            cells.append("–" if value is None else f"{value:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(
    summary: Mapping[Any, Mapping[str, float]],
    metrics: Sequence[str],
    paper: Mapping[Any, Mapping[str, float]] | None = None,
    labels: Mapping[Any, str] | None = None,
) -> str:
    """:func:`markdown_table` of a :func:`summarize` result: ``mean ± std`` in % per metric, plus
    the paper's smoke IoU (real data) where it has one."""
    return markdown_table(
        summary, {m: m.replace("_", " ") + " (%)" for m in metrics}, corner="run", labels=labels,
        paper=paper, paper_header="paper smoke IoU (%, real data)", cell=format_mean_std,
    )
