"""Screenshot the CAM explorer in JupyterLab with the models of a cache (for the README).

Usage (from the repository root)::

    python tests/browser/screenshot_explorer.py --cache /path/to/wsss-cache \\
        --out docs/img/explorer.png --split test --threshold 0.3 --profile full

The cache must hold trained runs (e.g. after ``make report`` or the notebooks); the screenshot
shows the explorer as ``CamExplorer.from_cache`` opens it. With ``--profile NAME`` it opens on
that profile's pair of notebook 07 instead: the single ViT (model A) and its teacher-student twin
(model B) at the profile's image size and training seed (both must be cached); ``--model-a`` /
``--model-b`` name run keys directly. Datasets are generated into the cache's ``datasets/`` folder
when missing.
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


def profile_pair(profile: str, cache: str) -> dict[str, object]:
    """``model_a``, ``model_b`` and ``image_size`` of notebook 07's pair under ``profile``.

    Raises:
        SystemExit: a run of the pair is not (finished) in the cache.
    """
    from wsss_lib.studies.configs import method_settings
    from wsss_lib.studies.paradigms import paradigm_configs
    from wsss_lib.train import run_dir_for
    from wsss_lib.widgets import list_cached_models

    settings = method_settings(profile, "07_cam_explorer")
    configs = paradigm_configs(settings, settings.train_seed)
    finished = {m.key: m for m in list_cached_models(cache)}
    pair = {}
    for slot, row in (("model_a", "single_vit"), ("model_b", "ts_cnn_to_vit")):
        key = run_dir_for(configs[row], cache).name
        if key not in finished:
            raise SystemExit(f"{row} of profile {profile!r} ({key}) is not a finished run in "
                             f"{cache}; train it first (wsss report --profile {profile}).")
        print(f"{slot}: {finished[key].label}")
        pair[slot] = key
    return {**pair, "image_size": int(settings.image_size)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="model cache with trained runs")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--split", default="test")
    parser.add_argument("--index", type=int, default=None, help="image index (default: auto)")
    parser.add_argument("--n-images", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--profile", default=None,
                        help="open on this profile's single ViT and its teacher-student twin")
    parser.add_argument("--model-a", default=None, help="run key of model A")
    parser.add_argument("--model-b", default=None, help="run key of model B")
    args = parser.parse_args(argv)

    options = {"split": args.split, "index": args.index, "n_images": args.n_images,
               "threshold": args.threshold}
    if args.profile is not None:
        options.update(profile_pair(args.profile, args.cache))
    options.update({slot: key for slot, key in (("model_a", args.model_a),
                                                ("model_b", args.model_b)) if key})
    arguments = ", ".join(f"{name}={value!r}" for name, value in options.items())
    print("CamExplorer.from_cache(" + arguments + ")")
    source = (f"from wsss_lib.widgets import CamExplorer\n"
              f"explorer = CamExplorer.from_cache({arguments})\nexplorer")
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
