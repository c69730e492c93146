"""Throughput of the synthetic scene generator (and of the batch iterator) on one CPU core.

Usage::

    python benchmarks/bench_data.py            # 300 images at 96 px, 75 at 224 px
    python benchmarks/bench_data.py --n 1000

Also times :func:`wsss_lib.data.load_folder` on the same scenes saved as a PNG folder with
masks (the real-data path). Prints images/s and writes ``benchmarks/results/data.json``. The
process is pinned to one core and BLAS / torch use one thread, so the number is per core; wall
and CPU time are both reported because on a shared machine the wall-clock rate also reflects
other processes (the target is >= 300 images/s at 96 px).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "data.json"


def _pin_to_one_core() -> str:
    """Restrict this process to one CPU core (Linux); return a description."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity on this platform)"


def _time(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="images at 96 px (224 px uses n/4)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args(argv)
    if args.n < 4:
        parser.error(f"--n must be at least 4, got {args.n}")

    pinning = _pin_to_one_core()
    import torch

    from wsss_lib.data import (
        GENERATOR_VERSION,
        SceneConfig,
        generate_scenes,
        iterate_batches,
        load_folder,
        save_folder,
    )
    from wsss_lib.utils import atomic_write_json

    torch.set_num_threads(1)
    results: dict = {
        "generator_version": GENERATOR_VERSION,
        "cpu": pinning,
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "generator": {},
    }
    for size, n in ((96, args.n), (224, max(args.n // 4, 4))):
        generate_scenes(SceneConfig(image_size=size, n_images=4, seed=1))  # warm caches
        config = SceneConfig(image_size=size, n_images=n, seed=0)
        wall, cpu = _time(lambda config=config: generate_scenes(config))
        row = {
            "n_images": n,
            "images_per_s_wall": n / wall,
            "images_per_s_cpu": n / cpu if cpu > 0 else None,
        }
        results["generator"][f"{size}px"] = row
        print(
            f"generator {size:>3} px: {row['images_per_s_wall']:7.1f} images/s wall, "
            f"{row['images_per_s_cpu']:7.1f} images/s CPU ({n} images)"
        )

    scenes = generate_scenes(SceneConfig(image_size=96, n_images=min(args.n, 256), seed=2))

    def one_epoch() -> None:
        for _ in iterate_batches(scenes, 64, shuffle=True, seed=0, augment=True):
            pass

    wall, _ = _time(one_epoch)
    results["iterate_batches_96px_augment_images_per_s"] = len(scenes) / wall
    print(f"iterate_batches 96 px, augment: {len(scenes) / wall:7.1f} images/s")

    # Real-data path: PNG images + masks + labels.csv, decoded and checked by load_folder.
    with tempfile.TemporaryDirectory(prefix="wsss-bench-folder-") as folder:
        save_folder(scenes, folder)
        load_folder(folder)  # warm the page cache: time decoding, not the first disk read
        wall, cpu = _time(lambda: load_folder(folder))
    row = {"n_images": len(scenes), "images_per_s_wall": len(scenes) / wall,
           "images_per_s_cpu": len(scenes) / cpu if cpu > 0 else None}
    results["load_folder_96px_with_masks"] = row
    print(f"load_folder 96 px, with masks: {row['images_per_s_wall']:7.1f} images/s wall, "
          f"{row['images_per_s_cpu']:7.1f} images/s CPU ({len(scenes)} images)")
    atomic_write_json(args.out, results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
