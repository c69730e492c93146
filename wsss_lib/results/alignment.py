"""Notebook 04's claims and verdicts, from the rows of :mod:`wsss_lib.studies.alignment`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.paper import PAPER_ALIGNMENT
from wsss_lib.results.claims import best_claim, finite_or_minus_inf, paired_claim
from wsss_lib.results.method import chance_note, claim_sentences, untrained_sentence
from wsss_lib.results.tables import format_mean_std
from wsss_lib.studies.alignment import ALIGNMENT_LABELS, ALIGNMENT_VARIANTS

__all__ = ["alignment_claims", "alignment_verdicts"]


def alignment_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Notebook 04's claims: global cosine is the best alignment (of the teacher-student variants
    that were run); it beats spatial-wise and channel-wise alignment; the projection helps; L1 /
    L2 lose under co-training. Each claim lists the variants it compares
    (``"rows"``)."""
    present = list(dict.fromkeys(row["name"] for row in rows))
    labels = ALIGNMENT_LABELS
    claims = []
    others = [v for v in present if v != "global_cosine" and not v.startswith("co_training")]
    if "global_cosine" in present and others:
        claims.append({**best_claim(rows, "global_cosine", others,
                                    "Global cosine is the best alignment (paper)", labels),
                       "rows": ("global_cosine", *others)})
    # With the score map (one channel) as target, channel cosine is global cosine and spatial
    # cosine has no gradient (section 1 of notebook 04): the levels differ only on features.
    levels = [v for v in ("features_spatial_cosine", "features_channel_cosine") if v in present]
    if "features_global_cosine" in present and levels:
        claims.append({**best_claim(rows, "features_global_cosine", levels,
                                    "Global alignment beats spatial-wise and channel-wise "
                                    "(paper; cosine on the teacher's layer3 features)", labels),
                       "rows": ("features_global_cosine", *levels)})
    if "global_cosine" in present and "no_projection_score_maps" in present:
        claims.append({**paired_claim(rows, "global_cosine", "no_projection_score_maps",
                                      "The feature projection helps (paper): global cosine with "
                                      "the projection beats aligning the student's score map "
                                      "without one"),
                       "rows": ("global_cosine", "no_projection_score_maps")})
    co = [v for v in ("co_training_l1_raw", "co_training_l2_raw") if v in present]
    if "co_training_cosine" in present and co:
        claims.append({**best_claim(rows, "co_training_cosine", co,
                                    "L1 and L2 lose to cosine under co-training (paper)", labels),
                       "rows": ("co_training_cosine", *co)})
    return claims


def alignment_verdicts(
    summary: Mapping[str, Mapping[str, float]], rows: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Notebook 04's conclusions: which students stayed at chance, the paired claims (*not
    judged* where one at chance is involved), the best variant, the one-channel equivalence of
    global and channel cosine (when both ran), and the range of CAM mass on chimneys."""
    labels = ALIGNMENT_LABELS
    present = [k for k in summary if k in ALIGNMENT_VARIANTS]
    if not present:
        raise ValueError(f"No alignment variant in the summary; expected some of "
                         f"{list(ALIGNMENT_VARIANTS)}.")

    def chance(name: str) -> str:
        note = chance_note(summary[name])
        return f", {note}" if note else ""

    out = untrained_sentence({k: summary[k] for k in present}, labels)
    out += claim_sentences(alignment_claims(rows), summary, labels)
    best = max(present, key=lambda k: finite_or_minus_inf(summary[k]["smoke_iou"]))
    out.append(f"Best mean alignment here: {labels[best]} "
               f"({format_mean_std(summary[best], 'smoke_iou')} %{chance(best)}); the paper's "
               f"best is global cosine on the score map "
               f"({PAPER_ALIGNMENT['global_cosine']['smoke_iou']:.2f} %, real data).")
    if "global_cosine" in summary and "channel_cosine" in summary:
        gap = abs(summary["global_cosine"]["smoke_iou"] - summary["channel_cosine"]["smoke_iou"])
        out.append(
            "Global and channel cosine on the one-channel score map give identical smoke IoU, "
            "as they must (one channel: the same vector)." if gap < 1e-9 else
            f"Global and channel cosine on the score map differ by {100 * gap:.2f} points, "
            "although with a one-channel map they are the same loss: numerical noise."
        )
    least = min(present, key=lambda k: summary[k]["cam_chimney_mass"]
                if math.isfinite(summary[k]["cam_chimney_mass"]) else math.inf)
    most = max(present, key=lambda k: finite_or_minus_inf(summary[k]["cam_chimney_mass"]))
    out.append(f"CAM mass on chimneys ranges from "
               f"{format_mean_std(summary[least], 'cam_chimney_mass')} % ({labels[least]}"
               f"{chance(least)}) to {format_mean_std(summary[most], 'cam_chimney_mass')} % "
               f"({labels[most]}{chance(most)}).")
    return out
