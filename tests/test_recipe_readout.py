"""Issue 22: the recipe's read-out is one setting, ``Recipe.readout`` (a ``CamReadout``).

- the profile key is ``"readout"`` (a mapping of CamReadout's keys), ``--set readout.KEY=VALUE``
  changes one key and ``--set readout='{...}'`` the whole read-out;
- the old flat keys (``cam_method``, ``cam_layers``, ``cam_scales``, ``cam_fusion``, the
  recipe's ``threshold`` and ``refine``) are refused in a profile and in ``--set``, naming the
  new key, yet a run's recipe file written with them still loads;
- every check of a read-out is CamReadout's, reported as the recipe's ``readout`` setting;
- ``Recipe.to_dict`` round-trips, and the read-out is no part of what is trained.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from wsss_lib import cli
from wsss_lib.cam.readout import CamReadout
from wsss_lib.cli.run_settings import _cam_settings
from wsss_lib.profiles import load_profile
from wsss_lib.runs import (
    FALLBACK_READOUT,
    RECIPE_FILE,
    RECIPE_SECTION,
    Recipe,
    describe_recipe,
    load_recipe,
    load_run_recipe,
)

ROOT = Path(__file__).resolve().parents[1]
PAPER = CamReadout("gradcam", ("blocks.-5.norm1", "blocks.-4.norm1", "blocks.-2.norm1",
                               "blocks.-1.norm1"), scales=(0.5, 1.0, 1.5, 2.0), threshold=0.3)


def _old_record(recipe: Recipe) -> dict:
    """A run's recipe as ``wsss_recipe.json`` held it before ``readout``: six flat keys."""
    record = recipe.to_dict()
    readout = record.pop("readout")
    record.update(cam_method=readout["method"], cam_layers=readout["layers"],
                  cam_scales=readout.get("scales", [1.0]), cam_fusion="mean",
                  threshold=readout["threshold"], refine=[])
    return record


def _own_profile(tmp_path: Path, drop: tuple[str, ...] = (), **section) -> Path:
    """The paper profile with its recipe section changed: ``section`` keys set, ``drop`` gone."""
    data = load_profile("paper")
    data[RECIPE_SECTION] = {k: v for k, v in {**data[RECIPE_SECTION], **section}.items()
                            if k not in drop}
    path = tmp_path / "own.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ------------------------------------------------------------------------ one value


@pytest.mark.parametrize("profile", ["quick", "full", "paper", "tutorial"])
def test_the_recipe_round_trips_with_its_readout(profile: str) -> None:
    recipe = load_recipe(profile)
    assert isinstance(recipe.readout, CamReadout)
    record = recipe.to_dict()
    assert record["readout"] == recipe.readout.to_dict()
    assert not {"cam_method", "cam_layers", "cam_scales", "cam_fusion", "threshold",
                "refine"} & set(record)
    assert Recipe.from_mapping(json.loads(json.dumps(record))) == recipe


def test_the_paper_profile_names_the_papers_readout() -> None:
    assert load_recipe("paper").readout == PAPER
    assert "pseudo-masks: gradcam at scales [0.5, 1.0, 1.5, 2.0], threshold 0.3" in \
        describe_recipe(load_recipe("paper"))


def test_a_method_recipe_starts_from_the_fallback_readout() -> None:
    assert isinstance(FALLBACK_READOUT, CamReadout)
    assert (FALLBACK_READOUT.scales, FALLBACK_READOUT.fusion, FALLBACK_READOUT.refine,
            FALLBACK_READOUT.threshold) == ((1.0,), "mean", (), 0.3)
    assert load_recipe("quick").readout == FALLBACK_READOUT  # the score map at 0.3
    chosen = CamReadout("gradcam", ("blocks.-1.norm1",), scales=(0.5, 1.0), fusion="max",
                        threshold=0.45, refine=("crf",))
    # what train_recipe keeps of a read-out chosen on val: map, layers and threshold
    assert load_recipe("quick").with_readout(chosen).readout == CamReadout(
        "gradcam", ("blocks.-1.norm1",), threshold=0.45)


def test_the_readout_is_no_part_of_what_is_trained() -> None:
    for profile in ("quick", "paper"):
        recipe = load_recipe(profile)
        other = load_recipe(profile, **{"readout.threshold": 0.6, "readout.scales": [1.0]})
        assert other.readout != recipe.readout
        assert other.train_config() == recipe.train_config()


# ------------------------------------------------------------------------ overrides


def test_set_changes_one_key_or_the_whole_readout() -> None:
    one = load_recipe("paper", **{"readout.threshold": 0.4})
    assert one.readout == replace(PAPER, threshold=0.4)  # the other keys kept
    two = load_recipe("paper", **{"readout.method": "layercam", "readout.layers": [-1],
                                  "readout.refine": ["crf"]})
    assert (two.readout.method, two.readout.layers, two.readout.refine) == \
        ("layercam", (-1,), ("crf",))
    assert two.readout.scales == PAPER.scales
    whole = load_recipe("paper", readout={"method": "cam", "threshold": 0.5})
    assert whole.readout == CamReadout("cam", threshold=0.5)  # missing keys: the defaults
    both = load_recipe("paper", readout={"method": "cam"}, **{"readout.threshold": 0.2})
    assert both.readout == CamReadout("cam", threshold=0.2)
    assert load_recipe("paper", readout=PAPER).readout == PAPER


def test_the_cli_set_parses_dotted_and_whole_readouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    seen = {}

    def fake_train(recipe, scenes, val, **kwargs):
        seen["recipe"] = recipe
        return SimpleNamespace(run_dir=tmp_path / "run-x", history=[])

    monkeypatch.setattr("wsss_lib.runs.train_recipe", fake_train)
    argv = ["train", "--profile", "paper", "--data", str(ROOT / "data_samples"),
            "--set", "image_size=32", "--set", 'readout={"method": "gradcam", "scales": [1, 2]}',
            "--set", "readout.threshold=0.45", "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert seen["recipe"].readout == CamReadout("gradcam", scales=(1.0, 2.0), threshold=0.45)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cam_method": "cam"}, "'cam_method' is now 'readout.method'"),
        ({"cam_layers": None}, "'cam_layers' is now 'readout.layers'"),
        ({"cam_scales": [1.0]}, "'cam_scales' is now 'readout.scales'"),
        ({"cam_fusion": "max"}, "'cam_fusion' is now 'readout.fusion'"),
        ({"threshold": 0.4}, "'threshold' is now 'readout.threshold'"),
        ({"refine": ["crf"]}, "'refine' is now 'readout.refine'"),
        ({"readout.nope": 1}, "Unknown CamReadout keys ['nope']"),
        ({"nope.threshold": 1}, "Unknown recipe setting(s) ['nope.threshold']"),
    ],
)
def test_old_and_unknown_readout_keys_in_set_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        load_recipe("paper", **overrides)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"readout.threshold": 1.5}, "threshold must be a number in [0, 1]"),
        ({"readout.method": "nope"}, "Unknown CAM method 'nope'"),
        ({"readout.fusion": "median"}, "Unknown fusion rule 'median'"),
        ({"readout.scales": [0]}, "scales must be positive factors"),
        ({"readout.refine": ["blur"]}, "Unknown refinement step 'blur'"),
        ({"readout.method": "cam"}, "takes no layers"),  # the paper's layers are kept
        ({"readout": "gradcam"}, "must be a mapping of CamReadout settings"),
    ],
)
def test_a_bad_readout_is_camreadouts_message_as_the_recipes_setting(
    overrides: dict, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        load_recipe("paper", **overrides)
    text = str(info.value)
    assert text.startswith("Recipe setting 'readout' is invalid: ")
    assert message in text and "--set readout.KEY=VALUE" in text
    assert f"{RECIPE_SECTION!r} section" in text


# ------------------------------------------------------------------------ profiles


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"cam_method": "gradcam"}, "'cam_method' is now 'readout.method'"),
        ({"cam_scales": [1.0]}, "'cam_scales' is now 'readout.scales'"),
        ({"threshold": 0.3}, "'threshold' is now 'readout.threshold'"),
        ({"refine": []}, "'refine' is now 'readout.refine'"),
        ({"readout": {"method": "gradcam", "threshold": 2}}, "threshold must be a number"),
    ],
)
def test_a_profile_with_the_old_keys_or_a_bad_readout_is_refused(
    tmp_path: Path, section: dict, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        load_recipe(_own_profile(tmp_path, **section))
    assert message in str(info.value)


def test_an_explicit_profile_needs_its_readout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"lacks the recipe settings \['readout'\]"):
        load_recipe(_own_profile(tmp_path, drop=("readout",)))
    partial = load_recipe(_own_profile(tmp_path, readout={"method": "gradcam"}))
    assert partial.readout == CamReadout("gradcam")


def test_notebooks_keep_their_own_threshold() -> None:
    from wsss_lib.profiles import notebook_settings

    assert notebook_settings("05_cam_fusion", "quick", threshold=0.4).threshold == 0.4


# ------------------------------------------------------------------------ old run records


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_a_run_record_with_the_old_flat_keys_still_loads(tmp_path: Path, profile: str) -> None:
    recipe = load_recipe(profile, **{"readout.threshold": 0.45})
    old = _old_record(recipe)
    assert Recipe.from_mapping(old) == recipe
    (tmp_path / RECIPE_FILE).write_text(json.dumps({"profile": profile, "recipe": old}))
    assert load_run_recipe(tmp_path) == recipe


def test_a_run_record_with_the_old_pretrain_name_still_loads() -> None:
    recipe = load_recipe("quick")
    record = recipe.to_dict()
    record["method"] = {("pretrain" if k == "proxy_pretrain" else k): v
                        for k, v in record["method"].items()}
    assert "proxy_pretrain" not in record["method"]
    assert Recipe.from_mapping(record) == recipe


def _args(**given) -> argparse.Namespace:
    options = dict.fromkeys(("profile", "method", "layers", "scales", "fusion", "threshold",
                             "refine", "resize"))
    return argparse.Namespace(**{**options, **given})


@pytest.mark.parametrize("old", [False, True])
def test_evaluate_reads_the_runs_readout_and_overrides_it_key_by_key(
    tmp_path: Path, old: bool
) -> None:
    recipe = load_recipe("paper")
    record = _old_record(recipe) if old else recipe.to_dict()
    (tmp_path / RECIPE_FILE).write_text(json.dumps({"profile": "paper", "recipe": record}))
    cam, resize, source = _cam_settings(_args(), tmp_path)
    assert CamReadout.from_dict(cam) == PAPER and resize == "pad"
    assert source == "the run's recipe (profile paper)"
    assert set(cam) >= {"method", "layers", "scales", "fusion", "threshold", "refine"}
    cam, _, source = _cam_settings(_args(threshold=0.5), tmp_path)
    assert CamReadout.from_dict(cam) == replace(PAPER, threshold=0.5)
    assert source.endswith("+ command line")
    cam, _, _ = _cam_settings(_args(method="layercam"), tmp_path)  # its own default layers
    assert CamReadout.from_dict(cam) == replace(PAPER, method="layercam", layers=None)
    cam, _, _ = _cam_settings(_args(method="cam", scales=[1.0], refine=["crf"]), tmp_path)
    assert CamReadout.from_dict(cam) == CamReadout("cam", threshold=0.3, refine=("crf",))
    cam, _, source = _cam_settings(_args(profile="quick"), tmp_path)
    assert CamReadout.from_dict(cam) == FALLBACK_READOUT and source == "profile quick"
