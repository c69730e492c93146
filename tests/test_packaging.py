"""Static checks of the install/CI plumbing, the profiles and the committed notebooks."""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PROFILES = sorted((ROOT / "wsss_lib" / "profiles").glob("*.json"))
CONDA_TOOLING = {"python", "pip"}
EDITABLE_INSTALL = re.compile(r"^-e\s+\.(\[(?P<extras>[\w,\s-]+)\])?$")


# --- environment.yml <-> pyproject.toml -------------------------------------------------------


def _pyproject_requirements(pyproject: dict) -> dict[str, Requirement]:
    project = pyproject["project"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return {canonicalize_name(req.name): req for req in map(Requirement, lines)}


def _conda_requirement(spec: str) -> Requirement:
    """``numpy=1.26`` (conda's exact pin) -> ``numpy==1.26``; other operators are pip's."""
    return Requirement(re.sub(r"(?<![=<>!~])=(?!=)", "==", spec.replace(" ", ""), count=1))


def environment_disagreements(env: dict, pyproject: dict) -> list[str]:
    """Every way ``environment.yml`` contradicts ``pyproject.toml`` (empty when they agree).

    The environment may list packages explicitly (conda or pip), and then each must be a
    dependency of the project with the same version specifier; it may also install the project
    itself (``-e .[dev]``), which pulls in the rest. Its Python must satisfy ``requires-python``.
    """
    problems: list[str] = []
    declared = _pyproject_requirements(pyproject)
    listed: dict[str, Requirement] = {}
    installs_project, extras = False, set()
    for dep in env.get("dependencies", []):
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            match = EDITABLE_INSTALL.match(str(entry).strip())
            if isinstance(dep, dict) and match:
                installs_project = True
                extras |= {e.strip() for e in (match["extras"] or "").split(",") if e.strip()}
                continue
            req = (
                _conda_requirement(str(entry)) if not isinstance(dep, dict) else Requirement(entry)
            )
            listed[canonicalize_name(req.name)] = req

    python = listed.pop("python", None)
    requires = SpecifierSet(pyproject["project"].get("requires-python", ""))
    if python is None:
        problems.append("environment.yml does not pin python")
    else:
        for spec in python.specifier:
            if not requires.contains(spec.version.replace(".*", "")):
                problems.append(f"python {spec} does not satisfy requires-python {requires}")
    listed.pop("pip", None)

    for name, req in listed.items():
        if name not in declared:
            problems.append(f"{name} is in environment.yml but not in pyproject.toml")
        elif req.specifier != declared[name].specifier:
            problems.append(
                f"{name}: environment.yml pins '{req.specifier}', "
                f"pyproject.toml '{declared[name].specifier}'"
            )
    if installs_project:
        missing_extras = set(pyproject["project"].get("optional-dependencies", {})) - extras
        if "dev" in missing_extras:
            problems.append(
                "environment.yml installs the project without its dev extras (-e .[dev])"
            )
    else:
        runtime = {
            canonicalize_name(Requirement(r).name) for r in pyproject["project"]["dependencies"]
        }
        for name in sorted(runtime - set(listed)):
            problems.append(
                f"{name} is a dependency in pyproject.toml but missing from environment.yml"
            )
    return problems


def _load_environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def test_environment_yml_agrees_with_pyproject() -> None:
    env = _load_environment()
    assert env["name"] == "wsss-lab"
    assert "conda-forge" in env["channels"]
    assert environment_disagreements(env, PYPROJECT) == []


@pytest.mark.parametrize(
    ("dependencies", "expected"),
    [
        (["python=3.11", "pip", {"pip": ["-e .[dev]", "torch==2.0.0"]}], "torch: environment.yml"),
        (["python=3.11", "pip", "numpy=1.20", {"pip": ["-e .[dev]"]}], "numpy: environment.yml"),
        (["python=3.11", "pip", {"pip": ["-e .[dev]", "requests"]}], "requests is in environ"),
        (["python=3.8", "pip", {"pip": ["-e .[dev]"]}], "does not satisfy requires-python"),
        (["python=3.11", "pip", {"pip": ["-e ."]}], "without its dev extras"),
        (["python=3.11", "pip", {"pip": ["torch==2.14.1"]}], "timm is a dependency"),
    ],
)
def test_disagreement_checker_catches_real_mismatches(dependencies: list, expected: str) -> None:
    problems = environment_disagreements({"dependencies": dependencies}, PYPROJECT)
    assert any(expected in problem for problem in problems), problems


def test_torch_pins_are_kept() -> None:
    declared = _pyproject_requirements(PYPROJECT)
    assert str(declared["torch"].specifier) == "==2.14.1"
    assert str(declared["torchvision"].specifier) == "==0.29.1"


# --- entry points and CI ------------------------------------------------------------------------


def test_console_script_resolves_to_a_callable() -> None:
    target = PYPROJECT["project"]["scripts"]["wsss"]
    module_name, _, attribute = target.partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    installed = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert installed.get("wsss") == target, "installed entry point is stale: pip install -e ."


def test_ci_runs_the_readme_test_command() -> None:
    script = ROOT / ".ci" / "run"
    text = script.read_text(encoding="utf-8")
    assert os.access(script, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert text.strip().splitlines()[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("setup", "report", "report-full", "test", "lint", "clean"):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), target


# --- profiles ------------------------------------------------------------------------------------


def test_profiles_are_package_data_mapping_names_to_dicts() -> None:
    assert "profiles/*.json" in PYPROJECT["tool"]["setuptools"]["package-data"]["wsss_lib"]
    assert {p.stem for p in PROFILES} >= {"quick", "full"}
    sections = {}
    for path in PROFILES:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict), path
        assert all(isinstance(v, dict) for v in data.values()), path
        sections[path.stem] = set(data) - {"*"}
    assert sections["quick"] == sections["full"], "quick and full must cover the same notebooks"
    for notebook in NOTEBOOKS:
        assert notebook.stem in sections["quick"], f"no profile section for {notebook.stem}"


# --- notebooks -----------------------------------------------------------------------------------


def _parameters_cell_problems(source: str) -> tuple[dict, list[str]]:
    """Values assigned in a parameters cell, and every statement that is not `name = literal`."""
    values, problems = {}, []
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        is_assignment = isinstance(node, ast.AnnAssign) or (
            isinstance(node, ast.Assign) and len(node.targets) == 1
        )
        if not (is_assignment and isinstance(target, ast.Name) and node.value is not None):
            problems.append(f"line {node.lineno}: not a single `name = literal` assignment")
            continue
        try:
            values[target.id] = ast.literal_eval(node.value)
        except ValueError:
            problems.append(f"line {node.lineno}: {target.id} is not assigned a literal")
    return values, problems


def test_parameters_cell_check_rejects_computed_values() -> None:
    values, problems = _parameters_cell_problems('profile = "quick"\nn: int = 2\nx = n * 2\n')
    assert values == {"profile": "quick", "n": 2}
    assert problems == ["line 3: x is not assigned a literal"]
    assert _parameters_cell_problems("import os\n")[1] == [
        "line 1: not a single `name = literal` assignment"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS or [None], ids=lambda p: p.stem if p else "none")
def test_committed_notebooks_have_literal_parameters_and_no_outputs(path: Path | None) -> None:
    if path is None:
        pytest.skip("no notebooks/NN_*.ipynb yet")
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters', need 1"
    values, problems = _parameters_cell_problems(tagged[0].source)
    assert problems == [], f"{path.name} parameters cell: {problems}"
    assert values.get("profile") == "quick" and values.get("output_dir") == "."
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has committed outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
