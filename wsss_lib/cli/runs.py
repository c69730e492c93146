"""The ``wsss runs`` command: list the training runs in the model cache.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    """Add ``wsss runs`` and its options to the ``wsss`` subcommands."""
    runs = commands.add_parser("runs", help="list the training runs in the cache")
    runs.add_argument("--cache-dir", help="model cache root (default: $WSSS_CACHE)")


def _runs(args: argparse.Namespace) -> int:
    from wsss_lib.runs import list_runs
    from wsss_lib.utils import default_cache_dir

    root = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    runs = list_runs(root)
    print(f"Runs in {root / 'runs'}:")
    for r in runs:
        what = r.model if r.teacher is None else f"{r.teacher} -> {r.model}"
        acc = "" if r.val_acc is None else f", val acc {r.val_acc:.2f}"
        done = "" if r.complete else "  UNFINISHED"
        profile = f", profile {r.profile}" if r.profile else ""
        print(f"  {r.key}  {what}, {r.image_size} px, {r.epochs_done}/{r.epochs} epochs"
              f"{acc}{profile}{done}")
        if r.data:
            d = r.data
            split = f" split {d['split']}" if d.get("split") else ""
            print(f"      trained on {d.get('format')} {d.get('path')}{split}: "
                  f"{d.get('n_images')} images ({d.get('n_smoke')} smoke), "
                  f"fingerprint {str(d.get('fingerprint'))[:12]}")
    print(f"{len(runs)} runs (newest first)")
    return 0
