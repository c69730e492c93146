"""Rows to what a reader sees: summaries, percent, Markdown tables, the paper's claims tested,
and the one ``metrics.json`` schema.

The general tools are importable from here:

- :mod:`~wsss_lib.results.document`: :class:`MetricsDocument`, what every notebook writes and
  the report reads;
- :mod:`~wsss_lib.results.tables`: :func:`summarize` (mean ± std over seeds), :func:`percent`,
  :func:`percent_rows`, :func:`as_percent`, :func:`markdown_table`, :func:`summary_table`;
- :mod:`~wsss_lib.results.claims`: :func:`paired_claim`, :func:`best_claim` (paired verdicts on
  :mod:`wsss_lib.stats`).

One module per study words its rows (claims, findings, its ``metrics.json``), named like the
study: :mod:`~wsss_lib.results.bias` (01), :mod:`~wsss_lib.results.method` (what 02–04
share), :mod:`~wsss_lib.results.paradigms` (02), :mod:`~wsss_lib.results.lambda_sweep` (03),
:mod:`~wsss_lib.results.alignment` (04), :mod:`~wsss_lib.results.fusion` (05),
:mod:`~wsss_lib.results.postprocessing` (06), :mod:`~wsss_lib.results.shortcut` (09),
:mod:`~wsss_lib.results.second_stage` (10). Those may import their study for its names.
:mod:`~wsss_lib.results.paper_claims` gathers every notebook's claims into the paper's one
table (it reads ``metrics.json`` documents only);
this package's ``__init__`` imports only the light general modules, so the report can read
``metrics.json`` without torch.
"""

from wsss_lib.results.claims import best_claim, paired_claim, paired_rows
from wsss_lib.results.document import CLAIM_KEYS, DOCUMENT_KEYS, MetricsDocument
from wsss_lib.results.tables import (
    FRACTION_KEYS,
    METRIC_NAMES,
    as_percent,
    format_mean_std,
    markdown_table,
    percent,
    percent_cell,
    percent_rows,
    summarize,
    summary_table,
)

__all__ = [
    "CLAIM_KEYS",
    "DOCUMENT_KEYS",
    "FRACTION_KEYS",
    "METRIC_NAMES",
    "MetricsDocument",
    "as_percent",
    "best_claim",
    "format_mean_std",
    "markdown_table",
    "paired_claim",
    "paired_rows",
    "percent",
    "percent_cell",
    "percent_rows",
    "summarize",
    "summary_table",
]
