"""Does the network learn smoke? Accuracy and CAM smoke IoU against training images seen.

Usage::

    python benchmarks/bench_learnability.py                 # both recipes, CNN and ViT, seed 0
    python benchmarks/bench_learnability.py --recipes kit --models cnn --seeds 0 1 2

Trains single networks **without the chimney shortcut** (P(chimney | smoke) = P(chimney | clean)
= 0.5) and, after every epoch, measures on ``val`` (what a user may tune on) and on
``test_decoupled`` (reported, never tuned on): image accuracy and the smoke IoU of the CAM's
pseudo-masks (threshold 0.3), next to the "whole image is smoke" baseline. Two recipes, side by
side:

- ``v1``: the kit's first full profile — ResNet-18 + PCM at output stride 16 / ViT-Tiny/8, 48 px,
  512 images, constant learning rate (1e-3 CNN, 3e-4 ViT), flips + colour jitter, random
  initialisation, the ``hard`` scenes;
- ``kit``: the current full profile (``wsss_lib/profiles/full.json``, notebook 02's training
  section) — ``resnet_mini`` at output stride 8 (PCM as the profile's ``cnn_pcm`` says) /
  ``vit_mini``/8 (8x8 CAMs at 64 px), warm-up + cosine schedule with the per-network learning
  rates, flips only, the proxy pre-training of :mod:`wsss_lib.train.pretrain`, the ``standard``
  scenes.

Writes ``benchmarks/results/learnability.json`` (one curve per recipe x model x seed).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import environment, write_results

from wsss_lib.data import load_split
from wsss_lib.metrics import per_image_smoke_iou
from wsss_lib.studies.configs import method_settings, model_spec
from wsss_lib.train import DataSpec, ModelSpec, TrainConfig, evaluate_model, train_classifier
from wsss_lib.train.run import load_run

UNBIASED = {"p_chimney_given_smoke": 0.5, "p_chimney_given_clean": 0.5}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["v1", "kit"], choices=["v1", "kit"])
    parser.add_argument("--models", nargs="+", default=["cnn", "vit"], choices=["cnn", "vit"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-eval", type=int, default=256, help="val / test_decoupled images")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    return parser.parse_args(argv)


def recipe_config(recipe: str, family: str, seed: int) -> TrainConfig:
    """The single-network config of ``recipe`` for ``family`` ("cnn" or "vit"), unbiased data."""
    if recipe == "v1":
        model = (ModelSpec("resnet18", {"pcm": True, "output_stride": 16}) if family == "cnn"
                 else ModelSpec("vit_tiny", {"patch_size": 8}))
        data = DataSpec(image_size=48, n_train=512, n_val=128, seed=seed, preset="hard",
                        overrides=UNBIASED)
        return TrainConfig(paradigm="single", model=model, data=data, epochs=4, batch_size=32,
                           lr=1e-3 if family == "cnn" else 3e-4, seed=seed)
    S = method_settings("full")
    data = DataSpec(image_size=S.image_size, n_train=S.n_train, n_val=S.n_val, seed=seed,
                    preset=S.scene_preset, overrides=UNBIASED)
    return TrainConfig(paradigm="single", model=model_spec(S, family), data=data,
                       epochs=S.epochs, batch_size=S.batch_size, lr=S.lr, schedule=S.schedule,
                       augment=S.augment, weight_decay=S.weight_decay, seed=seed)


def _measure(run_dir: Path, sets: dict[str, Any]) -> dict[str, float]:
    run = load_run(run_dir)
    out = {}
    for name, scenes in sets.items():
        metrics = evaluate_model(run, scenes).metrics
        out[f"{name}_accuracy"] = float(metrics["accuracy"])
        out[f"{name}_smoke_iou"] = float(metrics["smoke_iou"])
    return out


def learning_curve(config: TrainConfig, n_eval: int) -> dict[str, Any]:
    """Train ``config`` from scratch and measure after every epoch."""
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
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        def after_epoch(epoch: int, record: dict[str, Any]) -> None:
            points.append({"epoch": epoch, "images_seen": epoch * (spec.n_train or 0),
                           "seconds": time.perf_counter() - began,
                           **_measure(Path(tmp), sets)})
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
                curve = learning_curve(recipe_config(recipe, family, seed), args.n_eval)
                results.append({"recipe": recipe, "model": family, "seed": seed, **curve})
    data = {"environment": environment(__import__("torch").device("cpu")), "runs": results}
    path = write_results("learnability", data, args.out)
    print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
