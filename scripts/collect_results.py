"""Copy a report's numbers into the repository: ``summary.json`` and every notebook's
``metrics.json``, so each number the README quotes can be found in a committed file.

Usage::

    python scripts/collect_results.py reports/full docs/results/full

``make report-full`` runs this after the report. Figures stay in the report folder (the README
embeds the few it shows from ``docs/img/``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def collect(report: Path, out: Path) -> list[Path]:
    """Copy ``report/summary.json`` and ``report/<notebook>/metrics.json`` into ``out``.

    Raises:
        FileNotFoundError: when ``report`` holds no ``summary.json`` (run the report first).
    """
    summary = report / "summary.json"
    if not summary.is_file():
        raise FileNotFoundError(
            f"{summary} does not exist: run the report first (make report-full)."
        )
    out.mkdir(parents=True, exist_ok=True)
    written = [Path(shutil.copy2(summary, out / "summary.json"))]
    for entry in json.loads(summary.read_text(encoding="utf-8"))["notebooks"]:
        metrics = report / entry["name"] / "metrics.json"
        if metrics.is_file():
            target = out / entry["name"] / "metrics.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            written.append(Path(shutil.copy2(metrics, target)))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, help="report folder, e.g. reports/full")
    parser.add_argument("out", type=Path, help="destination, e.g. docs/results/full")
    args = parser.parse_args(argv)
    for path in collect(args.report, args.out):
        print("wrote", path)


if __name__ == "__main__":
    main()
