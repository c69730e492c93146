"""Issue 23: your own data trains with the method notebooks' recipe, and the CLI reproduces them.

The small version of ``benchmarks/bench_cli_reproduces.py``: synthetic scenes exported as COCO,
``wsss train --profile quick --coco`` and ``wsss evaluate``, checked against what notebook 02's
code builds and measures for the same data:

- the config ``wsss train`` trains is notebook 02's row (``paradigm_config``) with only the data
  changed, for every paradigm of ``quick`` and ``full`` (one definition of the recipe);
- the read-out is chosen on the validation split, as notebook 02 chooses it
  (``measure.run_readout``), and recorded; without validation masks it is the stated fallback;
- ``wsss evaluate``'s smoke IoU and accuracy equal the library's evaluation of that read-out
  (``evaluate_readout``, what notebook 02's rows are).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from wsss_lib import cli
from wsss_lib.data import load_coco, make_split, save_coco
from wsss_lib.profiles import load_profile
from wsss_lib.runs import (
    FALLBACK_READOUT,
    METHOD_FIELDS,
    RECIPE_FILE,
    RECIPE_SECTION,
    choose_recipe_readout,
    load_recipe,
    load_run_recipe,
    read_run_recipe,
)
from wsss_lib.studies import measure
from wsss_lib.studies.configs import (
    OWN_DATA_PARADIGMS,
    RECIPE_KEYS,
    method_settings,
    paradigm_config,
)
from wsss_lib.train import CamReadout, DataSpec, evaluate_readout, load_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32  # the quick profile's image size


@pytest.mark.parametrize("profile", ["quick", "full", "tutorial"])
@pytest.mark.parametrize("paradigm", OWN_DATA_PARADIGMS)
def test_the_user_recipe_is_notebook_02s_row_with_other_data(profile: str, paradigm: str) -> None:
    S = method_settings(profile)
    recipe = load_recipe(profile, paradigm=paradigm)
    config = recipe.train_config()
    notebook = paradigm_config(S, paradigm, seed=0)
    assert config.data == DataSpec(image_size=S["image_size"])  # your scenes replace the split
    assert replace(config, data=notebook.data) == notebook
    if config.teacher is not None and paradigm != "co_training":  # the teacher is 02's too
        assert replace(config.teacher_config(), data=notebook.data) == \
            notebook.teacher_config()


@pytest.mark.parametrize("profile", ["quick", "full", "tutorial"])
def test_the_section_names_only_what_differs_from_the_method(profile: str) -> None:
    section = load_profile(profile)[RECIPE_SECTION]
    assert "training_from" not in section  # the recipe is "*", which every section inherits
    assert not set(section) & {*METHOD_FIELDS, *RECIPE_KEYS}  # no copied training key
    recipe = load_recipe(profile)
    assert recipe.method["proxy_pretrain"] == method_settings(profile)["proxy_pretrain"]
    # a training override reaches the config, a method key too
    changed = load_recipe(profile, epochs=2, proxy_pretrain=False).train_config()
    assert changed.epochs == 2 and changed.student.proxy_pretrain is None


def test_an_old_setting_name_is_refused_with_the_new_one() -> None:
    with pytest.raises(ValueError, match="'pretrain' is now 'proxy_pretrain'"):
        load_recipe("quick", pretrain=False)


def test_the_paper_profile_keeps_its_own_recipe() -> None:
    recipe = load_recipe("paper")
    assert recipe.method is None
    assert (recipe.cnn, recipe.vit, recipe.lr, recipe.schedule) == (
        "resnet50", "vit_base", 1e-4, "constant")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny train / valid / test splits (both classes, smoke masks) as one COCO export."""
    root = tmp_path_factory.mktemp("export") / "coco"
    for name, split, n in (("train", "train", 24), ("valid", "val", 12), ("test", "test", 12)):
        save_coco(make_split(split, image_size=SIZE, n_images=n, seed=3), root / name)
    return root


@pytest.fixture(scope="module")
def trained(export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    argv = ["train", "--profile", "quick", "--coco", str(export), "--set",
            "paradigm=single_cnn", "--cache-dir", str(cache), "--quiet"]
    assert cli.main(argv) == 0
    (run_dir,) = [p for p in (cache / "runs").iterdir() if p.is_dir()]
    return {"cache": cache, "run_dir": run_dir}


def test_cli_run_is_the_builders_config_and_its_readout_is_chosen_on_val(
    trained: dict, export: Path
) -> None:
    run = load_run(trained["run_dir"])
    S = method_settings("quick")
    assert replace(run.config, data=DataSpec(image_size=SIZE)) == \
        replace(paradigm_config(S, "single_cnn"), data=DataSpec(image_size=SIZE))
    recorded = read_run_recipe(trained["run_dir"])
    assert recorded["readout"]["chosen_on"] == "val"
    val = load_coco(export, "valid", image_size=SIZE)
    expected, choice = measure.run_readout(run, {"val": val}, S["cam_readouts"])  # notebook 02
    assert recorded["readout"]["readout"] == expected.to_dict()
    assert recorded["readout"]["val_iou"] == pytest.approx(choice["val_iou"])
    readout = load_run_recipe(trained["run_dir"]).readout  # one scale, mean, no refinement
    assert readout == CamReadout(expected.method, expected.layers, threshold=expected.threshold)
    assert read_run_recipe(trained["run_dir"])["recipe"]["readout"] == readout.to_dict()


def test_cli_evaluate_agrees_with_the_librarys_evaluation(
    trained: dict, export: Path, tmp_path: Path
) -> None:
    out = tmp_path / "metrics.json"
    assert cli.main(["evaluate", str(trained["run_dir"]), "--coco", str(export), "--split",
                     "test", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    run = load_run(trained["run_dir"])
    readout = CamReadout.from_dict(read_run_recipe(trained["run_dir"])["readout"]["readout"])
    test = load_coco(export, "test", image_size=SIZE)
    library = evaluate_readout(run, test, readout).metrics  # what notebook 02's rows report
    assert metrics["accuracy"] == pytest.approx(float(library["accuracy"]))
    assert metrics["smoke_iou"] == pytest.approx(float(library["smoke_iou"]), abs=1e-6)


def test_without_validation_masks_the_fallback_is_said_and_recorded(
    trained: dict, export: Path, capsys
) -> None:
    run = load_run(trained["run_dir"])
    recipe = load_recipe("quick", paradigm="single_cnn")
    chosen, record = choose_recipe_readout(recipe, run, None)
    assert record["chosen_on"] is None and record["fallback"] is True
    assert "FALLBACK: no validation split" in record["note"]
    assert chosen.readout == FALLBACK_READOUT  # the score map at 0.3, one scale, no refinement
    val = load_coco(export, "valid", image_size=SIZE)
    unmasked = replace(val, smoke_masks=None)
    _, record = choose_recipe_readout(recipe, run, unmasked)
    assert "the validation split has no smoke masks" in record["note"]
    assert (trained["run_dir"] / RECIPE_FILE).is_file()


def test_a_method_section_that_copies_a_training_key_is_refused(tmp_path: Path) -> None:
    data = load_profile("quick")
    own = {"*": data["*"], RECIPE_SECTION: {"lr": 0.1}}
    path = tmp_path / "own.json"
    path.write_text(json.dumps(own))
    with pytest.raises(ValueError, match=r"repeats \['lr'\]"):
        load_recipe(path)
    own[RECIPE_SECTION] = {"training_from": "02_teacher_student"}
    path.write_text(json.dumps(own))
    with pytest.raises(ValueError, match="training_from, which is gone"):
        load_recipe(path)
    own[RECIPE_SECTION] = {}
    path.write_text(json.dumps(own))
    assert load_recipe(path).train_config() == load_recipe("quick").train_config()


def test_the_tutorial_profile_trains_the_full_recipe() -> None:
    assert load_recipe("tutorial").train_config() == load_recipe("full").train_config()
