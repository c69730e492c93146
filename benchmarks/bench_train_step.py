"""What knowledge transfer costs per training step: teacher-student and co-training, side by side.

Usage::

    python benchmarks/bench_train_step.py                          # CPU: batch 16, 64 px
    python benchmarks/bench_train_step.py --device cuda --image-size 224 --batch-size 32

One full optimisation step (forward, loss, backward, AdamW update) of the library's own
paradigms (:mod:`wsss_lib.train.paradigms`), the paper's networks at small size (ResNet-18 + PCM
teacher with output stride 16, ViT-Tiny student with 8-px patches, both randomly initialised:
the weights' values do not change the work), on one batch of synthetic scenes. Every round of the
interleaved timing (``benchmarks/common.py``) runs each case once:

- ``student_only``: the ViT alone (``SingleNetwork``), BCE;
- ``cnn_only``: the CNN alone, BCE;
- ``teacher_student``: frozen CNN teacher (no-grad forward) + ViT student, BCE + λ·L_kt;
- ``co_training``: both trained, BCE + BCE + λ·L_kt.

Ratios (medians): ``teacher_student / student_only`` (goal <= 1.5: the frozen teacher's forward
pass and the KT loss should cost at most half a student step) and ``co_training /
(student_only + cnn_only)`` (co-training is two single steps plus the KT loss, so ~1 is
expected). On CUDA the steps use the training loop's mixed precision (bf16 where supported, else
fp16 with a grad scaler), unless ``--amp off``. Writes ``benchmarks/results/train_step.json``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import environment, ratio, summarize_times, time_interleaved, write_results

GOAL_TS_OVER_STUDENT = 1.5


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if any)")
    parser.add_argument("--image-size", type=int, default=None, help="pixels (64 CPU, 224 GPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="images (16 CPU, 32 GPU)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--amp", default="auto", choices=("auto", "off", "bf16", "fp16"),
                        help="mixed precision on CUDA, as TrainConfig.amp (always off on CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    args = parser.parse_args(argv)
    for name in ("image_size", "batch_size", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    return args


def _make_step(paradigm: Any, batch: dict[str, Any], amp_dtype: Any) -> Callable[[], None]:
    """One optimiser step of ``paradigm`` on ``batch``, as the training loop does it."""
    import torch

    device = batch["image"].device
    optimizer = torch.optim.AdamW(paradigm.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    autocast = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype
                else contextlib.nullcontext())
    paradigm.train()

    def step() -> None:
        with autocast:
            out = paradigm.step(batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out.loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse_args(argv)
    import torch

    from wsss_lib.data import make_split, to_tensor_batch
    from wsss_lib.train import KTSpec, ModelSpec, build_model
    from wsss_lib.train.loop import resolve_amp_dtype
    from wsss_lib.train.paradigms import CoTraining, SingleNetwork, TeacherStudent
    from wsss_lib.utils import get_device, seed_everything

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    on_gpu = device.type == "cuda"
    size = args.image_size or (224 if on_gpu else 64)
    batch_size = args.batch_size or (32 if on_gpu else 16)
    amp_dtype = resolve_amp_dtype(args.amp, device)

    seed_everything(0)
    scenes = make_split("train", image_size=size, n_images=max(batch_size, 2))
    batch = {
        "image": to_tensor_batch(scenes.images[:batch_size]).to(device),
        "label": torch.as_tensor(scenes.labels[:batch_size], dtype=torch.float32).to(device),
    }
    cnn_spec = ModelSpec("resnet18", {"pcm": True, "output_stride": 16})
    vit_spec = ModelSpec("vit_tiny", {"patch_size": 8})

    def cnn() -> Any:
        return build_model(cnn_spec, size).to(device)

    def vit() -> Any:
        return build_model(vit_spec, size).to(device)

    kt = KTSpec()  # the paper's: λ = 1, global cosine on the teacher's score map, projection
    paradigms = {
        "student_only": SingleNetwork(vit()),
        "cnn_only": SingleNetwork(cnn()),
        "teacher_student": TeacherStudent(vit(), cnn(), kt, size, seed=0),
        "co_training": CoTraining(vit(), cnn(), kt, size, seed=0),
    }
    cases = {}
    for name, paradigm in paradigms.items():
        paradigm.to(device)
        cases[name] = _make_step(paradigm, batch, amp_dtype)

    times = time_interleaved(cases, device, repeats=args.repeats, warmup=args.warmup)
    stats = {name: summarize_times(values) for name, values in times.items()}
    med = {name: s["median_s"] for name, s in stats.items()}
    ts_ratio = ratio(med["teacher_student"], med["student_only"])
    co_ratio = ratio(med["co_training"], med["student_only"] + med["cnn_only"])

    env = environment(device)
    precision = str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32"
    print(f"device: {env['device_line']}")
    print(f"batch {batch_size} x {size} px, precision {precision}, {args.repeats} interleaved "
          f"rounds (median)")
    for name, s in stats.items():
        print(f"  {name:<16} {1000 * s['median_s']:8.1f} ms/step   "
              f"{batch_size / s['median_s']:7.1f} images/s")
    verdict = "met" if ts_ratio <= GOAL_TS_OVER_STUDENT else "NOT met"
    print(f"teacher_student / student_only = {ts_ratio:.2f} (goal <= {GOAL_TS_OVER_STUDENT}: "
          f"{verdict})")
    print(f"co_training / (student_only + cnn_only) = {co_ratio:.2f}")

    results = {
        "benchmark": "train_step",
        "environment": env,
        "settings": {"image_size": size, "batch_size": batch_size, "precision": precision,
                     "repeats": args.repeats, "warmup": args.warmup,
                     "teacher": cnn_spec.to_dict(), "student": vit_spec.to_dict(),
                     "kt": kt.to_dict()},
        "steps": {name: {**s, "images_per_s": batch_size / s["median_s"]}
                  for name, s in stats.items()},
        "ratios": {
            "teacher_student_over_student_only": ts_ratio,
            "co_training_over_sum_of_single_steps": co_ratio,
        },
        "goals": {"teacher_student_over_student_only": {"max": GOAL_TS_OVER_STUDENT,
                                                        "met": ts_ratio <= GOAL_TS_OVER_STUDENT}},
    }
    path = write_results("train_step", results, args.out)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
