"""The sky layer: its palettes (clear, overcast, dusk) and its rendering, a vertical gradient with
faint large-scale noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SKIES = {  # name: (probability, top colour, horizon colour)
    "clear": (0.45, (0.30, 0.50, 0.80), (0.72, 0.82, 0.92)),
    "overcast": (0.35, (0.55, 0.58, 0.62), (0.80, 0.81, 0.82)),
    "dusk": (0.20, (0.35, 0.40, 0.60), (0.92, 0.72, 0.55)),
}


def _render_sky(params: dict[str, Any], size: int, low_noise: np.ndarray) -> np.ndarray:
    rows = (np.arange(size, dtype=np.float32) + 0.5) / max(params["horizon"], 1.0)
    t = np.clip(rows, 0.0, 1.0) ** 1.5
    top, bottom = (
        np.array(params["sky"]["top"], np.float32),
        np.array(params["sky"]["horizon"], np.float32),
    )
    gradient = top[None, :] * (1 - t[:, None]) + bottom[None, :] * t[:, None]
    image = np.broadcast_to(gradient[:, None, :], (size, size, 3)).copy()
    image += 0.012 * low_noise[..., None]
    return image
