"""The recipe: what to train on your own data and how to read its CAMs (:class:`Recipe`), read from
a profile's ``"*"`` section and its ``08_your_own_data`` section (:func:`load_recipe`) and described
in one line (:func:`describe_recipe`). Its configs come from the one builder,
:mod:`wsss_lib.studies.configs`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from wsss_lib.cam.readout import CamReadout
from wsss_lib.profiles import RENAMED_SETTINGS, SHARED_SECTION, check_names, load_profile
from wsss_lib.studies.configs import OWN_DATA_PARADIGMS, RECIPE_KEYS, TRAINING_KEYS

#: The profile section holding what ``wsss train`` adds to the recipe of ``"*"`` (shared with
#: notebook 08).
RECIPE_SECTION = "08_your_own_data"


#: What to train: the rows of notebook 02 (``ts_cnn_to_vit`` is the paper's method).
RECIPE_PARADIGMS = OWN_DATA_PARADIGMS


#: How images of another shape become square (see ``wsss_lib.data.load_folder``).
RESIZE_MODES = ("pad", "crop", "squash")


#: Layouts :func:`load_data` reads.
DATA_LAYOUTS = ("folder", "coco")


#: The read-out of a method recipe's run when it cannot be chosen (no validation split, or one
#: without smoke masks): the first ``cam_readouts`` candidate of the network's family (the score
#: map in ``quick`` / ``full``: this value's method) cut at the paper's threshold 0.3, one scale,
#: mean fusion, no refinement. A read-out chosen on ``val`` keeps its map, layers and threshold
#: and these other settings (:meth:`Recipe.with_readout`).
FALLBACK_READOUT = CamReadout("cam", threshold=0.3, scales=(1.0,), fusion="mean", refine=())


#: The recipe's read-out settings before they were the one setting ``readout``: old key -> the
#: key of ``readout`` (``--set readout.<key>=VALUE``). A run's recipe file holding them still
#: loads (:meth:`Recipe.from_mapping`); a profile section or ``--set`` naming them is refused.
OLD_READOUT_KEYS: dict[str, str] = {
    **{old: new.removeprefix("readout.") for old, new in RENAMED_SETTINGS.items()
       if new.startswith("readout.")},
    "threshold": "threshold", "refine": "refine",  # still notebook settings: refused here only
}

#: How the recipe's read-out looks in a profile (the ``paper`` setting).
_READOUT_EXAMPLE = ('"readout": {"method": "gradcam", "layers": null, "scales": [0.5, 1.0, 1.5, '
                    '2.0], "fusion": "mean", "threshold": 0.3, "refine": []}')


def _readout_setting(value: Any) -> CamReadout:
    """The recipe's ``readout`` from a :class:`CamReadout` or its mapping, checked by
    CamReadout; a bad one names the setting and where to fix it."""
    if isinstance(value, CamReadout):
        return value
    try:
        if not isinstance(value, Mapping):
            raise ValueError(f"it must be a mapping of CamReadout settings; got {value!r}.")
        return CamReadout.from_dict(value)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"Recipe setting 'readout' is invalid: {err} Fix it in the profile's "
            f"{RECIPE_SECTION!r} section ({_READOUT_EXAMPLE}) or with --set readout.KEY=VALUE "
            "(e.g. --set readout.threshold=0.4) or --set readout='{...}'."
        ) from None


def _on_fallback(readout: CamReadout) -> CamReadout:
    """``readout``'s map, layers and threshold with :data:`FALLBACK_READOUT`'s other settings."""
    return replace(FALLBACK_READOUT, method=readout.method, layers=readout.layers,
                   threshold=readout.threshold)


def _old_readout_keys_refused(names: Any, where: str) -> None:
    """Refuse the read-out's old keys (:data:`OLD_READOUT_KEYS`) among ``names``."""
    old = [name for name in names if name in OLD_READOUT_KEYS]
    if old:
        renames = ", ".join(f"{name!r} is now 'readout.{OLD_READOUT_KEYS[name]}'" for name in old)
        raise ValueError(
            f"{where}: the recipe's read-out key{'s' if len(old) > 1 else ''} {renames}. The "
            f"read-out is one setting now: in a profile section {_READOUT_EXAMPLE}; on the "
            "command line "
            "--set readout.KEY=VALUE (e.g. --set readout.threshold=0.4)."
        )


def _translate_old_record(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    """A run's recipe record written before today's names, in them: its six flat read-out keys
    (:data:`OLD_READOUT_KEYS`, recognised by a ``cam_*`` key) as one ``readout`` mapping, and
    its method's ``pretrain`` as ``proxy_pretrain``."""
    method = settings.get("method")
    if isinstance(method, Mapping) and "pretrain" in method and "proxy_pretrain" not in method:
        method = {("proxy_pretrain" if k == "pretrain" else k): v for k, v in method.items()}
        settings = {**settings, "method": method}
    if "readout" in settings or not any(k.startswith("cam_") and k in OLD_READOUT_KEYS
                                        for k in settings):
        return settings
    rest = {k: v for k, v in settings.items() if k not in OLD_READOUT_KEYS}
    return {**rest, "readout": {new: settings[old] for old, new in OLD_READOUT_KEYS.items()
                                if old in settings}}


#: Recipe fields a method recipe takes from the profile's ``"*"`` section (the recipe's key of
#: the same name); ``wsss train --set KEY=VALUE`` changes them for one run.
METHOD_FIELDS = ("cnn", "cnn_pcm", "cnn_output_stride", "vit", "vit_patch_size", "image_size",
                 "epochs", "batch_size", "lr", "schedule")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_KINDS: dict[str, tuple[str, Any]] = {
    "str": ("a string", lambda v: isinstance(v, str) and v != ""),
    "str?": ("a string or null", lambda v: v is None or (isinstance(v, str) and v != "")),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "int": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "int0": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "int?": ("an integer or null", lambda v: v is None or (_is_int(v) and v >= 1)),
    "float": ("a number", _is_number),
    "dict?": ("a mapping of settings or null", lambda v: v is None or isinstance(v, Mapping)),
}


@dataclass(frozen=True)
class Recipe:
    """What ``wsss train`` trains on your data, and how its CAMs become pseudo-masks.

    Every field is a key of the profile's ``"*"`` or ``"08_your_own_data"`` section. An explicit
    recipe (``paper``) lists all of them but ``method``; a method recipe (``quick``, ``full``:
    ``"*"`` holds the method notebooks' whole recipe,
    :data:`~wsss_lib.studies.configs.TRAINING_KEYS` included) gets ``method`` from
    :func:`load_recipe`, which fills the training fields (:data:`METHOD_FIELDS`) from ``"*"``,
    the others from the section or their method defaults
    (seed 0, the KT loss of :func:`~wsss_lib.studies.configs.teacher_student_config`,
    :data:`FALLBACK_READOUT` for the read-out).

    Attributes:
        paradigm: One of :data:`RECIPE_PARADIGMS`; ``"ts_cnn_to_vit"`` is the paper's method
            (CNN teacher trained first, then the ViT student with BCE + λ·KT).
        cnn: The CNN (``"resnet50"`` in the paper; any ``build_classifier`` ResNet name).
        cnn_pcm: Add SEAM's pixel correlation module to the CNN (the paper's teacher has it).
        cnn_output_stride: 8, 16 (paper) or 32; null for timm's default (32).
        cnn_weights: Local weights file of the CNN backbone (``.safetensors``/``.pth``), or null.
        vit: The ViT (``"vit_base"`` = ViT-B in the paper).
        vit_patch_size: Patch size (16 in the paper); null for the model's default.
        vit_weights: Local weights file of the ViT backbone, or null.
        pretrained: Without a weights file, start from timm's ImageNet weights (needs
            huggingface.co or its local cache). A weights file takes precedence. (The proxy
            pre-training on synthetic scenes is the method's ``proxy_pretrain``.)
        image_size: Side of the square the images are loaded at (512 in the paper).
        resize: How other shapes become square: ``"pad"`` (letterbox, keeps the aspect ratio),
            ``"crop"`` (centre crop) or ``"squash"``.
        epochs: Training epochs (each network).
        batch_size: Images per step.
        lr: AdamW learning rate.
        schedule: Learning-rate schedule of ``TrainConfig`` (``"constant"`` in the paper).
        seed: Training seed.
        lam: Weight λ of the knowledge-transfer loss (KT paradigms).
        kt_level: ``"global"`` (paper), ``"spatial"`` or ``"channel"``
            (:attr:`KTSpec.level <wsss_lib.train.KTSpec.level>`: KT settings are ``kt_<field>``).
        kt_distance: ``"cosine"`` (paper), ``"l1"`` or ``"l2"`` (``KTSpec.distance``).
        readout: How the trained network's CAMs become pseudo-masks, one
            :class:`~wsss_lib.cam.readout.CamReadout` (checked by it): in a profile the mapping
            ``"readout": {"method", "layers", "scales", "fusion", "threshold", "refine"}``
            (missing keys take CamReadout's defaults), changed for one run with
            ``--set readout.KEY=VALUE`` or ``--set readout='{...}'``. The paper's: Grad-CAM on
            ``norm1`` of ViT blocks -5, -4, -2, -1 (``layers`` null: the model's defaults, the
            same four), scales 0.5, 1.0, 1.5, 2.0, mean fusion, threshold 0.3 on the min-max
            CAM, no refinement (notebook 06 shows why). A method recipe's run replaces it with
            the read-out chosen on ``val`` (:meth:`with_readout`).
        method: The method notebooks' recipe (``"*"``, with the defaults of
            :data:`~wsss_lib.studies.configs.OPTIONAL_TRAINING_KEYS`: also ``weight_decay``,
            ``augment``, ``amp``, ``grad_clip``, ``proxy_pretrain``, ``vit_stem``, ``vit_lr``
            and the read-out candidates ``cam_readouts``), as :func:`load_recipe` resolved it;
            None for an explicit recipe. The fields of :data:`METHOD_FIELDS` take precedence
            over their copies here.
    """

    paradigm: str
    cnn: str
    cnn_pcm: bool
    cnn_output_stride: int | None
    cnn_weights: str | None
    vit: str
    vit_patch_size: int | None
    vit_weights: str | None
    pretrained: bool
    image_size: int
    resize: str
    epochs: int
    batch_size: int
    lr: float
    schedule: str
    seed: int
    lam: float
    kt_level: str
    kt_distance: str
    readout: CamReadout
    method: dict[str, Any] | None = None

    _KIND = {
        "paradigm": "str", "cnn": "str", "cnn_pcm": "bool", "cnn_output_stride": "int?",
        "cnn_weights": "str?", "vit": "str", "vit_patch_size": "int?", "vit_weights": "str?",
        "pretrained": "bool", "image_size": "int", "resize": "str", "epochs": "int",
        "batch_size": "int", "lr": "float", "schedule": "str", "seed": "int0", "lam": "float",
        "kt_level": "str", "kt_distance": "str", "method": "dict?",
    }

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "readout":
                continue
            value = getattr(self, f.name)
            what, ok = _KINDS[self._KIND[f.name]]
            if not ok(value):
                raise ValueError(
                    f"Recipe setting {f.name!r} must be {what}; got {value!r}. Fix it in the "
                    f"profile's {RECIPE_SECTION!r} section or with --set {f.name}=VALUE."
                )
        object.__setattr__(self, "readout", _readout_setting(self.readout))
        for name in ("lr", "lam"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.method is not None:
            object.__setattr__(self, "method", json.loads(json.dumps(dict(self.method))))
        choices = {"paradigm": RECIPE_PARADIGMS, "resize": RESIZE_MODES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"Recipe setting {name}={getattr(self, name)!r} is not one of {list(allowed)}."
                )

    # ---- construction

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any], where: str = "the recipe") -> Recipe:
        """Build from a settings mapping; keys that are not recipe fields are ignored (the
        section also holds notebook-only settings, and a run's recipe file written before
        ``training_from`` went, that key). ``readout`` is a
        :class:`~wsss_lib.cam.readout.CamReadout` or its mapping; a run's recipe file written
        before the read-out was one setting holds its six flat keys
        (:data:`OLD_READOUT_KEYS`: ``cam_method``, ``cam_layers``, ``cam_scales``,
        ``cam_fusion``, ``threshold``, ``refine``), which are read as ``readout``, and its
        method's ``pretrain``, read as ``proxy_pretrain``.

        Raises:
            ValueError: a recipe field is missing or has a bad value.
        """
        settings = _translate_old_record(settings)
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in settings and n != "method"]
        if missing:
            raise ValueError(
                f"{where} lacks the recipe settings {missing}; every key of "
                f"wsss_lib.runs.Recipe is required (copy them from wsss_lib/profiles/paper.json), "
                f"or give the profile's \"*\" section the method notebooks' whole recipe "
                f"({', '.join(TRAINING_KEYS)}, as in quick.json) to train it."
            )
        return cls(**{n: settings[n] for n in names if n in settings})

    def with_overrides(self, overrides: Mapping[str, Any]) -> Recipe:
        """A copy with some settings replaced (validated again).

        ``readout`` takes a whole :class:`~wsss_lib.cam.readout.CamReadout` or its mapping
        (``--set readout='{"method": "gradcam", "threshold": 0.4}'``: missing keys take
        CamReadout's defaults), and ``readout.KEY`` one of its settings (``readout.method``,
        ``readout.threshold``, ...: ``--set readout.threshold=0.4``), the others kept; both
        given, the keys apply on top of the mapping. A method recipe also takes the keys of its
        ``method`` settings (e.g. ``proxy_pretrain=False``, ``weight_decay=0.01``,
        ``cam_readouts=None``); the fields of :data:`METHOD_FIELDS` are replaced in both places.

        Raises:
            ValueError: an override names no recipe setting, a setting's old name (the
                read-out's old keys ``cam_method``, ``threshold``, ... included), or a bad value.
        """
        check_names(overrides, "The recipe overrides (--set)")
        _old_readout_keys_refused(overrides, "The recipe overrides (--set)")
        names = [f.name for f in fields(self)]
        method = dict(self.method) if self.method is not None else None
        extra = set(method or ()) - set(names)
        keys = {k.removeprefix("readout."): v for k, v in overrides.items()
                if k.startswith("readout.")}
        unknown = sorted(set(overrides) - set(names) - extra
                         - {f"readout.{k}" for k in keys})
        if unknown:
            valid = ", ".join([*names, "readout.KEY", *sorted(extra)])
            raise ValueError(f"Unknown recipe setting(s) {unknown}; valid settings: {valid}.")
        changes = {k: v for k, v in overrides.items() if k in names}
        if keys:
            base = _readout_setting(changes.get("readout", self.readout))
            changes["readout"] = {**base.to_dict(), **keys}
        if method is not None:
            method.update({k: v for k, v in overrides.items()
                           if k in extra or k in METHOD_FIELDS})
            changes["method"] = method
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (lists, not tuples; ``readout`` as ``readout.to_dict()``);
        ``Recipe.from_mapping(r.to_dict()) == r``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["readout"] = self.readout.to_dict()
        return json.loads(json.dumps(out))

    # ---- what it builds

    def _weights(self, path: str | None, key: str) -> dict[str, Any]:
        if path is not None:
            file = Path(path).expanduser().resolve()
            if not file.is_file():
                raise FileNotFoundError(
                    f"Recipe setting {key}={path!r}: no such file ({file}). Pass the local "
                    f"weights file of the backbone (e.g. --set {key}=path/to/model.safetensors), "
                    "or null to train from scratch."
                )
            return {"weights_path": str(file)}
        return {"pretrained": True} if self.pretrained else {}

    def model_spec(self, family: str) -> Any:
        """The :class:`~wsss_lib.train.ModelSpec` of the ``"cnn"`` or the ``"vit"``."""
        from wsss_lib.train import ModelSpec

        if family == "cnn":
            kwargs = {"pcm": self.cnn_pcm, "output_stride": self.cnn_output_stride}
            return ModelSpec(self.cnn, {**kwargs, **self._weights(self.cnn_weights,
                                                                  "cnn_weights")})
        if family == "vit":
            kwargs = {"patch_size": self.vit_patch_size}
            return ModelSpec(self.vit, {**kwargs, **self._weights(self.vit_weights,
                                                                  "vit_weights")})
        raise ValueError(f"family must be 'cnn' or 'vit'; got {family!r}.")

    def method_settings(self) -> dict[str, Any] | None:
        """The settings the method's config builders read (``method`` with the fields of
        :data:`METHOD_FIELDS` on top), or None for an explicit recipe."""
        if self.method is None:
            return None
        return {**self.method, **{k: getattr(self, k) for k in METHOD_FIELDS}}

    def _with_weights(self, spec: Any, family: str) -> Any:
        """``spec`` starting from the recipe's weights file / timm's ImageNet weights, when it
        names any, instead of the proxy pre-training (real weights take precedence)."""
        path, key = ((self.cnn_weights, "cnn_weights") if family == "cnn"
                     else (self.vit_weights, "vit_weights"))
        weights = self._weights(path, key)
        if not weights:
            return spec
        return replace(spec, kwargs={**spec.kwargs, **weights}, proxy_pretrain=None)

    def train_config(self) -> Any:
        """The :class:`~wsss_lib.train.TrainConfig` of this recipe (for your own scenes).

        A method recipe's config is :func:`wsss_lib.studies.configs.own_data_config`: notebook
        02's row of the same paradigm, with ``data=DataSpec(image_size=...)``. An explicit
        recipe's is :func:`wsss_lib.studies.configs.row_config` of its own networks, optimiser
        (TrainConfig's defaults where the recipe names none) and ``DataSpec(image_size=...)``.
        """
        from wsss_lib.studies.configs import own_data_config, row_config
        from wsss_lib.train import DataSpec

        if self.method is not None:
            config = own_data_config(self.method_settings(), self.paradigm, self.seed,
                                     **self._kt_settings())
            roles = {"model": self.paradigm.removeprefix("single_"),
                     "teacher": "vit" if self.paradigm == "ts_vit_to_cnn" else "cnn",
                     "student": "cnn" if self.paradigm == "ts_vit_to_cnn" else "vit"}
            changes = {role: self._with_weights(getattr(config, role), family)
                       for role, family in roles.items() if getattr(config, role) is not None}
            return replace(config, **changes)
        training = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                    "schedule": self.schedule}
        networks = {family: self.model_spec(family) for family in ("cnn", "vit")}
        return row_config(self.paradigm, networks, data=DataSpec(image_size=self.image_size),
                          seed=self.seed, training=training, **self._kt_settings())

    def _kt_settings(self) -> dict[str, Any]:
        """KT keyword arguments of the config builders (none for a single network)."""
        if self.paradigm.startswith("single_"):
            return {}
        return {"lam": self.lam, "level": self.kt_level, "distance": self.kt_distance}

    def readout_candidates(self, family: str) -> list[CamReadout] | None:
        """The read-outs a method recipe chooses among on ``val`` for a ``"cnn"`` / ``"vit"``
        network (:class:`~wsss_lib.cam.readout.CamReadout`, from ``method["cam_readouts"]``), or
        None (an explicit recipe, or ``cam_readouts`` null): ``readout`` is the read-out."""
        from wsss_lib.studies.measure import readout_candidates

        if self.method is None:
            return None
        return readout_candidates(self.method.get("cam_readouts"), family)

    def with_readout(self, readout: CamReadout) -> Recipe:
        """A copy whose ``readout`` is ``readout``'s map, layers and threshold with
        :data:`FALLBACK_READOUT`'s other settings (one scale, mean fusion, no refinement): the
        read-out a method recipe's run chose on ``val``, or its fallback."""
        return replace(self, readout=_on_fallback(readout))


def describe_recipe(recipe: Recipe) -> str:
    """One line saying what a recipe trains, e.g. for ``wsss train``'s printout."""
    cnn = recipe.cnn + (" + PCM" if recipe.cnn_pcm else "") + (
        f", output stride {recipe.cnn_output_stride}" if recipe.cnn_output_stride else "")
    vit = recipe.vit + (f"/{recipe.vit_patch_size}" if recipe.vit_patch_size else "")
    what = {
        "ts_cnn_to_vit": f"teacher {cnn} -> student {vit}",
        "ts_vit_to_cnn": f"teacher {vit} -> student {cnn}",
        "single_cnn": f"{cnn} alone",
        "single_vit": f"{vit} alone",
        "co_training": f"co-training {cnn} + {vit}",
    }[recipe.paradigm]
    weights = []
    for name, path in (("CNN", recipe.cnn_weights), ("ViT", recipe.vit_weights)):
        if path is not None:
            weights.append(f"{name} weights {path}")
    method = recipe.method
    proxy = method is not None and bool(method.get("proxy_pretrain"))
    start = ", ".join(weights) or ("ImageNet weights from timm's hub" if recipe.pretrained
                                   else "proxy pre-training (synthetic clean scenes)" if proxy
                                   else "random initialisation")
    if method is None:
        return (f"{what}; {recipe.image_size} px ({recipe.resize}), {recipe.epochs} epochs, "
                f"batch {recipe.batch_size}, AdamW lr {recipe.lr:g}; {start}; pseudo-masks: "
                f"{recipe.readout.method} at scales {list(recipe.readout.scales)}, threshold "
                f"{recipe.readout.threshold}")
    extras = [f"schedule {recipe.schedule}", f"weight decay {method.get('weight_decay')}"]
    if method.get("vit_lr") is not None and recipe.paradigm != "single_cnn":
        extras.append(f"ViT lr {method['vit_lr']:g}")
    if method.get("grad_clip") is not None:
        extras.append(f"gradient clipping {method['grad_clip']}")
    extras.append(f"precision {method.get('amp')}")
    readout = ("chosen on your validation split among the method's cam_readouts (without "
               "validation masks: the first candidate at "
               f"{FALLBACK_READOUT.threshold:g})" if method.get("cam_readouts")
               else f"{recipe.readout.method} > {recipe.readout.threshold:g}")
    return (f"{what} (the method notebooks' recipe, the profile's \"*\" section); "
            f"{recipe.image_size} px ({recipe.resize}), {recipe.epochs} epochs, batch "
            f"{recipe.batch_size}, AdamW lr {recipe.lr:g} ({', '.join(extras)}); {start}; "
            f"pseudo-masks: read-out {readout}")


def load_recipe(profile: str | os.PathLike[str] = "quick", **overrides: Any) -> Recipe:
    """The recipe of a profile (name or ``.json`` path), with settings overridden.

    The profile's ``"*"`` section is the recipe every notebook trains with; the
    ``08_your_own_data`` section adds only what ``wsss train`` needs besides (the paradigm, how
    images become square, the ``readout`` mapping of an explicit recipe). When ``"*"`` holds the
    method notebooks' whole recipe (:data:`~wsss_lib.studies.configs.TRAINING_KEYS`), it is a
    method recipe; otherwise every :class:`Recipe` field must be given.

    Args:
        profile: ``"quick"``, ``"full"``, ``"paper"`` or a path to a profile ``.json``.
        **overrides: Recipe settings to replace, e.g. ``image_size=64``, or
            ``**{"readout.threshold": 0.4}`` (see :meth:`Recipe.with_overrides`).

    Raises:
        ValueError: unknown profile, a profile without the recipe section, a section that
            repeats a key of the recipe (``"*"``), says ``training_from`` or uses the
            read-out's old keys (:data:`OLD_READOUT_KEYS`), a missing or bad setting, or an
            unknown override.
    """
    data = load_profile(profile)
    if RECIPE_SECTION not in data:
        raise ValueError(
            f"Profile {str(profile)!r} has no {RECIPE_SECTION!r} section, which holds what "
            "`wsss train` trains on your data; add one (copy it from "
            "wsss_lib/profiles/paper.json) or use --profile quick / full / paper."
        )
    section = data[RECIPE_SECTION]
    where = f"Profile {str(profile)!r} section {RECIPE_SECTION!r}"
    if "training_from" in section:
        raise ValueError(
            f"{where} says training_from, which is gone: every notebook, 08 and `wsss train` "
            f"included, trains with the profile's {SHARED_SECTION!r} section; remove it.")
    _old_readout_keys_refused(section, where)
    # One definition of the recipe: the section may not change it (a run may, with --set).
    copied = sorted(k for k in section if k in (*RECIPE_KEYS, *METHOD_FIELDS))
    if copied:
        raise ValueError(
            f"{where} repeats {copied}, keys of the recipe in the profile's {SHARED_SECTION!r} "
            "section; remove them there (one definition of the recipe), or override them for "
            "a run with --set KEY=VALUE.")
    settings = {**data.get(SHARED_SECTION, {}), **section}
    if all(k in settings for k in TRAINING_KEYS):
        settings = _method_recipe_settings(profile, section)
    recipe = Recipe.from_mapping(settings, where)
    return recipe.with_overrides(overrides) if overrides else recipe


def _method_recipe_settings(profile: str | os.PathLike[str], section: Mapping[str, Any]
                            ) -> dict[str, Any]:
    """The settings of a method recipe: the section's own keys, the training fields and the
    ``method`` settings from ``"*"`` (:func:`~wsss_lib.studies.configs.method_settings`), the
    method's defaults for the rest."""
    from wsss_lib.studies.configs import method_settings
    from wsss_lib.studies.measure import readout_candidates
    from wsss_lib.train import KTSpec

    resolved = method_settings(profile, RECIPE_SECTION)
    method = {k: resolved[k] for k in RECIPE_KEYS}
    paradigm = section.get("paradigm", "ts_cnn_to_vit")
    main = ("cnn" if paradigm in ("single_cnn", "ts_vit_to_cnn") else "vit")
    candidates = readout_candidates(method.get("cam_readouts"), main)
    first = candidates[0] if candidates else FALLBACK_READOUT
    kt = KTSpec()
    defaults: dict[str, Any] = {
        "paradigm": paradigm, "cnn_weights": None, "vit_weights": None, "pretrained": False,
        "resize": "pad", "seed": 0, "lam": kt.lam, "kt_level": kt.level,
        "kt_distance": kt.distance,
        "readout": replace(FALLBACK_READOUT, method=first.method, layers=first.layers),
    }
    return {**defaults, **section, **{k: method[k] for k in METHOD_FIELDS},
            "method": method}
