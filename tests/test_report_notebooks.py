"""Where `wsss report` finds its notebooks: ./notebooks, the clone, or the installed data files.

The slow test builds the wheel, installs it (without dependencies) into a bare virtual
environment and checks that the notebooks and the sample data come with it and are found there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import pytest

from wsss_lib import cli, resources
from wsss_lib.report import run_report
from wsss_lib.resources import default_notebooks_dir, notebooks_dir, sample_data_dir

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_a_local_notebooks_folder_comes_first(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_mine.ipynb").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert default_notebooks_dir() == Path("notebooks")


def test_elsewhere_the_shipped_notebooks_are_used(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # no ./notebooks here
    assert notebooks_dir() == ROOT / "notebooks"  # a clone: its own (live) notebooks
    assert default_notebooks_dir() == ROOT / "notebooks"
    assert (sample_data_dir() / "coco").is_dir()
    code = cli.main(["report", "--only", "99", "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert f"Notebooks: {ROOT / 'notebooks'}" in captured.out
    assert f"matches no notebook in {ROOT / 'notebooks'}" in captured.err
    assert "08_your_own_data" in captured.err
    with pytest.raises(ValueError, match="matches no notebook in"):
        run_report(None, out_dir=tmp_path / "out", only="99", echo=None)


def test_an_explicit_folder_wins(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    code = cli.main(["report", "--notebooks", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert code == 2 and "Notebook folder" in capsys.readouterr().err


def test_a_profile_without_the_notebooks_sections_is_refused_up_front(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(ROOT)
    calls: list = []

    def fake_run_report(notebooks_dir, **kwargs):
        calls.append((notebooks_dir, kwargs))
        return SimpleNamespace(exit_code=0)

    monkeypatch.setattr("wsss_lib.report.run_report", fake_run_report)
    assert cli.main(["report", "--profile", "paper", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Profile 'paper' has no settings for 01_co_occurrence_bias" in err
    assert "--only 08" in err and not calls  # no kernel was started
    assert cli.main(["report", "--profile", "paper", "--only", "08", "--out", str(tmp_path)]) == 0
    assert calls and calls[0][1]["only"] == "08"


def test_no_notebooks_anywhere_says_how_to_fix_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(resources, "_source_root", lambda: None)
    monkeypatch.setattr(resources, "_installed_root", lambda name: None)
    with pytest.raises(FileNotFoundError, match="--notebooks DIR"):
        default_notebooks_dir()
    assert cli.main(["report", "--out", str(tmp_path / "out")]) == 2
    assert "pass --notebooks DIR" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="sample data"):
        sample_data_dir()


def test_installed_data_files_are_found_through_the_record(tmp_path: Path, monkeypatch) -> None:
    site = tmp_path / "prefix" / "lib" / "python3" / "site-packages"
    share = tmp_path / "prefix" / "share" / "wsss-lab" / "notebooks"
    site.mkdir(parents=True)
    share.mkdir(parents=True)
    (share / "01_a.ipynb").write_text("{}")
    record = [PurePosixPath("wsss_lib/__init__.py"),
              PurePosixPath("../../../share/wsss-lab/notebooks/01_a.ipynb")]
    fake = SimpleNamespace(files=record, locate_file=lambda path: site / path)
    monkeypatch.setattr(resources.metadata, "distribution", lambda name: fake)
    monkeypatch.setattr(resources, "_source_root", lambda: None)
    assert resources.shipped_path("notebooks") == share.resolve()
    assert resources.notebooks_dir() == share.resolve()
    assert resources.shipped_path("data_samples") in (None, *(
        Path(p, "share", "wsss-lab", "data_samples")
        for p in (sysconfig.get_path("data"), sysconfig.get_path("data", "posix_user"))))


def _copy_source(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    destination.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, destination / name)
    for name in ("wsss_lib", "notebooks", "data_samples"):
        shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    return destination


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                   check=True, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_wheel_ships_the_notebooks_and_samples_and_finds_them(tmp_path: Path) -> None:
    source = _copy_source(tmp_path / "src")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", str(source),
         "-w", str(tmp_path / "dist"))
    (wheel,) = (tmp_path / "dist").glob("wsss_lab-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    share = next(n for n in names if "/share/wsss-lab/" in n).split("/share/wsss-lab/")[0]
    assert share.endswith(".data/data")
    for notebook in NOTEBOOKS:
        assert f"{share}/share/wsss-lab/notebooks/{notebook}" in names
    samples = [p.relative_to(ROOT).as_posix() for p in (ROOT / "data_samples").rglob("*")
               if p.is_file() and p.name != "contact_sheet.png"]
    missing = [s for s in samples if f"{share}/share/wsss-lab/{s}" not in names]
    assert missing == []
    assert "wsss_lib/profiles/paper.json" in names and "wsss_lib/runs/__init__.py" in names

    # A bare environment, no dependencies: wsss_lib.resources needs the standard library only.
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True,
                   timeout=120)
    python = env_dir / "bin" / "python"
    _pip("--python", str(python), "install", "--no-deps", "--no-index", str(wheel))
    probe = ("import wsss_lib.resources as r; print(r.__file__); print(r.notebooks_dir()); "
             "print(r.sample_data_dir())")
    out = subprocess.run([str(python), "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split("\n")
    installed = env_dir.resolve()
    assert Path(out[0]).resolve().is_relative_to(installed)
    notebooks, samples_dir = Path(out[1]), Path(out[2])
    assert notebooks == installed / "share" / "wsss-lab" / "notebooks"
    assert sorted(p.name for p in notebooks.glob("*.ipynb")) == NOTEBOOKS
    assert (samples_dir / "coco" / "test" / "_annotations.coco.json").is_file()

    # The installed copy in front of this environment's dependencies: `wsss report` finds the
    # installed notebooks without --notebooks (the run stops at a bad --only, before kernels).
    site = next(installed.glob("lib/python*/site-packages"))
    check = ("import sys; from wsss_lib.cli import main; "
             "sys.exit(main(['report', '--only', '99', '--out', 'out']))")
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 2, result.stderr
    assert f"Notebooks: {notebooks}" in result.stdout
    assert f"matches no notebook in {notebooks}" in result.stderr
