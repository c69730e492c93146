# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · The second stage: what are the pseudo-masks worth?
#
# Notebooks 02–06 judge pseudo-masks by their smoke IoU. But nobody deploys a CAM: pseudo-masks
# exist to **train a segmenter**. Weakly supervised semantic segmentation (WSSS) has two stages:
#
# 1. **Stage 1** turns image labels ("smoke" / "clean") into pseudo-masks: a classifier's class
#    activation map (CAM), cut at a threshold (notebooks 02–06).
# 2. **Stage 2** trains an ordinary segmenter on those pseudo-masks, exactly as if they were
#    hand-drawn masks, and only that segmenter is used afterwards.
#
# This notebook runs stage 2 and asks two questions.
#
# **Does stage 2 beat its own pseudo-masks?** It can. A segmenter sees thousands of pseudo-masks,
# and their errors are partly *inconsistent*: a CAM that misses the tip of one plume and spills
# onto the sky next to another does not teach one rule, and a network trained on all of them
# learns the part they share (what smoke looks like) more than each mask's own mistakes. It also
# predicts at full resolution from the pixels, while a CAM is a coarse map upsampled. Errors that
# are *systematic* (every mask covering the chimney, or the whole sky) are learned faithfully, so
# stage 2 can also just copy them. Which happens here is measured, not assumed.
#
# **What is WSSS worth in pixel masks?** The fair yardstick is the same segmenter trained on the
# same images with their **true** masks, with the same architecture and the same training budget
# (optimiser, epochs, number of steps). "**% of supervised**" is stage 2's smoke IoU divided by that
# network's, per seed, then averaged: 100 % means image labels did as well as full pixel masks.
# And since drawing a few masks is also an option, we train the segmenter on only *k* true masks
# (k = 16 … 512 in the `full` profile) and read off the *k* at which it matches WSSS: "WSSS is
# worth about *k* hand-drawn masks".
#
# | row | trained on | what it tells |
# |---|---|---|
# | whole image = smoke | nothing | a trivial baseline every method must beat |
# | untrained segmenter | nothing (initial weights) | what the architecture gives for free |
# | pseudo-masks | (stage 1 only, no segmenter) | the labels stage 2 learns from, on test |
# | WSSS stage 2 | pseudo-masks of all `train` images | the real product of WSSS |
# | supervised, *k* masks | *k* true masks, repeated to the full length | the cost curve |
# | fully supervised | true masks of all `train` images | the ceiling, "100 %" |
#
# Run time: the `quick` profile (tiny images, one epoch, timm's miniature networks) only checks
# that everything runs; its networks do not learn, and the verdicts say so. The `full` profile
# loads the pseudo-mask networks of notebooks 02–04 from the cache and trains 24 segmenters
# (3 seeds × 8), about a minute each on a CPU.

# %% tags=["parameters"]
profile = "quick"  # "quick": untrained (tests); "full": the real experiment
output_dir = "."  # where metrics.json and figures are written
seeds = None  # training seeds, e.g. [0, 1, 2] (None: from profile)
k_masks = None  # numbers of true masks of the label-efficiency curve (None: from profile)
segmenter_epochs = None  # epochs of every segmenter (None: from profile)
rows = None  # candidate pseudo-mask pipelines: rows of notebook 02 (None: from profile)

# %%
# %matplotlib inline
from pathlib import Path

from IPython.display import Markdown, display

from wsss_lib.plots import second_stage as plots
from wsss_lib.plots.show import show_figure
from wsss_lib.results import markdown_table, summary_table
from wsss_lib.results import second_stage as results
from wsss_lib.studies import measure
from wsss_lib.studies import second_stage as study
from wsss_lib.studies.configs import TRAINING_KEYS
from wsss_lib.utils import default_cache_dir, get_device, seed_everything

# The training settings (image size, data, epochs, networks) are the profile's recipe ("*"), so
# the pseudo-mask networks are the ones notebooks 02-07 trained and cached.
S = study.second_stage_settings(profile, seeds=seeds, k_masks=k_masks,
                                segmenter_epochs=segmenter_epochs, rows=rows)
seed_everything(S.seeds[0])
output_dir = Path(output_dir)
output_dir.mkdir(parents=True, exist_ok=True)
print(f"device: {get_device()} | cache: {default_cache_dir()} | profile: {profile}")
print({k: S[k] for k in (*TRAINING_KEYS, "train_level", "seeds", "k_masks", "segmenter_epochs",
                         "rows")})

# %% [markdown]
# ## 1 · From a CAM to a training signal
#
# A pseudo-mask is the CAM (min-max normalised per image, so it lies in [0, 1]) above a
# threshold. Stage 2 adds one thing the CAM does not know: the **image label**. A clean image has
# no smoke, whatever its CAM says (min-max normalisation gives even a clean image a bright spot),
# so its pseudo-mask is empty. The segmenter is then trained exactly as the fully supervised
# one: a per-pixel binary cross-entropy between its smoke logits and the mask,
#
# $$L = -\frac{1}{|\Omega|}\sum_{p\in\Omega}
#       \big[m_p \log \sigma(z_p) + (1-m_p)\log(1-\sigma(z_p))\big],$$
#
# where $z_p$ is the segmenter's logit at pixel $p$ and $m_p$ the (pseudo-)mask.

# %% [markdown]
# ### Build it yourself: one stage-2 step
#
# On four 32-px validation images, with an untrained `resnet_mini` as the stage-1 classifier and
# the kit's segmenter (the same backbone plus a light two-level decoder) as stage 2:
#
# 1. cut the classifier's CAM at the threshold;
# 2. empty the masks of the clean images;
# 3. run the segmenter: one smoke logit per pixel, `[B, H, W]`;
# 4. the per-pixel BCE against the pseudo-masks.
#
# The check compares the masks with the study's `pseudo_masks` (what trains the segmenters
# below) and the loss with the library's training step, using `torch.testing.assert_close`.
# Forget step 2 and the first check fails. The cell draws its random numbers from a private
# stream, so the experiments below are unchanged.

# %%
import torch
import torch.nn.functional as F

from wsss_lib.cam import compute_cam
from wsss_lib.data import load_split, to_tensor_batch
from wsss_lib.studies.configs import row_config
from wsss_lib.studies.second_stage import pseudo_masks
from wsss_lib.train import CamReadout, DataSpec, ModelSpec, build_model, build_paradigm

tiny = row_config("supervised", {"cnn": ModelSpec("resnet_mini", {"output_stride": 8})},
                  data=DataSpec(image_size=32))  # the segmenter: a CNN + light decoder
scenes = load_split("val", image_size=32, n_images=4)  # 4 images and their labels
with torch.random.fork_rng():  # a private random stream: the experiments below are unchanged
    torch.manual_seed(0)
    classifier = build_model(tiny.model, 32).eval()  # stage 1 (untrained here)
    segmenter = build_paradigm(tiny)  # stage 2: backbone + light decoder
images, readout = to_tensor_batch(scenes.images), CamReadout("cam", threshold=0.3)
with torch.no_grad():
    cam = compute_cam(classifier, images, method="cam")  # [B, H, W], min-max normalised
masks = cam > readout.threshold  # 1. the pseudo-masks
masks[torch.as_tensor(scenes.labels) == 0] = False  # 2. clean images have no smoke
logits = segmenter.modules["model"](images)[:, 0]  # 3. smoke logits [B, H, W]
loss = F.binary_cross_entropy_with_logits(logits, masks.float())  # 4. per-pixel BCE

torch.testing.assert_close(masks.numpy(), pseudo_masks(classifier, scenes, readout))
step = segmenter.step({"image": images, "smoke_mask": masks.float()})  # the library's step
torch.testing.assert_close(loss, step.loss)
print(f"{int(masks.sum())} pseudo-mask pixels on {int(scenes.labels.sum())} smoke image(s); "
      f"BCE {loss.item():.4f}, as the library's training step")

# %% [markdown]
# ## 2 · Which pseudo-masks? Chosen on `val`
#
# Stage 2 should start from the best pseudo-masks we have. The candidates are the networks of
# notebook 02 (`rows` in the profile: single CNN, single ViT, teacher-student in both
# directions, co-training), each trained on the same `train` split and read the way notebooks
# 02–04 read it: the map and threshold with the best smoke IoU on `val`. The pipeline with the
# best **mean smoke IoU on `val`** over the seeds is used for every seed. `test` plays no part
# in this choice, so the test numbers below are not tuned to it.

# %%
sets = measure.evaluation_sets(S)
pipeline, choice = study.choose_pipeline(S, sets)
display(Markdown(markdown_table(
    {name: {"val_iou": 100 * entry["val_iou"], "readouts": ", ".join(entry["readouts"])}
     for name, entry in choice.items()},
    {"val_iou": "smoke IoU on val (%)", "readouts": "read-out per seed"}, corner="pipeline")))
print(f"chosen on val: {pipeline}")

# %% [markdown]
# ## 3 · Train the segmenters
#
# For every seed, the chosen network labels every `train` image (the images it was trained on:
# stage 2 uses no new data), and four kinds of segmenter are trained, **all with the same
# config**: the method's CNN (`resnet_mini` in `full`, starting from the same proxy pre-training)
# with the light decoder, the method's optimiser and schedule, `segmenter_epochs` epochs, and the
# same number of images per epoch:
#
# - **stage 2**: on the pseudo-masks;
# - **fully supervised**: on the true masks of the same images;
# - **supervised on *k* masks**: on the true masks of only *k* images (the same random *k* for a
#   seed, nested: the 32 contain the 16), each repeated until the set is as long as the full
#   training set. So every segmenter takes the same number of optimiser steps over the same
#   number of epochs: the *k*-mask runs see their few images many times rather than training for
#   less time. (Fewer steps would mix two effects, less data and less training.)
#
# Only the training masks differ, and they enter the cache key through the scenes' content
# fingerprint, so each run is trained once. Every segmenter is evaluated on `test` (chimneys with
# smoke, as the benchmark's test split) and `test_decoupled` (the chimney shortcut broken), its
# smoke probability cut at 0.5.

# %%
out = study.run_second_stage(S, sets, pipeline=pipeline)
rows, n_train = out["rows"], out["n_train"]
summary = results.second_stage_summary(rows)  # mean and std over seeds, fractions
labels = results.row_labels(list(summary))
columns = ["smoke_iou", "smoke_iou_decoupled", "precision", "recall", "boundary_f",
           "chimney_fp_rate", "chimney_fp_rate_decoupled"]
display(Markdown(summary_table(summary, columns, labels=labels)))
pm = summary["pseudo_masks"]
print(f"pipeline {pipeline}: classifier accuracy on test {100 * pm['accuracy']:.1f} %; its "
      f"pseudo-masks of the train images: smoke IoU {100 * pm['train_mask_iou']:.1f} %, "
      f"precision {100 * pm['train_mask_precision']:.1f} %, recall "
      f"{100 * pm['train_mask_recall']:.1f} % (against the true train masks)")

# %% [markdown]
# How to read the table (all in %, mean ± std over seeds): **smoke IoU** is per smoke image,
# averaged (the paper's "mIoU"); **precision / recall** are pooled over the pixels of `test`;
# **boundary F** says whether the outline is where the smoke's is (2-px tolerance); the
# **chimney FP rate** is the share of chimney pixels called smoke. The pseudo-masks row is the
# stage-1 map on `test` itself (no image label used there, as a segmenter has none at test time).
# Its pooled precision therefore counts the bright spot that min-max normalisation gives every
# clean test image, while the segmenters learned from masks emptied on clean images to leave
# them alone: for the like-for-like question "did stage 2 improve on its labels?", read the
# smoke IoU, which only smoke images enter.
# A segmenter that learned nothing calls every pixel background (IoU 0) or every pixel smoke (the
# whole-image row).
#
# ## 4 · The label-efficiency curve
#
# Blue: the segmenter trained on *k* true masks, *k* on a log scale, with the fully supervised
# run at the right end (all `train` images). Red: WSSS stage 2, which used **no** mask, only the
# image labels of all `train` images; the band is its seed spread. Where the red line crosses the
# blue curve is what WSSS is worth in hand-drawn masks (dotted line, interpolated linearly in
# log *k*). The orange line is the pseudo-masks themselves: if red lies above orange, stage 2
# improved on its labels.

# %%
curves = {m: results.learning_curve(summary, n_train, m)
          for m in ("smoke_iou", "smoke_iou_decoupled")}
worth = {m: results.masks_worth(c["k"], c["mean"], summary["stage2"][m])
         for m, c in curves.items()}
fig = plots.plot_label_efficiency(
    summary, curves, worth,
    title=f"How many true masks is WSSS worth? ({len(S.seeds)} seed(s), {n_train} train images)")
_ = show_figure(fig, output_dir / "label_efficiency.png")  # shown here, and saved as a PNG
if not results.segmenters_learned(summary):
    print("The segmenters did not learn (the fully supervised one does not beat the whole image "
          "called smoke): this curve describes untrained networks and prices nothing.")
for metric, (k, status) in worth.items():
    print(f"{metric}: WSSS stage 2 is worth {results.masks_worth_text(k, status)}")

# %% [markdown]
# ## 5 · What the masks look like
#
# Four smoke images of `test` (first seed): the true mask, the pseudo-mask of the chosen
# pipeline, the stage-2 segmenter trained on such pseudo-masks, and the fully supervised
# segmenter. Look for: does stage 2 keep the pseudo-masks' systematic errors (the chimney, a
# band of sky), or does it tighten them around the plume?

# %%
from wsss_lib.train import evaluate_model, evaluate_readout

show = measure.pick_showcase(sets["test"], n=4)
gallery = sets["test"].subset(show)
run, chosen = out["networks"]["pipeline"]
masks = {
    "true mask": gallery.smoke_masks,
    f"pseudo-mask ({chosen.label})": evaluate_readout(run, gallery, chosen).cams
    > chosen.threshold,
    "stage 2": evaluate_model(out["networks"]["stage2"], gallery).cams > 0.5,
    "fully supervised": evaluate_model(out["networks"]["supervised"], gallery).cams > 0.5,
}
fig = plots.mask_gallery(gallery.images, masks,
                         title=f"test images, seed {S.seeds[0]}; smoke in red")
_ = show_figure(fig, output_dir / "mask_gallery.png")

# %% [markdown]
# ## 6 · Verdict
#
# The claims are tested on **paired** seeds (each seed's rows share the training images), with a
# Student-t 95 % interval of the mean paired difference: *supported* when it lies entirely on
# the claim's side, *contradicted* when entirely on the other, *inconclusive* otherwise. With one
# seed (the `quick` profile) there is no interval. When the networks did not learn (the
# fully supervised segmenter does not beat the whole image called smoke, or the pipeline's
# classifier is at chance), the claims are *not judged*. Then come "% of supervised" on both test
# sets and the number of masks WSSS is worth.

# %%
claims = results.second_stage_claims(rows)
verdicts = results.second_stage_verdicts(summary, claims, rows, n_train, pipeline)
for sentence in verdicts:
    display(Markdown("- " + sentence))
_ = results.second_stage_document(profile, summary, rows, claims, verdicts, S, n_train, pipeline,
                                  choice).write(output_dir / "metrics.json")

# %% [markdown]
# ## 7 · What we learned, and what to try
#
# - Whether stage 2 beats its own pseudo-masks says whether their errors were noise (averaged
#   away by training) or bias (learned faithfully). Compare the chimney columns: a pipeline that
#   marks chimneys hands that habit to its segmenter.
# - "% of supervised" is the honest summary of WSSS on this benchmark: the same network, the same
#   images, the same budget, only the labels differ.
# - The curve prices the image labels in hand-drawn masks. If a few dozen masks beat WSSS, drawing
#   them is the cheaper path here; if WSSS is worth hundreds, image labels earn their keep.
#
# Things to try: a different pseudo-mask threshold (the read-out is chosen for the pseudo-masks'
# own IoU, not for training a segmenter, and a stricter cut that leaves uncertain pixels out may
# train better), more segmenter epochs (`segmenter_epochs`), or the pipelines of notebook 05
# (fused multi-scale CAMs) as the source of the pseudo-masks.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your code and a check cell after it. Untouched, a check cell prints
# "Not attempted yet"; once you have written your answer, it checks it against the library (with
# `torch.testing.assert_close`) and says what is wrong if it differs.
#
# **Exercise 1 · % of supervised.** From `rows` (one dict per row and seed: `row["name"]`,
# `row["seed"]`, `row["smoke_iou"]` as a fraction), compute for every seed
# `100 * stage 2 / fully supervised` (rows `"stage2"` and `"supervised"`), and assign the mean
# over seeds to `answer`. (Why per seed and not the ratio of the means? Each seed's pair saw the
# same images, so its ratio cancels what that seed's data made easy or hard.)

# %%
answer = None  # your code here

# %%
if answer is None:
    print("Not attempted yet: assign the mean per-seed percentage to `answer`.")
else:
    expected = results.percent_of_supervised(rows)["mean"]
    hint = "For each seed: 100 * stage2 smoke IoU / supervised smoke IoU; then the mean."
    torch.testing.assert_close(float(answer), expected, rtol=1e-6, atol=1e-6,
                               msg=lambda m: f"{m}\n{hint}")
    print(f"Right: {expected:.2f} % of supervised")

# %% [markdown]
# **Exercise 2 · Interpolating in log k.** Between 16 masks (smoke IoU 0.20) and 64 masks (0.40),
# how many masks reach 0.35 if the curve is a straight line in $\log_2 k$? Write
# `worth(k0, y0, k1, y1, target)` and check it against the library's `masks_worth`.

# %%
def worth(k0, y0, k1, y1, target):
    """Masks at which the line through (log2 k0, y0) and (log2 k1, y1) reaches target."""
    return None  # your code here


# %%
attempt = worth(16, 0.20, 64, 0.40, 0.35)
if attempt is None:
    print("Not attempted yet: write worth above, run its cell, then this one.")
else:
    expected, _ = results.masks_worth([16, 64], [0.20, 0.40], 0.35)
    hint = "log2 k = log2 k0 + (target - y0) / (y1 - y0) * (log2 k1 - log2 k0); k = 2 ** that."
    torch.testing.assert_close(float(attempt), expected, rtol=1e-6, atol=1e-6,
                               msg=lambda m: f"{m}\n{hint}")
    print(f"Right: about {expected:.1f} masks (a straight line in k would say "
          f"{16 + 0.75 * 48:.0f})")

# %% [markdown]
# **Exercise 3 · The trivial baseline.** Call every pixel of every `test` image smoke: compute the
# smoke IoU of each smoke image (`sets["test"].labels == 1`) with its true mask
# (`sets["test"].smoke_masks`, bool `[N, H, W]`), average over those images, and assign the
# fraction to `answer`. Hint: with a prediction of all ones, the IoU of an image is the share of
# its pixels that are smoke.

# %%
answer = None  # your code here

# %%
if answer is None:
    print("Not attempted yet: assign the whole-image smoke IoU (a fraction) to `answer`.")
else:
    expected = summary["whole_image"]["smoke_iou"]
    hint = "Mean over smoke images of (smoke pixels / all pixels)."
    torch.testing.assert_close(float(answer), expected, rtol=1e-6, atol=1e-6,
                               msg=lambda m: f"{m}\n{hint}")
    print(f"Right: {100 * expected:.2f} % — every segmenter must beat this")
