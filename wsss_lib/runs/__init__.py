"""Training runs outside the tutorial notebooks: a profile's recipe, your data, finding runs.

``wsss train`` / ``wsss evaluate`` / ``wsss pseudo-masks`` and notebook 08 share this module::

    from wsss_lib.runs import load_recipe, load_data, train_recipe
    recipe = load_recipe("paper", cnn_weights="resnet50.safetensors",
                         vit_weights="vit_base.safetensors")
    scenes = load_data("IJmond-SEG", layout="coco", split="train",
                       image_size=recipe.image_size, resize=recipe.resize)
    run = train_recipe(recipe, scenes, profile="paper")      # cached like every other run

**The recipe** is a profile's ``"*"`` section (what every notebook trains with) plus its
``"08_your_own_data"`` section (:data:`RECIPE_SECTION`: what only ``wsss train`` needs): what to
train on your own data and how to turn its CAMs into pseudo-masks. Notebook 08 runs the same
sections, so ``wsss train --profile full`` trains what the full report's notebook 08 trains. A
recipe comes in one of two kinds:

- **The method's recipe** (``quick``, ``full``): ``"*"`` holds the method notebooks' whole
  recipe and the section names only what ``wsss train`` adds (the paradigm, how images become
  square); every training setting (networks, schedule, optimiser, precision, gradient clipping,
  proxy pre-training) comes from ``"*"`` through
  :func:`wsss_lib.studies.configs.method_settings`, and the config from
  :func:`wsss_lib.studies.configs.own_data_config`: notebook 02's row, trained on your images.
  Its CAM read-out (map and threshold) is chosen on your validation split when that has masks
  (:func:`wsss_lib.train.choose_readout` among the method's ``cam_readouts``, as notebook 02
  does), else it is the stated fallback (:data:`FALLBACK_READOUT`), and the choice is recorded
  beside the run.
- **An explicit recipe** (``paper``): ``"*"`` and the section list every setting of
  :class:`Recipe` themselves; ``paper`` holds the setting of Zhang & Hsu 2025 (arXiv
  2507.21959): 512 px, ResNet-50 + PCM at output stride 16 as teacher, ViT-B/16 student, batch
  8, AdamW 1e-4, 3 epochs, Grad-CAM on ``norm1`` of blocks -5, -4, -2, -1, multi-scale 0.5-2.0,
  threshold 0.3.

**A run** is a folder of the model cache (``$WSSS_CACHE/runs/<paradigm>-<model>-<hash>``, see
:mod:`wsss_lib.train.cache`). :func:`resolve_run` accepts the folder, its ``checkpoint.pt``, its
name (the cache key) or an unambiguous prefix of the name or of its hash. Runs trained through
:func:`train_recipe` keep the recipe beside the checkpoint (:data:`RECIPE_FILE`), so evaluating
them or exporting their pseudo-masks uses the same CAM settings unless told otherwise.

The package, one job per module: :mod:`~wsss_lib.runs.recipe` (the recipe from a profile),
:mod:`~wsss_lib.runs.data` (your data and its ground truth), :mod:`~wsss_lib.runs.training`
(training a recipe, its read-out and the record beside the run) and :mod:`~wsss_lib.runs.lookup`
(finding runs in the cache). Import from ``wsss_lib.runs``.
"""

from wsss_lib.runs.data import (
    benchmark_export_dir,
    describe_scenes,
    export_benchmark,
    load_data,
    load_truth,
)
from wsss_lib.runs.lookup import (
    RunInfo,
    list_runs,
    resolve_run,
)
from wsss_lib.runs.recipe import (
    DATA_LAYOUTS,
    FALLBACK_READOUT,
    METHOD_FIELDS,
    RECIPE_PARADIGMS,
    RECIPE_SECTION,
    RESIZE_MODES,
    Recipe,
    describe_recipe,
    load_recipe,
)
from wsss_lib.runs.training import (
    RECIPE_FILE,
    choose_recipe_readout,
    load_run_recipe,
    read_run_recipe,
    train_recipe,
)

__all__ = [
    "DATA_LAYOUTS",
    "FALLBACK_READOUT",
    "METHOD_FIELDS",
    "RECIPE_FILE",
    "RECIPE_PARADIGMS",
    "RECIPE_SECTION",
    "RESIZE_MODES",
    "Recipe",
    "RunInfo",
    "describe_recipe",
    "choose_recipe_readout",
    "benchmark_export_dir",
    "describe_scenes",
    "export_benchmark",
    "list_runs",
    "load_data",
    "load_recipe",
    "load_run_recipe",
    "load_truth",
    "read_run_recipe",
    "resolve_run",
    "train_recipe",
]
