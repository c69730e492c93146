"""scripts/collect_results.py: a report's numbers land in the repository, or a clear error."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "collect_results.py"


def _load():
    spec = importlib.util.spec_from_file_location("collect_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_copies_summary_and_each_notebooks_metrics(tmp_path):
    report = tmp_path / "report"
    (report / "02_x").mkdir(parents=True)
    (report / "03_y").mkdir()
    summary = {"notebooks": [{"name": "02_x"}, {"name": "03_y"}]}
    (report / "summary.json").write_text(json.dumps(summary))
    (report / "02_x" / "metrics.json").write_text('{"a": 1}')
    written = _load().collect(report, tmp_path / "out")
    assert {p.relative_to(tmp_path / "out").as_posix() for p in written} == {
        "summary.json", "02_x/metrics.json"}  # 03_y failed: no metrics, nothing copied
    assert json.loads((tmp_path / "out" / "02_x" / "metrics.json").read_text()) == {"a": 1}


def test_a_missing_report_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="make report-full"):
        _load().collect(tmp_path, tmp_path / "out")
