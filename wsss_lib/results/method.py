"""What the method notebooks (02–04) share: their ``metrics.json`` (:func:`method_document`) and
the caveats every verdict of a notebook carries (01 uses them too).

- :func:`at_chance`, :func:`chance_note`, :func:`untrained_rows`, :func:`chance_labels`: a
  classifier whose accuracy on ``test`` stays below :data:`NEAR_CHANCE_ACCURACY` has not learned
  the label (the ``quick`` profile trains for seconds), so its CAM describes an untrained network:
  say so next to its numbers;
- :func:`claim_sentences`: the sentences of the paper's claims, with every claim that involves
  such a network *not judged* instead of given a verdict;
- :func:`single_seed_note`: verdicts from one seed say so, and point to the full profile's
  paired verdicts (``docs/results/full/<notebook>/``);
- :func:`seed_readouts`: each run's CAM read-out (map and threshold) of one seed, for the titles
  of a CAM gallery.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.data.splits import SPLIT_DEFAULTS
from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.tables import as_percent
from wsss_lib.studies.configs import OPTIONAL_TRAINING_KEYS, TRAINING_KEYS

__all__ = [
    "FULL_RESULTS_DIR",
    "NEAR_CHANCE_ACCURACY",
    "at_chance",
    "chance_labels",
    "chance_note",
    "claim_sentences",
    "method_document",
    "row_key",
    "seed_readouts",
    "single_seed_note",
    "untrained_rows",
    "untrained_sentence",
]

#: Test accuracy below which a classifier counts as untrained (chance is 0.5 on the balanced
#: test splits): its CAM says where an untrained network looks, not where smoke is.
NEAR_CHANCE_ACCURACY = 0.6

#: Where the committed results of the ``full`` profile live, one folder per notebook (the
#: executed notebook ``<notebook>.ipynb`` with its figures, and its ``metrics.json``).
FULL_RESULTS_DIR = "docs/results/full"


def at_chance(entry: Mapping[str, Any]) -> bool:
    """Whether a summary entry's (or row's) classifier stayed near chance: accuracy on ``test``
    below :data:`NEAR_CHANCE_ACCURACY` or undefined. Entries without an accuracy (e.g. a fully
    supervised segmenter) are never at chance."""
    if "accuracy" not in entry or entry["accuracy"] is None:
        return False
    accuracy = float(entry["accuracy"])
    return not accuracy >= NEAR_CHANCE_ACCURACY  # NaN counts as untrained


def chance_note(entry: Mapping[str, Any]) -> str:
    """``"at chance: 52 % accuracy on test"`` for an entry :func:`at_chance`, else ``""``."""
    if not at_chance(entry):
        return ""
    accuracy = float(entry["accuracy"])
    value = f"{100 * accuracy:.0f} %" if math.isfinite(accuracy) else "undefined"
    return f"at chance: {value} accuracy on test"


def untrained_rows(
    summary: Mapping[Any, Mapping[str, Any]], labels: Mapping[Any, str] | None = None
) -> dict[Any, str]:
    """Run name -> ``"single ViT 52 %"`` (label and test accuracy) for every entry of
    ``summary`` :func:`at_chance`."""
    labels = labels or {}
    out = {}
    for name, entry in summary.items():
        if at_chance(entry):
            accuracy = float(entry["accuracy"])
            value = f"{100 * accuracy:.0f} %" if math.isfinite(accuracy) else "undefined"
            out[name] = f"{labels.get(name, name)} {value}"
    return out


def chance_labels(
    summary: Mapping[Any, Mapping[str, Any]], labels: Mapping[Any, str] | None = None
) -> dict[Any, str]:
    """Table labels with ``" (at chance)"`` after every run :func:`at_chance`, so a table shows it
    next to the run's numbers."""
    labels = labels or {}
    return {name: f"{labels.get(name, name)}{' (at chance)' if at_chance(entry) else ''}"
            for name, entry in summary.items()}


def untrained_sentence(
    summary: Mapping[Any, Mapping[str, Any]], labels: Mapping[Any, str] | None = None
) -> list[str]:
    """One sentence naming the runs :func:`at_chance` (an empty list when none is)."""
    untrained = untrained_rows(summary, labels)
    if not untrained:
        return []
    named = ", ".join(untrained.values())
    accuracies = {f"{100 * float(summary[name]['accuracy']):.0f} %" for name in untrained}
    every = len(untrained) == len(summary)
    if every and len(accuracies) == 1 and len(untrained) > 1:
        named = f"{accuracies.pop()} each"
    who = "Every network here" if every else "Some networks"
    return [f"{who} stayed near chance on test (accuracy {named}; below "
            f"{100 * NEAR_CHANCE_ACCURACY:.0f} % counts as chance, which is 50 %): these "
            "networks did not learn to recognise smoke in this training budget (the `quick` "
            "profile, for one, trains for seconds), so their CAMs describe untrained networks "
            "and the claims that involve them are not judged."]


def claim_sentences(
    claims: Sequence[Mapping[str, Any]],
    summary: Mapping[Any, Mapping[str, Any]],
    labels: Mapping[Any, str] | None = None,
) -> list[str]:
    """Each claim's sentence, or, when one of the runs it compares (its ``"rows"``) stayed at
    chance, ``"<claim>: **not judged** — <run> at chance ..."`` instead of a verdict on
    untrained networks."""
    untrained = untrained_rows(summary, labels)
    every = bool(untrained) and len(untrained) == len(summary)
    out = []
    for claim in claims:
        names = [name for name in claim.get("rows", ()) if name in untrained]
        if names and every:
            out.append(f"{claim['claim']}: **not judged** — every network here is at chance on "
                       "test.")
        elif names:
            named = ", ".join(untrained[n] for n in names)
            out.append(f"{claim['claim']}: **not judged** — at chance on test (accuracy "
                       f"{named}), so there is no trained network to compare.")
        else:
            out.append(claim["sentence"])
    return out


def single_seed_note(notebook: str, seeds: Sequence[int]) -> list[str]:
    """A sentence for verdicts that rest on one seed (empty list with two seeds or more).

    It says that one seed gives no interval (every paired verdict is *inconclusive*, and a
    difference of a few points can be seed noise) and points to the ``full`` profile's results
    of ``notebook`` in :data:`FULL_RESULTS_DIR`, with the number of seeds that profile runs.
    """
    seeds = list(seeds)
    if len(seeds) > 1:
        return []
    from wsss_lib.studies.configs import method_settings  # results read no profile directly

    try:
        full_seeds = list(method_settings("full", notebook)["seeds"])
    except (KeyError, ValueError, OSError):  # no full profile (or no section): say less
        full_seeds = []
    where = f"`{FULL_RESULTS_DIR}/{notebook}/` (its `metrics.json` and executed notebook)"
    if len(full_seeds) > 1:
        full = (f"The full profile's paired verdicts ({len(full_seeds)} seeds, with 95 % "
                f"intervals) are in {where}.")
    else:
        full = (f"The full profile's run is in {where}; it uses one seed too, so rerun with "
                "`seeds=[0, 1, 2]` for a spread.")
    which = f"seed {seeds[0]}" if seeds else "no seed"
    return [f"These verdicts rest on one seed ({which}): with one seed no interval exists, a "
            f"difference of a few points can be seed noise, and no claim can be supported or "
            f"contradicted. {full}"]


def seed_readouts(rows: Sequence[Mapping[str, Any]], seed: int) -> dict[Any, str]:
    """Run name -> the CAM read-out (``CamReadout.label``, e.g. ``"cam > 0.35"``) chosen on
    ``val`` for ``seed``: the titles of a gallery that shows that seed's CAMs."""
    return {row["name"]: row["readout"] for row in rows
            if int(row["seed"]) == int(seed) and row.get("readout")}


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
