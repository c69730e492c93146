"""Which cached networks and image the explorer opens on: a taught network's single-network twin
(:func:`find_twin`), the default pair (:func:`default_models`) and the first informative image
(:func:`first_informative_index`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.train.config import KTSpec
from wsss_lib.train.paradigms import get_paradigm
from wsss_lib.widgets.catalog import CachedModel, network_family
from wsss_lib.widgets.pipeline import (
    ImageRecord,
)


def _normalized_config(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """``TrainConfig.from_dict(config).to_dict()``, or None for a config this version rejects."""
    normalized = _normalized_json(json.dumps(config, sort_keys=True, default=str))
    return None if normalized is None else json.loads(normalized)


@functools.lru_cache(maxsize=1024)
def _normalized_json(text: str) -> str | None:
    # Cached: default_models compares every taught run with every single run.
    from wsss_lib.train import TrainConfig

    try:
        return json.dumps(TrainConfig.from_dict(json.loads(text)).to_dict(), sort_keys=True)
    except (ValueError, TypeError, KeyError):
        return None


def _alone_config(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The single-network config of a KT run's student: what it is without its teacher."""
    from wsss_lib.train import TrainConfig

    try:
        taught = TrainConfig.from_dict(config)
        alone = dataclasses.replace(taught, paradigm="single", model=taught.student,
                                    student=None, teacher=None, kt=None, teacher_epochs=None)
        return json.loads(json.dumps(alone.to_dict(), sort_keys=True, default=str))
    except (ValueError, TypeError, KeyError):
        return None


def _paradigm_flag(model: CachedModel, name: str) -> bool:
    try:
        return bool(getattr(get_paradigm(model.paradigm), name))
    except ValueError:  # a paradigm this version does not know
        return False


def find_twin(taught: CachedModel, models: Sequence[CachedModel]) -> tuple[CachedModel | None,
                                                                            bool]:
    """The single-network run of ``taught``'s student: ``(run, exact)``.

    Exact: its config is ``taught``'s with the teacher and the knowledge transfer removed (same
    data, level, seed, epochs and optimiser). Otherwise the newest single run of the same
    network, training level, seed, image size and data kind (``exact=False``); ``(None, False)``
    when there is none.
    """
    singles = [m for m in models if m.paradigm == "single" and m.key != taught.key]
    wanted = _alone_config(taught.config) if taught.config else None
    if wanted is not None:
        for model in singles:
            if model.config and _normalized_config(model.config) == wanted:
                return model, True
    same = (taught.model_name, taught.level, taught.seed, taught.image_size, taught.own_data)
    for model in singles:
        if (model.model_name, model.level, model.seed, model.image_size, model.own_data) == same:
            return model, False
    return None, False


def default_models(models: Sequence[CachedModel]) -> tuple[str | None, str | None]:
    """Default ``(model_a, model_b)`` keys: a network trained alone and its teacher-student twin.

    With a run taught by a trained teacher (``Paradigm.needs_trained_teacher``), B is that run
    and A its twin (:func:`find_twin`: the same student network trained alone at the same level
    and seed). Among several taught runs the first of, in order: one with an exact twin, then a
    loose one; CNN→ViT (the paper's direction); not near chance; the paper's knowledge-transfer
    settings (``KTSpec()``); the lowest seed; the newest (``models`` is newest first). Without a
    twin A falls back to a single run of the same architecture, else any single run; without a
    taught run A is the newest run and B is empty.
    """
    if not models:
        return None, None
    taught = [m for m in models if _paradigm_flag(m, "needs_trained_teacher")]
    if not taught:
        return models[0].key, None
    paper_kt = KTSpec().to_dict()

    def rank(item: tuple[int, CachedModel]) -> tuple:
        newest, model = item
        twin, exact = find_twin(model, models)
        cnn_to_vit = (network_family(model.teacher_name), network_family(model.model_name)) \
            == ("cnn", "vit")
        return (twin is None, not exact, not cnn_to_vit, model.near_chance,
                model.config.get("kt") != paper_kt, model.seed, newest)

    best = min(enumerate(taught), key=rank)[1]
    twin, _ = find_twin(best, models)
    if twin is None:
        singles = [m for m in models if not _paradigm_flag(m, "uses_kt")]
        same_arch = [m for m in singles if m.model_name == best.model_name]
        twin = (same_arch or singles or [None])[0]
    return (twin.key, best.key) if twin else (best.key, None)


def first_informative_index(records: Sequence[ImageRecord], label: int = 1) -> int:
    """Index of the first image with ``label`` that shows a chimney (0 when there is none).

    With ``label=1``, a smoke image next to a chimney: smoke IoU, chimney false positives and
    CAM chimney mass at once. With ``label=0`` (e.g. in ``test_decoupled``), a clean image with
    a chimney: any CAM there is the shortcut.
    """
    for i, record in enumerate(records):
        if record.label == label and record.chimney_mask is not None \
                and record.chimney_mask.any():
            return i
    return 0
