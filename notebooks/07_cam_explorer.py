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
profile = "quick"  # "tutorial": shipped trained nets; "quick": untrained (tests); "full": all
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

from wsss_lib import widgets as W
from wsss_lib.plots.show import show_figure
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
#
# Each run is listed by what it is, in the same words the drop-downs use:
#
# `teacher-student CNN→ViT · resnet_mini→vit_mini · P(chimney|smoke/clean) 0.95/0.05 · seed 0
# · val acc NN %`
#
# - the **paradigm** and the networks' families: `single CNN` / `single ViT` (one network on
#   image labels), `teacher-student CNN→ViT` or `ViT→CNN` (a frozen trained teacher, the paper's
#   method), `co-training CNN⇄ViT` (both from scratch);
# - the **backbones** by name; the network whose CAMs you see is always the last one (the
#   student);
# - the **training level**: P(chimney | smoke) / P(chimney | clean) of its training images, i.e.
#   how strong the chimney shortcut was (notebook 01);
# - the training **seed**, and the **validation accuracy** of its last epoch. Below 60 % it is
#   flagged **near chance** (chance is 50 %): such a network did not learn to recognise smoke
#   (the `quick` profile trains for seconds), so its CAM shows an untrained network, and no
#   number computed from it says anything about the shortcut.
#
# Two runs that differ only in something the label leaves out (λ, epochs, ...) get a suffix in
# brackets: the settings that differ, and the start of the run's hash.

# %%
configs = paradigm_configs(S, S.train_seed)
wanted = {row: configs[row] for row in S.ensure_models}
trained_now = W.ensure_cached(wanted, trainer=get_or_train)
models = W.list_cached_models()
print(f"trained now: {trained_now or 'nothing (all were cached)'}")
print(f"{len(models)} finished run(s) in the cache (unfinished runs are left out):")
for m in models:
    print(f"  {m.label}")
n_chance = sum(m.near_chance for m in models)
if n_chance:
    print(f"{n_chance} of them are near chance (val acc < {100 * W.NEAR_CHANCE_ACCURACY:.0f} %): "
          "their CAMs show networks that did not learn to recognise smoke.")


# %% [markdown]
# ## 2 · The explorer
#
# Model A is the ViT trained alone and model B its teacher-student twin: the same ViT, level and
# seed, trained with a CNN teacher (when both are cached; otherwise `W.default_models` picks the
# closest pair). Things to try:
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
_ = show_figure(fig, output_dir / "explorer_view.png")  # shown here, and saved as a PNG

decoupled = W.first_informative_index(explorer.data.records("test_decoupled"), label=0)
clean_state = W.update_state(explorer.state, source="test_decoupled", index=decoupled)
fig_clean = W.explorer_figure(explorer.data, clean_state)
_ = show_figure(fig_clean, output_dir / "explorer_clean_chimney.png")

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
# example image above, so they stay true whatever the models learned. A model flagged **near
# chance** did not learn to recognise smoke: its numbers are printed, but they describe an
# untrained network, not a shortcut (or its absence).

# %%
views = {slot: W.slot_view(explorer.data, explorer.state, slot)
         for slot in explorer.state.active_slots}
clean_views = {slot: W.slot_view(explorer.data, clean_state, slot)
               for slot in clean_state.active_slots}
shown = {slot: explorer.data.models[explorer.state.model(slot)] for slot in views}
labels = {slot: model.label for slot, model in shown.items()}
for slot, view in views.items():
    print(f"model {slot.upper()} ({labels[slot]}):\n  {view.text}")
    if shown[slot].near_chance:
        print(f"  NEAR CHANCE: {shown[slot].chance_note}")
clean_record = explorer.data.record(clean_state.source, clean_state.index)
for slot, view in clean_views.items():
    caveat = " (near chance: an untrained network)" if shown[slot].near_chance else ""
    print(W.chimney_sentence(view.metrics, clean_record,
                             f"model {slot.upper()} on the clean test_decoupled image") + caveat)
if set(views) == {"a", "b"}:
    a, b = views["a"].metrics, views["b"].metrics
    better = "lower" if b["cam_chimney_mass"] < a["cam_chimney_mass"] else "NOT lower"
    untrained = [slot.upper() for slot in views if shown[slot].near_chance]
    caveat = (f" Model(s) {' and '.join(untrained)} are near chance, so this comparison says "
              "nothing about the shortcut." if untrained else "")
    print(f"On the example image, model B's CAM chimney mass ({b['cam_chimney_mass']:.3f}) is "
          f"{better} than model A's ({a['cam_chimney_mass']:.3f}).{caveat}")


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
results.update({f"model_{slot}": {"val_acc": percent(model.val_acc),
                                  "near_chance": model.near_chance}
                for slot, model in shown.items()})
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
#   loads with masks, so the smoke IoU works there too (notebook 08 does this).
# - In code, the same pieces are pure functions of an `ExplorerState`
#   (`wsss_lib.widgets.update_state`, `slot_view`, `render_panel`, `explorer_figure`): the
#   exercises below use them.

# %% [markdown]
# **Full-profile results.** The `full` profile's run of this notebook (the explorer over every
# network the full profile trained) is committed in `docs/results/full/07_cam_explorer/`: the
# [executed notebook](../docs/results/full/07_cam_explorer/07_cam_explorer.ipynb), with every
# figure, and its numbers in [metrics.json](../docs/results/full/07_cam_explorer/metrics.json).

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell to fill in (replace the `None`) and a check cell under it that compares
# your answer with the library. Untouched, a check cell prints "Not attempted yet". The
# exercises use model A and the example image of section 3.
#
# ### Exercise 1 · The CAM chimney mass, by hand
#
# Write `chimney_mass(cam, chimney)`: the share of the CAM's total activation that lies on chimney
# pixels, `sum(cam on chimney) / sum(cam)`. `cam` is a float array `[H, W]` (min-max normalised to
# [0, 1]) and `chimney` a boolean array of the same shape. It is the third number under each model,
# the one that does not depend on the threshold.

# %%
import numpy as np
import torch

example_record = explorer.data.record(explorer.state.source, explorer.state.index)
if views:
    example_cam = views["a"].cam
else:  # no model in the cache: a made-up CAM from its own random generator
    example_cam = torch.rand(example_record.image.shape[:2],
                             generator=torch.Generator().manual_seed(0)).numpy()
example_chimney = (example_record.chimney_mask if example_record.chimney_mask is not None
                   else np.zeros(example_cam.shape, bool))


def chimney_mass(cam, chimney):
    """Share of the CAM's total activation on chimney pixels."""
    answer = None  # your code here
    return answer


# %%
answer = chimney_mass(example_cam, example_chimney)
if answer is None:
    print("Not attempted yet: fill in chimney_mass above.")
else:
    reference = W.image_metrics(example_cam, example_cam > explorer.state.threshold,
                                example_record)["cam_chimney_mass"]
    torch.testing.assert_close(torch.tensor(float(answer), dtype=torch.float64),
                               torch.tensor(reference, dtype=torch.float64), equal_nan=True)
    print(f"Correct: {float(answer):.4f} of the CAM lies on the chimney, as the library says.")

# %% [markdown]
# ### Exercise 2 · The best threshold for this one image
#
# The explorer thresholds the CAM at one value for every image (the paper uses 0.3). Find the
# threshold among `candidates` that gives model A's pseudo-mask the highest smoke IoU on the
# example image: threshold `example_cam` yourself (`example_cam > t`) and compute the IoU with
# `example_record.smoke_mask`, or move the explorer's slider and read the numbers. Is the best
# threshold for one image the paper's 0.3? (Notebook 06 asks the same over the whole test set.)

# %%
candidates = [round(0.05 * k, 2) for k in range(1, 20)]  # 0.05, 0.10, ..., 0.95
answer = None  # your code here: the best threshold, one of candidates

# %%
if answer is None:
    print("Not attempted yet: set answer to a threshold from candidates.")
elif example_record.smoke_mask is None or example_record.label != 1:
    print("The example image is not a smoke image with a mask: there is no smoke IoU to check.")
else:
    ious = {t: W.image_metrics(example_cam, example_cam > t, example_record)["smoke_iou"]
            for t in candidates}
    assert answer in ious, f"answer must be one of candidates, got {answer!r}"
    best = max(ious.values())
    assert ious[answer] >= best - 1e-9, (
        f"threshold {answer} gives smoke IoU {ious[answer]:.3f}; another candidate reaches "
        f"{best:.3f}")
    print(f"Correct: threshold {answer} gives the best smoke IoU on this image ({best:.3f}).")

# %% [markdown]
# ### Exercise 3 · The clean image that fools model A most
#
# In `test_decoupled` every clean image shows a bare chimney, so CAM mass on it is pure shortcut.
# Find the index of the clean `test_decoupled` image (with a chimney) on which model A puts the
# largest share of its CAM on the chimney. Loop over
# `explorer.data.records("test_decoupled")`; for image `i`,
# `W.slot_view(explorer.data, W.update_state(explorer.state, source="test_decoupled", index=i),
# "a").metrics["cam_chimney_mass"]` is the number. Then look at it in the explorer (set its
# images to `test_decoupled` and move to that index): is the chimney red in the pseudo-mask?

# %%
answer = None  # your code here: an index into explorer.data.records("test_decoupled")

# %%
if answer is None:
    print("Not attempted yet: set answer to an image index.")
elif not views:
    print("There is no model A in the cache, so there is nothing to check.")
else:
    records = explorer.data.records("test_decoupled")
    masses = {i: W.slot_view(explorer.data, W.update_state(
        explorer.state, source="test_decoupled", index=i), "a").metrics["cam_chimney_mass"]
        for i, r in enumerate(records)
        if r.label == 0 and r.chimney_mask is not None and r.chimney_mask.any()}
    masses = {i: m for i, m in masses.items() if m == m}  # drop NaN (a CAM that is zero)
    assert answer in masses, f"image {answer} is not a clean test_decoupled image with a chimney"
    top = max(masses, key=masses.get)
    assert masses[answer] >= masses[top] - 1e-9, (
        f"image {answer} has CAM chimney mass {masses[answer]:.3f}; image {top} has "
        f"{masses[top]:.3f}")
    print(f"Correct: image {answer} ({masses[answer]:.1%} of the CAM on the chimney).")

# %% [markdown]
# ### Exercise 4 · Another CAM method, another seed
#
# No check cell for this one: change a setting and compare. In the parameters cell at the top set
# `method = "gradcam"` (or `"layercam"`) and run the notebook again (or pick the method in the
# explorer's CAM menu). Does model B still put less CAM mass on the chimney of the clean
# `test_decoupled` image than model A? Then set `train_seed = 1` (the `full` profile's notebook
# 02 trains seeds 0, 1 and 2; a model already in the cache is loaded, not retrained): is what you
# saw on one seed still true on another?
# If a model is flagged near chance, its answer tells you nothing: that is why the label says so.
