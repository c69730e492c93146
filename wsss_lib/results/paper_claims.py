"""The paper's claims as one table, gathered from the notebooks' ``metrics.json``.

Each notebook tests the claims it can (its ``claims``); this module puts them in the order of
the paper (Zhang & Hsu 2025, arXiv 2507.21959), each with the regime it was tested in (the
training level of the networks), the comparison, n, the paired difference in points with its
95 % interval, and the verdict. :data:`PAPER_CLAIMS` says where each claim lives;
:func:`paper_claims_table` finds the tested comparisons in a set of documents, and
:func:`paper_claims_markdown` renders the table for the README (the report renders it as HTML).
A claim no notebook of the set tested becomes a row that says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["PAPER_CLAIMS", "PaperClaim", "paper_claims_markdown", "paper_claims_table"]

_DEFAULT_REGIME = "trained at 0.50/0.50"


@dataclass(frozen=True)
class PaperClaim:
    """One claim of the paper and where the kit tests it.

    Attributes:
        key: A short stable name.
        paper: The claim in the paper's words (or close to them).
        notebook: The notebook stem whose ``metrics.json`` holds the test.
        match: Which of that notebook's claims test it: an ``id`` prefix (``"suppress_fp@"``)
            or the start of the claim's text.
        fallback: ``(notebook, match)`` used when ``notebook`` did not run (e.g. the tutorial
            profile runs notebook 02, not 09), or None.
    """

    key: str
    paper: str
    notebook: str
    match: str
    fallback: tuple[str, str] | None = None


#: The paper's claims, in the order the paper makes them, and where each is tested.
PAPER_CLAIMS: tuple[PaperClaim, ...] = (
    PaperClaim("suppress_fp", "The student suppresses spurious activations (chimney false "
               "positives)", "09_shortcut_claims", "suppress_fp@"),
    PaperClaim("suppress_mass", "… and its CAM mass on chimneys", "09_shortcut_claims",
               "suppress_mass@", ("02_teacher_student", "Teacher-student moves CAM mass")),
    PaperClaim("decoupled_iou", "… so it finds smoke where no chimney is", "09_shortcut_claims",
               "decoupled_iou@"),
    PaperClaim("inherits", "The student is not a copy of its teacher's shortcut",
               "09_shortcut_claims", "inherits@"),
    PaperClaim("clean_teacher", "(ours) A teacher trained without the shortcut helps more",
               "09_shortcut_claims", "clean_teacher@"),
    PaperClaim("boundary", "The student improves boundary localisation", "09_shortcut_claims",
               "boundary@"),
    PaperClaim("beats_vit", "Teacher-student beats the single ViT (smoke IoU)",
               "09_shortcut_claims", "beats_vit@",
               ("02_teacher_student", "Teacher-student (CNN→ViT) beats the single ViT")),
    PaperClaim("beats_teacher", "The student beats its teacher", "02_teacher_student",
               "The student beats its teacher"),
    PaperClaim("beats_co_training", "Teacher-student beats co-training", "02_teacher_student",
               "Teacher-student beats co-training"),
    PaperClaim("global_best", "Global cosine is the best alignment", "04_alignment_variants",
               "Global cosine is the best alignment"),
    PaperClaim("global_levels", "Global alignment beats spatial-wise and channel-wise",
               "04_alignment_variants", "Global alignment beats spatial-wise"),
    PaperClaim("projection", "The feature projection helps", "04_alignment_variants",
               "The feature projection helps"),
    PaperClaim("co_training_distance", "L1 and L2 lose to cosine under co-training",
               "04_alignment_variants", "L1 and L2 lose to cosine"),
    PaperClaim("lambda_helps", "Using the teacher helps (λ > 0 beats λ = 0)",
               "03_lambda_sensitivity", "Using the teacher helps"),
    PaperClaim("lambda_optimum", "λ has an interior optimum (λ = 1)", "03_lambda_sensitivity",
               "λ has an interior optimum"),
    PaperClaim("fusion_weak", "Layer fusion helps a poor seed a lot and a good one not",
               "05_cam_fusion", "fusion helps a poor seed"),
    PaperClaim("crf", "Dense CRF helps", "06_postprocessing_failures", "Dense CRF helps"),
    PaperClaim("affinity", "Affinity refinement fails (hurts)", "06_postprocessing_failures",
               "Affinity refinement hurts"),
    PaperClaim("clip", "CLIP refinement fails (hurts)", "06_postprocessing_failures",
               "CLIP refinement hurts"),
    PaperClaim("stage2_beats_masks", "(beyond the paper) A segmenter trained on the pseudo-masks "
               "beats them", "10_second_stage", "stage 2 beats its own pseudo-masks"),
    PaperClaim("stage2_vs_supervised", "(beyond the paper) Full supervision beats the stage-2 "
               "segmenter", "10_second_stage", "full supervision beats stage 2"),
)


def _regime(doc: Mapping[str, Any], claim: Mapping[str, Any]) -> str:
    if claim.get("regime"):
        return str(claim["regime"])
    level = (doc.get("settings") or {}).get("train_level")
    if level:
        return f"trained at {float(level[0]):.2f}/{float(level[1]):.2f}"
    return _DEFAULT_REGIME


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fusion_claim(doc: Mapping[str, Any], match: str) -> list[dict[str, Any]]:
    """Notebook 05 states its finding in a note and the per-seed gains in its results: the
    difference is the weak seed's gain minus the strong seed's (intervals over images)."""
    note = next((n for n in doc.get("notes", ()) if isinstance(n, str) and match in n), None)
    results = doc.get("results") or {}
    weak, strong = (results.get(f"{s} seed / fused (mean)") or {} for s in ("weak", "strong"))
    if note is None or _number(weak.get("gain")) is None or _number(strong.get("gain")) is None:
        return []
    verdict_text = note.split(")", 1)[-1].strip().rstrip(".")
    head = verdict_text.lower()
    verdict = ("supported" if head.startswith("holds here") else
               "not tested" if head.startswith("cannot") else
               "contradicted" if head.startswith("does not hold") else "inconclusive")
    return [{"claim": "Fusion gain of the weaker seed minus that of the stronger (one ViT each, "
                      "gains with 95 % intervals over images)",
             "verdict": verdict, "mean": float(weak["gain"]) - float(strong["gain"]),
             "low": None, "high": None, "n": None,
             "detail": f"weak seed {float(weak['gain']):+.2f} ± {weak.get('ci95')}, strong "
                       f"{float(strong['gain']):+.2f} ± {strong.get('ci95')} points: "
                       f"{verdict_text}"}]


def _found(doc: Mapping[str, Any], claim: PaperClaim) -> list[dict[str, Any]]:
    if claim.key == "fusion_weak":
        return _fusion_claim(doc, claim.match)
    found = []
    for entry in doc.get("claims") or ():
        ident, text = str(entry.get("id") or ""), str(entry.get("claim") or "")
        if (ident.startswith(claim.match) if claim.match.endswith("@")
                else text.startswith(claim.match)):
            found.append(dict(entry))
    return found


def paper_claims_table(
    documents: Mapping[str, Mapping[str, Any]],
    claims: Sequence[PaperClaim] = PAPER_CLAIMS,
    detail: Callable[[Mapping[str, Any]], str] | None = None,
) -> list[dict[str, Any]]:
    """One row per tested comparison of every claim, in the paper's order.

    Args:
        documents: notebook stem -> its ``metrics.json`` (parsed).
        claims: The claims to gather.
        detail: Optional extra text per found claim (default: its ``detail``, if any).

    Returns:
        ``{"key", "paper", "notebook", "regime", "comparison", "part", "n", "mean", "low",
        "high", "verdict", "detail"}`` per row (``part``: one comparison of a claim that
        compares one row with several, listed after the claim's own row); a claim without a
        test gets one row whose ``verdict`` is ``"not run"`` (its notebook is missing) or
        ``"not tested"`` (the notebook ran without the rows it needs).
    """
    rows = []
    for claim in claims:
        if claim.notebook not in documents and claim.fallback:
            claim = replace(claim, notebook=claim.fallback[0], match=claim.fallback[1])
        doc = documents.get(claim.notebook)
        found = [] if doc is None else _found(doc, claim)
        if not found:
            rows.append({"key": claim.key, "paper": claim.paper, "notebook": claim.notebook,
                         "regime": "", "comparison": "", "part": False, "n": None,
                         "mean": None, "low": None, "high": None, "detail": "",
                         "verdict": "not run" if doc is None else "not tested"})
            continue
        for entry in found:
            for part in [entry, *entry.get("parts", ())]:
                rows.append(_row(claim, doc, entry, part, detail))
    return rows


def _row(claim: PaperClaim, doc: Mapping[str, Any], entry: Mapping[str, Any],
         part: Mapping[str, Any], detail: Callable[[Mapping[str, Any]], str] | None
         ) -> dict[str, Any]:
    """A table row of ``entry`` (a claim of ``doc``) or of one of its ``parts``."""
    text = str(part.get("claim", "")).split(" — trained at")[0]
    return {
        "key": claim.key, "paper": claim.paper, "notebook": claim.notebook,
        "regime": _regime(doc, entry),
        "comparison": text, "part": part is not entry,
        "n": part.get("n"), "mean": _number(part.get("mean")),
        "low": _number(part.get("low")), "high": _number(part.get("high")),
        "verdict": str(part.get("verdict", "")),
        "detail": detail(part) if detail else str(part.get("detail", "")),
    }


def _interval(row: Mapping[str, Any]) -> str:
    if row["mean"] is None:
        return "—"
    text = f"{row['mean']:+.2f}"
    if row["low"] is not None and row["high"] is not None:
        text += f" [{row['low']:+.2f}, {row['high']:+.2f}]"
    return text


def paper_claims_markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The table as Markdown lines: claim, regime, n, difference [95 % interval], verdict,
    notebook. A claim tested at several levels repeats its name only on its first row."""
    lines = ["| the paper's claim | regime | n | difference, points [95 % interval] | verdict "
             "| notebook |", "|---|---|---|---|---|---|"]
    last, last_pair = None, None
    for row in rows:
        name = row["paper"] if row["key"] != last else "*(same claim)*"
        if row.get("part") or (row["key"], row["regime"]) == last_pair:
            name = "↳ " + row["comparison"]  # another comparison of the same claim and regime
        last, last_pair = row["key"], (row["key"], row["regime"])
        n = row["n"] if isinstance(row["n"], int) and not isinstance(row["n"], bool) else "—"
        verdict = f"**{row['verdict']}**" if row["verdict"] in (
            "supported", "contradicted") else row["verdict"]
        lines.append(f"| {name} | {row['regime'] or '—'} | {n} | {_interval(row)} | {verdict} "
                     f"| {row['notebook'][:2]} |")
    return lines
