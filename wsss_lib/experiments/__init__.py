"""Experiment recipes that the notebooks call: settings, sweeps, tables.

Each notebook is a thin document over one module here, so the logic is testable and reusable.
"""

from .settings import NotebookSettings, load_profile, notebook_settings

__all__ = ["NotebookSettings", "load_profile", "notebook_settings"]
