"""Notebook 09's claims, verdicts and ``metrics.json``, from the rows of
:mod:`wsss_lib.studies.shortcut` (one per level × row × seed, fractions in ``[0, 1]``).

The paper claims the teacher-student "significantly suppresses spurious activations" and
"improves boundary localization". :func:`shortcut_claims` tests each at every training level,
on runs paired by seed, with the measures of the shortcut on ``test_decoupled`` (where smoke is
never at a chimney and every clean image shows one, so a chimney detector is exposed):

- suppression, student vs the single ViT: chimney false-positive rate and CAM mass on chimneys
  lower, smoke IoU on ``test_decoupled`` higher;
- the headline, student vs single ViT: smoke IoU on ``test`` higher; boundary F-score higher;
- inheritance: the student's chimney FP rate vs its teacher's (the single CNN), and a teacher
  trained at 0.50 / 0.50 vs one trained on the same coupled data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.results.claims import paired_claim
from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.method import claim_sentences, untrained_sentence
from wsss_lib.results.tables import as_percent
from wsss_lib.stats import seeds_for_half_width
from wsss_lib.studies.shortcut import SHORTCUT_ROWS, row_name, split_row_name

__all__ = [
    "CLAIM_SHORT",
    "CLAIM_TESTS",
    "seeds_for_half_width",
    "shortcut_claims",
    "shortcut_document",
    "shortcut_labels",
    "shortcut_verdicts",
]

#: Short names of the claims for plot axes, by id.
CLAIM_SHORT = {
    "suppress_fp": "TS < ViT: chimney FP rate (decoupled)",
    "suppress_mass": "TS < ViT: CAM mass on chimneys (decoupled)",
    "decoupled_iou": "TS > ViT: smoke IoU (decoupled)",
    "beats_vit": "TS > ViT: smoke IoU (test)",
    "boundary": "TS > ViT: boundary F-score",
    "inherits": "TS < its teacher: chimney FP rate (decoupled)",
    "clean_teacher": "0.50 teacher < coupled teacher: chimney FP rate",
}

#: The claims tested at every level: (id, row a, row b, metric, expect, sentence).
CLAIM_TESTS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("suppress_fp", "ts_cnn_to_vit", "single_vit", "chimney_fp_rate_decoupled", "less",
     "The student suppresses spurious activations: chimney FP rate on test_decoupled lower than "
     "the single ViT's"),
    ("suppress_mass", "ts_cnn_to_vit", "single_vit", "cam_chimney_mass_decoupled", "less",
     "The student's CAM mass on chimneys (test_decoupled) is lower than the single ViT's"),
    ("decoupled_iou", "ts_cnn_to_vit", "single_vit", "smoke_iou_decoupled", "greater",
     "The student's smoke IoU on test_decoupled is higher than the single ViT's"),
    ("beats_vit", "ts_cnn_to_vit", "single_vit", "smoke_iou", "greater",
     "Teacher-student (CNN→ViT) beats the single ViT (smoke IoU on test)"),
    ("boundary", "ts_cnn_to_vit", "single_vit", "boundary_f", "greater",
     "Teacher-student improves boundary localisation: boundary F-score higher than the single "
     "ViT's"),
    ("inherits", "ts_cnn_to_vit", "single_cnn", "chimney_fp_rate_decoupled", "less",
     "The student does not inherit its teacher's shortcut: chimney FP rate on test_decoupled "
     "lower than its teacher's (the single CNN)"),
    ("clean_teacher", "ts_teacher_050", "ts_cnn_to_vit", "chimney_fp_rate_decoupled", "less",
     "A teacher trained at 0.50/0.50 gives a student with a lower chimney FP rate on "
     "test_decoupled than a teacher trained on the same coupled data"),
)


def shortcut_labels(names: Sequence[str]) -> dict[str, str]:
    """Row name (``"single_vit@0.75"``) -> ``"single ViT · 0.75/0.25"``-style table label."""
    out = {}
    for name in names:
        row, p_smoke = split_row_name(name)
        out[name] = f"{SHORTCUT_ROWS.get(row, row)} · trained at {p_smoke:.2f}/{1 - p_smoke:.2f}"
    return out


def shortcut_claims(
    rows: Sequence[Mapping[str, Any]], levels: Sequence[Sequence[float]]
) -> list[dict[str, Any]]:
    """Every :data:`CLAIM_TESTS` entry at every level whose two rows were run, paired by seed.

    Each claim carries ``id`` (``"<test id>@<P(chimney|smoke)>"``), ``regime`` (the level as
    ``"trained at 0.75/0.25"``), ``metric`` and ``rows`` (the two run names), besides the
    verdict, mean difference in points, 95 % interval and ``n`` of
    :func:`~wsss_lib.results.claims.paired_claim`.
    """
    present = {row["name"] for row in rows}
    out = []
    for level in levels:
        regime = f"trained at {float(level[0]):.2f}/{float(level[1]):.2f}"
        for claim_id, a, b, metric, expect, sentence in CLAIM_TESTS:
            name_a, name_b = row_name(a, level), row_name(b, level)
            if name_a not in present or name_b not in present:
                continue
            claim = paired_claim(rows, name_a, name_b, f"{sentence} — {regime}", metric=metric,
                                 expect=expect)
            out.append({**claim, "id": f"{claim_id}@{float(level[0]):.2f}", "regime": regime,
                        "metric": metric, "rows": (name_a, name_b),
                        "short": CLAIM_SHORT[claim_id]})
    return out


def shortcut_verdicts(
    summary: Mapping[str, Mapping[str, Any]], claims: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The sentences of notebook 09: which runs stayed at chance, then every claim's verdict
    (*not judged* where a compared run is at chance)."""
    labels = shortcut_labels(list(summary))
    return untrained_sentence(summary, labels) + claim_sentences(claims, summary, labels)


def shortcut_document(
    profile: str,
    summary: Mapping[str, Mapping[str, Any]],
    claims: Sequence[Mapping[str, Any]],
    notes: Sequence[str],
    settings: Mapping[str, Any],
    level_checks: Sequence[Mapping[str, Any]] = (),
    rows: Sequence[Mapping[str, Any]] = (),
) -> MetricsDocument:
    """The ``metrics.json`` of notebook 09: every run's metrics in % (``"<row>@<level>"``), the
    level check on ``val`` (``"level_check"``), the claims with their regime, and the settings."""
    results: dict[str, Any] = dict(as_percent(summary))
    for row in sorted((r for r in rows if "readout" in r), key=lambda r: r["seed"]):
        results[row["name"]].setdefault("readout_per_seed", []).append(row["readout"])
    if level_checks:
        results["level_check"] = {c["level"]: {k: round(100 * float(v), 2)
                                               for k, v in c.items() if k != "level"}
                                  for c in level_checks}
    kept = ("train_levels", "seeds", "rows", "teacher_rows", "teacher_seeds",
            "candidate_train_levels",
            "min_decoupled_accuracy", "image_size", "n_train", "n_val", "n_test", "epochs",
            "cnn", "vit", "cam_readouts")
    return MetricsDocument(
        notebook="09_shortcut_claims",
        profile=str(profile),
        results=results,
        claims=claims,
        notes=[
            "Our numbers: %, synthetic benchmark; each row '<run>@<P(chimney|smoke)>' was trained "
            "at that level (P(chimney|clean) = 1 - it); test keeps 0.95/0.05, test_decoupled "
            "breaks the shortcut both ways. Mean and sample std over seeds (<metric>_std). "
            "Pseudo-masks read each run's CAM the way chosen on val (readout_per_seed); "
            "boundary_f is the boundary F-score at a 2-px tolerance.",
            *notes,
        ],
        settings={k: settings[k] for k in kept if k in settings},
    )
