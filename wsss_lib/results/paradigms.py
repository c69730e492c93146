"""Notebook 02's claims and verdicts, from the rows of :mod:`wsss_lib.studies.paradigms`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.paper import PAPER_PARADIGMS
from wsss_lib.results.claims import finite_or_minus_inf, paired_claim
from wsss_lib.results.tables import format_mean_std
from wsss_lib.studies.paradigms import PARADIGM_ROWS

__all__ = ["paradigm_claims", "paradigm_verdicts"]


def _paper(row: str) -> str:
    return f"{PAPER_PARADIGMS[row]['smoke_iou']:.2f}"


def paradigm_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The paper's claims that notebook 02 can test, each with its paired verdict."""
    ts = _paper("ts_cnn_to_vit")
    return [
        paired_claim(rows, "ts_cnn_to_vit", "single_vit",
                     f"Teacher-student (CNN→ViT) beats the single ViT (paper: {ts} vs "
                     f"{_paper('single_vit')})"),
        paired_claim(rows, "ts_cnn_to_vit", "single_cnn",
                     f"The student beats its teacher (paper: {ts} vs {_paper('single_cnn')})"),
        paired_claim(rows, "ts_cnn_to_vit", "co_training",
                     f"Teacher-student beats co-training (paper: {ts} vs "
                     f"{_paper('co_training')})"),
        paired_claim(rows, "ts_cnn_to_vit", "single_vit",
                     "Teacher-student moves CAM mass off chimneys (vs the single ViT)",
                     metric="cam_chimney_mass", expect="less"),
    ]


def paradigm_verdicts(
    summary: Mapping[str, Mapping[str, float]], rows: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Notebook 02's conclusions: the paper's claims with paired verdicts, then the best row."""
    out = [claim["sentence"] for claim in paradigm_claims(rows)]
    best = max(summary, key=lambda k: finite_or_minus_inf(summary[k]["smoke_iou"]))
    paper_best = max(PAPER_PARADIGMS, key=lambda k: PAPER_PARADIGMS[k]["smoke_iou"])
    out.append(f"Best smoke IoU here: {PARADIGM_ROWS.get(best, best)} "
               f"({format_mean_std(summary[best], 'smoke_iou')} %); the paper's best is "
               f"{PARADIGM_ROWS[paper_best].removesuffix(' (paper)')} ({_paper(paper_best)} %, "
               "real data).")
    return out
