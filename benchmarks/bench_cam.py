"""What a CAM costs: our forward-only and Grad-CAM paths against pytorch-grad-cam, side by side.

Usage::

    python benchmarks/bench_cam.py                 # CPU: batch 8, 96 px, 1 torch thread
    python benchmarks/bench_cam.py --batch 32 --image-size 224 --repeats 15   # e.g. on a GPU

For one CNN (``resnet18``) and one ViT (``vit_tiny``, patch 8), both randomly initialised (the
weights' values do not change the work done), on one batch of synthetic scenes, every round of
the interleaved timing runs (see ``benchmarks/common.py``):

(a) ``forward``: a plain forward pass (``torch.no_grad``).
(b) ours:
    ``cam``: ``compute_cam(method="cam")``, the score-map CAM of the one-pass forward
    (upsampled, min-max normalised): the forward-only path.
    ``torch_gradcam``: ``compute_cam(method="gradcam", layers=L)``: torch Grad-CAM at every layer
    of ``L`` from one forward + one backward, fused (mean of min-max maps).
(c) pytorch-grad-cam's ``GradCAM`` over the same layers ``L``:
    ``adapter_gradcam``: through :class:`wsss_lib.cam.GradCamAdapter` (parameters frozen);
    ``pgc_gradcam``: the library used directly, as its README shows (parameter gradients too).

``L`` is ``layer3, layer4`` for the CNN and the paper's four ViT taps (``norm1`` of blocks -5,
-4, -2, -1). Goals: ``cam / forward <= 1.3`` and ``pytorch-grad-cam / cam >= 3``; the script
prints whether they are met, and the cost of Grad-CAM against our torch Grad-CAM as well.

On CUDA the same script runs on the GPU (``--device`` to choose) and adds mixed-precision
(autocast bf16/fp16) timings of the forward and CAM paths; the goal ratios always compare fp32
with fp32, because pytorch-grad-cam converts activations to numpy, which has no bf16.
Writes ``benchmarks/results/cam.json``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    environment,
    measure_peak_memory,
    ratio,
    summarize_times,
    time_interleaved,
    write_results,
)

GOAL_CAM_OVER_FORWARD = 1.3
GOAL_GRADCAM_OVER_CAM = 3.0
CNN_LAYERS = ("layer3", "layer4")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if any)")
    parser.add_argument("--batch", type=int, default=None, help="images per call (8 CPU, 32 GPU)")
    parser.add_argument("--image-size", type=int, default=None, help="pixels (96 CPU, 224 GPU)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (CPU runs)")
    parser.add_argument("--cnn", default="resnet18", help="CNN name (build_classifier)")
    parser.add_argument("--vit", default="vit_tiny", help="ViT name (build_classifier)")
    parser.add_argument("--vit-patch", type=int, default=8, help="ViT patch size")
    parser.add_argument(
        "--amp", choices=("auto", "off", "bf16", "fp16"), default="auto",
        help="extra mixed-precision timings on CUDA (auto: bf16 if supported)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: results/)")
    args = parser.parse_args(argv)
    for name in ("batch", "image_size", "repeats", "threads", "vit_patch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    return args


def _amp_dtype(mode: str, device: Any) -> Any:
    import torch

    if device.type != "cuda" or mode == "off":
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def _pgc_direct(model: Any, layers: list[str], image_size: tuple[int, int]) -> Any:
    """pytorch-grad-cam's GradCAM set up the way its README does it (no adapter)."""
    import pytorch_grad_cam as pgc
    from torch import nn

    class Logits(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).logits

    modules = [model.resolve_module(name)[1] for name in layers]
    reshape = (lambda t: model.to_grid(t, image_size)) if model.family == "vit" else None
    return pgc.GradCAM(model=Logits(model), target_layers=modules, reshape_transform=reshape)


def _cases(model: Any, x: Any, layers: list[str], amp: Any) -> dict[str, Callable]:
    """The timed functions of one model.

    The pytorch-grad-cam objects are created inside their case, as in the library's README
    (``with GradCAM(...) as cam``): its hooks stay on the layers while the object lives and would
    otherwise tap the other cases' forward passes too.
    """
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from wsss_lib.cam import GradCamAdapter, compute_cam

    targets = [ClassifierOutputTarget(0) for _ in range(x.shape[0])]

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def adapter_gradcam() -> None:
        with GradCamAdapter(model, method="gradcam", layers=layers) as adapter:
            adapter(x)

    def pgc_gradcam() -> None:
        with _pgc_direct(model, layers, (x.shape[-2], x.shape[-1])) as cam:
            cam(input_tensor=x, targets=targets)

    cases: dict[str, Callable] = {
        "forward": forward,
        "cam": lambda: compute_cam(model, x, method="cam"),
        "torch_gradcam": lambda: compute_cam(model, x, method="gradcam", layers=layers),
        "adapter_gradcam": adapter_gradcam,
        "pgc_gradcam": pgc_gradcam,
    }
    if amp is not None:
        def autocast() -> contextlib.AbstractContextManager:
            return torch.autocast(x.device.type, dtype=amp)

        def forward_amp() -> None:
            with torch.no_grad(), autocast():
                model(x)

        def cam_amp() -> None:
            with autocast():
                compute_cam(model, x, method="cam")

        cases["forward_amp"] = forward_amp
        cases["cam_amp"] = cam_amp
    return cases


def _bench_model(model: Any, x: Any, layers: list[str], args: argparse.Namespace, amp: Any,
                 device: Any) -> dict[str, Any]:
    model.to(device).eval()
    cases = _cases(model, x, layers, amp)
    times = time_interleaved(cases, device, repeats=args.repeats, warmup=args.warmup)
    memory = {name: measure_peak_memory(fn, device) for name, fn in cases.items()}
    model.zero_grad(set_to_none=True)  # pytorch-grad-cam used directly leaves parameter grads
    batch = x.shape[0]
    rows = {}
    for name, values in times.items():
        stats = summarize_times(values)
        rows[name] = {
            **stats,
            "images_per_s": batch / stats["median_s"],
            "peak_memory_bytes": memory[name]["peak_bytes"],
        }
    med = {name: row["median_s"] for name, row in rows.items()}
    ratios = {
        "cam/forward": ratio(med["cam"], med["forward"]),
        "torch_gradcam/forward": ratio(med["torch_gradcam"], med["forward"]),
        "adapter_gradcam/cam": ratio(med["adapter_gradcam"], med["cam"]),
        "pgc_gradcam/cam": ratio(med["pgc_gradcam"], med["cam"]),
        "adapter_gradcam/torch_gradcam": ratio(med["adapter_gradcam"], med["torch_gradcam"]),
        "pgc_gradcam/torch_gradcam": ratio(med["pgc_gradcam"], med["torch_gradcam"]),
    }
    if "cam_amp" in med:
        ratios["cam_amp/forward_amp"] = ratio(med["cam_amp"], med["forward_amp"])
        ratios["forward/forward_amp"] = ratio(med["forward"], med["forward_amp"])
    goals = {
        f"cam/forward <= {GOAL_CAM_OVER_FORWARD}": ratios["cam/forward"] <= GOAL_CAM_OVER_FORWARD,
        f"pgc_gradcam/cam >= {GOAL_GRADCAM_OVER_CAM}":
            ratios["pgc_gradcam/cam"] >= GOAL_GRADCAM_OVER_CAM,
        f"adapter_gradcam/cam >= {GOAL_GRADCAM_OVER_CAM}":
            ratios["adapter_gradcam/cam"] >= GOAL_GRADCAM_OVER_CAM,
    }
    return {
        "layers": layers,
        "cases": rows,
        "ratios": ratios,
        "goals_met": goals,
        "memory_method": memory["forward"]["method"],
    }


def _print_model(title: str, result: dict[str, Any]) -> None:
    print(f"\n{title}  layers {', '.join(result['layers'])}")
    print(f"  {'case':<16}{'median ms':>11}{'min ms':>9}{'images/s':>10}{'peak MiB':>10}")
    for name, row in result["cases"].items():
        peak = row["peak_memory_bytes"]
        peak_text = "n/a" if peak is None else f"{peak / 2**20:.1f}"
        print(
            f"  {name:<16}{row['median_s'] * 1e3:>11.1f}{row['min_s'] * 1e3:>9.1f}"
            f"{row['images_per_s']:>10.1f}{peak_text:>10}"
        )
    print("  ratios of medians: " + ", ".join(f"{k} {v:.2f}" for k, v in result["ratios"].items()))
    for goal, met in result["goals_met"].items():
        print(f"  goal {goal}: {'met' if met else 'NOT met'}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse_args(argv)
    import torch

    from wsss_lib.cam import default_gradcam_layers
    from wsss_lib.data import SceneConfig, generate_scenes, to_tensor_batch
    from wsss_lib.models import build_classifier
    from wsss_lib.utils import get_device, seed_everything

    device = get_device(args.device)
    on_gpu = device.type == "cuda"
    if not on_gpu:
        torch.set_num_threads(args.threads)
    batch = args.batch or (32 if on_gpu else 8)
    size = args.image_size or (224 if on_gpu else 96)
    amp = _amp_dtype(args.amp, device)
    seed_everything(0)
    scenes = generate_scenes(SceneConfig(image_size=size, n_images=batch, seed=0))
    x = to_tensor_batch(scenes.images).to(device)

    env = environment(device)
    print(f"device: {env['device_line']}")
    print(f"batch {batch} x {size} px, {args.repeats} interleaved rounds after {args.warmup} "
          f"warm-up, randomly initialised models, AMP extra cases: {amp or 'off'}")
    models = {
        "cnn": build_classifier(args.cnn, img_size=size),
        "vit": build_classifier(args.vit, img_size=size, patch_size=args.vit_patch),
    }
    results: dict[str, Any] = {
        "environment": env,
        "settings": {
            "batch": batch, "image_size": size, "repeats": args.repeats, "warmup": args.warmup,
            "threads": torch.get_num_threads(), "amp": str(amp) if amp else "off",
            "weights": "random initialisation (pretrained=False)",
        },
        "goals": {"cam/forward": f"<= {GOAL_CAM_OVER_FORWARD}",
                  "gradcam (pytorch-grad-cam)/cam": f">= {GOAL_GRADCAM_OVER_CAM}"},
        "models": {},
    }
    for family, model in models.items():
        layers = list(CNN_LAYERS) if family == "cnn" else default_gradcam_layers(model)
        result = _bench_model(model, x, layers, args, amp, device)
        result["model"] = model.name
        results["models"][family] = result
        _print_model(f"{family.upper()} {model.name}", result)
    path = write_results("cam", results, args.out)
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    main()
