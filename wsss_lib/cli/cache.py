"""The ``wsss cache`` command: list or clear the model/dataset cache folder (``$WSSS_CACHE``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def add_parser(commands: Any) -> None:
    """Add ``wsss cache list|clear`` to the ``wsss`` subcommands."""
    cache = commands.add_parser("cache", help="list or clear the model/dataset cache folder")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="show the cache folder and what it holds")
    clear = actions.add_parser("clear", help="delete everything in the cache folder")
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _cache(args: argparse.Namespace) -> int:
    from wsss_lib.utils import default_cache_dir

    folder = default_cache_dir()
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    if args.action == "list":
        print(f"Cache folder: {folder}" + ("" if folder.is_dir() else " (does not exist yet)"))
        sizes = [(entry, _size(entry)) for entry in entries]
        for entry, size in sizes:
            print(f"  {entry.name + ('/' if entry.is_dir() else ''):<48} {_human(size):>10}")
        print(f"{len(sizes)} entries, {_human(sum(size for _, size in sizes))} in total")
        return 0
    # clear
    if folder.resolve() in (Path(folder.anchor), Path.home().resolve()):
        raise ValueError(
            f"Refusing to clear {folder}: it is not a dedicated cache folder. Point WSSS_CACHE "
            "at a folder used only by wsss-lab."
        )
    if not entries:
        print(f"Cache folder {folder} is already empty.")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValueError(f"Clearing {folder} needs confirmation: pass --yes.")
        answer = input(f"Delete {len(entries)} entries in {folder}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    print(f"Deleted {len(entries)} entries in {folder}.")
    return 0
