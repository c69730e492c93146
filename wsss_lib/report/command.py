"""The ``wsss report`` command: its options (shared by ``wsss report`` and ``python -m
wsss_lib.report``), what it runs, and the exit protocol of every ``wsss`` command.

It lives in the report package, not in :mod:`wsss_lib.cli`, so that ``python -m wsss_lib.report``
does not import the command line that imports the report (no import circle,
``tests/test_import_graph.py``); :mod:`wsss_lib.cli` takes the report command and
:func:`run_command` from here.

Exit status: 0 success, 1 a notebook failed (report) or training diverged (train), 2 bad input,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "INTERRUPTED_HINTS",
    "add_report_arguments",
    "check_profile_covers",
    "positive_float",
    "positive_int",
    "report_main",
    "run_command",
    "run_report_command",
]

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
#: What a Ctrl-C leaves behind, per command.
INTERRUPTED_HINTS = {
    "report": "run again to continue (finished notebooks are skipped)",
    "train": "run the same command again to resume from the last finished epoch",
    "pseudo-masks": "run the same command again to resume (written masks are skipped)",
}


def run_command(
    handler: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    prog: str,
    *,
    interrupted: str = "nothing was lost",
    reword: Callable[[str], str] | None = None,
) -> int:
    """``handler(args)``'s exit status, or the status of the error it raised, said on stderr.

    Ctrl-C -> :data:`EXIT_INTERRUPTED` (``interrupted`` says what was kept); a
    ``FloatingPointError`` (the training loop's NaN guard) -> :data:`EXIT_FAILED`; ``ValueError``
    / ``OSError`` / ``RuntimeError`` -> :data:`EXIT_BAD_INPUT`, the message passed through
    ``reword`` first when given.
    """
    try:
        return handler(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {interrupted}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FloatingPointError as err:  # the training loop's NaN guard
        print(f"{prog}: failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    except (ValueError, OSError, RuntimeError) as err:
        message = str(err)
        if reword is not None:  # the library's messages, in the CLI's options
            message = reword(message)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0 (seconds)."""
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
        "--jobs", type=positive_int, default=1, help="notebooks run in parallel (default: 1)"
    )
    parser.add_argument("--force", action="store_true", help="re-run notebooks even when unchanged")
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train every network here instead of loading the checkpoints shipped with the kit "
        "(sets WSSS_RETRAIN=1 for the notebooks; networks trained on this machine are reused)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        help="per-cell execution timeout in seconds (default: 600 quick, 7200 otherwise)",
    )
    parser.add_argument(
        "--cache-dir", help="model/dataset cache folder for the notebooks (sets WSSS_CACHE)"
    )
    parser.add_argument(
        "--notebooks",
        default=None,
        help="folder with NN_*.ipynb (default: ./notebooks when it holds notebooks, else the "
        "notebooks installed with wsss-lab)",
    )
    parser.add_argument(
        "--kernel",
        default="python3",
        help="Jupyter kernel (default: python3 = the interpreter running this command)",
    )


def run_report_command(args: argparse.Namespace) -> int:
    """Run ``wsss report`` with parsed options; returns the exit status of the report."""
    from wsss_lib.profiles import PROFILE_NOTEBOOKS
    from wsss_lib.report import parse_value, run_report
    from wsss_lib.resources import default_notebooks_dir

    overrides = [(name, parse_value(value)) for name, value in args.parameter]
    only = args.only
    if only is None and args.profile in PROFILE_NOTEBOOKS:
        only = ",".join(stem[:2] for stem in PROFILE_NOTEBOOKS[args.profile])
        print(f"Profile {args.profile!r} runs notebooks {only} (their networks ship trained with "
              "the kit); the others train dozens of networks: make report-full, or see "
              "docs/results/full/.", flush=True)
    notebooks = args.notebooks
    if notebooks is None:
        notebooks = default_notebooks_dir()
        print(f"Notebooks: {notebooks}", flush=True)
        check_profile_covers(args.profile, notebooks, only)
    summary = run_report(
        notebooks,
        profile=args.profile,
        out_dir=args.out,
        only=only,
        retrain=args.retrain,
        overrides=overrides,
        jobs=args.jobs,
        force=args.force,
        timeout=args.timeout,
        cache_dir=args.cache_dir,
        kernel_name=args.kernel,
        echo=lambda line: print(line, flush=True),
    )
    return summary.exit_code


def check_profile_covers(profile: str, notebooks: Path, only: str | None) -> None:
    """Before any kernel starts: a shipped profile must have a section for every notebook run.

    (``paper`` holds only ``08_your_own_data``; the tutorial notebooks would each fail on it.)
    """
    from wsss_lib.report import discover_notebooks, load_profile

    if Path(profile).suffix == ".json":
        return  # your own profile file: the notebooks say what they need
    sections = load_profile(profile)
    missing = [nb.stem for nb in discover_notebooks(notebooks, only) if nb.stem not in sections]
    if missing:
        covered = sorted(k for k in sections if k != "*")
        selectors = ",".join(stem[:2] for stem in covered)
        raise ValueError(
            f"Profile {profile!r} has no settings for {', '.join(missing)}; it covers "
            f"{', '.join(covered) or 'no notebook'}. Run those with --only {selectors}, or use "
            "--profile quick / full for the others."
        )


def report_main(argv: Sequence[str] | None = None, prog: str = "python -m wsss_lib.report") -> int:
    """Entry point of ``python -m wsss_lib.report`` (the options of ``wsss report``)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Run the notebooks with a profile and write the report."
    )
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    args.command = "report"
    return run_command(run_report_command, args, prog, interrupted=INTERRUPTED_HINTS["report"])
