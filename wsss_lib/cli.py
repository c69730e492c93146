"""The ``wsss`` command.

Subcommands:
    ``wsss report``  run the notebooks with a profile and write the report (see
                     :mod:`wsss_lib.report`; ``python -m wsss_lib.report`` is the same).
    ``wsss cache``   list or clear the model/dataset cache folder (``$WSSS_CACHE``).

Exit status: 0 success, 1 a notebook failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

__all__ = ["build_parser", "main", "report_main"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _version() -> str:
    try:
        return metadata.version("wsss-lab")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``wsss report`` (shared with ``python -m wsss_lib.report``)."""
    parser.add_argument(
        "--profile",
        default="quick",
        help="profile name (quick, full) or path to a profile .json (default: quick)",
    )
    parser.add_argument("--out", help="report folder (default: reports/<profile>)")
    parser.add_argument("--only", help="notebooks to run, e.g. 01,03 (default: all)")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a notebook parameter: NAME for every notebook declaring it, or "
        "NN:NAME for one notebook; VALUE is parsed as JSON when possible (repeatable)",
    )
    parser.add_argument(
        "--jobs", type=_positive_int, default=1, help="notebooks run in parallel (default: 1)"
    )
    parser.add_argument("--force", action="store_true", help="re-run notebooks even when unchanged")
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        help="per-cell execution timeout in seconds (default: 600 quick, 1800 otherwise)",
    )
    parser.add_argument(
        "--cache-dir", help="model/dataset cache folder for the notebooks (sets WSSS_CACHE)"
    )
    parser.add_argument(
        "--notebooks", default="notebooks", help="folder with NN_*.ipynb (default: notebooks)"
    )
    parser.add_argument(
        "--kernel",
        default="python3",
        help="Jupyter kernel (default: python3 = the interpreter running this command)",
    )


def build_parser(prog: str = "wsss") -> argparse.ArgumentParser:
    """The argument parser of the ``wsss`` command."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="wsss-lab: run the notebook report, manage the model/dataset cache.",
        epilog="Exit status: 0 success, 1 a notebook failed, 2 bad input, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"wsss-lab {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser(
        "report", help="run the notebooks and write reports/<profile>/index.html"
    )
    add_report_arguments(report)
    cache = commands.add_parser("cache", help="list or clear the model/dataset cache folder")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="show the cache folder and what it holds")
    clear = actions.add_parser("clear", help="delete everything in the cache folder")
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def _run_report(args: argparse.Namespace) -> int:
    from wsss_lib.report import parse_value, run_report

    overrides = [(name, parse_value(value)) for name, value in args.parameter]
    summary = run_report(
        args.notebooks,
        profile=args.profile,
        out_dir=args.out,
        only=args.only,
        overrides=overrides,
        jobs=args.jobs,
        force=args.force,
        timeout=args.timeout,
        cache_dir=args.cache_dir,
        kernel_name=args.kernel,
        echo=lambda line: print(line, flush=True),
    )
    return summary.exit_code


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


def _dispatch(args: argparse.Namespace, prog: str) -> int:
    try:
        return _run_report(args) if args.command == "report" else _cache(args)
    except KeyboardInterrupt:
        print(
            f"{prog}: interrupted; run again to continue (finished notebooks are skipped).",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except (ValueError, OSError, RuntimeError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None, prog: str = "wsss") -> int:
    """Entry point of the ``wsss`` console script; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    return _dispatch(args, f"{prog} {args.command}")


def report_main(argv: Sequence[str] | None = None, prog: str = "python -m wsss_lib.report") -> int:
    """Entry point of ``python -m wsss_lib.report`` (the options of ``wsss report``)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Run the notebooks with a profile and write the report."
    )
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    args.command = "report"
    return _dispatch(args, prog)
