"""Tests of the ``wsss`` command line: argument handling, exit codes, the cache subcommand.

The report itself is tested in test_report.py; here ``run_report`` is replaced by a recorder
where only the command line is under test, so no kernel starts.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from wsss_lib import cli


@pytest.fixture()
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace run_report by a recorder whose summary reports ``exit_code`` from the dict."""
    calls: dict = {"exit_code": 0}

    def fake_run_report(notebooks_dir, **kwargs):
        calls["notebooks_dir"] = notebooks_dir
        calls.update(kwargs)
        return SimpleNamespace(exit_code=calls["exit_code"])

    monkeypatch.setattr("wsss_lib.report.run_report", fake_run_report)
    return calls


def test_report_options_reach_run_report(recorded: dict) -> None:
    code = cli.main(
        [
            "report", "--profile", "full", "--out", "out/dir", "--only", "01,03",
            "-p", "03:lam", "0.5", "-p", "model", "resnet18", "-p", "seeds", "[0, 1]",
            "--jobs", "2", "--force", "--timeout", "90", "--cache-dir", "/tmp/c",
            "--notebooks", "nbs",
        ]
    )  # fmt: skip
    assert code == 0
    assert recorded["notebooks_dir"] == "nbs"
    assert recorded["profile"] == "full" and recorded["out_dir"] == "out/dir"
    assert recorded["only"] == "01,03"
    assert recorded["overrides"] == [("03:lam", 0.5), ("model", "resnet18"), ("seeds", [0, 1])]
    assert recorded["jobs"] == 2 and recorded["force"] is True
    assert recorded["timeout"] == 90.0 and recorded["cache_dir"] == "/tmp/c"
    assert recorded["kernel_name"] == "python3"


def test_report_defaults(recorded: dict) -> None:
    assert cli.main(["report"]) == 0
    assert recorded["profile"] == "quick" and recorded["out_dir"] is None
    assert recorded["jobs"] == 1 and recorded["force"] is False and recorded["timeout"] is None
    assert recorded["overrides"] == [] and recorded["only"] is None


def test_failed_notebook_gives_non_zero_exit(recorded: dict) -> None:
    recorded["exit_code"] = 1
    assert cli.main(["report"]) == 1
    assert cli.report_main([]) == 1  # python -m wsss_lib.report


@pytest.mark.parametrize("argv", [["report", "--jobs", "0"], ["report", "--timeout", "-5"]])
def test_invalid_numbers_are_rejected_by_the_parser(
    argv: list[str], capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "must be a positive" in capsys.readouterr().err


def test_bad_input_prints_the_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = cli.main(["report", "--notebooks", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("wsss report: error: Notebook folder") and "--notebooks" in err


def test_cache_list_and_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("WSSS_CACHE", str(cache))
    assert cli.main(["cache", "list"]) == 0
    assert "does not exist yet" in capsys.readouterr().out

    (cache / "models" / "abc").mkdir(parents=True)
    (cache / "models" / "abc" / "model.pt").write_bytes(b"x" * 2048)
    (cache / "scenes.npz").write_bytes(b"y" * 10)
    assert cli.main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert f"Cache folder: {cache}" in out
    assert "models/" in out and "2.0 KiB" in out and "scenes.npz" in out and "10 B" in out
    assert "2 entries" in out

    monkeypatch.setattr(sys, "stdin", SimpleNamespace(isatty=lambda: False))
    assert cli.main(["cache", "clear"]) == 2  # no confirmation possible without a terminal
    assert "--yes" in capsys.readouterr().err and (cache / "scenes.npz").exists()

    assert cli.main(["cache", "clear", "--yes"]) == 0
    assert cache.is_dir() and not list(cache.iterdir())
    assert "Deleted 2 entries" in capsys.readouterr().out


def test_cache_clear_refuses_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("WSSS_CACHE", str(Path.home()))
    assert cli.main(["cache", "clear", "--yes"]) == 2
    assert "Refusing to clear" in capsys.readouterr().err


def test_console_script_and_module_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    wsss = Path(sys.executable).parent / "wsss"
    assert wsss.is_file(), "the wsss console script is missing: run `pip install -e .`"
    version = subprocess.run([str(wsss), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("wsss-lab ")

    # python -m wsss_lib.report, in-process (a subprocess would spend ~10 s importing torch)
    monkeypatch.setattr(sys, "argv", ["wsss_lib.report", "--notebooks", str(tmp_path / "none")])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("wsss_lib.report", run_name="__main__", alter_sys=True)
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("python -m wsss_lib.report: error: Notebook folder")
