"""Training configuration: what to train, on which data, how, as plain JSON-round-trippable data.

A :class:`TrainConfig` is the single source of truth for a run. Its :meth:`TrainConfig.to_dict`
form (plus the data generator and training code versions) is the cache key, so two configs that
differ anywhere train two models, and an identical config is trained once and then reused.

Configs are frozen and validated on construction; change one with :func:`dataclasses.replace`,
which validates again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from wsss_lib.losses import DISTANCES, LEVELS, MATCH_TO, validate_lambda
from wsss_lib.train.schedule import SCHEDULES, WARMUP_FRACTION, learning_rate_at, warmup_cosine
from wsss_lib.utils import to_jsonable

__all__ = [
    "AMP_MODES",
    "KT_STUDENT_MAPS",
    "KT_TARGETS",
    "SCHEDULES",
    "WARMUP_FRACTION",
    "DataSpec",
    "ParadigmRules",
    "declare_paradigm",
    "declared_paradigms",
    "undeclare_paradigm",
    "paradigm_rules",
    "learning_rate_at",
    "warmup_cosine",
    "KTSpec",
    "ModelSpec",
    "TrainConfig",
]

AMP_MODES = ("auto", "off", "bf16", "fp16")
KT_TARGETS = ("score_map", "features")
#: What of the student is aligned: its last ``feature_map`` (the paper) or its own ``score_map``.
KT_STUDENT_MAPS = ("features", "score_map")


#: TrainConfig fields added after the first cache keys were written: left out of ``to_dict``
#: while unset, so a config that does not use them keeps its key.
_ABSENT_WHEN_NONE = ("grad_clip", "teacher_data")

#: The TrainConfig fields that hold a ModelSpec; each paradigm names the ones it uses.
_NETWORK_FIELDS = ("model", "student", "teacher")


@dataclass(frozen=True)
class ParadigmRules:
    """What a :class:`TrainConfig` of one paradigm must hold: plain data, declared by the paradigm.

    A config checks itself against its paradigm's rules and never sees the paradigm's class: the
    classes live in :mod:`wsss_lib.train.paradigms`, whose ``register_paradigm`` declares each
    one's rules here (:func:`declare_paradigm`), so this module imports nothing of them.

    Attributes:
        network_fields: The TrainConfig fields naming its networks (``("model",)``,
            ``("student", "teacher")``).
        result_role: The field whose network's CAMs are the result.
        uses_kt: Keeps ``TrainConfig.kt`` (default ``KTSpec()``); False drops it.
        needs_trained_teacher: Its teacher is trained first (:meth:`TrainConfig.teacher_config`);
            only then are ``teacher_epochs`` / ``teacher_data`` meaningful.
    """

    network_fields: tuple[str, ...]
    result_role: str
    uses_kt: bool = False
    needs_trained_teacher: bool = False


_RULES: dict[str, ParadigmRules] = {}


def declare_paradigm(name: str, rules: ParadigmRules) -> None:
    """Make ``TrainConfig(paradigm=name)`` valid, checked against ``rules``.

    Raises:
        ValueError: ``name`` already declared with other rules, or fields that are not networks.
    """
    unknown = [f for f in rules.network_fields if f not in _NETWORK_FIELDS]
    if unknown or rules.result_role not in rules.network_fields:
        raise ValueError(f"Paradigm {name!r}: network_fields must be among {_NETWORK_FIELDS} and "
                         f"include result_role; got {rules}.")
    if name in _RULES and _RULES[name] != rules:
        raise ValueError(f"Paradigm {name!r} is already declared with other rules "
                         f"({_RULES[name]}).")
    _RULES[name] = rules


def undeclare_paradigm(name: str) -> None:
    """Forget ``name`` (``paradigms.unregister_paradigm`` calls it); an unknown name: no-op."""
    _RULES.pop(name, None)


def declared_paradigms() -> tuple[str, ...]:
    """The paradigm names a TrainConfig accepts, in declaration order."""
    return tuple(_RULES)


def paradigm_rules(name: str) -> ParadigmRules:
    """The declared rules of ``name``.

    Raises:
        ValueError: an unknown paradigm, listing the declared ones.
    """
    if not isinstance(name, str) or name not in _RULES:
        raise ValueError(f"TrainConfig.paradigm={name!r} is not supported; choose one of "
                         f"{list(_RULES)}.")
    return _RULES[name]


def _teacher_first_names() -> str:
    """The paradigms that train a teacher first, for messages (``'teacher_student'``)."""
    return " or ".join(repr(n) for n, r in _RULES.items() if r.needs_trained_teacher)


def _check_choice(value: Any, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {list(choices)}.")


def _check_int(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")


def _check_jsonable_mapping(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a dict of plain values; got {type(value).__name__}.")
    return to_jsonable(dict(value))


def _strict_kwargs(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """Reject unknown keys in ``from_dict`` input with a message listing the valid ones."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}.from_dict expects a dict; got {type(data).__name__}.")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} keys {unknown}; valid keys are {valid}.")
    return dict(data)


#: How :attr:`ModelSpec.proxy_pretrain` is spelled in ``to_dict`` and so in every cache key (its
#: first name, kept so that no cached or shipped network trains again).
_PRETRAIN_KEY = "pretrain"


@dataclass(frozen=True)
class ModelSpec:
    """A classifier to build: a name for :func:`wsss_lib.models.build_classifier` and its kwargs.

    Attributes:
        name: Model name (``"resnet18"``, ``"vit_tiny"``, ... or a full timm name).
        kwargs: Extra keyword arguments of ``build_classifier`` (``pcm``, ``patch_size``, ...).
            ``img_size`` defaults to the data's ``image_size``.
        proxy_pretrain: None (random initialisation) or the settings of the proxy
            pre-training of :mod:`wsss_lib.train.pretrain` (``{}`` for its defaults): the
            backbone starts from weights trained to segment clean scenes into sky / cloud /
            ground / chimney, never having seen smoke. Stored with every default filled in. The
            same name as the profile setting that turns it on (not ``pretrained``, timm's
            ImageNet weights); in :meth:`to_dict`, and so in every cache key, it keeps its first
            spelling ``"pretrain"`` (:meth:`from_dict` reads that key).
        lr: This network's own (peak) learning rate, or None for ``TrainConfig.lr``. ViTs
            trained from a small start need a smaller one than CNNs; a teacher-student run's
            teacher is trained with its own spec's rate, so it stays the single-network run.
    """

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    proxy_pretrain: dict[str, Any] | None = None
    lr: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ModelSpec.name must be a non-empty model name; got {self.name!r}.")
        object.__setattr__(self, "kwargs", _check_jsonable_mapping(self.kwargs, "ModelSpec.kwargs"))
        if "name" in self.kwargs:
            raise ValueError("ModelSpec.kwargs must not contain 'name'; set ModelSpec.name.")
        if self.proxy_pretrain is not None:
            from wsss_lib.train.pretrain import PretrainSpec

            settings = _check_jsonable_mapping(self.proxy_pretrain, "ModelSpec.proxy_pretrain")
            object.__setattr__(self, "proxy_pretrain",
                               PretrainSpec.from_dict(settings).to_dict())
        if self.lr is not None:
            ok = isinstance(self.lr, (int, float)) and not isinstance(self.lr, bool)
            if not (ok and math.isfinite(self.lr) and self.lr > 0):
                raise ValueError(f"ModelSpec.lr must be a finite number > 0 or None; got "
                                 f"{self.lr!r}.")
            object.__setattr__(self, "lr", float(self.lr))

    def build_kwargs(self, image_size: int) -> dict[str, Any]:
        """Keyword arguments for ``build_classifier``, with ``img_size`` filled in."""
        return {"img_size": image_size, **self.kwargs}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kwargs": dict(self.kwargs)}
        if self.proxy_pretrain is not None:  # absent, not null: old cache keys stay valid
            out[_PRETRAIN_KEY] = dict(self.proxy_pretrain)
        if self.lr is not None:
            out["lr"] = self.lr
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """The spec of :meth:`to_dict` output (a cache key's ``"pretrain"`` is
        :attr:`proxy_pretrain`)."""
        if isinstance(data, Mapping) and _PRETRAIN_KEY in data:
            if "proxy_pretrain" in data:
                raise ValueError("ModelSpec.from_dict got both 'pretrain' (the cache key's "
                                 "spelling) and 'proxy_pretrain'; give one.")
            data = {("proxy_pretrain" if k == _PRETRAIN_KEY else k): v for k, v in data.items()}
        return cls(**_strict_kwargs(cls, data))


@dataclass(frozen=True)
class DataSpec:
    """Which synthetic splits to train and validate on (see :func:`wsss_lib.data.load_split`).

    Attributes:
        train_split: Split to train on (one of ``wsss_lib.data.SPLITS``).
        val_split: Split for the per-epoch validation, or None to skip validation.
        image_size: Square image side in pixels.
        n_train: Number of training images (None: the split's default).
        n_val: Number of validation images (None: the split's default).
        seed: Generator seed of the splits.
        preset: Scene difficulty (``wsss_lib.data.SCENE_PRESETS``: ``"standard"``, ``"hard"``);
            None means ``wsss_lib.data.DEFAULT_PRESET``.
        overrides: Further :class:`wsss_lib.data.SceneConfig` fields, e.g.
            ``{"p_chimney_given_smoke": 0.5}``.
    """

    train_split: str = "train"
    val_split: str | None = "val"
    image_size: int = 96
    n_train: int | None = None
    n_val: int | None = None
    seed: int = 0
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from wsss_lib.data import DEFAULT_PRESET, SCENE_PRESETS, SPLITS, SceneConfig

        object.__setattr__(self, "preset", DEFAULT_PRESET if self.preset is None else self.preset)
        _check_choice(self.preset, tuple(SCENE_PRESETS), "DataSpec.preset")
        _check_choice(self.train_split, SPLITS, "DataSpec.train_split")
        if self.val_split is not None:
            _check_choice(self.val_split, SPLITS, "DataSpec.val_split")
        _check_int(self.image_size, "DataSpec.image_size", 8)
        for name in ("n_train", "n_val"):
            if getattr(self, name) is not None:
                _check_int(getattr(self, name), f"DataSpec.{name}", 1)
        _check_int(self.seed, "DataSpec.seed", 0)
        overrides = _check_jsonable_mapping(self.overrides, "DataSpec.overrides")
        reserved = {"image_size", "n_images", "seed"}
        allowed = sorted({f.name for f in fields(SceneConfig)} - reserved)
        bad = sorted(set(overrides) - set(allowed))
        if bad:
            raise ValueError(
                f"DataSpec.overrides has unknown or reserved keys {bad}; allowed keys are "
                f"{allowed} (set image_size, n_train/n_val and seed as DataSpec fields)."
            )
        object.__setattr__(self, "overrides", overrides)

    def split_kwargs(self, split: str, n_images: int | None) -> dict[str, Any]:
        """Keyword arguments of ``wsss_lib.data.load_split`` for one split."""
        return {
            "split": split,
            "image_size": self.image_size,
            "n_images": n_images,
            "seed": self.seed,
            "preset": self.preset,
            **self.overrides,
        }

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSpec:
        return cls(**_strict_kwargs(cls, data))


@dataclass(frozen=True)
class KTSpec:
    """Knowledge-transfer settings of the teacher-student and co-training paradigms.

    The loss term is ``lam * KnowledgeTransferLoss(level, distance)(proj(student_map),
    teacher_target)``, where ``student_map`` is the student's last feature map (the paper) or its
    own score map. The direction (CNN->ViT as in the paper, or ViT->CNN) follows from which
    :class:`ModelSpec` is the teacher.

    Attributes:
        lam: Weight λ of the knowledge-transfer term (validated by ``validate_lambda``).
        level: ``"global"`` (pooled vectors, the paper's best), ``"spatial"`` or ``"channel"``.
        distance: ``"cosine"``, ``"l1"`` or ``"l2"``.
        projection: Learn a 1x1 conv from the student's channels to the teacher's.
        target: What of the teacher is aligned: its ``"score_map"`` (raw CAM, the paper) or an
            intermediate ``"features"`` map.
        teacher_layer: The teacher layer for ``target="features"`` (a name such as ``"layer3"``
            or an index accepted by ``WSSSClassifier.resolve_layers``); must be None otherwise.
        match_to: Grid both maps are resized to: ``"teacher"`` or ``"student"``.
        normalize: Unit-RMS rescaling of vectors before L1/L2 (see ``wsss_lib.losses``).
        student_map: What of the student is aligned: ``"features"`` (its last feature map,
            ``embed_dim`` channels, the paper) or ``"score_map"`` (its classifier head applied at
            every location: its raw one-channel CAM). With ``projection=False`` and a score-map
            target only ``"score_map"`` has matching channels.
    """

    lam: float = 1.0
    level: str = "global"
    distance: str = "cosine"
    projection: bool = True
    target: str = "score_map"
    teacher_layer: str | int | None = None
    match_to: str = "teacher"
    normalize: bool = True
    student_map: str = "features"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", float(validate_lambda(self.lam)))
        _check_choice(self.level, LEVELS, "KTSpec.level")
        _check_choice(self.distance, DISTANCES, "KTSpec.distance")
        for name in ("projection", "normalize"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"KTSpec.{name} must be True or False; got {getattr(self, name)!r}."
                )
        _check_choice(self.match_to, MATCH_TO, "KTSpec.match_to")
        _check_choice(self.target, KT_TARGETS, "KTSpec.target")
        _check_choice(self.student_map, KT_STUDENT_MAPS, "KTSpec.student_map")
        if self.target == "features" and self.teacher_layer is None:
            raise ValueError(
                "KTSpec.target='features' needs teacher_layer (e.g. 'layer3' or -2) naming the "
                "teacher feature map to align."
            )
        if self.target == "score_map" and self.teacher_layer is not None:
            raise ValueError(
                f"KTSpec.teacher_layer={self.teacher_layer!r} is only used with "
                "target='features'; drop it or set target='features'."
            )
        if self.teacher_layer is not None and (
            isinstance(self.teacher_layer, bool) or not isinstance(self.teacher_layer, (str, int))
        ):
            raise ValueError(
                f"KTSpec.teacher_layer must be a layer name or an int; got {self.teacher_layer!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KTSpec:
        return cls(**_strict_kwargs(cls, data))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (and therefore its cache entry).

    Attributes:
        paradigm: ``"single"`` (one network, BCE on image labels), ``"teacher_student"``
            (frozen pre-trained teacher, student with BCE + λ·KT), ``"co_training"`` (both from
            scratch, BCE + BCE + λ·KT) or ``"supervised"`` (backbone + light decoder trained on
            smoke masks: the fully supervised reference).
        model: The network of ``"single"`` and ``"supervised"``.
        student: The student of the KT paradigms (its CAMs are the result).
        teacher: The teacher of the KT paradigms (its score map / features are the target).
        data: Training and validation data.
        epochs: Number of epochs (>= 1).
        batch_size: Images per step.
        lr: AdamW (peak) learning rate. The paper fine-tunes pre-trained weights with 1e-4;
            from-scratch models need more (the full profile uses 3e-3 with ``warmup_cosine``).
        schedule: ``"constant"`` or ``"warmup_cosine"`` (see :data:`SCHEDULES`); the learning
            rate of every step is :func:`learning_rate_at`, a pure function of the step, so a
            resumed run follows the same schedule.
        weight_decay: AdamW weight decay.
        seed: Seed of initialisation, shuffling and augmentation.
        amp: Mixed precision: ``"auto"`` (bf16, else fp16, on CUDA; off on a CPU), ``"bf16"``
            (on CUDA, and on a CPU too: about twice as fast on CPUs with AMX / AVX-512 BF16),
            ``"fp16"`` (CUDA only; off on a CPU) or ``"off"``.
        augment: Random augmentation of training batches: True (flips and colour jitter, see
            ``wsss_lib.data.augment_batch``), ``"flip"`` (horizontal flips only: colour is a cue
            that separates dark smoke from white clouds, so jitter can hide it) or False.
        kt: Knowledge-transfer settings; defaults to ``KTSpec()`` for the KT paradigms and is
            dropped (set to None) for the others, where it would have no effect.
        grad_clip: Largest global gradient norm of a step (``torch.nn.utils.clip_grad_norm_``
            over the trained parameters), or None for no clipping. Guards ViTs trained from a
            small start against a loss spike at the peak learning rate.
        teacher_epochs: Epochs of the teacher's own single-network training in
            ``"teacher_student"`` (None: ``epochs``).
        teacher_data: The data the teacher of ``"teacher_student"`` is trained on (None:
            ``data``, the student's). A teacher trained where chimneys say nothing about smoke
            (0.50 / 0.50) can then teach a student trained on coupled data.
    """

    paradigm: str = "single"
    model: ModelSpec | None = None
    student: ModelSpec | None = None
    teacher: ModelSpec | None = None
    data: DataSpec = field(default_factory=DataSpec)
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "constant"
    weight_decay: float = 0.01
    seed: int = 0
    amp: str = "auto"
    augment: bool | str = True
    kt: KTSpec | None = None
    teacher_epochs: int | None = None
    grad_clip: float | None = None
    teacher_data: DataSpec | None = None

    def __post_init__(self) -> None:
        paradigm_rules(self.paradigm)
        self._check_model_fields()
        if not isinstance(self.data, DataSpec):
            raise ValueError(
                f"TrainConfig.data must be a DataSpec; got {type(self.data).__name__}."
            )
        _check_int(self.epochs, "TrainConfig.epochs", 1)
        _check_int(self.batch_size, "TrainConfig.batch_size", 1)
        _check_int(self.seed, "TrainConfig.seed", 0)
        for name, minimum_exclusive in (("lr", True), ("weight_decay", False)):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and math.isfinite(value) and (value > 0 if minimum_exclusive else value >= 0)
            bound = "> 0" if minimum_exclusive else ">= 0"
            if not ok:
                raise ValueError(
                    f"TrainConfig.{name} must be a finite number {bound}; got {value!r}."
                )
            object.__setattr__(self, name, float(value))
        _check_choice(self.amp, AMP_MODES, "TrainConfig.amp")
        _check_choice(self.schedule, SCHEDULES, "TrainConfig.schedule")
        if not isinstance(self.augment, bool) and self.augment != "flip":
            raise ValueError(
                f"TrainConfig.augment must be True, False or 'flip'; got {self.augment!r}."
            )
        if self.rules.uses_kt:
            kt = KTSpec() if self.kt is None else self.kt
            if not isinstance(kt, KTSpec):
                raise ValueError(f"TrainConfig.kt must be a KTSpec; got {type(kt).__name__}.")
            object.__setattr__(self, "kt", kt)
        else:
            object.__setattr__(self, "kt", None)
        if self.grad_clip is not None:
            value = self.grad_clip
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (ok and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"TrainConfig.grad_clip must be a finite number > 0 or None; got {value!r}."
                )
            object.__setattr__(self, "grad_clip", float(value))
        if self.teacher_epochs is not None:
            if not self.rules.needs_trained_teacher:
                raise ValueError(
                    f"TrainConfig.teacher_epochs only applies to paradigm={_teacher_first_names()}"
                    f", which trains its teacher first (got paradigm={self.paradigm!r}); remove it."
                )
            _check_int(self.teacher_epochs, "TrainConfig.teacher_epochs", 1)
        if self.teacher_data is not None:
            if not self.rules.needs_trained_teacher:
                raise ValueError(
                    f"TrainConfig.teacher_data only applies to paradigm={_teacher_first_names()}"
                    f" (got paradigm={self.paradigm!r}); remove it."
                )
            if not isinstance(self.teacher_data, DataSpec):
                raise ValueError(f"TrainConfig.teacher_data must be a DataSpec or None; got "
                                 f"{type(self.teacher_data).__name__}.")

    def _check_model_fields(self) -> None:
        needed = self.rules.network_fields
        unused = tuple(name for name in _NETWORK_FIELDS if name not in needed)
        for name in needed:
            if not isinstance(getattr(self, name), ModelSpec):
                raise ValueError(
                    f"paradigm={self.paradigm!r} needs {name}=ModelSpec(...) "
                    f"(e.g. ModelSpec('resnet18')); got {getattr(self, name)!r}."
                )
        for name in unused:
            if getattr(self, name) is not None:
                raise ValueError(
                    f"paradigm={self.paradigm!r} does not use {name!r}; set "
                    f"{' and '.join(needed)} instead."
                )

    @property
    def rules(self) -> ParadigmRules:
        """The declared :class:`ParadigmRules` of :attr:`paradigm` (the paradigm's class itself
        is ``wsss_lib.train.paradigms.get_paradigm(config.paradigm)``)."""
        return paradigm_rules(self.paradigm)

    @property
    def main_role(self) -> str:
        """Role of the network whose CAMs are the result: ``"model"`` or ``"student"``."""
        return self.rules.result_role

    @property
    def main_spec(self) -> ModelSpec:
        """The :class:`ModelSpec` of the network in :attr:`main_role`."""
        spec = getattr(self, self.main_role)
        assert spec is not None  # guaranteed by validation
        return spec

    def teacher_config(self) -> TrainConfig:
        """The single-network config that trains this run's teacher (only for a paradigm with
        ``needs_trained_teacher``, i.e. ``"teacher_student"``).

        Every student with the same teacher spec, data and optimiser settings shares it, so the
        teacher is trained once and then loaded from the cache.
        """
        if not self.rules.needs_trained_teacher:
            raise ValueError(
                f"teacher_config() is only defined for paradigm={_teacher_first_names()}; "
                f"this config has paradigm={self.paradigm!r}."
            )
        return replace(
            self,
            paradigm="single",
            model=self.teacher,
            student=None,
            teacher=None,
            data=self.teacher_data or self.data,
            epochs=self.teacher_epochs or self.epochs,
            kt=None,
            teacher_epochs=None,
            teacher_data=None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``TrainConfig.from_dict(c.to_dict()) == c``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _ABSENT_WHEN_NONE and value is None:
                continue  # absent, not null: cache keys of configs without it stay valid
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_dict` output (unknown keys are an error)."""
        kwargs = _strict_kwargs(cls, data)
        for name in ("model", "student", "teacher"):
            if kwargs.get(name) is not None:
                kwargs[name] = ModelSpec.from_dict(kwargs[name])
        for name in ("data", "teacher_data"):
            if kwargs.get(name) is not None:
                kwargs[name] = DataSpec.from_dict(kwargs[name])
        if kwargs.get("kt") is not None:
            kwargs["kt"] = KTSpec.from_dict(kwargs["kt"])
        return cls(**kwargs)
