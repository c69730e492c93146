"""Export the networks the default report reads from a full run's cache into the package.

Usage (``make checkpoints``, after ``make report-full`` filled the cache)::

    python scripts/export_checkpoints.py [--profile tutorial] [--cache-dir DIR] [--commit SHA]

For every network :func:`wsss_lib.studies.shipped_networks.tutorial_networks` lists, the script
reads its finished cache entry (trained on this machine, never one installed from a shipped file),
scores it on its ``val`` split (:func:`wsss_lib.train.shipped.val_scores`) and writes
``wsss_lib/checkpoints/<run>.safetensors`` with its key, history, commit and scores; a
teacher-student file names its teacher's file instead of storing the same weights twice. Files of
networks no longer listed are removed; the total must stay under ``--max-mb`` (30).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

from wsss_lib.studies.shipped_networks import tutorial_networks
from wsss_lib.train import cache_key, load_run, run_dir_for
from wsss_lib.train.cache import runs_root
from wsss_lib.train.shipped import read_origin, shipped_dir, val_scores, write_shipped
from wsss_lib.utils import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def _same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tutorial")
    parser.add_argument("--cache-dir", default=None, help="model cache root (default $WSSS_CACHE)")
    parser.add_argument("--out", default=None, help="default: wsss_lib/checkpoints")
    parser.add_argument("--commit", default=None,
                        help="commit of the code that trained the cache (default: HEAD)")
    parser.add_argument("--max-mb", type=float, default=30.0)
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else shipped_dir()
    commit = args.commit or subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    networks = tutorial_networks(args.profile)
    root = runs_root(args.cache_dir)
    missing = [name for name in networks if not (root / name / "checkpoint.pt").is_file()]
    if missing:
        print(f"Not in the cache {root}: {missing}. Run `make report-full` (or `wsss report "
              f"--profile {args.profile} --retrain`) first.", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    states: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
    lines = ["| file | paradigm | network | scores on val | MB |", "|---|---|---|---|---|"]
    total = 0
    for name, config in networks.items():
        origin = read_origin(root / name)
        if origin is not None:
            print(f"{name} was installed from a shipped file, not trained here; retrain it "
                  "(WSSS_RETRAIN=1) before exporting.", file=sys.stderr)
            return 2
        run = load_run(root / name, device="cpu")
        if len(run.history) != config.epochs:
            print(f"{name} is unfinished ({len(run.history)}/{config.epochs} epochs).",
                  file=sys.stderr)
            return 2
        run_states = {role: module.state_dict() for role, module in run.models.items()}
        states[name] = run_states
        teacher_file = None
        if "teacher" in run_states and config.rules.needs_trained_teacher:
            teacher_name = run_dir_for(config.teacher_config()).name
            if _same_state(run_states["teacher"], states[teacher_name]["model"]):
                teacher_file = f"{teacher_name}.safetensors"
                run_states = {r: s for r, s in run_states.items() if r != "teacher"}
        scores = val_scores(run, args.cache_dir)
        path = write_shipped(out / f"{name}.safetensors", key=cache_key(config),
                             states=run_states, history=run.history, metrics=scores,
                             commit=commit, teacher_file=teacher_file)
        size = path.stat().st_size
        total += size
        shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
        lines.append(f"| `{path.name}` | {config.paradigm} | {config.main_spec.name} | {shown} | "
                     f"{size / 1e6:.1f} |")
        print(f"{path.name}: {shown}, {size / 1e6:.1f} MB"
              + (f", teacher in {teacher_file}" if teacher_file else ""), flush=True)
    wanted = {f"{name}.safetensors" for name in networks}
    for stale in out.glob("*.safetensors"):
        if stale.name not in wanted:
            stale.unlink()
            print(f"removed {stale.name} (no longer read by the {args.profile} profile)")
    atomic_write_text(out / "README.md", "\n".join([
        "# Shipped checkpoints",
        "",
        f"The networks the `{args.profile}` profile reads, trained by the full profile at commit "
        f"`{commit}` and exported by `make checkpoints` (`scripts/export_checkpoints.py`). The "
        "model cache serves each file only for the exact key it was trained under "
        "(`wsss_lib/train/shipped.py`); `wsss report --retrain` or `WSSS_RETRAIN=1` trains "
        "instead. Generated: do not edit.",
        "",
        *lines,
        "",
        f"Total: {total / 1e6:.1f} MB.",
        "",
    ]))
    print(f"{len(networks)} networks, {total / 1e6:.1f} MB in {out}")
    if total > args.max_mb * 1e6:
        print(f"Over the {args.max_mb} MB budget.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
