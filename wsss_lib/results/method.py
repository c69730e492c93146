"""What the method notebooks (02–04) share in their ``metrics.json``: :func:`method_document`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.data.splits import SPLIT_DEFAULTS
from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.tables import as_percent
from wsss_lib.studies.configs import OPTIONAL_TRAINING_KEYS, TRAINING_KEYS

__all__ = ["method_document", "row_key"]


def row_key(name: Any) -> str:
    """A row name as ``metrics.json`` writes it: λ rows (floats) become ``"lam_0.3"``."""
    return f"lam_{name:g}" if isinstance(name, float) else str(name)


def method_document(
    notebook: str,
    profile: str,
    summary: Mapping[Any, Mapping[str, float]],
    paper: Mapping[Any, Any],
    notes: Sequence[str],
    settings: Mapping[str, Any],
    claims: Sequence[Mapping[str, Any]] = (),
    rows: Sequence[Mapping[str, Any]] = (),
) -> MetricsDocument:
    """The ``metrics.json`` of a method notebook: our rows in %, the paper's, notes, settings and
    the paper's claims with their paired verdicts (differences in points).

    Args:
        notebook: The notebook's stem.
        profile: The profile it ran with.
        summary: From :func:`~wsss_lib.results.tables.summarize` (fractions).
        paper: The paper's rows (``wsss_lib.paper``), keyed like ``summary``.
        notes: The verdict sentences; the units and the training level are put before them.
        settings: The notebook's settings; the training keys are recorded.
        claims: From the notebook's results module (e.g. ``paradigm_claims``).
        rows: The tidy rows the summary came from; each result row then lists the read-out
            chosen on ``val`` for every seed (``readout_per_seed``, in seed order).
    """
    train = SPLIT_DEFAULTS["train"]
    p_smoke, p_clean = settings.get("train_level") or (
        train["p_chimney_given_smoke"], train["p_chimney_given_clean"])
    results = {row_key(k): v for k, v in as_percent(summary).items()}
    for row in sorted((r for r in rows if "readout" in r), key=lambda r: r["seed"]):
        results[row_key(row["name"])].setdefault("readout_per_seed", []).append(row["readout"])
    chosen = settings.get("cam_readouts") is not None
    readout_note = (
        "smoke_iou (and every pseudo-mask metric) reads each run's CAM the way chosen on val: "
        "the candidate map (settings.cam_readouts) and threshold with the best smoke IoU on val "
        "(readout_per_seed); smoke_iou_score_map is the score-map CAM at the paper's 0.3."
        if chosen else "smoke_iou is per image over smoke images at threshold 0.3 on min-max "
        "normalised CAMs.")
    return MetricsDocument(
        notebook=notebook,
        profile=str(profile),
        results=results,
        paper={row_key(k): v for k, v in paper.items()},
        notes=[
            f"Our numbers: %, synthetic benchmark (trained at P(chimney|smoke)={p_smoke:g}, "
            f"P(chimney|clean)={p_clean:g}; test keeps 0.95/0.05, test_decoupled breaks the "
            "shortcut), mean and sample std over seeds (<metric>_std). Smoke IoU is per image "
            "over smoke images, on min-max normalised CAMs.",
            readout_note,
            "Paper numbers: smoke IoU %, real IJmond data, 512 px, ResNet-50+PCM / ViT-B/16.",
            *notes,
        ],
        claims=claims,
        settings={k: settings[k] for k in (*TRAINING_KEYS, *OPTIONAL_TRAINING_KEYS)
                  if k in settings},
    )
