"""The CAM explorer in a real browser: JupyterLab + headless Chromium, driven like a user.

The notebook is a small stand-in for ``notebooks/07_cam_explorer.ipynb``: it builds the same
``CamExplorer`` with two untrained but non-trivial networks (``browser/explorer_fixture.py``), so
the test needs no training. It runs all cells, moves the threshold slider with the keyboard and
checks that the metrics text and the pseudo-mask image change in the page.

Skipped (with the reason) only where Chromium or Playwright is missing or cannot start. Set
``WSSS_SCREENSHOT_DIR`` to also save the screenshot there.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from browser.jupyterlab import (
    BrowserUnavailable,
    attached_widget,
    chromium_page,
    find_chromium,
    open_notebook_and_run_all,
    playwright_api,
    running_lab,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(240)]

BROWSER_HELPERS = Path(__file__).resolve().parent / "browser"
NOTEBOOK = "explorer.ipynb"
# Run by the kernel at start-up (torch and the library take most of a kernel's first seconds).
PRELOAD = "import wsss_lib.widgets"


def write_notebook(folder: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nb.cells = [
        nbformat.v4.new_code_cell(f"import sys\nsys.path.insert(0, {str(BROWSER_HELPERS)!r})\n"
                                  "from explorer_fixture import demo_explorer"),
        nbformat.v4.new_code_cell("explorer = demo_explorer()\nexplorer"),
    ]
    nbformat.write(nb, folder / NOTEBOOK)


def test_threshold_slider_updates_metrics_and_mask_in_jupyterlab(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    root.mkdir()
    write_notebook(root)
    try:  # skip early, before starting a server, when no browser can exist
        find_chromium()
        playwright_api()
    except BrowserUnavailable as err:
        pytest.skip(f"no usable browser: {err}")
    started = time.monotonic()
    try:
        with running_lab(root, tmp_path / "scratch", preload=PRELOAD) as lab:
            lab.delete_sessions()
            lab.start_kernel_for(NOTEBOOK)  # imports overlap with the page loading
            print(f"JupyterLab started in {time.monotonic() - started:.1f} s")
            with chromium_page() as page:
                print(f"browser started at {time.monotonic() - started:.1f} s")
                try:
                    _drive_explorer(page, lab, tmp_path / "explorer.png")
                except Exception as err:
                    raise AssertionError(
                        f"{err}\n--- JupyterLab log ---\n{lab.log_tail()}") from err
    except BrowserUnavailable as err:
        pytest.skip(f"no usable browser: {err}")
    print(f"browser and JupyterLab stopped at {time.monotonic() - started:.1f} s")
    target = os.environ.get("WSSS_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "explorer.png", Path(target) / "explorer.png")


def _smoke_share(metrics_text: str) -> float:
    match = re.search(r"([\d.]+)% of pixels called smoke", metrics_text)
    assert match, f"no smoke share in the metrics text {metrics_text!r}"
    return float(match.group(1))


def _drive_explorer(page, lab, screenshot: Path) -> None:
    began = time.monotonic()

    def phase(name: str) -> None:  # printed: pytest shows it when the test fails
        print(f"[{time.monotonic() - began:6.1f} s] {name}")

    open_notebook_and_run_all(page, lab, NOTEBOOK, timeout_s=90)
    phase("kernel up, Run All clicked")
    attached_widget(page, ".wsss-explorer", timeout_s=120)
    phase("explorer widget attached")
    metrics = attached_widget(page, ".wsss-metrics-a", timeout_s=30)
    wait_until(lambda: "smoke IoU" in metrics.inner_text(), 60, "model A's metrics text")
    mask = attached_widget(page, "img.wsss-panel-a-mask", timeout_s=30)
    text_before, pixels_before = metrics.inner_text(), mask.screenshot()
    readout = page.locator(".wsss-threshold .widget-readout").first
    assert readout.inner_text().strip() == "0.30"

    phase("metrics shown")
    handle = attached_widget(page, ".wsss-threshold .noUi-handle", timeout_s=30)
    handle.focus()
    for _ in range(4):  # 4 steps of 0.05, as a user pressing the right arrow key
        page.keyboard.press("ArrowRight")
    wait_until(lambda: readout.inner_text().strip() == "0.50", 20, "the slider readout 0.50")
    wait_until(lambda: metrics.inner_text() != text_before, 30,
               "the metrics text to change after the threshold moved")
    wait_until(lambda: mask.screenshot() != pixels_before, 30,
               "the pseudo-mask image to change after the threshold moved")
    phase("metrics and mask redrawn after the slider moved")
    text_after = metrics.inner_text()
    assert "smoke IoU" in text_after
    # A higher threshold keeps a subset of the pixels: the share called smoke cannot grow.
    assert _smoke_share(text_after) <= _smoke_share(text_before)
    assert page.locator(".wsss-metrics-b").first.inner_text().startswith("smoke IoU")
    page.locator(".wsss-explorer").first.screenshot(path=str(screenshot))
