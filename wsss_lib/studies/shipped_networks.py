"""The networks a profile's notebooks read, and among them the set the kit ships trained.

The default report (``make report``, profile ``tutorial``) runs notebooks 01, 02, 05, 06 and 07
on networks trained by the full profile and shipped with the kit
(:mod:`wsss_lib.train.shipped`). :func:`tutorial_networks` builds, with the notebooks' own config
builders, every :class:`~wsss_lib.train.TrainConfig` those notebooks ask the cache for, so
``scripts/export_checkpoints.py`` exports exactly these and a test fails when a shipped file no
longer matches a key its profile builds. :func:`profile_networks` does the same for every
notebook that trains on the synthetic benchmark (01–04, 09 besides the tutorial's): the full
profile's cache keys are pinned by a test with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from wsss_lib.profiles import PROFILE_NOTEBOOKS, notebook_settings
from wsss_lib.studies.bias import bias_model_config, cooccurrence_levels, supervised_config
from wsss_lib.studies.configs import method_settings, single_config, teacher_student_config
from wsss_lib.studies.paradigms import paradigm_configs
from wsss_lib.train import TrainConfig, run_dir_for

__all__ = ["TRAINING_NOTEBOOKS", "TUTORIAL_NOTEBOOKS", "profile_networks",
           "tutorial_networks"]

#: The notebooks of the default report: they read only networks the kit can ship.
TUTORIAL_NOTEBOOKS = PROFILE_NOTEBOOKS["tutorial"]
#: The notebooks whose networks :func:`profile_networks` knows (notebook 08 trains on your data,
#: notebook 10 on pseudo-masks: their keys hold the data's fingerprint).
TRAINING_NOTEBOOKS = ("01_co_occurrence_bias", "02_teacher_student", "03_lambda_sensitivity",
                      "04_alignment_variants", "05_cam_fusion", "06_postprocessing_failures",
                      "07_cam_explorer", "09_shortcut_claims")


def tutorial_networks(
    profile: str = "tutorial", notebooks: Sequence[str] = TUTORIAL_NOTEBOOKS
) -> dict[str, TrainConfig]:
    """Cache folder name -> config of every network the tutorial's ``notebooks`` read under
    ``profile`` (:func:`profile_networks`)."""
    unknown = [n for n in notebooks if n not in TUTORIAL_NOTEBOOKS]
    if unknown:
        raise ValueError(f"tutorial_networks does not know notebook {unknown[0]!r}; it knows "
                         f"{list(TUTORIAL_NOTEBOOKS)}.")
    return profile_networks(profile, notebooks)


def profile_networks(
    profile: str = "full", notebooks: Sequence[str] = TRAINING_NOTEBOOKS
) -> dict[str, TrainConfig]:
    """Cache folder name -> config of every network ``notebooks`` read under ``profile``,
    teachers of teacher-student runs included, in the order first read.

    Raises:
        ValueError: for a notebook this function does not know.
    """
    from wsss_lib.studies.alignment import alignment_config
    from wsss_lib.studies.lambda_sweep import lambda_configs
    from wsss_lib.studies.shortcut import level_check_config, shortcut_configs, shortcut_plan

    configs: list[TrainConfig] = []
    for notebook in notebooks:
        if notebook == "01_co_occurrence_bias":
            S = notebook_settings(notebook, profile)
            for p_smoke, p_clean in cooccurrence_levels(S["train_levels"]):
                for arch in ("cnn", "vit"):
                    configs += [bias_model_config(S, arch, p_smoke, p_clean, int(seed))
                                for seed in S["seeds"]]
            configs.append(supervised_config(S))
        elif notebook == "02_teacher_student":
            S = method_settings(profile, notebook)
            for seed in S["seeds"]:
                configs += list(paradigm_configs(S, int(seed)).values())
        elif notebook == "03_lambda_sensitivity":
            S = method_settings(profile, notebook)
            for seed in S["seeds"]:
                configs += list(lambda_configs(S, S["lams"], int(seed)).values())
        elif notebook == "04_alignment_variants":
            S = method_settings(profile, notebook)
            configs += [alignment_config(S, v, int(seed))
                        for seed in S["seeds"] for v in S["variants"]]
        elif notebook == "09_shortcut_claims":
            S = method_settings(profile, notebook)
            for level, rows, seeds in shortcut_plan(S):
                for seed in seeds:
                    configs += list(shortcut_configs(S, level, seed, rows).values())
            configs += [level_check_config(S, level, S["seeds"][0])
                        for level in S["candidate_train_levels"]]
        elif notebook == "05_cam_fusion":
            S = method_settings(profile, notebook)
            configs += [single_config(S, "vit", S["train_seed"]),
                        teacher_student_config(S, S["train_seed"])]
        elif notebook == "06_postprocessing_failures":
            S = method_settings(profile, notebook)
            configs.append(teacher_student_config(S, S["train_seed"]))
        elif notebook == "07_cam_explorer":
            S = method_settings(profile, notebook)
            rows = paradigm_configs({**S, "paradigms": None}, S["train_seed"])
            configs += [rows[name] for name in S["ensure_models"]]
        else:
            raise ValueError(f"profile_networks does not know notebook {notebook!r}; it knows "
                             f"{list(TRAINING_NOTEBOOKS)}.")
    out: dict[str, TrainConfig] = {}
    for config in configs:
        for each in ([config.teacher_config()]
                     if config.rules.needs_trained_teacher else []) + [config]:
            out.setdefault(run_dir_for(each).name, each)
    return out
