"""Tests of the report runner with tiny notebooks made on the fly (not the real tutorials).

Each papermill execution costs a kernel start (~1-3 s here), so the executed reports are module
fixtures shared by the tests that only read them; validation tests run nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from wsss_lib.report import (
    PAPER_LABEL,
    build_index_html,
    discover_notebooks,
    key_results_rows,
    notebook_digest,
    parse_value,
    plan_jobs,
    results_table_rows,
    run_report,
)
from wsss_lib.report.runner import kernel_thread_env

PARAMETERS = 'profile = "quick"  # profile name\noutput_dir = "."  # where outputs go\n'

GOOD_BODY = """
import json, os, sys
from pathlib import Path
from PIL import Image
out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
Image.new("RGB", (8, 6), (200, 30, 30)).save(out / "overlay.png")
metrics = {
    "notebook": "01_good",
    "profile": profile,
    "results": {"teacher_student": {"smoke_iou": 0.1 * scale, "label": label}},
    "paper": {"teacher_student": {"smoke_iou": 47.37}, "setr": {"smoke_iou": 68.27}},
    "notes": ["note with <b>markup</b>"],
    "kernel": {"prefix": sys.prefix, "cwd": os.getcwd(),
               "mplbackend": os.environ.get("MPLBACKEND"),
               "wsss_cache": os.environ.get("WSSS_CACHE")},
    "output_dir": str(out),
}
(out / "metrics.json").write_text(json.dumps(metrics))
"""

BROKEN_BODY = """
from pathlib import Path
raise RuntimeError("boom from the broken notebook")
"""
AFTER_ERROR = 'Path(output_dir, "after_error.txt").write_text("should never run")\n'


def make_notebook(path: Path, extra_parameters: str, cells: list[str]) -> Path:
    """Write a notebook: a markdown title, a cell tagged `parameters`, then the code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell(PARAMETERS + extra_parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def make_good(folder: Path) -> Path:
    extra = 'scale = 2  # an int\nlabel = "x"  # a str\n'
    return make_notebook(folder / "01_good.ipynb", extra, [GOOD_BODY])


def make_broken(folder: Path) -> Path:
    return make_notebook(folder / "02_broken.ipynb", "", [BROKEN_BODY, AFTER_ERROR])


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def mixed_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One good and one failing notebook, run with --jobs 2, a custom profile and overrides."""
    root = tmp_path_factory.mktemp("mixed")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    make_good(notebooks)
    make_broken(notebooks)
    profile = root / "tiny.json"
    profile.write_text(json.dumps({"*": {"seed": 1}, "01_good": {"epochs": 1}}))
    lines: list[str] = []
    summary = run_report(
        notebooks,
        profile=profile,
        out_dir=root / "out",
        overrides={"01:scale": 5},
        jobs=2,
        timeout=120,
        cache_dir=root / "cache",
        echo=lines.append,
    )
    return {
        "root": root,
        "out": root / "out",
        "summary": summary,
        "lines": lines,
        "profile": profile,
        "notebooks": notebooks,
    }


def copy_of_good_part(mixed_report: dict, tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the mixed report, and the arguments that re-run only its good notebook."""
    out = tmp_path / "out"
    shutil.copytree(mixed_report["out"], out)
    args = {"profile": mixed_report["profile"], "overrides": {"01:scale": 5}, "only": "01"}
    return out, args


# --- executed reports ------------------------------------------------------------------------


def test_parameters_are_injected_and_kernel_is_this_python(mixed_report: dict) -> None:
    metrics = load_json(mixed_report["out"] / "01_good" / "metrics.json")
    assert metrics["results"]["teacher_student"]["smoke_iou"] == pytest.approx(0.5)  # 01:scale 5
    assert metrics["results"]["teacher_student"]["label"] == "x"  # notebook default kept
    assert metrics["profile"] == str(mixed_report["profile"].resolve())
    assert Path(metrics["output_dir"]) == (mixed_report["out"] / "01_good").resolve()
    kernel = metrics["kernel"]
    assert kernel["prefix"] == sys.prefix
    assert Path(kernel["cwd"]) == mixed_report["notebooks"].resolve()
    assert kernel["mplbackend"] == "module://matplotlib_inline.backend_inline"
    assert kernel["wsss_cache"] == str((mixed_report["root"] / "cache").resolve())
    assert os.environ.get("WSSS_CACHE") != kernel["wsss_cache"]  # restored after the run


def test_metrics_and_timings_are_collected_into_summary_json(mixed_report: dict) -> None:
    summary = load_json(mixed_report["out"] / "summary.json")
    assert summary["status"] == "failed"
    assert summary["counts"] == {"ok": 1, "failed": 1, "skipped": 0}
    good, broken = summary["notebooks"]
    assert (good["name"], good["status"], broken["status"]) == ("01_good", "ok", "failed")
    assert good["metrics"]["results"]["teacher_student"]["smoke_iou"] == pytest.approx(0.5)
    assert good["figures"] == ["01_good/overlay.png"]
    assert good["parameters"]["scale"] == 5 and "scale" not in broken["parameters"]
    timings = good["cell_timings"]
    assert timings["n_code_cells"] == 3  # parameters, injected-parameters, body
    assert all(d is not None and d >= 0 for d in timings["durations_s"])
    assert timings["slowest"][0]["duration_s"] == max(timings["durations_s"])
    assert good["wall_time_s"] > timings["total_s"]  # wall time includes the kernel start
    assert summary["jobs"] >= 1 and summary["machine"].startswith(("cpu ", "cuda:"))
    # run with --jobs 2: the kernels' thread count that kernel_thread_env chose, or the user's
    threads = kernel_thread_env(2).get("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS"))
    assert summary["kernel_threads"] == (int(threads) if threads else None)


def test_index_html_shows_status_figures_and_results_beside_paper(mixed_report: dict) -> None:
    page = (mixed_report["out"] / "index.html").read_text(encoding="utf-8")
    assert PAPER_LABEL in page
    assert '<img src="01_good/overlay.png"' in page
    assert (mixed_report["out"] / "01_good" / "overlay.png").is_file()
    assert ">0.5<" in page and ">47.37<" in page and ">68.27<" in page  # ours, paper, paper-only
    assert '<td class="failed">failed</td>' in page and '<td class="ok">ok</td>' in page
    assert "boom from the broken notebook" in page
    assert "note with &lt;b&gt;markup&lt;/b&gt;" in page  # metrics text is escaped
    assert page.index("<h2>Findings</h2>") < page.index('<h2 id="status">Run status</h2>')
    assert 'class="banner"' not in page  # a custom profile ("tiny"), not quick
    assert '<a href="01_good/overlay.png" title="open full size"><img' in page


def test_notebook_html_uses_the_reports_own_mathjax(mixed_report: dict) -> None:
    pytest.importorskip("mathjax", reason="django-static-mathjax is not installed")
    script = mixed_report["out"] / "_static" / "mathjax" / "tex-svg-full.js"
    assert script.is_file()
    for name in ("01_good", "02_broken"):
        text = (mixed_report["out"] / name / f"{name}.html").read_text(encoding="utf-8")
        assert 'src="../_static/mathjax/tex-svg-full.js"' in text
        assert "cdnjs.cloudflare.com/ajax/libs/mathjax" not in text


def test_failing_notebook_is_isolated_and_keeps_its_error(mixed_report: dict) -> None:
    summary, folder = mixed_report["summary"], mixed_report["out"] / "02_broken"
    assert summary.exit_code == 1
    assert [r.name for r in summary.failed] == ["02_broken"]
    assert "RuntimeError: boom from the broken notebook" in summary.failed[0].error
    executed = nbformat.read(folder / "02_broken.ipynb", as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].evalue == "boom from the broken notebook"
    assert "boom from the broken notebook" in (folder / "02_broken.html").read_text()
    assert not (folder / "after_error.txt").exists()  # execution stopped at the error
    assert not (folder / ".wsss-report-state.json").exists()  # so the next run retries it
    assert (mixed_report["out"] / "01_good" / ".wsss-report-state.json").is_file()
    assert not list(mixed_report["out"].rglob("*.partial.ipynb"))
    assert not list(mixed_report["out"].rglob("*.tmp"))


def test_jobs_2_runs_notebooks_at_the_same_time(mixed_report: dict) -> None:
    windows = []
    for name in ("01_good", "02_broken"):
        meta = nbformat.read(mixed_report["out"] / name / f"{name}.ipynb", as_version=4)
        papermill_meta = meta.metadata["papermill"]
        windows.append(
            (
                datetime.fromisoformat(papermill_meta["start_time"]),
                datetime.fromisoformat(papermill_meta["end_time"]),
            )
        )
    (start_a, end_a), (start_b, end_b) = windows
    assert start_a < end_b and start_b < end_a  # the two executions overlapped


def test_progress_prints_one_line_per_notebook_then_the_index(mixed_report: dict) -> None:
    lines = mixed_report["lines"]
    assert len(lines) == 4
    notebook_lines = sorted(lines[:2])
    assert notebook_lines[0].startswith("[failed]") and "02_broken" in notebook_lines[0]
    assert notebook_lines[1].startswith("[ok]") and "01_good" in notebook_lines[1]
    assert notebook_lines[1].rstrip().endswith(" s")
    assert "1 ok, 1 failed" in lines[2]
    assert lines[3] == f"Report: {(mixed_report['out'] / 'index.html').resolve()}"


def test_unchanged_notebooks_are_skipped_until_forced_or_changed(
    mixed_report: dict, tmp_path: Path
) -> None:
    out, args = copy_of_good_part(mixed_report, tmp_path)
    notebooks = mixed_report["notebooks"]
    executed = out / "01_good" / "01_good.ipynb"
    before = executed.stat().st_mtime_ns
    lines: list[str] = []

    skipped = run_report(notebooks, out_dir=out, echo=lines.append, **args)
    assert skipped.results[0].status == "skipped" and lines[0].startswith("[skipped]")
    assert skipped.exit_code == 0
    assert executed.stat().st_mtime_ns == before
    smoke_iou = skipped.results[0].metrics["results"]["teacher_student"]["smoke_iou"]
    assert smoke_iou == pytest.approx(0.5)

    forced = run_report(notebooks, out_dir=out, force=True, echo=None, **args)
    assert forced.results[0].status == "ok" and executed.stat().st_mtime_ns != before

    args["overrides"] = {"01:scale": 7}
    changed = run_report(notebooks, out_dir=out, echo=None, **args)
    assert changed.results[0].status == "ok"
    smoke_iou = changed.results[0].metrics["results"]["teacher_student"]["smoke_iou"]
    assert smoke_iou == pytest.approx(0.7)
    assert run_report(notebooks, out_dir=out, echo=None, **args).results[0].status == "skipped"


def test_interrupted_write_leaves_previous_index_intact(
    mixed_report: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, args = copy_of_good_part(mixed_report, tmp_path)
    index_before = (out / "index.html").read_bytes()
    summary_before = (out / "summary.json").read_bytes()

    def crash(_fd: int) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("wsss_lib.utils.os.fsync", crash)  # after the bytes, before the rename
    with pytest.raises(OSError, match="simulated"):
        run_report(mixed_report["notebooks"], out_dir=out, echo=None, **args)
    assert (out / "index.html").read_bytes() == index_before
    assert (out / "summary.json").read_bytes() == summary_before
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_cell_running_past_the_timeout_fails_the_notebook(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    make_notebook(folder / "01_stall.ipynb", "", ["import time\ntime.sleep(60)"])
    summary = run_report(folder, out_dir=tmp_path / "out", timeout=1, echo=None)
    (result,) = summary.results
    assert result.status == "failed" and summary.exit_code == 1
    assert "longer than the 1 s limit" in result.error and "--timeout" in result.error
    assert result.wall_time_s < 30
    assert (tmp_path / "out" / "01_stall" / "01_stall.ipynb").is_file()


def test_interrupt_stops_running_kernels_and_keeps_finished_work(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    make_good(folder)
    make_notebook(folder / "02_sleepy.ipynb", "", ["import time\ntime.sleep(120)"])
    out = tmp_path / "out"

    def interrupt_when_01_finishes(line: str) -> None:
        if "01_good" in line:
            raise KeyboardInterrupt  # as Ctrl-C would, while 02 still sleeps in its kernel

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_report(folder, out_dir=out, jobs=2, timeout=300, echo=interrupt_when_01_finishes)
    assert time.monotonic() - start < 60  # did not wait for the 120 s cell
    assert (out / "01_good" / ".wsss-report-state.json").is_file()  # finished work is kept
    assert not (out / "02_sleepy" / ".wsss-report-state.json").exists()  # and 02 re-runs later
    executed = out / "02_sleepy" / "02_sleepy.ipynb"
    if executed.is_file():  # interrupted after its kernel started: saved with the interrupt
        nb = nbformat.read(executed, as_version=4)
        assert "KeyboardInterrupt" in json.dumps(nb.cells[-1].get("outputs", []))


# --- validation before anything runs ----------------------------------------------------------


@pytest.fixture()
def notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    make_good(folder)
    make_broken(folder)
    return folder


def test_wrong_parameter_type_names_parameter_type_and_notebook(
    notebooks: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"'scale' of notebook 01_good expects type int") as info:
        run_report(notebooks, out_dir=tmp_path / "out", overrides={"01:scale": "many"})
    assert "got str 'many'" in str(info.value)
    assert not (tmp_path / "out").exists()  # rejected before anything was written
    with pytest.raises(ValueError, match="'label' of notebook 01_good expects type str"):
        run_report(notebooks, out_dir=tmp_path / "out", overrides={"label": 3})


def test_editing_another_notebooks_profile_section_reruns_a_notebook(tmp_path: Path) -> None:
    # Notebooks 03-07 read training settings from the 02 section: its edits must invalidate them.
    folder = tmp_path / "nbs"
    folder.mkdir()
    paths = [make_notebook(folder / f"{stem}.ipynb", "", []) for stem in ("02_a", "03_b")]
    profile = tmp_path / "p.json"

    def digests(sections: dict) -> list[str]:
        profile.write_text(json.dumps(sections))
        return [job.digest for job in plan_jobs(paths, profile, tmp_path / "out")]

    base = digests({"*": {}, "02_a": {"epochs": 2}, "03_b": {"lams": [0.5]}})
    assert digests({"*": {}, "02_a": {"epochs": 2}, "03_b": {"lams": [0.5]}}) == base
    changed = digests({"*": {}, "02_a": {"epochs": 3}, "03_b": {"lams": [0.5]}})
    assert changed[0] != base[0] and changed[1] != base[1]


def test_none_default_takes_its_type_from_the_profile(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    path = make_notebook(folder / "01_x.ipynb", "epochs = None  # from the profile\n", [])
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"*": {}, "01_x": {"epochs": 2}}))
    jobs = plan_jobs([path], profile, tmp_path / "out", [("epochs", 3)])
    assert jobs[0].parameters["epochs"] == 3
    with pytest.raises(ValueError, match=r"expects type int \(profile value 2\), got float 2.5"):
        plan_jobs([path], profile, tmp_path / "out", [("epochs", 2.5)])


def test_unknown_parameters_and_notebooks_are_rejected(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="has no parameter 'scael'.*scale"):
        run_report(notebooks, out_dir=out, overrides={"01:scael": 1})
    with pytest.raises(ValueError, match=r"declares parameter\(s\) \['scael'\]"):
        run_report(notebooks, out_dir=out, overrides={"scael": 1})
    with pytest.raises(ValueError, match="with --profile / --out"):
        run_report(notebooks, out_dir=out, overrides={"output_dir": "/tmp"})
    with pytest.raises(ValueError, match="matches no notebook.*01_good, 02_broken"):
        run_report(notebooks, out_dir=out, only="05")
    with pytest.raises(ValueError, match="Unknown profile 'nope'"):
        run_report(notebooks, profile="nope", out_dir=out)
    with pytest.raises(FileNotFoundError, match="--notebooks"):
        run_report(tmp_path / "missing", out_dir=out)


def test_unknown_kernel_is_rejected(notebooks: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No Jupyter kernel named 'no-such-kernel'.*python3"):
        run_report(notebooks, out_dir=tmp_path / "out", kernel_name="no-such-kernel")


def test_notebook_without_parameters_cell_is_rejected(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "01_plain.ipynb")
    with pytest.raises(ValueError, match="tagged 'parameters'"):
        run_report(tmp_path / "nb", out_dir=tmp_path / "out")


def test_unwritable_output_folder_fails_up_front(notebooks: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="a_file/report is not writable.*--out"):
        run_report(notebooks, out_dir=blocker / "report")


def test_read_only_output_folder_fails_up_front(notebooks: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes (see the a_file test)")
        with pytest.raises(ValueError, match="not writable"):
            run_report(notebooks, out_dir=locked / "report")
    finally:
        locked.chmod(0o700)


# --- small pieces -----------------------------------------------------------------------------


def test_parse_value_prefers_json_then_python_literals_then_text() -> None:
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("0.5") == 0.5
    assert parse_value("true") is True and parse_value("True") is True
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("null") is None
    assert parse_value("resnet18") == "resnet18"
    assert parse_value('"3"') == "3"


def test_discover_notebooks_sorts_and_selects(notebooks: Path) -> None:
    (notebooks / "scratch.ipynb").write_text("{}")  # not NN_*: ignored
    assert [p.name for p in discover_notebooks(notebooks)] == ["01_good.ipynb", "02_broken.ipynb"]
    assert [p.stem for p in discover_notebooks(notebooks, "02")] == ["02_broken"]
    assert [p.stem for p in discover_notebooks(notebooks, ["01_good", "02"])] == [
        "01_good",
        "02_broken",
    ]


def test_digest_follows_cells_and_parameters_not_outputs(notebooks: Path) -> None:
    path = notebooks / "01_good.ipynb"
    base = notebook_digest(path, {"profile": "quick", "output_dir": "/a"}, {})
    assert notebook_digest(path, {"profile": "quick", "output_dir": "/b"}, {}) == base
    assert notebook_digest(path, {"profile": "full", "output_dir": "/a"}, {}) != base
    assert notebook_digest(path, {"profile": "quick"}, {"epochs": 2}) != base
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[2].execution_count = 4
    nbformat.write(nb, path)
    assert notebook_digest(path, {"profile": "quick"}, {}) == base
    nb.cells[2].source += "\nprint('changed')"
    nbformat.write(nb, path)
    assert notebook_digest(path, {"profile": "quick"}, {}) != base


def test_results_table_pairs_ours_with_paper_rows() -> None:
    rows = results_table_rows(
        {
            "results": {"ts": {"smoke_iou": 0.4, "fp": {"mean": 0.1}}, "total": 3},
            "paper": {"ts": {"smoke_iou": 47.37}, "setr": {"smoke_iou": 68.27}},
        }
    )
    assert rows == [
        {"row": "ts", "metric": "smoke_iou", "ours": 0.4, "paper": 47.37},
        {"row": "ts", "metric": "fp.mean", "ours": 0.1, "paper": None},
        {"row": "total", "metric": "", "ours": 3, "paper": None},
        {"row": "setr", "metric": "smoke_iou", "ours": None, "paper": 68.27},
    ]


def test_key_results_put_smoke_iou_with_spread_beside_the_papers() -> None:
    metrics = {
        "results": {
            "ts": {"smoke_iou": 11.554, "smoke_iou_std": 4.16, "chimney_fp_rate": 25.5},
            "timing": {"seconds": 3.0},  # no smoke IoU: not a key row
            "single": {"smoke_iou": 4.0, "accuracy": "n/a"},
        },
        "paper": {"ts": {"smoke_iou": 47.37}, "setr": {"smoke_iou": 68.27}},
    }
    rows = key_results_rows(metrics)
    assert [r["row"] for r in rows] == ["ts", "single", "setr"]
    assert rows[0]["smoke_iou"] == "11.55 ± 4.16" and rows[0]["chimney_fp_rate"] == "25.50"
    assert rows[0]["cam_chimney_mass"] is None and rows[0]["paper"] == 47.37
    assert rows[1]["accuracy"] == "n/a" and rows[1]["paper"] is None
    assert rows[2]["smoke_iou"] is None and rows[2]["paper"] == 68.27
    notebook = {"name": "02_x", "status": "ok", "wall_time_s": 1.0, "metrics": metrics}
    page = build_index_html({"notebooks": [notebook]})
    assert ">11.55 ± 4.16<" in page and "<details><summary>All metrics" in page


def test_index_without_paper_numbers_has_no_paper_column() -> None:
    summary = {
        "profile": "quick",
        "notebooks": [
            {
                "name": "01_x",
                "status": "ok",
                "wall_time_s": 1.0,
                "metrics": {"results": {"a": {"iou": 0.25}}},
                "figures": [],
            },
        ],
    }
    page = build_index_html(summary)
    assert ">0.25<" in page and PAPER_LABEL not in page
