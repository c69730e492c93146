"""What the generator takes: :class:`SceneConfig` (its checks included), the generator's version
(part of every cache key) and the limits every scene respects (mask threshold, minimum opacity
and image size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Part of every cache key: bump it whenever the generator draws different pixels for a config.
GENERATOR_VERSION = "1.0"


#: A pixel belongs to a layer's mask when the layer's opacity there is at least this value.
MASK_ALPHA_THRESHOLD = 0.1


#: Smallest allowed plume peak opacity: fainter plumes would have (almost) no mask pixels.
MIN_OPACITY = 0.15


#: Smallest image side that still draws a recognisable chimney and plume.
MIN_IMAGE_SIZE = 32


_MAX_DISTRACTORS = 8


def _check_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"SceneConfig.{name} must be a probability in [0, 1]; got {value!r}.")
    return float(value)


def _as_pair(name: str, value: Any) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"SceneConfig.{name} must be a (min, max) pair; got {value!r}.")
    return value[0], value[1]


@dataclass(frozen=True)
class SceneConfig:
    """Everything that controls a synthetic dataset. Frozen; change it with ``dataclasses.replace``.

    Attributes:
        image_size: Side of the square images in pixels (at least ``MIN_IMAGE_SIZE``).
        n_images: Number of images.
        smoke_ratio: Fraction of smoke images (exactly ``round(n_images * smoke_ratio)``).
        p_chimney_given_smoke: Probability that a smoke image shows a chimney.
        p_chimney_given_clean: Probability that a clean image shows a chimney. Together with
            ``p_chimney_given_smoke`` this sets how strongly "chimney" predicts "smoke":
            0.95 / 0.05 is a strong shortcut, 0.5 / 0.5 makes chimneys uninformative, and
            0 / 1 reverses it.
        anchor_smoke_to_chimney: When True and a chimney is present, the plume rises from the
            chimney top; otherwise it starts at a ground-level vent or a mid-air source away
            from the chimney.
        opacity_range: ``(min, max)`` peak opacity of plumes, drawn uniformly per image;
            ``MIN_OPACITY <= min <= max <= 1``.
        n_distractors: ``(min, max)`` number of clouds / haze banks per image (both classes).
        seed: Seed of the whole set; the same config always gives the same images.
    """

    image_size: int = 96
    n_images: int = 512
    smoke_ratio: float = 0.5
    p_chimney_given_smoke: float = 0.95
    p_chimney_given_clean: float = 0.1
    anchor_smoke_to_chimney: bool = True
    opacity_range: tuple[float, float] = (0.25, 0.9)
    n_distractors: tuple[int, int] = (0, 2)
    seed: int = 0

    def __post_init__(self) -> None:
        for name, minimum in (("image_size", MIN_IMAGE_SIZE), ("n_images", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"SceneConfig.{name} must be an integer; got {value!r}.")
            if value < minimum:
                hint = {
                    "image_size": " (smaller images cannot show a chimney and a plume; "
                    "generate at 32+ px and resize if you need tiny inputs)",
                    "n_images": "",
                    "seed": "",
                }[name]
                raise ValueError(f"SceneConfig.{name} must be >= {minimum}; got {value}{hint}.")
            object.__setattr__(self, name, int(value))
        for name in ("smoke_ratio", "p_chimney_given_smoke", "p_chimney_given_clean"):
            object.__setattr__(self, name, _check_probability(name, getattr(self, name)))
        if not isinstance(self.anchor_smoke_to_chimney, (bool, np.bool_)):
            raise ValueError(
                "SceneConfig.anchor_smoke_to_chimney must be True or False; "
                f"got {self.anchor_smoke_to_chimney!r}."
            )
        object.__setattr__(self, "anchor_smoke_to_chimney", bool(self.anchor_smoke_to_chimney))

        low, high = _as_pair("opacity_range", self.opacity_range)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
            raise ValueError(f"SceneConfig.opacity_range must hold numbers; got {(low, high)!r}.")
        if not MIN_OPACITY <= low <= high <= 1:
            raise ValueError(
                f"SceneConfig.opacity_range={(low, high)!r} is invalid: it needs "
                f"{MIN_OPACITY} <= min <= max <= 1 (plumes fainter than {MIN_OPACITY} would have "
                f"no pixels above the mask threshold {MASK_ALPHA_THRESHOLD})."
            )
        object.__setattr__(self, "opacity_range", (float(low), float(high)))

        low, high = _as_pair("n_distractors", self.n_distractors)
        if not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (low, high)
        ):
            raise ValueError(f"SceneConfig.n_distractors must hold integers; got {(low, high)!r}.")
        if not 0 <= low <= high <= _MAX_DISTRACTORS:
            raise ValueError(
                f"SceneConfig.n_distractors={(low, high)!r} is invalid: it needs "
                f"0 <= min <= max <= {_MAX_DISTRACTORS}."
            )
        object.__setattr__(self, "n_distractors", (int(low), int(high)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (tuples become lists)."""
        data = asdict(self)
        data["opacity_range"] = list(self.opacity_range)
        data["n_distractors"] = list(self.n_distractors)
        return data
