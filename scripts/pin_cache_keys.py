"""Write (or check) the full profile's pinned cache keys: tests/data/full_profile_networks.json.

Every network the full profile trains on the synthetic benchmark is cached under a folder named
by the hash of its config and the code versions (``wsss_lib.train.cache``). A refactor that
changes one of those names silently retrains it (and stops serving its shipped checkpoint), so
``tests/test_cache_keys.py`` compares the names with this file. Run it with ``--write`` only
when a change of keys is intended (then ``make report-full && make checkpoints``):

    python scripts/pin_cache_keys.py           # check: exit 1 and list the differences
    python scripts/pin_cache_keys.py --write   # pin the names the code builds today
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wsss_lib.studies.shipped_networks import profile_networks

PIN = Path(__file__).resolve().parents[1] / "tests" / "data" / "full_profile_networks.json"
NOTE = ("Cache folder names of every network the full profile trains on the synthetic benchmark "
        "(notebooks 01-07, 09), teachers included; written by scripts/pin_cache_keys.py. A "
        "change here means every cached and shipped network under the old name trains again.")


def differences(pinned: list[str], built: list[str]) -> list[str]:
    """Lines naming what was pinned and is no longer built, and what is new."""
    gone = [f"- {name} (pinned, no longer built)" for name in pinned if name not in built]
    new = [f"+ {name} (built, not pinned)" for name in built if name not in pinned]
    return gone + new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="pin the names built today")
    args = parser.parse_args()
    built = list(profile_networks("full"))
    if args.write:
        PIN.write_text(json.dumps({"profile": "full", "note": NOTE, "networks": built},
                                  indent=1) + "\n")
        print(f"pinned {len(built)} networks in {PIN}")
        return 0
    lines = differences(json.loads(PIN.read_text())["networks"], built)
    print("\n".join(lines) or f"all {len(built)} pinned networks are built under the same keys")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
