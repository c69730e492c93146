"""What the full report costs from an empty cache, from a run that loaded its networks.

A report that loads cached networks measures only the notebooks' own work; the training it
skipped is recorded in each network's ``history.json`` (seconds per epoch). This script adds
them up per notebook, each network once (the first notebook to list it pays for it), and
estimates the cold wall time on this machine:

    cold ≈ max(report wall time, (notebook wall times + training seconds) / parallel)

where ``parallel`` is the number of notebooks that can compute at once (the CPU cores: each
notebook kernel runs one thread). It is an estimate, not a measurement. An epoch's recorded
seconds include whatever shared the core at the time (a report runs several notebooks on few
cores), so the script also gives a **solo** figure: each network's epochs at the fastest epoch
seen for its kind (paradigm, network, training-set size) among all the networks it counts. The
recorded figure errs high, the solo one low (it also ignores the waits of a notebook for a
network another is training).

    python benchmarks/bench_full_cost.py docs/results/full [--cache ~/.cache/wsss-lab]
        [--parallel 2] [--json benchmarks/results/full_cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def _kind(run_dir: Path) -> tuple[str, ...]:
    """What a network's epoch costs depend on: paradigm, networks, training-set size."""
    config = json.loads((run_dir / "config.json").read_text()).get("config", {})
    names = [str((config.get(r) or {}).get("name")) for r in ("model", "student", "teacher")]
    data = config.get("data") or {}
    return (str(config.get("paradigm")), *names, str(data.get("n_train")),
            str(data.get("image_size")))


def epoch_seconds(run_dir: Path) -> list[float] | None:
    """The epochs' ``seconds`` in ``run_dir/history.json`` (None when absent)."""
    path = run_dir / "history.json"
    if not path.is_file():
        return None
    return [float(e.get("seconds", 0.0)) for e in json.loads(path.read_text())]


def full_cost(results: Path, cache: Path, parallel: int) -> dict[str, Any]:
    """Per notebook: wall time of the recorded run, its networks and their training seconds."""
    summary = json.loads((results / "summary.json").read_text())
    seen: set[str] = set()
    notebooks, missing = [], []
    fastest: dict[tuple[str, ...], float] = {}
    counted: list[tuple[tuple[str, ...], int]] = []  # (kind, epochs) of every network counted
    for entry in summary["notebooks"]:
        path = results / entry["name"] / "metrics.json"
        networks = json.loads(path.read_text()).get("networks", []) if path.is_file() else []
        train, count = 0.0, 0
        for net in networks:
            if net["run"] in seen:
                continue
            seen.add(net["run"])
            run_dir = cache / "runs" / net["run"]
            epochs = epoch_seconds(run_dir)
            if epochs is None:
                missing.append(net["run"])
                continue
            train, count = train + sum(epochs), count + 1
            kind = _kind(run_dir)
            counted.append((kind, len(epochs)))
            positive = [e for e in epochs if e > 0]
            if positive:
                fastest[kind] = min(fastest.get(kind, float("inf")), min(positive))
        notebooks.append({"name": entry["name"], "wall_s": float(entry.get("wall_time_s", 0.0)),
                          "networks_trained": count, "training_s": round(train, 1)})
    solo = sum(n * fastest.get(kind, 0.0) for kind, n in counted)
    notebooks_wall = sum(n["wall_s"] for n in notebooks)
    training = sum(n["training_s"] for n in notebooks)
    wall = summary.get("total_wall_time_s") or 0.0
    return {"results": str(results), "parallel": parallel, "notebooks": notebooks,
            "training_s": round(training, 1), "notebooks_wall_s": round(notebooks_wall, 1),
            "report_wall_s": wall,
            "cold_estimate_s": round(max(wall, (training + notebooks_wall) / parallel), 1),
            "training_solo_s": round(solo, 1),
            "cold_estimate_solo_s": round(max(wall, (solo + notebooks_wall) / parallel), 1),
            "networks_without_history": missing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("WSSS_CACHE", "~/.cache/wsss-lab")))
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out = full_cost(args.results, args.cache.expanduser(), args.parallel)
    for n in out["notebooks"]:
        print(f"{n['name']:28s} wall {n['wall_s'] / 60:6.1f} min, {n['networks_trained']:3d} "
              f"networks trained in {n['training_s'] / 60:6.1f} min")
    print(f"training {out['training_s'] / 60:.1f} min + notebooks "
          f"{out['notebooks_wall_s'] / 60:.1f} min over {out['parallel']} cores: cold report ≈ "
          f"{out['cold_estimate_s'] / 60:.1f} "
          f"min (report wall time of this run: {out['report_wall_s'] / 60:.1f} min)")
    print(f"solo: training {out['training_solo_s'] / 60:.1f} min (each epoch at the fastest "
          f"of its kind) -> cold report ≈ {out['cold_estimate_solo_s'] / 60:.1f} min")
    if out["networks_without_history"]:
        print("no history for:", ", ".join(out["networks_without_history"]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
