"""The recipe and the one builder of :class:`~wsss_lib.train.TrainConfig`: every trained network.

A notebook asking for "the CNN teacher" builds the *same* config here as every other notebook,
so :func:`wsss_lib.train.get_or_train` trains it once and the others load it from the cache.
The recipe (image size, data, epochs, networks, optimiser) lives in the profile's ``"*"``
section, which every notebook inherits; :func:`method_settings` reads it, with the defaults of
the optional keys taken from :class:`~wsss_lib.train.TrainConfig` itself.

:func:`row_config` is the only place a ``TrainConfig`` is constructed: one row
(:data:`PARADIGM_ROWS`, or ``"supervised"``) from its networks, data and optimiser settings.
Everything else reads settings into those parts and calls it:

- :func:`paradigm_config` names one of notebook 02's rows for settings ``S`` (its networks
  :func:`model_spec`, its data :func:`data_spec`, its optimiser :func:`training_settings`);
  :func:`single_config`, :func:`teacher_config`, :func:`teacher_student_config` and
  :func:`co_training_config` are its rows by another name;
- :func:`own_data_config` is that row for *your* images (``wsss train`` and notebook 08);
- notebook 01's sweep (:mod:`wsss_lib.studies.bias`) and an explicit recipe
  (:class:`wsss_lib.runs.Recipe`) pass their differences as parameters (another data seed, no
  PCM, their own networks), never as a copy of the builder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, fields
from typing import Any

from wsss_lib.profiles import (
    SHARED_SECTION,
    NotebookSettings,
    apply_overrides,
    load_profile,
    notebook_settings,
)
from wsss_lib.train import DataSpec, KTSpec, ModelSpec, TrainConfig

__all__ = [
    "OPTIONAL_TRAINING_KEYS",
    "OWN_DATA_PARADIGMS",
    "PARADIGM_ROWS",
    "RECIPE_KEYS",
    "TRAINING_KEYS",
    "co_training_config",
    "data_spec",
    "method_settings",
    "model_spec",
    "own_data_config",
    "paradigm_config",
    "row_config",
    "single_config",
    "teacher_config",
    "teacher_student_config",
    "training_settings",
]


def _default(cls: type, name: str) -> Any:
    """The default of dataclass field ``name`` (the one statement of it)."""
    field = next(f for f in fields(cls) if f.name == name)
    return field.default_factory() if field.default is MISSING else field.default


#: Settings that determine a trained model; all of them come from the profile's ``"*"`` section.
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

#: The TrainConfig fields the recipe sets under their own name (besides ``epochs``, ``lr`` ...).
_OPTIMISER_FIELDS = ("schedule", "augment", "weight_decay", "amp", "grad_clip")

#: Training settings a profile may leave out, with the value used then: TrainConfig's,
#: ModelSpec's and DataSpec's own defaults, and those of the settings no dataclass holds.
OPTIONAL_TRAINING_KEYS: dict[str, Any] = {
    "schedule": _default(TrainConfig, "schedule"),
    "augment": _default(TrainConfig, "augment"),
    "weight_decay": _default(TrainConfig, "weight_decay"),
    "proxy_pretrain": False,  # ModelSpec.pretrain None: random initialisation
    "scene_preset": _default(DataSpec, "preset"),
    "vit_lr": _default(ModelSpec, "lr"),
    "train_level": None,  # the train split's own co-occurrence (0.95 / 0.05)
    "cnn_pcm": True,
    "amp": _default(TrainConfig, "amp"),
    "vit_stem": None,  # timm's patchify stem
    "grad_clip": _default(TrainConfig, "grad_clip"),
    "cam_readouts": None,  # every score map at the threshold
}

#: Every key of the recipe: what ``"*"`` holds and a notebook's section should not repeat.
RECIPE_KEYS = (*TRAINING_KEYS, *OPTIONAL_TRAINING_KEYS)

#: Rows of notebook 02: name -> what it is. The one list of paradigms: ``wsss train``
#: (:data:`wsss_lib.runs.RECIPE_PARADIGMS`) and notebook 10 choose among these.
PARADIGM_ROWS: dict[str, str] = {
    "single_cnn": "single CNN (ResNet; also the teacher)",
    "single_vit": "single ViT",
    "ts_cnn_to_vit": "teacher-student CNN→ViT (paper)",
    "ts_vit_to_cnn": "teacher-student ViT→CNN",
    "co_training": "co-training CNN+ViT",
}

#: The rows :func:`paradigm_config` builds, in notebook 02's order (``ts_cnn_to_vit``: the paper's).
OWN_DATA_PARADIGMS = tuple(PARADIGM_ROWS)


def method_settings(
    profile: str = "quick", notebook: str = "02_teacher_student", **overrides: Any
) -> NotebookSettings:
    """Settings of a notebook that trains or loads the method's models.

    The recipe (:data:`TRAINING_KEYS`, and the :data:`OPTIONAL_TRAINING_KEYS` with their defaults
    when left out) comes from the profile's ``"*"`` section, which every notebook inherits, so
    notebooks 02–10 build identical configs (and share cached models) unless a notebook's section
    or parameters say otherwise. The notebook's own section adds its keys.

    Args:
        profile: Profile name (``"quick"``, ``"full"``) or path to a profile JSON.
        notebook: The calling notebook's stem (its section must exist in the profile).
        **overrides: Parameters-cell values; ``None`` means "from the profile".

    Raises:
        ValueError: unknown notebook or override (see
            :func:`wsss_lib.profiles.notebook_settings`), or a profile whose ``"*"`` section
            lacks a training key.
    """
    data = load_profile(profile)
    recipe = data.get(SHARED_SECTION, {})
    missing = [k for k in TRAINING_KEYS if k not in recipe]
    if missing:
        raise ValueError(
            f"Profile {str(profile)!r} lacks the training settings {missing} in its "
            f"{SHARED_SECTION!r} section; add them there (every notebook trains with them)."
        )
    own = notebook_settings(notebook, profile, profile_data=data)
    settings = NotebookSettings({**OPTIONAL_TRAINING_KEYS, **own})
    return apply_overrides(settings, overrides, notebook)


# ------------------------------------------------------------------------------ the parts


def data_spec(
    S: Mapping[str, Any],
    seed: int = 0,
    *,
    level: Sequence[float] | None = None,
    omit_split_level: bool = False,
) -> DataSpec:
    """Training data: the biased ``train`` split (and ``val``) at ``S.image_size``.

    Args:
        S: Settings with ``image_size``, ``n_train``, ``n_val``; optional ``scene_preset``,
            ``train_level`` (``[P(chimney|smoke), P(chimney|clean)]``: train and validate at
            another co-occurrence than the split's 0.95 / 0.05).
        seed: The data's seed. The method's rows pass their training seed (each seed draws new
            images, every row of one seed the same: paired comparisons); notebook 01 passes its
            ``data_seed`` (one data set for every training seed).
        level: The co-occurrence instead of ``S.train_level``.
        omit_split_level: Name no overrides when the level is the ``train`` split's own (notebook
            01's keys; the method's name the level whenever the settings give one).
    """
    level = S.get("train_level") if level is None else level
    overrides: dict[str, Any] = {}
    if level:
        overrides = {"p_chimney_given_smoke": float(level[0]),
                     "p_chimney_given_clean": float(level[1])}
    if omit_split_level:
        from wsss_lib.data.splits import SPLIT_DEFAULTS

        own = SPLIT_DEFAULTS["train"]
        if all(overrides.get(k) == own[k] for k in
               ("p_chimney_given_smoke", "p_chimney_given_clean")):
            overrides = {}
    return DataSpec(
        image_size=int(S["image_size"]), n_train=int(S["n_train"]), n_val=int(S["n_val"]),
        seed=int(seed), preset=S.get("scene_preset"), overrides=overrides,
    )


def model_spec(
    S: Mapping[str, Any], family: str, *, pcm: bool | None = None,
    omit_unset_stride: bool = False,
) -> ModelSpec:
    """The CNN (the paper's teacher) or the ViT (the paper's student).

    Args:
        S: Settings with ``cnn``, ``cnn_output_stride``, ``vit``, ``vit_patch_size``; optional
            ``cnn_pcm`` (default True: the CNN carries the paper's PCM module), ``vit_stem``
            (None: timm's patchify stem; ``"conv"``: :mod:`wsss_lib.models.conv_stem`),
            ``vit_lr`` (the ViT's own learning rate) and ``proxy_pretrain`` (start from the proxy
            pre-training, :mod:`wsss_lib.train.pretrain`).
        family: ``"cnn"`` or ``"vit"``.
        pcm: None: ``S.cnn_pcm``; False: no PCM (notebook 01 compares plain classifiers).
        omit_unset_stride: Name no ``output_stride`` when ``S.cnn_output_stride`` is None (the
            model's own, 32 for a ResNet; notebook 01's keys).
    """
    pretrain = {} if S.get("proxy_pretrain") else None
    if family == "cnn":
        stride = S.get("cnn_output_stride")
        # Without PCM the kwargs name no "pcm" key, so the CNN's cache key is that of notebook
        # 01's CNN at the same level, seed and recipe (one model, trained once).
        kwargs: dict[str, Any] = {}
        if pcm if pcm is not None else S.get("cnn_pcm", OPTIONAL_TRAINING_KEYS["cnn_pcm"]):
            kwargs["pcm"] = True
        if not (omit_unset_stride and stride is None):
            kwargs["output_stride"] = None if stride is None else int(stride)
        return ModelSpec(S["cnn"], kwargs, proxy_pretrain=pretrain)
    if family == "vit":
        patch = S["vit_patch_size"]
        kwargs = {"patch_size": None if patch is None else int(patch)}
        if S.get("vit_stem"):  # absent for timm's own stem: older cache keys stay valid
            kwargs["stem"] = S["vit_stem"]
        # The ViT's own learning rate lives in its spec, so the ViT of every notebook's recipe is
        # one cache entry.
        return ModelSpec(S["vit"], kwargs, proxy_pretrain=pretrain, lr=S.get("vit_lr"))
    raise ValueError(f"family must be 'cnn' or 'vit'; got {family!r}.")


def training_settings(S: Mapping[str, Any], *, epochs: int | None = None) -> dict[str, Any]:
    """The optimiser of a config: ``epochs``, ``batch_size``, ``lr`` and
    :data:`OPTIONAL_TRAINING_KEYS`' optimiser keys, TrainConfig's defaults for those unset (None).

    Args:
        S: Settings (or an explicit recipe's mapping); ``epochs``, ``batch_size`` and ``lr`` may
            be absent too (TrainConfig's defaults).
        epochs: Instead of ``S.epochs`` (notebook 01's ``vit_epochs`` / ``supervised_epochs``).
    """
    out: dict[str, Any] = {}
    for name, cast in (("epochs", int), ("batch_size", int), ("lr", float)):
        value = epochs if name == "epochs" and epochs is not None else S.get(name)
        if value is not None:
            out[name] = cast(value)
    for name in _OPTIMISER_FIELDS:
        value = S.get(name)
        out[name] = _default(TrainConfig, name) if value is None else value
    return out


# ------------------------------------------------------------------------------ the one builder


def row_config(
    row: str,
    networks: Mapping[str, ModelSpec],
    *,
    data: DataSpec,
    seed: int = 0,
    training: Mapping[str, Any] | None = None,
    lam: float = 1.0,
    **kt: Any,
) -> TrainConfig:
    """The config of one row from its parts: the one place a TrainConfig is constructed.

    Args:
        row: One of :data:`PARADIGM_ROWS`, or ``"supervised"`` (the CNN with the supervised
            paradigm's light decoder, trained on masks).
        networks: ``{"cnn": ModelSpec, "vit": ModelSpec}`` (those the row uses).
        data: The training data.
        seed: Training seed.
        training: TrainConfig's optimiser fields (:func:`training_settings`); absent ones keep
            TrainConfig's defaults.
        lam: Weight λ of the knowledge-transfer term (KT rows only).
        **kt: Further :class:`~wsss_lib.train.KTSpec` fields (``level``, ``distance``,
            ``projection``, ``target``, ``teacher_layer``, ``normalize``; KT rows only);
            defaults are the paper's (global cosine on the teacher's score map, with projection).

    Raises:
        ValueError: an unknown row, or KT settings for a single network.
    """
    if row not in PARADIGM_ROWS and row != "supervised":
        raise ValueError(f"paradigm must be one of {list(OWN_DATA_PARADIGMS)}; got {row!r}.")
    common = {**(training or {}), "data": data, "seed": int(seed)}
    if row == "supervised" or row.startswith("single_"):
        if kt or lam != 1.0:
            raise ValueError(f"{row!r} trains one network alone: it takes no KT settings.")
        family = "cnn" if row == "supervised" else row.removeprefix("single_")
        parts: dict[str, Any] = {"paradigm": "single" if row != "supervised" else row,
                                 "model": networks[family]}
    else:
        teacher, student = ("vit", "cnn") if row == "ts_vit_to_cnn" else ("cnn", "vit")
        parts = {"paradigm": "co_training" if row == "co_training" else "teacher_student",
                 "student": networks[student], "teacher": networks[teacher],
                 "kt": KTSpec(lam=lam, **kt)}
    return TrainConfig(**parts, **common)


def paradigm_config(
    S: Mapping[str, Any],
    paradigm: str,
    seed: int = 0,
    *,
    lam: float = 1.0,
    data: DataSpec | None = None,
    epochs: int | None = None,
    pcm: bool | None = None,
    omit_unset_stride: bool = False,
    **kt: Any,
) -> TrainConfig:
    """One row of notebook 02 by name for settings ``S`` (every notebook's networks).

    Args:
        S: Method settings (:func:`method_settings`).
        paradigm: One of :data:`OWN_DATA_PARADIGMS`, or ``"supervised"``.
        seed: Training seed (and the synthetic data's replicate).
        lam: Weight λ of the knowledge-transfer term (KT rows only).
        data: Instead of ``data_spec(S, seed)``.
        epochs: Instead of ``S.epochs``.
        pcm, omit_unset_stride: As in :func:`model_spec`.
        **kt: Further :class:`~wsss_lib.train.KTSpec` fields (KT rows only).

    Raises:
        ValueError: an unknown paradigm, or KT settings for a single network.
    """
    networks = {family: model_spec(S, family, pcm=pcm, omit_unset_stride=omit_unset_stride)
                for family in ("cnn", "vit")}
    return row_config(paradigm, networks, data=data_spec(S, seed) if data is None else data,
                      seed=seed, training=training_settings(S, epochs=epochs), lam=lam, **kt)


def single_config(S: Mapping[str, Any], family: str, seed: int = 0) -> TrainConfig:
    """One network trained alone on image labels (``family``: ``"cnn"`` or ``"vit"``)."""
    if family not in ("cnn", "vit"):
        raise ValueError(f"family must be 'cnn' or 'vit'; got {family!r}.")
    return paradigm_config(S, f"single_{family}", seed)


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
        **kt: Further :class:`~wsss_lib.train.KTSpec` fields (see :func:`row_config`).
    """
    if direction not in ("cnn_to_vit", "vit_to_cnn"):
        raise ValueError(f"direction must be 'cnn_to_vit' or 'vit_to_cnn'; got {direction!r}.")
    return paradigm_config(S, f"ts_{direction}", seed, lam=lam, **kt)


def co_training_config(S: Mapping[str, Any], seed: int = 0, *, lam: float = 1.0,
                       **kt: Any) -> TrainConfig:
    """CNN and ViT trained together from scratch, KT gradients into both; the ViT is the result."""
    return paradigm_config(S, "co_training", seed, lam=lam, **kt)


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
    if paradigm not in OWN_DATA_PARADIGMS:
        raise ValueError(f"paradigm must be one of {list(OWN_DATA_PARADIGMS)}; got {paradigm!r}.")
    return paradigm_config(S, paradigm, seed, lam=lam,
                           data=DataSpec(image_size=int(S["image_size"])), **kt)
