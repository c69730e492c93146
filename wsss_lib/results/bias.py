"""Notebook 01's summaries, table, findings and ``metrics.json``, from the rows of
:mod:`wsss_lib.studies.bias`.

:func:`summarize_sweep` gives the mean and standard deviation over seeds per (architecture,
level); :func:`sweep_curves` the seed-averaged threshold sweeps; :func:`bias_findings` plain
sentences computed from the numbers, true whichever way they came out; :func:`bias_document`
the notebook's ``metrics.json`` (fractions converted to %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wsss_lib.metrics import SweepResult
from wsss_lib.paper import PAPER_BIAS
from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.method import NEAR_CHANCE_ACCURACY, at_chance, chance_note
from wsss_lib.results.tables import markdown_table, percent
from wsss_lib.studies.bias import (
    ARCH_TITLES,
    ARCHS,
    DEFAULT_LEVELS,
    METRIC_KEYS,
    TEST_SPLITS,
    bias_model_config,
    cooccurrence_levels,
    level_label,
)

__all__ = [
    "NEAR_CHANCE_ACCURACY",
    "bias_document",
    "bias_findings",
    "bias_results",
    "gallery_readouts",
    "result_key",
    "summarize_sweep",
    "sweep_curves",
    "sweep_readouts",
    "sweep_table",
]

# Image-classification metrics: undefined for the supervised segmenter.
_CLASSIFIER_ONLY = ("accuracy", "accuracy_decoupled", "shortcut_gap", "train_accuracy")
# NEAR_CHANCE_ACCURACY (from wsss_lib.results.method, shared with 02-04): the test accuracy below
# which bias_findings calls a classifier untrained (chance is 0.5).

_CNN, _VIT, _SETR = (PAPER_BIAS[k]["smoke_iou"]
                     for k in ("resnet50_pcm", "vit", "fully_supervised_setr"))
# The paper's single networks as fractions of its fully supervised SETR.
_PAPER_FRACTIONS = (f"paper, real data: ResNet-50+PCM {_CNN:.2f} and ViT {_VIT:.2f} vs SETR "
                    f"{_SETR:.2f}, i.e. {100 * _CNN / _SETR:.0f} % and {100 * _VIT / _SETR:.0f} %")


def result_key(arch: str, p_smoke: float) -> str:
    """Row name in ``metrics.json``: ``"cnn@0.95"`` (the level's ``P(chimney | smoke)``)."""
    return f"{arch}@{p_smoke:.2f}"


def _scalar_keys(row: Mapping[str, Any]) -> list[str]:
    skip = {"arch", "model", "p_smoke", "p_clean", "strength", "level", "seed"}
    return [k for k, v in row.items() if k not in skip and isinstance(v, (int, float))]


def summarize_sweep(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds of every scalar metric, per (arch, level).

    Returns:
        One dict per (arch, level), ordered as the rows: the identifying keys, ``n_seeds``,
        ``seeds`` and for each scalar metric ``m``: ``m`` (mean) and ``m_std`` (population std,
        0 with one seed). ``sweep_ious`` is averaged over seeds too.
    """
    if not rows:
        raise ValueError("No rows to summarise; run run_bias_sweep(S) first.")
    groups: dict[tuple[str, float, float], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["arch"], row["p_smoke"], row["p_clean"]), []).append(row)
    summary = []
    for (arch, p_smoke, p_clean), members in groups.items():
        first = members[0]
        out: dict[str, Any] = {
            "arch": arch,
            "model": first["model"],
            "p_smoke": p_smoke,
            "p_clean": p_clean,
            "strength": first["strength"],
            "level": first["level"],
            "n_seeds": len(members),
            "seeds": [m["seed"] for m in members],
        }
        for key in _scalar_keys(first):
            values = np.array([float(m[key]) for m in members], dtype=float)
            finite = values[np.isfinite(values)]
            out[key] = float(finite.mean()) if finite.size else math.nan
            out[f"{key}_std"] = float(finite.std()) if finite.size else math.nan
        if "readout" in first:  # the CAM read-out chosen on val, per seed
            out["readouts"] = [m["readout"] for m in members]
        if "sweep_ious" in first:
            out["sweep_thresholds"] = list(first["sweep_thresholds"])
            out["sweep_ious"] = np.nanmean([m["sweep_ious"] for m in members], axis=0).tolist()
        summary.append(out)
    return summary


def _find(summary: Sequence[Mapping[str, Any]], arch: str, level: Sequence[float]):
    for row in summary:
        if row["arch"] == arch and (row["p_smoke"], row["p_clean"]) == tuple(level):
            return row
    return None


def sweep_curves(
    summary: Sequence[Mapping[str, Any]], level: Sequence[float]
) -> dict[str, SweepResult]:
    """Seed-averaged threshold sweeps (on ``test``) of each architecture at one level.

    The best threshold and IoU are read off the averaged curve; the oracle is the seed mean of
    the per-image oracle (an upper bound). Keys are ``"CNN (resnet18)"``-style titles.
    """
    (p_smoke, p_clean), = cooccurrence_levels([level])
    curves = {}
    for arch in ARCHS:
        row = _find(summary, arch, (p_smoke, p_clean))
        if row is None or "sweep_ious" not in row:
            continue
        ious = np.asarray(row["sweep_ious"], dtype=float)
        best = int(np.nanargmax(ious)) if np.isfinite(ious).any() else 0
        curves[f"{ARCH_TITLES[arch]} ({row['model']})"] = SweepResult(
            thresholds=np.asarray(row["sweep_thresholds"], dtype=float),
            ious=ious,
            best_threshold=float(row["sweep_thresholds"][best]),
            best_iou=float(ious[best]),
            oracle_iou=float(row["oracle_iou"]),
            n_smoke_images=int(row.get("n_smoke_images", 0)),
        )
    if not curves:
        raise ValueError(f"No sweep rows at level {level_label(p_smoke, p_clean)}.")
    return curves


def sweep_readouts(
    summary: Sequence[Mapping[str, Any]], level: Sequence[float]
) -> dict[str, str]:
    """The read-out of each curve of :func:`sweep_curves` (same keys): its ``CamReadout.label``
    chosen on ``val`` (e.g. ``"cam > 0.35"``), for the curves whose seeds were all read the
    same way (the sweep is averaged over seeds, so a curve read differently per seed has no one
    threshold to mark)."""
    (p_smoke, p_clean), = cooccurrence_levels([level])
    out = {}
    for arch in ARCHS:
        row = _find(summary, arch, (p_smoke, p_clean))
        labels = set((row or {}).get("readouts", ()))
        if row is not None and len(labels) == 1:
            out[f"{ARCH_TITLES[arch]} ({row['model']})"] = labels.pop()
    return out


def bias_results(
    summary: Sequence[Mapping[str, Any]],
    supervised: Mapping[str, Any] | None = None,
    baseline: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """The ``"results"`` section of ``metrics.json``: row name -> metrics in % (2 decimals).

    Rows are ``"cnn@0.95"``-style (see :func:`result_key`) plus ``"supervised"``. IoUs, rates,
    masses and accuracies are in %; ``*_std`` are standard deviations over seeds in points;
    ``fraction_of_supervised`` is the smoke IoU on ``test`` as % of the supervised reference's;
    thresholds stay in ``[0, 1]``. ``"whole_image_baseline"`` (when given) is the smoke IoU of
    calling every pixel smoke.
    """
    ref_iou = math.nan if supervised is None else float(supervised["smoke_iou"])
    results: dict[str, dict[str, Any]] = {}
    keys = [f"{m}{s}" for m in METRIC_KEYS for s in TEST_SPLITS.values()] + [
        "shortcut_gap", "train_accuracy", "best_threshold_iou", "oracle_iou"
    ]
    for row in summary:
        out: dict[str, Any] = {"model": row["model"], "level": row["level"],
                               "n_seeds": row["n_seeds"]}
        for key in keys:
            out[key] = percent(row.get(key))
            if row.get(f"{key}_std") is not None and row["n_seeds"] > 1:
                out[f"{key}_std"] = percent(row[f"{key}_std"])
        out["best_threshold"] = row["best_threshold"]
        if "readouts" in row:  # chosen on val: the map and its threshold (in [0, 1])
            out["readout_per_seed"] = list(row["readouts"])
            out["threshold"] = row.get("threshold")
        if "smoke_iou_score_map" in row:
            out["smoke_iou_score_map"] = percent(row["smoke_iou_score_map"])
        out["fraction_of_supervised"] = percent(row["smoke_iou"] / ref_iou) if ref_iou else None
        results[result_key(row["arch"], row["p_smoke"])] = out
    if supervised is not None:
        results["supervised"] = {
            "model": supervised["model"],
            "level": supervised["level"],
            "threshold": supervised["threshold"],
            **{k: percent(supervised.get(k)) for k in keys if k not in _CLASSIFIER_ONLY},
        }
    if baseline is not None:
        results["whole_image_baseline"] = {k: percent(v) for k, v in baseline.items()}
    return results


def bias_document(
    S: Mapping[str, Any],
    summary: Sequence[Mapping[str, Any]],
    supervised: Mapping[str, Any] | None,
    findings: Sequence[str] = (),
    baseline: Mapping[str, float] | None = None,
) -> MetricsDocument:
    """The whole ``metrics.json`` of notebook 01: results in %, the paper's numbers, notes."""
    cnn = bias_model_config(S, "cnn", *DEFAULT_LEVELS[0], seed=0)
    vit = bias_model_config(S, "vit", *DEFAULT_LEVELS[0], seed=0)
    setup = (
        f"Ours: synthetic scenes at {S['image_size']} px, {S['n_train']} training images per "
        f"level, {S['n_test']} images in each of test and test_decoupled; networks trained "
        f"{'from the proxy pre-training' if S.get('proxy_pretrain') else 'from scratch'} "
        f"(CNN {cnn.model.name}: {cnn.epochs} epoch(s) at lr {cnn.model.lr or cnn.lr:g}; ViT "
        f"{vit.model.name}: {vit.epochs} epoch(s) at lr {vit.model.lr or vit.lr:g}); seeds "
        f"{list(S['seeds'])} "
        "(mean; *_std = std over seeds). Row 'cnn@0.95' = trained at P(chimney|smoke)=0.95, "
        "see its 'level'."
    )
    cut = (
        "pseudo-mask = each network's CAM read-out (map and threshold, readout_per_seed, "
        "threshold) chosen on val among settings.cam_readouts, min-max normalised; "
        f"smoke_iou_score_map = the score-map CAM > {S['threshold']}"
        if S.get("cam_readouts") else f"pseudo-mask = min-max normalised CAM > {S['threshold']}")
    units = (
        "IoU, rates, CAM mass and accuracies in % (2 decimals); smoke IoU per image averaged over "
        f"smoke images, {cut}; the supervised "
        "reference thresholds its probability at 0.5. fraction_of_supervised = smoke IoU on test "
        "as % of the supervised reference's; best_threshold is in [0, 1] and optimistic "
        "(chosen on test); oracle_iou is a per-image upper bound."
    )
    paper = (
        "Paper numbers: smoke IoU in % on real IJmond data at 512 px with ImageNet-pretrained "
        "ResNet-50+PCM, ViT-B/16 and SETR (Zhang & Hsu 2025); not comparable in value."
    )
    return MetricsDocument(
        notebook="01_co_occurrence_bias",
        profile=str(S.get("profile", "")),
        results=bias_results(summary, supervised, baseline),
        paper=PAPER_BIAS,
        notes=[setup, units, paper, *findings],
        settings={k: S[k] for k in ("cam_readouts", "vit_stem", "amp") if k in S},
    )


def sweep_table(
    summary: Sequence[Mapping[str, Any]], supervised: Mapping[str, Any] | None = None
) -> str:
    """A Markdown table of the sweep in % (mean ± std over seeds when there are several); a
    classifier at chance on ``test`` is labelled ``(at chance)``."""
    columns = [
        ("smoke_iou", "smoke IoU test"),
        ("smoke_iou_decoupled", "smoke IoU decoupled"),
        ("chimney_fp_rate_decoupled", "chimney FP decoupled"),
        ("cam_chimney_mass_decoupled", "CAM chimney mass decoupled"),
        ("accuracy", "acc. test"),
        ("accuracy_decoupled", "acc. decoupled"),
        ("shortcut_gap", "acc. gap"),
    ]

    def cell(row: Mapping[str, Any], key: str) -> str:
        value = row.get(key, math.nan)
        if value is None or not math.isfinite(value):
            return "–"
        std = row.get(f"{key}_std")
        if row.get("n_seeds", 1) > 1 and std is not None and math.isfinite(std):
            return f"{100 * value:.2f} ± {100 * std:.2f}"
        return f"{100 * value:.2f}"

    rows: dict[Any, Mapping[str, Any]] = {}
    labels: dict[Any, str] = {}
    for row in sorted(summary, key=lambda r: (ARCHS.index(r["arch"]), r["strength"])):
        rows[(row["arch"], row["level"])] = row
        labels[(row["arch"], row["level"])] = (f"{ARCH_TITLES[row['arch']]} ({row['model']})"
                                               f"{' (at chance)' if at_chance(row) else ''}")
    if supervised is not None:
        rows["supervised"] = supervised
        labels["supervised"] = f"fully supervised ({supervised['model']}, t=0.5)"
    return markdown_table(
        rows, {"level": "P(chim.\\|smoke)/P(chim.\\|clean)", **dict(columns)}, corner="model",
        labels=labels, cell=lambda row, key: row[key] if key == "level" else cell(row, key),
    )


def _trend(first: float, last: float, spread: float) -> tuple[str, int]:
    """Words for the change from ``first`` to ``last`` (fractions) and its sign (0: no change).

    A change within the seed spread ``spread``, or below 1 point, counts as no change.
    """
    values = f"({100 * first:.1f} -> {100 * last:.1f})"
    if not (math.isfinite(first) and math.isfinite(last)):
        return f"cannot be compared {values}: undefined at one end", 0
    delta = 100.0 * (last - first)
    if abs(delta) <= max(100.0 * spread, 1.0):
        return f"stays flat {values}", 0
    word = "rises" if delta > 0 else "falls"
    return f"{word} by {abs(delta):.1f} points {values}", 1 if delta > 0 else -1


_VERDICTS = {
    (True, True): "the shortcut shows up as expected, in the decisions and in the CAMs",
    (True, False): "the shortcut shows up in accuracy, but the CAMs do not move to the chimneys",
    (False, True): "the CAMs drift to the chimneys, but accuracy does not suffer from it",
    (False, False): "the expected shortcut does NOT show up",
}


def _accuracy_text(row: Mapping[str, Any]) -> str:
    accuracy = float(row["accuracy"])
    return f"{100 * accuracy:.0f} %" if math.isfinite(accuracy) else "undefined"


def _cam_number(row: Mapping[str, Any], text: str) -> str:
    """``text`` (a number of ``row``), followed by ``(at chance: ...)`` when its classifier is."""
    note = chance_note(row)
    return f"{text} ({note})" if note else text


def bias_findings(
    summary: Sequence[Mapping[str, Any]],
    supervised: Mapping[str, Any] | None = None,
    train_level: Sequence[float] = (0.95, 0.05),
    baseline: Mapping[str, float] | None = None,
) -> list[str]:
    """Plain-English sentences computed from the numbers, true whichever way they came out.

    Covers, per architecture: the levels where the classifier stayed near chance on ``test``
    (accuracy below ``NEAR_CHANCE_ACCURACY``: there its CAMs describe an untrained network);
    whether the accuracy gap (test - test_decoupled) and the CAM chimney mass grow from the
    weakest to the strongest co-occurrence (a change within the seed spread, or below 1 point,
    is reported as flat); the smoke IoU at ``train_level`` as a fraction of the fully supervised
    reference and against the ``baseline`` of calling the whole image smoke; and whether the CNN
    beats the ViT as in the paper.

    A network at chance gets no verdict: the trend of an architecture with a network at chance at
    either end, and the CNN-vs-ViT comparison with one at chance, say *not judged* instead; every
    CAM number of a network at chance is followed by ``(at chance: NN % accuracy on test)``.
    """
    sentences = []
    for arch in ARCHS:
        rows = sorted((r for r in summary if r["arch"] == arch), key=lambda r: r["strength"])
        if not rows:
            continue
        name = f"{ARCH_TITLES[arch]} ({rows[0]['model']})"
        untrained = [r for r in rows if at_chance(r)]
        if untrained:
            where = ", ".join(f"{r['level']} ({100 * r['accuracy']:.0f} %)" for r in untrained)
            sentences.append(
                f"{name} stayed near chance on test at {where}: it did not learn to recognise "
                "smoke there in this training budget, so its CAM numbers at those levels describe "
                "an untrained network, not a shortcut-free one."
            )
        if len(rows) < 2:
            continue
        weak, strong = rows[0], rows[-1]
        span = f"from {weak['level']} to {strong['level']}"

        def spread(key: str, weak=weak, strong=strong) -> float:
            return max(weak.get(f"{key}_std", 0.0) or 0.0, strong.get(f"{key}_std", 0.0) or 0.0)

        gap, gap_sign = _trend(weak["shortcut_gap"], strong["shortcut_gap"],
                               spread("shortcut_gap"))
        mass, mass_sign = _trend(weak["cam_chimney_mass_decoupled"],
                                 strong["cam_chimney_mass_decoupled"],
                                 spread("cam_chimney_mass_decoupled"))
        ends = [r for r in (weak, strong) if at_chance(r)]
        if ends:
            where = " and ".join(f"at {r['level']} ({_accuracy_text(r)} accuracy on test)"
                                 for r in ends)
            verdict = (f"; not judged: the network is at chance {where}, and an untrained "
                       "network has no shortcut to measure")
        else:
            verdict = ": " + _VERDICTS[(gap_sign > 0, mass_sign > 0)]
        sentences.append(
            f"{name}: {span}, the accuracy gap test - test_decoupled {gap}, and the CAM mass "
            f"on chimneys in test_decoupled {mass}{verdict}."
        )
    level = tuple(float(p) for p in train_level)
    cnn, vit = _find(summary, "cnn", level), _find(summary, "vit", level)
    if supervised is not None and math.isfinite(supervised["smoke_iou"]):
        ref = supervised["smoke_iou"]
        parts = []
        for row in (cnn, vit):
            if row is not None and ref > 0:
                parts.append(_cam_number(row, f"{ARCH_TITLES[row['arch']]} "
                                              f"{100 * row['smoke_iou']:.1f} % "
                                              f"({100 * row['smoke_iou'] / ref:.0f} % of it)"))
        sentences.append(
            f"At {level_label(*level)}, the fully supervised {supervised['model']} reaches "
            f"{100 * ref:.1f} % smoke IoU on test ({100 * supervised['smoke_iou_decoupled']:.1f} "
            "% on test_decoupled); the CAMs reach " + ", ".join(parts) + f" ({_PAPER_FRACTIONS})."
        )
    if baseline is not None and math.isfinite(baseline["smoke_iou"]):
        trivial = baseline["smoke_iou"]
        parts = [
            _cam_number(row, f"the {ARCH_TITLES[row['arch']]} CAM {100 * row['smoke_iou']:.1f} % "
                             f"({'above' if row['smoke_iou'] > trivial else 'NOT above'} it)")
            for row in (cnn, vit) if row is not None
        ]
        sentences.append(
            f"Calling the whole image smoke scores {100 * trivial:.1f} % smoke IoU on test; at "
            f"{level_label(*level)} " + " and ".join(parts) + "."
        )
    if cnn is not None and vit is not None:
        diff = 100 * (cnn["smoke_iou"] - vit["smoke_iou"])
        noise = 100 * max(cnn.get("smoke_iou_std", 0.0), vit.get("smoke_iou_std", 0.0))
        untrained = [row for row in (cnn, vit) if at_chance(row)]
        if untrained:
            who = " and the ".join(f"{ARCH_TITLES[row['arch']]} ({_accuracy_text(row)} accuracy "
                                   "on test)" for row in untrained)
            claim = (f"not judged, the {who} {'is' if len(untrained) == 1 else 'are'} at chance "
                     f"(smoke IoU: CNN {100 * cnn['smoke_iou']:.1f} %, ViT "
                     f"{100 * vit['smoke_iou']:.1f} %)")
        elif not math.isfinite(diff):
            claim = "CNN and ViT cannot be compared (undefined smoke IoU)"
        elif abs(diff) <= max(noise, 1.0):
            claim = "CNN and ViT are on par (within noise)"
        elif diff > 0:
            claim = f"CNN beats the ViT by {diff:.1f} points, as in the paper"
        else:
            claim = (f"the ViT beats the CNN by {-diff:.1f} points, unlike the paper "
                     "(whose CNN has PCM and ImageNet weights)")
        sentences.append(f"Smoke IoU of the CAMs at {level_label(*level)}: {claim}.")
    return sentences


def gallery_readouts(
    summary: Sequence[Mapping[str, Any]],
    models: Sequence[tuple[str, Sequence[float]]],
    seed: int = 0,
) -> dict[str, str]:
    """The CAM read-out of each gallery column of :func:`wsss_lib.studies.bias.gallery_maps`.

    Args:
        summary: From :func:`summarize_sweep` (its ``readouts``, one per seed, are the read-outs
            chosen on ``val``, ``CamReadout.label`` strings such as ``"cam > 0.35"``).
        models: The ``(arch, level)`` pairs the gallery shows (``gallery_maps``' ``models``).
        seed: The training seed the gallery shows.

    Returns:
        Column title (``"ViT CAM @0.95/0.05"``, as ``gallery_maps`` names it) -> read-out label;
        columns whose read-out the summary does not hold (no ``cam_readouts``) are left out.
    """
    out = {}
    for arch, level in models:
        (p_smoke, p_clean), = cooccurrence_levels([level])
        row = _find(summary, arch, (p_smoke, p_clean))
        if row is None or "readouts" not in row or int(seed) not in row["seeds"]:
            continue
        title = f"{ARCH_TITLES[arch]} CAM @{level_label(p_smoke, p_clean)}"
        out[title] = row["readouts"][list(row["seeds"]).index(int(seed))]
    return out
