"""Every profile's cache keys are pinned: a refactor must not rename a trained network."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _script():
    spec = importlib.util.spec_from_file_location("pin_cache_keys",
                                                  ROOT / "scripts" / "pin_cache_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pinned(profile: str) -> dict:
    return _script().read_pinned(profile)


@pytest.mark.parametrize("profile", ["full", "tutorial", "quick", "paper"])
def test_every_network_of_a_profile_keeps_its_cache_key(profile: str):
    script = _script()
    lines = script.differences(_pinned(profile), script.built_networks(profile))
    assert not lines, ("cache keys changed; every network under an old key trains again. If "
                       "intended, run `python scripts/pin_cache_keys.py --write`, then `make "
                       "report-full && make checkpoints`:\n" + "\n".join(lines))


def test_every_shipped_profile_is_pinned():
    from wsss_lib.profiles import available_profiles

    assert set(available_profiles()) == set(_script().PROFILES)


def test_the_shipped_networks_are_among_the_pinned_ones():
    from wsss_lib.train.shipped import list_shipped

    pinned = set(_pinned("full")["networks"]) & set(_pinned("tutorial")["networks"])
    shipped = {entry.path.stem for entry in list_shipped()}
    assert shipped and shipped <= pinned, sorted(shipped - pinned)


def test_differences_name_what_changed():
    lines = _script().differences(["a", "b"], ["b", "c"])
    assert lines == ["- a (pinned, no longer built)", "+ c (built, not pinned)"]
    nested = _script().differences({"recipes": {"x": "a"}}, {"recipes": {"x": "b"}})
    assert nested == ["- recipes: x: a (pinned, no longer built)",
                      "+ recipes: x: b (built, not pinned)"]


def test_notebook_02_rows_and_the_cli_paradigms_are_one_list():
    from wsss_lib.runs import RECIPE_PARADIGMS
    from wsss_lib.studies.configs import OWN_DATA_PARADIGMS
    from wsss_lib.studies.paradigms import PARADIGM_ROWS

    assert tuple(PARADIGM_ROWS) == OWN_DATA_PARADIGMS == RECIPE_PARADIGMS
