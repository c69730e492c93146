"""Shared builder of the notebooks: cells as ``(kind, source)`` -> ``.ipynb``.

``kind`` is ``"markdown"``, ``"code"`` or ``"parameters"`` (a code cell tagged ``parameters``
for papermill). Notebooks are written without outputs and with stable cell ids.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]


def build_notebook(stem: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """The notebook of ``cells``, validated (nbformat 4.5 cell ids ``"<NN>-<index>"``)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.update({
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for i, (kind, source) in enumerate(cells):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        elif kind in ("code", "parameters"):
            cell = nbformat.v4.new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        else:
            raise ValueError(f"Unknown cell kind {kind!r}; use markdown, code or parameters.")
        cell.id = f"{stem[:2]}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def write_notebook(stem: str, cells: list[tuple[str, str]]) -> Path:
    """Write ``notebooks/<stem>.ipynb`` and return its path."""
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build_notebook(stem, cells), path)
    return path
