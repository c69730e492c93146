"""SAM-enhanced refinement: grow the CAM seed with Segment Anything masks that agree with it.

Recipe (arXiv 2507.21959, the best refinement in the paper):

1. Binarise the CAM: ``seed = cam > seed_threshold`` (paper pseudo-mask threshold 0.3).
2. Ask a mask proposer for class-agnostic masks of the image -- by default SAM's automatic mask
   generator (a grid of point prompts).
3. Keep a proposal if it overlaps the seed enough:

   - ``IoU(mask, seed) > iou_threshold`` (paper: 0.4), the rule of the paper; or, when
     ``min_overlap`` is set, also if at least that fraction of the mask lies inside the seed
     (``|mask & seed| / |mask| >= min_overlap``). IoU alone rejects masks that cover only part
     of a large seed (IoU is bounded by the mask's share of the seed); the overlap rule keeps
     such parts, at the risk of keeping large masks that merely contain the seed.

4. Output ``1`` on ``seed | union(kept masks)`` and the CAM elsewhere: float ``[B, H, W]``.

SAM snaps the pseudo-mask to object boundaries that the blurry, low-resolution CAM misses; it
cannot add regions the CAM did not touch at all.

Weights: a local ``sam_vit_*.pth`` checkpoint (segment-anything has no downloader; see
:mod:`wsss_lib.postprocess.weights`), loaded with ``torch.load(..., weights_only=True)``. Any
other proposer -- a callable ``image uint8 [H, W, 3] -> list of bool [H, W] masks`` (or of SAM's
record dicts with a ``"segmentation"`` key), or an object with such a ``generate`` method -- can
be passed as ``mask_generator=`` instead, which is how the union logic is tested without SAM.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from wsss_lib.postprocess.base import RefinementStep, images_to_rgb_uint8
from wsss_lib.postprocess.weights import resolve_sam_checkpoint
from wsss_lib.utils import get_device

__all__ = [
    "SAM_ARCHITECTURES",
    "SamArchitecture",
    "SamRefiner",
    "build_sam",
    "union_overlapping_masks",
]

MaskProposals = Callable[[np.ndarray], Sequence[Any]]


@dataclass(frozen=True)
class SamArchitecture:
    """Hyper-parameters of a SAM model (those of segment_anything's ``build_sam.py``).

    The official checkpoints use the entries of :data:`SAM_ARCHITECTURES`; tests build tiny
    variants (small width, depth, image size) to run the real code path in seconds.
    """

    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_global_attn_indexes: tuple[int, ...]
    image_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    prompt_embed_dim: int = 256
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_hidden_dim: int = 256


SAM_ARCHITECTURES: dict[str, SamArchitecture] = {
    "vit_b": SamArchitecture(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamArchitecture(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamArchitecture(1280, 32, 16, (7, 15, 23, 31)),
}


def build_sam(
    architecture: SamArchitecture,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
) -> nn.Module:
    """Build a segment_anything ``Sam`` model and load a checkpoint pickle-free.

    Mirrors ``segment_anything.build_sam._build_sam`` for any :class:`SamArchitecture`, but loads
    with ``torch.load(..., weights_only=True)``.

    Args:
        architecture: model hyper-parameters.
        checkpoint: state-dict file; ``None`` keeps the random initialisation.
        device: where the model goes (default :func:`wsss_lib.utils.get_device`).

    Returns:
        ``segment_anything.modeling.Sam`` in eval mode.

    Raises:
        RuntimeError: the checkpoint does not fit the architecture (message names both).
    """
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    arch = architecture
    grid = arch.image_size // arch.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=arch.encoder_depth,
            embed_dim=arch.encoder_embed_dim,
            img_size=arch.image_size,
            mlp_ratio=4,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            num_heads=arch.encoder_num_heads,
            patch_size=arch.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=arch.encoder_global_attn_indexes,
            window_size=arch.window_size,
            out_chans=arch.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=arch.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(arch.image_size, arch.image_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2,
                embedding_dim=arch.prompt_embed_dim,
                mlp_dim=arch.decoder_mlp_dim,
                num_heads=arch.decoder_num_heads,
            ),
            transformer_dim=arch.prompt_embed_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=arch.iou_head_hidden_dim,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        try:
            sam.load_state_dict(state)
        except RuntimeError as err:
            raise RuntimeError(
                f"SAM checkpoint {checkpoint} does not match the architecture {arch}; pick the "
                f"model_type the file was trained as (vit_b / vit_l / vit_h). {err}"
            ) from err
    return sam.to(get_device(device)).eval().requires_grad_(False)


def union_overlapping_masks(
    seed: np.ndarray,
    masks: np.ndarray,
    iou_threshold: float = 0.4,
    min_overlap: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Union of ``seed`` and the proposal masks that overlap it enough.

    Args:
        seed: bool ``[H, W]``, the binarised CAM.
        masks: bool ``[M, H, W]`` proposals (``M`` may be 0).
        iou_threshold: keep masks with ``IoU(mask, seed) > iou_threshold``.
        min_overlap: if set, also keep masks with ``|mask & seed| / |mask| >= min_overlap``.

    Returns:
        ``(union bool [H, W], kept bool [M])``. An empty seed keeps nothing.
    """
    seed = np.asarray(seed, dtype=bool)
    masks = np.asarray(masks, dtype=bool).reshape(-1, *seed.shape)
    inter = (masks & seed).sum(axis=(1, 2))
    area = masks.sum(axis=(1, 2))
    union_area = area + seed.sum() - inter
    iou = inter / np.maximum(union_area, 1)
    kept = (iou > iou_threshold) & (inter > 0)
    if min_overlap is not None:
        kept |= (inter / np.maximum(area, 1) >= min_overlap) & (inter > 0)
    return seed | masks[kept].any(axis=0), kept


class SamRefiner(RefinementStep):
    """Union the CAM seed with the SAM masks that overlap it (IoU > 0.4).

    Args:
        checkpoint: local SAM checkpoint; ``None`` looks for the official file in
            ``<cache>/weights`` (see :func:`wsss_lib.postprocess.weights.resolve_sam_checkpoint`).
        model_type: ``"vit_b"`` (paper), ``"vit_l"`` or ``"vit_h"``.
        mask_generator: use this proposer instead of SAM (then no checkpoint is loaded): a
            callable ``image uint8 [H, W, 3] -> masks`` or an object with ``generate(image)``;
            masks are bool ``[H, W]`` arrays or dicts with a ``"segmentation"`` entry.
        architecture: build SAM with these hyper-parameters instead of ``model_type``'s (for
            custom or tiny test models); needs ``checkpoint``.
        seed_threshold: CAM value above which a pixel belongs to the seed.
        iou_threshold: keep proposals with IoU above this with the seed.
        min_overlap: also keep proposals lying at least this fraction inside the seed (``None``:
            IoU rule only, as in the paper).
        generator_kwargs: arguments of ``SamAutomaticMaskGenerator``. Default
            ``points_per_side=16`` (256 point prompts; SAM's 32 costs 4x more and rarely finds
            more objects in 96-512 px images); everything else is SAM's default.
        device: where SAM runs (default :func:`wsss_lib.utils.get_device`).

    Raises:
        WeightsUnavailableError: no checkpoint given or found (message has the download URL).
        FileNotFoundError: ``checkpoint`` does not exist.
        ValueError: bad thresholds, unknown ``model_type``, both ``mask_generator`` and
            ``checkpoint``, or ``architecture`` without ``checkpoint``.
    """

    name = "sam"

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        model_type: str = "vit_b",
        mask_generator: MaskProposals | Any | None = None,
        architecture: SamArchitecture | None = None,
        seed_threshold: float = 0.3,
        iou_threshold: float = 0.4,
        min_overlap: float | None = None,
        generator_kwargs: Mapping[str, Any] | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        for label, value in (("seed_threshold", seed_threshold), ("iou_threshold", iou_threshold),
                             ("min_overlap", min_overlap)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{label} must lie in [0, 1], got {value}.")
        if mask_generator is not None and checkpoint is not None:
            raise ValueError(
                "Pass either mask_generator= (a ready proposer) or checkpoint= (to build SAM), "
                "not both."
            )
        if architecture is None and model_type not in SAM_ARCHITECTURES:
            raise ValueError(
                f"Unknown SAM model_type {model_type!r}; use one of {sorted(SAM_ARCHITECTURES)} "
                "or pass architecture=SamArchitecture(...)."
            )
        self.model_type = model_type
        self.architecture = architecture
        self.seed_threshold = float(seed_threshold)
        self.iou_threshold = float(iou_threshold)
        self.min_overlap = None if min_overlap is None else float(min_overlap)
        self.generator_kwargs = {"points_per_side": 16, **(generator_kwargs or {})}
        self.device = get_device(device)
        self.checkpoint: str | None = None
        self.sam: nn.Module | None = None
        self.last_stats: list[dict[str, int]] = []
        if mask_generator is not None:
            self._propose = _as_proposer(mask_generator)
            self._proposer_name = getattr(mask_generator, "name", type(mask_generator).__name__)
            return
        if architecture is not None and checkpoint is None:
            raise ValueError(
                "architecture= needs checkpoint= (a state-dict file for that architecture); "
                "a randomly initialised SAM would give meaningless masks."
            )
        self.checkpoint = str(resolve_sam_checkpoint(model_type, checkpoint))
        from segment_anything import SamAutomaticMaskGenerator

        self.sam = build_sam(architecture or SAM_ARCHITECTURES[model_type], self.checkpoint,
                             self.device)
        self._propose = _as_proposer(SamAutomaticMaskGenerator(self.sam, **self.generator_kwargs))
        self._proposer_name = "sam"

    def params(self) -> dict[str, Any]:
        """Settings as a JSON-able dict."""
        return {
            "proposer": self._proposer_name,
            "model_type": self.model_type if self.architecture is None else "custom",
            "architecture": None if self.architecture is None else asdict(self.architecture),
            "checkpoint": self.checkpoint,
            "seed_threshold": self.seed_threshold,
            "iou_threshold": self.iou_threshold,
            "min_overlap": self.min_overlap,
            "generator_kwargs": dict(self.generator_kwargs) if self.sam is not None else None,
        }

    def proposals(self, image: np.ndarray) -> np.ndarray:
        """Class-agnostic masks of one image.

        Args:
            image: uint8 ``[H, W, 3]`` RGB.

        Returns:
            bool ``[M, H, W]``.
        """
        height, width = image.shape[:2]
        masks = [np.asarray(m["segmentation"] if isinstance(m, Mapping) else m, dtype=bool)
                 for m in self._propose(image)]
        for mask in masks:
            if mask.shape != (height, width):
                raise ValueError(
                    f"The mask generator returned a mask of shape {mask.shape} for a "
                    f"{height}x{width} image; proposals must be bool [H, W] at the image size."
                )
        return np.stack(masks) if masks else np.zeros((0, height, width), dtype=bool)

    def refine(self, cam: Tensor, images: Tensor | np.ndarray) -> Tensor:
        """``1`` on the seed grown by the kept proposals, the CAM elsewhere; ``[B, H, W]``."""
        rgb = images_to_rgb_uint8(images, device="cpu").numpy()
        seeds = (cam > self.seed_threshold).cpu().numpy()
        grown = np.zeros_like(seeds)
        self.last_stats = []
        for b in range(cam.shape[0]):
            masks = self.proposals(np.ascontiguousarray(rgb[b]))
            grown[b], kept = union_overlapping_masks(seeds[b], masks, self.iou_threshold,
                                                     self.min_overlap)
            self.last_stats.append({"proposals": len(masks), "kept": int(kept.sum())})
        grown_t = torch.from_numpy(grown).to(cam.device)
        return torch.where(grown_t, torch.ones_like(cam), cam)


def _as_proposer(generator: Any) -> MaskProposals:
    """Turn a SAM-style object with ``generate`` or a plain callable into a callable."""
    if hasattr(generator, "generate") and callable(generator.generate):
        return generator.generate
    if callable(generator):
        return generator
    raise ValueError(
        f"mask_generator must be callable (image -> masks) or have a generate(image) method; got "
        f"{type(generator).__name__}."
    )
