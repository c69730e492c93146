"""A CAM explorer that needs no training, for the browser test's notebook.

Two untrained ResNet-18s whose classifier bias puts the score map's zero at its median over the
shown images, so their CAMs cover about half of each image and every threshold step changes the
pseudo-mask. Deterministic (seeded), and built in about a second.
"""

from __future__ import annotations

from pathlib import Path

import torch

from wsss_lib.data import load_split, to_tensor_batch
from wsss_lib.models import build_classifier
from wsss_lib.widgets import (
    CachedModel,
    CamExplorer,
    ExplorerData,
    ExplorerState,
    first_informative_index,
)

IMAGE_SIZE = 32


def demo_networks(n_images: int = 8) -> dict[str, torch.nn.Module]:
    images = to_tensor_batch(load_split("test", image_size=IMAGE_SIZE, n_images=n_images).images)
    networks = {}
    for seed, key in enumerate(("demo-a", "demo-b")):
        torch.manual_seed(seed)
        model = build_classifier("resnet18", img_size=IMAGE_SIZE, output_stride=8).eval()
        with torch.no_grad():
            model.classifier.bias -= model(images).score_map.median()
        networks[key] = model
    return networks


def demo_entry(key: str) -> CachedModel:
    return CachedModel(key=key, run_dir=Path(key), paradigm="single", model_name="resnet18",
                       teacher_name=None, image_size=IMAGE_SIZE, epochs=0, seed=0,
                       val_acc=None, config={})


def demo_explorer(n_images: int = 8, compare: bool = True) -> CamExplorer:
    """The explorer on the ``test`` split with the two demo networks (B shown when ``compare``)."""
    networks = demo_networks(n_images)
    data = ExplorerData([demo_entry(k) for k in networks], image_size=IMAGE_SIZE,
                        n_images=n_images, networks=networks)
    state = ExplorerState(source="test", index=first_informative_index(data.records("test")),
                          model_a="demo-a", model_b="demo-b" if compare else None)
    return CamExplorer(data, state, display_size=128)
