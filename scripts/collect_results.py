"""Copy a report's numbers into the repository: ``summary.json`` and every notebook's
``metrics.json``, so each number the README quotes can be found in a committed file, and each
notebook's executed copy (``.ipynb`` and ``.html``, figures embedded) so the full profile's
figures can be looked at; then render the README's results tables from those files.

Usage::

    python scripts/collect_results.py reports/full docs/results/full --readme README.md

``make report-full`` runs this after the report. With ``--readme`` the block between
:data:`BEGIN` and :data:`END` in the README is replaced by :func:`render_results` of the
collected files: the tables and verdicts are never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.paper_claims import paper_claims_markdown, paper_claims_table
from wsss_lib.utils import atomic_write_text

BEGIN = "<!-- results:begin (scripts/collect_results.py writes this block; do not edit) -->"
END = "<!-- results:end -->"

#: Notebook 02 rows, in table order, with their labels.
PARADIGMS = {
    "single_cnn": "single CNN (the teacher)",
    "single_vit": "single ViT",
    "ts_cnn_to_vit": "teacher-student CNN→ViT (paper)",
    "ts_vit_to_cnn": "teacher-student ViT→CNN",
    "co_training": "co-training CNN+ViT",
}


#: What is copied of each notebook's report folder besides ``metrics.json``.
EXECUTED_SUFFIXES = (".ipynb", ".html")


def collect(report: Path, out: Path) -> list[Path]:
    """Copy ``report/summary.json``, ``report/<notebook>/metrics.json`` and the executed
    notebook ``report/<notebook>/<notebook>.ipynb`` / ``.html`` into ``out``.

    Raises:
        FileNotFoundError: when ``report`` holds no ``summary.json`` (run the report first).
    """
    summary = report / "summary.json"
    if not summary.is_file():
        raise FileNotFoundError(
            f"{summary} does not exist: run the report first (make report-full)."
        )
    out.mkdir(parents=True, exist_ok=True)
    written = [Path(shutil.copy2(summary, out / "summary.json"))]
    for entry in json.loads(summary.read_text(encoding="utf-8"))["notebooks"]:
        name = entry["name"]
        files = [report / name / "metrics.json",
                 *(report / name / f"{name}{suffix}" for suffix in EXECUTED_SUFFIXES)]
        for source in files:
            if source.is_file():
                target = out / name / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                written.append(Path(shutil.copy2(source, target)))
    static = report / "_static"  # the local MathJax the HTML copies load (math offline)
    if static.is_dir():
        shutil.rmtree(out / "_static", ignore_errors=True)
        shutil.copytree(static, out / "_static")
        written += sorted(p for p in (out / "_static").rglob("*") if p.is_file())
    return written


# --------------------------------------------------------------------- README results block


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _pm(row: Mapping[str, Any], key: str) -> str:
    """``mean ± std`` of a method row (std over seeds when there are several)."""
    std = row.get(f"{key}_std")
    if std is None or row.get("n_seeds", 2) < 2:
        return _num(row.get(key), 2)
    return f"{_num(row.get(key), 2)} ± {_num(std, 2)}"


def _paper(paper: Mapping[str, Any], name: str) -> str:
    value = paper.get(name)
    if isinstance(value, Mapping):
        value = value.get("smoke_iou")
    return _num(value, 2) if isinstance(value, (int, float)) else "—"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _claims(doc: Mapping[str, Any]) -> list[str]:
    """One line per claim: verdict, paired difference and its 95 % interval."""
    lines = []
    for claim in doc.get("claims", []):
        numbers = ""
        if claim.get("mean") is not None:
            numbers = (f", {claim['mean']:+.2f} points (95 % interval "
                       f"{_num(claim.get('low'), 2)} to {_num(claim.get('high'), 2)}, "
                       f"n = {claim.get('n', '?')})")
        elif claim.get("parts"):  # decided by several paired comparisons
            numbers = " — " + "; ".join(
                f"{part['claim']} {part['mean']:+.2f} ({_num(part.get('low'), 2)} to "
                f"{_num(part.get('high'), 2)})" for part in claim["parts"]
            ) + f" (points, 95 % intervals, n = {claim.get('n', '?')})"
        lines.append(f"- {claim['claim']}: **{claim['verdict']}**{numbers}")
    return lines


def _seeds(doc: Mapping[str, Any]) -> str:
    seeds = {row.get("n_seeds") for row in doc["results"].values() if isinstance(row, Mapping)}
    seeds.discard(None)
    return f"{max(seeds)} paired seeds" if seeds else "seeds: see metrics.json"


def _bias(doc: Mapping[str, Any]) -> list[str]:
    results = doc["results"]
    levels = sorted({row["level"] for key, row in results.items()
                     if key.startswith(("cnn@", "vit@"))}, key=lambda lv: float(lv.split("/")[0]))

    def cell(arch: str, level: str, fmt: Callable[[Mapping[str, Any]], str]) -> str:
        row = next((r for k, r in results.items()
                    if k.startswith(f"{arch}@") and r.get("level") == level), None)
        return fmt(row) if row else "—"

    def pair(first: str, second: str) -> Callable[[Mapping[str, Any]], str]:
        return lambda row: f"{_num(row.get(first))} / {_num(row.get(second))}"

    def one(key: str) -> Callable[[Mapping[str, Any]], str]:
        return lambda row: _num(row.get(key))

    measures = [
        ("CNN accuracy test / test_decoupled", "cnn", pair("accuracy", "accuracy_decoupled")),
        ("CNN chimney FP rate (test)", "cnn", one("chimney_fp_rate")),
        ("CNN CAM chimney mass (test)", "cnn", one("cam_chimney_mass")),
        ("CNN smoke IoU test / test_decoupled", "cnn", pair("smoke_iou", "smoke_iou_decoupled")),
        ("ViT accuracy test / test_decoupled", "vit", pair("accuracy", "accuracy_decoupled")),
        ("ViT smoke IoU test / test_decoupled", "vit", pair("smoke_iou", "smoke_iou_decoupled")),
        ("ViT score-map CAM @0.3, smoke IoU test", "vit", one("smoke_iou_score_map")),
        ("CNN / ViT CAM read-out (chosen on val)", "cnn", lambda row: _pair_readouts(
            row, next((r for k, r in results.items() if k.startswith("vit@")
                       and r.get("level") == row.get("level")), {}))),
    ]
    lines = ["**Notebook 01 — the co-occurrence bias** (one classifier per training level):", ""]
    lines += _table(["trained at P(chimney\\|smoke) / P(chimney\\|clean)", *levels],
                    [[name, *(cell(arch, lv, fmt) for lv in levels)]
                     for name, arch, fmt in measures])
    whole, sup = results.get("whole_image_baseline", {}), results.get("supervised", {})
    lines += ["", f"References: the whole image called smoke scores {_num(whole.get('smoke_iou'))}"
              f" on `test` ({_num(whole.get('smoke_iou_decoupled'))} on `test_decoupled`); "
              f"the fully supervised `{sup.get('model', '?')}` (trained on the masks at "
              f"{sup.get('level', '?')}) {_num(sup.get('smoke_iou'))} "
              f"({_num(sup.get('smoke_iou_decoupled'))})."]
    return lines


def _pair_readouts(cnn: Mapping[str, Any], vit: Mapping[str, Any]) -> str:
    def first(row: Mapping[str, Any]) -> str:
        return (row.get("readout_per_seed") or ["—"])[0]

    return f"{first(cnn)} / {first(vit)}"


def _method_table(doc: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    results, paper = doc["results"], doc.get("paper", {})
    header = ["row", "smoke IoU test", "smoke IoU test_decoupled", "smoke IoU val",
              "score map @0.3", "chimney FP rate", "CAM chimney mass",
              "acc. test / test_decoupled", "read-out (seed 0)", "paper smoke IoU"]
    rows = [[label, _pm(row, "smoke_iou"), _num(row.get("smoke_iou_decoupled"), 2),
             _num(row.get("smoke_iou_val"), 2), _num(row.get("smoke_iou_score_map"), 2),
             _num(row.get("chimney_fp_rate")), _num(row.get("cam_chimney_mass")),
             f"{_num(row.get('accuracy'))} / {_num(row.get('accuracy_decoupled'))}",
             _readout(row), _paper(paper, name)]
            for name, label in names.items() if (row := results.get(name))]
    return _table(header, rows)


def _readout(row: Mapping[str, Any]) -> str:
    """The first seed's CAM read-out, chosen on val (e.g. ``cam > 0.45``)."""
    chosen = row.get("readout_per_seed")
    return f"`{chosen[0]}`" if chosen else "—"


def _trained_at(doc: Mapping[str, Any]) -> str:
    level = doc.get("settings", {}).get("train_level") or (0.95, 0.05)
    return f"trained at P(chimney\\|smoke) / P(chimney\\|clean) = {level[0]:g} / {level[1]:g}"


def _paradigms(doc: Mapping[str, Any]) -> list[str]:
    return [f"**Notebook 02 — paradigms** ({_seeds(doc)}, {_trained_at(doc)}; mean ± std):", "",
            *_method_table(doc, PARADIGMS), "", *_claims(doc)]


def _lambda(doc: Mapping[str, Any]) -> list[str]:
    names = {key: f"λ = {key.removeprefix('lam_')}" for key in
             sorted(doc["results"], key=lambda k: float(k.removeprefix("lam_")))}
    return [f"**Notebook 03 — λ sensitivity** (teacher-student CNN→ViT, global cosine, "
            f"{_seeds(doc)}; λ is chosen on `val`):", "", *_method_table(doc, names), "",
            *_claims(doc)]


def _alignment(doc: Mapping[str, Any]) -> list[str]:
    # teacher-student rows first, then co-training, each in the notebook's order
    keys = sorted(doc["results"], key=lambda k: k.startswith("co_training"))
    names = {key: key.replace("_", " ") for key in keys}
    return [f"**Notebook 04 — alignment variants** ({_seeds(doc)}; λ = 1):", "",
            *_method_table(doc, names), "", *_claims(doc)]


def _sentences(doc: Mapping[str, Any], title: str) -> list[str]:
    """Notebooks 05 / 06: their computed verdict sentences and claims."""
    lines = [f"**{title}**", ""]
    said = tuple(claim["claim"] for claim in doc.get("claims", []))
    settings = ("Smoke IoU", "Paper", "Layers", "AffinityNet:")
    notes = [n for n in doc.get("notes", []) if not n.startswith(settings + said)]
    return lines + _claims(doc) + [f"- {note}" for note in notes]


def _shortcut(doc: Mapping[str, Any]) -> list[str]:
    """Notebook 09: each row at each training level (its claims are in the claims table)."""
    results = {k: v for k, v in doc["results"].items() if "@" in k}
    columns = ("accuracy_decoupled", "chimney_fp_rate_decoupled", "cam_chimney_mass_decoupled",
               "smoke_iou_decoupled", "smoke_iou", "boundary_f")
    rows = [[f"{name.split('@')[0].replace('_', ' ')} @ {name.split('@')[1]}",
             *(_pm(row, key) for key in columns)] for name, row in results.items()]
    check = doc["results"].get("level_check") or {}
    chosen = "; ".join(f"{level}: {v.get('accuracy_val_decoupled')} %" for level, v in
                       check.items())
    return [f"**Notebook 09 — the shortcut where it exists** ({_seeds(doc)} for the headline "
            "rows; rows named `<row> @ P(chimney|smoke)`; mean ± std, %). The seed-0 single "
            f"CNN's accuracy on the decoupled `val` that chose the levels: {chosen}.", "",
            *_table(["run @ level", "acc. decoupled", "chimney FP (dec.)", "CAM mass (dec.)",
                     "smoke IoU (dec.)", "smoke IoU", "boundary F"], rows)]


def _second_stage(doc: Mapping[str, Any]) -> list[str]:
    """Notebook 10: stage 2 beside its pseudo-masks, supervision and the baselines; the k curve."""
    results = doc["results"]
    rows = [(label, results.get(key) or {}) for key, label in (
        ("whole_image", "whole image = smoke"), ("untrained", "untrained segmenter"),
        ("pseudo_masks", "pseudo-masks (stage 1)"), ("stage2", "**stage 2** (segmenter on them)"),
        ("supervised", "fully supervised (same segmenter, true masks)"))]
    table = _table(["row", "smoke IoU test", "smoke IoU test_decoupled", "boundary F",
                    "chimney FP (test)"],
                   [[label, _pm(row, "smoke_iou"), _pm(row, "smoke_iou_decoupled"),
                     _pm(row, "boundary_f"), _pm(row, "chimney_fp_rate")] for label, row in rows])
    ks = sorted((int(k.removeprefix("supervised_k")), v) for k, v in results.items()
                if k.startswith("supervised_k"))
    curve = "; ".join(f"k = {k}: {_pm(v, 'smoke_iou')}" for k, v in ks)
    derived = results.get("derived") or {}
    pipeline = (results.get("pseudo_masks") or {}).get("pipeline", "?")
    return [f"**Notebook 10 — the second stage** ({_seeds(doc)}; pseudo-masks of `{pipeline}`, "
            "the pipeline with the best smoke IoU on `val`; mean ± std, %):", "", *table, "",
            f"Supervised on k true masks (same steps): {curve}. Stage 2 reaches "
            f"{_num(derived.get('percent_of_supervised'))} % of the supervised segmenter on "
            f"`test` (95 % interval {_num(derived.get('percent_of_supervised_low'))} to "
            f"{_num(derived.get('percent_of_supervised_high'))}) and is worth about "
            f"{_num(derived.get('masks_worth'), 0)} true masks (interpolated in log k; "
            f"{_num(derived.get('masks_worth_decoupled'), 0)} on `test_decoupled`).", "",
            *_claims(doc)]


def _paper_claims(documents: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The paper's claims in one table, from the notebooks' ``metrics.json`` documents."""
    rows = [r for r in paper_claims_table(documents) if r["verdict"] != "not run"]
    if not rows:
        return []
    return ["**The paper's claims, one table** (regime = the co-occurrence the networks were "
            "trained at; differences are paired, in points, first row minus second; n = paired "
            "seeds, or images for post-processing):", "", *paper_claims_markdown(rows), ""]


RENDERERS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "09_shortcut_claims": _shortcut,
    "10_second_stage": _second_stage,
    "01_co_occurrence_bias": _bias,
    "02_teacher_student": _paradigms,
    "03_lambda_sensitivity": _lambda,
    "04_alignment_variants": _alignment,
    "05_cam_fusion": lambda doc: _sentences(doc, "Notebook 05 — CAM fusion (seed-0 models)"),
    "06_postprocessing_failures": lambda doc: _sentences(
        doc, "Notebook 06 — post-processing (seed-0 model; intervals over images)"),
}


def render_results(results_dir: Path) -> str:
    """The README's results block from ``results_dir`` (``summary.json`` + ``*/metrics.json``).

    Raises:
        FileNotFoundError: when ``results_dir`` has no ``summary.json``.
    """
    summary = json.loads((results_dir / "summary.json").read_text(encoding="utf-8"))
    entries = summary["notebooks"]
    times = ", ".join(f"{e['name'][:2]} {e.get('wall_time_s', 0) / 60:.1f}"
                      + (" (unchanged, skipped)" if e.get("status") == "skipped" else "")
                      for e in entries)
    total = sum(e.get("wall_time_s", 0) for e in entries)
    wall = summary.get("total_wall_time_s")
    jobs = summary.get("jobs", 1)
    threads = summary.get("kernel_threads")
    each = f" ({threads} CPU thread(s) each)" if threads else ""
    ran = (f"the report ran **{wall / 60:.1f} min** of wall time with {jobs} notebook(s) at a "
           f"time{each} on `{summary.get('machine', 'an unrecorded machine')}`; the notebooks' own "
           f"times add up to {total / 60:.1f} min"
           if wall is not None and not any(e.get("status") == "skipped" for e in entries)
           else f"the notebooks' last runs took **{total / 60:.1f} min** together")
    lines = [BEGIN, "",
             f"Report of {summary.get('created', '?')[:16].replace('T', ' ')} UTC, profile "
             f"`{summary.get('profile')}`, status {summary.get('status')}: {ran} (minutes per "
             f"notebook: {times}; a skipped notebook shows the time of the run that made its "
             "numbers).", ""]
    documents = {entry["name"]: MetricsDocument.read(path).to_json()
                 for entry in entries
                 if (path := results_dir / entry["name"] / "metrics.json").is_file()}
    lines += _paper_claims(documents)
    for name, doc in documents.items():
        if name in RENDERERS:
            lines += [*RENDERERS[name](doc), ""]
    return "\n".join([*lines, END])


def update_readme(readme: Path, block: str) -> None:
    """Replace the text between :data:`BEGIN` and :data:`END` in ``readme`` (atomically).

    Raises:
        ValueError: when the markers are missing (add both lines where the block belongs).
    """
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{readme} has no results block: add the two lines\n{BEGIN}\n{END}\n"
                         "where the generated tables belong.")
    atomic_write_text(readme, text[:start] + block + text[end + len(END):])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, help="report folder, e.g. reports/full")
    parser.add_argument("out", type=Path, help="destination, e.g. docs/results/full")
    parser.add_argument("--readme", type=Path, default=None,
                        help="README whose results block is re-rendered from OUT")
    args = parser.parse_args(argv)
    for path in collect(args.report, args.out):
        print("wrote", path)
    if args.readme is not None:
        update_readme(args.readme, render_results(args.out))
        print("updated", args.readme)


if __name__ == "__main__":
    main()
