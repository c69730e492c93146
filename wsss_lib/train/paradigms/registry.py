"""The paradigms by name: ``TrainConfig.paradigm`` -> the :class:`Paradigm` subclass it selects.

Each paradigm module registers its class with :func:`register_paradigm` when it is imported;
:mod:`wsss_lib.train.paradigms` imports them all, in the order of :data:`PARADIGMS`.
"""

from __future__ import annotations

from torch import nn

from wsss_lib.train.config import ParadigmRules, declare_paradigm, undeclare_paradigm
from wsss_lib.train.paradigms.base import Paradigm, TrainConfigLike

__all__ = ["build_paradigm", "get_paradigm", "paradigm_names", "register_paradigm",
           "unregister_paradigm"]

_REGISTRY: dict[str, type[Paradigm]] = {}


def register_paradigm(cls: type[Paradigm]) -> type[Paradigm]:
    """Class decorator: make ``cls`` selectable as a TrainConfig's ``paradigm=cls.name``.

    Declares the class's :class:`~wsss_lib.train.config.ParadigmRules` (its network fields,
    result role, KT and teacher flags) to :mod:`wsss_lib.train.config`, the plain data a
    ``TrainConfig`` validates against.

    Raises:
        ValueError: when another class already has that name.
    """
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(
            f"Paradigm name {cls.name!r} is taken by {_REGISTRY[cls.name].__qualname__}; give "
            f"{cls.__qualname__} another name."
        )
    if cls.result_role not in cls.checkpoint_roles:
        raise ValueError(
            f"{cls.__qualname__}.result_role={cls.result_role!r} is not one of its "
            f"checkpoint_roles {cls.checkpoint_roles}."
        )
    # TrainConfig checks itself against these rules, never against the class.
    declare_paradigm(cls.name, ParadigmRules(
        network_fields=tuple(cls.network_fields), result_role=cls.result_role,
        uses_kt=bool(cls.uses_kt), needs_trained_teacher=bool(cls.needs_trained_teacher)))
    _REGISTRY[cls.name] = cls
    return cls


def unregister_paradigm(name: str) -> None:
    """Remove a registered paradigm and its declared rules (a test's clean-up); unknown: no-op."""
    _REGISTRY.pop(name, None)
    undeclare_paradigm(name)


def paradigm_names() -> tuple[str, ...]:
    """The registered paradigm names, in registration order."""
    return tuple(_REGISTRY)


def get_paradigm(name: str) -> type[Paradigm]:
    """The class registered as ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"paradigm={name!r} is not supported; choose one of {list(_REGISTRY)}."
        ) from None


def build_paradigm(config: TrainConfigLike, teacher: nn.Module | None = None) -> Paradigm:
    """Build the networks of ``config`` (randomly initialised, in a fixed order) and its paradigm.

    Call :func:`wsss_lib.utils.seed_everything` first for a reproducible initialisation.

    Args:
        config: The run's configuration.
        teacher: The trained teacher of a paradigm with ``needs_trained_teacher`` (required
            there, unused elsewhere). :func:`wsss_lib.train.get_or_train` trains or loads it.

    Raises:
        ValueError: when a paradigm that needs a trained teacher gets none.
    """
    paradigm = get_paradigm(config.paradigm).build(config, teacher)
    paradigm.set_lr_scales(config)
    return paradigm
