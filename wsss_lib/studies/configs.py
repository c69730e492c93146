"""The method's settings and config builders: one source for every model of notebooks 02–08.

A notebook asking for "the CNN teacher" builds the *same* :class:`~wsss_lib.train.TrainConfig`
here as every other notebook, so :func:`wsss_lib.train.get_or_train` trains it once and the
others load it from the cache. :func:`method_settings` gives the training settings they all
share (image size, data, epochs, networks, optimiser); they live in the profile's
:data:`~wsss_lib.profiles.TRAINING_SECTION` (``02_teacher_student``).

Builders: :func:`single_config` (one network alone), :func:`teacher_config` (the CNN teacher),
:func:`teacher_student_config` (frozen teacher, student with BCE + λ·L_kt),
:func:`co_training_config` (both trained together), from :func:`data_spec` and
:func:`model_spec`. :func:`paradigm_config` names one of notebook 02's rows, and
:func:`own_data_config` is that row for *your* images (``wsss train`` and notebook 08 train it):
the same networks, optimiser, schedule and pre-training, only the data differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from wsss_lib.profiles import (
    TRAINING_SECTION,
    NotebookSettings,
    apply_overrides,
    load_profile,
    notebook_settings,
    section_settings,
)
from wsss_lib.train import DataSpec, KTSpec, ModelSpec, TrainConfig

__all__ = [
    "OPTIONAL_TRAINING_KEYS",
    "TRAINING_KEYS",
    "OWN_DATA_PARADIGMS",
    "co_training_config",
    "data_spec",
    "method_settings",
    "model_spec",
    "own_data_config",
    "paradigm_config",
    "single_config",
    "teacher_config",
    "teacher_student_config",
]


#: Settings that determine a trained model; all of them come from the profile's
#: :data:`~wsss_lib.profiles.TRAINING_SECTION`.
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
    "amp": "auto",
    "vit_stem": None,
    "grad_clip": None,
    "cam_readouts": None,
}


def method_settings(
    profile: str = "quick", notebook: str = TRAINING_SECTION, **overrides: Any
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
            :func:`wsss_lib.profiles.notebook_settings`), or a profile whose method section
            lacks a training key.
    """
    data = load_profile(profile)
    missing = [k for k in TRAINING_KEYS if k not in section_settings(data, TRAINING_SECTION)]
    if missing:
        raise ValueError(
            f"Profile {str(profile)!r} lacks the training settings {missing} in its "
            f"{TRAINING_SECTION!r} section; add them there (all method notebooks share them)."
        )
    own = notebook_settings(notebook, profile)
    training = notebook_settings(TRAINING_SECTION, profile)
    optional = {k: training.get(k, default) for k, default in OPTIONAL_TRAINING_KEYS.items()}
    settings = NotebookSettings({**own, **optional, **{k: training[k] for k in TRAINING_KEYS}})
    return apply_overrides(settings, overrides, notebook)


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
            ``cnn_pcm`` (default True: the CNN carries the paper's PCM module), ``vit_stem``
            (None: timm's patchify stem; ``"conv"``: :mod:`wsss_lib.models.conv_stem`) and
            ``vit_lr`` (the ViT's own learning rate).
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
        kwargs = {"patch_size": S["vit_patch_size"]}
        if S.get("vit_stem"):  # absent for timm's own stem: older cache keys stay valid
            kwargs["stem"] = S["vit_stem"]
        return ModelSpec(S["vit"], kwargs, pretrain=pretrain, lr=S.get("vit_lr"))
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
        "amp": S.get("amp", OPTIONAL_TRAINING_KEYS["amp"]),
        "grad_clip": S.get("grad_clip"),
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


# ------------------------------------------------------------------------------ one row, any data

#: The rows of notebook 02 that :func:`paradigm_config` builds (``ts_cnn_to_vit``: the paper's).
OWN_DATA_PARADIGMS = ("ts_cnn_to_vit", "ts_vit_to_cnn", "single_cnn", "single_vit",
                      "co_training")


def paradigm_config(S: Mapping[str, Any], paradigm: str, seed: int = 0, *, lam: float = 1.0,
                    **kt: Any) -> TrainConfig:
    """One row of notebook 02 by name: the config its builder above makes.

    ``paradigm_config(S, "ts_cnn_to_vit", seed)`` is ``teacher_student_config(S, seed)``,
    ``"single_cnn"`` is :func:`teacher_config`, and so on (the same cache keys).

    Args:
        S: Method settings (:func:`method_settings`).
        paradigm: One of :data:`OWN_DATA_PARADIGMS`.
        seed: Training seed (and the synthetic data's replicate).
        lam: Weight λ of the knowledge-transfer term (KT rows only).
        **kt: Further :class:`~wsss_lib.train.KTSpec` fields (KT rows only).

    Raises:
        ValueError: an unknown paradigm, or KT settings for a single network.
    """
    if paradigm not in OWN_DATA_PARADIGMS:
        raise ValueError(f"paradigm must be one of {list(OWN_DATA_PARADIGMS)}; got {paradigm!r}.")
    if paradigm.startswith("single_"):
        if kt or lam != 1.0:
            raise ValueError(f"{paradigm!r} trains one network alone: it takes no KT settings.")
        return single_config(S, paradigm.removeprefix("single_"), seed)
    if paradigm == "co_training":
        return co_training_config(S, seed, lam=lam, **kt)
    direction = paradigm.removeprefix("ts_")
    return teacher_student_config(S, seed, direction=direction, lam=lam, **kt)


def own_data_config(S: Mapping[str, Any], paradigm: str, seed: int = 0, *, lam: float = 1.0,
                    **kt: Any) -> TrainConfig:
    """The method's recipe for your own images: :func:`paradigm_config` with only the data changed.

    Networks, optimiser, schedule, augmentation, precision, gradient clipping and proxy
    pre-training are those of the method notebooks' row; ``data`` becomes
    ``DataSpec(image_size=S["image_size"])``, because your scenes (passed to
    :func:`wsss_lib.train.get_or_train` as ``train_scenes``) replace the synthetic split, and
    their content fingerprint joins the cache key instead. So
    ``replace(own_data_config(S, p, s), data=x) == replace(paradigm_config(S, p, s), data=x)``
    for any ``x``: ``tests/test_user_recipe.py`` checks it.

    Args:
        S: Method settings (:func:`method_settings`); only ``image_size`` of the data settings
            is used.
        paradigm, seed, lam, **kt: As in :func:`paradigm_config`.
    """
    config = paradigm_config(S, paradigm, seed, lam=lam, **kt)
    return replace(config, data=DataSpec(image_size=int(S["image_size"])))
