"""One classifier interface over timm CNNs and ViTs: logits, feature maps, CAM scores in one pass.

Both families run timm's ``forward_intermediates`` once and then their head, so the logits, the
last feature map, the score map (the head applied at every location = the raw CAM) and any
requested intermediate layers all come from the same forward pass and the same autograd graph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from wsss_lib.models.pcm import PixelCorrelationModule

__all__ = [
    "ClassifierOutput",
    "CnnClassifier",
    "VitClassifier",
    "WSSSClassifier",
    "check_images",
]

LayerSpec = int | str
# CNN layers whose features feed SEAM's PCM (SEAM taps the two stages before the last).
PCM_LAYERS = ("layer2", "layer3")


def check_images(images: Tensor) -> None:
    """Raise a ValueError unless ``images`` is a float ``[B, 3, H, W]`` tensor."""
    ok = isinstance(images, Tensor) and images.dim() == 4 and images.shape[1] == 3
    if not (ok and images.is_floating_point()):
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(
            f"Expected float images [B, 3, H, W], got {shape}; convert uint8 [N, H, W, 3] arrays "
            "with wsss_lib.data.to_tensor_batch."
        )


@dataclass
class ClassifierOutput:
    """What one forward pass of a :class:`WSSSClassifier` returns.

    Attributes:
        logits: float ``[B, K]`` (one sigmoid logit per class; K=1: smoke).
        feature_map: float ``[B, C, h, w]`` last backbone features (ViT: final-normed patch tokens).
        score_map: float ``[B, K, h, w]`` head applied at every location (raw CAM), PCM-refined
            when the model has a PCM.
        features: Layer name -> float ``[B, C_l, h_l, w_l]`` for the requested layers.
        aux_logits: PCM models only: float ``[B, K]`` global average of the unrefined score map.
        raw_score_map: PCM models only: float ``[B, K, h, w]`` the unrefined score map.
    """

    logits: Tensor
    feature_map: Tensor
    score_map: Tensor
    features: dict[str, Tensor] = field(default_factory=dict)
    aux_logits: Tensor | None = None
    raw_score_map: Tensor | None = None


class WSSSClassifier(nn.Module):
    """Common interface of the CNN and ViT classifiers (build them with ``build_classifier``).

    Attributes:
        family: ``"cnn"`` or ``"vit"``.
        name: Name the model was built with (short or timm name).
        timm_name: The timm architecture name.
        num_classes: Number of sigmoid logits K.
        embed_dim: Channels C of ``feature_map``.
        layer_names: Names accepted in ``forward(layers=...)``.
        backbone: The timm model.
        build_args: Keyword arguments that rebuild this architecture with ``build_classifier``.
    """

    family: str = ""

    def __init__(self, backbone: nn.Module, *, name: str, timm_name: str, num_classes: int,
                 embed_dim: int, layer_names: list[str]) -> None:
        super().__init__()
        self.backbone = backbone
        self.name = name
        self.timm_name = timm_name
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.layer_names = layer_names
        self.build_args: dict[str, Any] = {}

    def resolve_layers(self, layers: LayerSpec | Sequence[LayerSpec]) -> list[str]:
        """Turn layer indices (negative counts from the end) and names into canonical names.

        ``"blocks.-1"`` is accepted too. Duplicates are dropped, order is kept.

        Raises:
            ValueError: an unknown name or out-of-range index, listing the valid ones.
        """
        if isinstance(layers, (int, str)):
            layers = [layers]
        names: list[str] = []
        for layer in layers:
            name = self._resolve_one(layer)
            if name not in names:
                names.append(name)
        return names

    def _resolve_one(self, layer: LayerSpec) -> str:
        if isinstance(layer, str) and layer in self.layer_names:
            return layer
        if isinstance(layer, bool) or not isinstance(layer, (int, str)):
            raise ValueError(f"Layer {layer!r} must be an int index or a name: {self._valid()}.")
        index = layer
        if isinstance(layer, str):
            match = re.fullmatch(r"blocks\.(-\d+)", layer) if self.family == "vit" else None
            if match is None:
                raise ValueError(f"Unknown layer {layer!r} of {self.name}; valid: {self._valid()}.")
            index = int(match.group(1))
        count = len(self.layer_names)
        if not -count <= index < count:
            raise ValueError(
                f"Layer index {index} is out of range for {self.name} ({count} layers: "
                f"{-count}..{count - 1}); valid names: {self._valid()}."
            )
        return self.layer_names[index]

    def _valid(self) -> str:
        names = self.layer_names
        shown = names if len(names) <= 6 else [*names[:3], "...", *names[-2:]]
        return ", ".join(shown) + " (or int indices, negative from the end)"

    def resolve_module(self, name: LayerSpec) -> tuple[str, nn.Module]:
        """Find a layer or a sub-module of one, e.g. ``"layer4"``, ``"blocks.-1.norm1"``.

        Returns:
            ``(canonical name, module)``, the module living inside ``self.backbone``.

        Raises:
            ValueError: unknown layer or sub-module, listing what exists.
        """
        if isinstance(name, int) or name in self.layer_names:
            layer = self.resolve_layers(name)[0]
            return layer, self.backbone.get_submodule(layer)
        depth = 2 if self.family == "vit" else 1  # "blocks.3" vs "layer4"
        parts = str(name).split(".")
        layer = self.resolve_layers(".".join(parts[:depth]))[0]
        sub = ".".join(parts[depth:])
        parent = self.backbone.get_submodule(layer)
        if not sub:
            return layer, parent
        try:
            return f"{layer}.{sub}", parent.get_submodule(sub)
        except AttributeError:
            children = [child for child, _ in parent.named_children()]
            raise ValueError(
                f"{layer} of {self.name} has no sub-module {sub!r}; its children are {children}."
            ) from None

    def to_grid(self, activation: Tensor, image_size: tuple[int, int]) -> Tensor:
        """A layer's output as an NCHW grid ``[B, C, h, w]`` (ViT tokens are reshaped)."""
        if activation.dim() != 4:
            raise ValueError(f"Expected a [B, C, h, w] activation, got {tuple(activation.shape)}.")
        return activation

    def grid_extent(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Size ``(H', W')`` of the image area the feature grid covers (``>= image_size``).

        ViTs pad inputs to whole patches, so their grid covers a slightly larger area than the
        image; a CAM is aligned by upsampling to this extent and cropping (see
        ``wsss_lib.cam.upsample_cam``). CNNs: the image size itself.
        """
        return (int(image_size[0]), int(image_size[1]))

    def classification_loss(self, output: ClassifierOutput, labels: Tensor) -> Tensor:
        """Image-label BCE of ``output.logits`` (+ that of ``aux_logits`` for PCM models).

        Args:
            output: This model's output for the batch.
            labels: float ``[B]`` (K=1) or ``[B, K]`` targets in {0, 1}.
        """
        labels = labels.float().reshape(output.logits.shape)
        loss = F.binary_cross_entropy_with_logits(output.logits, labels)
        if output.aux_logits is not None:
            loss = loss + F.binary_cross_entropy_with_logits(output.aux_logits, labels)
        return loss

    def forward(self, x: Tensor, layers: LayerSpec | Sequence[LayerSpec] = ()) -> ClassifierOutput:
        """Run the classifier once on images ``x`` float ``[B, 3, H, W]``."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"family={self.family!r}, name={self.name!r}, num_classes={self.num_classes}"



class CnnClassifier(WSSSClassifier):
    """timm ResNet backbone + 1x1-conv classifier; logits = global average of the score map.

    Because the head is linear, averaging the score map equals applying a linear layer to the
    averaged features: the CAM is exactly the map the logits are computed from.
    """

    family = "cnn"

    def __init__(self, backbone: nn.Module, *, name: str, timm_name: str, num_classes: int,
                 pcm: bool = False) -> None:
        channels = {info["module"]: info["num_chs"] for info in backbone.feature_info}
        super().__init__(backbone, name=name, timm_name=timm_name, num_classes=num_classes,
                         embed_dim=backbone.num_features,
                         layer_names=["layer1", "layer2", "layer3", "layer4"])
        self.classifier = nn.Conv2d(self.embed_dim, num_classes, kernel_size=1)
        self.pcm = PixelCorrelationModule([channels[n] for n in PCM_LAYERS]) if pcm else None

    def forward(self, x: Tensor, layers: LayerSpec | Sequence[LayerSpec] = ()) -> ClassifierOutput:
        """See :class:`ClassifierOutput`; ``layers`` from ``layer1..layer4``."""
        check_images(x)
        names = self.resolve_layers(layers)
        needed = set(names) | (set(PCM_LAYERS) if self.pcm is not None else set())
        # timm's feature index 0 is the stem, 1..4 are layer1..layer4; it returns them in order.
        indices = sorted(self.layer_names.index(n) + 1 for n in needed) or [4]
        final, intermediates = self.backbone.forward_intermediates(
            x, indices=indices, output_fmt="NCHW", intermediates_only=False
        )
        taken = {self.layer_names[i - 1]: f for i, f in zip(indices, intermediates, strict=True)}
        raw = self.classifier(final)
        out = ClassifierOutput(
            logits=raw.mean(dim=(2, 3)),
            feature_map=final,
            score_map=raw,
            features={n: taken[n] for n in names},
        )
        if self.pcm is not None:
            refined = self.pcm(raw, x, [taken[n] for n in PCM_LAYERS])
            out.aux_logits, out.raw_score_map = out.logits, raw
            out.logits, out.score_map = refined.mean(dim=(2, 3)), refined
        return out


class VitClassifier(WSSSClassifier):
    """timm VisionTransformer; linear head on the class token (the paper's student) or on the
    average of the patch tokens (``pool="avg"``, built without a class token).

    The score map applies the same head to every final-normed patch token (the ViT CAM). With the
    class token the head is trained only on that token, so the patch scores are a by-product and
    a gradient-based CAM reads such a ViT better; with ``pool="avg"`` the logit is the mean of the
    score map, exactly as in :class:`CnnClassifier`.
    """

    family = "vit"

    def __init__(self, backbone: nn.Module, *, name: str, timm_name: str, num_classes: int) -> None:
        super().__init__(backbone, name=name, timm_name=timm_name, num_classes=num_classes,
                         embed_dim=backbone.embed_dim,
                         layer_names=[f"blocks.{i}" for i in range(len(backbone.blocks))])
        self.num_prefix_tokens = backbone.num_prefix_tokens

    def grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Patch grid ``(h, w)`` for ``image_size`` ``(H, W)`` inputs padded to whole patches."""
        height, width = self.backbone.patch_embed.dynamic_feat_size(tuple(image_size))
        return (int(height), int(width))

    def grid_extent(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Padded image size ``(h * patch, w * patch)`` the patch grid covers."""
        height, width = self.grid_size(image_size)
        patch_h, patch_w = self.backbone.patch_embed.patch_size
        return (height * patch_h, width * patch_w)

    def to_grid(self, activation: Tensor, image_size: tuple[int, int]) -> Tensor:
        """Tokens ``[B, N, C]`` (prefix tokens first) -> patch grid ``[B, C, h, w]``."""
        if activation.dim() == 4:
            return activation
        height, width = self.grid_size(image_size)
        tokens = activation[:, self.num_prefix_tokens:]
        if tokens.dim() != 3 or tokens.shape[1] != height * width:
            raise ValueError(
                f"Cannot reshape activation {tuple(activation.shape)} to a {height}x{width} grid: "
                f"{tuple(image_size)} images, {self.num_prefix_tokens} prefix tokens; pass the "
                "size of the images the activation was computed from."
            )
        return tokens.reshape(tokens.shape[0], height, width, -1).permute(0, 3, 1, 2).contiguous()

    def forward(self, x: Tensor, layers: LayerSpec | Sequence[LayerSpec] = ()) -> ClassifierOutput:
        """See :class:`ClassifierOutput`; ``layers`` from ``blocks.0..blocks.{depth-1}``.

        ``features`` hold each block's raw output tokens (before the final norm) as a grid.
        """
        check_images(x)
        image_size = (x.shape[-2], x.shape[-1])
        names = self.resolve_layers(layers)
        indices = sorted(self.layer_names.index(n) for n in names) or [len(self.layer_names) - 1]
        final, intermediates = self.backbone.forward_intermediates(
            x, indices=indices, output_fmt="NCHW", norm=False, intermediates_only=False
        )
        taken = {self.layer_names[i]: feat for i, feat in zip(indices, intermediates, strict=True)}
        logits = self.backbone.forward_head(final)
        patch_scores = self.backbone.head(self.backbone.fc_norm(final))
        return ClassifierOutput(
            logits=logits,
            feature_map=self.to_grid(final, image_size),
            score_map=self.to_grid(patch_scores, image_size),
            features={n: taken[n] for n in names},
        )
