"""Notebook 06's tables, claims, verdicts and ``metrics.json``, from the rows of
:mod:`wsss_lib.studies.postprocessing`.

The paper's refinement claims are tested on per-image smoke IoU paired over images (a
percentile bootstrap, :func:`wsss_lib.stats.paired_bootstrap`): this speaks for the one model
whose CAMs were refined, not for training seeds. A claim whose pipeline did not run (CLIP or SAM
without weights) gets no verdict, and neither does any pipeline when the seed classifier is near
chance (:func:`wsss_lib.results.fusion.chance_lines`): its CAMs are then an untrained network's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wsss_lib.data.regions import REGIONS
from wsss_lib.metrics import per_image_iou_values
from wsss_lib.paper import PAPER_POSTPROCESS
from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.fusion import chance_lines, near_chance
from wsss_lib.results.tables import percent_text as _pct
from wsss_lib.results.tables import points_text as _points
from wsss_lib.studies.postprocessing import PipelineRun
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "PIPELINE_COLUMNS",
    "FIXED_COLUMNS",
    "NEAR_CHANCE_VERDICT",
    "PIPELINE_KEEP",
    "POSTPROCESS_CLAIMS",
    "postprocess_claims",
    "postprocess_document",
    "postprocess_verdicts",
]


def _before_after(name: str, before: str) -> str:
    """``"47.37 -> 52.52"``: the paper's smoke IoU before and after pipeline ``name``."""
    return (f"{PAPER_POSTPROCESS[before]['smoke_iou']:.2f} -> "
            f"{PAPER_POSTPROCESS[name]['smoke_iou']:.2f}")


#: Columns of the pipeline table (rows of
#: :func:`~wsss_lib.studies.postprocessing.run_pipelines`); dotted keys read ``fp_rate``.
PIPELINE_COLUMNS: dict[str, str] = {
    "smoke_iou": "smoke IoU",
    "gain_vs_none": "vs none (points)",
    "precision": "precision",
    "recall": "recall",
    **{f"fp_rate.{region}": f"{region} FP" for region in REGIONS},
    "threshold": "threshold",
    "seconds": "seconds",
}
#: Entries of a pipeline row kept in tables and ``metrics.json``.
PIPELINE_KEEP: tuple[str, ...] = (
    "status", "smoke_iou", "gain_vs_none", "precision", "recall", "fp_rate", "threshold",
    "fixed_threshold", "seconds",
)
#: The two read-outs side by side: each pipeline at its threshold chosen on val, and at the
#: fixed threshold (``run_pipelines(..., fixed_threshold=...)``; "–" for CRF outputs).
FIXED_COLUMNS: dict[str, str] = {
    "smoke_iou": "smoke IoU (threshold chosen on val)",
    "threshold": "threshold",
    "gain_vs_none": "vs none (points)",
    "fixed_threshold.smoke_iou": "smoke IoU at the fixed threshold",
    "fixed_threshold.gain_vs_none": "vs none at the fixed threshold (points)",
}
#: The verdict of a claim when the seed classifier is near chance.
NEAR_CHANCE_VERDICT = "not judged: the classifier is near chance"


#: The paper's claims about refinement: (pipeline, claim, expected sign of the IoU change).
POSTPROCESS_CLAIMS = (
    ("CRF", f"Dense CRF helps (paper: {_before_after('CRF', 'MS')} after multi-scale)",
     "greater"),
    ("AffinityNet", "Affinity refinement hurts (paper: "
     f"{PAPER_POSTPROCESS['AffinityNet']['smoke_iou_before']:.2f} -> "
     f"{PAPER_POSTPROCESS['AffinityNet']['smoke_iou']:.2f})", "less"),
    ("CLIP", "CLIP refinement hurts (paper: reported as a failure, without a number)", "less"),
)


def postprocess_claims(
    run: PipelineRun, scenes: Any, threshold: float = PAPER_THRESHOLD, accuracy: float | None = None
) -> list[dict[str, Any]]:
    """The paper's refinement claims, each tested on per-image smoke IoU paired over images.

    Each pipeline's pseudo-mask is cut at the ``threshold`` its row records (chosen on ``val``),
    else at ``threshold``.

    Every refined CAM and the unrefined one are scored on the same smoke images, so their
    per-image IoU differences are paired; a percentile bootstrap over images gives the 95 %
    interval (:func:`wsss_lib.stats.claim_verdict`). This speaks for the one model whose CAMs
    were refined, not for training seeds. A skipped pipeline (no weights) gets no verdict, and
    with ``accuracy`` (the seed classifier's test accuracy) near chance no claim is judged: the
    numbers are kept, the verdict is :data:`NEAR_CHANCE_VERDICT`.

    Returns:
        One dict per claim: ``claim``, ``verdict`` (or ``"skipped: ..."``), ``sentence`` and the
        interval in points.
    """
    from wsss_lib.stats import claim_verdict, paired_bootstrap

    if "none" not in run.cams:
        raise ValueError("postprocess_claims needs the 'none' pipeline as the baseline.")

    def ious(name: str) -> np.ndarray:  # at the pipeline's own threshold when it has one
        cut = run.rows.get(name, {}).get("threshold", threshold)
        return per_image_iou_values(run.cams[name] > cut, scenes.smoke_masks, scenes.labels)

    base = ious("none")
    untrained = bool(near_chance(None if accuracy is None else {"seed": accuracy}))
    claims = []
    for name, claim, expect in POSTPROCESS_CLAIMS:
        status = run.rows.get(name, {}).get("status", "not run")
        if name not in run.cams:
            claims.append({"claim": claim, "verdict": status,
                           "sentence": f"{claim}: not tested here ({status}), so this notebook "
                                       "draws no verdict on it."})
            continue
        keep = ~np.isnan(base)
        comparison = paired_bootstrap(100 * ious(name)[keep], 100 * base[keep])
        result = claim_verdict(f"{claim} — {name} vs none", comparison, expect=expect)
        result["differences"] = []  # per-image values are not worth storing
        if untrained:
            result["verdict"] = NEAR_CHANCE_VERDICT
            result["sentence"] = (
                f"{result['claim']}: **{NEAR_CHANCE_VERDICT}** (test accuracy "
                f"{100 * float(accuracy):.0f} %) — difference in smoke IoU "
                f"{comparison.mean:+.2f} points (95 % interval {comparison.low:+.2f} to "
                f"{comparison.high:+.2f}, n = {comparison.n}), from an untrained network.")
        claims.append(result)
    return claims


def _word(gain: float) -> str:
    return "helps" if gain > 0.005 else ("hurts" if gain < -0.005 else "changes little")


def postprocess_verdicts(
    run: PipelineRun, accuracy: float | None = None, model: str = "seed classifier"
) -> list[str]:
    """One sentence per pipeline that ran (or was skipped), from the measured numbers.

    Each compares the pipeline with ``"none"``: smoke IoU change, and the false-positive rates
    on sky and on clouds/haze that tell whether a refiner spread smoke into look-alikes. Rows
    with a ``fixed_threshold`` entry (:func:`~wsss_lib.studies.postprocessing.run_pipelines`)
    add a sentence where the fixed cut and the val-chosen one disagree on helps / hurts.

    Args:
        run: From :func:`~wsss_lib.studies.postprocessing.run_pipelines`.
        accuracy: Test accuracy of ``model``, the network whose CAMs were refined; near chance
            (:func:`~wsss_lib.results.fusion.chance_lines`) the sentences state the numbers but
            no "helps" / "hurts" and no best pipeline.
        model: Its name, for that sentence.
    """
    rows = run.rows
    if rows.get("none", {}).get("status") != "ok":
        raise ValueError("postprocess_verdicts needs the 'none' pipeline as the baseline.")
    base = rows["none"]
    untrained = accuracy is not None and bool(near_chance({model: accuracy}))
    lines = chance_lines({model: accuracy} if accuracy is not None else None)
    for name, row in rows.items():
        if name == "none":
            continue
        if row.get("status") != "ok":
            lines.append(f"{name}: {row['status']} (no number recorded).")
            continue
        gain = row["gain_vs_none"]
        verdict = "(no verdict: classifier near chance)" if untrained else _word(gain)
        extra = []
        for region in ("sky", "cloud/haze", "chimney"):
            before, after = base["fp_rate"][region], row["fp_rate"][region]
            if not (math.isnan(before) or math.isnan(after)) and after > before + 0.01:
                extra.append(f"{region} false positives {100 * before:.1f}% -> {100 * after:.1f}%")
        bleed = (f"; smoke {'bleeds' if not untrained else 'spreads'}: {', '.join(extra)}"
                 if extra else "")
        lines.append(
            f"{name} {verdict}: smoke IoU {_pct(base['smoke_iou'])} -> {_pct(row['smoke_iou'])} "
            f"({_points(gain)} points, thresholds {base['threshold']:g} -> "
            f"{row['threshold']:g}){bleed}."
        )
        fixed, base_fixed = row.get("fixed_threshold"), base.get("fixed_threshold")
        if not untrained and fixed and base_fixed and "gain_vs_none" in fixed:
            at_fixed = _word(fixed["gain_vs_none"])
            if at_fixed != verdict:
                lines.append(
                    f"The read-out matters for {name}: it {verdict} with thresholds chosen on val "
                    f"but {at_fixed} at the fixed {fixed['threshold']:g} (smoke IoU "
                    f"{_pct(base_fixed['smoke_iou'])} -> {_pct(fixed['smoke_iou'])}, "
                    f"{_points(fixed['gain_vs_none'])} points)."
                )
    ran = {n: r for n, r in rows.items() if r.get("status") == "ok"}
    best = max(ran, key=lambda n: ran[n]["smoke_iou"])
    if untrained:
        lines.append(f"Highest smoke IoU here: {best} ({_pct(ran[best]['smoke_iou'])}), from an "
                     "untrained network: not a ranking of the refiners.")
    else:
        lines.append(f"Best pipeline here: {best} (smoke IoU {_pct(ran[best]['smoke_iou'])}).")
    return lines


# ============================================================================ selection


def postprocess_document(
    S: Mapping[str, Any],
    table: Mapping[str, Any],
    claims: Sequence[Mapping[str, Any]],
    verdicts: Sequence[str],
    n_images: int,
    affinity: Any,
    n_fit: int,
    seed_cam: str | None = None,
    crf: Any = None,
    accuracy: float | None = None,
) -> MetricsDocument:
    """Notebook 06's ``metrics.json``.

    Args:
        S: The notebook's settings (``profile``, ``image_size``, ``seed_cam``, ``threshold``).
        table: The pipelines' rows in % (:data:`PIPELINE_KEEP` entries).
        claims: From :func:`postprocess_claims`.
        verdicts: The claims' sentences, then :func:`postprocess_verdicts`.
        n_images: Test images evaluated.
        affinity: The fitted :class:`~wsss_lib.postprocess.AffinityRefiner`.
        n_fit: Training images AffinityNet was fitted on.
        seed_cam: The seed CAM kind used (when ``S["seed_cam"]`` is ``"val"``: the one chosen).
        crf: The CRF step, or its input pipeline -> CRF step (each matched to its input).
        accuracy: Test accuracy of the seed classifier (stored in %, as a ``"classifier"`` row).
    """
    chosen = seed_cam or S["seed_cam"]
    how = " (chosen on val)" if S["seed_cam"] == "val" else ""
    cut = ("each pipeline's threshold chosen on val (its 'threshold' entry)"
           if S.get("choose_threshold") else f"threshold {S['threshold']}")
    results = dict(table)
    if accuracy is not None:
        results["classifier"] = {"accuracy": round(100 * float(accuracy), 2)}
    return MetricsDocument(
        notebook="06_postprocessing_failures",
        profile=str(S["profile"]),
        results=results,
        paper=PAPER_POSTPROCESS,
        claims=claims,
        notes=[
            *verdicts,
            "Smoke IoU, rates and gains in %. Ours: synthetic scenes, small networks, "
            f"{S['image_size']} px, {n_images} test images, seed CAM {chosen}{how}, {cut}.",
            "Paper: real IJmond data at 512 px; its AffinityNet row starts from a poorer seed "
            f"({PAPER_POSTPROCESS['AffinityNet']['smoke_iou_before']:.2f}), its MS row from "
            f"{PAPER_POSTPROCESS['MS']['smoke_iou_before']:.2f}; CLIP is reported as a failure "
            "without a number.",
            f"Smoke IoU at the fixed threshold {S['threshold']} (each row's 'fixed_threshold', "
            "not for CRF outputs) is shown beside the val-chosen read-out.",
            f"AffinityNet: fitted on {n_fit} training smoke images, pairs "
            f"{affinity.pair_counts}, settings {affinity.params()}.",
            *_crf_notes(crf),
        ],
    )


def _crf_notes(crf: Any) -> list[str]:
    if crf is None:
        return []
    if isinstance(crf, Mapping):
        powers = {name: round(step.bg_power, 3) for name, step in crf.items()}
        first = next(iter(crf.values()), None)
        kernel = ({k: first.params()[k] for k in ("bilateral_sxy", "bilateral_srgb")}
                  if first is not None else {})
        return ["CRF: bg_power matched to each input's threshold on val (its unary ties there), "
                f"posterior cut at 0.5; bg_power per input: {powers}; appearance kernel chosen on "
                f"val: {kernel}."]
    return [f"CRF: settings {crf.params()}."]
