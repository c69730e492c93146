"""Shared helpers of the benchmark scripts: timing, peak memory, device description, JSON output.

Timing is *interleaved*: every round runs each case once, in a rotated order, and a case's time
is the median over rounds. On a shared machine the load changes over seconds; interleaving makes
every case see the same load, so ratios measured side by side stay meaningful even when the
absolute times drift.

Peak memory:

- CUDA: ``torch.cuda.max_memory_allocated`` above what was allocated before the call (tensors
  only, exact).
- CPU: the growth of the process's resident-set high-water mark (``VmHWM``, reset through
  ``/proc/self/clear_refs`` on Linux) after returning free heap pages to the OS. This sees torch's
  CPU tensors, which ``tracemalloc`` does not (torch allocates outside Python's allocator).
  ``tracemalloc``'s Python-heap peak is reported beside it for completeness.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "RESULTS_DIR",
    "device_line",
    "environment",
    "measure_peak_memory",
    "median",
    "ratio",
    "summarize_times",
    "synchronize",
    "time_interleaved",
    "write_results",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer stops after the work and not after its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    cases: Mapping[str, Callable[[], Any]],
    device: torch.device,
    repeats: int = 7,
    warmup: int = 1,
) -> dict[str, list[float]]:
    """Wall time of each case over ``repeats`` interleaved rounds.

    Args:
        cases: Name -> function to time (its return value is dropped).
        device: Device the cases run on (CUDA is synchronised around every call).
        repeats: Timed rounds; round ``r`` starts at case ``r mod len(cases)``.
        warmup: Untimed rounds first (lazy initialisation, allocator growth, cuDNN autotuning).

    Returns:
        Name -> the ``repeats`` durations in seconds, in round order.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0; got {repeats}, {warmup}.")
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            synchronize(device)
            start = time.perf_counter()
            cases[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return float(statistics.median(values))


def summarize_times(values: list[float]) -> dict[str, float]:
    """``{"median_s", "min_s", "max_s", "n"}`` of a list of durations."""
    return {
        "median_s": median(values),
        "min_s": float(min(values)),
        "max_s": float(max(values)),
        "n": len(values),
    }


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` (inf when the denominator is zero)."""
    return numerator / denominator if denominator > 0 else float("inf")


def _read_status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_rss_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _trim_heap() -> None:
    """Return freed heap memory to the OS (glibc), so the next peak starts from a low RSS."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


def measure_peak_memory(fn: Callable[[], Any], device: torch.device) -> dict[str, Any]:
    """Run ``fn`` once and report how much memory it needed at its peak.

    Returns:
        ``{"peak_bytes": int | None, "method": str, "python_heap_peak_bytes": int}``;
        ``peak_bytes`` is None where no reliable counter exists (non-Linux CPU).
    """
    gc.collect()
    tracemalloc.start()
    try:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            fn()
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device) - before
            method = "torch.cuda.max_memory_allocated (tensors, above the allocation before)"
        else:
            _trim_heap()
            before_kib = _read_status_kib("VmRSS")
            if before_kib is not None and _reset_rss_peak():
                fn()
                peak = (_read_status_kib("VmHWM") - before_kib) * 1024
                method = "resident-set high-water mark growth (VmHWM, Linux)"
            else:
                fn()
                peak, method = None, "unavailable on this platform (see python_heap_peak_bytes)"
        _, heap_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"peak_bytes": peak, "method": method, "python_heap_peak_bytes": heap_peak}


def device_line(device: torch.device) -> str:
    """One line saying where a benchmark ran (:func:`wsss_lib.utils.device_description`)."""
    from wsss_lib.utils import device_description

    return device_description(device)


def environment(device: torch.device) -> dict[str, Any]:
    """Metadata stored with every result file."""
    return {
        "device": str(device),
        "device_line": device_line(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


def write_results(name: str, data: Mapping[str, Any], out: Path | None = None) -> Path:
    """Write ``data`` atomically as JSON to ``out`` or ``benchmarks/results/<name>.json``."""
    from wsss_lib.utils import atomic_write_json

    path = out if out is not None else RESULTS_DIR / f"{name}.json"
    return atomic_write_json(path, dict(data))
