"""Files shipped beside the package: the tutorial notebooks and the sample data.

They live in the repository (``notebooks/``, ``data_samples/``) and are installed with the
package as data files (``pyproject.toml`` ``[tool.setuptools.data-files]``) under
``<prefix>/share/wsss-lab/``. Lookup order, so edits in a clone are live and a wheel install
works without one:

1. a source checkout: the folder next to the imported ``wsss_lib`` package, when that package sits
   in a clone of wsss-lab (an editable install, or running from the repository root);
2. the data files of the installed distribution (found through its ``RECORD``, whatever the
   install scheme: a virtual environment, ``--user``, ``--prefix``);
3. ``share/wsss-lab/`` under the interpreter's data paths.

``wsss report`` uses :func:`default_notebooks_dir`, notebook 08 :func:`sample_data_dir`.
"""

from __future__ import annotations

import sysconfig
from importlib import metadata
from pathlib import Path

__all__ = [
    "DISTRIBUTION",
    "NOTEBOOK_PATTERN",
    "SHARE_DIR",
    "default_notebooks_dir",
    "notebooks_dir",
    "sample_data_dir",
    "shipped_path",
]

#: The installed distribution's name.
DISTRIBUTION = "wsss-lab"
#: Where the data files are installed, relative to the install prefix.
SHARE_DIR = ("share", "wsss-lab")
#: File names of the tutorial notebooks.
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"


def _source_root() -> Path | None:
    """The repository root when ``wsss_lib`` is imported from a clone of wsss-lab, else None."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if f'name = "{DISTRIBUTION}"' in text else None


def _installed_root(name: str) -> Path | None:
    """``<prefix>/share/wsss-lab/<name>`` of the installed distribution's data files."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        dist = None
    for file in (dist.files or []) if dist is not None else []:
        parts = file.parts
        for k in range(len(parts) - 2):
            if parts[k:k + 3] == (*SHARE_DIR, name):
                folder = Path(dist.locate_file(Path(*parts[:k + 3]))).resolve()
                if folder.is_dir():
                    return folder
    for scheme_path in {sysconfig.get_path("data"), sysconfig.get_path("data", "posix_user")}:
        folder = Path(scheme_path, *SHARE_DIR, name)
        if folder.is_dir():
            return folder
    return None


def shipped_path(name: str) -> Path | None:
    """The shipped folder ``name`` (``"notebooks"`` or ``"data_samples"``), or None if absent.

    See the module docstring for the lookup order.
    """
    source = _source_root()
    if source is not None and (source / name).is_dir():
        return source / name
    return _installed_root(name)


def notebooks_dir() -> Path:
    """The tutorial notebooks shipped with wsss-lab (the clone's, else the installed copy).

    Raises:
        FileNotFoundError: when neither holds ``NN_*.ipynb`` notebooks.
    """
    folder = shipped_path("notebooks")
    if folder is None or not any(folder.glob(NOTEBOOK_PATTERN)):
        raise FileNotFoundError(
            "The tutorial notebooks were not found: this installation has no share/wsss-lab/"
            "notebooks and wsss_lib is not imported from a clone. Reinstall wsss-lab (pip install "
            "wsss-lab, or pip install -e . in a clone) or pass --notebooks DIR."
        )
    return folder


def default_notebooks_dir() -> Path:
    """The notebooks ``wsss report`` runs when no ``--notebooks`` is given.

    ``./notebooks`` when it holds ``NN_*.ipynb`` notebooks (running from the repository root, or
    a folder of your own), else :func:`notebooks_dir`.
    """
    local = Path("notebooks")
    if local.is_dir() and any(local.glob(NOTEBOOK_PATTERN)):
        return local
    return notebooks_dir()


def sample_data_dir() -> Path:
    """The committed sample data (``data_samples/``: a folder layout plus ``coco/``).

    Raises:
        FileNotFoundError: when it is neither in a clone nor installed.
    """
    folder = shipped_path("data_samples")
    if folder is None or not (folder / "labels.csv").is_file():
        raise FileNotFoundError(
            "The sample data (data_samples/) was not found in a clone or in this installation; "
            "reinstall wsss-lab, or pass the path of your own data."
        )
    return folder
