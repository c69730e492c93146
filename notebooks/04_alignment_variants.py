# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · What exactly should the student align? Levels, distances, projection and target
#
# The knowledge-transfer loss of notebooks 02–03 makes three choices the paper compares:
#
# 1. **which teacher map** is the target: its *score map* (the raw CAM, one channel for
#    smoke/clean; what the paper's implementation aligns), or an *intermediate feature map* (e.g.
#    the CNN's `layer3`, 128 channels in `resnet_mini`; closer to the paper's stated intent of
#    "feature alignment");
# 2. **how the student reaches it**: through a learned 1×1 **projection** of its patch tokens to
#    the teacher's channel count, or without one;
# 3. **how the two maps are compared**: the **level** (what counts as one vector) and the
#    **distance** between vectors.
#
# The paper (real data) reports global cosine 47.37 % > channel cosine 46.85 % > spatial cosine
# 43.70 %, and L1 38.39 %, L2 33.74 %.
#
# **What is trained here.** The notebook's `variants` parameter lists the variants a run trains
# (section 4 prints every name it accepts). The `full` profile trains ten, over three seeds:
#
# - the CNN→ViT teacher-student aligning the teacher's score map with **global cosine** (the
#   paper's loss), **raw L1** and **raw L2**;
# - the same without a projection: the student's own score map aligned with the teacher's
#   (`no_projection_score_maps`, section 2);
# - the teacher's `layer3` **features** as target, at the three levels: global, spatial and
#   channel cosine (section 3; on the one-channel score map the levels are degenerate, section 1);
# - **co-training** (CNN and ViT trained together, knowledge-transfer gradients into both) with
#   global cosine, raw L1 and raw L2.
#
# So it tests the paper's claims *global cosine is the best alignment*, *global beats
# spatial-wise and channel-wise alignment* (on features, where the levels differ), *the
# projection helps* and *L1 and L2 lose to cosine under co-training*, and shows what each variant
# does to the chimney shortcut. All teacher-student runs use λ = 1 and the same cached teacher as
# notebooks 02–03, trained at 0.50 / 0.50 (notebook 09 asks the shortcut questions where a
# shortcut exists). The `quick` profile runs a few other variants with miniature networks on
# tiny data, seed 0 only, and only checks that everything runs.

# %% tags=["parameters"]
profile = "quick"  # "quick": tiny data/epochs for tests (<~40 s); "full": the real experiment
output_dir = "."  # where metrics.json and figures are written
variants = None  # alignment variants to train, names of ALIGNMENT_VARIANTS (None: from profile)
seeds = None  # training seeds, e.g. [0, 1, 2]; results are mean ± std (None: from profile)
epochs = None  # training epochs (None: from profile; shared with 02-07, changes the teacher)

# %%
# %matplotlib inline
from pathlib import Path

import torch
from IPython.display import Markdown, display

from wsss_lib.losses import kt_loss
from wsss_lib.paper import PAPER_ALIGNMENT
from wsss_lib.plots import method as plots
from wsss_lib.plots.show import show_figure
from wsss_lib.results import summarize, summary_table
from wsss_lib.results.alignment import alignment_claims, alignment_verdicts
from wsss_lib.results.method import chance_labels, method_document, single_seed_note
from wsss_lib.studies import measure
from wsss_lib.studies.alignment import (
    ALIGNMENT_LABELS,
    ALIGNMENT_VARIANTS,
    alignment_config,
    projection_mismatch_error,
    run_alignment,
)
from wsss_lib.studies.configs import TRAINING_KEYS, method_settings
from wsss_lib.train import get_or_train
from wsss_lib.utils import default_cache_dir, get_device, seed_everything

S = method_settings(profile, "04_alignment_variants", variants=variants, seeds=seeds,
                    epochs=epochs)
seed_everything(S.seeds[0])
device = get_device()
output_dir = Path(output_dir)
output_dir.mkdir(parents=True, exist_ok=True)
print(f"device: {device} | cache: {default_cache_dir()} | profile: {profile}")
print({"variants": S.variants, "seeds": S.seeds, **{k: S[k] for k in TRAINING_KEYS}})

# %% [markdown]
# ## 1 · Levels and distances
#
# Both maps are brought to one grid (the student's 1×1-projected tokens are resized onto the
# teacher's grid), flattened to `[C, N]` (channels × locations) and cut into vectors:
#
# | level | vectors per image | each vector holds |
# |---|---|---|
# | global | 1 | all `C·N` values |
# | spatial | `N` (one per location) | the `C` channel values there |
# | channel | `C` (one per channel) | the `N` values of that channel |
#
# Then student and teacher vectors are compared: **cosine** `1 − cos(u, v)` ignores scale;
# **L1** / **L2** are mean absolute / squared differences. "Raw" L1/L2 compare the values as they
# are (the projection must also learn the teacher's scale); the library's default rescales every
# vector to unit RMS first, which makes L2 exactly 2 × cosine.
#
# **A consequence the paper does not discuss.** When the target is the score map of a one-class
# model (as here), it has **one channel**. Then the one channel-vector *is* the whole map, so
# channel cosine and global cosine are the same loss. A spatial vector holds one number, so
# spatial cosine only checks whether the signs agree; a sign does not change under a small step,
# so this loss has **zero gradient**, and a `spatial_cosine` student trains exactly as with λ = 0
# (the single ViT of notebook 02). The cell below verifies all of this on random maps. On the
# score map, the level question is therefore only meaningful for intermediate features
# (section 3), and that is where the `full` profile tests it.

# %%
student_map, teacher_map = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
for level in ("global", "channel", "spatial"):
    print(f"{level:>8} cosine loss: {float(kt_loss(student_map, teacher_map, level)):.6f}")
sign_disagreement = float(1 - (student_map.sign() * teacher_map.sign()).mean())
print(f"1 - mean sign agreement: {sign_disagreement:.6f}  (= spatial cosine on 1 channel)")
student_map.requires_grad_(True)
kt_loss(student_map, teacher_map, "spatial").backward()
print("gradient of spatial cosine w.r.t. the student map: max |grad| =",
      float(student_map.grad.abs().max()))

# %% [markdown]
# ### Build it yourself: global, spatial and channel alignment
#
# The whole loss in plain torch, on a random "student" map of 6 channels on a 2x2 grid and a
# random "teacher" map of 4 channels on a 4x4 grid (like the feature targets of section 3):
#
# 1. **channels**: the 1×1 projection, the same linear map $6 \to 4$ applied at every location;
# 2. **grid**: bilinear resizing of the projected student onto the teacher's 4x4 grid;
# 3. **level**: flatten both to `[C, N]` (channels × locations) and cut them into vectors: the
#    whole matrix (global), its `N` columns (spatial) or its `C` rows (channel);
# 4. **distance**: `1 − cos(u, v)` per vector pair, averaged.
#
# Only step 3 differs between the levels. The check compares each value with the library's
# `KnowledgeTransferLoss` given the same projection weights (`torch.testing.assert_close`). The
# cell uses its own random generator, so the experiments below are unchanged.
#
# **Write it yourself.** Delete the lines of steps 1–4 (from `z = F.conv2d(...)` down to the
# closing `}` of `mine`; keep the random tensors, `one_minus_cos` and the check loop), rewrite
# them from the four steps above, and run the cell: the check says, level by level, whether your
# loss is the library's.

# %%
import torch
import torch.nn.functional as F

from wsss_lib.losses import KnowledgeTransferLoss

g = torch.Generator().manual_seed(0)  # a private random stream: the experiments are unchanged
student = torch.randn(2, 6, 2, 2, generator=g)  # [B, Cs, hs, ws]: student tokens as a grid
teacher = torch.randn(2, 4, 4, 4, generator=g)  # [B, Ct, ht, wt]: e.g. teacher features
W, b = torch.randn(4, 6, 1, 1, generator=g), torch.randn(4, generator=g)  # a 1x1 projection


def one_minus_cos(u, v):  # 1 - cos(u, v) along the last axis, averaged over all vectors
    return (1 - (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))).mean()


z = F.conv2d(student, W, b)  # 1. channels: 6 -> 4, the same linear map at every location
z = F.interpolate(z, size=teacher.shape[-2:], mode="bilinear", align_corners=False)  # 2. grid
s, t = z.flatten(2), teacher.flatten(2)  # 3. [B, C, N]: channels x locations
mine = {
    "global": one_minus_cos(s.flatten(1), t.flatten(1)),  # 1 vector per image: C*N values
    "spatial": one_minus_cos(s.transpose(1, 2), t.transpose(1, 2)),  # N vectors of C values
    "channel": one_minus_cos(s, t),  # C vectors of N values
}
for level, value in mine.items():
    with torch.random.fork_rng():  # building the loss draws a random projection: keep it apart
        kt = KnowledgeTransferLoss(level, "cosine", student_channels=6, teacher_channels=4)
    kt.load_state_dict({"projection.weight": W, "projection.bias": b})  # ours, for the check
    torch.testing.assert_close(value, kt(student, teacher))
    print(f"{level:>8} cosine: {value.item():.4f} (the library's KnowledgeTransferLoss agrees)")

# %% [markdown]
# ## 2 · With and without the projection
#
# The student's patch tokens have 128 channels (`vit_mini`; 64 for the quick profile's miniature
# ViT); the teacher's score map has one. A distance between them is undefined, and the loss says so
# instead of guessing:

# %%
sets = measure.evaluation_sets(S)
reference = get_or_train(alignment_config(S, "global_cosine", S.seeds[0]))
print(projection_mismatch_error(reference, sets["test"]))

# %% [markdown]
# The learned 1×1 projection is one fix. Without a projection, the honest one-channel counterpart
# of the student is **its own score map**: its classification head applied to every patch token,
# i.e. the student's raw CAM. The variant `no_projection_score_maps` aligns that map with the
# teacher's score map (global cosine; `KTSpec(projection=False, student_map="score_map")`). It
# is not a crippled version of the paper's loss but a different design: the map that is aligned is
# the map that classifies, so there is no separate projection that could absorb the teacher's
# signal without changing the student's CAM. The `full` profile trains it beside the paper's
# projected global cosine: the claim *the projection helps* compares the two.
#
# ## 3 · Score map or intermediate features?
#
# With `target="features"` the student is aligned to the teacher's `layer3` feature map (128
# channels in `resnet_mini`): a richer target that carries *what* the teacher sees at each
# location, not only how smoke-like it is. Here the three levels differ for real, and the
# projection maps the student's 128 channels to the teacher layer's 128. The `full` profile
# trains `features_global_cosine`, `features_spatial_cosine` and `features_channel_cosine`: the
# paper's level claim is tested on them.
#
# ## 4 · Train and measure the profile's variants
#
# The cell prints every variant name the `variants` parameter accepts, then trains (or loads) the
# ones of this run. A student whose accuracy on `test` stays below 60 % (chance is 50 %) is marked
# *(at chance)* in the table: its CAM numbers describe an untrained network.

# %%
print("variants you can pass:", ", ".join(ALIGNMENT_VARIANTS))
print("variants of this run:", ", ".join(S.variants))
rows = run_alignment(S, sets)  # one row per (variant, seed), fractions in [0, 1]
summary = summarize(rows)
display(Markdown(summary_table(
    summary, ["smoke_iou", "precision", "cam_chimney_mass", "chimney_fp_rate_decoupled",
              "accuracy", "accuracy_decoupled"],
    paper=PAPER_ALIGNMENT, labels=chance_labels(summary, ALIGNMENT_LABELS))))

# %% [markdown]
# Read the table like the paper's: smoke IoU per variant, with the paper's number (real data)
# where it reports the variant. The chimney columns add what the paper does not measure: a variant
# that raises smoke IoU by copying a chimney-centred teacher more faithfully will show it as more
# CAM mass on chimneys and a higher chimney FP rate on `test_decoupled`.

# %%
fig = plots.plot_alignment({ALIGNMENT_LABELS[k]: v for k, v in summary.items()},
                           paper={ALIGNMENT_LABELS[k]: v for k, v in PAPER_ALIGNMENT.items()})
_ = show_figure(fig, output_dir / "alignment_variants.png")  # shown here, and saved as a PNG

# %% [markdown]
# ## 5 · Verdict
#
# The sentences below test the paper's claims on **paired** runs: for each seed both rows saw the
# same training images and the same teacher (co-training rows: the same starting weights), so
# their difference cancels most seed-to-seed noise. Four claims are tested, each when its
# variants ran:
#
# - *global cosine is the best alignment* (paper): `global_cosine` beats every other
#   teacher-student variant of this run;
# - *global beats spatial-wise and channel-wise alignment* (paper): `features_global_cosine`
#   beats `features_spatial_cosine` and `features_channel_cosine`;
# - *the projection helps* (paper): `global_cosine` beats `no_projection_score_maps`;
# - *L1 and L2 lose to cosine under co-training* (paper): `co_training_cosine` beats
#   `co_training_l1_raw` and `co_training_l2_raw`.
#
# A claim is *supported* when the 95 % interval of the mean paired difference (Student's t over
# seeds) lies entirely on its side, *contradicted* when it lies entirely on the other side, and
# *inconclusive* when it contains zero. With one seed (the `quick` profile) no interval exists and
# every verdict is inconclusive: the first sentence then says so and points to the `full`
# profile's paired verdicts. A claim that involves a student at chance is *not judged*. Then come
# the best variant of this run and the range of CAM mass on chimneys (which variant passes the
# teacher's shortcut on the least). The paper itself saw a gap of about 9 points between seeds.

# %%
verdicts = [*single_seed_note("04_alignment_variants", S.seeds),
            *alignment_verdicts(summary, rows)]
for sentence in verdicts:
    display(Markdown("- " + sentence))
_ = method_document("04_alignment_variants", profile, summary, PAPER_ALIGNMENT, verdicts, S,
                    claims=alignment_claims(rows), rows=rows).write(output_dir / "metrics.json")

# %% [markdown]
# ## 6 · What we learned, and what to try
#
# - On a one-class score map, "global vs channel" is not a choice: they are the same loss, and
#   spatial cosine degenerates to sign agreement, which has no gradient (the student learns as
#   if λ = 0); section 1 verifies both on random maps. Differences the paper reports between them
#   on such a target are within its own seed-to-seed gap (about 9 points).
# - The verdicts say whether cosine beats plain L1/L2 here as in the paper, for the
#   teacher-student and under co-training.
# - The chimney sentence says which alignment passes the teacher's shortcut on the least; a
#   variant can trade smoke IoU against chimney reliance.
# - The projection verdict says whether the learned projection matters; the feature rows say
#   whether the level matters where it can, and whether aligning richer intermediate features
#   beats aligning the score map.
#
# **Full-profile results.** The `full` profile's run of this notebook (the ten variants, three
# seeds, with the paired verdicts) is committed in `docs/results/full/04_alignment_variants/`: the
# [executed notebook](../docs/results/full/04_alignment_variants/04_alignment_variants.ipynb),
# with its figure, and its numbers, claims and verdicts in
# [metrics.json](../docs/results/full/04_alignment_variants/metrics.json).
#
# Things to try: another teacher layer (`teacher_layer="layer2"` via
# `teacher_student_config(S, target="features", teacher_layer="layer2")` of
# `wsss_lib.studies.configs`), the unit-RMS L1/L2 variants (`global_l1`, `global_l2`),
# `match_to="student"` (resize the teacher onto the student's grid instead), or any variant with
# the λ sweep of notebook 03.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your code and a check cell after it. Untouched, a check cell prints
# "Not attempted yet"; once you have written your answer, it compares it with the library's
# `kt_loss` (`torch.testing.assert_close`) and says what is wrong if it differs. They run on small
# random maps, in a second.
#
# **Exercise 1 · Raw L1, as the paper most likely used it.** Write `raw_l1(s, t)`: for two maps
# of the same shape `[B, C, H, W]`, the mean absolute difference over every element, with no
# rescaling (the `*_l1_raw` variants). Why must the projection then also learn the teacher's
# *scale*, which cosine ignores?

# %%
def raw_l1(s, t):
    """Mean absolute difference of two maps of the same shape (no rescaling)."""
    return None  # your code here


# %%
g = torch.Generator().manual_seed(2)  # a private random stream
s_map, t_map = torch.randn(3, 2, 4, 4, generator=g), 5 * torch.randn(3, 2, 4, 4, generator=g)
attempt = raw_l1(s_map, t_map)
if attempt is None:
    print("Not attempted yet: write raw_l1 above, run its cell, then this one.")
else:
    expected = kt_loss(s_map, t_map, "global", "l1", normalize=False)
    hint = "Average |s - t| over all elements; do not rescale either map."
    torch.testing.assert_close(attempt, expected, msg=lambda m: f"{m}\n{hint}")
    print(f"raw L1 = {float(attempt):.4f}, as kt_loss(..., 'l1', normalize=False)")

# %% [markdown]
# **Exercise 2 · Unit-RMS L2 is twice the cosine loss.** The library's default L1/L2 first
# rescale each vector to root-mean-square 1. For the maps of exercise 1 at the **global** level
# (one vector per image: all `C·H·W` values), rescale each image's vector `u` to
# `u / sqrt(mean(u²))`, take the mean squared difference of the two rescaled vectors, average over
# the batch, and assign the number to `answer`. The check compares it with
# `kt_loss(s, t, "global", "l2")` and with `2 × kt_loss(s, t, "global", "cosine")`.

# %%
answer = None  # your code here

# %%
if answer is None:
    print("Not attempted yet: compute the unit-RMS L2 of s_map and t_map into `answer`.")
else:
    expected = kt_loss(s_map, t_map, "global", "l2")
    hint = ("Flatten each image to one vector, divide it by its root-mean-square, then average "
            "the squared differences.")
    torch.testing.assert_close(torch.as_tensor(answer, dtype=expected.dtype), expected,
                               msg=lambda m: f"{m}\n{hint}")
    torch.testing.assert_close(expected, 2 * kt_loss(s_map, t_map, "global", "cosine"))
    print(f"unit-RMS L2 = {float(answer):.4f} = 2 x global cosine, as the library's")

# %% [markdown]
# **Exercise 3 · Measure what the full profile does not.** In the parameters cell at the top, set
# `variants = ["global_cosine", "global_l1", "global_l2"]` and run the notebook again (global
# cosine comes from the cache). The claim *global cosine is the best alignment* then compares the
# paper's loss with the unit-RMS L1 and L2, where L2 is exactly 2 × cosine (exercise 2): does the
# training tell them apart? With the `quick` profile the students usually stay
# near chance and the claims are then not judged: set `profile = "full"` too (three seeds) for
# verdicts. There is no check cell: the verdicts are computed from your run.
