"""Does the network learn smoke? Accuracy and CAM smoke IoU against training images seen.

Usage::

    python benchmarks/bench_learnability.py                 # every recipe, CNN and ViT, seed 0
    python benchmarks/bench_learnability.py --recipes v2 kit --models vit --seeds 0 1 2

Trains single networks **without the chimney shortcut** (P(chimney | smoke) = P(chimney | clean)
= 0.5) and, after every epoch, measures on ``val`` (what a user may tune on) and on
``test_decoupled`` (reported, never tuned on): image accuracy and the smoke IoU of the CAM's
pseudo-masks, next to the "whole image is smoke" baseline. Each CAM is read two ways: the score
map cut at the paper's 0.3, and the read-out the kit chooses on ``val``
(:func:`wsss_lib.train.choose_readout` among the profile's ``cam_readouts``: map and threshold).
Three recipes, side by side, in one run:

- ``v1``: the kit's first full profile — ResNet-18 + PCM at output stride 16 / ViT-Tiny/8, 48 px,
  512 images, constant learning rate (1e-3 CNN, 3e-4 ViT), flips + colour jitter, random
  initialisation, the ``hard`` scenes;
- ``v2``: the previous full profile — ``resnet_mini`` at output stride 8 / ``vit_mini``/8 with
  timm's patchify stem (8x8 CAMs at 64 px), 3072 images x 6 epochs, warm-up + cosine schedule
  (3e-3 CNN, 1e-3 ViT), flips only, the proxy pre-training, the ``standard`` scenes, fp32;
- ``kit``: the current full profile (``wsss_lib/profiles/full.json``, notebook 02's training
  section): ``v2`` with the ViT's convolutional stem (:mod:`wsss_lib.models.conv_stem`) and bf16
  autocast (also on a CPU).

Writes ``benchmarks/results/learnability.json`` (one curve per recipe x model x seed) and prints
the last epoch of each, with the training time of ``kit`` over ``v2`` measured side by side.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from common import environment, write_results

from wsss_lib.data import load_split
from wsss_lib.metrics import per_image_smoke_iou
from wsss_lib.studies.configs import method_settings, paradigm_config, row_config
from wsss_lib.studies.measure import readout_candidates
from wsss_lib.train import (
    CamReadout,
    DataSpec,
    ModelSpec,
    TrainConfig,
    choose_readout,
    evaluate_readout,
    train_classifier,
)
from wsss_lib.train.run import load_run

UNBIASED = {"p_chimney_given_smoke": 0.5, "p_chimney_given_clean": 0.5}
RECIPES = ("v1", "v2", "kit")
SCORE_MAP = CamReadout("cam", threshold=0.3)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--models", nargs="+", default=["cnn", "vit"], choices=["cnn", "vit"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-eval", type=int, default=256, help="val / test_decoupled images")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    return parser.parse_args(argv)


def recipe_config(recipe: str, family: str, seed: int) -> TrainConfig:
    """The single-network config of ``recipe`` for ``family`` ("cnn" or "vit"), unbiased data."""
    row = f"single_{family}"
    if recipe == "v1":
        model = (ModelSpec("resnet18", {"pcm": True, "output_stride": 16}) if family == "cnn"
                 else ModelSpec("vit_tiny", {"patch_size": 8}))
        data = DataSpec(image_size=48, n_train=512, n_val=128, seed=seed, preset="hard",
                        overrides=UNBIASED)
        training = {"epochs": 4, "batch_size": 32, "lr": 1e-3 if family == "cnn" else 3e-4}
        return row_config(row, {family: model}, data=data, seed=seed, training=training)
    S = method_settings("full")
    data = DataSpec(image_size=S.image_size, n_train=S.n_train, n_val=S.n_val, seed=seed,
                    preset=S.scene_preset, overrides=UNBIASED)
    # the kit's recipe as measured here: before gradient clipping joined it
    config = paradigm_config({**S, "grad_clip": None}, row, seed, data=data)
    if recipe == "v2":  # the same recipe before the conv stem and bf16
        kwargs = {k: v for k, v in config.model.kwargs.items() if k != "stem"}
        config = replace(config, model=replace(config.model, kwargs=kwargs), amp="auto")
    return config


def _measure(run_dir: Path, sets: dict[str, Any], family: str) -> dict[str, Any]:
    run = load_run(run_dir)
    candidates = readout_candidates(method_settings("full").cam_readouts, family)
    chosen = choose_readout(run, sets["val"], candidates).readout if candidates else SCORE_MAP
    out: dict[str, Any] = {"readout": chosen.label}
    for name, scenes in sets.items():
        fixed = evaluate_readout(run, scenes, SCORE_MAP).metrics
        out[f"{name}_accuracy"] = float(fixed["accuracy"])
        out[f"{name}_smoke_iou"] = float(fixed["smoke_iou"])
        out[f"{name}_smoke_iou_chosen"] = float(
            evaluate_readout(run, scenes, chosen).metrics["smoke_iou"])
    return out


def learning_curve(config: TrainConfig, family: str, n_eval: int) -> dict[str, Any]:
    """Train ``config`` (a ``family`` network: "cnn" or "vit") from scratch and measure after
    every epoch."""
    spec = config.data
    sets = {
        split: load_split(split, image_size=spec.image_size, n_images=n_eval, preset=spec.preset,
                          **UNBIASED if split == "val" else {})
        for split in ("val", "test_decoupled")
    }
    whole = {
        name: float(per_image_smoke_iou(np.ones_like(s.smoke_masks), s.smoke_masks, s.labels))
        for name, s in sets.items()
    }
    points: list[dict[str, Any]] = []
    train_seconds = [0.0]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        def after_epoch(epoch: int, record: dict[str, Any]) -> None:
            train_seconds[0] += record["seconds"]  # training + validation, not this measuring
            points.append({"epoch": epoch, "images_seen": epoch * (spec.n_train or 0),
                           "seconds": time.perf_counter() - began,
                           "train_seconds": train_seconds[0],
                           **_measure(Path(tmp), sets, family)})
            print(json.dumps(points[-1]))

        train_classifier(config, tmp, progress=False, callbacks=[after_epoch])
    return {"config": config.to_dict(), "whole_image_smoke_iou": whole, "curve": points}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse_args(argv)
    results = []
    for recipe in args.recipes:
        for family in args.models:
            for seed in args.seeds:
                print(f"== {recipe} {family} seed {seed}")
                curve = learning_curve(recipe_config(recipe, family, seed), family, args.n_eval)
                results.append({"recipe": recipe, "model": family, "seed": seed, **curve})
    data = {"environment": environment(__import__("torch").device("cpu")), "runs": results}
    print("\nrecipe model seed | test_decoupled acc | smoke IoU score map @0.3 / chosen on val "
          "(read-out) | whole image | training s")
    for run in results:
        last = run["curve"][-1]
        print(f"{run['recipe']:>4} {run['model']} {run['seed']} | "
              f"{100 * last['test_decoupled_accuracy']:.1f} % | "
              f"{100 * last['test_decoupled_smoke_iou']:.1f} / "
              f"{100 * last['test_decoupled_smoke_iou_chosen']:.1f} ({last['readout']}) | "
              f"{100 * run['whole_image_smoke_iou']['test_decoupled']:.1f} | "
              f"{last['train_seconds']:.0f}")
    for family in args.models:
        times = {r["recipe"]: r["curve"][-1]["train_seconds"] for r in results
                 if r["model"] == family and r["seed"] == args.seeds[0]}
        if "v2" in times and "kit" in times:
            print(f"{family}: kit / v2 training time, side by side in this run: "
                  f"{times['kit'] / times['v2']:.2f}")
    path = write_results("learnability", data, args.out)
    print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
