"""The one metrics.json schema (wsss_lib.results.MetricsDocument)."""

from __future__ import annotations

import json
import math

import pytest

from wsss_lib.results.claims import best_claim
from wsss_lib.results.document import DOCUMENT_KEYS, MetricsDocument


def _rows():
    # "a" beats "b" by 10 points and loses to "c" by 5 on every seed (zero-width intervals).
    return [{"name": name, "seed": seed, "smoke_iou": value + 0.01 * seed}
            for seed in range(3) for name, value in (("a", 0.4), ("b", 0.3), ("c", 0.45))]


def test_a_claim_keeps_its_numbers_and_a_composite_claim_its_parts(tmp_path):
    composite = best_claim(_rows(), "a", ["b", "c"], "a is best", {"b": "B", "c": "C"})
    simple = {"claim": "x helps", "verdict": "supported", "mean": 1.5, "low": 0.5, "high": 2.5,
              "n": 3, "sentence": "dropped", "differences": [1, 2]}
    doc = MetricsDocument("04_x", "full", {"a": {"smoke_iou": 40.0}}, claims=[simple, composite])
    data = json.loads(doc.write(tmp_path / "metrics.json").read_text())
    assert sorted(data) == sorted(DOCUMENT_KEYS)
    assert data["claims"][0] == {k: simple[k] for k in ("claim", "verdict", "mean", "low", "high",
                                                        "n")}
    parts = data["claims"][1]["parts"]
    assert data["claims"][1]["verdict"] == "contradicted"  # "c" beats "a"
    assert [p["claim"] for p in parts] == ["vs B", "vs C"]
    assert parts[0]["mean"] == pytest.approx(10.0) and parts[1]["mean"] == pytest.approx(-5.0)
    assert "sentence" not in parts[0]
    again = MetricsDocument.read(tmp_path / "metrics.json")
    assert again.to_json() == data


def test_nan_is_written_as_null_and_bad_files_are_refused(tmp_path):
    doc = MetricsDocument("01_x", "quick", {"row": {"smoke_iou": math.nan}})
    data = json.loads(doc.write(tmp_path / "m.json").read_text())
    assert data["results"]["row"]["smoke_iou"] is None
    with pytest.raises(ValueError, match="JSON object"):
        MetricsDocument.from_json([1, 2])
    with pytest.raises(ValueError, match="'results'"):
        MetricsDocument.from_json({"results": [1]})
