"""The interactive CAM explorer: a thin ipywidgets layer over the pure state and pipeline.

Every control change becomes a new :class:`~wsss_lib.widgets.state.ExplorerState`
(:func:`~wsss_lib.widgets.state.update_state`); :meth:`CamExplorer.apply` then redraws only the
panels whose inputs changed (:func:`~wsss_lib.widgets.state.stale_panels`). Panels are
``ipywidgets.Image`` widgets fed with PNG bytes, which render the same in JupyterLab and Voila.

Example (in a notebook)::

    from wsss_lib.widgets import CamExplorer
    explorer = CamExplorer.from_cache(split="test")
    explorer          # displays the widget
    explorer.threshold.value = 0.5   # the same as moving the slider
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w
import numpy as np

from wsss_lib.cam import cam_method_names
from wsss_lib.train.cache import runs_root
from wsss_lib.widgets.catalog import CachedModel, list_cached_models
from wsss_lib.widgets.model_choice import (
    default_models,
    find_twin,
    first_informative_index,
)
from wsss_lib.widgets.pipeline import (
    POSTPROCESS_STEPS,
    ExplorerData,
    layer_choices,
)
from wsss_lib.widgets.render import (
    PANEL_TITLES,
    SlotView,
    png_bytes,
    render_panel,
    slot_view,
    upscale,
)
from wsss_lib.widgets.state import (
    FUSION_CHOICES,
    SLOTS,
    ExplorerState,
    panel_keys,
    stale_panels,
    update_state,
)

__all__ = [
    "SCALE_CHOICES",
    "CamExplorer",
    "default_models",
    "find_twin",
    "first_informative_index",
    "time_redraws",
    "time_threshold_redraw",
]


#: Image scales offered for multi-scale inference (the paper averages 0.5, 1.0, 1.5, 2.0).
SCALE_CHOICES = (0.5, 0.75, 1.0, 1.5, 2.0)


_NO_MODEL = "(none)"


def _assign(widget: Any, name: str, value: Any) -> None:
    """Set a widget attribute only when it differs (each assignment is sent to the browser)."""
    current = getattr(widget, name)
    if name == "options":
        current = tuple(tuple(o) if isinstance(o, list) else o for o in current)
    if current != value:
        setattr(widget, name, value)


def _caption(text: str) -> w.HTML:
    style = "font-size:12px; white-space:nowrap; overflow:hidden; text-overflow:ellipsis"
    return w.HTML(f"<div style='{style}' title='{html.escape(text)}'><b>{html.escape(text)}</b>"
                  "</div>")


class CamExplorer:
    """Interactive CAM explorer over the models in the cache.

    Controls (public attributes, so code and tests can set them like a user would):
    ``source``, ``index``, ``path`` + ``load_button``, ``upload``, ``model_a``, ``model_b``,
    ``method``, ``layers``, ``scales``, ``fusion``, ``threshold``, ``refine`` (step name ->
    Checkbox), ``train_button``. Outputs: ``panels`` (name -> ``ipywidgets.Image``), ``metrics``
    (slot -> HTML), ``status`` (HTML), and for inspection ``arrays`` (name -> the last drawn
    ``uint8 [H, W, 3]``) and ``views`` (slot -> :class:`~wsss_lib.widgets.render.SlotView`).

    Args:
        data: Images, models and CAM caches.
        state: Initial state (default: the first split, defaults of :func:`default_models`).
        display_size: Panel size in screen pixels (small images are enlarged by whole factors).
        train_config: What the "Train the quick model" button trains when the cache has no
            model (a ``wsss_lib.train.TrainConfig``); None hides the button.
        cache_dir: Model cache root (default: ``$WSSS_CACHE``), for listing and training.
        trainer: Function ``(config, cache_dir) -> Any`` the button calls (default:
            :func:`wsss_lib.train.get_or_train`).
    """

    def __init__(
        self,
        data: ExplorerData,
        state: ExplorerState | None = None,
        *,
        display_size: int = 192,
        train_config: Any = None,
        cache_dir: str | os.PathLike[str] | None = None,
        trainer: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.data = data
        if state is None:
            model_a, model_b = default_models(list(data.models.values()))
            state = ExplorerState(source=data.source_names()[0], model_a=model_a, model_b=model_b)
        self.state = state
        self.display_size = int(display_size)
        self.train_config = train_config
        self.cache_dir = cache_dir
        self._trainer = trainer
        self.arrays: dict[str, np.ndarray] = {}
        self.views: dict[str, SlotView] = {}
        self._shown: dict[str, tuple] | None = None
        self._syncing = False
        self._build_controls()
        self._build_outputs()
        self.widget = self._layout()
        self.apply(self.state)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_cache(
        cls,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        split: str = "test",
        index: int | None = None,
        image_size: int | None = None,
        n_images: int = 32,
        seed: int = 0,
        device: Any = None,
        train_config: Any = None,
        display_size: int = 192,
        **state: Any,
    ) -> CamExplorer:
        """An explorer over every finished run in the cache.

        Args:
            cache_dir: Cache root (default ``$WSSS_CACHE``).
            split: Split shown first.
            index: Image shown first (default: the first smoke image with a chimney).
            image_size: Side of the split images (default: the training size of model A, else 64).
            n_images: Images per split.
            seed: Benchmark replicate of the splits.
            device: Where the models run.
            train_config: Shown as a "Train the quick model" button when nothing is cached.
            display_size: Panel size in screen pixels.
            **state: Further :class:`~wsss_lib.widgets.state.ExplorerState` fields (``method``,
                ``threshold``, ``model_a``, ...).
        """
        models = list_cached_models(cache_dir)
        model_a, model_b = default_models(models)
        model_a = state.pop("model_a", model_a)
        model_b = state.pop("model_b", model_b)
        sizes = {m.key: m.image_size for m in models}
        if image_size is None:
            image_size = sizes.get(model_a, 64) if model_a else 64
        data = ExplorerData(models, image_size=image_size, n_images=n_images, seed=seed,
                            device=device, cache_dir=cache_dir)
        if index is None:
            index = first_informative_index(data.records(split))
        initial = ExplorerState(source=split, index=index, model_a=model_a, model_b=model_b,
                                **state)
        return cls(data, initial, display_size=display_size, train_config=train_config,
                   cache_dir=cache_dir)

    def _build_controls(self) -> None:
        style = {"description_width": "70px"}
        wide = w.Layout(width="300px")
        self.source = w.Dropdown(description="images", style=style, layout=wide)
        self.index = w.IntSlider(description="image #", min=0, max=0, continuous_update=False,
                                 style=style, layout=wide)
        self.image_info = w.HTML()
        self.path = w.Text(placeholder="image file or data folder", layout=w.Layout(width="230px"))
        self.load_button = w.Button(description="Load", layout=w.Layout(width="64px"))
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Upload image")
        model_width = w.Layout(width="760px")
        self.model_a = w.Dropdown(description="model A", style=style, layout=model_width)
        self.model_b = w.Dropdown(description="model B", style=style, layout=model_width)
        # Every registered method, also those registered after import (wsss_lib.cam.methods).
        self.method = w.Dropdown(options=list(cam_method_names()), description="CAM", style=style,
                                 layout=w.Layout(width="210px"))
        self.fusion = w.Dropdown(options=list(FUSION_CHOICES), description="fuse by", style=style,
                                 layout=w.Layout(width="210px"))
        self.layers = w.SelectMultiple(description="layers", rows=5, style=style,
                                       layout=w.Layout(width="250px"))
        self.scales = w.SelectMultiple(options=list(SCALE_CHOICES), description="scales",
                                       rows=5, style=style, layout=w.Layout(width="170px"))
        self.threshold = w.FloatSlider(description="threshold", min=0.0, max=1.0, step=0.05,
                                       readout_format=".2f", continuous_update=True, style=style,
                                       layout=wide)
        self.refine = {name: w.Checkbox(description=label, indent=False,
                                       layout=w.Layout(width="auto", margin="0 12px 0 0"))
                      for name, (label, _) in POSTPROCESS_STEPS.items()}
        self.train_button = w.Button(description="Train the quick model", button_style="warning",
                                     icon="play", layout=w.Layout(width="220px"))
        self.threshold.add_class("wsss-threshold")
        self.index.add_class("wsss-index")

        self.source.observe(lambda c: self._set(source=c["new"]), names="value")
        self.index.observe(lambda c: self._set(index=c["new"]), names="value")
        self.model_a.observe(lambda c: self._set(model_a=c["new"]), names="value")
        self.model_b.observe(lambda c: self._set(model_b=c["new"]), names="value")
        self.method.observe(lambda c: self._set(method=c["new"]), names="value")
        self.fusion.observe(lambda c: self._set(fusion=c["new"]), names="value")
        self.layers.observe(lambda c: self._set(layers=tuple(c["new"])), names="value")
        self.scales.observe(self._on_scales, names="value")
        self.threshold.observe(lambda c: self._set(threshold=c["new"]), names="value")
        for box in self.refine.values():
            box.observe(self._on_refine, names="value")
        self.load_button.on_click(lambda _: self.load_path(self.path.value))
        self.upload.observe(self._on_upload, names="value")
        self.train_button.on_click(lambda _: self.train_quick_model())

    def _build_outputs(self) -> None:
        names = ["image", "smoke", "chimney"] + [f"{s}.{k}" for s in SLOTS for k in ("cam", "mask")]
        size = f"{self.display_size}px"
        # A fixed square box per panel: images of any size line up, and none is stretched.
        self.panels = {name: w.Image(format="png", layout=w.Layout(
            width=size, height=size, object_fit="contain")) for name in names}
        for name, panel in self.panels.items():
            panel.add_class(f"wsss-panel-{name.replace('.', '-')}")
        self.metrics = {slot: w.HTML() for slot in SLOTS}
        for slot, label in self.metrics.items():
            label.add_class(f"wsss-metrics-{slot}")
        self.row_titles = {slot: w.HTML() for slot in SLOTS}
        self.status = w.HTML()
        self.status.add_class("wsss-status")

    def _panel(self, name: str, title: str) -> w.VBox:
        return w.VBox([_caption(title), self.panels[name]],
                      layout=w.Layout(width=f"{self.display_size + 8}px"))

    def _layout(self) -> w.VBox:
        image_box = w.VBox([self.source, self.index, self.image_info,
                            w.HBox([self.path, self.load_button]), self.upload])
        # The model menus get a row of their own: their labels say what each network is.
        model_box = w.VBox([self.model_a, self.model_b])
        settings_box = w.VBox([w.HBox([self.method, self.fusion]), self.threshold,
                               w.HBox(list(self.refine.values()))])
        for box in (image_box, settings_box, self.layers):
            box.layout.margin = "0 12px 0 0"
        controls = w.VBox([model_box, w.HBox([image_box, settings_box, self.layers, self.scales],
                                             layout=w.Layout(flex_flow="row wrap"))])
        truth = w.HBox([self._panel(n, PANEL_TITLES[n]) for n in ("image", "smoke", "chimney")])
        self.rows = {}
        for slot in SLOTS:
            panels = [self._panel(f"{slot}.{k}", PANEL_TITLES[k]) for k in ("cam", "mask")]
            self.metrics[slot].layout = w.Layout(width="330px", margin="24px 0 0 8px")
            self.rows[slot] = w.VBox([self.row_titles[slot], w.HBox([*panels, self.metrics[slot]])])
        root = w.VBox([self.status, self.train_button, controls, truth, *self.rows.values()])
        root.add_class("wsss-explorer")
        return root

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ control -> state
    def _set(self, **changes: Any) -> None:
        if self._syncing:
            return
        try:
            new_state = update_state(self.state, **changes)
        except ValueError as err:
            self._show_status(str(err), error=True)
            self._sync_controls()  # put the control back to the valid state
            return
        self.apply(new_state)

    def _on_scales(self, change: dict[str, Any]) -> None:
        if not change["new"]:  # keep at least one scale selected
            self._sync_controls()
            return
        self._set(scales=tuple(change["new"]))

    def _on_refine(self, _change: dict[str, Any]) -> None:
        self._set(refine=tuple(name for name, box in self.refine.items() if box.value))

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        upload = files[0]
        try:
            source = self.data.add_image_bytes(upload["name"], bytes(upload["content"]))
        except ValueError as err:
            self._show_status(str(err), error=True)
            return
        self.apply(update_state(self.state, source=source, index=0))

    def load_path(self, path: str) -> None:
        """Add an image file or data folder as a source and show it (the "Load" button)."""
        if not path.strip():
            self._show_status("Type the path of an image file or a data folder first.", error=True)
            return
        try:
            source = self.data.add_path(path.strip())
        except (FileNotFoundError, ValueError) as err:
            self._show_status(str(err), error=True)
            return
        self.apply(update_state(self.state, source=source, index=0))

    # ------------------------------------------------------------------ state -> controls
    def _model_options(self) -> list[tuple[str, str]]:
        return [(m.label, m.key) for m in self.data.models.values()]

    def _sync_controls(self) -> None:
        """Make every control show ``self.state`` without triggering callbacks.

        Only values that differ are assigned: each assignment is a message to the browser, and
        this runs on every change (a threshold change must stay fast).
        """
        state, data = self.state, self.data
        self._syncing = True
        try:
            options = self._model_options()
            choices = layer_choices(data.network(state.model_a)) if state.model_a else []
            valid_layers = {spec for _, spec in choices}
            n_images = len(data.records(state.source))
            has_models = bool(data.models)
            _assign(self.source, "options", tuple(data.source_names()))
            _assign(self.source, "value", state.source)
            _assign(self.index, "max", max(0, n_images - 1))
            _assign(self.index, "value", state.index)
            _assign(self.index, "disabled", n_images <= 1)
            _assign(self.model_a, "options", tuple(options) or ((_NO_MODEL, None),))
            _assign(self.model_a, "value", state.model_a)
            _assign(self.model_b, "options", ((_NO_MODEL, None), *options))
            _assign(self.model_b, "value", state.model_b)
            _assign(self.method, "value", state.method)
            _assign(self.fusion, "value", state.fusion)
            _assign(self.threshold, "value", state.threshold)
            _assign(self.scales, "value", tuple(s for s in SCALE_CHOICES if s in state.scales))
            _assign(self.layers, "options", tuple(choices))
            _assign(self.layers, "value",
                    tuple(layer for layer in state.layers if layer in valid_layers))
            for control in (self.layers, self.fusion):
                _assign(control, "disabled", state.method == "cam")
            for name, box in self.refine.items():
                _assign(box, "value", name in state.refine)
            _assign(self.train_button.layout, "display",
                    "none" if has_models or self.train_config is None else None)
            for control in (self.model_a, self.model_b, self.method, self.threshold):
                _assign(control, "disabled", not has_models)
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ drawing
    def _show_status(self, text: str, error: bool = False) -> None:
        color = "#b00020" if error else "#555"
        self.status.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _no_model_message(self) -> str:
        fix = ("click 'Train the quick model' below" if self.train_config is not None
               else "run notebook 02_teacher_student")
        return (f"No trained model in the cache ({runs_root(self.cache_dir)}): the image and its "
                f"masks are shown, but there is no CAM yet. To get one, {fix}; models trained by "
                "the other notebooks appear here automatically.")

    def apply(self, state: ExplorerState) -> None:
        """Show ``state``: sync the controls and redraw only the panels whose inputs changed.

        Raises:
            ValueError: ``state`` names a model or image source the explorer does not have.
        """
        for slot in SLOTS:
            key = state.model(slot)
            if key is not None and key not in self.data.models:
                raise ValueError(f"Unknown model {key!r} for slot {slot!r}; cached models: "
                                 f"{sorted(self.data.models)}.")
        if state.source not in self.data.source_names():
            raise ValueError(f"Unknown image source {state.source!r}; "
                             f"known: {self.data.source_names()}.")
        self.state = state
        try:
            self._sync_controls()
            keys = panel_keys(state)
            stale = stale_panels(self._shown, keys)
            if not stale:
                return
            if any(not self.data.is_cached(state, s) for s in state.active_slots):
                self._show_status("Computing CAM…")
            self._redraw(state, stale)
        except Exception as err:  # noqa: BLE001 - show any failure in the widget, keep it alive
            self._shown = None  # force a full redraw next time
            self._show_status(f"Could not draw this view: {type(err).__name__}: {err}", error=True)
            return
        self._shown = keys
        notes = [n for slot in state.active_slots for n in self.views[slot].notes]
        if not self.data.models:
            self._show_status(self._no_model_message(), error=True)
        else:
            self._show_status(" ".join(notes) if notes else "")

    def _redraw(self, state: ExplorerState, stale: list[str]) -> None:
        record = self.data.record(state.source, state.index)
        label = {1: "smoke", 0: "clean", None: "label unknown"}[record.label]
        self.image_info.value = html.escape(f"{record.name} ({label})")
        for slot in SLOTS:
            visible = slot in state.active_slots
            self.rows[slot].layout.display = None if visible else "none"
            if not visible:
                self.views.pop(slot, None)
        for name in stale:
            slot, _, kind = name.partition(".")
            if kind == "metrics":
                view = self.views[slot] = slot_view(self.data, state, slot)
                lines = "<br>".join(html.escape(part) for part in view.text.split(" · "))
                self.metrics[slot].value = f"<div style='line-height:1.5'>{lines}</div>"
                model = self.data.models.get(state.model(slot))
                title = model.label if model else state.model(slot)
                warning = ("" if model is None or not model.near_chance else
                           "<br><span style='color:#b00020'>near chance: this network did not "
                           "learn to recognise smoke, so its CAM shows an untrained network"
                           "</span>")
                self.row_titles[slot].value = (
                    f"<b>model {slot.upper()}</b>: {html.escape(str(title))}{warning}")
                continue
            array = render_panel(self.data, state, name)
            self.arrays[name] = array
            self.panels[name].value = png_bytes(upscale(array, self.display_size))

    # ------------------------------------------------------------------ models
    def refresh_models(self) -> list[CachedModel]:
        """List the cache again (e.g. after a notebook trained a model) and offer new models."""
        models = list_cached_models(self.cache_dir)
        self.data.add_models(models)
        state = self.state
        if state.model_a is None and models:
            model_a, model_b = default_models(models)
            state = update_state(state, model_a=model_a, model_b=model_b)
        self._shown = None
        self.apply(state)
        return models

    def train_quick_model(self) -> None:
        """Train ``train_config`` (the button's action), then offer the new model."""
        if self.train_config is None:
            self._show_status("No training config was given to this explorer.", error=True)
            return
        self._show_status("Training the quick model… (progress in the notebook's log)")
        self.train_button.disabled = True
        try:
            if self._trainer is None:
                from wsss_lib.train import get_or_train

                get_or_train(self.train_config, self.cache_dir, progress=False)
            else:
                self._trainer(self.train_config, self.cache_dir)
        except Exception as err:  # noqa: BLE001 - report the failure in the widget
            self._show_status(f"Training failed: {type(err).__name__}: {err}", error=True)
            return
        finally:
            self.train_button.disabled = False
        self.refresh_models()


def time_redraws(explorer: CamExplorer, control: str,
                 values: Sequence[Any]) -> dict[str, float]:
    """Time changes of one control made the way a user makes them (setting its value).

    Args:
        explorer: An explorer with a model selected.
        control: Attribute name of the control, e.g. ``"threshold"`` or ``"method"``.
        values: Values to step through (each change is timed until the redraw is done).

    Returns:
        ``{"n", "median_ms", "max_ms", "model_runs"}``; ``model_runs`` counts model evaluations
        during the changes (0 when every CAM came from the cache). The control is put back to
        its original value afterwards (not timed).
    """
    widget = getattr(explorer, control)
    original = widget.value
    values = [v for v in values if v != original]
    if not values:
        raise ValueError(f"Give at least one {control} value that differs from {original!r}.")
    runs_before = explorer.data.model_runs
    times = []
    for value in values:
        began = time.perf_counter()
        widget.value = value
        times.append((time.perf_counter() - began) * 1000.0)
    runs = explorer.data.model_runs - runs_before
    widget.value = original
    return {
        "n": len(times),
        "median_ms": float(np.median(times)),
        "max_ms": float(np.max(times)),
        "model_runs": runs,
    }


def time_threshold_redraw(explorer: CamExplorer,
                          values: Sequence[float] | None = None) -> dict[str, float]:
    """:func:`time_redraws` of the threshold slider (default values 0.10, 0.15, ..., 0.90).

    A threshold change only re-thresholds the cached CAM, so ``model_runs`` should be 0.
    """
    if values is None:
        values = [round(float(v), 2) for v in np.arange(0.10, 0.901, 0.05)]
    return time_redraws(explorer, "threshold", values)
