"""Which trained models the cache holds, described for a drop-down, and loading them on demand.

The training cache describes its own entries (:func:`wsss_lib.train.cache.list_runs`, which reads
only the small JSON files, so listing is fast even when the cache holds many runs); this module
keeps the finished runs whose network has a CAM and names each by what it is: the paradigm and the
families of its networks, the backbones, the co-occurrence level it was trained at, its seed and
its validation accuracy (flagged when it is near chance). Two runs that differ only in settings the
label leaves out (λ, epochs, image size, ...) get a short suffix: the settings that differ when
they are few, and always the start of the run's hash. A checkpoint is read when a model is first
selected.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from wsss_lib.results.bias import NEAR_CHANCE_ACCURACY
from wsss_lib.train.cache import KEY_NAME, CachedRun, list_runs

__all__ = [
    "NEAR_CHANCE_ACCURACY",
    "CachedModel",
    "ensure_cached",
    "list_cached_models",
    "load_cached_model",
    "network_family",
    "training_level",
    "with_unique_labels",
]

_FAMILY_TITLES = {"cnn": "CNN", "vit": "ViT"}
# Settings named in a collision suffix only when at most this many differ within the group.
_MAX_NAMED_DIFFERENCES = 2


def network_family(name: str | None) -> str | None:
    """``"cnn"`` or ``"vit"`` for a model name of the kit (``"resnet_mini"``, ``"vit_tiny"``, a
    timm name, ...), else None."""
    if not name:
        return None
    from wsss_lib.models import resolve_model_name

    try:
        return resolve_model_name(name)[1]
    except (ValueError, TypeError, RuntimeError):
        lowered = name.lower()
        if "vit" in lowered or "deit" in lowered:
            return "vit"
        if "resnet" in lowered or "cnn" in lowered:
            return "cnn"
        return None


def _family_title(name: str | None) -> str:
    return _FAMILY_TITLES.get(network_family(name) or "", "?")


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def training_level(config: Mapping[str, Any]) -> tuple[float, float] | None:
    """``(P(chimney | smoke), P(chimney | clean))`` of the images a run was trained on.

    Read from the stored ``TrainConfig.to_dict()``: the ``DataSpec``'s ``overrides`` when it sets
    them, else the defaults of its ``train_split`` (e.g. 0.95 / 0.05 for ``"train"``). None when
    the config names no data.
    """
    from wsss_lib.data.splits import SPLIT_DEFAULTS

    data = config.get("data")
    if not isinstance(data, Mapping):
        return None
    defaults = SPLIT_DEFAULTS.get(str(data.get("train_split", "train")), {})
    overrides = data.get("overrides") if isinstance(data.get("overrides"), Mapping) else {}
    values = []
    for name in ("p_chimney_given_smoke", "p_chimney_given_clean"):
        value = _number(overrides.get(name, defaults.get(name)))
        if value is None:
            return None
        values.append(value)
    return values[0], values[1]


def _trained_on_own_data(run_dir: Path) -> bool:
    """Whether the run's cache key carries a data fingerprint (trained on your own scenes)."""
    try:
        key = json.loads((run_dir / KEY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(key, dict) and key.get("data_fingerprint") is not None


@dataclass(frozen=True)
class CachedModel:
    """One finished training run in the cache, as the explorer lists it.

    Attributes:
        key: The run folder's name (unique within a cache), e.g. ``"single-resnet18-3f2a..."``.
        run_dir: The run folder.
        paradigm: ``TrainConfig.paradigm`` of a paradigm with a CAM (``"single"``,
            ``"teacher_student"``, ``"co_training"``).
        model_name: Name of the network whose CAMs are shown (the student of KT paradigms).
        teacher_name: The teacher's name for KT paradigms, else None.
        image_size: Side of the square images it was trained on.
        epochs: Epochs it was trained for.
        seed: Training seed.
        val_acc: Validation accuracy of the last epoch, when recorded.
        config: The stored ``TrainConfig.to_dict()``.
        own_data: Trained on your own scenes (not the synthetic splits ``config.data`` names).
        suffix: Added to :attr:`label` when another listed run has the same
            :attr:`base_label` (see :func:`with_unique_labels`); empty otherwise.
    """

    key: str
    run_dir: Path
    paradigm: str
    model_name: str
    teacher_name: str | None
    image_size: int
    epochs: int
    seed: int
    val_acc: float | None
    config: dict[str, Any]
    own_data: bool = False
    suffix: str = ""

    # ------------------------------------------------------------------ what it is
    @property
    def kind(self) -> str:
        """The paradigm and network families, e.g. ``"single ViT"``,
        ``"teacher-student CNN→ViT"``, ``"co-training CNN⇄ViT"``, ``"supervised CNN"``."""
        student, teacher = _family_title(self.model_name), _family_title(self.teacher_name)
        if self.paradigm == "single":
            return f"single {student}"
        if self.paradigm == "teacher_student":
            return f"teacher-student {teacher}→{student}"
        if self.paradigm == "co_training":
            return f"co-training {teacher}⇄{student}"
        if self.paradigm == "supervised":
            return f"supervised {student}"
        return f"{self.paradigm} {student}"

    @property
    def backbones(self) -> str:
        """The networks by name; the one whose CAMs are shown comes last
        (``"resnet_mini→vit_mini"``)."""
        if self.teacher_name is None:
            return self.model_name
        arrow = "⇄" if self.paradigm == "co_training" else "→"
        return f"{self.teacher_name}{arrow}{self.model_name}"

    @property
    def level(self) -> tuple[float, float] | None:
        """``(P(chimney | smoke), P(chimney | clean))`` of its training images (None on your own
        data or when unknown)."""
        return None if self.own_data else training_level(self.config)

    @property
    def near_chance(self) -> bool:
        """Validation accuracy below :data:`NEAR_CHANCE_ACCURACY` (chance is 0.5 on the balanced
        synthetic splits): the network did not learn to recognise smoke, so its CAMs describe an
        untrained network."""
        return self.val_acc is not None and not self.val_acc >= NEAR_CHANCE_ACCURACY

    @property
    def accuracy_text(self) -> str:
        """``"val acc 87 %"``, ``"val acc 51 % (near chance)"`` or ``"no val acc"``."""
        if self.val_acc is None:
            return "no val acc"
        return f"val acc {100 * self.val_acc:.0f} %" + (" (near chance)" if self.near_chance
                                                        else "")

    @property
    def base_label(self) -> str:
        """What the run is, without the collision suffix."""
        level = self.level
        parts = [self.kind, self.backbones]
        if self.own_data:
            parts.append("your own data")
        elif level is not None:  # unknown for a config without data (e.g. hand-made entries)
            parts.append(f"P(chimney|smoke/clean) {level[0]:.2f}/{level[1]:.2f}")
        parts += [f"seed {self.seed}", self.accuracy_text]
        return " · ".join(parts)

    @property
    def label(self) -> str:
        """Human-readable description for a drop-down, unique within a listing."""
        return self.base_label + (f" [{self.suffix}]" if self.suffix else "")

    @property
    def chance_note(self) -> str:
        """A sentence for a reader when the run is :attr:`near_chance`, else ``""``."""
        if not self.near_chance:
            return ""
        return (f"{self.kind} ({self.backbones}) is near chance: val acc "
                f"{100 * self.val_acc:.0f} % on its validation images (below "
                f"{100 * NEAR_CHANCE_ACCURACY:.0f} %; chance is 50 %). "
                "It did not learn to recognise smoke in its training budget, so its CAM and "
                "the numbers computed from it describe an untrained network, not a shortcut "
                "(or the lack of one).")

    @classmethod
    def from_run(cls, run: CachedRun) -> CachedModel:
        """The explorer's view of a cache entry."""
        return cls(key=run.key, run_dir=run.run_dir, paradigm=run.paradigm,
                   model_name=run.model_name, teacher_name=run.teacher_name,
                   image_size=run.image_size, epochs=run.epochs, seed=run.seed,
                   val_acc=run.val_acc, config=run.config,
                   own_data=_trained_on_own_data(run.run_dir))


# ---------------------------------------------------------------------------- unique labels


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "/".join(_short(v) for v in value)
    return "-" if value is None else str(value)


def _as_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _distinguishing_settings(group: Sequence[CachedModel]) -> list[list[str]]:
    """For each member, the flattened config keys that set it apart within the group.

    A key whose values are not all equal is named for every member whose value differs from
    the key's most common value; when no value is more common than the others (e.g. two
    members), it is named for every member.
    """
    flat = [_flatten(m.config) for m in group]
    keys = sorted(set().union(*flat))
    named: list[list[str]] = [[] for _ in group]
    for key in keys:
        values = [_as_key(f.get(key)) for f in flat]
        counts = Counter(values)
        if len(counts) < 2:
            continue
        (top, n_top), *rest = counts.most_common()
        common = top if n_top > 1 and (not rest or rest[0][1] < n_top) else None
        for i, value in enumerate(values):
            if value != common:
                named[i].append(key)
    return named


def _hash_part(key: str) -> str:
    return key.rsplit("-", 1)[-1]


def with_unique_labels(models: Iterable[CachedModel]) -> list[CachedModel]:
    """The same entries (same order) with a :attr:`CachedModel.suffix` where labels collide.

    Entries whose :attr:`CachedModel.label` is unique are returned unchanged (a suffix they
    already carry is kept, so labels stay as the full cache listing made them). Within a group
    of equal labels each member gets ``"<settings> · <hash>"``: the settings that set it apart
    from the others (e.g. ``"kt.lam=0.5"``, see :func:`_distinguishing_settings`) when there
    are at most two, and always the shortest prefix of the run's hash (6 characters or more)
    that tells the members apart.
    """
    models = list(models)
    groups: dict[str, list[int]] = {}
    for i, model in enumerate(models):
        groups.setdefault(model.label, []).append(i)
    out = list(models)
    for members in groups.values():
        if len(members) < 2:
            continue
        group = [replace(models[i], suffix="") for i in members]
        hashes = [_hash_part(m.key) for m in group]
        width = 6
        while width < max(len(h) for h in hashes) and len({h[:width] for h in hashes}) < len(
                hashes):
            width += 2
        distinct = len(set(hashes)) == len(hashes)
        for i, model, digest, keys in zip(members, group, hashes,
                                          _distinguishing_settings(group), strict=True):
            parts = []
            if 0 < len(keys) <= _MAX_NAMED_DIFFERENCES:
                flat = _flatten(model.config)
                parts.append(", ".join(f"{k}={_short(flat.get(k))}" for k in keys))
            parts.append(digest[:width] if distinct else model.key)
            out[i] = replace(model, suffix=" · ".join(parts))
    return out


# ---------------------------------------------------------------------------- the cache


def list_cached_models(cache_dir: str | os.PathLike[str] | None = None) -> list[CachedModel]:
    """Finished, CAM-producing training runs in the cache, newest first, with unique labels.

    Unfinished runs (fewer recorded epochs than configured: interrupted, or still training) and
    runs of a paradigm without a CAM (``Paradigm.has_cam``: the fully supervised reference) are
    left out. Missing or unreadable cache folders simply give an empty list.

    Args:
        cache_dir: Cache root (default :func:`wsss_lib.utils.default_cache_dir`).

    Returns:
        One :class:`CachedModel` per usable run (see :func:`with_unique_labels`).
    """
    return with_unique_labels(CachedModel.from_run(run) for run in list_runs(cache_dir)
                              if run.has_cam and run.epochs >= 1 and run.complete)


def load_cached_model(entry: CachedModel, device: str | torch.device | None = None):
    """The network of a cached run whose CAMs are the result (the student of KT runs).

    Args:
        entry: A :func:`list_cached_models` item.
        device: Where to put it (default :func:`wsss_lib.utils.get_device`).

    Returns:
        The ``WSSSClassifier`` in eval mode.
    """
    from wsss_lib.train import load_run
    from wsss_lib.train.cache import record_loaded_run

    run = load_run(entry.run_dir, device)
    record_loaded_run(run)  # the notebook's metrics.json lists the networks it showed
    return run.model


def ensure_cached(
    configs: Mapping[str, Any],
    trainer: Callable[[Any], Any],
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Train the configs whose finished run is not in the cache yet.

    Args:
        configs: Name -> ``TrainConfig`` (e.g. ``wsss_lib.studies.paradigms.paradigm_configs``).
        trainer: Called with each missing config, e.g. ``wsss_lib.train.get_or_train`` (which also
            trains a teacher-student run's teacher when that is missing).
        cache_dir: Cache root (default ``$WSSS_CACHE``); must be where ``trainer`` writes.

    Returns:
        The names of the configs that were trained now (empty when all were cached).
    """
    from wsss_lib.train import run_dir_for

    cached = {m.key for m in list_cached_models(cache_dir)}
    missing = [name for name, config in configs.items()
               if run_dir_for(config, cache_dir).name not in cached]
    for name in missing:
        trainer(configs[name])
    return missing
