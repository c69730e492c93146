# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Your own data: from a folder or a COCO export to pseudo-masks on disk
#
# Notebooks 01–07 use the synthetic benchmark. This one is the path a researcher takes next, on
# real data:
#
# 1. **load** your images in either layout the kit reads: a folder (`labels.csv` + `images/` +
#    optional `masks/`) or a **COCO-segmentation export** (the format Roboflow exports, and the
#    format the IJmond-SEG smoke dataset is published in);
# 2. **train** the paper's teacher-student method on them, with the recipe the method notebooks
#    use, and choose how its CAM is read on your validation split;
# 3. **inspect** the CAMs (a static figure, and the interactive explorer of notebook 07);
# 4. **export pseudo-masks**: one PNG per image, the product of weakly supervised segmentation, for
#    a downstream segmentation network to train on;
# 5. **evaluate** them against the ground truth.
#
# Every step is one library call, and the same steps are commands for people who do not use
# notebooks (`wsss train`, `wsss evaluate`, `wsss pseudo-masks`); the last section gives the exact
# commands for the paper's setting on IJmond-SEG.
#
# **Settings come from the profile** (its `"*"` section, the recipe every notebook trains with,
# and section `08_your_own_data` of `wsss_lib/profiles/*.json`). In `quick` and `full` that
# section names only what `wsss train` adds (the paradigm, how images become square): every
# training setting is the one notebooks 01–06 use (warm-up + cosine schedule, `resnet_mini` at
# output stride 8, conv-stem `vit_mini`, bf16, gradient clipping, weight decay, proxy
# pre-training), built by the same code (`wsss_lib.studies.configs.own_data_config`: notebook
# 02's row with your images as data). `quick` runs it with tiny networks for one epoch (it only
# checks that everything runs: expect near-chance numbers); `full` is the real recipe; `paper` is
# the paper's own setting (ResNet-50 + PCM → ViT-B/16 at 512 px, ImageNet weights; a GPU job).
# `wsss train --profile NAME` trains exactly what this notebook trains with that profile.
#
# **Example data.** Without `coco_dir`, the `full` profile exports notebook 02's synthetic
# benchmark (its training split, `val` and `test`, seed 0) as a COCO export and treats it as
# "your" data, so the result can be checked against notebook 02's rows; `quick` uses the tiny
# committed samples in `data_samples/`. Point `coco_dir` (or `data_dir`) at your own data.

# %% tags=["parameters"]
profile = "quick"  # "quick": tiny models, seconds; "full": the method's recipe; "paper": GPU
output_dir = "."  # where metrics.json, figures and the pseudo-masks are written
data_dir = None  # your folder (labels.csv + images/ [+ masks/]); None: the committed data_samples
coco_dir = None  # your COCO export (train/ valid/ test/); None: the committed data_samples/coco
image_size = None  # square side the images are loaded at (None: from profile)
epochs = None  # training epochs (None: from profile)
n_show = None  # images in the CAM figure (None: from profile)
cnn_weights = None  # absolute path of local CNN backbone weights (None: from profile)
vit_weights = None  # absolute path of local ViT backbone weights (None: from profile)

# %%
# %matplotlib inline
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from wsss_lib.data import load_coco, load_folder
from wsss_lib.metrics import per_image_iou_values
from wsss_lib.paper import PAPER_OWN_DATA
from wsss_lib.plots.cams import cam_gallery
from wsss_lib.plots.show import show_figure
from wsss_lib.profiles import notebook_settings
from wsss_lib.pseudo_masks import (
    compute_scene_cams,
    evaluate_scenes,
    export_pseudo_masks,
    read_mask_png,
)
from wsss_lib.resources import sample_data_dir
from wsss_lib.results import MetricsDocument, percent
from wsss_lib.runs import (
    describe_recipe,
    export_benchmark,
    load_recipe,
    load_run_recipe,
    read_run_recipe,
    train_recipe,
)
from wsss_lib.utils import default_cache_dir, get_device, seed_everything

S = notebook_settings("08_your_own_data", profile, n_show=n_show)
given = {"image_size": image_size, "epochs": epochs, "cnn_weights": cnn_weights,
         "vit_weights": vit_weights}
recipe = load_recipe(profile, **{k: v for k, v in given.items() if v is not None})
seed_everything(recipe.seed)
device = get_device()
output_dir = Path(output_dir)
output_dir.mkdir(parents=True, exist_ok=True)
folder_root = Path(data_dir) if data_dir is not None else sample_data_dir()
# without data of your own: the profile's example ("benchmark": notebook 02's scenes as COCO)
example = S.get("example_data", "samples") if coco_dir is None and data_dir is None else None
if coco_dir is not None:
    coco_root = Path(coco_dir)
elif example == "benchmark":
    coco_root = export_benchmark(profile)  # written once, then read from the cache folder
else:
    coco_root = sample_data_dir() / "coco"
train_on_coco = coco_dir is not None or example == "benchmark"
print(f"device: {device} | cache: {default_cache_dir()} | profile: {profile}")
print(describe_recipe(recipe))
print(f"folder: {folder_root}\nCOCO export: {coco_root}")

# %% [markdown]
# ## 1 · A folder of images
#
# The folder layout is the simplest way in: an `images/` folder, a `labels.csv` with one
# `file,label` row per image (`smoke` / `clean`), and, if you have them, binary `masks/` with the
# image's file stem (needed only to *measure* IoU; training uses the image labels alone).
#
# Images are loaded at the recipe's square size. Real frames are rarely square (IJmond's are
# 1920 × 1080), so the default `resize="pad"` keeps the aspect ratio and letterboxes the frame;
# `"crop"` cuts the centre and `"squash"` distorts. The choice and each image's box are recorded in
# the scenes' `params` / `meta`, so CAMs can be mapped back to the original pixels later.

# %%
folder = load_folder(folder_root, image_size=recipe.image_size, resize=recipe.resize)
print(folder)
print("first image:", folder.names[0], folder.params[0])

# %% [markdown]
# ## 2 · A COCO-segmentation export
#
# A COCO export has one folder per split (`train/`, `valid/`, `test/`), each with its images and one
# `_annotations.coco.json` of polygons (or RLE). `load_coco` turns it into the same `SmokeScenes`:
# an image with any instance of a *smoke* category is labelled smoke and its mask is the union of
# those instances; an image without one is clean. By default every category whose name contains
# "smoke" counts (IJmond-SEG separates low- and high-opacity smoke, and deliberately labels white
# **steam** as *not* smoke); pass `smoke_categories=[...]` to choose, and `keep_opacity=True` for a
# per-pixel opacity class map.
#
# The committed sample (`quick`) is a tiny export made from synthetic scenes: 16:9 JPEG frames in
# `train/` and `test/`, square PNGs in `valid/`; in `full` the export holds notebook 02's
# benchmark (square 64 px PNGs). We load each split at the model's size and, for scoring, the
# test split once more at its **original size**: metrics there compare the upsampled CAM with
# the untouched ground truth (the ground truth is never downsampled).

# %%
coco_train = load_coco(coco_root, "train", image_size=recipe.image_size, resize=recipe.resize)
try:
    coco_valid = load_coco(coco_root, "valid", image_size=recipe.image_size, resize=recipe.resize)
except FileNotFoundError:  # an export without a validation split
    coco_valid = None
coco_test = load_coco(coco_root, "test", image_size=recipe.image_size, resize=recipe.resize)
coco_test_original = load_coco(coco_root, "test")  # original size: the ground truth for scoring
for name, scenes in [("train", coco_train), ("valid", coco_valid), ("test", coco_test)]:
    if scenes is not None:
        print(f"{name:>5}: {scenes} | smoke categories: {scenes.meta['smoke_categories']}")

k = int(np.argmax(coco_test_original.labels))  # a smoke frame
fig = Figure(figsize=(8, 2.6))
axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [16 / 9, 1]})
axes[0].imshow(coco_test_original.images[k])
axes[0].contour(coco_test_original.smoke_masks[k], levels=[0.5], colors="cyan")
axes[0].set_title(f"{coco_test.names[k]}: original {coco_test_original.image_size[1]}x"
                  f"{coco_test_original.image_size[0]}")
axes[1].imshow(coco_test.images[k])
axes[1].contour(coco_test.smoke_masks[k], levels=[0.5], colors="cyan")
axes[1].set_title(f"loaded: {recipe.image_size} px, resize={recipe.resize!r}")
for ax in axes:
    ax.axis("off")
_ = show_figure(fig, output_dir / "coco_letterbox.png")

# %% [markdown]
# ## 3 · Train, and choose the read-out on validation
#
# `train_recipe` builds the recipe's `TrainConfig` (here the paper's method: a CNN teacher is
# trained on the image labels first, then a ViT student learns from the labels plus the
# knowledge-transfer loss) and trains it through the model cache: the run is keyed by the config
# and a fingerprint of the images, so running this cell again loads it instead of retraining, and
# an interrupted run resumes from its last epoch. On a GPU the same code runs with CUDA and mixed
# precision. With a COCO export (`coco_dir`, or the `full` profile's example) we train on its
# `train` split and validate on `valid`; otherwise on the folder (validated on the sample
# export's `valid` split when both are the committed samples).
#
# **The read-out.** A pseudo-mask depends on which map is read (the score map, Grad-CAM of some
# layer) and where it is cut (the threshold). As in notebook 02, `train_recipe` tries the
# method's candidate maps (`cam_readouts` of the profile) on the **validation** split, sweeps the
# threshold, and keeps the pair with the best smoke IoU there; the test split is never used for
# the choice. When the validation split has no masks (or there is none), it cannot choose: it
# says so and falls back to the first candidate (the score map) at the paper's threshold 0.3.
# Either way the read-out is recorded beside the run (`wsss_recipe.json`), and `wsss evaluate` /
# `wsss pseudo-masks` use it.
#
# **Proxy pre-training.** The `full` recipe starts each backbone from the proxy pre-training
# (`wsss_lib.train.pretrain`): the network first learns to segment *clean* synthetic scenes
# (sky, clouds, ground, chimneys; never smoke), a stand-in for the ImageNet weights the paper
# starts from. On real photographs ImageNet weights are the better start when you have them:
# pass them with `cnn_weights` / `vit_weights` (or `wsss train --cnn-weights FILE`, with the
# matching architecture, e.g. `--set cnn=resnet18`); they replace the proxy pre-training.
#
# **Did it learn?** A few dozen images and a short training can leave a classifier that learned
# nothing. The bar is not 0 %: a "classifier" that answers *smoke* for every image is right on
# every smoke image, so a network only learned something when it beats the better of "always
# smoke" and "always clean" on images it did not train on. The cell prints that comparison next to
# the validation accuracy (section 6 repeats it on the held-out test split, with the CAMs).

# %%
if train_on_coco:
    train_scenes, val_scenes, trained_on = coco_train, coco_valid, f"{coco_root} train"
else:
    train_scenes, trained_on = folder, str(folder_root)
    val_scenes = coco_valid if data_dir is None else None
run = train_recipe(recipe, train_scenes, val_scenes, profile=profile,
                   data={"train": trained_on, "val": None if val_scenes is None else "valid"})
recipe = load_run_recipe(run.run_dir)  # the read-out chosen on validation (or the fallback)
readout = read_run_recipe(run.run_dir)["readout"]
print("run:", run.run_dir.name)
print("folder:", run.run_dir)
print("read-out:", readout["note"])
for record in run.history:
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in record.items()
           if k in ("epoch", "train_loss", "train_acc", "val_acc")})


def versus_always_one_class(accuracy, labels, where):
    """A sentence comparing an accuracy with answering the same class for every image."""
    labels = np.asarray(labels)
    always_smoke = float(labels.mean())
    bar = max(always_smoke, 1 - always_smoke)
    verdict = ("above it: the classifier learned something" if accuracy > bar else
               "NOT above it: the classifier did not learn to tell smoke from clean (it is at "
               "chance)")
    return (f"{where}: accuracy {accuracy:.1%} vs {bar:.1%} for the better of 'always smoke' "
            f"({always_smoke:.1%}) and 'always clean' ({1 - always_smoke:.1%}) on {len(labels)} "
            f"images: {verdict}.")


last = run.history[-1]
if val_scenes is not None and "val_acc" in last:
    print(versus_always_one_class(last["val_acc"], val_scenes.labels, "validation"))
else:
    print("No validation images: section 6 compares with the baselines on the held-out test "
          "split.")

# %% [markdown]
# ## 4 · Inspect the CAMs
#
# The CAM settings are the run's recipe's `readout` (one `CamReadout`): with `quick` / `full` the
# read-out chosen on validation in section 3 (map and threshold, one scale); with `paper` the
# paper's Grad-CAM on `norm1` of the ViT's blocks −5, −4, −2, −1, averaged over scales 0.5–2.0,
# cut at 0.3 of the min-max normalised map. Below: a few folder images with their ground truth
# outlined in cyan and the pseudo-mask (CAM > threshold) in white.
#
# If section 3 said the classifier did not learn, read these CAMs as those of an untrained
# network: min-max normalisation stretches any map to [0, 1], so a CAM always *looks* like it
# found something. `p(smoke)` near 0.5 on every image is the same warning.

# %%
cam_readout = recipe.readout  # the run's read-out, one CamReadout: map, layers, scales, threshold
settings = cam_readout.resolve(run.model)  # its layers as the model's own names
print("CAM settings:", settings.to_record())
smoke_first = list(np.argsort(-folder.labels, kind="stable")[: S.n_show])
(index, cams, logits), = compute_scene_cams(run.model, folder, settings, indices=smoke_first,
                                            batch_size=len(smoke_first), progress=False)
probabilities = 1 / (1 + np.exp(-logits))
fig = cam_gallery(
    folder.images[index],
    {"smoke mask": folder.smoke_masks[index] if folder.has_masks else None,
     f"{settings.method} CAM": cams},
    outlines={"smoke": (folder.smoke_masks[index], "cyan")} if folder.has_masks else None,
    annotations={"image": [f"p(smoke)={p:.2f}" for p in probabilities]},
    row_titles=[folder.names[i] for i in index],
    cam_threshold=settings.threshold,
    title=f"{run.config.main_spec.name} ({run.config.paradigm}) on {folder_root.name}",
)
_ = show_figure(fig, output_dir / "cams.png")

# %% [markdown]
# The same run in the **interactive explorer** of notebook 07 (it needs a live kernel: in the HTML
# report the widget does not render). The folder and the COCO test split are its image sources;
# move the threshold, switch the CAM method, fuse other layers, or toggle PAR / CRF refinement.

# %%
from wsss_lib import widgets as W

run_model = [m for m in W.list_cached_models() if m.key == run.run_dir.name]
explorer_data = W.ExplorerData(run_model, splits=(), image_size=recipe.image_size,
                               device=device)
explorer_data.add_scenes("your folder", folder)
explorer_data.add_scenes("COCO test", coco_test)
explorer = W.CamExplorer(explorer_data, W.ExplorerState(
    source="your folder", index=int(smoke_first[0]), model_a=run.run_dir.name,
    method=settings.method, scales=settings.scales, threshold=settings.threshold))
explorer

# %% [markdown]
# ## 5 · Export pseudo-masks
#
# `export_pseudo_masks` writes one PNG per image, named after the image (`frame_011.png`: 255 =
# smoke, 0 = background) at the image's **original size** (the CAM is mapped back through the
# letterbox and upsampled), plus `manifest.json` with the settings, the run and a hash of every
# image. Files are written atomically; running the export again skips the images already done
# (an interrupted export resumes), and a folder holding masks of other settings is refused rather
# than mixed. With ground truth at the original size (`truth=`) it also reports the smoke IoU of
# exactly the masks it wrote.

# %%
masks_dir = output_dir / "pseudo_masks" / "coco_test"
export = export_pseudo_masks(run, coco_test, masks_dir, cam_readout, truth=coco_test_original,
                             progress=False)
print(f"written: {len(export.written)} masks, e.g. {export.written[:3]} | skipped: "
      f"{len(export.skipped)} | size: {export.output_size}")
print("metrics:", export.metrics)
again = export_pseudo_masks(run, coco_test, masks_dir, cam_readout, truth=coco_test_original,
                            progress=False)
print(f"second run: written {len(again.written)}, skipped {len(again.skipped)} (resumed)")
folder_export = export_pseudo_masks(run, folder, output_dir / "pseudo_masks" / "folder",
                                    cam_readout, progress=False)
print(f"folder: {len(folder_export.written)} masks at {folder_export.output_size} size; "
      f"{folder_export.metrics.get('note', '')}")

fig = Figure(figsize=(8, 2.6))
axes = fig.subplots(1, 2)
axes[0].imshow(coco_test_original.images[k])
axes[0].contour(coco_test_original.smoke_masks[k], levels=[0.5], colors="cyan")
axes[0].set_title(f"{coco_test.names[k]} with its ground truth")
written_mask = read_mask_png(export.paths[k])
axes[1].imshow(written_mask, cmap="gray")
axes[1].set_title(f"{export.paths[k].name}: {written_mask.shape[1]}x{written_mask.shape[0]}")
for ax in axes:
    ax.axis("off")
_ = show_figure(fig, output_dir / "pseudo_masks.png")

# %% [markdown]
# ## 6 · Evaluate
#
# `evaluate_scenes` computes the kit's metrics (`wsss_lib.metrics`): image accuracy and, with
# ground truth, the per-image smoke IoU (the paper's "mIoU"), pooled pixel scores and a threshold
# sweep. On the COCO test split it compares at the original size, so its smoke IoU is that of the
# PNGs written above; on the folder it compares in the model's frame.

# %%
evaluation = {
    "COCO test (original size)": evaluate_scenes(run, coco_test, cam_readout,
                                                 truth=coco_test_original,
                                                 progress=False)["metrics"],
    "folder (model frame)": evaluate_scenes(run, folder, cam_readout,
                                            progress=False)["metrics"],
}
shown = ("accuracy", "smoke_iou", "precision", "recall", "best_threshold_iou")
print(f"{'':<28}" + "".join(f"{m:>20}" for m in shown))
for name, metrics in evaluation.items():
    cells = [metrics.get(m) for m in shown]
    print(f"{name:<28}" + "".join(f"{'—' if v is None or v != v else f'{100 * v:.2f} %':>20}"
                                  for v in cells))
same = np.isclose(evaluation["COCO test (original size)"]["smoke_iou"],
                  export.metrics["smoke_iou"], equal_nan=True)
verdict = "equals" if same else "DIFFERS FROM"
print(f"smoke IoU of the written PNGs {verdict} the evaluation's at the original size.")


# %% [markdown]
# ### Did the networks learn anything?
#
# Numbers mean little without the score of a method that needs no network at all. Two such
# baselines, on the **held-out** COCO test split (images the network never trained on):
#
# - **image accuracy** against answering the same class for every image: "always smoke" is right
#   on every smoke image, "always clean" on every clean one;
# - **smoke IoU** against calling the **whole image** smoke: on a smoke image that pseudo-mask
#   finds all the smoke, and its IoU is the share of the image the smoke covers.
#
# A classifier that does not beat the first did not learn to recognise smoke, and its CAMs are
# those of an untrained network; pseudo-masks that do not beat the second are no better than no
# segmentation at all. With the `quick` profile (tiny networks, one epoch of a few seconds)
# expect both verdicts to be negative: that profile only checks that every step runs. With
# `full` on its example data the test split is notebook 02's `test` (256 images), so the numbers
# can be set beside notebook 02's rows (`benchmarks/bench_cli_reproduces.py` does it for the
# command line). The folder row of the table above is printed for completeness, but when the
# network trained on the folder (the quick default) those are training images, not a test.


# %%
def whole_image_smoke_iou(scenes):
    """Smoke IoU of the pseudo-mask "every pixel is smoke", per image over the smoke images."""
    ious = [per_image_iou_values(np.ones(np.shape(mask), bool)[None],
                                 np.asarray(mask, bool)[None], [label])[0]
            for mask, label in zip(scenes.smoke_masks, scenes.labels, strict=True)]
    ious = [iou for iou in ious if iou == iou]  # clean images are NaN
    return float(np.mean(ious)) if ious else float("nan")


held_out = evaluation["COCO test (original size)"]
whole_image = whole_image_smoke_iou(coco_test_original)
learned_classes = held_out["accuracy"] > max(np.mean(coco_test.labels),
                                             1 - np.mean(coco_test.labels))
learned_masks = held_out.get("smoke_iou", float("nan")) > whole_image
print(versus_always_one_class(held_out["accuracy"], coco_test.labels, "held-out COCO test"))
print(f"held-out COCO test: smoke IoU {held_out.get('smoke_iou', float('nan')):.1%} vs "
      f"{whole_image:.1%} for calling the whole image smoke: "
      + ("above it: the pseudo-masks localise smoke better than no segmentation."
         if learned_masks else
         "NOT above it: the pseudo-masks are no better than calling every pixel smoke."))
if not (learned_classes and learned_masks):
    print("=> The networks did NOT learn enough on this data to be useful"
          + (" (expected with the quick profile: tiny networks trained for seconds)."
             if profile == "quick" else
             ": train longer (epochs), on more images, or from pre-trained weights."))
if len(coco_test) < 20:
    print(f"Note: the held-out split has only {len(coco_test)} images, so one image moves the "
          f"accuracy by {1 / len(coco_test):.0%}: even a positive verdict is weak evidence.")


# %%
def in_percent(metrics):
    keys = ("accuracy", "smoke_iou", "precision", "recall", "f1", "best_threshold_iou")
    return {k: percent(metrics[k]) for k in keys if k in metrics}


results = {name: in_percent(m) for name, m in evaluation.items()}
results["pseudo-masks COCO test (PNG files)"] = {
    **in_percent(export.metrics), "n_images": export.metrics["n_images"],
    "resumed_second_run": len(again.skipped)}
results["training"] = {k: v for k, v in run.history[-1].items()
                       if k in ("epoch", "train_loss", "train_acc", "val_acc")}
results["readout"] = {"chosen_on": readout.get("chosen_on"), "label": readout["label"],
                      "fallback": bool(readout.get("fallback", False)),
                      "val_iou": percent(readout["val_iou"]) if "val_iou" in readout else None}
results["baselines held-out COCO test"] = {
    "always_smoke_accuracy": percent(float(np.mean(coco_test.labels))),
    "whole_image_smoke_iou": percent(whole_image),
    "classifier_beats_always_one_class": bool(learned_classes),
    "pseudo_masks_beat_whole_image": bool(learned_masks),
}
metrics = MetricsDocument(
    notebook="08_your_own_data",
    profile=profile,
    results=results,
    paper=PAPER_OWN_DATA,
    notes=[
        describe_recipe(recipe),
        f"read-out: {readout['note']}",
        f"run {run.run_dir.name}; trained on {trained_on} ({len(train_scenes)} images)",
        "smoke IoU etc. in %; COCO test compared at the original size (CAM upsampled), the "
        "folder in the model's frame",
        "the paper's number is on real IJmond-SEG data at 512 px with ResNet-50 / ViT-B/16: "
        "compare the procedure, not the values",
    ],
)
print("wrote", metrics.write(output_dir / "metrics.json"))

# %% [markdown]
# ## The paper's setting on IJmond-SEG
#
# **The data.** Use the IJmond-SEG dataset released with the paper (Zhang & Hsu 2025,
# [arXiv 2507.21959](https://arxiv.org/abs/2507.21959)): download its **COCO-segmentation export**
# (`train/`, `valid/` and `test/` folders, each with its frames and `_annotations.coco.json`; smoke
# outlined by opacity, white steam labelled separately as not-smoke) and unzip it, e.g. to
# `IJmond-SEG/`.
#
# **The run.** The `paper` profile holds the paper's setting: 512 px (letterboxed, aspect ratio
# kept); ResNet-50 + PCM at output stride 16 as teacher; ViT-B/16 student; batch 8; AdamW 1e-4;
# 3 epochs; λ = 1 global cosine alignment; Grad-CAM on `norm1` of blocks −5, −4, −2, −1;
# multi-scale 0.5–2.0; threshold 0.3. It starts from ImageNet weights: with a network, timm
# downloads its defaults (`timm/resnet50.a1_in1k` and
# `timm/vit_base_patch16_224.augreg2_in21k_ft_in1k` on huggingface.co); offline, pass local
# `.safetensors` / `.pth` files of those architectures. On a GPU it runs with CUDA and mixed
# precision automatically:
#
# ```bash
# wsss train --profile paper --coco IJmond-SEG \
#     --cnn-weights resnet50.safetensors --vit-weights vit_base.safetensors  # prints the RUN id
# wsss evaluate RUN --coco IJmond-SEG --split test          # metrics, printed and written as JSON
# wsss pseudo-masks --run RUN --coco IJmond-SEG --split train --out ijmond_pseudo_masks/
# ```
#
# (without the two `--...-weights` options on a networked machine; `RUN` is the run id
# `wsss train` prints, and `wsss runs` lists them). The same as a notebook: run this one with
# `profile = "paper"` and `coco_dir` set, e.g.
# `wsss report --profile paper --only 08 -p 08:coco_dir /path/to/IJmond-SEG` (offline, add
# `-p 08:cnn_weights /abs/resnet50.safetensors -p 08:vit_weights /abs/vit_base.safetensors`; the
# paper profile has no sections for notebooks 01–07, which are about the synthetic benchmark).

# %% [markdown]
# **Full-profile results.** The `full` profile's run of this notebook (the method's recipe on
# notebook 02's benchmark exported as COCO) is committed in `docs/results/full/08_your_own_data/`:
# the [executed notebook](../docs/results/full/08_your_own_data/08_your_own_data.ipynb), with
# every figure, and its numbers in
# [metrics.json](../docs/results/full/08_your_own_data/metrics.json).

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell to fill in (replace the `None`) and, where a check is possible, a check
# cell under it that compares your answer with the library. Untouched, a check cell prints "Not
# attempted yet".
#
# ### Exercise 1 · The whole-image baseline, by hand
#
# Calling every pixel smoke finds all the smoke, so its intersection with the truth is the smoke
# itself and its union is the whole image: its IoU on a smoke image is the **share of the image
# the smoke covers**. Write `whole_image_iou(masks, labels)` in numpy: `masks` is a boolean array
# `[N, H, W]`, `labels` `[N]` (1 = smoke); return the mean of that share over the smoke images.
# The check runs it on your folder (in the model's frame) against the library's
# `per_image_smoke_iou`.

# %%
def whole_image_iou(masks, labels):
    """Mean over the smoke images of the share of smoke pixels."""
    answer = None  # your code here
    return answer


# %%
import torch

from wsss_lib.metrics import per_image_smoke_iou

if not folder.has_masks:
    print("Your folder has no masks/: there is no smoke IoU to check against.")
else:
    answer = whole_image_iou(np.asarray(folder.smoke_masks, bool), np.asarray(folder.labels))
    if answer is None:
        print("Not attempted yet: fill in whole_image_iou above.")
    else:
        reference = per_image_smoke_iou(np.ones_like(folder.smoke_masks, dtype=bool),
                                        folder.smoke_masks, folder.labels)
        torch.testing.assert_close(torch.tensor(float(answer), dtype=torch.float64),
                                   torch.tensor(reference, dtype=torch.float64))
        print(f"Correct: calling every pixel smoke scores {float(answer):.1%} smoke IoU on the "
              "folder. A CAM must beat that to be worth anything.")

# %% [markdown]
# ### Exercise 2 · Which held-out images does the classifier get wrong?
#
# An accuracy hides *which* images fail. Set `answer` to the list of names (`coco_test.names`)
# of the held-out COCO test images the classifier gets wrong: it calls an image smoke when
# P(smoke) = sigmoid(logit) ≥ 0.5. `compute_scene_cams(run.model, coco_test, settings,
# progress=False)` yields `(indices, cams, logits)` batch by batch. Then look at those images
# (`coco_test.images[i]`): what do they have in common?

# %%
answer = None  # your code here: a list of image names

# %%
if answer is None:
    print("Not attempted yet: set answer to a list of image names.")
else:
    logits = np.zeros(len(coco_test), np.float32)
    for index, _, logit in compute_scene_cams(run.model, coco_test, settings, progress=False):
        logits[index] = logit
    called_smoke = 1 / (1 + np.exp(-logits)) >= 0.5
    wrong = [name for name, said, label in zip(coco_test.names, called_smoke, coco_test.labels,
                                               strict=True) if said != bool(label)]
    assert sorted(answer) == sorted(wrong), f"expected {sorted(wrong)}, got {sorted(answer)}"
    torch.testing.assert_close(1 - len(answer) / len(coco_test), held_out["accuracy"],
                               check_dtype=False)  # the same errors as the accuracy above
    print(f"Correct: {len(answer)} of {len(coco_test)} held-out images are misclassified "
          f"({answer}).")

# %% [markdown]
# ### Exercise 3 · Train longer, then read the verdicts again
#
# No check cell for this one: change a setting and compare. In the parameters cell at the top set
# `epochs` to several times the profile's value (printed by the first cell) and run the notebook
# again. The run is cached under a new key (the epochs are part of the config), so the short run
# stays in the cache too. Do the verdicts of "Did the networks learn anything?" change? Does
# the held-out accuracy move by more than one image's worth? Then point `data_dir` at a folder of
# your own (`labels.csv` + `images/` [+ `masks/`]) and ask the same questions there.
