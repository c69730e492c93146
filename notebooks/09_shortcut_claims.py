# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Where the shortcut lives: does the teacher-student suppress it?
#
# The paper's headline is about the **chimney shortcut**: its CNN-teacher / ViT-student framework
# "directly targets the co-occurrence problem", "significantly suppresses spurious activations"
# (smoke CAMs on chimneys) and "improves boundary localization". Notebooks 02–06 cannot test that:
# they train at P(chimney | smoke) = P(chimney | clean) = 0.50, where a chimney says nothing about
# smoke and there is no shortcut to suppress. Notebook 01 showed the other extreme: at 0.95 / 0.05
# the single CNN becomes a chimney detector (33 % accuracy on `test_decoupled` in the `full` run),
# and a chimney detector has no smoke to teach.
#
# So this notebook trains the paper's headline rows **in between**, at *coupled* levels where a
# chimney is evidence of smoke *and* the networks still learn smoke, over enough paired seeds to
# decide:
#
# | row | what is trained |
# |---|---|
# | single CNN | `resnet_mini` alone (this *is* the teacher) |
# | single ViT | `vit_mini` alone |
# | TS CNN→ViT | frozen CNN teacher trained on the same data, ViT student (**paper**) |
# | TS, 0.50 teacher | the same, its teacher trained at 0.50 / 0.50 (no shortcut to learn) |
#
# and measures, on `test_decoupled` (smoke never at a chimney, every clean image shows one), how
# much of each pseudo-mask and CAM falls on chimneys, beside smoke IoU and a **boundary F-score**.
# Every claim is a paired comparison over seeds with a 95 % interval: *supported*,
# *contradicted* or *inconclusive*.
#
# Run time: the `quick` profile trains tiny networks for seconds (its numbers mean nothing, and
# the notebook says so); the `full` profile trains 5 seeds × 3 rows × 3 levels plus the
# 0.50-teacher row (3 seeds × 2 levels): about 40 CPU-minutes, shared with notebooks 01 and 02
# through the model cache.

# %% tags=["parameters"]
profile = "quick"  # "quick": untrained (tests); "full": the experiment (5 seeds, 3 levels)
output_dir = "."  # where metrics.json and figures are written
seeds = None  # seeds of the headline rows, e.g. [0, 1, 2, 3, 4] (None: from profile)
train_levels = None  # [[P(chimney|smoke), P(chimney|clean)], ...] to train at (None: profile)

# %%
# %matplotlib inline
from pathlib import Path

import numpy as np
import torch
from IPython.display import Markdown, display

from wsss_lib.boundary import boundary_f_values
from wsss_lib.plots import method as method_plots
from wsss_lib.plots import shortcut as plots
from wsss_lib.plots.show import show_figure
from wsss_lib.results import summarize, summary_table
from wsss_lib.results.method import chance_labels
from wsss_lib.results.shortcut import (
    seeds_for_half_width,
    shortcut_claims,
    shortcut_document,
    shortcut_labels,
    shortcut_verdicts,
)
from wsss_lib.results.tables import METRIC_NAMES
from wsss_lib.studies import measure
from wsss_lib.studies import shortcut as study
from wsss_lib.studies.configs import method_settings
from wsss_lib.utils import default_cache_dir, get_device, seed_everything

S = method_settings(profile, "09_shortcut_claims", seeds=seeds,
                    train_levels=train_levels)
seed_everything(S.seeds[0])
output_dir = Path(output_dir)
output_dir.mkdir(parents=True, exist_ok=True)
print(f"device: {get_device()} | cache: {default_cache_dir()} | profile: {profile}")
print({k: S[k] for k in ("train_levels", "seeds", "rows", "teacher_rows", "teacher_seeds",
                         "cnn", "vit", "epochs", "n_train")})

# %% [markdown]
# ## 1 · Choosing the levels on `val`, not on a test split
#
# A level is useful for this question when (a) the shortcut exists — a chimney predicts smoke in
# the training data — and (b) the single networks still learn smoke, so there is something for
# the teacher to teach and a shortcut for the student to resist. Notebook 01's `full` run
# measured both only on test splits, which must not choose anything. So we build a **decoupled
# validation set**: the `val` scenes' generator with the shortcut broken as in `test_decoupled`.
# The seed-0 single CNN of every candidate level is measured on `val` (coupled like the
# benchmark) and on this decoupled `val`; a coupled level is kept when the CNN's decoupled `val`
# accuracy stays at or above `min_decoupled_accuracy`.

# %%
sets = measure.evaluation_sets(S)
val_dec = study.decoupled_val(S)
checks = study.level_check(S, S.candidate_train_levels, S.seeds[0], sets["val"], val_dec)
display(Markdown("| trained at | accuracy on val | on decoupled val | gap |\n|---|---|---|---|\n"
                 + "\n".join(f"| {c['level']} | {100 * c['accuracy_val']:.1f} % | "
                             f"{100 * c['accuracy_val_decoupled']:.1f} % | "
                             f"{100 * c['gap']:+.1f} |" for c in checks)))
kept = [c["level"] for c in checks if c["accuracy_val_decoupled"] >= S.min_decoupled_accuracy]
chosen = [f"{p:.2f}/{q:.2f}" for p, q in S.train_levels]
print(f"Levels with the seed-{S.seeds[0]} CNN at >= {100 * S.min_decoupled_accuracy:.0f} % on "
      f"decoupled val: {kept}")
print(f"Levels this run trains: {chosen}; "
      f"{'all pass' if set(chosen) <= set(kept) else 'NOT all pass the rule: read with care'}")

# %% [markdown]
# ## 2 · How many seeds? The calculation, before the run
#
# A paired verdict needs the 95 % interval of the mean difference to exclude zero. Its half-width
# is $t_{0.975,\,n-1}\, s_d / \sqrt{n}$, where $s_d$ is the standard deviation of the paired
# differences over seeds. The `full` run of notebook 02 (3 seeds) measured, for *teacher-student
# minus single ViT* in smoke IoU, a mean of +8.2 points with the interval −1.8 to 18.2: a
# half-width of 10.0 points, so $s_d = 10.0 \cdot \sqrt 3 / t_{0.975,2} = 10.0 \cdot 1.732 /
# 4.303 \approx 4.0$ points. To decide an effect of about 5 points (the interval must not reach
# zero), the half-width must be at most 5: the cell below finds the smallest $n$, which is the
# number of seeds the `full` profile runs for the headline rows. The 0.50-teacher row, a
# secondary question, runs 3.

# %%
n_needed = seeds_for_half_width(sd=10.0 * np.sqrt(3) / 4.303, half_width=5.0)
print(f"seeds needed for a half-width of 5 points at s_d = 4.0: {n_needed}; this run: "
      f"{len(S.seeds)} (headline rows), {len(S.get('teacher_seeds') or [])} (0.50 teacher)")

# %% [markdown]
# ## 3 · A boundary metric, written out
#
# IoU rewards covering the right pixels; a blob over the plume's core that spills around it still
# scores. The paper claims better *boundaries*, so we also score the outline alone: the
# **boundary F-score** (as in the DAVIS benchmark). The boundary of a mask is its pixels with a
# 4-neighbour outside (the image frame does not count); a predicted boundary pixel is correct
# when a true boundary pixel lies within a tolerance of 2 px (a 5×5 square around it), and vice
# versa; precision and recall of the boundary give F = 2PR / (P + R), per smoke image.
#
# The cell computes it in plain torch for two squares and checks it against the library with
# `torch.testing.assert_close`. Change the tolerance or shift a square and see F move.

# %%
def boundary(mask):  # mask: bool [H, W] -> bool [H, W], pixels with a 4-neighbour outside
    m = torch.nn.functional.pad(mask.float()[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    inside = torch.stack([m[:-2, 1:-1], m[2:, 1:-1], m[1:-1, :-2], m[1:-1, 2:]]).min(0).values
    return mask & (inside == 0)


def near(edge, tol):  # bool [H, W]: within tol pixels (Chebyshev) of an edge pixel
    return torch.nn.functional.max_pool2d(edge.float()[None, None], 2 * tol + 1, 1, tol)[0, 0] > 0


truth = torch.zeros(16, 16, dtype=torch.bool)
truth[3:11, 3:11] = True
pred = torch.zeros_like(truth)
pred[6:14, 4:12] = True  # shifted 3 px down and 1 px right
bp, bt = boundary(pred), boundary(truth)
precision = (bp & near(bt, 2)).sum() / bp.sum()
recall = (bt & near(bp, 2)).sum() / bt.sum()
f_score = 2 * precision * recall / (precision + recall)
library = boundary_f_values(pred.numpy()[None], truth.numpy()[None], tolerance=2)[0]
torch.testing.assert_close(float(f_score), float(library))
print(f"boundary P {precision:.3f}, R {recall:.3f}, F {f_score:.3f} = the library's {library:.3f}")

# %% [markdown]
# ## 4 · Train and measure
#
# Every row at every level, for every seed, trained (or loaded from the cache: the 0.50 / 0.50
# rows are notebook 02's, the 0.75 / 0.25 single networks of seed 0 are notebook 01's) and
# measured on `test` and `test_decoupled` with the read-out chosen on `val` for each run, as in
# notebooks 02–04. The table lists means ± std over seeds; *(at chance)* marks a network that did
# not learn the label.

# %%
rows = study.run_shortcut(S, sets)
summary = summarize(rows)
columns = ["accuracy", "accuracy_decoupled", "chimney_fp_rate_decoupled",
           "cam_chimney_mass_decoupled", "smoke_iou_decoupled", "smoke_iou", "boundary_f"]
labels = shortcut_labels(list(summary))
display(Markdown(summary_table(summary, columns, labels=chance_labels(summary, labels))))

# %% [markdown]
# ### Where does the single ViT's seed-to-seed spread come from?
#
# The single ViT varies more between seeds than any other row (notebook 02: 30.4 ± 7.7 % smoke
# IoU over three seeds), and that spread is what makes its comparisons need many seeds. Two
# causes can be told apart on `val` alone. If the **read-out** were the cause (each seed's CAM
# read from another map, at another threshold), one map for every seed would shrink the spread:
# the table lists every candidate map's best `val` IoU per seed, and its spread over seeds in
# the last row. If the **network** is the cause, every map of a weak seed is weak, and the weak
# seed is also the least accurate classifier on `val`.

# %%
base = min(S.train_levels, key=lambda level: level[0])
spread = study.readout_by_seed(S, sets, "single_vit", base, S.seeds)
maps = [k for k in spread[0] if k not in ("seed", "accuracy_val", "chosen")]
lines = ["| seed | accuracy on val | chosen read-out | " + " | ".join(maps) + " |",
         "|---" * (3 + len(maps)) + "|"]
lines += [f"| {e['seed']} | {100 * e['accuracy_val']:.1f} % | `{e['chosen']}` | "
          + " | ".join(f"{100 * e[m]:.1f}" for m in maps) + " |" for e in spread]
if len(spread) > 1:
    def seed_std(key):
        return f"{100 * np.std([e[key] for e in spread], ddof=1):.1f}"
    lines.append(f"| std over seeds | {seed_std('accuracy_val')} | | "
                 + " | ".join(seed_std(m) for m in maps) + " |")
display(Markdown(f"Single ViT trained at {base[0]:.2f}/{base[1]:.2f}, smoke IoU on val (%) per "
                 "candidate map at its best val threshold:\n\n" + "\n".join(lines)))

# %% [markdown]
# What we tried, and what it says (the `full` run, five seeds): both Grad-CAM maps spread about
# as much over seeds as the chosen read-out does (5.7 and 6.4 points), and the score map is weak
# for every seed; the weakest seed (0) is weak under every map and is the least accurate
# classifier on `val`. So the spread is the **network's**, not the read-out's:
# some seeds of a ViT trained from a small start on 3 072 images learn a diffuse map. Fixing the
# read-out would not remove it; more seeds (this notebook) or a better start (ImageNet weights,
# notebook 08) would. We did not change the schedule or the head: either would change every
# cached network of notebooks 01–07.
#
# How to read the figure: each line is one row across the training levels. A network that
# takes the shortcut loses accuracy on `test_decoupled` and puts more of its pseudo-mask
# (chimney FP rate) and of its CAM (CAM mass) on the bare chimneys of `test_decoupled` as the
# level rises. If the paper's claim holds, the teacher-student line stays below the single ViT's
# on the chimney panels and above it on the smoke panels.

# %%
plot_rows = [r for r in study.SHORTCUT_ROWS if any(n.startswith(r + "@") for n in summary)]
fig = plots.plot_shortcut_levels(
    summary, S.train_levels, plot_rows,
    ["accuracy_decoupled", "chimney_fp_rate_decoupled", "cam_chimney_mass_decoupled",
     "smoke_iou_decoupled", "boundary_f"],
    labels=study.SHORTCUT_SHORT, metric_names=METRIC_NAMES,
    title=f"The shortcut across training levels ({len(S.seeds)} seed(s); error bars: seed std)")
_ = show_figure(fig, output_dir / "shortcut_levels.png")

# %% [markdown]
# ## 5 · What the CAMs look like where the shortcut exists
#
# The first seed's networks trained at the most coupled level, on the same images: smoke from a
# chimney (`test`), smoke without a chimney and a clean image with a bare chimney (both
# `test_decoupled`). Smoke is outlined in cyan, the chimney in orange, the pseudo-mask dashed
# white; each column is read the way chosen for it on `val`.

# %%
top = max(S.train_levels, key=lambda level: level[0])
at_top = study.shortcut_configs(S, top, S.seeds[0], S.rows)
gallery = measure.gallery_scenes(sets, S.gallery_per_kind)
cams = measure.gallery_cams(at_top, gallery, sets=sets, readouts=S.cam_readouts)
cuts = measure.gallery_thresholds(at_top, sets, S.cam_readouts)
readouts = {r["name"]: r["readout"] for r in rows if r["seed"] == S.seeds[0]}
fig = method_plots.cam_comparison(
    gallery, cams, labels={n: study.SHORTCUT_SHORT[study.split_row_name(n)[0]] for n in at_top},
    threshold=cuts, readouts=readouts,
    title=f"CAMs of networks trained at {top[0]:.2f}/{top[1]:.2f} (seed {S.seeds[0]})")
_ = show_figure(fig, output_dir / "cam_gallery.png")

# %% [markdown]
# ## 6 · Verdicts
#
# Each claim compares two runs trained on the same images (same seed) and, for the student, the
# same teacher; differences are in points, a − b. *Supported* when the 95 % interval lies on the
# claim's side, *contradicted* when on the other, *inconclusive* when it contains zero, and *not
# judged* when a compared network stayed at chance. The forest plot shows every interval.

# %%
claims = shortcut_claims(rows, S.train_levels)
verdicts = shortcut_verdicts(summary, claims)
for sentence in verdicts:
    display(Markdown("- " + sentence))
if claims:
    fig = plots.plot_claim_intervals(claims, title="Paired differences with 95 % intervals")
    _ = show_figure(fig, output_dir / "claims.png")
_ = shortcut_document(profile, summary, claims, verdicts, S, level_checks=checks,
                      rows=rows).write(output_dir / "metrics.json")

# %% [markdown]
# **After the run: was n enough?** Section 2 fixed n from a spread measured on three seeds. The
# cell below takes the paired differences of this run (student minus single ViT, smoke IoU on
# `test`), measures their standard deviation at each level, and says how many seeds an interval
# of ±5 points would need with it. A verdict that stayed *inconclusive* because the spread was
# larger than planned is a reason to run more seeds, not evidence against the claim.

# %%
from wsss_lib.results import paired_rows

for level in S.train_levels:
    a, b, used = paired_rows(rows, study.row_name("ts_cnn_to_vit", level),
                             study.row_name("single_vit", level))
    if len(used) < 2:
        print(f"{level[0]:.2f}/{level[1]:.2f}: one seed, no spread to measure")
        continue
    sd = float(np.std(100 * (np.array(a) - np.array(b)), ddof=1))
    need = seeds_for_half_width(sd, 5.0)
    print(f"{level[0]:.2f}/{level[1]:.2f}: s_d = {sd:.1f} points over {len(used)} seeds "
          f"(planned 4.0); a ±5-point interval needs {need or 'more than 50'} seeds")

# %% [markdown]
# ## 7 · What we learned, and what to try
#
# - The verdicts at the coupled levels are the test of the paper's headline; the 0.50 / 0.50
#   verdicts repeat notebook 02's question with five seeds.
# - *Inherits*: if the student's chimney numbers sit near its teacher's and the 0.50-teacher row
#   lowers them, knowledge transfer carries the teacher's shortcut along; if the 0.50 teacher
#   changes nothing, the student's shortcut comes from its own labels.
# - A boundary F-score that moves with the smoke IoU says the gain is in the outline, not only in
#   coverage.
#
# **Full-profile results.** The `full` run of this notebook is committed in
# `docs/results/full/09_shortcut_claims/` (the executed notebook and its `metrics.json`); the
# report's index gathers every claim of the paper in one table.
#
# Things to try: a level between 0.75 and 0.95 (does the teacher still help when it is almost a
# chimney detector?), `train_levels=[[0.75, 0.25]]` with `seeds=[0, ..., 9]` to narrow the
# interval, or a stricter boundary tolerance
# (`wsss_lib.boundary.boundary_f_score(..., tolerance=1)`).

# %% [markdown]
# ## Exercises
#
# Untouched, a check cell prints "Not attempted yet"; once you have written your answer it checks
# it against the library and says what is wrong if it differs.
#
# **Exercise 1 · A paired difference.** From `rows` (one dict per run and seed: `row["name"]`
# such as `"ts_cnn_to_vit@0.75"`, `row["seed"]`, metrics as fractions), build the list of
# differences *teacher-student minus single ViT* in `chimney_fp_rate_decoupled` at the most
# coupled level, in points, one per seed in increasing seed order, and assign it to `answer`.

# %%
answer = None  # your code here

# %%
from wsss_lib.results import paired_rows

if answer is None:
    print("Not attempted yet: assign the list of paired differences (points) to `answer`.")
else:
    a, b, seeds_ = paired_rows(rows, study.row_name("ts_cnn_to_vit", top),
                               study.row_name("single_vit", top), "chimney_fp_rate_decoupled")
    expected = [100 * (x - y) for x, y in zip(a, b, strict=True)]
    torch.testing.assert_close([float(v) for v in answer], expected, rtol=1e-5, atol=1e-4,
                               msg=lambda m: f"{m}\nStudent minus single ViT, per seed {seeds_}.")
    print(f"Right: {[round(v, 2) for v in expected]} points over seeds {seeds_}")

# %% [markdown]
# **Exercise 2 · How many seeds would this need?** Take the paired differences of exercise 1,
# compute their sample standard deviation (`ddof=1`), and with `seeds_for_half_width` find how
# many seeds a half-width of 2 points would need; assign the number to `answer` (None if it is
# more than 50).

# %%
answer = "not attempted"  # your code here

# %%
if answer == "not attempted":
    print("Not attempted yet: assign the number of seeds (or None) to `answer`.")
else:
    a, b, _ = paired_rows(rows, study.row_name("ts_cnn_to_vit", top),
                          study.row_name("single_vit", top), "chimney_fp_rate_decoupled")
    diffs = 100 * (np.array(a) - np.array(b))
    if len(diffs) < 2:
        print("Needs two seeds or more: run with seeds=[0, 1, 2].")
    else:
        expected = seeds_for_half_width(float(np.std(diffs, ddof=1)), 2.0)
        assert answer == expected, f"Expected {expected}: smallest n with t*sd/sqrt(n) <= 2."
        print(f"Right: {expected} seeds")

# %% [markdown]
# **Exercise 3 · The frame is not an edge.** Make a mask of a 16×16 image whose smoke fills the
# top 5 rows completely (`mask[:5, :] = True`). How many boundary pixels does it have by the rule
# above? Assign the number to `answer` and check it with the library's `mask_boundary`.

# %%
answer = None  # your code here

# %%
from wsss_lib.boundary import mask_boundary

if answer is None:
    print("Not attempted yet: assign the number of boundary pixels to `answer`.")
else:
    band = np.zeros((16, 16), dtype=bool)
    band[:5, :] = True
    expected = int(mask_boundary(band).sum())
    assert int(answer) == expected, (f"Expected {expected}: only the row that touches the clean "
                                     "sky is an edge; the frame is not.")
    print(f"Right: {expected} boundary pixels (one row of 16)")
