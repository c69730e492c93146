"""A local MathJax for the notebooks' HTML, so their formulas render offline.

nbconvert's HTML loads MathJax 2 from a CDN; without a network the reader sees raw
``$$\\text{logit} …$$``. The kit depends on ``django-static-mathjax`` (MathJax 3.2.2 as package
data, no Django needed at run time), whose ``es5/tex-svg-full.js`` is one self-contained file:
TeX input with every extension, SVG output with its glyphs built in (no font files to copy).
:func:`install_mathjax` copies it once into the report (``<report>/_static/mathjax/``) and
:data:`MATHJAX_CONFIG` is the MathJax 3 configuration that reads the same delimiters Jupyter
does (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``).
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.resources.abc exists from Python 3.11 on
    from importlib.resources.abc import Traversable

__all__ = [
    "MATHJAX_CONFIG",
    "MATHJAX_FILE",
    "MATHJAX_SUBDIR",
    "install_mathjax",
    "mathjax_source",
]

#: The one MathJax file the report ships (MathJax 3: TeX in, SVG out, all TeX extensions).
MATHJAX_FILE = "tex-svg-full.js"
#: Where :func:`install_mathjax` puts it, relative to the report's static folder.
MATHJAX_SUBDIR = "mathjax"
# Inside the ``mathjax`` package of django-static-mathjax.
_PACKAGE, _PACKAGE_PATH = "mathjax", ("static", "mathjax", "es5", MATHJAX_FILE)

#: MathJax 3 configuration, set before the script loads: Jupyter's delimiters, AMS numbering.
MATHJAX_CONFIG = r"""window.MathJax = {
  tex: {
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: true,
    processEnvironments: true,
    tags: 'ams'
  },
  svg: {fontCache: 'global'},
  options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process'}
};"""


def mathjax_source() -> Traversable | None:
    """The installed ``tex-svg-full.js`` of django-static-mathjax, or None when not installed."""
    try:
        root = resources.files(_PACKAGE)
    except (ModuleNotFoundError, TypeError):
        return None
    source = root.joinpath(*_PACKAGE_PATH)
    return source if source.is_file() else None


def install_mathjax(static_dir: str | Path) -> Path | None:
    """Copy the MathJax script into ``static_dir/mathjax/`` unless an identical-size copy is there.

    Safe when several notebooks render at once: each copy goes to a temporary file that is
    renamed into place.

    Args:
        static_dir: the report's static folder, e.g. ``<report>/_static``.

    Returns:
        The path of the script in the report, or None when django-static-mathjax is not
        installed (the caller then falls back to nbconvert's CDN MathJax).
    """
    source = mathjax_source()
    if source is None:
        return None
    data = source.read_bytes()
    target = Path(static_dir) / MATHJAX_SUBDIR / MATHJAX_FILE
    if target.is_file() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{MATHJAX_FILE}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is for every reader
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
