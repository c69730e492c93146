"""Every layer's raw Grad-CAM at every scale, kept so that many fused CAMs can be built from one
pass over the images (notebook 05 compares layers, fusion rules and scales this way).

:meth:`LayerCams.cam` builds a CAM from the stored maps with the steps of
:func:`wsss_lib.cam.compute_cam` (:func:`~wsss_lib.cam.fusion.fuse_layer_maps`, then
:func:`~wsss_lib.cam.fusion.mean_over_scales`), so it equals
``compute_cam(model, images, method="gradcam", layers=..., scales=..., fusion=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from wsss_lib.cam.fusion import fuse_layer_maps, mean_over_scales, resize_images, scaled_size
from wsss_lib.cam.torch_cam import default_gradcam_layers, normalize_cam, torch_gradcam
from wsss_lib.data import to_tensor_batch
from wsss_lib.utils import get_device

__all__ = ["LayerCams", "layer_gradcams"]


@dataclass
class LayerCams:
    """Raw Grad-CAMs of one network at several layers and image scales.

    Attributes:
        maps: scale -> layer -> float ``[N, h, w]`` ReLU'd, unnormalised maps at the feature grid
            of the images resized by that scale (CPU).
        layers: Layer names, shallow to deep.
        image_size: ``(H, W)`` of the original images.
        extents: scale -> ``(size, extent)``: the resized image size and the padded area its grid
            covers (:meth:`WSSSClassifier.grid_extent`), to upsample maps exactly as
            :func:`wsss_lib.cam.compute_cam` does.
    """

    maps: dict[float, dict[str, Tensor]]
    layers: list[str]
    image_size: tuple[int, int]
    extents: dict[float, tuple[tuple[int, int], tuple[int, int]]]

    @property
    def scales(self) -> tuple[float, ...]:
        return tuple(self.maps)

    def __len__(self) -> int:
        return int(next(iter(self.maps[self.scales[0]].values())).shape[0])

    def cam(
        self,
        layers: Sequence[str] | None = None,
        rule: str = "mean",
        scales: Sequence[float] = (1.0,),
        weights: Sequence[float] | None = None,
        normalize: str = "minmax",
    ) -> Tensor:
        """One fused CAM from the stored maps, as ``compute_cam(method="gradcam", ...)``.

        Per scale: each layer's map upsampled to the resized image and fused
        (:func:`~wsss_lib.cam.fusion.fuse_layer_maps`); then resized to ``(H, W)``, averaged
        over scales and normalised.

        Args:
            layers: Subset of :attr:`layers` (default: all).
            rule: Fusion rule (``FUSION_RULES``).
            scales: Subset of the stored scales.
            weights: One weight per layer for ``rule="weighted"``.
            normalize: ``"minmax"`` (paper), ``"max"`` or ``"none"``.

        Returns:
            float ``[N, H, W]``.
        """
        layers = list(self.layers if layers is None else layers)
        missing = [x for x in layers if x not in self.layers]
        if missing or not layers:
            raise ValueError(f"Layers {missing or layers} were not computed; have {self.layers}.")
        absent = [s for s in scales if float(s) not in self.maps]
        if absent or not scales:
            raise ValueError(f"Scales {absent or list(scales)} were not computed; have "
                             f"{list(self.scales)}. Pass them to layer_gradcams(scales=...).")
        per_scale = (
            fuse_layer_maps([self.maps[float(s)][x] for x in layers], *self.extents[float(s)],
                            rule=rule, weights=weights, normalize=normalize)
            for s in scales
        )
        return normalize_cam(mean_over_scales(per_scale, self.image_size), normalize)


def _check_layer_gradcam_args(images: np.ndarray, scales: Sequence[float], batch_size: int
                              ) -> None:
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 [N, H, W, 3] (dataset images, e.g. scenes.images); got "
            f"{images.dtype} {tuple(images.shape)}."
        )
    if len(images) == 0:
        raise ValueError("No images given; pass at least one.")
    if not scales or any(not float(s) > 0 for s in scales):
        raise ValueError(f"scales must be positive factors such as (0.5, 1.0), got {scales!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")


def layer_gradcams(
    model: nn.Module,
    images: np.ndarray | Tensor,
    layers: Sequence[str | int] | None = None,
    scales: Sequence[float] = (1.0,),
    *,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> LayerCams:
    """Grad-CAM of every layer in ``layers`` at every scale, one backward pass per batch and scale.

    Args:
        model: A ``WSSSClassifier`` (run in eval mode; its mode is restored).
        images: uint8 ``[N, H, W, 3]`` RGB (dataset images).
        layers: Layer specs (default :func:`wsss_lib.cam.default_gradcam_layers`: the paper's
            four ViT ``norm1`` taps, or ``layer4`` of a CNN).
        scales: Image resize factors (bilinear), e.g. ``(0.5, 1.0, 1.5, 2.0)``.
        batch_size: Images per pass.
        device: Where to run (default: CUDA when present).
        progress: Show a progress bar.

    Returns:
        A :class:`LayerCams` holding the raw maps on the CPU.
    """
    images = np.asarray(images.cpu() if isinstance(images, Tensor) else images)
    _check_layer_gradcam_args(images, scales, batch_size)
    specs = default_gradcam_layers(model) if layers is None else list(layers)
    names = [model.resolve_module(spec)[0] for spec in specs]
    device = get_device(device)
    image_size = (int(images.shape[1]), int(images.shape[2]))
    scales = tuple(float(s) for s in scales)
    sizes = {s: scaled_size(image_size, s) for s in scales}
    extents = {s: (size, tuple(model.grid_extent(size))) for s, size in sizes.items()}
    chunks: dict[float, dict[str, list[Tensor]]] = {s: {n: [] for n in names} for s in scales}
    was_training = model.training
    model.to(device).eval()
    starts = range(0, len(images), batch_size)
    bar = tqdm(total=len(starts) * len(scales), desc="Grad-CAM", disable=not progress)
    try:
        for start in starts:
            x = to_tensor_batch(images[start:start + batch_size]).to(device)
            for scale in scales:
                maps = torch_gradcam(model, resize_images(x, sizes[scale]), names)
                for name in names:
                    chunks[scale][name].append(maps[name].float().cpu())
                bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    maps_out = {s: {n: torch.cat(chunks[s][n]) for n in names} for s in scales}
    return LayerCams(maps=maps_out, layers=names, image_size=image_size, extents=extents)
