"""Mutation testing of wsss-lab's core modules with mutmut 3, one module at a time.

Each target pairs one core module with the test files that protect it. For every target the
script copies ``wsss_lib/``, ``tests/`` and ``pyproject.toml`` from the working tree into a
scratch folder outside the repository (default ``/tmp/wsss-mutation/<target>``), writes a
``setup.cfg`` with the target's mutmut settings there, and runs ``mutmut run`` in that copy, so
nothing in the working tree is written. It then prints a score per module and writes
``summary.json`` plus the diff of every surviving mutant (``survivors.md``) into the scratch
folder of each target.

Usage (from the repository root; see benchmarks/mutation/README.md)::

    nice -n 19 .venv/bin/python benchmarks/mutation/run_mutation.py            # all targets
    nice -n 19 .venv/bin/python benchmarks/mutation/run_mutation.py metrics crf
    .venv/bin/python benchmarks/mutation/run_mutation.py --list

Stop a run with Ctrl-C (or by killing this script's process group), then ``--resume`` it.

Score = detected / (detected + survived + no tests), where detected = killed + timeout +
segfault (a mutant that hangs or crashes the tests is caught, as in mutmut's own summary).

``--sample N`` checks a seeded random sample of N mutants per target instead of all of them (for
a machine too busy for a full run): the score is then an estimate, reported with its 95 %
Wilson interval, and the unsampled mutants are counted as "not checked".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = Path("/tmp/wsss-mutation")

#: target -> (files to mutate, test files that are run against the mutants). A file entry may
#: be a glob (relative to the repository root); entries that match nothing are skipped, so a
#: module that became a package (``train/paradigms.py`` -> ``train/paradigms/*.py``) is found.
TARGETS: dict[str, tuple[list[str], list[str]]] = {
    "losses": (
        ["wsss_lib/losses.py"],
        ["tests/test_losses.py", "tests/test_properties.py"],
    ),
    "metrics": (
        ["wsss_lib/metrics.py", "wsss_lib/metric_inputs.py"],
        ["tests/test_metrics.py", "tests/test_metrics_edges.py", "tests/test_properties.py"],
    ),
    "cam": (
        # layer_maps.py is paired with its own fast test file (the end-to-end comparison with
        # compute_cam in test_experiments_refinement.py is too slow for a per-mutant pairing).
        ["wsss_lib/cam/torch_cam.py", "wsss_lib/cam/fusion.py", "wsss_lib/cam/gradcam_adapter.py",
         "wsss_lib/cam/layer_maps.py"],
        ["tests/test_cam.py", "tests/test_cam_values.py", "tests/test_cam_layer_maps.py",
         "tests/test_properties.py"],
    ),
    "paradigms": (
        ["wsss_lib/train/paradigms.py", "wsss_lib/train/paradigms/*.py"],
        [
            "tests/test_paradigm_arithmetic.py",
            "tests/test_paradigms.py",
            "tests/test_paradigm_registry.py",
            "tests/test_mut_paradigms.py",
            # Two end-to-end training runs (minutes per mutant on a loaded 2-core CPU); the step
            # arithmetic, roles, modes and seeding they rest on are checked by the fast tests.
            "--deselect=tests/test_paradigms.py::"
            "test_teacher_student_training_leaves_teacher_unchanged_and_lambda_zero_equals_single",
            "--deselect=tests/test_paradigms.py::"
            "test_co_training_trains_both_networks_on_both_bces_plus_weighted_kt",
        ],
    ),
    "synthetic": (
        ["wsss_lib/data/synthetic.py", "wsss_lib/data/synthetic/*.py"],
        ["tests/test_generator_golden.py", "tests/test_synthetic.py",
         "tests/test_mut_synthetic.py"],
    ),
    "crf": (
        ["wsss_lib/postprocess/crf.py"],
        ["tests/test_crf.py", "tests/test_crf_mean_field.py"],
    ),
}

# Lines whose code is only the wording of an error message: a plain string literal alone on its
# line (the continuation lines of a message), or a ``raise`` statement. Mutating them tests the
# message text, not the science; whether an error is raised at all stays mutated (the ``if``).
DO_NOT_MUTATE_PATTERNS = [r"^\s*raise \w+\(", r"^\s*f?\"[^\"]*\"\s*\)?,?\s*$"]

DETECTED = ("killed", "timeout", "segfault")
UNDETECTED = ("survived", "no tests")


def _mutated_files(target: str) -> list[str]:
    """The target's files to mutate in the current working tree (globs expanded)."""
    files: list[str] = []
    for entry in TARGETS[target][0]:
        matches = sorted(ROOT.glob(entry)) if any(c in entry for c in "*?[") else [ROOT / entry]
        files += [m.relative_to(ROOT).as_posix() for m in matches if m.is_file()]
    if not files:
        raise FileNotFoundError(f"{target}: none of {TARGETS[target][0]} exists.")
    return files


def _setup_cfg(mutate: list[str], tests: list[str]) -> str:
    def block(values: list[str]) -> str:
        return "\n" + "\n".join(f"    {v}" for v in values)

    return (
        "[mutmut]\n"
        "source_paths = wsss_lib\n"
        f"only_mutate = {block(mutate)}\n"
        f"pytest_add_cli_args_test_selection = {block(tests)}\n"
        f"pytest_add_cli_args = {block(['-p', 'no:cacheprovider'])}\n"
        f"do_not_mutate_patterns = {block(DO_NOT_MUTATE_PATTERNS)}\n"
        # torch is not fork-safe after its thread pools start: fork workers from a clean server.
        "process_isolation = forkserver\n"
        "use_git_change_detection = false\n"
        "use_setproctitle = false\n"
        # A mutant counts as a timeout only past 15 x its tests' time + 60 s: with mutmut's 1 s
        # default, a loaded shared CPU turned slow-but-correct runs of fast tests into "timeouts".
        "timeout_constant = 60.0\n"
    )


def _prepare(target: str, workdir: Path) -> Path:
    mutate = _mutated_files(target)
    # Test files not in this working tree (e.g. an older checkout) are left out, options kept.
    tests = [t for t in TARGETS[target][1] if t.startswith("-") or (ROOT / t).exists()]
    folder = workdir / target
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".torch_home_unused", "browser")
    shutil.copytree(ROOT / "wsss_lib", folder / "wsss_lib", ignore=ignore)
    shutil.copytree(ROOT / "tests", folder / "tests", ignore=ignore)
    # pyproject.toml without a [tool.mutmut] table, so mutmut reads setup.cfg.
    shutil.copy2(ROOT / "pyproject.toml", folder / "pyproject.toml")
    (folder / "setup.cfg").write_text(_setup_cfg(mutate, tests))
    return folder


def _mutmut(folder: Path, *args: str, check: bool = True) -> str:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "HYPOTHESIS_PROFILE": "default",
    }
    mutmut = Path(sys.executable).with_name("mutmut")
    result = subprocess.run(
        [str(mutmut), *args], cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    if args and args[0] == "run":
        (folder / "mutmut-run.stderr.log").write_text(result.stderr)
    if check and result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise RuntimeError(f"mutmut {' '.join(args)} failed in {folder} ({result.returncode})")
    return result.stdout


def _generate(folder: Path) -> list[str]:
    """Generate the mutants in ``folder`` (no tests run) and return every mutant's name."""
    script = (
        "import os\n"
        "import mutmut.__main__ as m\n"
        "os.makedirs('mutants', exist_ok=True)\n"
        "m.copy_src_dir(); m.copy_also_copy_files(); m.setup_source_paths()\n"
        "m.store_lines_covered_by_tests(); m.create_mutants(1)\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=folder, check=True, capture_output=True)
    names: list[str] = []
    for meta in sorted((folder / "mutants").rglob("*.meta")):
        names += json.loads(meta.read_text())["exit_code_by_key"]
    return sorted(names)


def _wilson(detected: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion, in percent."""
    if n == 0:
        return (math.nan, math.nan)
    p = detected / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(100 * (centre - half), 1), round(100 * (centre + half), 1))


def _results(folder: Path) -> dict[str, str]:
    """mutant name -> status, from ``mutmut results --all true``."""
    out = _mutmut(folder, "results", "--all", "true")
    pairs = re.findall(r"^\s+(\S+): (.+)$", out, flags=re.MULTILINE)
    return {name: status.strip() for name, status in pairs}


def _score(statuses: dict[str, str]) -> tuple[float, Counter]:
    counts = Counter(statuses.values())
    detected = sum(counts[s] for s in DETECTED)
    considered = detected + sum(counts[s] for s in UNDETECTED)
    return (100.0 * detected / considered if considered else float("nan")), counts


def summarize(target: str, workdir: Path, statuses: dict[str, str], wall: float,
              previous: dict | None = None, sample: dict | None = None) -> dict:
    """Score, counts and survivors of one target; writes ``summary.json`` and ``survivors.md``."""
    folder = workdir / target
    score, counts = _score(statuses)
    detected = sum(counts[s] for s in DETECTED)
    considered = detected + sum(counts[s] for s in UNDETECTED)
    survivors = sorted(n for n, s in statuses.items() if s in UNDETECTED)
    with open(folder / "survivors.md", "w") as handle:
        for name in survivors:
            handle.write(_mutmut(folder, "show", name, check=False) + "\n")
    summary = {
        "target": target,
        "mutated": _mutated_files(target),
        "tests": TARGETS[target][1],
        "score_percent": round(score, 1),
        "counts": dict(counts),
        "survivors": survivors,
        "wall_seconds": round(wall, 1),
        "rerun_of_survivors": bool(previous),
        "command": " ".join(sys.argv),
        "statuses": dict(sorted(statuses.items())),
    }
    sample = sample or (previous or {}).get("sample")
    if sample:
        summary["sample"] = sample
        summary["score_ci95_percent"] = _wilson(detected, considered)
    if previous:
        summary["full_run"] = {k: previous[k] for k in ("score_percent", "counts", "wall_seconds")}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def run_target(target: str, workdir: Path, max_children: int, survivors_only: bool,
               resume: bool = False, sample: int | None = None, seed: int = 14) -> dict:
    """Run one target; with ``survivors_only``, re-run only the previous run's survivors.

    With ``resume``, continue an interrupted run in its scratch folder (same code and tests as
    when it started; mutmut skips the mutants it has already checked). With ``sample``, check
    only a random sample of that many mutants (seeded by ``seed`` and the target's name).
    """
    started = time.monotonic()
    sample_file = workdir / target / "sample.json"
    if resume and (workdir / target / "mutants").exists():
        sampled = json.loads(sample_file.read_text()) if sample_file.exists() else None
        names = sampled["names"] if sampled else []
        run_log = _mutmut(workdir / target, "run", "--max-children", str(max_children), *names,
                          check=False)
        (workdir / target / "mutmut-run-resumed.log").write_text(run_log)
        info = {k: v for k, v in sampled.items() if k != "names"} if sampled else None
        return summarize(target, workdir, _results(workdir / target),
                         time.monotonic() - started, sample=info)
    if sample:
        folder = _prepare(target, workdir)
        every = _generate(folder)
        names = sorted(random.Random(f"{seed}:{target}").sample(every, min(sample, len(every))))
        info = {"n": len(names), "of": len(every), "seed": seed}
        sample_file.write_text(json.dumps({**info, "names": names}, indent=1))
        run_log = _mutmut(folder, "run", "--max-children", str(max_children), *names,
                          check=False)
        (folder / "mutmut-run.log").write_text(run_log)
        statuses = _results(folder)
        return summarize(target, workdir, statuses, time.monotonic() - started, sample=info)
    previous = None
    if survivors_only:
        summary_path = workdir / target / "summary.json"
        if not summary_path.exists():
            raise FileNotFoundError(f"{summary_path} not found: run the target in full first.")
        previous = json.loads(summary_path.read_text())
    folder = _prepare(target, workdir)
    # Survivors, and timeouts too: a timeout may be a slow run on a loaded machine.
    names = [n for n, st in previous["statuses"].items() if st in (*UNDETECTED, "timeout")] \
        if previous else []
    if previous and not names:
        return {**previous, "rerun_of_survivors": True}
    run_log = _mutmut(folder, "run", "--max-children", str(max_children), *names, check=False)
    (folder / "mutmut-run.log").write_text(run_log)
    statuses = _results(folder)
    if previous:
        missing = sorted(set(names) - set(statuses))
        if missing:
            raise RuntimeError(f"{target}: the source changed since the full run, these mutants "
                               f"no longer exist: {missing[:5]}...; run the target in full.")
        rerun = {name: statuses[name] for name in names}
        statuses = {**previous["statuses"], **rerun}
    return summarize(target, workdir, statuses, time.monotonic() - started, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"subset of {sorted(TARGETS)} (default: all)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="scratch folder outside the repository (default: %(default)s)")
    parser.add_argument("--max-children", type=int, default=2,
                        help="parallel mutant workers (default: %(default)s, for a 2-core CPU)")
    parser.add_argument("--survivors-only", action="store_true",
                        help="re-run only the survivors and timeouts of the previous run of each "
                        "target (after adding tests) and merge the results into its summary")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="check a seeded random sample of N mutants per target (an estimate "
                        "of the score with a 95 %% interval, for a machine too busy for all)")
    parser.add_argument("--seed", type=int, default=14, help="seed of --sample (default 14)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in its scratch folder")
    parser.add_argument("--summarize", action="store_true",
                        help="only (re)write the summary of each target's last run, e.g. of a "
                        "run that was stopped early (unchecked mutants are counted apart)")
    parser.add_argument("--list", action="store_true", help="print the targets and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, tests) in TARGETS.items():
            print(f"{name:10s} {' '.join(_mutated_files(name))}  <-  {' '.join(tests)}")
        return 0
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {sorted(TARGETS)}")
    if args.workdir.resolve().is_relative_to(ROOT):
        parser.error("--workdir must lie outside the repository (mutmut copies the code there)")
    failing = []
    for target in args.targets or list(TARGETS):
        if args.summarize:
            statuses = _results(args.workdir / target)
            old = args.workdir / target / "summary.json"
            wall = json.loads(old.read_text()).get("wall_seconds", 0.0) if old.exists() else 0.0
            summary = summarize(target, args.workdir, statuses, wall)
        else:
            summary = run_target(target, args.workdir, args.max_children, args.survivors_only,
                                 args.resume, args.sample, args.seed)
        counts = summary["counts"]
        interval = summary.get("score_ci95_percent")
        print(
            f"{target:10s} score {summary['score_percent']:5.1f} %  "
            + (f"(sample of {summary['sample']['n']}/{summary['sample']['of']}, 95 % "
               f"{interval[0]}-{interval[1]})  " if interval else "")
            + "  ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            + f"  ({summary['wall_seconds']:.0f} s; survivors: "
            f"{args.workdir / target / 'survivors.md'})",
            flush=True,
        )
        if not summary["score_percent"] >= 85.0:
            failing.append(target)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
