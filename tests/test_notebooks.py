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


#: Notebooks that must show at least one figure as a picture (an ``image/png`` output).
MUST_SHOW_FIGURES = ("05_cam_fusion", "06_postprocessing_failures")


def _figure_outputs(stem: str, folder: Path) -> tuple[list[str], int]:
    """``(texts, images)`` of an executed notebook: the text/plain ``<Figure size ...>`` reprs
    printed instead of a picture (outputs without an image), and the number of image/png outputs."""
    executed = nbformat.read(folder / f"{stem}.ipynb", as_version=4)
    texts, images = [], 0
    for index, cell in enumerate(executed.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            if "image/png" in data:
                images += 1
                continue
            text = data.get("text/plain", "") if data else output.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            if text.lstrip().startswith("<Figure size"):
                texts.append(f"cell {index}: {text.strip()[:80]}")
    return texts, images


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_figures_are_pictures_not_text(quick_report, stem: str) -> None:
    """A bare matplotlib ``Figure`` passed to ``display`` prints ``<Figure size ... with N Axes>``
    unless the inline backend is active (papermill does not activate it): every figure must be
    shown as a PNG (``wsss_lib.plots.show.show_figure``)."""
    result = next(r for r in quick_report.results if r.name == stem)
    assert result.status == "ok", f"{stem} failed:\n{result.error}"
    texts, images = _figure_outputs(stem, quick_report.output_dir / stem)
    assert not texts, (f"{stem} printed figures as text instead of showing them (use "
                       f"show_figure): {texts}")
    if stem in MUST_SHOW_FIGURES:
        assert images >= 1, f"{stem} shows no figure as an image/png output"
