"""Which notebooks run, with which parameters, and whether they changed since their last run.

Everything here happens before a kernel starts, so bad input (an unknown notebook or parameter, a
value of the wrong type, a notebook without a ``parameters`` cell) is reported up front.
Parameters are checked against the notebook's ``parameters`` cell as papermill reads it
(``papermill.inspect_notebook``): the name must exist and the value must have the default's type
(for a default of ``None``, "take the profile's value", the profile's value sets the type).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import papermill

from wsss_lib.report.profiles import load_profile, notebook_profile_settings, profile_parameter

__all__ = [
    "NotebookJob",
    "discover_notebooks",
    "library_version",
    "notebook_digest",
    "parse_value",
    "plan_jobs",
]

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
#: Parameters every notebook declares and the runner always sets (from --profile and --out).
RESERVED_PARAMETERS = ("profile", "output_dir")


@dataclass(frozen=True)
class NotebookJob:
    """One notebook to run: where it is, where its outputs go, and what it is given.

    Attributes:
        name: the notebook's stem, e.g. ``"01_co_occurrence_bias"``.
        source: the input ``.ipynb``.
        output_dir: its folder in the report, ``<out>/<name>``.
        parameters: papermill parameters injected after its ``parameters`` cell.
        digest: hash of cells + parameters + profile settings + ``wsss_lib`` version.
    """

    name: str
    source: Path
    output_dir: Path
    parameters: dict[str, Any]
    digest: str


def library_version() -> str:
    """Installed version of wsss-lab (part of the skip-unchanged hash)."""
    try:
        return metadata.version("wsss-lab")
    except metadata.PackageNotFoundError:
        return "unknown"


def _matches(selector: str, stem: str) -> bool:
    """``"03"``, ``"03_lambda_sensitivity"`` or ``"03_lambda_sensitivity.ipynb"`` select 03."""
    selector = selector.removesuffix(".ipynb")
    return stem == selector or stem.startswith(f"{selector}_")


def discover_notebooks(
    notebooks_dir: str | Path, only: Sequence[str] | str | None = None
) -> list[Path]:
    """The notebooks ``NN_*.ipynb`` in a folder, sorted by name, optionally filtered.

    Args:
        notebooks_dir: folder holding the notebooks.
        only: selectors (``"01"``, a stem, or a comma-separated string ``"01,03"``); ``None``
            selects all.

    Raises:
        FileNotFoundError: if the folder does not exist or holds no ``NN_*.ipynb`` notebook.
        ValueError: if a selector matches no notebook.
    """
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Notebook folder {folder} does not exist; run from the repository root or pass "
            "--notebooks DIR."
        )
    notebooks = sorted(folder.glob(NOTEBOOK_PATTERN))
    if not notebooks:
        raise FileNotFoundError(f"No notebooks named NN_*.ipynb in {folder}.")
    if only is None:
        return notebooks
    selectors = [s.strip() for s in (only.split(",") if isinstance(only, str) else only)]
    selectors = [s for s in selectors if s]
    unknown = [s for s in selectors if not any(_matches(s, nb.stem) for nb in notebooks)]
    if unknown or not selectors:
        raise ValueError(
            f"--only {','.join(unknown) or repr(only)} matches no notebook in {folder}; "
            f"choose from: {', '.join(nb.stem for nb in notebooks)}."
        )
    return [nb for nb in notebooks if any(_matches(s, nb.stem) for s in selectors)]


def parse_value(text: str) -> Any:
    """Parse a command-line parameter value: JSON, else a Python literal, else the string itself.

    ``"3"`` -> ``3``, ``"0.5"`` -> ``0.5``, ``"true"``/``"True"`` -> ``True``, ``"[1, 2]"`` -> a
    list, ``"null"`` -> ``None``, ``"resnet18"`` -> ``"resnet18"``.
    """
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _split_override(key: str) -> tuple[str | None, str]:
    """``"03:lam"`` -> ``("03", "lam")``; ``"lam"`` -> ``(None, "lam")``."""
    target, sep, name = key.partition(":")
    if not sep:
        return None, key
    if not target or not name:
        raise ValueError(f"Bad parameter override {key!r}: use NAME or NOTEBOOK:NAME, e.g. 03:lam.")
    return target, name


def _literal_default(info: Mapping[str, Any]) -> tuple[bool, Any]:
    """(known, value) of a parameter's default as papermill read it from the cell's text."""
    try:
        return True, ast.literal_eval(str(info.get("default", "")))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _type_matches(expected: Any, value: Any) -> bool:
    if expected is None:
        return True
    if isinstance(expected, bool):
        return isinstance(value, bool)
    if isinstance(expected, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(expected, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(expected, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(expected))


def _check_type(
    stem: str, name: str, info: Mapping[str, Any], value: Any, settings: Mapping
) -> None:
    """Raise ValueError when ``value`` does not have the type of the parameter's default.

    A default of ``None`` means "take the profile's value", so the profile's value sets the type.
    """
    known, expected = _literal_default(info)
    source = f"default {info.get('default')}"
    if known and expected is None and settings.get(name) is not None:
        expected, source = settings[name], f"profile value {settings[name]!r}"
    if not known or _type_matches(expected, value):
        return
    type_name = type(expected).__name__
    raise ValueError(
        f"Parameter {name!r} of notebook {stem} expects type {type_name} ({source}), got "
        f"{type(value).__name__} {value!r}. Pass a {type_name} value, e.g. -p {stem[:2]}:{name} "
        f"{json.dumps(expected)}."
    )


def _notebook_parameters(path: Path) -> dict[str, dict[str, Any]]:
    params = papermill.inspect_notebook(str(path))
    missing = [name for name in RESERVED_PARAMETERS if name not in params]
    if missing:
        raise ValueError(
            f"Notebook {path} has no {' / '.join(missing)} in a cell tagged 'parameters'; add a "
            'parameters cell with at least: profile = "quick" and output_dir = ".".'
        )
    return params


def notebook_digest(path: Path, parameters: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """Hash deciding whether a notebook must re-run.

    Covers the notebook's cells (type, source, tags; outputs and execution counts stripped), the
    injected parameters except ``output_dir``, ``settings`` (the report passes the *whole*
    profile: notebooks 03-07 read their training settings from the ``02_teacher_student``
    section, so a notebook's own section is not all it depends on), and the installed
    ``wsss_lib`` version.
    """
    nb = nbformat.read(path, as_version=4)
    cells = [
        [cell.cell_type, cell.source, sorted(cell.get("metadata", {}).get("tags", []))]
        for cell in nb.cells
    ]
    payload = {
        "cells": cells,
        "parameters": {k: v for k, v in parameters.items() if k != "output_dir"},
        "settings": settings,
        "wsss_lib": library_version(),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_jobs(
    notebooks: Sequence[Path],
    profile: str | Path,
    out_dir: Path,
    overrides: Iterable[tuple[str, Any]] = (),
) -> list[NotebookJob]:
    """Build and validate one job per notebook before anything runs.

    Args:
        notebooks: notebooks to run (see :func:`discover_notebooks`).
        profile: profile name or ``.json`` path.
        out_dir: report folder; each notebook writes into ``out_dir/<stem>``.
        overrides: ``(key, value)`` pairs; ``key`` is ``NAME`` (every notebook that declares it)
            or ``NOTEBOOK:NAME`` (``NOTEBOOK`` = ``"03"`` or a stem).

    Raises:
        ValueError: unknown parameter or notebook, a value whose type differs from the default's,
            an override of ``profile``/``output_dir``, or a notebook without a parameters cell.
    """
    profile_data = load_profile(profile)
    parsed = [(*_split_override(key), value) for key, value in overrides]
    for target, name, _ in parsed:
        if name in RESERVED_PARAMETERS:
            raise ValueError(f"Set {name!r} with --profile / --out, not with -p.")
        if target is not None and not any(_matches(target, nb.stem) for nb in notebooks):
            raise ValueError(
                f"Override {target}:{name} names notebook {target!r}, which is not among the "
                f"notebooks to run ({', '.join(nb.stem for nb in notebooks)})."
            )

    jobs, used_global = [], set()
    for path in notebooks:
        stem = path.stem
        declared = _notebook_parameters(path)
        settings = notebook_profile_settings(profile_data, stem)
        output_dir = (out_dir / stem).resolve()
        parameters: dict[str, Any] = {
            "profile": profile_parameter(profile),
            "output_dir": str(output_dir),
        }
        for target, name, value in parsed:
            if target is not None and not _matches(target, stem):
                continue
            if name not in declared:
                if target is None:
                    continue  # a global override only reaches the notebooks that declare it
                raise ValueError(
                    f"Notebook {stem} has no parameter {name!r}; its parameters are: "
                    f"{', '.join(declared)}."
                )
            _check_type(stem, name, declared[name], value, settings)
            parameters[name] = value
            if target is None:
                used_global.add(name)
        # The whole profile, not just this notebook's section: sections are read across
        # notebooks. Over-invalidation is cheap because trained models come from the cache.
        digest = notebook_digest(path, parameters, profile_data)
        jobs.append(NotebookJob(stem, path.resolve(), output_dir, parameters, digest))

    unused = sorted({name for target, name, _ in parsed if target is None} - used_global)
    if unused:
        raise ValueError(
            f"No notebook to run declares parameter(s) {unused}; check the spelling in their "
            "parameters cells (papermill --help-notebook NOTEBOOK lists them)."
        )
    return jobs
