"""Every notebook is a jupytext pair: ``notebooks/NN_name.py`` (the source) and its ``.ipynb``.

The pair must agree cell for cell (type, source, tags), the ``.ipynb`` must be committed without
outputs and with the kit's kernelspec, and Jupyter must be told to keep the two paired. The
comparison here reads both files itself (jupytext for the ``.py``, nbformat for the ``.ipynb``);
it does not reuse the builder ``scripts/sync_notebooks.py``, whose own behaviour is checked at the
end. Fix a failure with ``make notebooks`` (see CONTRIBUTING.md).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
SCRIPT = ROOT / "scripts" / "sync_notebooks.py"
SOURCES = sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def pair_differences(source: Path, notebook: Path) -> list[str]:
    """How the cells of a percent-format source and an ``.ipynb`` differ (empty: they agree)."""
    want = _cells(jupytext.read(source, fmt="py:percent"))
    have = _cells(nbformat.read(notebook, as_version=4))
    problems = []
    if len(want) != len(have):
        problems.append(f"{source.name} has {len(want)} cells, {notebook.name} {len(have)}")
    for index, (a, b) in enumerate(zip(want, have, strict=False)):
        for part, x, y in zip(("type", "source", "tags"), a, b, strict=True):
            if x != y:
                problems.append(f"cell {index}: {part} differs ({x!r:.60} vs {y!r:.60})")
    return problems


def _load_script():
    spec = importlib.util.spec_from_file_location("sync_notebooks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_notebook_has_a_source_and_every_source_a_notebook() -> None:
    notebooks = sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert len(SOURCES) >= 8
    assert notebooks == SOURCES
    assert not list(ROOT.glob("scripts/build_notebooks/*.py"))  # the old string builders


@pytest.mark.parametrize("stem", SOURCES)
def test_source_and_notebook_agree_cell_for_cell(stem: str) -> None:
    source, notebook = NOTEBOOKS_DIR / f"{stem}.py", NOTEBOOKS_DIR / f"{stem}.ipynb"
    assert pair_differences(source, notebook) == [], (
        f"{notebook.name} does not match {source.name}: run `make notebooks`")
    cells = _cells(nbformat.read(notebook, as_version=4))
    assert [tags for _, _, tags in cells].count(["parameters"]) == 1  # papermill's cell
    assert cells[0][0] == "markdown" and cells[0][1].startswith(f"# {stem[:2]} · ")


@pytest.mark.parametrize("stem", SOURCES)
def test_notebook_is_committed_without_outputs_and_with_the_kernelspec(stem: str) -> None:
    nb = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"] == KERNELSPEC
    assert nb.metadata["language_info"] == {"name": "python"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c for c in code if c.outputs or c.execution_count is not None] == []
    assert [c.id for c in nb.cells] == [f"{stem[:2]}-{i:02d}" for i in range(len(nb.cells))]


def test_jupyter_keeps_the_pair_in_sync() -> None:
    config = load_jupytext_config(str(NOTEBOOKS_DIR))  # what Jupyter's jupytext reads
    assert config is not None, "notebooks/jupytext.toml is missing"
    groups = [config.formats] if isinstance(config.formats, str) else list(config.formats)
    assert [set(group.split(",")) for group in groups] == [{"ipynb", "py:percent"}]
    assert "tags" in config.cell_metadata_filter  # the parameters tag survives a Jupyter save


def test_the_comparison_catches_a_changed_source_tag_or_cell(tmp_path: Path) -> None:
    stem = SOURCES[0]
    notebook = tmp_path / f"{stem}.ipynb"
    nb = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    source = tmp_path / f"{stem}.py"
    source.write_text((NOTEBOOKS_DIR / f"{stem}.py").read_text())
    nbformat.write(nb, notebook)
    assert pair_differences(source, notebook) == []
    code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "tags" not in
                c.metadata)
    for change in ("source", "tags", "type", "cells"):
        edited = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
        if change == "source":
            edited.cells[code].source += "\nx = 1"
        elif change == "tags":
            edited.cells[code].metadata["tags"] = ["parameters"]
        elif change == "type":
            edited.cells[code] = nbformat.v4.new_markdown_cell(edited.cells[code].source)
        else:
            edited.cells.pop()
        nbformat.write(edited, notebook)
        assert pair_differences(source, notebook), change


def test_the_builder_reproduces_every_committed_notebook_byte_for_byte() -> None:
    assert _load_script().main(["--check"]) == 0


def test_the_builder_rebuilds_and_never_overwrites_a_newer_jupyter_edit(
        tmp_path: Path, capsys) -> None:
    script = _load_script()
    stem = SOURCES[0]
    source, notebook = tmp_path / f"{stem}.py", tmp_path / f"{stem}.ipynb"
    source.write_text((NOTEBOOKS_DIR / f"{stem}.py").read_text())
    assert script.main([], folder=tmp_path) == 0  # built from the source alone
    assert notebook.read_text() == (NOTEBOOKS_DIR / f"{stem}.ipynb").read_text()

    # Edited in a Jupyter without the pairing: newer, and with a cell the source lacks.
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print('mine')", outputs=[]))
    nbformat.write(nb, notebook)
    later = source.stat().st_mtime + 10
    os.utime(notebook, (later, later))
    assert script.main([], folder=tmp_path) == 1
    assert "--from-ipynb" in capsys.readouterr().err
    assert nbformat.read(notebook, as_version=4).cells[-1].source == "print('mine')"
    assert script.main(["--check"], folder=tmp_path) == 1

    # Taken into the source, the edit survives the rebuild.
    assert script.main(["--from-ipynb", stem[:2]], folder=tmp_path) == 0
    assert "print('mine')" in source.read_text()
    assert pair_differences(source, notebook) == []
    assert script.main(["--check"], folder=tmp_path) == 0


# ------------------------------------------------------------ the "build it yourself" sections
BUILD_IT_YOURSELF = ["01_co_occurrence_bias", "02_teacher_student", "04_alignment_variants",
                     "05_cam_fusion"]
# The first cell of each notebook that trains or loads trained models (the expensive part).
EXPENSIVE = ("run_bias_sweep(", "get_or_train(", "train_and_evaluate(", "run_paradigms(",
             "run_lambda_sweep(", "run_alignment(")


def _build_it_yourself_cell(stem: str) -> tuple[int, str]:
    cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
    headings = [i for i, c in enumerate(cells)
                if c.cell_type == "markdown" and c.source.startswith("### Build it yourself")]
    assert len(headings) == 1, f"{stem}: one 'Build it yourself' section expected"
    code = cells[headings[0] + 1]
    assert code.cell_type == "code"
    return headings[0] + 1, code.source


@pytest.mark.parametrize("stem", BUILD_IT_YOURSELF)
def test_build_it_yourself_is_short_checked_and_before_the_training(stem: str) -> None:
    index, source = _build_it_yourself_cell(stem)
    lines = [line for line in source.splitlines() if line.strip()]
    assert 10 <= len(lines) <= 25, f"{stem}: {len(lines)} lines"
    assert "torch.testing.assert_close(" in source
    cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
    first_expensive = next(i for i, c in enumerate(cells)
                           if c.cell_type == "code" and any(name in c.source for name in EXPENSIVE))
    assert index < first_expensive


@pytest.mark.parametrize("stem", BUILD_IT_YOURSELF)
def test_build_it_yourself_passes_and_leaves_the_random_streams_alone(stem: str, capsys) -> None:
    import random

    import numpy as np
    import torch

    _, source = _build_it_yourself_cell(stem)
    code = compile(source, f"{stem}.ipynb", "exec")
    exec(code, {})  # first run: its imports (some draw from Python's random at import time)
    torch.manual_seed(1234)
    np.random.seed(1234)
    random.seed(1234)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    exec(code, {})  # raises when a hand-written value and the library's disagree
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1])
    assert random.getstate() == before[2]
    assert capsys.readouterr().out.strip()  # it tells the student what it checked
