"""The full profile's committed results can be looked at: every notebook of the committed run has
its executed copy beside its metrics.json, with its figures as pictures and no error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FULL = Path(__file__).resolve().parents[1] / "docs" / "results" / "full"
NOTEBOOKS = [e["name"] for e in json.loads((FULL / "summary.json").read_text())["notebooks"]]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_committed_notebook_shows_its_figures_as_pictures(name: str) -> None:
    executed = json.loads((FULL / name / f"{name}.ipynb").read_text(encoding="utf-8"))
    outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    as_text = [o for o in outputs if "image/png" not in o.get("data", {})
               and "<Figure size" in "".join(o.get("data", {}).get("text/plain", ""))]
    assert images and not as_text, f"{name}: {len(images)} images, {len(as_text)} figure texts"
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = (FULL / name / f"{name}.html").read_text(encoding="utf-8")
    assert "data:image/png;base64" in html and "../_static/mathjax/" in html
    metrics = json.loads((FULL / name / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["notebook"] == name and metrics["profile"] == "full"


def test_the_committed_html_loads_mathjax_from_the_committed_copy() -> None:
    assert (FULL / "_static" / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
