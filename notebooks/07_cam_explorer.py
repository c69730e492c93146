# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · CAM explorer: one image at a time
#
# The other notebooks give averages over hundreds of images. Averages hide *how* a CAM goes wrong,
# and in this project there is one way in particular: **smoke rises from chimneys**, so a
# classifier trained on image labels can learn "there is a chimney" instead of "there is smoke",
# and its class activation map (CAM) then lights up the chimney.
#
# This notebook is an interactive explorer. Pick an image, a trained model from the cache, the CAM
# method and its settings, and see side by side:
#
# | panel | what it shows |
# |---|---|
# | **image** | the input (synthetic scene, or a file you load) |
# | **smoke mask** | ground-truth smoke, tinted cyan (faded grey when unknown, e.g. a photo) |
# | **chimney mask** | chimney pixels, tinted orange |
# | **CAM overlay** | the model's CAM (jet colour map: red = high), min-max normalised to [0, 1] |
# | **pseudo-mask** | `CAM > threshold`, tinted cyan; pixels that land **on a chimney are red** |
#
# and, for this one image, three numbers that update as you move the controls:
#
# - **smoke IoU**: overlap of the pseudo-mask with the true smoke (1 = perfect; n/a for a clean
#   image, which has no smoke to find);
# - **chimney FP rate**: share of chimney pixels the pseudo-mask calls smoke; every such pixel is a
#   false positive, typically caused by the shortcut;
# - **CAM chimney mass**: share of the CAM's total activation that lies on chimney pixels. It does
#   not depend on the threshold, so it shows the shortcut even where the threshold hides it.
#
# A second model (B) can be shown under the first, on the same image, e.g. a ViT trained alone
# against the same ViT trained as the student of a CNN teacher (the paper's method, notebook 02).
#
# **Where it works.** The explorer is an ipywidgets app: it needs a live kernel, so run this
# notebook in JupyterLab, or as a stand-alone app with `voila notebooks/07_cam_explorer.ipynb`.
# In a static copy (the HTML report, GitHub) the widget cannot render; section 3 therefore also
# draws the same view as a still picture.

# %% tags=["parameters"]
profile = "quick"  # "quick": tiny data/epochs for tests (<~40 s); "full": the real experiment
output_dir = "."  # where metrics.json and figures are written
split = None  # split shown first: train, val, test or test_decoupled (None: from profile)
image_index = None  # image shown first (None: from profile; null: first smoke image + chimney)
n_images = None  # images per split in the explorer (None: from profile)
method = None  # CAM method shown first, e.g. "cam", "gradcam", "layercam" (None: from profile)
threshold = None  # pseudo-mask threshold on min-max CAMs (None: from profile; paper 0.3)
train_seed = None  # training seed of the models shown (None: from profile)
ensure_models = None  # notebook-02 rows to train if not cached, e.g. [] (None: from profile)

# %%
# %matplotlib inline
from pathlib import Path

from IPython.display import display

from wsss_lib import widgets as W
from wsss_lib.results import MetricsDocument, percent
from wsss_lib.studies.configs import method_settings, teacher_config
from wsss_lib.studies.paradigms import paradigm_configs
from wsss_lib.train import get_or_train, run_dir_for
from wsss_lib.utils import default_cache_dir, get_device, seed_everything

S = method_settings(profile, "07_cam_explorer", split=split, image_index=image_index,
                    n_images=n_images, method=method, threshold=threshold,
                    train_seed=train_seed, ensure_models=ensure_models)
seed_everything(S.train_seed)
device = get_device()
output_dir = Path(output_dir)
output_dir.mkdir(parents=True, exist_ok=True)
print(f"device: {device} | cache: {default_cache_dir()} | profile: {profile}")
print({k: S[k] for k in ("image_size", "split", "n_images", "method", "threshold",
                         "ensure_models")})

# %% [markdown]
# ## 1 · Which trained models are in the cache?
#
# The explorer trains nothing by itself: it lists the finished runs in the model cache
# (`$WSSS_CACHE/runs`), i.e. every model the other notebooks trained. So that this notebook also
# works on its own, it first makes sure the rows of notebook 02 named in `ensure_models` exist
# (the same config builders, so the same cache entries: a model notebook 02 already trained is
# loaded, not retrained). With `ensure_models = []` and an empty cache you get the explorer's
# "no trained model" message instead, with a button that trains the quick model (the CNN
# teacher).

# %%
configs = paradigm_configs(S, S.train_seed)
wanted = {row: configs[row] for row in S.ensure_models}
trained_now = W.ensure_cached(wanted, trainer=get_or_train)
models = W.list_cached_models()
print(f"trained now: {trained_now or 'nothing (all were cached)'}")
print(f"{len(models)} finished run(s) in the cache:")
for m in models:
    print(f"  {m.label}")


# %% [markdown]
# ## 2 · The explorer
#
# Model A is the ViT trained alone and model B the teacher-student ViT (when both are cached;
# otherwise the newest runs). Things to try:
#
# 1. **Move the threshold.** The CAM is cached, so only the pseudo-mask and the numbers are
#    redrawn. Watch the chimney turn red at low thresholds: there the CAM is weak but not zero.
# 2. **Switch the images to `test_decoupled`.** There smoke never rises from a chimney and every
#    clean image shows one: a model that learned the shortcut lights up bare chimneys.
# 3. **Change the CAM method** (`gradcam`, `layercam`, ...; pytorch-grad-cam methods) and **fuse
#    layers**: select several layers (ctrl/cmd-click) to average their maps as the paper does.
# 4. **Scales**: select several to average the CAM over resized copies (multi-scale inference).
# 5. **Post-processing**: PAR and the dense CRF snap the CAM to colour edges (notebook 06 measures
#    them on the whole test set).
# 6. **Load your own image**: type a path (an image, or a data folder with `labels.csv`, e.g.
#    `data_samples`) and click *Load*, or upload a file. A photo has no masks, so only the CAM and
#    pseudo-mask are meaningful.
#
# Computing a new CAM takes a moment (the model runs); everything else comes from the cache.

# %%
def cached_key(config):
    """The cache key of a config's run when it is cached, else None (explorer default)."""
    key = run_dir_for(config).name
    return key if any(m.key == key for m in models) else None


preferred = {"model_a": cached_key(configs["single_vit"]),
             "model_b": cached_key(configs["ts_cnn_to_vit"])}
explorer = W.CamExplorer.from_cache(
    split=S.split, index=S.image_index, image_size=S.image_size, n_images=S.n_images,
    method=S.method, threshold=S.threshold, train_config=teacher_config(S, S.train_seed),
    **{slot: key for slot, key in preferred.items() if key is not None},
)
explorer

# %% [markdown]
# ## 3 · The same view as a still picture
#
# The figure below is drawn from the explorer's current state by the same functions that feed
# the widget (`wsss_lib.widgets.explorer_figure`). The first row is the image with its masks; each
# further row is one model: its CAM, its pseudo-mask (red: on a chimney) and its numbers for this
# image. The second figure is a **clean** image of `test_decoupled` that shows a chimney: there is
# no smoke at all, so any activation and every pseudo-mask pixel is a false positive. How much of
# it sits on the chimney is the shortcut, made visible.

# %%
fig = W.explorer_figure(explorer.data, explorer.state)
fig.savefig(output_dir / "explorer_view.png", dpi=100, bbox_inches="tight")
display(fig)

decoupled = W.first_informative_index(explorer.data.records("test_decoupled"), label=0)
clean_state = W.update_state(explorer.state, source="test_decoupled", index=decoupled)
fig_clean = W.explorer_figure(explorer.data, clean_state)
fig_clean.savefig(output_dir / "explorer_clean_chimney.png", dpi=100, bbox_inches="tight")
display(fig_clean)

# %% [markdown]
# ## 4 · Is it responsive?
#
# A threshold change should feel instant (well under 200 ms). It is cheap by design: the CAM is
# cached under a key that does not contain the threshold, so only the pseudo-mask panel(s) and the
# numbers are redrawn and the model does not run. A change of CAM method, by contrast, runs the
# model. Below, both are timed the way a user triggers them (setting the control's value); the
# timings are printed, not asserted, since they depend on the machine and its load.

# %%
threshold_timing = W.time_threshold_redraw(explorer)
method_timing = W.time_redraws(explorer, "method", ["gradcam", "layercam"])
print(f"threshold change: median {threshold_timing['median_ms']:.1f} ms, "
      f"max {threshold_timing['max_ms']:.1f} ms over {threshold_timing['n']} changes; "
      f"model runs: {threshold_timing['model_runs']}")
print(f"CAM method change: median {method_timing['median_ms']:.1f} ms over "
      f"{method_timing['n']} changes; model runs: {method_timing['model_runs']}")
fast = threshold_timing["median_ms"] < 200
print(f"A threshold redraw {'IS' if fast else 'is NOT'} under 200 ms on this machine "
      f"({device}).")

# %% [markdown]
# ## 5 · What this one image says
#
# One image is an anecdote, not a measurement (notebooks 01–06 measure on whole test sets), but it
# is where you *see* the shortcut. The sentences below are computed from the numbers of the
# example image above, so they stay true whatever the models learned.

# %%
views = {slot: W.slot_view(explorer.data, explorer.state, slot)
         for slot in explorer.state.active_slots}
clean_views = {slot: W.slot_view(explorer.data, clean_state, slot)
               for slot in clean_state.active_slots}
labels = {slot: explorer.data.models[explorer.state.model(slot)].label for slot in views}
for slot, view in views.items():
    print(f"model {slot.upper()} ({labels[slot]}):\n  {view.text}")
clean_record = explorer.data.record(clean_state.source, clean_state.index)
for slot, view in clean_views.items():
    print(W.chimney_sentence(view.metrics, clean_record,
                             f"model {slot.upper()} on the clean test_decoupled image"))
if set(views) == {"a", "b"}:
    a, b = views["a"].metrics, views["b"].metrics
    better = "lower" if b["cam_chimney_mass"] < a["cam_chimney_mass"] else "NOT lower"
    print(f"On the example image, model B's CAM chimney mass ({b['cam_chimney_mass']:.3f}) is "
          f"{better} than model A's ({a['cam_chimney_mass']:.3f}).")


# %%
def row(view):
    # one image's metrics in % (as in every other notebook's metrics.json), plus the threshold
    return {**{k: percent(v) for k, v in view.metrics.items()},
            "threshold": explorer.state.threshold}


results = {
    "threshold_redraw": threshold_timing,
    "method_redraw": method_timing,
    "models": {"n_found": len(models), "n_trained_now": len(trained_now)},
}
results.update({f"example_{slot}": row(view) for slot, view in views.items()})
results.update({f"clean_chimney_{slot}": row(view) for slot, view in clean_views.items()})
metrics = MetricsDocument(
    notebook="07_cam_explorer",
    profile=profile,
    results=results,
    notes=[
        f"models found: {[m.label for m in models]}",
        f"trained now: {trained_now}",
        f"model A: {labels.get('a')}; model B: {labels.get('b')}",
        f"example image: {explorer.state.source} #{explorer.state.index}; clean chimney image: "
        f"test_decoupled #{decoupled}",
        "image metrics (smoke IoU, CAM chimney mass, chimney FP rate, predicted fraction) in %; "
        "timings in ms of a redraw triggered by setting the control's value (no browser); "
        f"device {device}",
    ],
)
print("wrote", metrics.write(output_dir / "metrics.json"))

# %% [markdown]
# ## What next
#
# - Run the explorer as an app: `voila notebooks/07_cam_explorer.ipynb` (only the outputs are
#   shown; the code cells run in the background).
# - Use it on your own data: `load_folder`'s layout (images + `labels.csv` + optional `masks/`)
#   loads with masks, so the smoke IoU works there too.
# - In code, the same pieces are pure functions of an `ExplorerState`
#   (`wsss_lib.widgets.update_state`, `slot_view`, `render_panel`, `explorer_figure`): use them to
#   make a gallery of the images where two models disagree most.
