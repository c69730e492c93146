"""Execute every tutorial notebook once through the report runner (quick profile).

One report run serves all checks: it is what `make report` does, so a notebook that breaks there
breaks here. The model cache is the test session's temporary cache, so notebooks that share a
trained model (the CNN teacher) train it once, exactly as in a real report.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from wsss_lib.report import run_report

pytestmark = pytest.mark.slow

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory):
    if not NOTEBOOKS:
        pytest.skip("no notebooks in notebooks/")
    out = tmp_path_factory.mktemp("report_quick")
    summary = run_report(NOTEBOOKS_DIR, profile="quick", out_dir=out, jobs=1, echo=print)
    return summary


def test_every_notebook_is_run_by_the_report(quick_report) -> None:
    assert sorted(r.name for r in quick_report.results) == NOTEBOOKS
    assert (quick_report.output_dir / "index.html").is_file()
    summary = json.loads((quick_report.output_dir / "summary.json").read_text())
    assert len(summary["notebooks"]) == len(NOTEBOOKS)


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_executes_and_writes_metrics(quick_report, stem: str) -> None:
    result = next(r for r in quick_report.results if r.name == stem)
    assert result.status == "ok", f"{stem} failed:\n{result.error}"
    folder = quick_report.output_dir / stem
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics.get("profile") == "quick"
    assert metrics.get("results"), f"{stem} wrote no results to metrics.json"
    executed = nbformat.read(folder / f"{stem}.ipynb", as_version=4)
    code_cells = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code_cells), "every code cell must have run"
    outputs = [o for c in code_cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert result.figures, f"{stem} saved no figure into its output folder"
