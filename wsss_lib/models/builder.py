"""``build_classifier``: one builder over timm for ResNets and class-token ViTs, plus export/import.

Defaults are sized for a CPU (small backbones, 96 px, timm's output stride 32, random init); the
paper's setting is a parameter away::

    build_classifier("resnet50", pcm=True, output_stride=16, img_size=512, pretrained=True)
    build_classifier("vit_base", patch_size=16, img_size=512, pretrained=True)
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import get_pretrained_cfg, model_entrypoint, split_model_name_tag

from wsss_lib.models.classifier import CnnClassifier, VitClassifier, WSSSClassifier
from wsss_lib.models.conv_stem import VIT_STEMS, ConvStemPatchEmbed
from wsss_lib.models.weights import (
    apply_state_dict,
    cached_hub_file,
    hub_is_reachable,
    read_state_dict,
    read_weights_file,
)
from wsss_lib.utils import atomic_write_bytes, get_device

__all__ = [
    "CLASSIFIER_FORMAT",
    "MINI_ARCHITECTURES",
    "MODEL_NAMES",
    "VIT_POOLS",
    "VIT_STEMS",
    "build_classifier",
    "load_classifier",
    "resolve_model_name",
    "save_classifier",
]

MODEL_NAMES = (
    "resnet_mini", "resnet18", "resnet34", "resnet50", "vit_mini", "vit_tiny", "vit_small",
    "vit_base",
)
#: Small from-scratch architectures for the CPU profiles: a timm architecture plus the arguments
#: that shrink it. ``resnet_mini`` is a one-block-per-stage ResNet of widths 32-64-128-128
#: (at ``output_stride=8`` a 64 px image gives an 8x8 CAM); ``vit_mini`` is a ViT of width 128,
#: depth 6 and 4 heads. Neither has timm pretrained weights.
MINI_ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    "resnet_mini": (
        "resnet18", {"layers": (1, 1, 1, 1), "channels": (32, 64, 128, 128), "stem_width": 32}
    ),
    "vit_mini": ("vit_tiny_patch16_224", {"embed_dim": 128, "depth": 6, "num_heads": 4}),
}
_SHORT_TO_TIMM = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "vit_tiny": "vit_tiny_patch16_224",
    "vit_small": "vit_small_patch16_224",
    "vit_base": "vit_base_patch16_224",
}
# timm module of an architecture -> our family. Other timm families have other interfaces.
_FAMILY_OF_MODULE = {"timm.models.resnet": "cnn", "timm.models.vision_transformer": "vit"}
CLASSIFIER_FORMAT = "wsss-lab-classifier/1"


def resolve_model_name(name: str) -> tuple[str, str]:
    """Map a short name (``MODEL_NAMES``) or a timm ResNet/ViT name to ``(timm_name, family)``.

    Raises:
        ValueError: unknown name or an unsupported timm family, listing the valid names.
    """
    if name in MINI_ARCHITECTURES:
        name = MINI_ARCHITECTURES[name][0]
    timm_name = _SHORT_TO_TIMM.get(name, name)
    hint = (
        f"Valid names: {', '.join(MODEL_NAMES)}, or a timm ResNet / class-token ViT name "
        "(see timm.list_models('resnet*') and timm.list_models('vit_*'))."
    )
    if not isinstance(name, str) or not timm.is_model(timm_name):
        raise ValueError(f"Unknown model {name!r}. {hint}")
    module = model_entrypoint(split_model_name_tag(timm_name)[0]).__module__
    if module not in _FAMILY_OF_MODULE:
        raise ValueError(f"Model {name!r} is a {module} architecture, not supported. {hint}")
    return timm_name, _FAMILY_OF_MODULE[module]


#: How a ViT turns its tokens into the image logit (``build_classifier(..., pool=...)``).
VIT_POOLS = ("token", "avg")


def _backbone_kwargs(family: str, name: str, *, img_size: int, patch_size: int | None,
                     output_stride: int | None, num_classes: int, pcm: bool,
                     pool: str | None, stem: str | None) -> dict[str, Any]:
    if family == "cnn":
        if patch_size is not None:
            raise ValueError(f"patch_size applies to ViTs only; {name} is a CNN: drop patch_size.")
        if pool is not None or stem is not None:
            raise ValueError(f"pool and stem apply to ViTs only; {name} is a CNN (it averages its "
                             "score map and has its own stem): drop them.")
        kwargs: dict[str, Any] = {"num_classes": 0, "global_pool": ""}  # our 1x1-conv head instead
        if output_stride is not None:
            if output_stride not in (8, 16, 32):
                raise ValueError(f"output_stride must be 8, 16 or 32 (paper: 16): {output_stride}")
            kwargs["output_stride"] = output_stride
        return kwargs
    if output_stride is not None:
        raise ValueError(f"output_stride applies to CNNs only; {name} is a ViT: use patch_size.")
    if pcm:
        raise ValueError(f"pcm=True is for CNNs (SEAM's PCM); {name} is a ViT: drop pcm.")
    # Any input size: position embeddings resampled to the grid, inputs padded to whole patches.
    kwargs = {"num_classes": num_classes, "img_size": img_size, "dynamic_img_size": True,
              "dynamic_img_pad": True}
    if pool is not None and pool not in VIT_POOLS:
        raise ValueError(f"pool must be one of {list(VIT_POOLS)} (ViT: class token or the average "
                         f"of the patch tokens' scores); got {pool!r}.")
    if pool == "avg":
        # No class token; every token final-normed, then averaged: since the head is linear, the
        # logit is exactly the mean of the score map, as in the CNN.
        kwargs.update(class_token=False, global_pool="avg", fc_norm=False)
    if stem is not None and stem not in VIT_STEMS:
        raise ValueError(f"stem must be one of {list(VIT_STEMS)} (ViT patch embedding: one linear "
                         f"map per patch, or a few 3x3 convolutions); got {stem!r}.")
    if stem == "conv":
        kwargs["embed_layer"] = ConvStemPatchEmbed
    if patch_size is not None:
        if not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f"patch_size must be a positive int (e.g. 8, 16), got {patch_size!r}.")
        kwargs["patch_size"] = patch_size
    return kwargs


def _pretrained_backbone(timm_name: str, kwargs: dict[str, Any]) -> torch.nn.Module:
    """timm's pretrained loading, failing fast (not hanging) when the hub cannot be reached."""
    cfg = get_pretrained_cfg(timm_name)
    cfg = cfg.to_dict() if cfg is not None else {}
    repo = cfg.get("hf_hub_id") or f"timm/{timm_name}"
    how_to = (
        f"download model.safetensors from https://huggingface.co/{repo} on a networked machine and "
        "pass build_classifier(..., weights_path='path/to/model.safetensors') without "
        "pretrained=True, or use pretrained=False"
    )
    if not cfg.get("hf_hub_id") and not cfg.get("url"):
        raise RuntimeError(f"timm has no pretrained weights for {timm_name}; use pretrained=False.")
    overlay = None
    cached = cached_hub_file(cfg)
    if cached is not None:
        overlay = {"file": str(cached)}  # already downloaded: no network needed
    elif not hub_is_reachable():
        raise RuntimeError(
            f"pretrained=True needs the {timm_name} weights from huggingface.co, which is not "
            f"reachable (offline, or HF_HUB_OFFLINE is set), and they are not in the local cache. "
            f"To fix: {how_to}."
        )
    try:
        return timm.create_model(
            timm_name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs
        )
    except Exception as err:
        raise RuntimeError(
            f"Loading pretrained weights for {timm_name} failed: {type(err).__name__}: {err}. "
            f"To fix: {how_to}."
        ) from err


def build_classifier(
    name: str,
    *,
    pretrained: bool = False,
    weights_path: str | os.PathLike[str] | None = None,
    pcm: bool = False,
    img_size: int = 96,
    patch_size: int | None = None,
    output_stride: int | None = None,
    num_classes: int = 1,
    pool: str | None = None,
    stem: str | None = None,
) -> WSSSClassifier:
    """Build a CNN or ViT classifier with the :class:`WSSSClassifier` interface.

    Args:
        name: One of ``MODEL_NAMES`` or a timm ResNet / class-token ViT name.
        pretrained: Load timm's ImageNet weights (needs huggingface.co or its local cache; fails
            fast offline with instructions).
        weights_path: Local ``.safetensors``/``.pth``/``.pt``/``.bin`` file: a timm backbone state
            dict or a wsss-lab classifier checkpoint. Exclusive with ``pretrained``.
        pcm: CNN only: add SEAM's pixel correlation module (see ``wsss_lib.models.pcm``).
        img_size: ViT only: size its position embeddings are made for (any input size works).
        patch_size: ViT only: patch size (default: the timm name's, 16 for the short names).
        output_stride: CNN only: 8, 16 (paper) or 32 (timm's default, fastest).
        num_classes: Number of sigmoid logits (1: smoke vs clean).
        pool: ViT only: ``"token"`` (default; the class token's output feeds the head, as in the
            paper's ViT-B) or ``"avg"`` (no class token; the head scores every patch token and
            the logit is the mean of those scores, so the score map is exactly the map the
            decision is made from, as in the CNN).
        stem: ViT only: ``"patch"`` (default; one linear map per patch, as timm and the paper) or
            ``"conv"`` (a few stride-2 3x3 convolutions, :mod:`wsss_lib.models.conv_stem`: much
            easier to train from scratch; no timm weights exist for it).

    Returns:
        The classifier on the CPU (move it with ``.to(wsss_lib.utils.get_device())``).
    """
    timm_name, family = resolve_model_name(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int (1: smoke/clean): {num_classes!r}")
    if isinstance(img_size, bool) or not isinstance(img_size, int) or img_size < 1:
        raise ValueError(f"img_size must be a positive int (pixels), got {img_size!r}.")
    if pretrained and weights_path is not None:
        raise ValueError(
            "Pass either pretrained=True (download) or weights_path= (local file), not both."
        )
    kwargs = _backbone_kwargs(family, name, img_size=img_size, patch_size=patch_size,
                              output_stride=output_stride, num_classes=num_classes, pcm=pcm,
                              pool=pool, stem=stem)
    if name in MINI_ARCHITECTURES:
        if pretrained:
            raise ValueError(
                f"{name} is a small from-scratch architecture of wsss-lab with no pretrained "
                "weights; use pretrained=False (or weights_path= a file of your own), or a timm "
                "model such as resnet50 / vit_base."
            )
        kwargs = {**MINI_ARCHITECTURES[name][1], **kwargs}
    if pretrained and stem == "conv":
        raise ValueError(
            "timm's pretrained ViT weights are for a patchify stem; stem='conv' starts from random "
            "weights. Use pretrained=False (or weights_path= a file of your own) with stem='conv', "
            "or the default stem with pretrained=True."
        )
    weights = read_state_dict(weights_path) if weights_path is not None else None  # fail early
    if pretrained:
        backbone = _pretrained_backbone(timm_name, kwargs)
    else:
        backbone = timm.create_model(timm_name, pretrained=False, **kwargs)
    if family == "cnn":
        model: WSSSClassifier = CnnClassifier(backbone, name=name, timm_name=timm_name,
                                              num_classes=num_classes, pcm=pcm)
    else:
        pooled = pool == "avg" and backbone.global_pool == "avg"
        has_token = getattr(backbone, "cls_token", None) is not None
        if not pooled and not (has_token and backbone.global_pool == "token"):
            raise ValueError(
                f"{name} pools without a class token (global_pool={backbone.global_pool!r}); "
                "the ViT classifier needs a class-token ViT such as vit_small_patch16_224."
            )
        model = VitClassifier(backbone, name=name, timm_name=timm_name, num_classes=num_classes)
    model.build_args = {
        "name": name,
        "pcm": pcm,
        "img_size": img_size,
        "patch_size": patch_size,
        "output_stride": output_stride,
        "num_classes": num_classes,
    }
    for key, value in (("pool", pool), ("stem", stem)):
        if value is not None:  # absent by default: build arguments of older files stay valid
            model.build_args[key] = value
    if weights is not None:
        apply_state_dict(model, *weights)
    return model


def save_classifier(model: WSSSClassifier, path: str | os.PathLike[str]) -> Path:
    """Write a classifier's build arguments and weights (atomically) for :func:`load_classifier`."""
    if not model.build_args:
        raise ValueError("This model has no build_args; build it with build_classifier().")
    payload = {
        "format": CLASSIFIER_FORMAT,
        "build_args_json": json.dumps(model.build_args, sort_keys=True),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_classifier(path: str | os.PathLike[str],
                    device: str | torch.device | None = None) -> WSSSClassifier:
    """Rebuild and load a classifier written by :func:`save_classifier`, in eval mode.

    Raises:
        FileNotFoundError: missing file. ValueError: not a file written by save_classifier.
    """
    payload = read_weights_file(path)
    if not isinstance(payload, dict) or payload.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(
            f"{path} was not written by wsss_lib.models.save_classifier; for other weight files "
            "use build_classifier(name, weights_path=path)."
        )
    model = build_classifier(**json.loads(payload["build_args_json"]))
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.to(get_device(device)).eval()
