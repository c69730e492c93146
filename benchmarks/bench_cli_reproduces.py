"""The command line reproduces the notebooks: notebook 02's benchmark, exported and run by `wsss`.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_cli_reproduces.py          # full profile, ~25 min
    python benchmarks/bench_cli_reproduces.py --no-ablation              # without point 3

What it does (the path a user with their own data takes, on data whose answer is known):

1. Export notebook 02's synthetic scenes of training seed 0 as a COCO-segmentation export
   (:func:`wsss_lib.runs.export_benchmark`, :func:`wsss_lib.data.save_coco`, PNG, lossless):
   ``train/`` = the training split the method's networks are trained on (the profile's
   ``n_train`` images at its ``train_level``, e.g. 3072 at 64 px, P(chimney | smoke) =
   P(chimney | clean) = 0.5), ``valid/`` = the ``val`` split notebook
   02 chooses each run's read-out on, ``test/`` = the ``test`` split its rows report. The export
   is read back and compared with the scenes pixel for pixel.
2. ``wsss train --profile PROFILE --coco EXPORT`` for the single CNN (``--set
   paradigm=single_cnn``) and the teacher-student CNN→ViT (the default paradigm), then ``wsss
   evaluate RUN --coco EXPORT --split test``; read the smoke IoU and image accuracy from the
   metrics JSON ``wsss evaluate`` writes.
3. Compare them with notebook 02's committed rows (``docs/results/<profile>/02_teacher_student/
   metrics.json``: mean and sample std over its seeds, read from the file): **the rule** is that
   a CLI number reproduces the notebook when it lies within mean ± 2 std of the notebook's seeds.
   With 3 seeds the std is itself uncertain, so the band is a screen for a different recipe (the
   old recipe of section 08 was at chance: 50 % accuracy, about 0 smoke IoU), not a test of
   equality. The seed-0 networks of notebook 02 (loaded from the cache or the shipped
   checkpoints, never trained here) are measured too, as the same-seed reference, and the CLI
   run's per-epoch training losses are compared with theirs (``cli_training_identical``: the
   command line trained the very same network; ``in_committed_rows``: that network is the one
   behind the committed row's seed 0).
4. Point 3 of issue #23: the same two runs with ``--set proxy_pretrain=false`` (no proxy
   pre-training: random initialisation), to say whether the proxy pre-training helps on this data.

Writes ``benchmarks/results/cli_reproduces.json``. Runs use the real model cache
(``$WSSS_CACHE``), so a second run of the script only evaluates: ``train_command_seconds`` is then
a cache hit, while ``training_seconds_recorded`` is the run's own training time (the sum of its
epochs' ``seconds`` in ``history.json``; the teacher of a KT run is trained, and counted, in its
own single-network run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import environment, write_results

REPO = Path(__file__).resolve().parents[1]
#: The rows of notebook 02 the CLI runs reproduce: CLI paradigm -> notebook 02 row.
ROWS = {"single_cnn": "single_cnn", "ts_cnn_to_vit": "ts_cnn_to_vit"}
#: Compared metrics (percent in notebook 02's metrics.json).
METRICS = ("smoke_iou", "accuracy")
#: Half-width of the band, in sample standard deviations over notebook 02's seeds.
N_STD = 2.0


def wsss_command() -> list[str]:
    """The ``wsss`` console script of this interpreter's environment (else ``-m wsss_lib``)."""
    script = Path(sys.executable).with_name("wsss")
    return [str(script)] if script.is_file() else [sys.executable, "-c",
                                                   "import sys; from wsss_lib.cli import main; "
                                                   "sys.exit(main())"]


def run_wsss(args: list[str], log: Path) -> tuple[str, float]:
    """Run ``wsss ARGS``; returns its stdout and wall time; stdout + stderr also go to ``log``."""
    began = time.perf_counter()
    done = subprocess.run([*wsss_command(), *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ wsss {' '.join(args)}\n{done.stdout}\n{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"wsss {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout, seconds


def export_and_check(S: dict[str, Any], profile: str, root: Path, seed: int = 0
                     ) -> dict[str, Any]:
    """:func:`wsss_lib.runs.export_benchmark` (notebook 02's ``train`` / ``valid`` / ``test``
    scenes of ``seed`` under ``root``), read back and compared with the scenes.

    Returns:
        ``{"root", "splits": {name: {"n_images", "n_smoke", "fingerprint"}}, "roundtrip"}``;
        ``roundtrip`` is True when every split reads back with identical pixels and masks.
    """
    from wsss_lib.data import load_coco
    from wsss_lib.runs import export_benchmark
    from wsss_lib.studies import measure
    from wsss_lib.studies.configs import single_config
    from wsss_lib.train.loop import load_training_data

    export_benchmark(profile, root, seed=seed)
    train, _ = load_training_data(single_config(S, "cnn", seed))  # what notebook 02 trains on
    sets = measure.evaluation_sets(S)
    splits = {"train": train, "valid": sets["val"], "test": sets["test"]}
    out: dict[str, Any] = {"root": str(root), "splits": {}, "roundtrip": True}
    for name, scenes in splits.items():
        back = load_coco(root, name, image_size=S["image_size"], resize="pad")
        same = (np.array_equal(back.images, scenes.images)
                and np.array_equal(back.smoke_masks, scenes.smoke_masks)
                and np.array_equal(back.labels, scenes.labels))
        out["roundtrip"] = out["roundtrip"] and bool(same)
        out["splits"][name] = {"n_images": len(scenes), "n_smoke": int(scenes.labels.sum()),
                               "fingerprint": scenes.fingerprint(), "identical_after_export":
                               bool(same)}
    return out


def cli_run(profile: str, export: Path, paradigm: str, extra: list[str], log: Path
            ) -> dict[str, Any]:
    """``wsss train`` then ``wsss evaluate`` on the export's test split; metrics in percent."""
    train_args = ["train", "--profile", profile, "--coco", str(export), "--set",
                  f"paradigm={paradigm}", *extra, "--quiet"]
    out, train_s = run_wsss(train_args, log)
    key = re.search(r"^Run: (\S+)$", out, re.MULTILINE).group(1)
    readout = re.search(r"^Read-out: (.+)$", out, re.MULTILINE)
    metrics_file = log.parent / f"evaluate-{key}.json"
    _, eval_s = run_wsss(["evaluate", key, "--coco", str(export), "--split", "test", "--out",
                          str(metrics_file), "--quiet"], log)
    document = json.loads(metrics_file.read_text(encoding="utf-8"))
    metrics = document["metrics"]
    history = json.loads((Path(document["run_dir"]) / "history.json").read_text(encoding="utf-8"))
    return {
        "command": "wsss " + " ".join(train_args),
        "run": key,
        "readout": readout.group(1) if readout else None,
        "cam_settings": document["settings"],
        "smoke_iou": round(100 * float(metrics["smoke_iou"]), 2),
        "accuracy": round(100 * float(metrics["accuracy"]), 2),
        "baselines": {k: round(100 * float(v), 2) for k, v in
                      (metrics.get("baselines") or {}).items()
                      if k in ("accuracy_always_smoke", "smoke_iou_whole_image")},
        "train_command_seconds": round(train_s, 1),  # a cache hit when run again
        "training_seconds_recorded": round(sum(h.get("seconds", 0.0) for h in history), 1),
        "evaluate_seconds": round(eval_s, 1),
    }


def notebook_seed_run(S: dict[str, Any], paradigm: str, seed: int = 0) -> dict[str, Any] | None:
    """Notebook 02's own run of ``paradigm`` and ``seed``, measured as notebook 02 measures it
    (:func:`wsss_lib.studies.measure.evaluate_run`); None when it is neither cached nor shipped
    (it is not trained here)."""
    from wsss_lib.studies import measure
    from wsss_lib.studies.configs import paradigm_config
    from wsss_lib.train import get_or_train
    from wsss_lib.train.cache import cache_key, run_dir_for
    from wsss_lib.train.shipped import find_shipped

    config = paradigm_config(S, paradigm, seed)
    folder = run_dir_for(config)
    cached = (folder / "checkpoint.pt").is_file()
    if not cached and find_shipped(folder.name, cache_key(config)) is None:
        return None
    run = get_or_train(config, progress=False)
    row = measure.evaluate_run(run, measure.evaluation_sets(S), S.get("cam_readouts"))
    return {"run": folder.name, "readout": row["readout"],
            "train_loss_per_epoch": [h["train_loss"] for h in run.history],
            **{m: round(100 * row[m], 2) for m in METRICS}}


def same_training(cli_key: str, notebook: dict[str, Any] | None) -> bool | None:
    """Whether the CLI run's per-epoch training losses equal the notebook run's, exactly (the
    same images in the same order, the same initialisation and steps); None without one."""
    from wsss_lib.utils import default_cache_dir

    if notebook is None:
        return None
    history = json.loads((default_cache_dir() / "runs" / cli_key / "history.json")
                         .read_text(encoding="utf-8"))
    return [h["train_loss"] for h in history] == notebook["train_loss_per_epoch"]


def compare(value: float, row: dict[str, Any], metric: str) -> dict[str, Any]:
    """``value`` against notebook 02's mean ± N_STD std of ``metric`` (percent)."""
    mean, std = float(row[metric]), float(row[f"{metric}_std"])
    low, high = mean - N_STD * std, mean + N_STD * std
    return {"cli": value, "notebook_mean": mean, "notebook_std": std,
            "band": [round(low, 2), round(high, 2)], "within": bool(low <= value <= high),
            "difference": round(value - mean, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="full")
    parser.add_argument("--reference", type=Path, default=None,
                        help="notebook 02's metrics.json (default: docs/results/<profile>/"
                        "02_teacher_student/metrics.json)")
    parser.add_argument("--export", type=Path, default=None,
                        help="where to write the COCO export (default: "
                        "wsss_lib.runs.benchmark_export_dir, shared with notebook 08)")
    parser.add_argument("--no-ablation", action="store_true",
                        help="skip the runs without proxy pre-training")
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default: "
                        "benchmarks/results/cli_reproduces.json)")
    args = parser.parse_args()

    from wsss_lib.runs import benchmark_export_dir
    from wsss_lib.studies.configs import method_settings
    from wsss_lib.utils import default_cache_dir

    S = method_settings(args.profile)
    reference = args.reference or (REPO / "docs" / "results" / args.profile
                                   / "02_teacher_student" / "metrics.json")
    committed = json.loads(reference.read_text(encoding="utf-8"))
    rows = committed["results"]
    committed_runs = {n["run"] for n in committed.get("networks", [])}
    export = args.export or benchmark_export_dir(args.profile)
    log = default_cache_dir() / "benchmarks" / f"cli_reproduces-{args.profile}-logs" / "wsss.log"
    if log.exists():
        log.unlink()

    began = time.perf_counter()
    exported = export_and_check(S, args.profile, export)
    print(f"export: {export} (read back identical: {exported['roundtrip']})", flush=True)
    runs, comparison, same_seed, ablation = {}, {}, {}, {}
    for paradigm, row_name in ROWS.items():
        runs[paradigm] = cli_run(args.profile, export, paradigm, [], log)
        comparison[paradigm] = {m: compare(runs[paradigm][m], rows[row_name], m)
                                for m in METRICS}
        same_seed[paradigm] = notebook_seed_run(S, paradigm)
        if same_seed[paradigm] is not None:
            same_seed[paradigm]["cli_training_identical"] = same_training(
                runs[paradigm]["run"], same_seed[paradigm])
            # is it the network behind the committed row's seed 0 (same cache key)?
            same_seed[paradigm]["in_committed_rows"] = same_seed[paradigm]["run"] in \
                committed_runs
        print(paradigm, json.dumps(runs[paradigm]), json.dumps(comparison[paradigm]),
              json.dumps(same_seed[paradigm]), sep="\n  ", flush=True)
    if not args.no_ablation and S.get("proxy_pretrain"):
        for paradigm in ROWS:
            without = cli_run(args.profile, export, paradigm,
                              ["--set", "proxy_pretrain=false"], log)
            ablation[paradigm] = {
                "with_proxy_pretraining": {m: runs[paradigm][m] for m in METRICS},
                "without_proxy_pretraining": {m: without[m] for m in METRICS},
                "difference_with_minus_without": {
                    m: round(runs[paradigm][m] - without[m], 2) for m in METRICS},
                "run_without": without["run"], "readout_without": without["readout"],
                "training_seconds_recorded_without": without["training_seconds_recorded"],
            }
            print(paradigm, "without proxy pre-training", json.dumps(ablation[paradigm]),
                  flush=True)
    within = all(c["within"] for p in comparison.values() for c in p.values())
    result = {
        "what": ("wsss train --profile PROFILE --coco <notebook 02's exported scenes> + wsss "
                 "evaluate on its test split, against notebook 02's committed rows"),
        "profile": args.profile,
        "rule": (f"a CLI number reproduces notebook 02 when it lies within mean ± {N_STD:g} "
                 f"sample std of notebook 02's seeds ({rows['single_cnn'].get('n_seeds')} "
                 "seeds; numbers read from the reference file, in percent); the CLI run is one "
                 "training seed (0)"),
        "reference": str(reference.relative_to(REPO) if reference.is_relative_to(REPO)
                         else reference),
        "export": exported,
        "cli": runs,
        "comparison": comparison,
        "all_within": within,
        "notebook_seed0_same_measure": same_seed,
        "proxy_pretraining_ablation": ablation or None,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "total_seconds": round(time.perf_counter() - began, 1),
        "environment": environment(torch.device("cpu")),
    }
    path = write_results("cli_reproduces", result, args.out)
    print(f"all within the band: {within}; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
