"""Interactive CAM explorer for notebooks (JupyterLab, Voila).

Layers, from pure to interactive:

- :mod:`~wsss_lib.widgets.state`: :class:`ExplorerState` (what the user chose, immutable) and pure
  rules to change it and to find the panels a change invalidates;
- :mod:`~wsss_lib.widgets.catalog`: the trained models in the cache;
- :mod:`~wsss_lib.widgets.pipeline`: :class:`ExplorerData` (images, models, cached CAMs) and the
  per-image metrics;
- :mod:`~wsss_lib.widgets.render`: panels as arrays / PNG bytes, and a static figure;
- :mod:`~wsss_lib.widgets.explorer`: :class:`CamExplorer`, the thin ipywidgets layer.
"""

from wsss_lib.widgets.catalog import (
    NEAR_CHANCE_ACCURACY,
    CachedModel,
    ensure_cached,
    list_cached_models,
    load_cached_model,
    network_family,
    training_level,
    with_unique_labels,
)
from wsss_lib.widgets.explorer import (
    SCALE_CHOICES,
    CamExplorer,
    default_models,
    find_twin,
    first_informative_index,
    time_redraws,
    time_threshold_redraw,
)
from wsss_lib.widgets.pipeline import (
    POSTPROCESS_STEPS,
    ExplorerData,
    ImageRecord,
    SlotCam,
    chimney_sentence,
    format_metrics,
    image_metrics,
    layer_choices,
    layers_for_model,
    read_image,
)
from wsss_lib.widgets.render import (
    SlotView,
    explorer_figure,
    png_bytes,
    render_panel,
    slot_view,
    upscale,
)
from wsss_lib.widgets.state import (
    FUSION_CHOICES,
    SLOTS,
    ExplorerState,
    cam_key,
    panel_keys,
    stale_panels,
    update_state,
)

__all__ = [
    "FUSION_CHOICES",
    "NEAR_CHANCE_ACCURACY",
    "POSTPROCESS_STEPS",
    "SCALE_CHOICES",
    "SLOTS",
    "CachedModel",
    "CamExplorer",
    "ExplorerData",
    "ExplorerState",
    "ImageRecord",
    "SlotCam",
    "SlotView",
    "cam_key",
    "chimney_sentence",
    "default_models",
    "ensure_cached",
    "explorer_figure",
    "find_twin",
    "first_informative_index",
    "format_metrics",
    "image_metrics",
    "layer_choices",
    "layers_for_model",
    "list_cached_models",
    "load_cached_model",
    "network_family",
    "panel_keys",
    "png_bytes",
    "read_image",
    "render_panel",
    "slot_view",
    "stale_panels",
    "time_redraws",
    "time_threshold_redraw",
    "training_level",
    "update_state",
    "upscale",
    "with_unique_labels",
]
