"""Training runs outside the tutorial notebooks: a profile's recipe, your data, finding runs.

``wsss train`` / ``wsss evaluate`` / ``wsss pseudo-masks`` and notebook 08 share this module::

    from wsss_lib.runs import load_recipe, load_data, train_recipe
    recipe = load_recipe("paper", cnn_weights="resnet50.safetensors",
                         vit_weights="vit_base.safetensors")
    scenes = load_data("IJmond-SEG", layout="coco", split="train",
                       image_size=recipe.image_size, resize=recipe.resize)
    run = train_recipe(recipe, scenes, profile="paper")      # cached like every other run

**The recipe** is the ``"08_your_own_data"`` section of a profile (:data:`RECIPE_SECTION`, plus
the profile's ``"*"`` defaults): what to train on your own data and how to turn its CAMs into
pseudo-masks. Notebook 08 runs the same section, so ``wsss train --profile quick`` trains what the
quick report's notebook 08 trains. ``quick`` and ``full`` hold small CPU settings; ``paper`` the
setting of Zhang & Hsu 2025 (arXiv 2507.21959): 512 px, ResNet-50 + PCM at output stride 16 as
teacher, ViT-B/16 student, batch 8, AdamW 1e-4, 3 epochs, Grad-CAM on ``norm1`` of blocks -5, -4,
-2, -1, multi-scale 0.5-2.0, threshold 0.3. Every key is listed in :class:`Recipe`.

**A run** is a folder of the model cache (``$WSSS_CACHE/runs/<paradigm>-<model>-<hash>``, see
:mod:`wsss_lib.train.cache`). :func:`resolve_run` accepts the folder, its ``checkpoint.pt``, its
name (the cache key) or an unambiguous prefix of the name or of its hash. Runs trained through
:func:`train_recipe` keep the recipe beside the checkpoint (:data:`RECIPE_FILE`), so evaluating
them or exporting their pseudo-masks uses the same CAM settings unless told otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_LAYOUTS",
    "RECIPE_FILE",
    "RECIPE_PARADIGMS",
    "RECIPE_SECTION",
    "RESIZE_MODES",
    "Recipe",
    "RunInfo",
    "describe_recipe",
    "describe_scenes",
    "list_runs",
    "load_data",
    "load_recipe",
    "load_truth",
    "read_run_recipe",
    "resolve_run",
    "train_recipe",
]

#: The profile section holding the recipe (shared with notebook 08).
RECIPE_SECTION = "08_your_own_data"
#: Written into a run folder by :func:`train_recipe`: the recipe, profile and data it came from.
RECIPE_FILE = "wsss_recipe.json"
#: What to train: the rows of notebook 02 (``ts_cnn_to_vit`` is the paper's method).
RECIPE_PARADIGMS = ("ts_cnn_to_vit", "ts_vit_to_cnn", "single_cnn", "single_vit", "co_training")
#: How images of another shape become square (see ``wsss_lib.data.load_folder``).
RESIZE_MODES = ("pad", "crop", "squash")
#: Layouts :func:`load_data` reads.
DATA_LAYOUTS = ("folder", "coco")

# ---------------------------------------------------------------------------- the recipe


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
}


@dataclass(frozen=True)
class Recipe:
    """What ``wsss train`` trains on your data, and how its CAMs become pseudo-masks.

    Every field is a key of the profile's ``"08_your_own_data"`` section (all are required there).

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

    _KIND = {
        "paradigm": "str", "cnn": "str", "cnn_pcm": "bool", "cnn_output_stride": "int?",
        "cnn_weights": "str?", "vit": "str", "vit_patch_size": "int?", "vit_weights": "str?",
        "pretrained": "bool", "image_size": "int", "resize": "str", "epochs": "int",
        "batch_size": "int", "lr": "float", "schedule": "str", "seed": "int0", "lam": "float",
        "kt_level": "str", "kt_distance": "str", "cam_method": "str", "cam_layers": "layers?",
        "cam_scales": "floats", "cam_fusion": "str", "threshold": "float", "refine": "strs",
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
        missing = [n for n in names if n not in settings]
        if missing:
            raise ValueError(
                f"{where} lacks the recipe settings {missing}; every key of "
                f"wsss_lib.runs.Recipe is required (copy them from wsss_lib/profiles/paper.json)."
            )
        return cls(**{n: settings[n] for n in names})

    def with_overrides(self, overrides: Mapping[str, Any]) -> Recipe:
        """A copy with some settings replaced (validated again).

        Raises:
            ValueError: an override names no recipe setting.
        """
        names = [f.name for f in fields(self)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(
                f"Unknown recipe setting(s) {unknown}; valid settings: {', '.join(names)}."
            )
        return replace(self, **dict(overrides))

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

    def train_config(self) -> Any:
        """The :class:`~wsss_lib.train.TrainConfig` of this recipe (for your own scenes)."""
        from wsss_lib.train import DataSpec, KTSpec, TrainConfig

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
    start = ", ".join(weights) or ("ImageNet weights from timm's hub" if recipe.pretrained
                                   else "random initialisation")
    return (f"{what}; {recipe.image_size} px ({recipe.resize}), {recipe.epochs} epochs, batch "
            f"{recipe.batch_size}, AdamW lr {recipe.lr:g}; {start}; pseudo-masks: "
            f"{recipe.cam_method} at scales {list(recipe.cam_scales)}, threshold "
            f"{recipe.threshold}")


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
    recipe = Recipe.from_mapping(settings, f"Profile {str(profile)!r} section {RECIPE_SECTION!r}")
    return recipe.with_overrides(overrides) if overrides else recipe


# ---------------------------------------------------------------------------- data


def load_data(
    path: str | os.PathLike[str],
    *,
    layout: str = "folder",
    split: str | None = None,
    image_size: int | None = None,
    resize: str = "pad",
    smoke_categories: Any = None,
    keep_opacity: bool = False,
) -> Any:
    """Load your data: a folder (``labels.csv`` + ``images/`` + optional ``masks/``) or a
    COCO-segmentation export (e.g. Roboflow's ``train/``, ``valid/``, ``test/`` folders, each
    with ``_annotations.coco.json``).

    Args:
        path: The data folder or the export's root.
        layout: ``"folder"`` (:func:`wsss_lib.data.load_folder`) or ``"coco"``
            (:func:`wsss_lib.data.load_coco`).
        split: COCO only: the split folder to read (``"train"``, ``"valid"``, ``"test"``).
        image_size: Square side the images are resized to (None: keep their size).
        resize: ``"pad"``, ``"crop"`` or ``"squash"`` (see :data:`RESIZE_MODES`).
        smoke_categories: COCO only: category names or ids that count as smoke (None: names
            containing "smoke").
        keep_opacity: COCO only: also load the per-pixel opacity classes (``opacity_maps``).

    Returns:
        :class:`~wsss_lib.data.SmokeScenes`.
    """
    from wsss_lib import data

    if layout not in DATA_LAYOUTS:
        raise ValueError(f"layout must be one of {DATA_LAYOUTS}; got {layout!r}.")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}; got {resize!r}.")
    if layout == "folder":
        if split is not None:
            raise ValueError(
                f"split={split!r} applies to COCO exports only; a folder is loaded whole. Point "
                "--data at the folder of that split instead."
            )
        if smoke_categories is not None or keep_opacity:
            raise ValueError(
                "smoke_categories and keep_opacity apply to COCO exports only; a folder's "
                "labels.csv and masks/ say what is smoke."
            )
        return data.load_folder(path, image_size=image_size, resize=resize)
    return data.load_coco(path, split, image_size=image_size, resize=resize,
                          smoke_categories=smoke_categories, keep_opacity=keep_opacity)


def load_truth(
    path: str | os.PathLike[str],
    *,
    layout: str = "folder",
    split: str | None = None,
    smoke_categories: Any = None,
    keep_opacity: bool = False,
) -> Any:
    """The ground-truth smoke masks of your data at every image's original size.

    Images may differ in size (real sets do): the result is a
    :class:`~wsss_lib.data.resize.TruthMasks` (names + one mask per image), what ``truth=`` of
    :func:`wsss_lib.pseudo_masks.evaluate_scenes` / ``export_pseudo_masks`` takes. Same arguments
    as :func:`load_data` (``keep_opacity=True``: COCO opacity classes too); None for a folder
    without ``masks/``.
    """
    from wsss_lib.data.coco import load_coco_truth
    from wsss_lib.data.folder import load_folder_truth

    if layout not in DATA_LAYOUTS:
        raise ValueError(f"layout must be one of {DATA_LAYOUTS}; got {layout!r}.")
    if layout == "folder":
        if keep_opacity:
            raise ValueError("keep_opacity applies to COCO exports only (their opacity classes).")
        return load_folder_truth(path)
    return load_coco_truth(path, split, smoke_categories=smoke_categories,
                           keep_opacity=keep_opacity)


# ---------------------------------------------------------------------------- training


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def train_recipe(
    recipe: Recipe,
    train_scenes: Any,
    val_scenes: Any = None,
    *,
    profile: str | os.PathLike[str] | None = None,
    data: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device: Any = None,
    progress: bool = True,
) -> Any:
    """Train (or load from the cache) the recipe's run on your scenes, and record the recipe.

    Args:
        recipe: From :func:`load_recipe`.
        train_scenes: Training :class:`~wsss_lib.data.SmokeScenes` at ``recipe.image_size``.
        val_scenes: Optional validation scenes (per-epoch accuracy in the history).
        profile: The profile's name, recorded beside the run.
        data: What the scenes are (e.g. ``{"layout": "coco", "path": ..., "split": "train"}``),
            recorded beside the run.
        cache_dir: Model cache root (default ``$WSSS_CACHE``).
        device: Training device (default: CUDA when present; mixed precision there).
        progress: Show progress bars.

    Returns:
        The :class:`~wsss_lib.train.TrainedRun`; ``run.run_dir`` is its folder.
    """
    from wsss_lib.train import get_or_train
    from wsss_lib.utils import atomic_write_json

    run = get_or_train(recipe.train_config(), cache_dir=cache_dir, progress=progress,
                       device=device, train_scenes=train_scenes, val_scenes=val_scenes)
    if run.run_dir is not None:
        atomic_write_json(run.run_dir / RECIPE_FILE, {
            "profile": None if profile is None else str(profile),
            "recipe": recipe.to_dict(),
            "data": dict(data or {}),
            "n_train": len(train_scenes),
            "n_val": None if val_scenes is None else len(val_scenes),
            "train_data": describe_scenes(train_scenes, (data or {}).get("train")),
            "val_data": None if val_scenes is None
            else describe_scenes(val_scenes, (data or {}).get("val")),
            "written": _now(),
        })
    return run


def describe_scenes(scenes: Any, source: Mapping[str, Any] | str | None = None
                    ) -> dict[str, Any]:
    """What a run was trained on, as recorded beside it: ``path``, ``format`` (``folder`` /
    ``coco``), ``split``, ``n_images``, ``n_smoke``, ``fingerprint`` (the content hash the model
    cache keys runs by) and, for COCO, the ``smoke_categories``. ``source`` describes the data
    (``{"layout", "path", "split"}``) or is a free-text label of it (kept as ``label``)."""
    meta = dict(getattr(scenes, "meta", {}) or {})
    label = source if isinstance(source, str) else None
    source = {} if label is not None else dict(source or {})
    labels = getattr(scenes, "labels", [])
    record = {
        "path": source.get("path", meta.get("root") or meta.get("annotations")),
        "format": source.get("layout", meta.get("source")),
        "split": source.get("split", meta.get("split")),
        "n_images": len(scenes),
        "n_smoke": int(sum(int(v) for v in labels)),
        "fingerprint": scenes.fingerprint(),
    }
    if label is not None:
        record["label"] = label
    if "smoke_categories" in meta:
        record["smoke_categories"] = list(meta["smoke_categories"])
    return record


def read_run_recipe(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What :func:`train_recipe` recorded beside a run (``recipe``, ``profile``, ``data``), or
    None for runs trained otherwise (e.g. by notebooks 01-07) or with an unreadable record."""
    path = Path(run_dir) / RECIPE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("recipe"), dict) else None


# ---------------------------------------------------------------------------- finding runs


@dataclass(frozen=True)
class RunInfo:
    """One run folder of the cache, described from its small JSON files.

    Attributes:
        key: The folder name (the cache key), e.g. ``"teacher_student-vit_base-3f2a..."``.
        run_dir: The folder.
        paradigm: ``TrainConfig.paradigm``.
        model: The network whose CAMs are the result (the student of KT runs).
        teacher: The teacher of KT runs, else None.
        image_size: Training image side.
        epochs: Epochs configured.
        epochs_done: Epochs finished (a run is complete when equal to ``epochs``).
        val_acc: Validation accuracy of the last finished epoch, when recorded.
        profile: The profile ``wsss train`` / notebook 08 trained it with, if any.
        data: What it was trained on (:func:`describe_scenes`: path, format, split, count,
            fingerprint), when recorded.
    """

    key: str
    run_dir: Path
    paradigm: str
    model: str
    teacher: str | None
    image_size: int
    epochs: int
    epochs_done: int
    val_acc: float | None
    profile: str | None
    data: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        return self.epochs_done >= self.epochs


def _expand(cache_dir: str | os.PathLike[str] | None) -> Path | None:
    return None if cache_dir is None else Path(cache_dir).expanduser()


def list_runs(cache_dir: str | os.PathLike[str] | None = None) -> list[RunInfo]:
    """Every run folder of the cache with a checkpoint, newest first (unfinished ones too).

    Args:
        cache_dir: Cache root (default ``$WSSS_CACHE``).
    """
    from wsss_lib.train.cache import list_runs as cached_runs

    infos = []
    for run in cached_runs(_expand(cache_dir)):
        recipe = read_run_recipe(run.run_dir)
        infos.append(RunInfo(
            key=run.key, run_dir=run.run_dir, paradigm=run.paradigm, model=run.model_name,
            teacher=run.teacher_name, image_size=run.image_size, epochs=run.epochs,
            epochs_done=run.epochs_done, val_acc=run.val_acc,
            profile=None if recipe is None else recipe.get("profile"),
            data=None if recipe is None or not isinstance(recipe.get("train_data"), dict)
            else recipe["train_data"],
        ))
    return infos


def resolve_run(ref: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
                ) -> Path:
    """The folder of a finished training run (:func:`wsss_lib.train.cache.find_run`).

    Args:
        ref: A run folder, its ``checkpoint.pt``, a cache key (the folder's name under
            ``$WSSS_CACHE/runs``), or a unique prefix of a key or of its hash.
        cache_dir: Cache root to look keys up in (default ``$WSSS_CACHE``).

    Raises:
        FileNotFoundError: no such folder or key.
        ValueError: a prefix matching several runs, or an unfinished run.
    """
    from wsss_lib.train.cache import find_run

    return find_run(ref, _expand(cache_dir))
