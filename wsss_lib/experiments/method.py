"""The paper's method as experiments: teacher-student, λ sensitivity, alignment variants.

Notebooks 02–04 (and 05–07, which reuse the trained models) call this module. It holds:

- **Config builders** (:func:`teacher_config`, :func:`single_config`,
  :func:`teacher_student_config`, :func:`co_training_config`): one source for every model of the
  method, so a notebook asking for "the CNN teacher" builds the *same* :class:`TrainConfig` as
  every other notebook and :func:`wsss_lib.train.get_or_train` trains it once.
  :func:`method_settings` gives the training settings (image size, data, epochs, ...) that all of
  them share; they live in the profile section of ``02_teacher_student``.
- **Runs and summaries**: :func:`train_and_evaluate` trains (or loads) configs over seeds and
  measures each on ``test`` and ``test_decoupled``; :func:`summarize` gives mean ± std per row.
- **Verdicts**: sentences computed from the numbers, true whichever way the numbers go.
- **The paper's numbers** (:data:`PAPER_PARADIGMS`, :data:`PAPER_LAMBDA`,
  :data:`PAPER_ALIGNMENT`): smoke IoU in %, on real IJmond data at 512 px with ResNet-50+PCM and
  ViT-B/16. Ours come from small networks on the synthetic benchmark: compare trends, not values.

Units: rows and summaries hold fractions in ``[0, 1]``; :func:`as_percent` converts for tables
and ``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from wsss_lib.data.splits import SPLIT_DEFAULTS
from wsss_lib.experiments.settings import (
    TRAINING_SECTION,
    NotebookSettings,
    load_profile,
    notebook_settings,
    section_settings,
)
from wsss_lib.train import (
    DataSpec,
    KTSpec,
    ModelSpec,
    TrainConfig,
    TrainedRun,
    evaluate_model,
    get_or_train,
)
from wsss_lib.viz_cam import gallery_row_titles

__all__ = [
    "ALIGNMENT_LABELS",
    "ALIGNMENT_VARIANTS",
    "METHOD_NOTEBOOK",
    "METRIC_NAMES",
    "OPTIONAL_TRAINING_KEYS",
    "PAPER_ALIGNMENT",
    "PAPER_LAMBDA",
    "PAPER_PARADIGMS",
    "PARADIGM_ROWS",
    "PARADIGM_SHORT",
    "ROW_METRICS",
    "TRAINING_KEYS",
    "alignment_claims",
    "alignment_config",
    "alignment_verdicts",
    "as_percent",
    "co_training_config",
    "data_spec",
    "evaluate_run",
    "evaluation_sets",
    "gallery_cams",
    "gallery_row_titles",
    "gallery_scenes",
    "lambda_claims",
    "lambda_configs",
    "lambda_verdicts",
    "markdown_table",
    "metrics_document",
    "method_settings",
    "model_spec",
    "paired_claim",
    "paired_rows",
    "paradigm_claims",
    "paradigm_configs",
    "paradigm_verdicts",
    "projection_mismatch_error",
    "single_config",
    "summarize",
    "teacher_config",
    "teacher_student_config",
    "train_and_evaluate",
]

#: The notebook whose profile section holds the training settings every method model shares
#: (the profile loader's :data:`~wsss_lib.experiments.settings.TRAINING_SECTION`).
METHOD_NOTEBOOK = TRAINING_SECTION

#: Settings that determine a trained model; all of them come from :data:`METHOD_NOTEBOOK`.
TRAINING_KEYS = (
    "image_size",
    "n_train",
    "n_val",
    "n_test",
    "epochs",
    "batch_size",
    "lr",
    "cnn",
    "cnn_output_stride",
    "vit",
    "vit_patch_size",
)

#: Training settings a profile may leave out, with the value used then (the v1 recipe).
OPTIONAL_TRAINING_KEYS: dict[str, Any] = {
    "schedule": "constant",
    "augment": True,
    "weight_decay": 0.01,
    "pretrain": False,
    "scene_preset": None,
    "vit_lr": None,
    "train_level": None,
    "cnn_pcm": True,
}

#: Rows of notebook 02: name -> what it is.
PARADIGM_ROWS = {
    "single_cnn": "single CNN (ResNet; also the teacher)",
    "single_vit": "single ViT",
    "ts_cnn_to_vit": "teacher-student CNN→ViT (paper)",
    "ts_vit_to_cnn": "teacher-student ViT→CNN",
    "co_training": "co-training CNN+ViT",
}

#: Short labels of the rows for plot axes.
PARADIGM_SHORT = {
    "single_cnn": "CNN (= teacher)",
    "single_vit": "ViT",
    "ts_cnn_to_vit": "TS CNN→ViT",
    "ts_vit_to_cnn": "TS ViT→CNN",
    "co_training": "co-training",
}

#: Metrics measured per run (fractions in [0, 1]).
ROW_METRICS = (
    "smoke_iou",
    "precision",
    "recall",
    "chimney_fp_rate",
    "cam_chimney_mass",
    "accuracy",
    "smoke_iou_decoupled",
    "chimney_fp_rate_decoupled",
    "cam_chimney_mass_decoupled",
    "accuracy_decoupled",
    "shortcut_gap",
    "smoke_iou_val",
)

#: Readable names of :data:`ROW_METRICS` for sentences.
METRIC_NAMES = {
    "smoke_iou": "smoke IoU",
    "precision": "pixel precision",
    "recall": "pixel recall",
    "chimney_fp_rate": "chimney FP rate",
    "cam_chimney_mass": "CAM mass on chimneys",
    "accuracy": "accuracy on test",
    "smoke_iou_decoupled": "smoke IoU on test_decoupled",
    "chimney_fp_rate_decoupled": "chimney FP rate on test_decoupled",
    "cam_chimney_mass_decoupled": "CAM mass on chimneys in test_decoupled",
    "accuracy_decoupled": "accuracy on test_decoupled",
    "shortcut_gap": "accuracy gap test - test_decoupled",
    "smoke_iou_val": "smoke IoU on val (for choosing settings)",
}

# The paper's smoke IoU in % (arXiv 2507.21959, real IJmond data, 512 px, ResNet-50+PCM teacher,
# ViT-B/16 student, λ = 1, global cosine unless stated otherwise).
PAPER_PARADIGMS: dict[str, dict[str, float]] = {
    "single_cnn": {"smoke_iou": 33.56},
    "single_vit": {"smoke_iou": 13.18},
    "ts_cnn_to_vit": {"smoke_iou": 47.37},
    "co_training": {"smoke_iou": 45.93},
}
PAPER_LAMBDA: dict[float, float] = {0.3: 38.55, 0.5: 43.81, 0.8: 45.04, 1.0: 47.37, 1.3: 46.62,
                                    1.5: 41.90}
# The paper's L1 / L2 rows are attached to our plain ("raw") L1 / L2 variants, the most likely
# reading of its text; it does not say whether the maps were normalised first.
PAPER_ALIGNMENT: dict[str, dict[str, float]] = {
    "global_cosine": {"smoke_iou": 47.37},
    "channel_cosine": {"smoke_iou": 46.85},
    "spatial_cosine": {"smoke_iou": 43.70},
    "global_l1_raw": {"smoke_iou": 38.39},
    "global_l2_raw": {"smoke_iou": 33.74},
}

#: Alignment variants of notebook 04: name -> :class:`KTSpec` fields (λ = 1 throughout).
#: ``*_raw`` use plain L1/L2 on the raw maps (``normalize=False``), as the paper most likely did;
#: the others rescale each vector to unit RMS first, which makes L2 exactly 2 × cosine.
ALIGNMENT_VARIANTS: dict[str, dict[str, Any]] = {
    "global_cosine": {"level": "global", "distance": "cosine"},
    "spatial_cosine": {"level": "spatial", "distance": "cosine"},
    "channel_cosine": {"level": "channel", "distance": "cosine"},
    "global_l1": {"level": "global", "distance": "l1"},
    "global_l2": {"level": "global", "distance": "l2"},
    "global_l1_raw": {"level": "global", "distance": "l1", "normalize": False},
    "global_l2_raw": {"level": "global", "distance": "l2", "normalize": False},
    "no_projection_score_maps": {"level": "global", "distance": "cosine", "projection": False,
                                 "student_map": "score_map"},
    "features_global_cosine": {"level": "global", "distance": "cosine", "target": "features",
                               "teacher_layer": "layer3"},
    "features_spatial_cosine": {"level": "spatial", "distance": "cosine", "target": "features",
                                "teacher_layer": "layer3"},
    "features_channel_cosine": {"level": "channel", "distance": "cosine", "target": "features",
                                "teacher_layer": "layer3"},
    # Co-training (both networks from scratch or from the same pre-training), for the paper's
    # claim that L1 and L2 lose to cosine there too.
    "co_training_cosine": {"paradigm": "co_training", "level": "global", "distance": "cosine"},
    "co_training_l1_raw": {"paradigm": "co_training", "level": "global", "distance": "l1",
                           "normalize": False},
    "co_training_l2_raw": {"paradigm": "co_training", "level": "global", "distance": "l2",
                           "normalize": False},
}


#: Readable labels of :data:`ALIGNMENT_VARIANTS`.
ALIGNMENT_LABELS: dict[str, str] = {
    "global_cosine": "score map · global cosine (paper)",
    "spatial_cosine": "score map · spatial cosine",
    "channel_cosine": "score map · channel cosine",
    "global_l1": "score map · global L1 (unit-RMS)",
    "global_l2": "score map · global L2 (unit-RMS)",
    "global_l1_raw": "score map · global L1 (raw)",
    "global_l2_raw": "score map · global L2 (raw)",
    "no_projection_score_maps": "no projection · score map ↔ score map",
    "features_global_cosine": "teacher layer3 · global cosine",
    "features_spatial_cosine": "teacher layer3 · spatial cosine",
    "features_channel_cosine": "teacher layer3 · channel cosine",
    "co_training_cosine": "co-training · global cosine",
    "co_training_l1_raw": "co-training · global L1 (raw)",
    "co_training_l2_raw": "co-training · global L2 (raw)",
}


# ------------------------------------------------------------------------------------ settings


def method_settings(
    profile: str = "quick", notebook: str = METHOD_NOTEBOOK, **overrides: Any
) -> NotebookSettings:
    """Settings of a notebook that trains or loads the method's models.

    The :data:`TRAINING_KEYS` always come from the ``02_teacher_student`` section of the
    profile, so notebooks 02–07 build identical configs (and share cached models) unless a
    notebook's parameters override them explicitly. The notebook's own section adds its keys.

    Args:
        profile: Profile name (``"quick"``, ``"full"``) or path to a profile JSON.
        notebook: The calling notebook's stem (its section must exist in the profile).
        **overrides: Parameters-cell values; ``None`` means "from the profile".

    Raises:
        ValueError: unknown notebook or override (see
            :func:`wsss_lib.experiments.notebook_settings`), or a profile whose method section
            lacks a training key.
    """
    data = load_profile(profile)
    missing = [k for k in TRAINING_KEYS if k not in section_settings(data, METHOD_NOTEBOOK)]
    if missing:
        raise ValueError(
            f"Profile {str(profile)!r} lacks the training settings {missing} in its "
            f"{METHOD_NOTEBOOK!r} section; add them there (all method notebooks share them)."
        )
    own = notebook_settings(notebook, profile)
    training = notebook_settings(METHOD_NOTEBOOK, profile)
    optional = {k: training.get(k, default) for k, default in OPTIONAL_TRAINING_KEYS.items()}
    settings = NotebookSettings(
        {**own, **optional, **{k: training[k] for k in TRAINING_KEYS}}
    )
    unknown = sorted(k for k in overrides if k not in settings)
    if unknown:
        raise ValueError(
            f"Unknown setting(s) {unknown} for notebook {notebook!r}; "
            f"valid settings: {', '.join(sorted(settings))}."
        )
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


# ------------------------------------------------------------------------------ config builders


def data_spec(S: Mapping[str, Any], seed: int = 0) -> DataSpec:
    """Training data of the method: the biased ``train`` split (and ``val``) at ``S.image_size``.

    ``seed`` is the benchmark replicate: every row of one training seed sees the same images
    (paired comparisons), and each seed draws new ones. ``S.train_level`` (optional,
    ``[P(chimney|smoke), P(chimney|clean)]``) trains and validates at another co-occurrence than
    the split's 0.95 / 0.05.
    """
    level = S.get("train_level")
    overrides = {} if not level else {
        "p_chimney_given_smoke": float(level[0]), "p_chimney_given_clean": float(level[1])}
    return DataSpec(
        image_size=S["image_size"], n_train=S["n_train"], n_val=S["n_val"], seed=int(seed),
        preset=S.get("scene_preset"), overrides=overrides,
    )


def model_spec(S: Mapping[str, Any], family: str) -> ModelSpec:
    """The CNN (the paper's teacher) or the ViT (the paper's student).

    Args:
        S: Settings with ``cnn``, ``cnn_output_stride``, ``vit``, ``vit_patch_size``; optional
            ``cnn_pcm`` (default True: the CNN carries the paper's PCM module).
        family: ``"cnn"`` or ``"vit"``.
    """
    pretrain = {} if S.get("pretrain") else None
    if family == "cnn":
        # Without PCM the kwargs name no "pcm" key, so the CNN's cache key is that of notebook
        # 01's CNN at the same level, seed and recipe (one model, trained once).
        kwargs = {"output_stride": S["cnn_output_stride"]}
        if S.get("cnn_pcm", OPTIONAL_TRAINING_KEYS["cnn_pcm"]):
            kwargs = {"pcm": True, **kwargs}
        return ModelSpec(S["cnn"], kwargs, pretrain=pretrain)
    if family == "vit":
        return ModelSpec(S["vit"], {"patch_size": S["vit_patch_size"]}, pretrain=pretrain,
                         lr=S.get("vit_lr"))
    raise ValueError(f"family must be 'cnn' or 'vit'; got {family!r}.")


def _common(S: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {
        "data": data_spec(S, seed),
        "epochs": S["epochs"],
        "batch_size": S["batch_size"],
        "lr": S["lr"],
        "schedule": S.get("schedule", OPTIONAL_TRAINING_KEYS["schedule"]),
        "augment": S.get("augment", OPTIONAL_TRAINING_KEYS["augment"]),
        "weight_decay": S.get("weight_decay", OPTIONAL_TRAINING_KEYS["weight_decay"]),
        "seed": int(seed),
    }


def single_config(S: Mapping[str, Any], family: str, seed: int = 0) -> TrainConfig:
    """One network trained alone on image labels (``family``: ``"cnn"`` or ``"vit"``)."""
    return TrainConfig(paradigm="single", model=model_spec(S, family), **_common(S, seed))


def teacher_config(S: Mapping[str, Any], seed: int = 0) -> TrainConfig:
    """The CNN teacher: ResNet + PCM trained alone. Equal to the teacher of every CNN→ViT run."""
    return single_config(S, "cnn", seed)


def teacher_student_config(
    S: Mapping[str, Any],
    seed: int = 0,
    *,
    direction: str = "cnn_to_vit",
    lam: float = 1.0,
    **kt: Any,
) -> TrainConfig:
    """A teacher-student run: frozen trained teacher, student trained with BCE + λ·L_kt.

    Args:
        S: Method settings (:func:`method_settings`).
        seed: Training seed (the teacher is trained with the same seed).
        direction: ``"cnn_to_vit"`` (paper: CNN teacher, ViT student) or ``"vit_to_cnn"``.
        lam: Weight λ of the knowledge-transfer term.
        **kt: Further :class:`~wsss_lib.train.KTSpec` fields (``level``, ``distance``,
            ``projection``, ``target``, ``teacher_layer``, ``normalize``); defaults are the
            paper's (global cosine on the teacher's score map, with projection).
    """
    if direction not in ("cnn_to_vit", "vit_to_cnn"):
        raise ValueError(f"direction must be 'cnn_to_vit' or 'vit_to_cnn'; got {direction!r}.")
    teacher, student = ("cnn", "vit") if direction == "cnn_to_vit" else ("vit", "cnn")
    return TrainConfig(
        paradigm="teacher_student",
        student=model_spec(S, student),
        teacher=model_spec(S, teacher),
        kt=KTSpec(lam=lam, **kt),
        **_common(S, seed),
    )


def co_training_config(S: Mapping[str, Any], seed: int = 0, *, lam: float = 1.0,
                       **kt: Any) -> TrainConfig:
    """CNN and ViT trained together from scratch, KT gradients into both; the ViT is the result."""
    return TrainConfig(
        paradigm="co_training",
        student=model_spec(S, "vit"),
        teacher=model_spec(S, "cnn"),
        kt=KTSpec(lam=lam, **kt),
        **_common(S, seed),
    )


def paradigm_configs(S: Mapping[str, Any], seed: int = 0) -> dict[str, TrainConfig]:
    """The five rows of notebook 02 (:data:`PARADIGM_ROWS`) for one seed."""
    return {
        "single_cnn": teacher_config(S, seed),
        "single_vit": single_config(S, "vit", seed),
        "ts_cnn_to_vit": teacher_student_config(S, seed),
        "ts_vit_to_cnn": teacher_student_config(S, seed, direction="vit_to_cnn"),
        "co_training": co_training_config(S, seed),
    }


def alignment_config(S: Mapping[str, Any], variant: str, seed: int = 0) -> TrainConfig:
    """The CNN→ViT teacher-student run of one :data:`ALIGNMENT_VARIANTS` entry (λ = 1)."""
    if variant not in ALIGNMENT_VARIANTS:
        raise ValueError(
            f"Unknown alignment variant {variant!r}; choose from {list(ALIGNMENT_VARIANTS)}."
        )
    kt = dict(ALIGNMENT_VARIANTS[variant])
    if kt.pop("paradigm", "teacher_student") == "co_training":
        return co_training_config(S, seed, **kt)
    return teacher_student_config(S, seed, **kt)


# ------------------------------------------------------------ the projection's necessity


def projection_mismatch_error(run: TrainedRun, scenes: Any) -> str:
    """What the KT loss says when a CNN→ViT run's maps meet without a projection.

    Runs the student and the teacher of ``run`` on the first two images of ``scenes`` and
    compares the student's feature map with the teacher's score map through
    ``KnowledgeTransferLoss(projection=False)``; their channel counts differ, so it refuses.

    Returns:
        The error message (it names both channel counts and the fix).

    Raises:
        RuntimeError: if the loss unexpectedly accepts the maps (equal channel counts).
    """
    from wsss_lib.data import to_tensor_batch
    from wsss_lib.losses import KnowledgeTransferLoss

    device = next(run.student.parameters()).device
    images = to_tensor_batch(scenes.images[:2]).to(device)
    with torch.no_grad():
        student = run.student(images).feature_map
        teacher = run.teacher(images).score_map
    try:
        KnowledgeTransferLoss(projection=False)(student, teacher)
    except ValueError as err:
        return str(err)
    raise RuntimeError(
        f"The student's feature map ({student.shape[1]} channels) and the teacher's score map "
        f"({teacher.shape[1]}) have equal channel counts; no projection is needed here."
    )


# ------------------------------------------------------------------------ running and measuring


def evaluation_sets(S: Mapping[str, Any]) -> dict[str, Any]:
    """The ``val`` (for choosing settings), ``test`` (biased, like training) and
    ``test_decoupled`` (shortcut broken) scenes, at the profile's scene preset."""
    from wsss_lib.data import load_split

    preset = {"preset": S["scene_preset"]} if S.get("scene_preset") else {}
    sizes = {"val": S["n_val"], "test": S["n_test"], "test_decoupled": S["n_test"]}
    return {
        split: load_split(split, image_size=S["image_size"], n_images=n, **preset)
        for split, n in sizes.items()
    }


def evaluate_run(run: TrainedRun, sets: Mapping[str, Any]) -> dict[str, float]:
    """:data:`ROW_METRICS` of a run's main network (the student of KT runs), as fractions.

    ``precision`` / ``recall`` are the pseudo-masks' smoke pixel scores on ``test``, pooled over
    all its images: a map that covers the whole sky has a high recall and a low precision.
    ``shortcut_gap`` = accuracy on ``test`` minus accuracy on ``test_decoupled``: how much the
    classifier loses when chimneys stop predicting smoke.
    """
    test = evaluate_model(run, sets["test"]).metrics
    decoupled = evaluate_model(run, sets["test_decoupled"]).metrics
    row = {k: float(test[k]) for k in ("smoke_iou", "precision", "recall", "chimney_fp_rate",
                                       "cam_chimney_mass", "accuracy")}
    for key in ("smoke_iou", "chimney_fp_rate", "cam_chimney_mass", "accuracy"):
        row[f"{key}_decoupled"] = float(decoupled[key])
    row["shortcut_gap"] = row["accuracy"] - row["accuracy_decoupled"]
    if "val" in sets:
        row["smoke_iou_val"] = float(evaluate_model(run, sets["val"]).metrics["smoke_iou"])
    return row


def train_and_evaluate(
    build: Callable[[int], Mapping[Any, TrainConfig]],
    seeds: Iterable[int],
    sets: Mapping[str, Any],
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train (or load from the cache) every config for every seed and measure it.

    Args:
        build: ``fn(seed) -> {row name: TrainConfig}``, e.g.
            ``lambda seed: paradigm_configs(S, seed)``.
        seeds: Training seeds.
        sets: :func:`evaluation_sets` output.
        progress: Show a progress bar over runs (and the training bars).

    Returns:
        One dict per (row, seed): ``{"name", "seed", **ROW_METRICS}``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; pass at least one training seed, e.g. [0].")
    jobs = [(name, config, seed) for seed in seeds for name, config in build(seed).items()]
    rows = []
    for name, config, seed in tqdm(jobs, desc="runs", disable=not progress):
        run = get_or_train(config, progress=progress)
        rows.append({"name": name, "seed": seed, **evaluate_run(run, sets)})
    return rows


def lambda_configs(
    S: Mapping[str, Any], lams: Iterable[float], seed: int = 0
) -> dict[float, TrainConfig]:
    """CNN→ViT teacher-student runs (global cosine) for each λ; λ = 0 means no KT term."""
    return {float(lam): teacher_student_config(S, seed, lam=float(lam)) for lam in lams}


def gallery_cams(
    configs: Mapping[Any, TrainConfig], scenes: Any, progress: bool = False
) -> dict[Any, np.ndarray]:
    """CAMs (min-max normalised, image size) of each config's main network on ``scenes``.

    Returns:
        ``{name: float [N, H, W]}`` in ``[0, 1]``, in the order of ``configs``.
    """
    return {
        name: evaluate_model(get_or_train(config, progress=progress), scenes).cams
        for name, config in configs.items()
    }


def summarize(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ROW_METRICS, key: str = "name"
) -> dict[Any, dict[str, float]]:
    """Mean and sample standard deviation over seeds, per value of ``row[key]`` (first-seen order).

    Returns:
        ``{row[key]: {metric: mean, f"{metric}_std": std, "n_seeds": n}}``; the std is NaN for a
        single seed (no spread can be estimated from one run). NaN values are left out.
    """
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    out: dict[Any, dict[str, float]] = {}
    for name, group in groups.items():
        entry: dict[str, float] = {"n_seeds": len(group)}
        for metric in metrics:
            values = np.array([row[metric] for row in group], dtype=np.float64)
            values = values[np.isfinite(values)]
            entry[metric] = float(values.mean()) if values.size else math.nan
            entry[f"{metric}_std"] = float(values.std(ddof=1)) if values.size > 1 else math.nan
        out[name] = entry
    return out


def as_percent(summary: Mapping[str, Mapping[str, float]], digits: int = 2) -> dict[str, Any]:
    """A summary with every metric (and std) in %, rounded; ``n_seeds`` unchanged."""
    return {
        name: {
            k: (v if k == "n_seeds" or not math.isfinite(v) else round(100.0 * v, digits))
            for k, v in entry.items()
        }
        for name, entry in summary.items()
    }


def gallery_scenes(sets: Mapping[str, Any], n_per_kind: int = 2) -> Any:
    """A few telling images, the same for every model: smoke at a chimney (``test``), smoke
    without a chimney and a clean image with a bare chimney (``test_decoupled``).

    Returns:
        :class:`~wsss_lib.data.SmokeScenes` with ``3 * n_per_kind`` images (fewer if a kind is
        missing), the kinds in that order.
    """

    def pick(scenes: Any, label: int, with_chimney: bool) -> list[int]:
        has_chimney = scenes.chimney_masks.reshape(len(scenes), -1).any(axis=1)
        ok = (scenes.labels == label) & (has_chimney == with_chimney)
        return [int(i) for i in np.flatnonzero(ok)[:n_per_kind]]

    test, decoupled = sets["test"], sets["test_decoupled"]
    parts = [
        test.subset(pick(test, 1, True)),
        decoupled.subset(pick(decoupled, 1, False)),
        decoupled.subset(pick(decoupled, 0, True)),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise ValueError("No gallery images found; the evaluation sets are too small.")
    return _concatenate(parts)


def _concatenate(parts: Sequence[Any]) -> Any:
    """Join :class:`~wsss_lib.data.SmokeScenes` (a mask field stays only if all parts have it)."""
    from wsss_lib.data import SmokeScenes

    def stack(field: str) -> Any:
        values = [getattr(p, field) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    return SmokeScenes(
        images=np.concatenate([p.images for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        smoke_masks=stack("smoke_masks"),
        chimney_masks=stack("chimney_masks"),
        distractor_masks=stack("distractor_masks"),
        names=[n for p in parts for n in p.names],
        params=[q for p in parts for q in p.params],
    )


# ------------------------------------------------------------------------------------- verdicts


def _fmt(entry: Mapping[str, float], metric: str) -> str:
    mean, std = 100 * entry[metric], 100 * entry.get(f"{metric}_std", math.nan)
    return f"{mean:.2f} ± {std:.2f}" if math.isfinite(std) else f"{mean:.2f}"


def paired_rows(
    rows: Sequence[Mapping[str, Any]], a: Any, b: Any, metric: str = "smoke_iou",
    key: str = "name",
) -> tuple[list[float], list[float], list[int]]:
    """Values of ``metric`` for rows ``a`` and ``b``, paired by seed (seeds missing in either or
    with a NaN value are left out).

    Returns:
        ``(values_a, values_b, seeds)`` in seed order.
    """
    by_seed: dict[int, dict[Any, float]] = {}
    for row in rows:
        by_seed.setdefault(int(row["seed"]), {})[row[key]] = float(row[metric])
    seeds = sorted(
        seed for seed, values in by_seed.items()
        if a in values and b in values and math.isfinite(values[a])
        and math.isfinite(values[b])
    )
    return ([by_seed[s][a] for s in seeds], [by_seed[s][b] for s in seeds], seeds)


def paired_claim(
    rows: Sequence[Mapping[str, Any]],
    a: Any,
    b: Any,
    claim: str,
    metric: str = "smoke_iou",
    expect: str = "greater",
    key: str = "name",
) -> dict[str, Any]:
    """Test the claim "row ``a`` is greater (``expect``) than row ``b`` on ``metric``".

    The paired differences over seeds (in percentage points) and their Student-t 95 % interval
    decide *supported* / *contradicted* / *inconclusive* (:func:`wsss_lib.stats.claim_verdict`).
    With fewer than two paired seeds no interval exists and the verdict is *inconclusive*.

    Returns:
        ``{"claim", "verdict", "sentence", "mean", "low", "high", "n", ...}`` (points).
    """
    from wsss_lib.stats import claim_verdict, paired_t

    values_a, values_b, seeds = paired_rows(rows, a, b, metric, key)
    what = METRIC_NAMES.get(metric, metric)
    if len(seeds) < 2:
        mean = 100 * (values_a[0] - values_b[0]) if seeds else math.nan
        return {
            "claim": claim, "verdict": "inconclusive", "mean": mean, "low": math.nan,
            "high": math.nan, "n": len(seeds),
            "sentence": f"{claim}: **inconclusive** — {len(seeds)} paired seed(s), no interval "
                        f"(difference in {what} {mean:+.2f} points); run at least 3 seeds.",
        }
    comparison = paired_t([100 * v for v in values_a], [100 * v for v in values_b])
    return claim_verdict(claim, comparison, expect=expect, what=what)


def _best_claim(
    rows: Sequence[Mapping[str, Any]], best: Any, others: Sequence[Any], claim: str,
    labels: Mapping[Any, str], metric: str = "smoke_iou",
) -> dict[str, Any]:
    """"``best`` beats every row of ``others``": supported when every paired interval is above
    zero, contradicted when one lies below it, else inconclusive. The sentence lists them all."""
    parts = [paired_claim(rows, best, other, f"vs {labels.get(other, other)}", metric)
             for other in others]
    verdicts = {p["verdict"] for p in parts}
    if verdicts == {"supported"}:
        verdict = "supported"
    elif "contradicted" in verdicts:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    detail = "; ".join(
        f"{labels.get(o, o)} {p['mean']:+.2f} ({p['low']:+.2f} to {p['high']:+.2f})"
        for o, p in zip(others, parts, strict=True)
    )
    n = min((p["n"] for p in parts), default=0)
    return {
        "claim": claim, "verdict": verdict, "parts": parts, "n": n,
        "sentence": f"{claim}: **{verdict}** — paired differences in "
                    f"{METRIC_NAMES.get(metric, metric)}, points with 95 % t intervals, "
                    f"n = {n}: {detail}.",
    }


def paradigm_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The paper's claims that notebook 02 can test, each with its paired verdict."""
    return [
        paired_claim(rows, "ts_cnn_to_vit", "single_vit",
                     "Teacher-student (CNN→ViT) beats the single ViT (paper: 47.37 vs 13.18)"),
        paired_claim(rows, "ts_cnn_to_vit", "single_cnn",
                     "The student beats its teacher (paper: 47.37 vs 33.56)"),
        paired_claim(rows, "ts_cnn_to_vit", "co_training",
                     "Teacher-student beats co-training (paper: 47.37 vs 45.93)"),
        paired_claim(rows, "ts_cnn_to_vit", "single_vit",
                     "Teacher-student moves CAM mass off chimneys (vs the single ViT)",
                     metric="cam_chimney_mass", expect="less"),
    ]


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


def paradigm_verdicts(
    summary: Mapping[str, Mapping[str, float]], rows: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Notebook 02's conclusions: the paper's claims with paired verdicts, then the best row."""
    out = [claim["sentence"] for claim in paradigm_claims(rows)]
    best = max(summary, key=lambda k: _finite(summary[k]["smoke_iou"]))
    out.append(f"Best smoke IoU here: {PARADIGM_ROWS.get(best, best)} "
               f"({_fmt(summary[best], 'smoke_iou')} %); the paper's best is teacher-student "
               "CNN→ViT (47.37 %, real data).")
    return out


def lambda_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Notebook 03's claims. ``rows`` are keyed by ``name`` = λ and need ``smoke_iou_val``.

    "λ has an interior optimum": the λ > 0 with the best mean smoke IoU on ``val`` (chosen on
    val, never on test), if it is neither the smallest nor the largest λ > 0, must beat both
    ends on ``test``. "Using the teacher helps": that λ beats λ = 0 (the single ViT).
    """
    lams = sorted({float(row["name"]) for row in rows})
    positive = [lam for lam in lams if lam > 0]
    claims: list[dict[str, Any]] = []
    if not positive:
        return claims
    val_means = {
        lam: np.nanmean([row.get("smoke_iou_val", math.nan) for row in rows
                         if float(row["name"]) == lam])
        for lam in positive
    }
    chosen = max(positive, key=lambda lam: _finite(val_means[lam]))
    if 0.0 in lams:
        claims.append(paired_claim(
            rows, chosen, 0.0,
            f"Using the teacher helps: λ = {chosen:g} (best on val) beats λ = 0"))
    claim = "λ has an interior optimum (paper: λ = 1 beats 0.3 and 1.5)"
    if len(positive) < 3:
        claims.append({"claim": claim, "verdict": "inconclusive", "n": 0,
                       "sentence": f"{claim}: **inconclusive** — fewer than three λ > 0."})
    elif chosen in (positive[0], positive[-1]):
        claims.append({
            "claim": claim, "verdict": "contradicted", "n": 0, "chosen_on_val": chosen,
            "sentence": f"{claim}: **contradicted** — the best λ on val is {chosen:g}, an end of "
                        f"the grid {positive[0]:g}–{positive[-1]:g}, not an interior value.",
        })
    else:
        result = _best_claim(rows, chosen, [positive[0], positive[-1]],
                             f"{claim}; λ = {chosen:g} chosen on val",
                             {lam: f"λ = {lam:g}" for lam in positive})
        claims.append({**result, "chosen_on_val": chosen})
    return claims


def lambda_verdicts(
    summary: Mapping[float, Mapping[str, float]], rows: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Notebook 03's conclusions: paired claims, then where our best mean λ is."""
    lams = sorted(summary)
    means = np.array([summary[lam]["smoke_iou"] for lam in lams])
    best = lams[int(np.nanargmax(means))]
    paper_best = max(PAPER_LAMBDA, key=PAPER_LAMBDA.get)
    out = [claim["sentence"] for claim in lambda_claims(rows)]
    out.append(f"Best mean smoke IoU on test at λ = {best:g} ({100 * np.nanmax(means):.2f} %); "
               f"the paper's best is λ = {paper_best:g} (47.37 %, real data).")
    return out


def alignment_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Notebook 04's claims: global cosine is the best alignment; L1 / L2 lose under co-training."""
    present = list(dict.fromkeys(row["name"] for row in rows))
    labels = ALIGNMENT_LABELS
    claims = []
    others = [v for v in present if v != "global_cosine" and not v.startswith("co_training")]
    if "global_cosine" in present and others:
        claims.append(_best_claim(rows, "global_cosine", others,
                                  "Global cosine is the best alignment (paper)", labels))
    co = [v for v in ("co_training_l1_raw", "co_training_l2_raw") if v in present]
    if "co_training_cosine" in present and co:
        claims.append(_best_claim(rows, "co_training_cosine", co,
                                  "L1 and L2 lose to cosine under co-training (paper)", labels))
    return claims


def alignment_verdicts(
    summary: Mapping[str, Mapping[str, float]], rows: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Notebook 04's conclusions: paired claims, best variant, the one-channel equivalences."""
    labels = ALIGNMENT_LABELS
    present = [k for k in summary if k in ALIGNMENT_VARIANTS]
    if not present:
        raise ValueError(f"No alignment variant in the summary; expected some of "
                         f"{list(ALIGNMENT_VARIANTS)}.")
    out = [claim["sentence"] for claim in alignment_claims(rows)]
    best = max(present, key=lambda k: _finite(summary[k]["smoke_iou"]))
    out.append(f"Best mean alignment here: {labels[best]} ({_fmt(summary[best], 'smoke_iou')} "
               "%); the paper's best is global cosine on the score map (47.37 %, real data).")
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
    most = max(present, key=lambda k: _finite(summary[k]["cam_chimney_mass"]))
    out.append(f"CAM mass on chimneys ranges from {_fmt(summary[least], 'cam_chimney_mass')} % "
               f"({labels[least]}) to {_fmt(summary[most], 'cam_chimney_mass')} % "
               f"({labels[most]}).")
    return out


# --------------------------------------------------------------------------------------- tables


def markdown_table(
    summary: Mapping[Any, Mapping[str, float]],
    metrics: Sequence[str],
    paper: Mapping[Any, Mapping[str, float]] | None = None,
    labels: Mapping[Any, str] | None = None,
) -> str:
    """A Markdown table: one row per summary entry, ``mean ± std`` in %, plus the paper's smoke
    IoU (real data) where it has one.
    """
    labels = labels or {}
    header = ["run", *[m.replace("_", " ") + " (%)" for m in metrics]]
    if paper is not None:
        header.append("paper smoke IoU (%, real data)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, entry in summary.items():
        cells = [str(labels.get(key, key)), *[_fmt(entry, m) for m in metrics]]
        if paper is not None:
            value = paper.get(key, {}).get("smoke_iou") if paper.get(key) else None
            cells.append(f"{value:.2f}" if value is not None else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_document(
    notebook: str,
    profile: str,
    summary: Mapping[Any, Mapping[str, float]],
    paper: Mapping[Any, Any],
    notes: Sequence[str],
    settings: Mapping[str, Any],
    claims: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The ``metrics.json`` of a method notebook: our rows in %, the paper's, notes, settings and
    the paper's claims with their paired verdicts (:func:`paired_claim`; differences in points).

    Row names become strings (λ rows: ``"lam_0.3"``); NaN stays NaN (written as null).
    """
    def key(name: Any) -> str:
        return f"lam_{name:g}" if isinstance(name, float) else str(name)

    train = SPLIT_DEFAULTS["train"]
    p_smoke, p_clean = settings.get("train_level") or (
        train["p_chimney_given_smoke"], train["p_chimney_given_clean"])
    return {
        "notebook": notebook,
        "profile": str(profile),
        "results": {key(k): v for k, v in as_percent(summary).items()},
        "paper": {key(k): v for k, v in paper.items()},
        "notes": [
            f"Our numbers: %, synthetic benchmark (trained at P(chimney|smoke)={p_smoke:g}, "
            f"P(chimney|clean)={p_clean:g}; test keeps 0.95/0.05, test_decoupled breaks the "
            "shortcut), mean and sample std over seeds (<metric>_std). "
            "smoke_iou is per image over smoke images at threshold 0.3 on min-max normalised CAMs.",
            "Paper numbers: smoke IoU %, real IJmond data, 512 px, ResNet-50+PCM / ViT-B/16.",
            *notes,
        ],
        "claims": [
            {k: claim[k] for k in ("claim", "verdict", "mean", "low", "high", "n") if k in claim}
            for claim in claims
        ],
        "settings": {k: settings[k] for k in (*TRAINING_KEYS, *OPTIONAL_TRAINING_KEYS)
                     if k in settings},
    }
