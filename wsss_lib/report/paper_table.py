"""The report's "The paper's claims" section: :mod:`wsss_lib.results.paper_claims` as HTML.

One table, in the paper's order, gathered from every notebook of the report: the claim, the
regime it was tested in (the networks' training level), the comparison, n, the paired difference
with its 95 % interval, and the verdict as a badge (:func:`~wsss_lib.report.findings.claim_badge`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.report.findings import _signed, claim_badge
from wsss_lib.report.markup import escape_html as _esc
from wsss_lib.results.paper_claims import paper_claims_table

__all__ = ["paper_claims_html"]


def _difference(row: Mapping[str, Any]) -> str:
    if row["mean"] is None:
        return "—"
    text = _signed(row["mean"])
    if row["low"] is not None and row["high"] is not None:
        text += f" [{_signed(row['low'])}, {_signed(row['high'])}]"
    return text


def _badge(row: Mapping[str, Any]) -> str:
    if row["verdict"] in ("not run", "not tested"):
        return f'<span class="badge other small">{_esc(row["verdict"])}</span>'
    css, text, detail = claim_badge({"verdict": row["verdict"], "n": row["n"]})
    extra = f' <span class="detail">{_esc(detail)}</span>' if detail else ""
    return f'<span class="badge {_esc(css)} small">{_esc(text)}</span>{extra}'


def paper_claims_html(notebooks: Sequence[Mapping[str, Any]]) -> str:
    """The section for a report's notebooks (each with ``name`` and parsed ``metrics``); an
    empty string when no notebook of the report tests a claim of the paper."""
    documents = {nb["name"]: nb["metrics"] for nb in notebooks
                 if isinstance(nb.get("metrics"), Mapping)}
    rows = [r for r in paper_claims_table(documents) if r["verdict"] != "not run"]
    if not any(r["verdict"] != "not tested" for r in rows):
        return ""
    body, last, last_pair = [], None, None
    for row in rows:
        if row.get("part") or (row["key"], row["regime"]) == last_pair:
            name = f'<span class="part">↳ {_esc(row["comparison"])}</span>'
        elif row["key"] == last:
            name = '<span class="part">(same claim)</span>'
        else:
            name = _esc(row["paper"])
        last, last_pair = row["key"], (row["key"], row["regime"])
        n = row["n"] if isinstance(row["n"], int) and not isinstance(row["n"], bool) else "—"
        body.append(f"<tr><td>{name}</td><td>{_esc(row['regime'] or '—')}</td><td>{n}</td>"
                    f"<td>{_difference(row)}</td><td>{_badge(row)}</td>"
                    f"<td>{_esc(row['notebook'][:2])}</td></tr>")
    return "\n".join([
        '<section id="paper-claims">', "<h2>The paper's claims, one table</h2>",
        "<p>Every claim of Zhang &amp; Hsu 2025 that this report tests, in the paper's order, "
        "with the regime it was tested in: the co-occurrence P(chimney | smoke) / "
        "P(chimney | clean) the networks were trained at. At 0.50/0.50 a chimney says nothing "
        "about smoke; at the coupled levels it is evidence of smoke, so a shortcut exists. "
        "Differences are paired (points, first row minus second), n is the number of paired "
        "seeds (or of images, for the post-processing claims).</p>",
        '<table class="findings">',
        "<tr><th>the paper's claim</th><th>regime</th><th>n</th>"
        "<th>difference [95 % interval]</th><th>verdict</th><th>notebook</th></tr>",
        *body, "</table>", "</section>",
    ])
