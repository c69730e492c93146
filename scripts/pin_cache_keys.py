"""Write (or check) every profile's pinned cache keys: tests/data/<profile>_profile_networks.json.

Every network a profile trains is cached under a folder named by the hash of its config and the
code versions (``wsss_lib.train.cache``). A refactor that changes one of those names silently
retrains it (and stops serving its shipped checkpoint), so ``tests/test_cache_keys.py`` compares
the names with these files, one per profile (``full``, ``tutorial``, ``quick``, ``paper``):

- ``networks``: what the profile's notebooks train on the synthetic benchmark (01-07, 09),
  teachers included (:func:`wsss_lib.studies.shipped_networks.profile_networks`);
- ``recipes``: what ``wsss train --profile NAME`` / notebook 08 trains for each paradigm
  (``wsss_lib.runs.load_recipe(...).train_config()``, before your images' fingerprint joins it);
- ``segmenters``: notebook 10's segmenter of each seed (before its masks' fingerprint joins it).

Run it with ``--write`` only when a change of keys is intended (then ``make report-full && make
checkpoints``):

    python scripts/pin_cache_keys.py           # check: exit 1 and list the differences
    python scripts/pin_cache_keys.py --write   # pin the names the code builds today
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
PROFILES = ("full", "tutorial", "quick", "paper")
NOTE = ("Cache folder names of every network the {profile} profile trains, teachers included; "
        "written by scripts/pin_cache_keys.py. A change here means every cached and shipped "
        "network under the old name trains again.")


def pin_path(profile: str) -> Path:
    """The pinned file of one profile."""
    return DATA / f"{profile}_profile_networks.json"


def built_networks(profile: str) -> dict[str, Any]:
    """The cache folder names the code builds today for ``profile`` (the pinned file's keys)."""
    from wsss_lib.profiles import load_profile
    from wsss_lib.runs import RECIPE_PARADIGMS, load_recipe
    from wsss_lib.studies.shipped_networks import TRAINING_NOTEBOOKS, profile_networks
    from wsss_lib.train import run_dir_for

    data = load_profile(profile)
    notebooks = [n for n in TRAINING_NOTEBOOKS if n in data]
    out: dict[str, Any] = {"networks": list(profile_networks(profile, notebooks))}
    if "08_your_own_data" in data:
        out["recipes"] = {p: run_dir_for(load_recipe(profile, paradigm=p).train_config()).name
                          for p in RECIPE_PARADIGMS}
    if "10_second_stage" in data:
        from wsss_lib.studies.second_stage import second_stage_settings, segmenter_config

        S = second_stage_settings(profile)
        out["segmenters"] = [run_dir_for(segmenter_config(S, int(seed))).name
                             for seed in S["seeds"]]
    return out


def read_pinned(profile: str) -> dict[str, Any]:
    """The pinned names of ``profile`` (the file's keys but its ``profile`` and ``note``)."""
    data = json.loads(pin_path(profile).read_text())
    return {k: v for k, v in data.items() if k not in ("profile", "note")}


def differences(pinned: Any, built: Any, where: str = "") -> list[str]:
    """Lines naming what was pinned and is no longer built, and what is new (lists of names,
    or mappings of them compared key by key)."""
    if isinstance(pinned, dict) or isinstance(built, dict):
        pinned, built = dict(pinned or {}), dict(built or {})
        lines = []
        for key in [*pinned, *(k for k in built if k not in pinned)]:
            lines += differences(pinned.get(key, []), built.get(key, []), f"{where}{key}: ")
        return lines
    pinned = [pinned] if isinstance(pinned, str) else list(pinned)
    built = [built] if isinstance(built, str) else list(built)
    gone = [f"- {where}{name} (pinned, no longer built)" for name in pinned if name not in built]
    new = [f"+ {where}{name} (built, not pinned)" for name in built if name not in pinned]
    return gone + new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="pin the names built today")
    args = parser.parse_args()
    status = 0
    for profile in PROFILES:
        built = built_networks(profile)
        path = pin_path(profile)
        if args.write:
            path.write_text(json.dumps({"profile": profile, "note": NOTE.format(profile=profile),
                                        **built}, indent=1) + "\n")
            print(f"pinned {len(built['networks'])} networks of {profile!r} in {path}")
            continue
        lines = differences(read_pinned(profile), built)
        print("\n".join(lines) or f"{profile}: every pinned network is built under the same key")
        status = status or (1 if lines else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
