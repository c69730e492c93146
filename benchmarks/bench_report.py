"""Wall time of ``wsss report`` with a profile, and of each notebook, into a temporary folder.

Usage::

    python benchmarks/bench_report.py                      # quick profile, every notebook
    python benchmarks/bench_report.py --only 01,05 --jobs 2
    python benchmarks/bench_report.py --cache-dir ~/.cache/wsss-lab   # reuse trained models

Runs the ``wsss report`` command (a subprocess, so its start-up counts) with a fresh model and
dataset cache (unless ``--cache-dir``) and reports:

- the command's wall time (cold: every model is trained, as on a first run);
- per notebook, from the report's ``summary.json``: the runner's wall time, the sum of the cell
  durations papermill recorded in the notebook's metadata, the difference (kernel start, HTML
  rendering), and the slowest cell;
- the wall time of an immediate re-run, where unchanged notebooks are skipped.

Works with whatever ``notebooks/NN_*.ipynb`` exist; with none, it times a one-cell probe notebook
instead, so the runner's own overhead is still measured (and says so). The kernels choose their
device themselves (CUDA when present); the device line printed is the one they will find.
Writes ``benchmarks/results/report.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import environment, write_results

REPO = Path(__file__).resolve().parent.parent


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=Path, default=REPO / "notebooks")
    parser.add_argument("--profile", default="quick", help="profile name or .json (default quick)")
    parser.add_argument("--only", default=None, help="notebooks to run, e.g. 01,05")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=None, help="per-cell timeout, seconds")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="model/dataset cache (default: a fresh temporary one = cold run)")
    parser.add_argument("--no-rerun", action="store_true", help="skip the re-run measurement")
    parser.add_argument("--keep", action="store_true", help="keep the temporary report folder")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: results/)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")
    return args


def _probe_notebook(folder: Path) -> Path:
    """A one-cell notebook with the parameters every report notebook declares."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "quick"\noutput_dir = "."\n')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import torch\nimport wsss_lib\n")]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "00_probe.ipynb"
    nbformat.write(nb, path)
    return path


def _report_command() -> list[str]:
    """``wsss report`` from this environment (the console script, else the module)."""
    script = Path(sys.executable).with_name("wsss")
    return [str(script), "report"] if script.is_file() else [sys.executable, "-m",
                                                             "wsss_lib.report"]


def _run_report(args: argparse.Namespace, notebooks: Path, out: Path, cache: Path) -> float:
    command = [*_report_command(), "--notebooks", str(notebooks), "--profile", args.profile,
               "--out", str(out), "--jobs", str(args.jobs), "--cache-dir", str(cache)]
    if args.only:
        command += ["--only", args.only]
    if args.timeout:
        command += ["--timeout", str(args.timeout)]
    print("$ " + " ".join(command), flush=True)
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, check=False)
    wall = time.perf_counter() - start
    if completed.returncode not in (0, 1):  # 1 = a notebook failed: still a measurement
        raise SystemExit(f"wsss report exited with {completed.returncode}; see its output above.")
    return wall


def _papermill_duration(report_dir: Path, executed: str | None) -> float | None:
    """``metadata.papermill.duration`` of an executed notebook (None when absent)."""
    if not executed:
        return None
    try:
        nb = json.loads((report_dir / executed).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    duration = nb.get("metadata", {}).get("papermill", {}).get("duration")
    return None if duration is None else float(duration)


def _notebook_rows(summary: dict[str, Any], report_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for entry in summary["notebooks"]:
        timings = entry.get("cell_timings") or {}
        cells = timings.get("total_s")
        slowest = (timings.get("slowest") or [None])[0]
        rows.append({
            "name": entry["name"],
            "status": entry["status"],
            "wall_time_s": entry["wall_time_s"],
            "cells_total_s": cells,
            "papermill_duration_s": _papermill_duration(report_dir, entry.get("executed_notebook")),
            "overhead_s": None if cells is None else round(entry["wall_time_s"] - cells, 3),
            "slowest_cell": slowest,
            "error": entry.get("error"),
        })
    return rows


def _print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"\n  {'notebook':<32}{'status':<9}{'wall s':>8}{'cells s':>9}{'papermill s':>12}"
          f"{'overhead s':>11}  slowest cell")
    for row in rows:
        slow = row["slowest_cell"]
        slow_text = "" if not slow else f"{slow['duration_s']:.1f} s  {slow['source'][:40]}"

        def num(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        print(f"  {row['name']:<32}{row['status']:<9}{num(row['wall_time_s']):>8}"
              f"{num(row['cells_total_s']):>9}{num(row['papermill_duration_s']):>12}"
              f"{num(row['overhead_s']):>11}  {slow_text}")
        if row["error"]:
            print(f"      error: {row['error'].splitlines()[0][:150]}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse_args(argv)
    from wsss_lib.report import discover_notebooks
    from wsss_lib.utils import get_device

    device = get_device()
    env = environment(device)
    print(f"device the notebooks will use: {env['device_line']}")
    work = Path(tempfile.mkdtemp(prefix="wsss-bench-report-"))
    try:
        notebooks, probe = args.notebooks, False
        try:
            found = [p.name for p in discover_notebooks(notebooks, args.only)]
        except FileNotFoundError:
            notebooks, probe = _probe_notebook(work / "notebooks").parent, True
            found = ["00_probe.ipynb"]
            args.only = None
            print(f"No NN_*.ipynb notebooks in {args.notebooks}: timing a one-cell probe notebook "
                  "(runner overhead only).")
        print(f"notebooks: {', '.join(found)}")
        cache = args.cache_dir or work / "cache"
        out = work / "report"
        cold = _run_report(args, notebooks, out, cache)
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        rows = _notebook_rows(summary, out)
        rerun = None if args.no_rerun else _run_report(args, notebooks, out, cache)
        rerun_summary = (json.loads((out / "summary.json").read_text(encoding="utf-8"))
                         if rerun is not None else None)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    results = {
        "environment": env,
        "settings": {"profile": args.profile, "jobs": args.jobs, "only": args.only,
                     "cache": "given" if args.cache_dir else "fresh (cold run)",
                     "probe_notebook_only": probe},
        "notebooks": rows,
        "counts": summary["counts"],
        "wsss_report_wall_s": round(cold, 3),
        "runner_total_wall_time_s": summary["total_wall_time_s"],
        "rerun_wall_s": None if rerun is None else round(rerun, 3),
        "rerun_counts": None if rerun_summary is None else rerun_summary["counts"],
        "rerun_executed": None if rerun_summary is None else [
            n["name"] for n in rerun_summary["notebooks"] if n["status"] != "skipped"],
    }
    _print_rows(rows)
    counts = summary["counts"]
    print(f"\nwsss report --profile {args.profile}: {cold:.1f} s wall for {len(rows)} notebooks "
          f"({counts['ok']} ok, {counts['failed']} failed); the runner itself measured "
          f"{summary['total_wall_time_s']:.1f} s (the rest is the command's start-up).")
    if rerun is not None:
        executed = results["rerun_executed"]
        print(f"re-run: {rerun:.1f} s wall, {results['rerun_counts']['skipped']} notebooks "
              "skipped as unchanged" + (f"; re-executed (changed since the first run, e.g. "
                                        f"edited meanwhile, or failed in it): {executed}"
                                        if executed else ""))
    path = write_results("report", results, args.out)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
