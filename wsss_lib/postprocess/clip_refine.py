"""CLIP-aided refinement: weigh the CAM by how much each image patch looks like "smoke" to CLIP.

Recipe (as in arXiv 2507.21959, which reports that it *fails* for smoke):

1. Resize the image to CLIP's input size and run the vision tower; take the patch tokens of the
   last block, apply CLIP's final LayerNorm (``ln_post``) and projection (``proj``), so each
   patch lands in the joint image-text space: ``[B, gh, gw, D]``.
2. Embed smoke prompts ("a photo of smoke", ...) and background prompts ("a photo of the sky",
   "a photo of a chimney", ...) with the text tower.
3. Cosine similarity patch x prompt, times CLIP's logit scale, softmax over all prompts; the
   smoke probability of a patch is the summed probability of the smoke prompts. Upsample
   bilinearly to the CAM's size.
4. Combine with the CAM (``mode``):

   - ``"multiply"``: ``cam * p_smoke`` -- keeps CAM evidence only where CLIP agrees;
   - ``"mean"``: ``(cam + p_smoke) / 2`` -- lets CLIP add activation the CAM missed;
   - ``"gate"``: ``cam * (p_smoke >= gate_threshold)`` -- hard veto of non-smoke patches.

   No renormalisation follows, so the pseudo-mask threshold keeps its meaning.

Why it fails for smoke: no prompt set separates smoke from sky, clouds and haze reliably, and
final-layer CLIP patch tokens are coarse (7x7 patches for ViT-B/32 at 224 px) and only loosely
aligned with text. This module implements the plain recipe so the notebooks can measure that.

Weights come from a local file or open_clip's download (see :mod:`wsss_lib.postprocess.weights`);
offline and without a file, construction raises ``WeightsUnavailableError`` within seconds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss_lib.postprocess.base import RefinementStep, images_to_rgb_float
from wsss_lib.postprocess.weights import resolve_clip_weights
from wsss_lib.utils import get_device

__all__ = [
    "CLIP_MODES",
    "DEFAULT_BACKGROUND_PROMPTS",
    "DEFAULT_SMOKE_PROMPTS",
    "ClipRefiner",
]

DEFAULT_SMOKE_PROMPTS: tuple[str, ...] = (
    "a photo of smoke",
    "grey industrial smoke rising from factory chimneys",
    "a plume of smoke",
)
DEFAULT_BACKGROUND_PROMPTS: tuple[str, ...] = (
    "a photo of the sky",
    "a photo of clouds",
    "a photo of a chimney",
    "a photo of a factory",
    "a photo of haze",
    "a photo of a building",
)
CLIP_MODES = ("multiply", "mean", "gate")


class ClipRefiner(RefinementStep):
    """Refine CAMs with CLIP patch-text similarity (smoke prompts vs background prompts).

    Args:
        model_name: open_clip architecture (``open_clip.list_models()``), default ViT-B/32.
        pretrained: open_clip tag of the weights (``open_clip.list_pretrained()``). Used to
            download them when ``weights_path`` is None, and, with a local file, to pick the
            activation (QuickGELU for ``"openai"``) and normalisation that file was trained with.
            ``None`` (or a tag unknown for a custom architecture) with a local file: the
            architecture's defaults.
        weights_path: local checkpoint (state dict: ``.safetensors``, ``.bin`` or ``.pt``).
        smoke_prompts: texts describing smoke (at least one).
        background_prompts: texts describing everything else (at least one).
        mode: how the smoke probability is combined with the CAM: ``"multiply"``, ``"mean"`` or
            ``"gate"`` (see the module docstring).
        gate_threshold: smoke probability a patch needs to pass in ``"gate"`` mode.
        temperature: softmax temperature; ``None`` uses CLIP's learned ``1 / logit_scale``
            (0.01 for trained CLIP).
        batch_size: images per forward pass.
        device: where CLIP runs (default :func:`wsss_lib.utils.get_device`).

    Raises:
        WeightsUnavailableError: no local file and the download is impossible (offline).
        FileNotFoundError: ``weights_path`` does not exist.
        ValueError: bad ``mode`` / prompts / thresholds, or a model whose vision tower has no
            patch tokens (open_clip ``VisionTransformer`` only).
    """

    name = "clip"

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str | None = "openai",
        weights_path: str | os.PathLike[str] | None = None,
        smoke_prompts: Sequence[str] = DEFAULT_SMOKE_PROMPTS,
        background_prompts: Sequence[str] = DEFAULT_BACKGROUND_PROMPTS,
        mode: str = "multiply",
        gate_threshold: float = 0.5,
        temperature: float | None = None,
        batch_size: int = 16,
        device: str | torch.device | None = None,
    ) -> None:
        if mode not in CLIP_MODES:
            raise ValueError(f"mode must be one of {CLIP_MODES}, got {mode!r}.")
        if not 0.0 <= gate_threshold <= 1.0:
            raise ValueError(f"gate_threshold must lie in [0, 1], got {gate_threshold}.")
        if temperature is not None and temperature <= 0:
            raise ValueError(
                f"temperature must be positive (or None for CLIP's own), got {temperature}."
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.smoke_prompts = _check_prompts(smoke_prompts, "smoke_prompts")
        self.background_prompts = _check_prompts(background_prompts, "background_prompts")
        self.model_name = model_name
        self.pretrained = pretrained
        self.weights_path = None if weights_path is None else str(weights_path)
        self.mode = mode
        self.gate_threshold = float(gate_threshold)
        self.temperature = temperature
        self.batch_size = int(batch_size)
        self.device = get_device(device)

        self.model = _load_clip(model_name, pretrained, self.weights_path, self.device)
        visual = self.model.visual
        if not (hasattr(visual, "forward_intermediates") and getattr(visual, "proj", None)
                is not None and hasattr(visual, "ln_post")):
            raise ValueError(
                f"open_clip model {model_name!r} has no ViT patch tokens with a projection "
                "(timm or ResNet image towers are not supported); use a ViT model such as "
                "'ViT-B-32' or 'ViT-B-16'."
            )
        preprocess = getattr(visual, "preprocess_cfg", {})
        self._input_size = tuple(int(s) for s in np.broadcast_to(visual.image_size, (2,)))
        self._mean = torch.tensor(preprocess["mean"], device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(preprocess["std"], device=self.device).view(1, 3, 1, 1)
        self._text_features = self._encode_prompts()

    def params(self) -> dict[str, Any]:
        """Settings as a JSON-able dict (the weights file by path, not content)."""
        return {
            "model_name": self.model_name,
            "pretrained": self.pretrained,
            "weights_path": self.weights_path,
            "smoke_prompts": list(self.smoke_prompts),
            "background_prompts": list(self.background_prompts),
            "mode": self.mode,
            "gate_threshold": self.gate_threshold,
            "temperature": self.temperature,
        }

    @torch.no_grad()
    def _encode_prompts(self) -> Tensor:
        """Unit-norm text embeddings ``[P, D]``, smoke prompts first."""
        import open_clip

        tokenizer = open_clip.get_tokenizer(self.model_name)
        tokens = tokenizer(list(self.smoke_prompts) + list(self.background_prompts))
        return self.model.encode_text(tokens.to(self.device), normalize=True).float()

    @torch.no_grad()
    def patch_embeddings(self, images: Tensor | np.ndarray) -> Tensor:
        """CLIP patch tokens projected into the joint space, unit norm.

        Args:
            images: float ``[B, 3, H, W]`` ImageNet-normalised or uint8 ``[B, H, W, 3]``.

        Returns:
            float ``[B, gh, gw, D]`` (``gh = input_size / patch_size``, 7 for ViT-B/32).
        """
        rgb = images_to_rgb_float(images, device=self.device)
        chunks = []
        for start in range(0, rgb.shape[0], self.batch_size):
            x = F.interpolate(rgb[start:start + self.batch_size], size=self._input_size,
                              mode="bilinear", align_corners=False, antialias=True)
            x = (x - self._mean) / self._std
            out = self.model.visual.forward_intermediates(
                x, indices=1, normalize_intermediates=True, intermediates_only=True,
                output_fmt="NCHW",
            )
            tokens = out["image_intermediates"][-1].permute(0, 2, 3, 1)  # [b, gh, gw, width]
            chunks.append(F.normalize((tokens @ self.model.visual.proj).float(), dim=-1))
        return torch.cat(chunks)

    @torch.no_grad()
    def smoke_probability(self, images: Tensor | np.ndarray) -> Tensor:
        """Per-patch probability that CLIP prefers a smoke prompt, at patch resolution.

        Args:
            images: float ``[B, 3, H, W]`` ImageNet-normalised or uint8 ``[B, H, W, 3]``.

        Returns:
            float ``[B, gh, gw]`` in ``[0, 1]``.
        """
        patches = self.patch_embeddings(images)
        scale = (self.model.logit_scale.exp().float() if self.temperature is None
                 else torch.tensor(1.0 / self.temperature, device=self.device))
        probs = (scale * patches @ self._text_features.T).softmax(dim=-1)
        return probs[..., : len(self.smoke_prompts)].sum(dim=-1).clamp(0.0, 1.0)

    def refine(self, cam: Tensor, images: Tensor | np.ndarray) -> Tensor:
        """Combine ``cam`` float ``[B, H, W]`` with CLIP's upsampled smoke probability."""
        p_smoke = self.smoke_probability(images)
        p_smoke = F.interpolate(p_smoke[:, None], size=cam.shape[-2:], mode="bilinear",
                                align_corners=False)[:, 0].to(cam.device, cam.dtype)
        if self.mode == "multiply":
            return cam * p_smoke
        if self.mode == "mean":
            return 0.5 * (cam + p_smoke)
        return cam * (p_smoke >= self.gate_threshold).to(cam.dtype)


def _check_prompts(prompts: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(prompts, str):
        raise ValueError(f"{what} must be a list of strings, got the single string {prompts!r}; "
                         f"wrap it in a list.")
    prompts = tuple(prompts)
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError(f"{what} must be a non-empty list of non-empty strings, got {prompts!r}.")
    return prompts


def _load_clip(
    model_name: str, pretrained: str | None, weights_path: str | None, device: torch.device
) -> nn.Module:
    """Build the open_clip model with its weights (local file, cache, or download)."""
    import open_clip

    known_tags = open_clip.list_pretrained_tags_by_model(model_name)
    if pretrained and known_tags and pretrained not in known_tags:
        raise ValueError(
            f"pretrained={pretrained!r} is not an open_clip tag of {model_name!r}; use one of "
            f"{known_tags} (or None for a file whose origin has no tag)."
        )
    source = resolve_clip_weights(model_name, pretrained, weights_path)
    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained) if pretrained else {}
    force_preprocess = None
    if tag_cfg and os.path.isfile(source):
        # A local file skips open_clip's tag handling: apply the tag's normalisation ourselves.
        force_preprocess = {"mean": tag_cfg["mean"], "std": tag_cfg["std"]}
    try:
        model = open_clip.create_model(
            model_name,
            pretrained=source,
            device=device,
            force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
            force_preprocess_cfg=force_preprocess,
            require_pretrained=True,
            weights_only=True,
        )
    except RuntimeError as err:
        if not os.path.isfile(source):
            raise
        raise RuntimeError(
            f"Could not load CLIP weights from {source} into {model_name!r}: {err}. The file "
            "must be an open_clip state dict for this architecture (.safetensors/.bin/.pt); "
            "OpenAI's original TorchScript .pt files cannot be loaded pickle-free, so use "
            "open_clip_model.safetensors from the model's Hugging Face repo instead."
        ) from err
    return model.eval().requires_grad_(False)
