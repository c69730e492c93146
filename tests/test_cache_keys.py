"""The full profile's cache keys are pinned: a refactor must not rename a trained network."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("pin_cache_keys",
                                                  ROOT / "scripts" / "pin_cache_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_full_profile_network_keeps_its_cache_key():
    from wsss_lib.studies.shipped_networks import profile_networks

    pinned = json.loads((ROOT / "tests" / "data" / "full_profile_networks.json").read_text())
    built = list(profile_networks("full"))
    lines = _script().differences(pinned["networks"], built)
    assert not lines, ("cache keys changed; every network under an old key trains again. If "
                       "intended, run `python scripts/pin_cache_keys.py --write`, then `make "
                       "report-full && make checkpoints`:\n" + "\n".join(lines))


def test_the_shipped_networks_are_among_the_pinned_ones():
    from wsss_lib.train.shipped import list_shipped

    pinned = set(json.loads((ROOT / "tests" / "data" / "full_profile_networks.json")
                            .read_text())["networks"])
    shipped = {entry.path.stem for entry in list_shipped()}
    assert shipped and shipped <= pinned, sorted(shipped - pinned)


def test_differences_name_what_changed():
    lines = _script().differences(["a", "b"], ["b", "c"])
    assert lines == ["- a (pinned, no longer built)", "+ c (built, not pinned)"]


def test_notebook_02_rows_and_the_cli_paradigms_are_one_list():
    from wsss_lib.studies.configs import OWN_DATA_PARADIGMS
    from wsss_lib.studies.paradigms import PARADIGM_ROWS

    assert set(PARADIGM_ROWS) == set(OWN_DATA_PARADIGMS)
