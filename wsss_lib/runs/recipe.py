"""The recipe: what to train on your own data and how to read its CAMs (:class:`Recipe`), read from
a profile's ``08_your_own_data`` section (:func:`load_recipe`) and described in one line
(:func:`describe_recipe`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

#: The profile section holding the recipe (shared with notebook 08).
RECIPE_SECTION = "08_your_own_data"


#: What to train: the rows of notebook 02 (``ts_cnn_to_vit`` is the paper's method).
RECIPE_PARADIGMS = ("ts_cnn_to_vit", "ts_vit_to_cnn", "single_cnn", "single_vit", "co_training")


#: How images of another shape become square (see ``wsss_lib.data.load_folder``).
RESIZE_MODES = ("pad", "crop", "squash")


#: Layouts :func:`load_data` reads.
DATA_LAYOUTS = ("folder", "coco")


#: The read-out of a method recipe's run when it cannot be chosen (no validation split, or one
#: without smoke masks): the first ``cam_readouts`` candidate of the network's family (the score
#: map in ``quick`` / ``full``) cut at the paper's threshold 0.3, one scale, no refinement.
FALLBACK_READOUT: dict[str, Any] = {"threshold": 0.3, "scales": [1.0], "fusion": "mean",
                                    "refine": []}


#: Recipe fields a method recipe takes from the method's training section (the section's key of
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
    "floats": ("a non-empty list of positive numbers",
               lambda v: isinstance(v, (list, tuple)) and len(v) > 0
               and all(_is_number(x) and x > 0 for x in v)),
    "layers?": ("null or a list of layer names / indices",
                lambda v: v is None or (isinstance(v, (list, tuple))
                                        and all(isinstance(x, str) or _is_int(x) for x in v))),
    "strs": ("a list of strings",
             lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)),
    "dict?": ("a mapping of settings or null", lambda v: v is None or isinstance(v, Mapping)),
}


@dataclass(frozen=True)
class Recipe:
    """What ``wsss train`` trains on your data, and how its CAMs become pseudo-masks.

    Every field is a key of the profile's ``"08_your_own_data"`` section. An explicit recipe
    (``paper``) lists all of them but ``training_from`` / ``method``; a method recipe (``quick``,
    ``full``) says ``"training_from": "02_teacher_student"`` and :func:`load_recipe` fills the
    training fields (:data:`METHOD_FIELDS`) and ``method`` from that section, the others from
    the section or their method defaults (seed 0, the KT loss of
    :func:`~wsss_lib.studies.configs.teacher_student_config`, :data:`FALLBACK_READOUT`).

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
            huggingface.co or its local cache). A weights file takes precedence.
        image_size: Side of the square the images are loaded at (512 in the paper).
        resize: How other shapes become square: ``"pad"`` (letterbox, keeps the aspect ratio),
            ``"crop"`` (centre crop) or ``"squash"``.
        epochs: Training epochs (each network).
        batch_size: Images per step.
        lr: AdamW learning rate.
        schedule: Learning-rate schedule of ``TrainConfig`` (``"constant"`` in the paper).
        seed: Training seed.
        lam: Weight λ of the knowledge-transfer loss (KT paradigms).
        kt_level: ``"global"`` (paper), ``"spatial"`` or ``"channel"``.
        kt_distance: ``"cosine"`` (paper), ``"l1"`` or ``"l2"``.
        cam_method: ``"cam"`` (score map) or ``"gradcam"`` / a pytorch-grad-cam method.
        cam_layers: Grad-CAM layers (null: the model's defaults, for a ViT the paper's ``norm1``
            of blocks -5, -4, -2, -1).
        cam_scales: Multi-scale factors (paper: 0.5, 1.0, 1.5, 2.0).
        cam_fusion: Layer fusion rule (``"mean"`` in the paper).
        threshold: Pseudo-mask threshold on the min-max CAM (paper: 0.3).
        refine: Post-processing steps by name (``"par"``, ``"crf"``), in order; empty in the
            paper's setting (notebook 06 shows why).
        training_from: The profile section the training settings come from
            (``"02_teacher_student"``: the method notebooks' recipe), or None for an explicit
            recipe.
        method: The settings of that section (:func:`~wsss_lib.studies.configs.method_settings`:
            also ``weight_decay``, ``augment``, ``amp``, ``grad_clip``, ``pretrain``,
            ``vit_stem``, ``vit_lr`` and the read-out candidates ``cam_readouts``), as
            :func:`load_recipe` resolved them; None for an explicit recipe. The fields of
            :data:`METHOD_FIELDS` take precedence over their copies here.
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
    cam_method: str
    cam_layers: tuple[str | int, ...] | None
    cam_scales: tuple[float, ...]
    cam_fusion: str
    threshold: float
    refine: tuple[str, ...]
    training_from: str | None = None
    method: dict[str, Any] | None = None

    _KIND = {
        "paradigm": "str", "cnn": "str", "cnn_pcm": "bool", "cnn_output_stride": "int?",
        "cnn_weights": "str?", "vit": "str", "vit_patch_size": "int?", "vit_weights": "str?",
        "pretrained": "bool", "image_size": "int", "resize": "str", "epochs": "int",
        "batch_size": "int", "lr": "float", "schedule": "str", "seed": "int0", "lam": "float",
        "kt_level": "str", "kt_distance": "str", "cam_method": "str", "cam_layers": "layers?",
        "cam_scales": "floats", "cam_fusion": "str", "threshold": "float", "refine": "strs",
        "training_from": "str?", "method": "dict?",
    }

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            what, ok = _KINDS[self._KIND[f.name]]
            if not ok(value):
                raise ValueError(
                    f"Recipe setting {f.name!r} must be {what}; got {value!r}. Fix it in the "
                    f"profile's {RECIPE_SECTION!r} section or with --set {f.name}=VALUE."
                )
        for name in ("cam_layers", "cam_scales", "refine"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "cam_scales", tuple(float(s) for s in self.cam_scales))
        for name in ("lr", "lam", "threshold"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.method is not None:
            object.__setattr__(self, "method", json.loads(json.dumps(dict(self.method))))
        if (self.method is None) != (self.training_from is None):
            raise ValueError(
                "Recipe settings training_from and method go together: a method recipe names "
                "the section its training settings come from and holds them (load_recipe "
                "fills them in); an explicit recipe has neither."
            )
        choices = {"paradigm": RECIPE_PARADIGMS, "resize": RESIZE_MODES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"Recipe setting {name}={getattr(self, name)!r} is not one of {list(allowed)}."
                )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"Recipe threshold must lie in [0, 1] (paper 0.3); got "
                             f"{self.threshold}.")
        self._check_cam_choices()
        if self.cam_method == "cam" and self.cam_layers:
            raise ValueError(
                "Recipe cam_method='cam' reads the score map and takes no cam_layers; set "
                "cam_layers to null or cam_method to 'gradcam'."
            )

    def _check_cam_choices(self) -> None:
        from wsss_lib.cam import CAM_METHODS, FUSION_RULES
        from wsss_lib.cam.gradcam_adapter import canonical_gradcam_method
        from wsss_lib.pseudo_masks import REFINEMENT_STEPS

        if self.cam_method not in ("cam", "gradcam"):
            try:
                canonical_gradcam_method(self.cam_method)
            except ValueError:
                raise ValueError(
                    f"Recipe setting cam_method={self.cam_method!r} is not a CAM method; "
                    f"choose one of {list(CAM_METHODS)}."
                ) from None
        if self.cam_fusion not in FUSION_RULES:
            raise ValueError(
                f"Recipe setting cam_fusion={self.cam_fusion!r} is not one of {list(FUSION_RULES)}."
            )
        unknown = [step for step in self.refine if step not in REFINEMENT_STEPS]
        if unknown:
            raise ValueError(
                f"Recipe setting refine names unknown steps {unknown}; choose from "
                f"{sorted(REFINEMENT_STEPS)}."
            )

    # ---- construction

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any], where: str = "the recipe") -> Recipe:
        """Build from a settings mapping; keys that are not recipe fields are ignored (the
        section also holds notebook-only settings).

        Raises:
            ValueError: a recipe field is missing or has a bad value.
        """
        names = [f.name for f in fields(cls)]
        optional = {"training_from", "method"}
        missing = [n for n in names if n not in settings and n not in optional]
        if missing:
            raise ValueError(
                f"{where} lacks the recipe settings {missing}; every key of "
                f"wsss_lib.runs.Recipe is required (copy them from wsss_lib/profiles/paper.json), "
                "or say \"training_from\": \"02_teacher_student\" to train the method "
                "notebooks' recipe."
            )
        return cls(**{n: settings[n] for n in names if n in settings})

    def with_overrides(self, overrides: Mapping[str, Any]) -> Recipe:
        """A copy with some settings replaced (validated again).

        A method recipe also takes the keys of its ``method`` settings (e.g. ``pretrain=False``,
        ``weight_decay=0.01``, ``cam_readouts=None``); the fields of :data:`METHOD_FIELDS` are
        replaced in both places.

        Raises:
            ValueError: an override names no recipe setting.
        """
        names = [f.name for f in fields(self)]
        method = dict(self.method) if self.method is not None else None
        extra = set(method or ()) - set(names)
        unknown = sorted(set(overrides) - set(names) - extra)
        if unknown:
            valid = ", ".join([*names, *sorted(extra)])
            raise ValueError(f"Unknown recipe setting(s) {unknown}; valid settings: {valid}.")
        changes = {k: v for k, v in overrides.items() if k in names}
        if method is not None:
            method.update({k: v for k, v in overrides.items()
                           if k in extra or k in METHOD_FIELDS})
            changes["method"] = method
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (lists, not tuples); ``Recipe.from_mapping(r.to_dict()) == r``."""
        return json.loads(json.dumps(asdict(self)))

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
        return replace(spec, kwargs={**spec.kwargs, **weights}, pretrain=None)

    def train_config(self) -> Any:
        """The :class:`~wsss_lib.train.TrainConfig` of this recipe (for your own scenes).

        A method recipe's config is :func:`wsss_lib.studies.configs.own_data_config`: notebook
        02's row of the same paradigm, with ``data=DataSpec(image_size=...)``.
        """
        from wsss_lib.train import DataSpec, KTSpec, TrainConfig

        if self.method is not None:
            from wsss_lib.studies.configs import own_data_config

            config = own_data_config(self.method_settings(), self.paradigm, self.seed,
                                     **self._kt_settings())
            roles = {"model": self.paradigm.removeprefix("single_"),
                     "teacher": "vit" if self.paradigm == "ts_vit_to_cnn" else "cnn",
                     "student": "cnn" if self.paradigm == "ts_vit_to_cnn" else "vit"}
            changes = {role: self._with_weights(getattr(config, role), family)
                       for role, family in roles.items() if getattr(config, role) is not None}
            return replace(config, **changes)

        common: dict[str, Any] = {
            "data": DataSpec(image_size=self.image_size),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "seed": self.seed,
        }
        if self.schedule != "constant":
            common["schedule"] = self.schedule
        kt = KTSpec(lam=self.lam, level=self.kt_level, distance=self.kt_distance)
        if self.paradigm in ("single_cnn", "single_vit"):
            family = self.paradigm.removeprefix("single_")
            return TrainConfig(paradigm="single", model=self.model_spec(family), **common)
        if self.paradigm == "co_training":
            return TrainConfig(paradigm="co_training", student=self.model_spec("vit"),
                               teacher=self.model_spec("cnn"), kt=kt, **common)
        teacher, student = ("cnn", "vit") if self.paradigm == "ts_cnn_to_vit" else ("vit", "cnn")
        return TrainConfig(paradigm="teacher_student", student=self.model_spec(student),
                           teacher=self.model_spec(teacher), kt=kt, **common)

    def _kt_settings(self) -> dict[str, Any]:
        """KT keyword arguments of the config builders (none for a single network)."""
        if self.paradigm.startswith("single_"):
            return {}
        return {"lam": self.lam, "level": self.kt_level, "distance": self.kt_distance}

    def readout_candidates(self, family: str) -> list[Any] | None:
        """The read-outs a method recipe chooses among on ``val`` for a ``"cnn"`` / ``"vit"``
        network (:class:`~wsss_lib.train.CamReadout`, from ``method["cam_readouts"]``), or None
        (an explicit recipe, or ``cam_readouts`` null): the CAM fields are the read-out."""
        from wsss_lib.studies.measure import readout_candidates

        if self.method is None:
            return None
        return readout_candidates(self.method.get("cam_readouts"), family)

    def with_readout(self, readout: Any) -> Recipe:
        """A copy whose CAM fields are ``readout`` (a :class:`~wsss_lib.train.CamReadout`):
        its map, layers and threshold, at one scale without refinement."""
        layers = None if readout.layers is None else list(readout.layers)
        return replace(self, cam_method=readout.method, cam_layers=layers,
                       threshold=readout.threshold, cam_scales=(1.0,), cam_fusion="mean",
                       refine=())

    def cam_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``export_pseudo_masks`` / ``evaluate_scenes``."""
        return {
            "method": self.cam_method,
            "layers": None if self.cam_layers is None else list(self.cam_layers),
            "scales": list(self.cam_scales),
            "fusion": self.cam_fusion,
            "threshold": self.threshold,
            "refine": list(self.refine),
        }


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
    proxy = method is not None and bool(method.get("pretrain"))
    start = ", ".join(weights) or ("ImageNet weights from timm's hub" if recipe.pretrained
                                   else "proxy pre-training (synthetic clean scenes)" if proxy
                                   else "random initialisation")
    if method is None:
        return (f"{what}; {recipe.image_size} px ({recipe.resize}), {recipe.epochs} epochs, "
                f"batch {recipe.batch_size}, AdamW lr {recipe.lr:g}; {start}; pseudo-masks: "
                f"{recipe.cam_method} at scales {list(recipe.cam_scales)}, threshold "
                f"{recipe.threshold}")
    extras = [f"schedule {recipe.schedule}", f"weight decay {method.get('weight_decay')}"]
    if method.get("vit_lr") is not None and recipe.paradigm != "single_cnn":
        extras.append(f"ViT lr {method['vit_lr']:g}")
    if method.get("grad_clip") is not None:
        extras.append(f"gradient clipping {method['grad_clip']}")
    extras.append(f"precision {method.get('amp')}")
    readout = ("chosen on your validation split among the method's cam_readouts (without "
               "validation masks: the first candidate at "
               f"{FALLBACK_READOUT['threshold']:g})" if method.get("cam_readouts")
               else f"{recipe.cam_method} > {recipe.threshold:g}")
    return (f"{what} (the method notebooks' recipe, profile section {recipe.training_from}); "
            f"{recipe.image_size} px ({recipe.resize}), {recipe.epochs} epochs, batch "
            f"{recipe.batch_size}, AdamW lr {recipe.lr:g} ({', '.join(extras)}); {start}; "
            f"pseudo-masks: read-out {readout}")


def load_recipe(profile: str | os.PathLike[str] = "quick", **overrides: Any) -> Recipe:
    """The recipe of a profile (name or ``.json`` path), with settings overridden.

    Args:
        profile: ``"quick"``, ``"full"``, ``"paper"`` or a path to a profile ``.json``.
        **overrides: Recipe settings to replace, e.g. ``image_size=64``.

    Raises:
        ValueError: unknown profile, a profile without the recipe section, a missing or bad
            setting, or an unknown override.
    """
    from wsss_lib.profiles import load_profile

    data = load_profile(profile)
    if RECIPE_SECTION not in data:
        raise ValueError(
            f"Profile {str(profile)!r} has no {RECIPE_SECTION!r} section, which holds what "
            "`wsss train` trains on your data; add one (copy it from "
            "wsss_lib/profiles/paper.json) or use --profile quick / full / paper."
        )
    settings = {**data.get("*", {}), **data[RECIPE_SECTION]}
    where = f"Profile {str(profile)!r} section {RECIPE_SECTION!r}"
    if settings.get("training_from") is not None:
        settings = _method_recipe_settings(profile, settings, where)
    recipe = Recipe.from_mapping(settings, where)
    return recipe.with_overrides(overrides) if overrides else recipe


def _method_recipe_settings(profile: str | os.PathLike[str], section: Mapping[str, Any],
                            where: str) -> dict[str, Any]:
    """The settings of a method recipe: the section's own keys, the training fields and the
    ``method`` settings from the section it names, the method's defaults for the rest."""
    from wsss_lib.profiles import TRAINING_SECTION
    from wsss_lib.studies.configs import method_settings
    from wsss_lib.studies.measure import readout_candidates
    from wsss_lib.train import KTSpec

    source = section["training_from"]
    if source != TRAINING_SECTION:
        raise ValueError(f"{where}: training_from must be {TRAINING_SECTION!r} (the method "
                         f"notebooks' training section); got {source!r}.")
    copied = sorted(k for k in METHOD_FIELDS if k in section)
    if copied:
        raise ValueError(
            f"{where} takes its training settings from {source!r}; remove {copied} from it (one "
            "definition of the recipe), or override them for a run with --set KEY=VALUE.")
    method = dict(method_settings(profile, TRAINING_SECTION))
    method.pop("profile", None)
    paradigm = section.get("paradigm", "ts_cnn_to_vit")
    main = ("cnn" if paradigm in ("single_cnn", "ts_vit_to_cnn") else "vit")
    candidates = readout_candidates(method.get("cam_readouts"), main)
    first = candidates[0].to_dict() if candidates else {"method": "cam", "layers": None}
    kt = KTSpec()
    defaults: dict[str, Any] = {
        "paradigm": paradigm, "cnn_weights": None, "vit_weights": None, "pretrained": False,
        "resize": "pad", "seed": 0, "lam": kt.lam, "kt_level": kt.level,
        "kt_distance": kt.distance, "cam_method": first["method"], "cam_layers": first["layers"],
        "cam_scales": FALLBACK_READOUT["scales"], "cam_fusion": FALLBACK_READOUT["fusion"],
        "threshold": FALLBACK_READOUT["threshold"], "refine": FALLBACK_READOUT["refine"],
    }
    return {**defaults, **section, **{k: method[k] for k in METHOD_FIELDS},
            "method": method}
