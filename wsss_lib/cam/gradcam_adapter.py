"""Adapter to pytorch-grad-cam (jacobgil): its CAM methods on our classifiers, as torch tensors.

What the adapter adds to the library:

- a wrapper so the library sees a module returning plain logits (ours returns a dataclass);
- a ViT reshape transform that works at any input size: the grid comes from the current input
  size and the model's patch size, prefix tokens (CLS, registers) dropped (the library's tutorial
  hard-codes 14x14);
- one target per image (the library maps only image 0 when given a single target);
- parameters frozen during a call: the library's backward pass computes only the activation
  gradients it needs (about half the work) and leaves the parameters' ``.grad`` untouched;
- hooks released on ``close()`` / leaving the ``with`` block, the autograd graph dropped after
  every call (no growth over repeated calls), and the model's train/eval mode restored on close
  (the library switches the model to eval mode).

The library min-max normalises each layer's map and resizes it to the input size with OpenCV; the
adapter's output is therefore always in ``[0, 1]``. Maps go through numpy: they are not
differentiable (use :func:`wsss_lib.cam.torch_gradcam` for that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytorch_grad_cam as pgc
import torch
import torch.nn.functional as F
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import Tensor, nn

from wsss_lib.cam.methods import canonical_cam_method
from wsss_lib.cam.torch_cam import check_images, default_gradcam_layers, normalize_cam
from wsss_lib.models import WSSSClassifier

__all__ = ["GRADCAM_METHODS", "GradCamAdapter", "canonical_gradcam_method"]

# ScoreCAM runs one forward pass per channel of each layer: slow on a CPU.
GRADCAM_METHODS = {
    "gradcam": pgc.GradCAM,
    "gradcam++": pgc.GradCAMPlusPlus,
    "hirescam": pgc.HiResCAM,
    "xgradcam": pgc.XGradCAM,
    "layercam": pgc.LayerCAM,
    "scorecam": pgc.ScoreCAM,
    "eigencam": pgc.EigenCAM,
    "eigengradcam": pgc.EigenGradCAM,
    "gradcamelementwise": pgc.GradCAMElementWise,
}

Target = int | Callable[[Tensor], Tensor]


def canonical_gradcam_method(method: str) -> str:
    """``"Grad-CAM++"``, ``"grad_cam_pp"`` ... -> the key in ``GRADCAM_METHODS``.

    Spellings and aliases are those of :func:`wsss_lib.cam.methods.canonical_cam_method`; only
    the pytorch-grad-cam methods are accepted (not ``"cam"`` nor methods registered later).

    Raises:
        ValueError: unknown method, listing the valid ones.
    """
    try:
        key = canonical_cam_method(method)
    except ValueError:
        key = None
    if key not in GRADCAM_METHODS:
        raise ValueError(f"Unknown Grad-CAM method {method!r}; valid: {sorted(GRADCAM_METHODS)}.")
    return key


class _LogitsOnly(nn.Module):
    """The classifier as ``images -> logits [B, K]``, which is what pytorch-grad-cam expects."""

    def __init__(self, model: WSSSClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x).logits

    def zero_grad(self, set_to_none: bool = True) -> None:
        """No-op: parameters are frozen during a CAM call, so the user's ``.grad`` are kept."""


class GradCamAdapter:
    """A pytorch-grad-cam method over a ``WSSSClassifier``; use as a context manager.

    Example::

        with GradCamAdapter(model, method="gradcam++") as cam_fn:
            cams = cam_fn(images)  # float [B, H, W] in [0, 1]

    Args:
        model: A ``WSSSClassifier`` (switched to eval mode until :meth:`close`).
        method: A key of ``GRADCAM_METHODS`` (case and ``-``/``_`` ignored).
        layers: Layer specs as in :func:`wsss_lib.cam.torch_gradcam`; default
            :func:`wsss_lib.cam.default_gradcam_layers` (ViT: ``norm1`` of blocks -5, -4, -2, -1).
        target: Default class index explained for every image (0 = smoke).
    """

    def __init__(self, model: WSSSClassifier, method: str = "gradcam",
                 layers: str | int | Sequence[str | int] | None = None, *, target: int = 0) -> None:
        self.model = model
        self.method = canonical_gradcam_method(method)
        if layers is None:
            layers = default_gradcam_layers(model)
        specs = [layers] if isinstance(layers, (str, int)) else list(layers)
        modules = dict(model.resolve_module(spec) for spec in specs)
        self.layers = list(modules)
        self.target = self._check_class(target)
        self._was_training = model.training
        self._image_size: tuple[int, int] | None = None
        reshape = self._tokens_to_grid if model.family == "vit" else None
        cam_class = GRADCAM_METHODS[self.method]
        self._cam = cam_class(_LogitsOnly(model), list(modules.values()), reshape_transform=reshape)
        self._in_call = False
        self._gate_hooks(list(modules.values()))
        # The input requires grad, so the tapped activations do although parameters are frozen.
        self._cam.compute_input_gradient = True
        # Keep the per-layer maps ([B, 1, H, W] each) instead of the library's average.
        self._cam.aggregate_multi_layers = lambda maps: np.concatenate(maps, axis=1)
        self._closed = False

    def _gate_hooks(self, modules: list[nn.Module]) -> None:
        """Re-register the library's layer hooks so they act only during :meth:`layer_maps`.

        pytorch-grad-cam hooks the layers for the object's whole life: every other forward pass
        of the model while an adapter is open (training, a plain CAM at another image size) would
        be tapped, copied to the CPU and reshaped with a stale grid size (which fails).
        """
        grabber = self._cam.activations_and_grads
        grabber.release()

        def gated(hook: Callable) -> Callable:
            def run_during_call(module: nn.Module, inputs: object, output: Tensor) -> None:
                if self._in_call:
                    hook(module, inputs, output)
            return run_during_call

        for module in modules:
            grabber.handles.append(module.register_forward_hook(gated(grabber.save_activation)))
            grabber.handles.append(module.register_forward_hook(gated(grabber.save_gradient)))

    def _check_class(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int) \
                or not 0 <= index < self.model.num_classes:
            raise ValueError(
                f"Target class {index!r} is invalid: the model has {self.model.num_classes} class "
                "logit(s) (0 = smoke)."
            )
        return index

    def _tokens_to_grid(self, tokens: Tensor) -> Tensor:
        return self.model.to_grid(tokens, self._image_size)

    def _targets(self, targets: Target | Sequence[Target] | None, batch: int) -> list:
        if targets is None or isinstance(targets, int) or callable(targets):
            targets = [self.target if targets is None else targets] * batch
        targets = list(targets)
        if len(targets) != batch:
            raise ValueError(
                f"Got {len(targets)} targets for {batch} images; pass one per image (or one int "
                "for all) - pytorch-grad-cam only maps the images that have a target."
            )
        return [ClassifierOutputTarget(self._check_class(t)) if isinstance(t, int) else t
                for t in targets]

    def layer_maps(self, images: Tensor,
                   targets: Target | Sequence[Target] | None = None) -> list[Tensor]:
        """One map per layer.

        Args:
            images: float ``[B, 3, H, W]``.
            targets: None (``self.target`` for every image), one class index for all images, or
                one class index / pytorch-grad-cam target callable per image.

        Returns:
            One float ``[B, H, W]`` tensor in ``[0, 1]`` per layer of ``self.layers``, on the
            device of ``images``.
        """
        if self._closed:
            raise RuntimeError("This GradCamAdapter is closed; create a new one.")
        check_images(images)
        height, width = images.shape[-2], images.shape[-1]
        # Pad as the ViT would (zeros, bottom/right) so the library's resize of the grid to the
        # input size is aligned; the padding is cropped off the maps below.
        self._image_size = self.model.grid_extent((height, width))
        padded = F.pad(images.detach(), (0, self._image_size[1] - width,
                                         0, self._image_size[0] - height))
        target_list = self._targets(targets, images.shape[0])
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        try:
            for param in trainable:
                param.requires_grad_(False)
            self._in_call = True
            with torch.enable_grad():  # works inside a caller's torch.no_grad() too
                maps = self._cam(padded, targets=target_list)
        finally:
            self._in_call = False
            for param in trainable:
                param.requires_grad_(True)
            self._drop_graph()
        maps = torch.from_numpy(np.ascontiguousarray(maps[..., :height, :width], dtype=np.float32))
        return list(maps.to(images.device).unbind(dim=1))

    def __call__(self, images: Tensor,
                 targets: Target | Sequence[Target] | None = None) -> Tensor:
        """float ``[B, H, W]`` in ``[0, 1]``: layer maps averaged, then min-max normalised.

        This is pytorch-grad-cam's own multi-layer rule; see :meth:`layer_maps` for arguments.
        """
        maps = self.layer_maps(images, targets)
        return normalize_cam(torch.stack(maps).mean(dim=0), "minmax")

    def _drop_graph(self) -> None:
        """Free what the library keeps between calls (its outputs' graph, activations)."""
        self._cam.activations_and_grads.clear()
        self._cam.outputs = None

    def close(self) -> None:
        """Remove the hooks and restore the model's train/eval mode (idempotent)."""
        if self._closed:
            return
        self._cam.activations_and_grads.release()
        self.model.train(self._was_training)
        self._closed = True

    def __enter__(self) -> GradCamAdapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
