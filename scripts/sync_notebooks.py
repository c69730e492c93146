"""Build the tutorial notebooks from their sources: ``notebooks/NN_name.py`` -> ``NN_name.ipynb``.

Every notebook is a jupytext pair (``notebooks/jupytext.toml``): the percent-format ``.py`` is
the source that is reviewed, diffed and linted; the ``.ipynb`` is what Jupyter and
``wsss report`` run, and what the package installs. This script writes each ``.ipynb`` from its
``.py`` without outputs, with the kit's kernelspec and stable cell ids (``"<NN>-<index>"``), so
rebuilding unchanged sources changes no byte::

    python scripts/sync_notebooks.py              # rebuild every .ipynb (`make notebooks`)
    python scripts/sync_notebooks.py 02 05        # only notebooks whose name starts so
    python scripts/sync_notebooks.py --check      # exit 1 if an .ipynb is not its source's build
    python scripts/sync_notebooks.py --from-ipynb 05   # copy 05's .ipynb cells into its .py

An ``.ipynb`` whose cells differ from its ``.py`` and that is *newer* than it was edited in a
Jupyter without the jupytext pairing; rebuilding would lose that edit, so the script stops and
names ``--from-ipynb`` instead. See CONTRIBUTING.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATTERN = "[0-9][0-9]_*"
# The notebook metadata every .ipynb carries (the builders' metadata before the jupytext move).
METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}

Cells = list[tuple[str, str, tuple[str, ...]]]


def cell_inputs(nb: nbformat.NotebookNode) -> Cells:
    """What a pair must agree on: each cell's type, source and tags."""
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def build(source: Path) -> nbformat.NotebookNode:
    """The ``.ipynb`` of a percent-format source: no outputs, fixed metadata, ids ``NN-ii``."""
    text = jupytext.read(source, fmt="py:percent")
    nb = nbformat.v4.new_notebook(metadata=dict(METADATA))
    for index, (kind, body, tags) in enumerate(cell_inputs(text)):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(body)
        elif kind == "code":
            cell = nbformat.v4.new_code_cell(body)
        else:
            raise ValueError(f"{source.name}: cell {index} is a {kind!r} cell; use code/markdown.")
        if tags:
            cell.metadata["tags"] = list(tags)
        cell.id = f"{source.stem[:2]}-{index:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The file text ``nbformat.write`` produces (what is committed)."""
    return nbformat.writes(nb) + "\n"


def source_text(notebook: Path) -> str:
    """The percent-format source of an ``.ipynb`` with the folder's jupytext settings."""
    nb = nbformat.read(notebook, as_version=4)
    return jupytext.writes(nb, "py:percent", config=load_jupytext_config(str(notebook.parent)))


def selected_pairs(prefixes: list[str], folder: Path = NOTEBOOKS) -> list[tuple[Path, Path]]:
    """``(source .py, notebook .ipynb)`` of every notebook (or of those named by a prefix).

    Raises:
        SystemExit: for an ``.ipynb`` without a source, or a prefix that matches nothing.
    """
    orphans = [p.name for p in folder.glob(f"{PATTERN}.ipynb") if not p.with_suffix(".py").exists()]
    if orphans:
        sys.exit(f"No source for {', '.join(sorted(orphans))}: create it with "
                 "`jupytext --to py:percent notebooks/<name>.ipynb` (see CONTRIBUTING.md).")
    sources = sorted(folder.glob(f"{PATTERN}.py"))
    pairs = [(s, s.with_suffix(".ipynb")) for s in sources
             if not prefixes or any(s.stem.startswith(p) for p in prefixes)]
    if prefixes and not pairs:
        sys.exit(f"{prefixes} match no notebook source in {folder}.")
    return pairs


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None, folder: Path = NOTEBOOKS) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook name prefixes, e.g. 02 (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 when an .ipynb is not its source's build")
    mode.add_argument("--from-ipynb", action="store_true",
                      help="rewrite each named .py from its .ipynb's cells, then rebuild")
    args = parser.parse_args(argv)
    if args.from_ipynb and not args.names:
        parser.error("--from-ipynb needs the notebooks to take, e.g. --from-ipynb 05")
    stale, conflicts = [], []
    for source, notebook in selected_pairs(args.names, folder):
        if args.from_ipynb:
            source.write_text(source_text(notebook))
            print("wrote", _shown(source))
        expected = build(source)
        current = notebook.read_text() if notebook.exists() else None
        if current == render(expected):
            continue
        if args.check:
            stale.append(notebook.name)
            continue
        edited = current is not None and cell_inputs(nbformat.reads(current, 4)) != cell_inputs(
            expected) and notebook.stat().st_mtime > source.stat().st_mtime
        if edited:
            conflicts.append(notebook)
            continue
        notebook.write_text(render(expected))
        print("wrote", _shown(notebook))
    for notebook in conflicts:
        print(f"refused: {notebook.name} has cells that {notebook.stem}.py lacks and is newer "
              f"(edited without the jupytext pairing?). Keep the notebook's cells with "
              f"`python scripts/sync_notebooks.py --from-ipynb {notebook.stem[:2]}`, or the "
              f"source's by deleting {notebook.name} and rerunning.", file=sys.stderr)
    if stale:
        print(f"out of date with their .py sources: {', '.join(stale)}; run `make notebooks`.",
              file=sys.stderr)
    return 1 if stale or conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
