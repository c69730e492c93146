"""Screenshot the CAM explorer in JupyterLab with the models of a cache (for the README).

Usage (from the repository root)::

    python tests/browser/screenshot_explorer.py --cache /path/to/wsss-cache \\
        --out docs/img/explorer.png --split test --threshold 0.3

The cache must hold trained runs (e.g. after ``make report`` or the notebooks); the screenshot
shows the explorer as ``CamExplorer.from_cache`` opens it. Datasets are generated into the cache's
``datasets/`` folder when missing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from browser.jupyterlab import (  # noqa: E402 - needs the path above
    attached_widget,
    chromium_page,
    open_notebook_and_run_all,
    running_lab,
    wait_until,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="model cache with trained runs")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--split", default="test")
    parser.add_argument("--index", type=int, default=None, help="image index (default: auto)")
    parser.add_argument("--n-images", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=0.3)
    args = parser.parse_args(argv)

    source = (f"from wsss_lib.widgets import CamExplorer\n"
              f"explorer = CamExplorer.from_cache(split={args.split!r}, index={args.index!r}, "
              f"n_images={args.n_images}, threshold={args.threshold!r})\nexplorer")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nb.cells = [nbformat.v4.new_code_cell(source)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lab"
        root.mkdir()
        nbformat.write(nb, root / "explorer.ipynb")
        env = {"WSSS_CACHE": str(Path(args.cache).resolve())}
        with chromium_page() as page, running_lab(root, Path(tmp) / "scratch", env) as lab:
            lab.delete_sessions()
            open_notebook_and_run_all(page, lab, "explorer.ipynb", timeout_s=120)
            explorer = attached_widget(page, ".wsss-explorer", timeout_s=180)
            metrics = attached_widget(page, ".wsss-metrics-a", timeout_s=60)
            wait_until(lambda: "smoke IoU" in metrics.inner_text(), 120, "model A's metrics")
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            explorer.screenshot(path=args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
