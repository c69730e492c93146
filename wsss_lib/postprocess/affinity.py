"""AffinityNet refinement (Ahn & Kwak, CVPR 2018): learn pixel affinities, then random-walk the CAM.

Recipe:

1. **Labels from confident CAM regions.** The CAM is average-pooled to the feature grid
   (stride 4 by default); a cell is foreground if ``cam >= fg_thresh``, background if
   ``cam < bg_thresh`` and ignored in between.
2. **Affinity network.** A small CNN maps the image to features ``f`` at the grid; the affinity of
   two cells is ``a_ij = exp(-mean_c |f_i - f_j|)``. It is trained on all cell pairs closer than
   ``radius`` cells: pairs with the same label should have affinity 1, pairs with different
   labels 0. The loss balances the three pair kinds::

       L = 1/4 mean_{fg-fg}(-log a) + 1/4 mean_{bg-bg}(-log a) + 1/2 mean_{fg-bg}(-log(1 - a))

3. **Random walk.** Transition weights ``a_ij ** beta`` (``beta = 16``) over each cell's
   neighbourhood, normalised over the neighbourhood; ``iterations`` steps (AffinityNet: 2**8)
   of ``cam_j <- sum_i T_ij cam_i`` spread activation to cells the network deems similar. The
   result is upsampled to the image size and normalised per image (``"max"`` as IRN).

The walk is local (only neighbours within ``radius``), so it costs ``O(iterations * cells *
neighbours)`` for any image size instead of a dense ``cells x cells`` matrix.

Why it fails for smoke (arXiv 2507.21959: 37.42 -> 34.00 mIoU): the affinity is class-agnostic.
It learns "looks alike", and grey smoke looks like grey clouds, haze and pale sky, so the walk
bleeds smoke activation into them.

A note on ``bg_thresh``: AffinityNet's ``1e-4`` assumes CAMs where background is exactly 0.
Min-max normalised CAMs (this library's default) reach 0 at a single pixel, so almost no cell is
background and the network never sees a negative pair; :meth:`AffinityRefiner.fit` warns then.
Use ``bg_thresh`` around ``0.05``-``0.1`` for min-max CAMs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor, nn
from tqdm.auto import tqdm

from wsss_lib.postprocess.base import RefinementStep, check_cam, images_to_rgb_float
from wsss_lib.utils import get_device

__all__ = [
    "AffinityFeatureNet",
    "AffinityRefiner",
    "affinity_loss",
    "cam_labels",
    "neighbour_offsets",
    "pair_distances",
]

_IGNORE = -1
_NORMALIZE_MODES = ("max", "minmax", "none")


class AffinityFeatureNet(nn.Module):
    """A small CNN mapping an image to affinity features at ``stride``.

    Args:
        stride: output stride, a power of two (each halving is one stride-2 conv).
        width: channels of the hidden layers.
        feature_dim: channels of the output features.
    """

    def __init__(self, stride: int = 4, width: int = 32, feature_dim: int = 32) -> None:
        super().__init__()
        if stride < 1 or stride & (stride - 1):
            raise ValueError(f"stride must be a power of two (1, 2, 4, 8, ...), got {stride}.")
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(int(math.log2(stride))):
            layers += [nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
                   nn.Conv2d(width, feature_dim, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        """Map normalised images ``[B, 3, H, W]`` to features ``[B, feature_dim, H/s, W/s]``."""
        return self.body(images)


class _BackboneAffinityHead(nn.Module):
    """Affinity features: a frozen ``WSSSClassifier``'s features and a trainable 1x1 head."""

    def __init__(self, backbone: nn.Module, layer: str | None, feature_dim: int) -> None:
        super().__init__()
        self.backbone = backbone.eval()  # frozen: run under no_grad, never in the optimiser
        self.layer = layer
        channels = _probe_channels(backbone, layer)
        self.head = nn.Sequential(nn.Conv2d(channels, 64, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(64, feature_dim, 1))

    def train(self, mode: bool = True) -> _BackboneAffinityHead:
        super().train(mode)
        self.backbone.eval()  # frozen: keep BatchNorm statistics and dropout off
        return self

    def forward(self, images: Tensor) -> Tensor:
        with torch.no_grad():
            out = self.backbone(images, layers=() if self.layer is None else (self.layer,))
            feats = out.feature_map if self.layer is None else out.features[self.layer]
        return self.head(feats.float())


def _probe_channels(backbone: nn.Module, layer: str | None) -> int:
    if layer is None:
        channels = getattr(backbone, "embed_dim", None)
        if channels is not None:
            return int(channels)
    try:
        device = next(backbone.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    with torch.no_grad():
        out = backbone(torch.zeros(1, 3, 64, 64, device=device),
                       layers=() if layer is None else (layer,))
    return int((out.feature_map if layer is None else out.features[layer]).shape[1])


def neighbour_offsets(radius: int, half: bool = False) -> list[tuple[int, int]]:
    """Grid offsets ``(dy, dx)`` with ``0 < dy**2 + dx**2 < radius**2``.

    Args:
        radius: neighbourhood radius in grid cells (exclusive).
        half: keep one offset of each ``(o, -o)`` pair (each unordered pair of cells once).

    Returns:
        the offsets, row-major.
    """
    reach = radius - 1
    offsets = []
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if not 0 < dy * dy + dx * dx < radius * radius:
                continue
            if half and not (dy > 0 or (dy == 0 and dx > 0)):
                continue
            offsets.append((dy, dx))
    return offsets


def _shifted(x: Tensor, dy: int, dx: int, fill: float = 0.0) -> Tensor:
    """``out[..., y, x] = x[..., y + dy, x + dx]``, ``fill`` outside the grid."""
    h, w = x.shape[-2:]
    out = torch.full_like(x, fill)
    if abs(dy) >= h or abs(dx) >= w:  # the neighbour is off the grid for every cell
        return out
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[..., yd, xd] = x[..., ys, xs]
    return out


def _in_grid(h: int, w: int, offsets: list[tuple[int, int]], device: torch.device) -> Tensor:
    """bool ``[K, h, w]``: whether cell + offset k lies inside the grid."""
    ones = torch.ones(1, h, w, device=device)
    return torch.cat([_shifted(ones, dy, dx) for dy, dx in offsets]).bool()


def pair_distances(features: Tensor, offsets: list[tuple[int, int]]) -> Tensor:
    """Mean absolute feature difference between each cell and its neighbours.

    Args:
        features: float ``[B, C, h, w]``.
        offsets: K neighbour offsets.

    Returns:
        float ``[B, K, h, w]``; the affinity is ``exp(-distance)``. Pairs whose neighbour lies
        outside the grid hold meaningless values; callers mask them out.
    """
    return torch.stack(
        [(features - _shifted(features, dy, dx)).abs().mean(dim=1) for dy, dx in offsets], dim=1
    )


def cam_labels(cam: Tensor, grid: tuple[int, int], fg_thresh: float, bg_thresh: float) -> Tensor:
    """Confident labels on the feature grid: 1 fg, 0 bg, ``-1`` ignored.

    Args:
        cam: float ``[B, H, W]`` in ``[0, 1]``.
        grid: ``(h, w)`` of the feature grid.

    Returns:
        int64 ``[B, h, w]``.
    """
    pooled = F.adaptive_avg_pool2d(cam[:, None].float(), grid)[:, 0]
    labels = torch.full(pooled.shape, _IGNORE, dtype=torch.long, device=cam.device)
    labels[pooled >= fg_thresh] = 1
    labels[pooled < bg_thresh] = 0
    return labels


def affinity_loss(
    distances: Tensor, labels: Tensor, offsets: list[tuple[int, int]]
) -> tuple[Tensor, dict[str, int]]:
    """AffinityNet's balanced loss over labelled cell pairs.

    Args:
        distances: float ``[B, K, h, w]`` from :func:`pair_distances` (affinity ``exp(-d)``).
        labels: int64 ``[B, h, w]`` from :func:`cam_labels`.
        offsets: the K offsets ``distances`` was computed for.

    Returns:
        ``(loss, counts)``; ``counts`` has the number of fg-fg, bg-bg and fg-bg pairs. Pair kinds
        without any pair drop out of the loss.
    """
    h, w = labels.shape[-2:]
    inside = _in_grid(h, w, offsets, labels.device)[None]
    other = torch.stack([_shifted(labels, dy, dx, fill=_IGNORE) for dy, dx in offsets], dim=1)
    here = labels[:, None]
    labelled = inside & (here != _IGNORE) & (other != _IGNORE)
    kinds = {
        "fg_fg": labelled & (here == 1) & (other == 1),
        "bg_bg": labelled & (here == 0) & (other == 0),
        "fg_bg": labelled & (here != other),
    }
    # -log(a) = d for positive pairs; -log(1 - a) = -log(1 - exp(-d)) for negative pairs.
    neg_term = -torch.log((-torch.expm1(-distances)).clamp_min(1e-5))
    terms = [(0.25, distances, kinds["fg_fg"]), (0.25, distances, kinds["bg_bg"]),
             (0.5, neg_term, kinds["fg_bg"])]
    loss = distances.new_zeros(())
    for weight, values, mask in terms:
        if mask.any():
            loss = loss + weight * values[mask].mean()
    return loss, {k: int(v.sum()) for k, v in kinds.items()}


class AffinityRefiner(RefinementStep):
    """AffinityNet: learn class-agnostic pixel affinities from confident CAM regions, random-walk.

    Call :meth:`fit` on a set of CAMs and images first, then use the refiner as a step.

    Args:
        radius: pairs closer than this many grid cells are used (training and walk).
        beta: exponent sharpening affinities in the transition matrix (AffinityNet: 16).
        fg_thresh: CAM value from which a cell is a confident foreground label.
        bg_thresh: CAM value below which a cell is a confident background label (AffinityNet
            ``1e-4``; use ~0.05-0.1 with min-max normalised CAMs, see the module docstring).
        iterations: random-walk steps (AffinityNet / IRN: ``2 ** 8 = 256``).
        epochs: passes over the training CAMs in :meth:`fit`.
        stride: feature-grid stride of the default CNN (4 or 8 are sensible; a backbone has
            its own).
        feature_dim: channels of the affinity features.
        lr: Adam learning rate.
        batch_size: images per training step.
        normalize: per-image normalisation of the walked map: ``"max"`` (IRN), ``"minmax"`` or
            ``"none"`` (the walk averages, so without it values shrink as activation spreads).
        backbone: optional ``WSSSClassifier``, kept frozen (and left in eval mode): affinity
            features are then a trained 1x1 head on its features instead of the small CNN.
        backbone_layer: which of the backbone's layers (a name from ``layer_names``); ``None``
            uses its final ``feature_map``. Shallower layers (e.g. ``"layer2"``) are finer.
        seed: seeds the network initialisation and the batch order.
        progress: show a tqdm progress bar in :meth:`fit`.
        device: where to train and walk (default :func:`wsss_lib.utils.get_device`).
    """

    name = "affinity"

    def __init__(
        self,
        radius: int = 5,
        beta: float = 16.0,
        fg_thresh: float = 0.3,
        bg_thresh: float = 1e-4,
        iterations: int = 256,
        epochs: int = 8,
        stride: int = 4,
        feature_dim: int = 32,
        lr: float = 3e-3,
        batch_size: int = 8,
        normalize: str = "max",
        backbone: nn.Module | None = None,
        backbone_layer: str | None = None,
        seed: int = 0,
        progress: bool = True,
        device: str | torch.device | None = None,
    ) -> None:
        if radius < 2:
            raise ValueError(f"radius must be >= 2 grid cells (1 has no neighbours), got {radius}.")
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}.")
        if not 0.0 <= bg_thresh <= fg_thresh <= 1.0:
            raise ValueError(
                f"Need 0 <= bg_thresh <= fg_thresh <= 1, got bg_thresh={bg_thresh}, "
                f"fg_thresh={fg_thresh}."
            )
        if iterations < 0 or epochs < 1 or batch_size < 1 or lr <= 0:
            raise ValueError(
                f"Need iterations >= 0, epochs >= 1, batch_size >= 1 and lr > 0; got "
                f"iterations={iterations}, epochs={epochs}, batch_size={batch_size}, lr={lr}."
            )
        if normalize not in _NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {_NORMALIZE_MODES}, got {normalize!r}.")
        self.radius = int(radius)
        self.beta = float(beta)
        self.fg_thresh = float(fg_thresh)
        self.bg_thresh = float(bg_thresh)
        self.iterations = int(iterations)
        self.epochs = int(epochs)
        self.stride = int(stride)
        self.feature_dim = int(feature_dim)
        self.lr = float(lr)
        self.batch_size = int(batch_size)
        self.normalize = normalize
        self.backbone_layer = backbone_layer
        self.seed = int(seed)
        self.progress = progress
        self.device = get_device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if backbone is None:
                net: nn.Module = AffinityFeatureNet(stride, feature_dim=feature_dim)
            else:
                net = _BackboneAffinityHead(backbone.to(self.device), backbone_layer, feature_dim)
        self.net = net.to(self.device)
        self._backbone_name = None if backbone is None else getattr(backbone, "name",
                                                                    type(backbone).__name__)
        self.fitted = False
        self.history: list[float] = []
        self.pair_counts: dict[str, int] = {}

    def params(self) -> dict[str, Any]:
        """Settings as a JSON-able dict."""
        return {
            "radius": self.radius,
            "beta": self.beta,
            "fg_thresh": self.fg_thresh,
            "bg_thresh": self.bg_thresh,
            "iterations": self.iterations,
            "epochs": self.epochs,
            "stride": self.stride,
            "feature_dim": self.feature_dim,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "normalize": self.normalize,
            "backbone": self._backbone_name,
            "backbone_layer": self.backbone_layer,
            "seed": self.seed,
        }

    def _net_input(self, images: Tensor | np.ndarray) -> Tensor:
        """ImageNet-normalised float ``[B, 3, H, W]`` on the device."""
        rgb = images_to_rgb_float(images, device=self.device)
        mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_DEFAULT_STD, device=self.device).view(1, 3, 1, 1)
        return (rgb - mean) / std

    def fit(self, cams: Tensor, images: Tensor | np.ndarray) -> AffinityRefiner:
        """Train the affinity network on confident regions of ``cams``.

        Args:
            cams: float ``[N, H, W]`` in ``[0, 1]`` (typically the CAMs of the smoke images).
            images: float ``[N, 3, H, W]`` ImageNet-normalised or uint8 ``[N, H, W, 3]``.

        Returns:
            self, fitted; ``history`` holds the mean loss per epoch and ``pair_counts`` the
            labelled pairs per kind (summed over one epoch).

        Raises:
            ValueError: bad shapes / ranges, or no confident cells at all.
        """
        check_cam(cams, images, step=f"{self.name}.fit")
        offsets = neighbour_offsets(self.radius, half=True)
        generator = torch.Generator().manual_seed(self.seed)
        trainable = self.net.head if isinstance(self.net, _BackboneAffinityHead) else self.net
        optimizer = torch.optim.Adam(trainable.parameters(), lr=self.lr)
        n = cams.shape[0]
        self.net.train()
        self.history = []
        bar = tqdm(range(self.epochs), desc="affinity fit", disable=not self.progress)
        for epoch in bar:
            order = torch.randperm(n, generator=generator)
            losses, counts = [], dict.fromkeys(("fg_fg", "bg_bg", "fg_bg"), 0)
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                x = self._net_input(images[idx.numpy()] if isinstance(images, np.ndarray)
                                    else images[idx])
                features = self.net(x)
                labels = cam_labels(cams[idx].to(self.device), tuple(features.shape[-2:]),
                                    self.fg_thresh, self.bg_thresh)
                loss, batch_counts = affinity_loss(pair_distances(features, offsets), labels,
                                                   offsets)
                counts = {k: counts[k] + batch_counts[k] for k in counts}
                if loss.requires_grad:
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                losses.append(float(loss.detach()))
            if epoch == 0:
                self._check_pairs(counts)
                self.pair_counts = counts
            self.history.append(float(np.mean(losses)))
            bar.set_postfix(loss=f"{self.history[-1]:.4f}")
        self.net.eval()
        self.fitted = True
        return self

    def _check_pairs(self, counts: dict[str, int]) -> None:
        if counts["fg_fg"] + counts["bg_bg"] + counts["fg_bg"] == 0:
            raise ValueError(
                f"No confident CAM cells to train the affinity network on (fg_thresh="
                f"{self.fg_thresh}, bg_thresh={self.bg_thresh}); lower fg_thresh or raise "
                "bg_thresh."
            )
        if counts["fg_bg"] == 0:
            warnings.warn(
                f"The affinity network sees no foreground-background pairs (fg_thresh="
                f"{self.fg_thresh}, bg_thresh={self.bg_thresh}, pairs {counts}), so it learns "
                "that every pair is similar and the random walk blurs everything. Lower "
                "fg_thresh or raise bg_thresh so both kinds of confident cells exist (min-max "
                "normalised CAMs need bg_thresh ~0.05, not AffinityNet's 1e-4).",
                stacklevel=3,
            )

    @torch.no_grad()
    def transition_weights(self, images: Tensor | np.ndarray) -> Tensor:
        """Random-walk transition weights over each cell's neighbourhood (itself included).

        Args:
            images: float ``[B, 3, H, W]`` ImageNet-normalised or uint8 ``[B, H, W, 3]``.

        Returns:
            float ``[B, K, h, w]`` over the ``K = (2 * radius - 1) ** 2`` offsets of the square
            window around a cell, row-major (the layout of ``F.unfold``): ``weights[:, k, j]``
            is the share cell ``j`` takes from its neighbour ``k``; zero outside the disk of
            ``radius`` and outside the grid; sums to 1 over ``k``.
        """
        self._require_fitted()
        reach = self.radius - 1
        window = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)]
        features = self.net(self._net_input(images)).float()
        h, w = features.shape[-2:]
        in_disk = torch.tensor([dy * dy + dx * dx < self.radius ** 2 for dy, dx in window],
                               device=features.device).view(-1, 1, 1)
        valid = _in_grid(h, w, window, features.device) & in_disk
        # a ** beta = exp(-beta * d), computed in the exponent for stability.
        weights = torch.exp(-self.beta * pair_distances(features, window)) * valid[None]
        return weights / weights.sum(dim=1, keepdim=True)

    @torch.no_grad()
    def random_walk(self, cam: Tensor, images: Tensor | np.ndarray) -> Tensor:
        """Propagate ``cam`` by the learned affinities, at the feature grid.

        Args:
            cam: float ``[B, H, W]`` in ``[0, 1]``.
            images: float ``[B, 3, H, W]`` ImageNet-normalised or uint8 ``[B, H, W, 3]``.

        Returns:
            float ``[B, h, w]`` (not normalised, not upsampled).
        """
        weights = self.transition_weights(images)
        b, k, h, w = weights.shape
        weights = weights.flatten(2)  # [B, K, h*w]
        walked = F.adaptive_avg_pool2d(cam[:, None].to(self.device).float(), (h, w))
        window = 2 * self.radius - 1
        for _ in range(self.iterations):
            neighbours = F.unfold(walked, window, padding=self.radius - 1)  # [B, K, h*w]
            walked = (weights * neighbours).sum(dim=1).view(b, 1, h, w)
        return walked[:, 0]

    def refine(self, cam: Tensor, images: Tensor | np.ndarray) -> Tensor:
        """Random walk, upsample to the CAM's size, normalise per image; float ``[B, H, W]``."""
        walked = self.random_walk(cam, images)
        up = F.interpolate(walked[:, None], size=cam.shape[-2:], mode="bilinear",
                           align_corners=False)[:, 0]
        return _normalize(up, self.normalize).to(cam.device, cam.dtype)

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(
                "AffinityRefiner is not fitted: call refiner.fit(cams, images) on a set of "
                "CAMs first (it trains the affinity network the random walk needs)."
            )


def _normalize(maps: Tensor, mode: str) -> Tensor:
    """Per-image ``"max"`` / ``"minmax"`` / ``"none"`` normalisation of ``[B, H, W]``."""
    if mode == "none":
        return maps
    flat = maps.flatten(1)
    high = flat.max(dim=1).values.view(-1, 1, 1)
    low = flat.min(dim=1).values.view(-1, 1, 1) if mode == "minmax" else torch.zeros_like(high)
    return (maps - low) / (high - low).clamp_min(1e-8)
