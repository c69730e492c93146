"""scripts/diff_reports.py: a refactor's before/after check finds every changed value."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "diff_reports.py"


def _load():
    spec = importlib.util.spec_from_file_location("diff_reports", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(root: Path, docs: dict[str, dict]) -> Path:
    for name, doc in docs.items():
        (root / name).mkdir(parents=True)
        (root / name / "metrics.json").write_text(json.dumps(doc))
    return root


def test_identical_reports_pass(tmp_path):
    doc = {"results": {"a": [{"iou": 0.5, "seconds": 1.0}]}, "claims": []}
    before = _report(tmp_path / "b", {"01_x": doc})
    after = _report(tmp_path / "a", {"01_x": doc})
    assert _load().main([str(before), str(after)]) == 0


def test_every_kind_of_difference_is_found(tmp_path, capsys):
    before = _report(tmp_path / "b", {"01_x": {"r": {"iou": 0.5, "gone": 1, "n": 3},
                                               "t": {"seconds": 1.0}}})
    after = _report(tmp_path / "a", {"01_x": {"r": {"iou": 0.51, "new": [], "n": 3.0},
                                              "t": {"seconds": 2.0}}})
    module = _load()
    assert module.main([str(before), str(after)]) == 1
    out = capsys.readouterr().out
    assert "changed  r.iou: 0.5 -> 0.51" in out
    assert "removed  r.gone" in out
    assert "added    r.new" in out
    assert "changed  r.n: 3 -> 3.0" in out  # an int that became a float is a change
    assert "timing   t.seconds: 1.0 -> 2.0" in out
    assert "4 non-timing difference(s)" in out


def test_only_timings_differ_passes(tmp_path):
    before = _report(tmp_path / "b", {"06_x": {"r": {"redraw_ms": 3.0, "wall_s": 1}}})
    after = _report(tmp_path / "a", {"06_x": {"r": {"redraw_ms": 4.0, "wall_s": 2}}})
    assert _load().main([str(before), str(after)]) == 0


def test_a_missing_notebook_is_a_difference(tmp_path):
    before = _report(tmp_path / "b", {"01_x": {}, "02_y": {}})
    after = _report(tmp_path / "a", {"01_x": {}})
    assert _load().main([str(before), str(after)]) == 1
