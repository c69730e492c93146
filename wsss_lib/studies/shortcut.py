"""Notebook 09's question: does the teacher-student suppress the chimney shortcut where it exists?

Notebooks 02–06 train at ``P(chimney | smoke) = P(chimney | clean) = 0.50``, where a chimney
says nothing about smoke; there is no shortcut to suppress there. This study trains the paper's
headline rows at *coupled* levels (:data:`SHORTCUT_ROWS`, e.g. 0.65 / 0.35 and 0.75 / 0.25: a
chimney is evidence of smoke, yet smoke can still be learned), over enough paired seeds to decide,
and measures the shortcut on ``test_decoupled`` (smoke never at a chimney, every clean image with
one) beside smoke IoU and the boundary F-score.

- :func:`level_settings`: the method settings at another training level (the same recipe, so
  a level's rows share their cache entries with notebooks 01–02 where those train it).
- :func:`shortcut_configs`: one seed's rows at one level; ``ts_teacher_050`` is the
  teacher-student whose teacher was trained at 0.50 / 0.50 (``TrainConfig.teacher_data``): does
  the student inherit its teacher's shortcut, or the data's?
- :func:`run_shortcut`: every level × seed × row, trained or loaded, measured by
  :func:`wsss_lib.studies.measure.evaluate_run`; one row per (level, row, seed), named
  ``"<row>@<P(chimney|smoke)>"``.
- :func:`decoupled_val` / :func:`level_check`: how the levels are justified on ``val`` only:
  the single CNN's accuracy on a *decoupled* validation set (the ``val`` seeds with the shortcut
  broken as in ``test_decoupled``), so no test image chooses anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from wsss_lib.studies.bias import level_label
from wsss_lib.studies.configs import data_spec, single_config, teacher_student_config
from wsss_lib.studies.measure import train_and_evaluate
from wsss_lib.train import TrainConfig

__all__ = [
    "DECOUPLED_TEACHER_LEVEL",
    "SHORTCUT_ROWS",
    "SHORTCUT_SHORT",
    "decoupled_val",
    "level_check",
    "level_check_config",
    "level_settings",
    "row_name",
    "run_shortcut",
    "shortcut_configs",
    "shortcut_plan",
    "split_row_name",
    "readout_by_seed",
]

#: Rows of notebook 09: name -> what it is.
SHORTCUT_ROWS = {
    "single_cnn": "single CNN (ResNet; also the teacher)",
    "single_vit": "single ViT",
    "ts_cnn_to_vit": "teacher-student CNN→ViT (paper; teacher trained on the same data)",
    "ts_teacher_050": "teacher-student CNN→ViT, teacher trained at 0.50/0.50",
}

#: Short labels for plot axes.
SHORTCUT_SHORT = {
    "single_cnn": "CNN (= teacher)",
    "single_vit": "ViT",
    "ts_cnn_to_vit": "TS CNN→ViT",
    "ts_teacher_050": "TS, 0.50 teacher",
}

#: Where the teacher of ``ts_teacher_050`` was trained: no shortcut in its data.
DECOUPLED_TEACHER_LEVEL = (0.5, 0.5)


def row_name(row: str, level: Sequence[float]) -> str:
    """``"ts_cnn_to_vit@0.75"``: a row at a level (its ``P(chimney | smoke)``)."""
    return f"{row}@{float(level[0]):.2f}"


def split_row_name(name: str) -> tuple[str, float]:
    """``"ts_cnn_to_vit@0.75"`` -> ``("ts_cnn_to_vit", 0.75)``."""
    row, _, level = name.rpartition("@")
    return row, float(level)


def level_settings(S: Mapping[str, Any], level: Sequence[float]) -> dict[str, Any]:
    """``S`` with ``train_level`` set to ``level`` (``[P(chimney|smoke), P(chimney|clean)]``)."""
    if len(level) != 2 or not all(0.0 <= float(p) <= 1.0 for p in level):
        raise ValueError(f"A level is [P(chimney|smoke), P(chimney|clean)] in [0, 1]; got "
                         f"{list(level)!r}.")
    return {**S, "train_level": [float(level[0]), float(level[1])]}


def shortcut_configs(
    S: Mapping[str, Any], level: Sequence[float], seed: int, rows: Sequence[str]
) -> dict[str, TrainConfig]:
    """The ``rows`` (:data:`SHORTCUT_ROWS`) of one seed trained at ``level``, named by
    :func:`row_name`.

    ``single_cnn``, ``single_vit`` and ``ts_cnn_to_vit`` are notebook 02's configs at that level
    (:func:`wsss_lib.studies.paradigms.paradigm_configs`); ``ts_teacher_050`` is the same
    student with a teacher trained on the same seed's data at :data:`DECOUPLED_TEACHER_LEVEL`.
    """
    unknown = [r for r in rows if r not in SHORTCUT_ROWS]
    if unknown:
        raise ValueError(f"Unknown rows {unknown}; choose from {list(SHORTCUT_ROWS)}.")
    at = level_settings(S, level)
    builders = {
        "single_cnn": lambda: single_config(at, "cnn", seed),
        "single_vit": lambda: single_config(at, "vit", seed),
        "ts_cnn_to_vit": lambda: teacher_student_config(at, seed),
        "ts_teacher_050": lambda: replace(
            teacher_student_config(at, seed),
            teacher_data=data_spec(level_settings(S, DECOUPLED_TEACHER_LEVEL), seed)),
    }
    return {row_name(r, level): builders[r]() for r in rows}


def shortcut_plan(S: Mapping[str, Any]) -> list[tuple[list[float], list[str], list[int]]]:
    """What notebook 09 trains: ``(level, rows, seeds)`` groups. The headline rows (``S.rows``)
    run for every seed of ``S.seeds`` at every level of ``S.train_levels``; the rows of
    ``S.teacher_rows`` (``ts_teacher_050``) for ``S.teacher_seeds`` at the coupled levels only."""
    plan = []
    for level in S["train_levels"]:
        plan.append((list(level), list(S["rows"]), [int(s) for s in S["seeds"]]))
        if float(level[0]) > float(level[1]) and S.get("teacher_rows"):
            plan.append((list(level), list(S["teacher_rows"]),
                         [int(s) for s in S["teacher_seeds"]]))
    return plan


def run_shortcut(
    S: Mapping[str, Any], sets: Mapping[str, Any], progress: bool = True
) -> list[dict[str, Any]]:
    """Every run of :func:`shortcut_plan`, trained (or loaded) and measured on ``sets``.

    Returns:
        ``{"name": "<row>@<level>", "row", "level", "seed", **ROW_METRICS}`` per run.
    """
    out: list[dict[str, Any]] = []
    for level, rows, seeds in shortcut_plan(S):
        runs = train_and_evaluate(
            lambda seed, rows=rows, level=level: shortcut_configs(S, level, seed, rows),
            seeds, sets, progress, readouts=S.get("cam_readouts"))
        for run in runs:
            row, _ = split_row_name(run["name"])
            out.append({**run, "row": row, "level": level_label(*map(float, level))})
    return out


def level_check_config(S: Mapping[str, Any], level: Sequence[float], seed: int) -> TrainConfig:
    """The single CNN of ``seed`` trained at ``level``: what :func:`level_check` measures."""
    return single_config(level_settings(S, level), "cnn", int(seed))


def decoupled_val(S: Mapping[str, Any]) -> Any:
    """The ``val`` scenes with the shortcut broken as in ``test_decoupled`` (smoke never at a
    chimney, every clean image with one): for choosing levels without looking at a test split."""
    from wsss_lib.data import load_split

    return load_split("val", image_size=S["image_size"], n_images=S["n_val"],
                      preset=S.get("scene_preset"), p_chimney_given_smoke=0.0,
                      p_chimney_given_clean=1.0)


def level_check(
    S: Mapping[str, Any], levels: Sequence[Sequence[float]], seed: int, val: Any, val_dec: Any,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """The single CNN of ``seed`` at each of ``levels``: accuracy on ``val`` (coupled like the
    benchmark) and on :func:`decoupled_val`, and their gap.

    Returns:
        ``[{"level", "accuracy_val", "accuracy_val_decoupled", "gap"}]`` (fractions).
    """
    from wsss_lib.train import get_or_train
    from wsss_lib.train.evaluate import classifier_accuracy

    out = []
    for level in levels:
        run = get_or_train(level_check_config(S, level, seed), progress=progress)
        acc, acc_dec = classifier_accuracy(run, val), classifier_accuracy(run, val_dec)
        out.append({"level": level_label(*map(float, level)), "accuracy_val": acc,
                    "accuracy_val_decoupled": acc_dec, "gap": acc - acc_dec})
    return out


def readout_by_seed(
    S: Mapping[str, Any], sets: Mapping[str, Any], row: str, level: Sequence[float],
    seeds: Sequence[int],
) -> list[dict[str, Any]]:
    """How each seed's ``row`` network at ``level`` reads on ``val``: its val accuracy, the
    read-out chosen there, and every candidate's best val IoU (for finding where the
    seed-to-seed spread comes from: the read-out, or the network).

    Returns:
        ``[{"seed", "accuracy_val", "chosen", "<candidate label>": val IoU, ...}]`` (fractions).
    """
    from wsss_lib.studies.measure import run_readout
    from wsss_lib.train import CamReadout, get_or_train
    from wsss_lib.train.evaluate import classifier_accuracy

    out = []
    for seed in seeds:
        config = shortcut_configs(S, level, int(seed), [row])[row_name(row, level)]
        run = get_or_train(config, progress=False)
        readout, choice = run_readout(run, sets, S.get("cam_readouts"))
        entry: dict[str, Any] = {"seed": int(seed),
                                 "accuracy_val": classifier_accuracy(run, sets["val"]),
                                 "chosen": readout.label}
        for candidate in (choice or {}).get("candidates", []):
            label = CamReadout(candidate["method"], layers=candidate.get("layers")).label
            entry[label.split(" >")[0]] = float(candidate["val_iou"])
        out.append(entry)
    return out
