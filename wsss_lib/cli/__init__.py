"""The ``wsss`` command.

Subcommands:
    ``wsss report``        run the notebooks with a profile and write the report (see
                           :mod:`wsss_lib.report`; ``python -m wsss_lib.report`` is the same).
    ``wsss cache``         list or clear the model/dataset cache folder (``$WSSS_CACHE``).
    ``wsss train``         train a profile's recipe on your data (folder or COCO export), through
                           the model cache; prints the run's id and folder.
    ``wsss evaluate``      a run's metrics on a data set, printed and written as JSON.
    ``wsss pseudo-masks``  one pseudo-mask PNG per image plus ``manifest.json`` (resumable).
    ``wsss runs``          list the training runs in the cache.

The run commands are thin layers over :mod:`wsss_lib.runs` and :mod:`wsss_lib.pseudo_masks`.

One module per command: :mod:`wsss_lib.report.command` (``report``, and the exit protocol of
every command: ``python -m wsss_lib.report`` must not import this package), :mod:`.cache`,
:mod:`.train`, :mod:`.evaluate`, :mod:`.pseudo_masks`, :mod:`.runs`; what the run commands share:
:mod:`.options` (argument types and option groups), :mod:`.data_source` (``--data`` / ``--coco``,
loading, the CLI's wording of library messages) and :mod:`.run_settings` (the run and its CAM
settings for ``evaluate`` / ``pseudo-masks``). This module builds the parser and dispatches.

Exit status: 0 success, 1 a notebook failed (report) or training diverged (train), 2 bad input,
130 interrupted.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib import metadata

from wsss_lib.cli import cache, evaluate, pseudo_masks, runs, train
from wsss_lib.cli.data_source import cli_wording as cli_wording
from wsss_lib.report.command import (
    EXIT_BAD_INPUT as EXIT_BAD_INPUT,
)
from wsss_lib.report.command import (
    EXIT_FAILED as EXIT_FAILED,
)
from wsss_lib.report.command import (
    EXIT_INTERRUPTED as EXIT_INTERRUPTED,
)
from wsss_lib.report.command import (
    INTERRUPTED_HINTS,
    add_report_arguments,
    report_main,
    run_command,
    run_report_command,
)

__all__ = ["build_parser", "main", "report_main"]

#: Commands whose errors come from the data loaders and are re-worded with :func:`cli_wording`.
_RUN_COMMANDS = ("train", "evaluate", "pseudo-masks", "runs")
#: Each command's handler: parsed options -> exit status.
_HANDLERS = {
    "report": run_report_command,
    "cache": cache._cache,
    "train": train._train,
    "evaluate": evaluate._evaluate,
    "pseudo-masks": pseudo_masks._pseudo_masks,
    "runs": runs._runs,
}


def _version() -> str:
    try:
        return metadata.version("wsss-lab")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(prog: str = "wsss") -> argparse.ArgumentParser:
    """The argument parser of the ``wsss`` command."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="wsss-lab: the notebook report, training on your data, pseudo-masks, the "
        "model/dataset cache.",
        epilog="Exit status: 0 success, 1 a notebook failed or training diverged, 2 bad input, "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"wsss-lab {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser(
        "report", help="run the notebooks and write reports/<profile>/index.html"
    )
    add_report_arguments(report)
    for command in (cache, train, evaluate, pseudo_masks, runs):
        command.add_parser(commands)
    return parser


def _dispatch(args: argparse.Namespace, prog: str) -> int:
    return run_command(
        _HANDLERS[args.command], args, prog,
        interrupted=INTERRUPTED_HINTS.get(args.command, "nothing was lost"),
        reword=cli_wording if args.command in _RUN_COMMANDS else None,
    )


def main(argv: Sequence[str] | None = None, prog: str = "wsss") -> int:
    """Entry point of the ``wsss`` console script; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    return _dispatch(args, f"{prog} {args.command}")
