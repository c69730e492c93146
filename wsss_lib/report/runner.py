"""Run the tutorial notebooks through papermill and gather their outputs into one report.

For every notebook ``notebooks/NN_*.ipynb`` the runner

1. validates the parameters it will inject against the notebook's ``parameters`` cell
   (``papermill.inspect_notebook``): the name must exist and the type must match the default's;
2. skips the notebook when its cells, parameters, profile settings and the ``wsss_lib`` version
   hash to the value stored by its last successful run (``--force`` re-runs anyway);
3. otherwise executes it with papermill's Python API (a per-cell timeout is always set, because
   nbclient can stall on widget cells when several notebooks run at once) into
   ``<out>/<stem>/``: the executed notebook, its HTML rendering, and the ``metrics.json`` and PNG
   figures the notebook writes into its ``output_dir`` parameter;
4. writes ``summary.json`` and ``index.html`` for the whole report.

Steps 1-2 live in :mod:`wsss_lib.report.plan`, step 3 in :mod:`wsss_lib.report.execute`, the
page in :mod:`wsss_lib.report.html`; this module ties them together.

Notebooks run in worker threads, each driving its own kernel process; the kernel's working folder
is the notebook's folder (set through nbclient's ``resources``, so no thread calls ``os.chdir``).
The kernel is the ``python3`` kernelspec, which jupyter_client resolves to the interpreter running
the report (``sys.executable``) when ipykernel is installed in it.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from wsss_lib.report.execute import KernelGroup, NotebookResult, execute_job, now, stored_result
from wsss_lib.report.html import write_index_html
from wsss_lib.report.plan import NotebookJob, discover_notebooks, library_version, plan_jobs
from wsss_lib.report.profiles import profile_label
from wsss_lib.resources import default_notebooks_dir
from wsss_lib.utils import atomic_write_json, device_description

__all__ = ["DEFAULT_TIMEOUTS", "ReportSummary", "progress_line", "run_report"]

#: Per-cell execution timeout (seconds) by profile; other profiles get the ``"full"`` value. It
#: guards against a hung kernel, not slow work: one training cell of the full profile (notebook
#: 02: 15 runs) took longer than 30 minutes on a busy 2-core CPU.
DEFAULT_TIMEOUTS = {"quick": 600, "full": 7200}
# The kernel inherits our environment; a test runner's MPLBACKEND=Agg would drop every inline
# figure from the executed notebooks, so kernels always get the inline backend.
KERNEL_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
#: Seconds interrupted kernels get to save their notebooks before they are killed.
INTERRUPT_GRACE_S = 10


@dataclass
class ReportSummary:
    """What :func:`run_report` did; ``summary.json`` holds :meth:`to_dict`."""

    profile: str
    output_dir: Path
    results: list[NotebookResult]
    total_wall_time_s: float
    created: str
    index_html: Path
    summary_json: Path
    jobs: int = 1
    machine: str = ""
    #: ``OMP_NUM_THREADS`` of the kernels; ``None``: torch's default, one thread per core
    kernel_threads: int | None = None

    @property
    def failed(self) -> list[NotebookResult]:
        """The notebooks that failed."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        """Process exit status: 0 when every notebook succeeded (or was up to date), else 1."""
        return 1 if self.failed else 0

    def counts(self) -> dict[str, int]:
        """Number of notebooks per status."""
        return {s: sum(r.status == s for r in self.results) for s in ("ok", "failed", "skipped")}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form written to ``summary.json`` and used to build ``index.html``."""
        return {
            "profile": self.profile,
            "created": self.created,
            "status": "failed" if self.failed else "ok",
            "counts": self.counts(),
            "total_wall_time_s": round(self.total_wall_time_s, 3),
            "jobs": self.jobs,
            "kernel_threads": self.kernel_threads,
            "machine": self.machine,
            "wsss_lib_version": library_version(),
            "python": sys.executable,
            "notebooks": [asdict(r) for r in self.results],
        }


def _check_kernel(kernel_name: str) -> None:
    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(kernel_name)
    except NoSuchKernel as err:
        available = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise ValueError(
            f"No Jupyter kernel named {kernel_name!r} (available: {available}); install ipykernel "
            "in this environment or pass --kernel NAME."
        ) from err


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(
            f"Output folder {folder} is not writable ({err.strerror or err}); choose a folder "
            "you can write to with --out."
        ) from err


def kernel_thread_env(jobs: int) -> dict[str, str]:
    """CPU threads of each kernel when ``jobs`` notebooks run at once: the cores split evenly.

    Without it every kernel's torch starts one thread per core, and ``jobs`` kernels on the same
    cores oversubscribe them: on this project's 2-core CPU two training kernels with 2 threads
    each ran 4-7x slower than one. With more jobs than cores each kernel gets one thread: the
    operating system shares the cores between them, and a kernel that waits (on another
    notebook's model, behind its file lock) leaves its core to the others. A value the user set
    (``OMP_NUM_THREADS``) is kept.
    """
    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        return {}
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return {"OMP_NUM_THREADS": str(max(1, cores // jobs))}


@contextmanager
def _environment(updates: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the kernels) and restore them afterwards."""
    saved = {key: os.environ.get(key) for key in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def progress_line(result: NotebookResult) -> str:
    """One line per finished notebook, e.g. ``[ok]       01_co_occurrence_bias     42.1 s``."""
    line = f"{'[' + result.status + ']':<10} {result.name:<32} {result.wall_time_s:7.1f} s"
    if result.status == "skipped":
        line += "  (unchanged; time of its last run)"
    if result.error:
        line += f"  {result.error.splitlines()[0][:160]}"
    return line


def run_report(
    notebooks_dir: str | Path | None = None,
    profile: str | Path = "quick",
    out_dir: str | Path | None = None,
    *,
    only: Sequence[str] | str | None = None,
    overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
    jobs: int = 1,
    force: bool = False,
    timeout: float | None = None,
    cache_dir: str | Path | None = None,
    kernel_name: str = "python3",
    echo: Callable[[str], None] | None = print,
    retrain: bool = False,
) -> ReportSummary:
    """Run the notebooks with a profile and write the report (``index.html``, ``summary.json``).

    Args:
        notebooks_dir: folder with ``NN_*.ipynb`` notebooks; None: ``./notebooks`` when it holds
            notebooks, else the notebooks installed with wsss-lab
            (:func:`wsss_lib.resources.default_notebooks_dir`).
        profile: profile name (``"quick"``, ``"full"``) or path to a profile ``.json``.
        out_dir: report folder; default ``reports/<profile>``.
        only: notebooks to run (``"01,03"``, a list of selectors, or None for all); the index
            and summary then describe just these (other folders in ``out_dir`` stay untouched).
        overrides: parameter overrides ``{"NAME": value}`` / ``{"03:NAME": value}`` (or pairs).
        jobs: notebooks run at the same time (each in its own kernel).
        force: re-run notebooks even when unchanged since their last successful run.
        timeout: per-cell execution timeout in seconds (rounded up to whole seconds); default by
            profile (:data:`DEFAULT_TIMEOUTS`).
        cache_dir: sets ``WSSS_CACHE`` for the kernels (model/dataset cache); default: inherited.
        kernel_name: Jupyter kernelspec to execute with.
        echo: receives one progress line per finished notebook and the final lines; None: quiet.
        retrain: train every network in the kernels instead of loading the checkpoints shipped
            with the kit (sets ``WSSS_RETRAIN=1``, :mod:`wsss_lib.train.shipped`); implies
            ``force``.

    Returns:
        The :class:`ReportSummary`; ``summary.exit_code`` is non-zero when a notebook failed.

    Raises:
        ValueError / FileNotFoundError: bad input (reported before any notebook runs).
        RuntimeError: another report is writing into the same folder right now.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}.")
    label = profile_label(profile)
    if timeout is None:
        timeout = DEFAULT_TIMEOUTS.get(label, DEFAULT_TIMEOUTS["full"])
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    timeout = math.ceil(timeout)  # nbclient takes whole seconds
    report_dir = Path(out_dir if out_dir is not None else Path("reports") / label).resolve()
    say = echo or (lambda _line: None)

    if notebooks_dir is None:
        notebooks_dir = default_notebooks_dir()
    notebooks = discover_notebooks(notebooks_dir, only)
    pairs = list(overrides.items() if isinstance(overrides, Mapping) else overrides)
    planned = plan_jobs(notebooks, profile, report_dir, pairs)
    _check_kernel(kernel_name)
    _ensure_writable(report_dir)

    env = dict(KERNEL_ENV)
    if cache_dir is not None:
        env["WSSS_CACHE"] = str(Path(cache_dir).expanduser().resolve())
    if retrain:
        env["WSSS_RETRAIN"] = "1"
        force = True
    env.update(kernel_thread_env(jobs))
    threads = env.get("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS"))
    start = time.perf_counter()
    lock = FileLock(str(report_dir / ".wsss-report.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as err:
        raise RuntimeError(
            f"Another report is writing into {report_dir} right now; wait for it or use --out."
        ) from err
    try:
        with _environment(env):
            results = _run_jobs(planned, report_dir, force, jobs, timeout, kernel_name, say)
        summary = ReportSummary(
            profile=label,
            output_dir=report_dir,
            results=results,
            total_wall_time_s=time.perf_counter() - start,
            created=now(),
            index_html=report_dir / "index.html",
            summary_json=report_dir / "summary.json",
            jobs=jobs,
            machine=device_description(),
            kernel_threads=int(threads) if threads and threads.isdigit() else None,
        )
        data = summary.to_dict()
        atomic_write_json(summary.summary_json, data)
        write_index_html(data, report_dir)
    finally:
        lock.release()
    counts = summary.counts()
    say(
        f"{len(results)} notebooks: {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} skipped (unchanged) in {summary.total_wall_time_s:.1f} s"
    )
    say(f"Report: {summary.index_html}")
    return summary


def _run_jobs(
    planned: Sequence[NotebookJob],
    report_dir: Path,
    force: bool,
    jobs: int,
    timeout: int,
    kernel_name: str,
    say: Callable[[str], None],
) -> list[NotebookResult]:
    """Run (or skip) every job, announcing each as it finishes; results in notebook order."""
    results: dict[str, NotebookResult] = {}
    to_run = []
    for job in planned:
        cached = None if force else stored_result(job, report_dir)
        if cached is None:
            to_run.append(job)
        else:
            results[job.name] = cached
            say(progress_line(cached))
    kernels = KernelGroup()
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(to_run)))) as pool:
        futures = [
            pool.submit(
                execute_job,
                job,
                report_dir,
                timeout=timeout,
                kernel_name=kernel_name,
                kernels=kernels,
            )
            for job in to_run
        ]
        try:
            for future in as_completed(futures):
                result = future.result()
                results[result.name] = result
                say(progress_line(result))
        except BaseException:  # Ctrl-C: stop the kernels, or the pool would wait for them
            kernels.stop(futures, INTERRUPT_GRACE_S)
            raise
    return [results[job.name] for job in planned]
