"""Profiles as the report sees them: which settings file each notebook runs with.

A profile is a data file (``wsss_lib/profiles/<name>.json``) mapping a notebook's stem to its
settings, with ``"*"`` holding settings shared by all notebooks. The notebooks resolve their own
settings from it (:mod:`wsss_lib.profiles`, the one profile loader), so the report
only passes the profile's *name* as the notebook's ``profile`` parameter. It still reads the
profile to check override types and to fold the whole profile, ``"*"`` included, into the
skip-unchanged hash: editing any section re-runs every notebook of that profile (every notebook
trains with the recipe of ``"*"``; models whose config did not change are loaded from the
training cache, not retrained).
"""

from __future__ import annotations

from pathlib import Path

from wsss_lib.profiles import available_profiles, load_profile, section_settings

__all__ = [
    "available_profiles",
    "load_profile",
    "notebook_profile_settings",
    "profile_label",
    "profile_parameter",
]


def _is_path(profile: str | Path) -> bool:
    return Path(profile).suffix == ".json"


def profile_label(profile: str | Path) -> str:
    """Short name of a profile, used for the default output folder ``reports/<label>``.

    ``"quick"`` stays ``"quick"``; a custom file ``my/tiny.json`` becomes ``"tiny"``.
    """
    return Path(profile).stem if _is_path(profile) else str(profile)


def profile_parameter(profile: str | Path) -> str:
    """Value given to a notebook's ``profile`` parameter.

    A profile name passes through; a custom profile file becomes an absolute path, because the
    notebook's kernel runs in the notebook's own folder, not in the caller's.
    """
    return str(Path(profile).resolve()) if _is_path(profile) else str(profile)


#: Settings one notebook gets from a loaded profile (``"*"`` updated by its own section); the
#: one merge of :func:`wsss_lib.profiles.section_settings`, under the report's name.
notebook_profile_settings = section_settings
