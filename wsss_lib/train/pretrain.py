"""A stand-in for ImageNet pre-training: segment the scene's *other* layers, never smoke.

The paper's backbones start from ImageNet weights: they already know sky, clouds, buildings and
chimneys before they see a smoke label. Ours start from nothing, and from-scratch networks on a
few thousand small images learn the smoke label slowly (a ViT barely at all). This module gives a
backbone that prior knowledge without leaking the task: it is trained to segment **clean**
synthetic scenes (no smoke anywhere, so no smoke label or smoke mask is ever seen) into four
layers,

    sky | cloud or haze | ground, skyline or shed | chimney

with a 1x1-conv head on the backbone's last feature map (upsampled to the image). Only the
backbone's weights are kept; the classifier head is trained later on image labels, as usual.

Pre-training is done once per architecture and image size and cached (``<cache>/pretrain/``),
so every seed and every notebook starts from the same weights, as every run of the paper starts
from the same ImageNet checkpoint. Turn it on with ``ModelSpec(..., proxy_pretrain={})``
(defaults of :class:`PretrainSpec`) or ``proxy_pretrain={"epochs": 2, ...}``.

Caveat worth teaching: the proxy task makes chimneys and clouds salient features, as ImageNet
does; a classifier on top can use them as shortcuts just as easily as smoke.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import Tensor, nn
from tqdm.auto import tqdm

from wsss_lib.utils import (
    atomic_write_bytes,
    atomic_write_json,
    config_hash,
    default_cache_dir,
    get_device,
)

__all__ = [
    "PRETRAIN_VERSION",
    "PROXY_CLASSES",
    "PretrainSpec",
    "ProxySegmenter",
    "get_or_pretrain",
    "pretrain_backbone",
    "proxy_scenes",
]

#: Part of the pre-training cache key: bump when the proxy task or its training changes.
PRETRAIN_VERSION = "1"

#: The layers the proxy task segments (index = class id of :func:`proxy_scenes`' maps).
PROXY_CLASSES = ("sky", "cloud_or_haze", "ground_or_building", "chimney")


@dataclass(frozen=True)
class PretrainSpec:
    """How a backbone is pre-trained on the proxy task.

    Attributes:
        n_images: Clean training scenes (generated once, P(chimney) = 0.5).
        epochs: Passes over them.
        batch_size: Images per step.
        lr: Peak AdamW learning rate (linear warm-up, then cosine decay).
        weight_decay: AdamW weight decay.
        seed: Seed of the scenes, the initialisation and the batch order.
    """

    n_images: int = 4096
    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_images", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PretrainSpec.{name} must be an integer >= 1; got {value!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"PretrainSpec.seed must be an integer >= 0; got {self.seed!r}.")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0 and (value > 0 or name == "weight_decay")
            ):
                raise ValueError(f"PretrainSpec.{name} must be a finite number; got {value!r}.")
            object.__setattr__(self, name, float(value))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PretrainSpec:
        """Build from a (possibly partial) dict; unknown keys are an error."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(
                f"Unknown pre-training settings {unknown}; valid keys are {sorted(valid)}."
            )
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def proxy_scenes(image_size: int, n_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clean scenes (no smoke) and their layer maps for the proxy task.

    Args:
        image_size: Square image side in pixels.
        n_images: Number of scenes.
        seed: Seed of the set (kept apart from every benchmark split's seed).

    Returns:
        ``(images uint8 [N, H, W, 3], layer_maps int64 [N, H, W])`` with class ids of
        :data:`PROXY_CLASSES`.
    """
    from wsss_lib.data.synthetic import SceneConfig, render_scene, sample_scene_params

    digest = hashlib.sha256(f"wsss-lab/proxy-pretrain/{int(seed)}".encode()).digest()
    config = SceneConfig(
        image_size=image_size,
        n_images=n_images,
        smoke_ratio=0.0,
        p_chimney_given_smoke=0.5,
        p_chimney_given_clean=0.5,
        seed=int.from_bytes(digest[:8], "little") >> 1,
    )
    images = np.empty((n_images, image_size, image_size, 3), np.uint8)
    maps = np.zeros((n_images, image_size, image_size), np.int64)
    for i in range(n_images):
        rng = np.random.default_rng([config.seed, i])
        scene = render_scene(sample_scene_params(rng, config, label=0))
        images[i] = scene.image
        maps[i][scene.distractor_mask] = 1
        maps[i][scene.ground_mask] = 2
        maps[i][scene.chimney_mask] = 3
    return images, maps


class ProxySegmenter(nn.Module):
    """A classifier's backbone plus a 1x1-conv head over :data:`PROXY_CLASSES`.

    ``forward(x float [B, 3, H, W]) -> float [B, 4, H, W]`` logits, bilinearly upsampled from
    the backbone's last feature map.
    """

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier
        self.head = nn.Conv2d(classifier.embed_dim, len(PROXY_CLASSES), kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        features = self.classifier(x).feature_map
        return F.interpolate(
            self.head(features), size=x.shape[-2:], mode="bilinear", align_corners=False
        )


def pretrain_backbone(
    classifier: nn.Module,
    image_size: int,
    spec: PretrainSpec | None = None,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``classifier``'s backbone in place on the proxy task.

    Args:
        classifier: A freshly built ``WSSSClassifier``; its backbone is updated.
        image_size: Side of the proxy scenes.
        spec: Training settings (default :class:`PretrainSpec`).
        device: Where to train (default: CUDA when present).
        progress: Show a ``tqdm.auto`` bar.

    Returns:
        ``{"pixel_accuracy": float, "loss": float}`` of the last epoch (training set).
    """
    from wsss_lib.data import normalize
    from wsss_lib.train.schedule import warmup_cosine

    spec = spec or PretrainSpec()
    device = get_device(device)
    images, maps = proxy_scenes(image_size, spec.n_images, spec.seed)
    generator = torch.Generator().manual_seed(spec.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = ProxySegmenter(classifier).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    steps_per_epoch = math.ceil(spec.n_images / spec.batch_size)
    total = spec.epochs * steps_per_epoch
    bar = tqdm(total=total, desc="proxy pre-training", disable=not progress, unit="step")
    step, record = 0, {}
    for _ in range(spec.epochs):
        order = torch.randperm(spec.n_images, generator=generator).numpy()
        correct = pixels = loss_sum = 0.0
        for start in range(0, spec.n_images, spec.batch_size):
            index = order[start : start + spec.batch_size]
            x = torch.from_numpy(images[index]).permute(0, 3, 1, 2).float() / 255.0
            y = torch.from_numpy(maps[index])
            flip = torch.rand(len(index), generator=generator) < 0.5
            x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
            x, y = normalize(x).to(device), y.to(device)
            for group in optimizer.param_groups:
                group["lr"] = warmup_cosine(spec.lr, step, total)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += float((logits.argmax(1) == y).sum())
            pixels += y.numel()
            loss_sum += float(loss.detach()) * len(index)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)
        record = {"pixel_accuracy": correct / pixels, "loss": loss_sum / spec.n_images}
    bar.close()
    classifier.eval()
    return record


def _cache_folder(name: str, build_kwargs: Mapping[str, Any], spec: PretrainSpec,
                  cache_dir: str | os.PathLike[str] | None) -> tuple[Path, dict[str, Any]]:
    from wsss_lib.data import GENERATOR_VERSION

    key = {
        "name": name,
        "build_kwargs": {k: v for k, v in build_kwargs.items() if k != "pcm"},
        "spec": spec.to_dict(),
        "generator_version": GENERATOR_VERSION,
        "pretrain_version": PRETRAIN_VERSION,
    }
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "pretrain" / f"{name}-{config_hash(key)}", key


def get_or_pretrain(
    name: str,
    build_kwargs: Mapping[str, Any],
    spec: PretrainSpec | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Tensor]:
    """The proxy-pre-trained backbone state dict of an architecture, trained once and cached.

    The key is the architecture (``name`` and ``build_kwargs`` without ``pcm``, which adds a
    module outside the backbone), the :class:`PretrainSpec` and the code versions. A file lock
    makes parallel callers train it once.

    Args:
        name: Model name of ``wsss_lib.models.build_classifier``.
        build_kwargs: Its keyword arguments (with ``img_size``: the proxy scenes' size).
        spec: Pre-training settings.
        cache_dir: Cache root (default ``$WSSS_CACHE``).
        progress: Show progress while training.

    Returns:
        ``classifier.backbone.state_dict()`` after pre-training (CPU tensors).
    """
    from wsss_lib.models import build_classifier

    spec = spec or PretrainSpec()
    folder, key = _cache_folder(name, build_kwargs, spec, cache_dir)
    path = folder / "backbone.pt"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if path.exists():
            return torch.load(path, map_location="cpu", weights_only=True)
        kwargs = {k: v for k, v in build_kwargs.items() if k != "pcm"}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            classifier = build_classifier(name, **kwargs)
        record = pretrain_backbone(classifier, int(kwargs["img_size"]), spec, progress=progress)
        state = {k: v.detach().cpu() for k, v in classifier.backbone.state_dict().items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / "key.json", {**key, "result": record})
        atomic_write_bytes(path, buffer.getvalue())
    return state
