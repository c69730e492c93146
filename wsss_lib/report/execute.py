"""Execute one notebook with papermill into its report folder, or reuse its last good run.

A notebook's folder ``<report>/<stem>/`` ends up holding the executed notebook (also when a cell
failed: the error cell shows), its HTML rendering, and what the notebook itself wrote into its
``output_dir`` parameter (``metrics.json``, PNG figures). A state file with the job's digest is
written last and only after success, so an interrupted or failed notebook runs again next time.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jupyter_client import AsyncKernelManager
from papermill.exceptions import PapermillExecutionError

from wsss_lib.report.html import render_notebook_html
from wsss_lib.report.plan import NotebookJob
from wsss_lib.results.document import MetricsDocument
from wsss_lib.utils import atomic_write_json, atomic_write_text

__all__ = [
    "KernelGroup",
    "NotebookResult",
    "cell_timings",
    "execute_job",
    "stored_result",
]

#: Seconds to wait for a kernel to start (several start at once on a loaded machine).
KERNEL_START_TIMEOUT = 180
# Silences the kernel's start-up log lines (e.g. the TCP-without-encryption warning) that would
# interleave with the progress lines; errors still show.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
STATE_FILE = ".wsss-report-state.json"


class KernelGroup:
    """The kernels one report run starts, so that an interrupted run can stop them.

    Kernels start in their own session, so Ctrl-C in the terminal does not reach them, and the
    worker threads waiting on them cannot be interrupted. The group hands nbclient a kernel
    manager class that registers every kernel it starts and refuses to start new ones once the
    group is stopping.
    """

    def __init__(self) -> None:
        self._managers: list[AsyncKernelManager] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        group = self

        class TrackedKernelManager(AsyncKernelManager):
            async def start_kernel(self, **kwargs: Any) -> None:
                if group._stopping.is_set():
                    raise RuntimeError("The report was interrupted before this kernel started.")
                with group._lock:
                    group._managers.append(self)
                await super().start_kernel(**kwargs)

            async def _async_interrupt_kernel(self) -> None:
                # jupyter_client interrupts every kernel before shutting it down, and an idle
                # ipykernel answers with "[IPKernelApp] ERROR | KeyboardInterrupt caught in
                # kernel." on the report's terminal. A report kernel is shut down once its
                # notebook is done: there is nothing to abort (a stuck one is still terminated,
                # then killed, after shutdown_wait_time; Ctrl-C goes through signal()).
                if self.shutting_down:
                    return
                await super()._async_interrupt_kernel()

        self.manager_class = TrackedKernelManager

    def signal(self, signum: int) -> int:
        """Send ``signum`` to every kernel of the group still running; returns how many.

        ``SIGINT`` makes the running cell raise ``KeyboardInterrupt`` (the notebook fails and is
        saved with that cell); ``SIGKILL`` ends a kernel that ignores it.
        """
        with self._lock:
            managers = list(self._managers)
        count = 0
        for manager in managers:
            process = getattr(manager.provisioner, "process", None)
            if process is None or process.poll() is not None:
                continue
            try:
                process.send_signal(signum)
                count += 1
            except OSError:  # it exited in between
                pass
        return count

    def stop(self, futures: Iterable[Future], grace_s: float) -> None:
        """Cancel queued work, interrupt running kernels, kill them after ``grace_s`` seconds.

        Returns once every future is done (the workers save their interrupted notebooks).
        """
        self._stopping.set()
        futures = list(futures)
        for future in futures:
            future.cancel()
        deadline = time.monotonic() + grace_s
        signum = signal.SIGINT
        while not all(future.done() for future in futures):
            if time.monotonic() > deadline:
                signum = signal.SIGKILL
            self.signal(signum)
            wait(futures, timeout=1.0)


@dataclass
class NotebookResult:
    """Outcome of one notebook; paths are relative to the report folder.

    Attributes:
        name: the notebook's stem.
        status: ``"ok"``, ``"failed"`` or ``"skipped"`` (unchanged since its last successful run;
            its outputs and times are from that run).
        wall_time_s: seconds the execution took.
        parameters: the injected papermill parameters.
        error: for a failed notebook, what went wrong (exception and cell).
        executed_notebook: the executed ``.ipynb`` (also kept for a failed run).
        html: its HTML rendering.
        metrics_file: the notebook's ``metrics.json``, when it wrote one.
        metrics: the content of ``metrics.json``.
        figures: the PNG files the notebook saved into its folder.
        cell_timings: per-cell durations from papermill's metadata (see :func:`cell_timings`).
    """

    name: str
    status: str
    wall_time_s: float
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    executed_notebook: str | None = None
    html: str | None = None
    metrics_file: str | None = None
    metrics: dict[str, Any] | None = None
    figures: list[str] = field(default_factory=list)
    cell_timings: dict[str, Any] = field(default_factory=dict)


def now() -> str:
    """Local time as ISO 8601 with offset, to the second."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def cell_timings(nb: nbformat.NotebookNode, top: int = 3) -> dict[str, Any]:
    """Per-cell durations that papermill recorded in ``cell.metadata.papermill.duration``.

    Returns:
        ``{"n_code_cells", "total_s", "durations_s": [per code cell, None if it never ran],
        "slowest": [{"cell": index in the notebook, "duration_s", "source": first line}]}``.
    """
    durations, timed = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        durations.append(None if duration is None else round(float(duration), 3))
        if duration is not None:
            first_line = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            timed.append(
                {"cell": index, "duration_s": round(float(duration), 3), "source": first_line[:80]}
            )
    timed.sort(key=lambda item: item["duration_s"], reverse=True)
    return {
        "n_code_cells": len(durations),
        "total_s": round(sum(d for d in durations if d is not None), 3),
        "durations_s": durations,
        "slowest": timed[:top],
    }


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_metrics(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The notebook's ``metrics.json`` (or None), checked against
    :class:`~wsss_lib.results.MetricsDocument`, and a problem description (or None)."""
    path = folder / "metrics.json"
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        return None, f"metrics.json is not valid JSON: {err}"
    if not isinstance(data, dict):
        return None, "metrics.json must hold a JSON object"
    try:
        MetricsDocument.from_json(data)
    except ValueError as err:
        return data, f"metrics.json does not follow wsss_lib.results.MetricsDocument: {err}"
    # Kept as the notebook wrote it: summary.json records the file, not a normalised copy.
    return data, None


def _collect_outputs(result: NotebookResult, job: NotebookJob, report_dir: Path) -> NotebookResult:
    """Fill the result's file fields, metrics and timings from the notebook's folder."""
    folder = job.output_dir
    executed = folder / f"{job.name}.ipynb"
    if executed.is_file():
        result.executed_notebook = _relative(executed, report_dir)
        result.cell_timings = cell_timings(nbformat.read(executed, as_version=4))
    if (folder / f"{job.name}.html").is_file():
        result.html = _relative(folder / f"{job.name}.html", report_dir)
    result.metrics, problem = _read_metrics(folder)
    if (folder / "metrics.json").is_file():
        result.metrics_file = _relative(folder / "metrics.json", report_dir)
    if problem:
        result.error = "; ".join(filter(None, [result.error, problem]))
    result.figures = [_relative(p, report_dir) for p in sorted(folder.glob("*.png"))]
    return result


def _describe_failure(err: BaseException, timeout: float) -> str:
    if isinstance(err, PapermillExecutionError):
        return f"{err.ename}: {err.evalue} (cell [{err.exec_count}])"
    if isinstance(err, TimeoutError):
        return f"A cell ran longer than the {timeout:g} s limit; raise it with --timeout."
    return f"{type(err).__name__}: {err}"


def execute_job(
    job: NotebookJob,
    report_dir: Path,
    *,
    timeout: int,
    kernel_name: str = "python3",
    start_timeout: int = KERNEL_START_TIMEOUT,
    kernels: KernelGroup | None = None,
) -> NotebookResult:
    """Execute one notebook into its (emptied) folder and render it; never raises on a failure.

    Papermill saves the notebook after every cell into a hidden partial file; the final
    ``<stem>.ipynb`` is written atomically from it, also when a cell failed (the error cell shows).
    The state file with the digest is written last and only on success, so an interrupted run
    re-runs this notebook next time. ``kernels`` tracks the kernel so a caller can stop it.
    """
    folder = job.output_dir
    if folder.exists():
        shutil.rmtree(folder)  # stale figures from an earlier run must not show up in the report
    folder.mkdir(parents=True)
    partial = folder / f".{job.name}.partial.ipynb"
    error = None
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(job.source),
            str(partial),
            parameters=job.parameters,
            kernel_name=kernel_name,
            progress_bar=False,
            start_timeout=start_timeout,
            execution_timeout=timeout,
            resources={"metadata": {"path": str(job.source.parent)}},
            extra_arguments=KERNEL_ARGUMENTS,
            kernel_manager_class=(kernels or KernelGroup()).manager_class,
        )
    except Exception as err:  # noqa: BLE001 - one failing notebook must not stop the others
        error = _describe_failure(err, timeout)
    wall_time = round(time.perf_counter() - start, 3)

    result = NotebookResult(job.name, "failed" if error else "ok", wall_time, job.parameters, error)
    if partial.is_file():
        nb = nbformat.read(partial, as_version=4)
        nb.metadata.setdefault("papermill", {})["output_path"] = str(folder / f"{job.name}.ipynb")
        atomic_write_text(folder / f"{job.name}.ipynb", nbformat.writes(nb))
        partial.unlink()
        try:
            render_notebook_html(nb, folder / f"{job.name}.html")
        except Exception as err:  # noqa: BLE001 - a rendering bug must not hide the run's result
            result.error = "; ".join(filter(None, [result.error, f"HTML rendering failed: {err}"]))
    _collect_outputs(result, job, report_dir)
    if result.status == "ok":
        atomic_write_json(
            folder / STATE_FILE,
            {"digest": job.digest, "wall_time_s": wall_time, "finished": now()},
        )
    return result


def stored_result(job: NotebookJob, report_dir: Path) -> NotebookResult | None:
    """The stored result when the notebook's last successful run had the same digest."""
    state_path = job.output_dir / STATE_FILE
    if not (state_path.is_file() and (job.output_dir / f"{job.name}.ipynb").is_file()):
        return None
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if not isinstance(state, dict) or state.get("digest") != job.digest:
        return None
    result = NotebookResult(
        job.name, "skipped", float(state.get("wall_time_s", 0.0)), job.parameters
    )
    return _collect_outputs(result, job, report_dir)
