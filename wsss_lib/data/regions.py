"""Where in a synthetic scene a pixel lies, for locating false positives: sky, clouds and haze,
chimney, or ground and buildings."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["REGIONS", "region_masks"]

#: Image regions of the false-positive breakdown, in plotting order.
REGIONS: tuple[str, ...] = ("sky", "cloud/haze", "chimney", "ground/buildings")


def region_masks(scenes: Any) -> dict[str, np.ndarray]:
    """Disjoint non-smoke regions of each scene, for locating false positives.

    ``"cloud/haze"`` and ``"chimney"`` are the scenes' masks; ``"sky"`` is everything above the
    horizon row (``params["horizon"]``) not in another mask (it includes the thin skyline of
    distant buildings); ``"ground/buildings"`` is the rest. Smoke pixels are in none of them.

    Returns:
        Region name (:data:`REGIONS`) -> bool ``[N, H, W]``.
    """
    if scenes.smoke_masks is None or scenes.chimney_masks is None:
        raise ValueError("region_masks needs synthetic scenes with smoke and chimney masks.")
    n, height, width = scenes.smoke_masks.shape
    smoke = scenes.smoke_masks.astype(bool)
    chimney = scenes.chimney_masks.astype(bool) & ~smoke
    if scenes.distractor_masks is not None:
        cloud = scenes.distractor_masks.astype(bool) & ~smoke & ~chimney
    else:
        cloud = np.zeros_like(smoke)
    rows = np.arange(height)[None, :, None]
    horizon = np.array([float(p.get("horizon", height)) for p in scenes.params])[:, None, None]
    above = np.broadcast_to(rows < horizon, (n, height, width))
    sky = above & ~smoke & ~chimney & ~cloud
    ground = ~(smoke | chimney | cloud | sky)
    return {"sky": sky, "cloud/haze": cloud, "chimney": chimney, "ground/buildings": ground}
