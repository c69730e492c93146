"""Show a figure as a picture in any notebook front end, and save it beside the notebook.

A bare :class:`matplotlib.figure.Figure` (what every function of :mod:`wsss_lib.plots` returns)
passed to ``IPython.display.display`` prints ``<Figure size ... with N Axes>`` as text unless the
inline backend happens to be active: papermill runs, nbconvert and a fresh JupyterLab kernel do
not all activate it. :func:`show_figure` renders the PNG itself and displays that, so the figure
is an ``image/png`` output everywhere (tests count them in executed notebooks).
"""

from __future__ import annotations

import io
import os

from matplotlib.figure import Figure

from wsss_lib.utils import atomic_write_bytes

__all__ = ["figure_png", "show_figure"]


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (tight bounding box, no run-dependent metadata)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def show_figure(
    fig: Figure, path: str | os.PathLike[str] | None = None, dpi: int = 100
) -> bytes:
    """Display ``fig`` as a PNG image output and, when ``path`` is given, save it there too.

    Args:
        fig: A matplotlib figure (pyplot or bare ``Figure``).
        path: Where to write the PNG (atomically); None only displays it.
        dpi: Resolution of both the displayed and the saved image.

    Returns:
        The PNG bytes that were displayed.
    """
    png = figure_png(fig, dpi=dpi)
    if path is not None:
        atomic_write_bytes(path, png)
    try:
        from IPython.display import Image, display
    except ImportError:  # plain Python without IPython: saving is all there is to do
        return png
    display(Image(data=png, format="png"))
    return png
