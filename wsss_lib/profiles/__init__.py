"""The profiles and their one loader: a notebook's settings from a named profile plus overrides.

Profiles are data files in this folder (``wsss_lib/profiles/<name>.json``): a mapping from a
notebook's stem (``"01_co_occurrence_bias"``) to its settings, with ``"*"`` holding defaults
shared by all notebooks. A notebook's ``parameters`` cell holds ``profile`` and, for every
setting, a literal override that defaults to ``None`` ("take the profile's value").

This module is the one profile loader: :func:`load_profile` reads a file, :func:`section_settings`
is the one merge (``"*"``, then a section). ``"*"`` (:data:`SHARED_SECTION`) carries the recipe
every notebook trains with (data sizes, networks, epochs, optimiser), so the notebooks train and
reuse the same models (:func:`wsss_lib.studies.configs.method_settings` reads it); a notebook's
section holds only what differs. A setting has one name everywhere (profile key, parameters cell,
``wsss train --set``); :data:`RENAMED_SETTINGS` lists the old names, which are refused with the
new one. The report (:mod:`wsss_lib.report.profiles`) and ``wsss train`` (:mod:`wsss_lib.runs`)
read profiles through this module too. It imports nothing else of ``wsss_lib``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "PROFILE_NOTEBOOKS",
    "RENAMED_SETTINGS",
    "SHARED_SECTION",
    "NotebookSettings",
    "apply_overrides",
    "available_profiles",
    "check_names",
    "load_profile",
    "notebook_settings",
    "section_settings",
]

#: The section of settings every notebook shares (overridden by the notebook's own section): the
#: recipe (see :func:`wsss_lib.studies.configs.method_settings`).
SHARED_SECTION = "*"
#: Old setting names -> their one name now (a list of one setting's values is its plural; a
#: dotted name is a key of a mapping setting: ``readout.method`` is ``"readout": {"method": ...}``
#: in a profile, ``--set readout.method=...`` for ``wsss train``). A profile or an override with
#: an old name is an error naming the new one, never ignored. (The recipe's old ``threshold`` and
#: ``refine`` are refused by :mod:`wsss_lib.runs` alone: notebooks 01, 05-07 have a
#: ``threshold`` of their own.)
RENAMED_SETTINGS: dict[str, str] = {
    "pretrain": "proxy_pretrain",
    "levels": "train_levels",
    "candidate_levels": "candidate_train_levels",
    "pipelines": "rows",
    "cam_method": "readout.method",
    "cam_layers": "readout.layers",
    "cam_scales": "readout.scales",
    "cam_fusion": "readout.fusion",
}
#: Profiles that run only some notebooks by default (``wsss report`` without ``--only``): the
#: tutorial profile runs the notebooks whose networks ship trained with the kit
#: (:mod:`wsss_lib.train.shipped`); 03, 04 and 08 train dozens of networks (``make report-full``).
PROFILE_NOTEBOOKS: dict[str, tuple[str, ...]] = {
    "tutorial": (
        "01_co_occurrence_bias",
        "02_teacher_student",
        "05_cam_fusion",
        "06_postprocessing_failures",
        "07_cam_explorer",
    ),
}


def check_names(names: Any, where: str) -> None:
    """Refuse the old names of renamed settings (:data:`RENAMED_SETTINGS`) among ``names``.

    Raises:
        ValueError: naming each old name and its new one.
    """
    old = [name for name in names if name in RENAMED_SETTINGS]
    if old:
        renames = ", ".join(f"{name!r} is now {RENAMED_SETTINGS[name]!r}" for name in old)
        dotted = [RENAMED_SETTINGS[name] for name in old if "." in RENAMED_SETTINGS[name]]
        how = ""
        if dotted:
            outer, _, inner = dotted[0].partition(".")
            how = (f" ({dotted[0]!r} is the key {inner!r} of the mapping setting {outer!r}: "
                   f"\"{outer}\": {{\"{inner}\": ...}} in a profile, --set {dotted[0]}=VALUE "
                   "for wsss train)")
        raise ValueError(f"{where}: the setting {renames}; use the new name"
                         f"{'s' if len(old) > 1 else ''}{how}.")


class NotebookSettings(dict):
    """A dict of settings that also allows attribute access (``S.epochs``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as err:
            known = ", ".join(sorted(self))
            raise AttributeError(f"No setting {name!r}; known settings: {known}") from err


def _profiles_dir() -> Path:
    return Path(str(resources.files("wsss_lib") / "profiles"))


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the package (``quick``, ``full``, ...)."""
    return sorted(p.stem for p in _profiles_dir().glob("*.json"))


def load_profile(profile: str | Path) -> dict[str, dict[str, Any]]:
    """Load a profile by name (``"quick"``) or from a JSON file path.

    Raises:
        ValueError: if the profile does not exist or is not a mapping of mappings.
    """
    path = Path(profile)
    if path.suffix != ".json":
        path = _profiles_dir() / f"{profile}.json"
    if not path.is_file():
        raise ValueError(
            f"Unknown profile {str(profile)!r}: no file {path}. "
            f"Available profiles: {', '.join(available_profiles())} (or pass a path to a .json)."
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise ValueError(f"Profile {path} must map notebook names to settings objects.")
    for section, settings in data.items():
        check_names(settings, f"Profile {str(profile)!r} section {section!r}")
    return {str(k): dict(v) for k, v in data.items()}


def section_settings(profile_data: Mapping[str, Mapping[str, Any]], section: str
                     ) -> dict[str, Any]:
    """The settings of one section of a loaded profile: :data:`SHARED_SECTION` updated by the
    section's own (a new dict; empty when the profile has neither).

    Args:
        profile_data: The mapping returned by :func:`load_profile`.
        section: A notebook's stem, e.g. ``"01_co_occurrence_bias"``.
    """
    return {**profile_data.get(SHARED_SECTION, {}), **profile_data.get(section, {})}


def notebook_settings(
    notebook: str,
    profile: str | Path = "quick",
    *,
    profile_data: Mapping[str, Mapping[str, Any]] | None = None,
    **overrides: Any,
) -> NotebookSettings:
    """Settings of one notebook: profile defaults (``"*"`` then the notebook's own), then overrides.

    Args:
        notebook: the notebook's stem, e.g. ``"01_co_occurrence_bias"``.
        profile: profile name or path to a profile JSON file.
        profile_data: ``profile`` as :func:`load_profile` already read it (not read again).
        **overrides: values from the notebook's parameters cell; ``None`` means "use the profile".

    Raises:
        ValueError: if the profile has no section for ``notebook`` or an override names a
            setting the profile does not define (a typo would otherwise be silently ignored).
    """
    data = load_profile(profile) if profile_data is None else profile_data
    if notebook not in data:
        raise ValueError(
            f"Profile {str(profile)!r} has no settings for notebook {notebook!r}; "
            f"it defines: {', '.join(sorted(k for k in data if k != SHARED_SECTION))}."
        )
    settings = apply_overrides(NotebookSettings(section_settings(data, notebook)), overrides,
                               notebook)
    settings["profile"] = str(profile)
    return settings


def apply_overrides(
    settings: NotebookSettings, overrides: Mapping[str, Any], notebook: str
) -> NotebookSettings:
    """``settings`` updated (in place) by the overrides that are not None; returns it.

    Raises:
        ValueError: when an override names a setting ``settings`` does not have (a typo would
            otherwise be silently ignored), or a setting's old name (:data:`RENAMED_SETTINGS`).
    """
    check_names(overrides, f"The overrides of notebook {notebook!r}")
    unknown = sorted(k for k in overrides if k not in settings)
    if unknown:
        raise ValueError(
            f"Unknown setting(s) {unknown} for notebook {notebook!r}; "
            f"valid settings: {', '.join(sorted(settings))}."
        )
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings
