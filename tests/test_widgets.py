"""The CAM explorer: pure state rules, the model catalog, metrics, and the widget layer driven the
way a user drives it (by setting control values)."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shutil
import types
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import torch
from browser.explorer_fixture import demo_entry, demo_networks
from PIL import Image

from wsss_lib.train import DataSpec, KTSpec, ModelSpec, TrainConfig, run_dir_for
from wsss_lib.train.cache import KEY_NAME
from wsss_lib.train.run import CHECKPOINT_NAME, HISTORY_NAME
from wsss_lib.widgets import (
    CachedModel,
    CamExplorer,
    ExplorerData,
    ExplorerState,
    ImageRecord,
    chimney_sentence,
    default_models,
    ensure_cached,
    explorer_figure,
    find_twin,
    first_informative_index,
    format_metrics,
    image_metrics,
    layer_choices,
    layers_for_model,
    list_cached_models,
    network_family,
    panel_keys,
    read_image,
    stale_panels,
    time_threshold_redraw,
    training_level,
    update_state,
)

DATA_SAMPLES = Path(__file__).resolve().parent.parent / "data_samples"


def tiny_config(seed: int = 0) -> TrainConfig:
    """A classifier that trains in seconds: 16 images of 32 px, one step, a 4x4 CAM grid."""
    return TrainConfig(
        paradigm="single",
        model=ModelSpec("resnet18", {"output_stride": 8}),
        data=DataSpec(image_size=32, n_train=16, val_split=None),
        epochs=1,
        batch_size=16,
        augment=False,
        seed=seed,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> CamExplorer:
    """An explorer started on an empty cache whose "Train the quick model" button was clicked."""
    root = tmp_path_factory.mktemp("explorer_cache")
    explorer = CamExplorer.from_cache(root, split="test", n_images=4, display_size=32,
                                      train_config=tiny_config())
    explorer.train_button.click()
    return explorer


def _entry(key: str) -> CachedModel:
    return demo_entry(key)


@pytest.fixture(scope="module")
def networks() -> dict[str, torch.nn.Module]:
    """Two untrained CNNs with non-trivial CAMs (see ``browser/explorer_fixture.py``)."""
    return demo_networks(n_images=12)


@pytest.fixture(scope="module")
def shared_explorer(networks: dict[str, torch.nn.Module]) -> CamExplorer:
    data = ExplorerData([_entry(k) for k in networks], image_size=32, n_images=12,
                        networks=networks)
    index = first_informative_index(data.records("test"))
    return CamExplorer(data, ExplorerState(source="test", index=index, model_a="demo-a"),
                       display_size=64)


@pytest.fixture()
def explorer(shared_explorer: CamExplorer) -> CamExplorer:
    """The module's explorer, put back to its first view (its CAM cache is kept: CAMs are
    computed once per module, which keeps these tests fast)."""
    data = shared_explorer.data
    shared_explorer.apply(ExplorerState(source="test", index=first_informative_index(
        data.records("test")), model_a="demo-a"))
    return shared_explorer


# ---------------------------------------------------------------------------------- state


def test_state_validates_values_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="threshold must be a number in"):
        ExplorerState(threshold=1.5)
    with pytest.raises(ValueError, match="Unknown CAM method 'nope'"):
        ExplorerState(method="nope")
    with pytest.raises(ValueError, match="Unknown explorer setting"):
        update_state(ExplorerState(), thresold=0.4)
    with pytest.raises(ValueError, match="scales must be positive"):
        ExplorerState(scales=(1.0, -2.0))


def test_update_state_is_pure_and_resets_the_index_on_a_new_source() -> None:
    state = ExplorerState(source="test", index=5, model_a="m")
    moved = update_state(state, source="test_decoupled")
    assert (moved.source, moved.index) == ("test_decoupled", 0)
    assert (state.source, state.index) == ("test", 5)  # unchanged
    assert update_state(state, threshold=0.5).index == 5


def test_a_threshold_change_invalidates_only_masks_and_metrics() -> None:
    state = ExplorerState(model_a="m1", model_b="m2")
    before = panel_keys(state)
    after_threshold = stale_panels(before, panel_keys(update_state(state, threshold=0.6)))
    assert sorted(after_threshold) == ["a.mask", "a.metrics", "b.mask", "b.metrics"]
    after_method = stale_panels(before, panel_keys(update_state(state, method="gradcam")))
    assert "a.cam" in after_method and "image" not in after_method
    after_model_b = stale_panels(before, panel_keys(update_state(state, model_b="m3")))
    assert all(name.startswith("b.") for name in after_model_b)
    after_image = stale_panels(before, panel_keys(update_state(state, index=3)))
    assert set(after_image) == set(before)


def test_layers_do_not_change_the_key_of_the_score_map_cam() -> None:
    state = ExplorerState(model_a="m1", method="cam")
    assert stale_panels(panel_keys(state), panel_keys(update_state(state, layers=("layer3",)))) \
        == []


# ---------------------------------------------------------------------------------- metrics


def _record(label: int = 1) -> ImageRecord:
    smoke = np.zeros((4, 4), bool)
    smoke[0, :] = True  # 4 smoke pixels
    chimney = np.zeros((4, 4), bool)
    chimney[2:, 3] = True  # 2 chimney pixels
    return ImageRecord(np.zeros((4, 4, 3), np.uint8), "x", label,
                       smoke if label else np.zeros_like(smoke), chimney)


def test_image_metrics_match_hand_counts() -> None:
    record = _record()
    cam = np.zeros((4, 4), np.float32)
    cam[0, :2] = 1.0  # two smoke pixels found
    cam[3, 3] = 0.5  # one chimney pixel claimed
    cam[1, 0] = 0.5  # one background pixel claimed
    pred = cam > 0.3
    m = image_metrics(cam, pred, record)
    assert m["smoke_iou"] == pytest.approx(2 / 6)  # |2| / |4 gt + 2 extra|
    assert m["chimney_fp_rate"] == pytest.approx(1 / 2)
    assert m["cam_chimney_mass"] == pytest.approx(0.5 / 3.0)
    assert m["predicted_fraction"] == pytest.approx(4 / 16)


def test_metrics_text_says_why_a_number_is_missing() -> None:
    clean = _record(label=0)
    pred = np.zeros((4, 4), bool)
    m = image_metrics(np.zeros((4, 4), np.float32), pred, clean)
    assert math.isnan(m["smoke_iou"])
    assert "smoke IoU n/a (clean image)" in format_metrics(m, clean, 0.2)
    photo = ImageRecord(np.zeros((4, 4, 3), np.uint8), "photo")
    m = image_metrics(np.zeros((4, 4), np.float32), pred, photo)
    text = format_metrics(m, photo, 0.9)
    assert "n/a (no smoke mask)" in text and "n/a (no chimney mask)" in text
    assert "P(smoke) 0.90" in text


def test_chimney_sentence_compares_with_an_even_map() -> None:
    record = _record()  # chimney covers 2 / 16 = 12.5 % of the image
    concentrated = chimney_sentence({"cam_chimney_mass": 0.5}, record, "model A")
    assert "4.00x" in concentrated and "ON the chimney" in concentrated
    assert "avoids" in chimney_sentence({"cam_chimney_mass": 0.01}, record, "model A")


def test_layers_for_model_drops_layers_the_model_lacks(
        networks: dict[str, torch.nn.Module]) -> None:
    cnn = networks["demo-a"]
    assert layers_for_model(cnn, "gradcam", ()) == (("layer4",), ())  # its default
    layers, notes = layers_for_model(cnn, "gradcam", ("blocks.3.norm1",))  # a ViT layer
    assert layers == ("layer4",) and "blocks.3.norm1" in notes[0]
    layers, notes = layers_for_model(cnn, "gradcam", ("layer2", "blocks.3.norm1"))
    assert layers == ("layer2",) and "fused ['layer2'] only" in notes[0]
    assert layers_for_model(cnn, "cam", ("layer2",)) == ((), ())


def test_layer_choices_offer_vit_norm1_taps() -> None:
    vit = types.SimpleNamespace(family="vit", layer_names=["blocks.0", "blocks.1"])
    assert layer_choices(vit) == [("block 0 (norm1)", "blocks.0.norm1"),
                                  ("block 1 (norm1)", "blocks.1.norm1")]


def test_read_image_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="Cannot read .* as an image"):
        read_image(tmp_path / "notes.png")
    image = read_image(DATA_SAMPLES / "images" / "test_00002.png", image_size=24)
    assert image.shape == (24, 24, 3) and image.dtype == np.uint8


# ---------------------------------------------------------------------------------- catalog


def test_catalog_lists_finished_runs_and_skips_unfinished_ones(trained: CamExplorer,
                                                               tmp_path: Path) -> None:
    cache = Path(trained.cache_dir)
    models = list_cached_models(cache)
    assert [m.key for m in models] == [run_dir_for(tiny_config(), cache).name]
    assert (models[0].paradigm, models[0].image_size, models[0].epochs) == ("single", 32, 1)
    assert models[0].label == ("single CNN · resnet18 · P(chimney|smoke/clean) 0.95/0.05 · "
                               "seed 0 · no val acc")  # tiny_config has no validation split
    shutil.copytree(cache / "runs", tmp_path / "runs")
    history = tmp_path / "runs" / models[0].key / "history.json"
    history.write_text(json.dumps([]))  # as if interrupted before its only epoch ended
    assert list_cached_models(tmp_path) == []
    assert list_cached_models(tmp_path / "nowhere") == []


def test_ensure_cached_trains_only_missing_configs(trained: CamExplorer) -> None:
    called = []
    configs = {"have": tiny_config(0), "missing": tiny_config(7)}
    assert ensure_cached(configs, called.append, trained.cache_dir) == ["missing"]
    assert called == [configs["missing"]]


# Fake cache entries: the folder get_or_train leaves (key, history, checkpoint), written by the
# test; the catalog reads only the JSON files, so the checkpoint can be empty.
CNN = ModelSpec("resnet_mini", {"output_stride": 8})
VIT = ModelSpec("vit_mini", {"patch_size": 8})


def _data(level: tuple[float, float] | None = None) -> DataSpec:
    overrides = {} if level is None else {"p_chimney_given_smoke": level[0],
                                          "p_chimney_given_clean": level[1]}
    return DataSpec(image_size=32, n_train=8, n_val=4, overrides=overrides)


def _single(model: ModelSpec, level=None, seed: int = 0, **changes) -> TrainConfig:
    return TrainConfig(paradigm="single", model=model, data=_data(level), epochs=2, seed=seed,
                       **changes)


def _taught(teacher: ModelSpec, student: ModelSpec, level=None, seed: int = 0,
            paradigm: str = "teacher_student", **kt) -> TrainConfig:
    return TrainConfig(paradigm=paradigm, student=student, teacher=teacher, data=_data(level),
                       epochs=2, seed=seed, kt=KTSpec(**kt))


def _fake_run(cache: Path, config: TrainConfig, val_acc: float | None = 0.9,
              epochs_done: int | None = None, age: int = 0, fingerprint: bool = False) -> str:
    """Write a run folder for ``config``; ``age`` seconds older than the newest (list order)."""
    run_dir = run_dir_for(config, cache)
    run_dir.mkdir(parents=True)
    key = {"config": config.to_dict()}
    if fingerprint:
        key["data_fingerprint"] = {"train": "f" * 16, "val": None}
    (run_dir / KEY_NAME).write_text(json.dumps(key))
    record = {} if val_acc is None else {"val_acc": val_acc}
    n = config.epochs if epochs_done is None else epochs_done
    (run_dir / HISTORY_NAME).write_text(json.dumps([record] * n))
    checkpoint = run_dir / CHECKPOINT_NAME
    checkpoint.write_bytes(b"")
    stamp = 1_700_000_000 - age
    os.utime(checkpoint, (stamp, stamp))
    return run_dir.name


def test_labels_say_what_each_network_is(tmp_path: Path) -> None:
    keys = {
        "cnn": _fake_run(tmp_path, _single(CNN), val_acc=0.91, age=1),
        "vit": _fake_run(tmp_path, _single(VIT, (0.5, 0.5), seed=2), val_acc=0.5, age=2),
        "ts": _fake_run(tmp_path, _taught(CNN, VIT), val_acc=0.8, age=3),
        "vit_to_cnn": _fake_run(tmp_path, _taught(VIT, CNN), val_acc=0.7, age=4),
        "co": _fake_run(tmp_path, _taught(CNN, VIT, paradigm="co_training"), val_acc=None, age=5),
    }
    _fake_run(tmp_path, TrainConfig(paradigm="supervised", model=CNN, data=_data(), epochs=1))
    _fake_run(tmp_path, _single(VIT, seed=5), epochs_done=1)  # unfinished: 1 of 2 epochs
    models = list_cached_models(tmp_path)
    assert [m.key for m in models] == list(keys.values())  # newest first; no supervised/unfinished
    labels = {name: m.label for name, m in zip(keys, models, strict=True)}
    level = "P(chimney|smoke/clean) 0.95/0.05"
    assert labels == {
        "cnn": f"single CNN · resnet_mini · {level} · seed 0 · val acc 91 %",
        "vit": "single ViT · vit_mini · P(chimney|smoke/clean) 0.50/0.50 · seed 2 · "
               "val acc 50 % (near chance)",
        "ts": f"teacher-student CNN→ViT · resnet_mini→vit_mini · {level} · seed 0 · val acc 80 %",
        "vit_to_cnn": f"teacher-student ViT→CNN · vit_mini→resnet_mini · {level} · seed 0 · "
                      "val acc 70 %",
        "co": f"co-training CNN⇄ViT · resnet_mini⇄vit_mini · {level} · seed 0 · no val acc",
    }
    near = {m.key: m.near_chance for m in models}
    assert near == {k: name == "vit" for name, k in keys.items()}
    assert "near chance" in models[1].chance_note and models[0].chance_note == ""
    assert training_level(models[1].config) == (0.5, 0.5)
    assert network_family("vit_tiny") == "vit" and network_family("test_resnet") == "cnn"


def test_runs_that_look_alike_get_a_short_distinguishing_suffix(tmp_path: Path) -> None:
    lam_half = _fake_run(tmp_path, _taught(CNN, VIT, lam=0.5), age=1)
    lam_one = _fake_run(tmp_path, _taught(CNN, VIT, lam=1.0), age=2)
    many = [_fake_run(tmp_path, _single(CNN, lr=lr, batch_size=b, weight_decay=wd), age=3 + i)
            for i, (lr, b, wd) in enumerate([(0.01, 8, 0.1), (0.02, 16, 0.2), (0.03, 32, 0.3)])]
    other = _fake_run(tmp_path, _single(VIT), age=9)
    models = {m.key: m for m in list_cached_models(tmp_path)}
    labels = [m.label for m in models.values()]
    assert len(set(labels)) == len(labels)  # every entry can be told apart
    assert models[other].suffix == ""  # a unique label gets no suffix
    half, one = models[lam_half], models[lam_one]
    assert half.base_label == one.base_label
    assert half.label == f"{half.base_label} [kt.lam=0.5 · {lam_half.rsplit('-', 1)[1][:6]}]"
    assert one.label.endswith(f"[kt.lam=1 · {lam_one.rsplit('-', 1)[1][:6]}]")
    for key in many:  # three settings differ: only the hash is shown
        assert models[key].suffix == key.rsplit("-", 1)[1][:6]
    # In a larger group each member names what sets it apart from the most common settings.
    other_cache = tmp_path / "group"
    paper = _fake_run(other_cache, _taught(CNN, VIT, seed=4), age=1)
    half = _fake_run(other_cache, _taught(CNN, VIT, seed=4, lam=0.5), age=2)
    l1 = _fake_run(other_cache, _taught(CNN, VIT, seed=4, distance="l1"), age=3)
    suffixes = {m.key: m.suffix for m in list_cached_models(other_cache)}
    assert suffixes == {paper: paper.rsplit("-", 1)[1][:6],
                        half: f"kt.lam=0.5 · {half.rsplit('-', 1)[1][:6]}",
                        l1: f"kt.distance=l1 · {l1.rsplit('-', 1)[1][:6]}"}
    # The explorer keeps labels unique for entries it is given directly too.
    twins = [dataclasses.replace(_entry(k), seed=1) for k in ("single-a-0011", "single-b-0022")]
    data = ExplorerData(twins, image_size=32, n_images=2)
    assert [m.suffix for m in data.models.values()] == ["0011", "0022"]


def test_a_near_chance_model_is_flagged_in_the_widget_and_the_figure(
        networks: dict[str, torch.nn.Module]) -> None:
    entries = [dataclasses.replace(_entry("demo-a"), val_acc=0.5),
               dataclasses.replace(_entry("demo-b"), val_acc=0.9)]
    data = ExplorerData(entries, image_size=32, n_images=2, networks=networks)
    explorer = CamExplorer(data, ExplorerState(source="test", model_a="demo-a",
                                               model_b="demo-b"), display_size=32)
    assert "near chance" in explorer.row_titles["a"].value
    assert "near chance" not in explorer.row_titles["b"].value
    fig = explorer_figure(data, explorer.state)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sum("did not learn" in t for t in texts) == 1


def test_runs_on_your_own_data_say_so(tmp_path: Path) -> None:
    _fake_run(tmp_path, _taught(CNN, VIT), fingerprint=True)
    [model] = list_cached_models(tmp_path)
    assert model.own_data and model.level is None
    assert " · your own data · " in model.label


def test_default_pair_is_the_single_vit_and_its_teacher_student_twin(tmp_path: Path) -> None:
    ts = _fake_run(tmp_path, _taught(CNN, VIT), age=10)
    twin = _fake_run(tmp_path, _single(VIT), age=11)
    # Newer distractors: another level, another seed, the other direction, a near-chance run.
    _fake_run(tmp_path, _single(VIT, (0.5, 0.5)), age=1)
    _fake_run(tmp_path, _single(VIT, seed=1), age=2)
    _fake_run(tmp_path, _taught(VIT, CNN), age=3)
    _fake_run(tmp_path, _single(CNN), age=4)
    _fake_run(tmp_path, _taught(CNN, VIT, (0.5, 0.5), seed=3), val_acc=0.5, age=5)
    _fake_run(tmp_path, _single(VIT, (0.5, 0.5), seed=3), val_acc=0.5, age=6)
    _fake_run(tmp_path, _taught(CNN, VIT, seed=1), age=7)  # a newer pair of a higher seed
    models = list_cached_models(tmp_path)
    assert default_models(models) == (twin, ts)
    found, exact = find_twin(next(m for m in models if m.key == ts), models)
    assert found.key == twin and exact
    explorer = CamExplorer.from_cache(tmp_path, split="test", n_images=2, display_size=32)
    assert (explorer.state.model_a, explorer.state.model_b) == (twin, ts)
    assert explorer.data.models[twin].label.startswith("single ViT · vit_mini · ")


def test_default_models_pairs_the_teacher_student_run_with_its_baseline() -> None:
    single_vit, single_cnn = _entry("single-vit"), _entry("single-cnn")
    single_vit = dataclasses.replace(single_vit, model_name="vit_tiny")
    taught = dataclasses.replace(_entry("ts-vit"), paradigm="teacher_student",
                                 model_name="vit_tiny", teacher_name="resnet18")
    assert default_models([taught, single_cnn, single_vit]) == ("single-vit", "ts-vit")
    assert default_models([taught, single_cnn]) == ("single-cnn", "ts-vit")
    assert default_models([single_cnn, single_vit]) == ("single-cnn", None)
    assert default_models([]) == (None, None)


# ---------------------------------------------------------------------------------- widget


def test_threshold_change_redraws_mask_and_metrics_without_running_the_model(
        explorer: CamExplorer) -> None:
    explorer.threshold.value = 0.2
    text_low, mask_low = explorer.metrics["a"].value, explorer.views["a"].pred.copy()
    cam_png = explorer.panels["a.cam"].value
    runs = explorer.data.model_runs
    explorer.threshold.value = 0.8
    assert explorer.state.threshold == 0.8
    assert explorer.metrics["a"].value != text_low
    pred = explorer.views["a"].pred
    assert pred.sum() < mask_low.sum()  # a higher threshold keeps fewer pixels
    assert not (pred & ~mask_low).any()  # ... and only pixels that were in before
    assert np.array_equal(pred, explorer.views["a"].cam > 0.8)
    assert f"{100 * pred.mean():.1f}% of pixels called smoke" in explorer.metrics["a"].value
    assert explorer.data.model_runs == runs  # the CAM came from the cache
    assert explorer.panels["a.cam"].value == cam_png  # the CAM panel was not redrawn
    mask_image = np.asarray(Image.open(io.BytesIO(explorer.panels["a.mask"].value)))
    assert mask_image.shape == (64, 64, 3)  # 32 px shown at display_size 64
    assert np.array_equal(mask_image[::2, ::2], explorer.arrays["a.mask"])


def test_method_layers_and_refine_recompute_what_they_must(explorer: CamExplorer) -> None:
    runs = explorer.data.model_runs
    cam_before = explorer.views["a"].cam
    assert explorer.layers.disabled  # the score-map CAM takes no layers
    assert [spec for _, spec in explorer.layers.options] == ["layer1", "layer2", "layer3", "layer4"]
    explorer.layers.value = ("layer3", "layer4")
    assert explorer.data.model_runs == runs  # no effect on the score-map CAM
    explorer.method.value = "gradcam"
    assert not explorer.layers.disabled
    assert explorer.state.layers == ("layer3", "layer4")
    assert explorer.views["a"].layers == ("layer3", "layer4")
    assert explorer.data.model_runs == runs + 1
    fused = explorer.views["a"].cam
    assert not np.allclose(fused, cam_before)
    explorer.refine["par"].value = True
    assert explorer.state.refine == ("par",)
    assert explorer.data.model_runs == runs + 1  # post-processing reuses the model's CAM
    assert not np.allclose(explorer.views["a"].cam, fused)
    explorer.method.value = "cam"
    explorer.refine["par"].value = False
    assert np.allclose(explorer.views["a"].cam, cam_before)  # from the cache, no model run
    assert explorer.data.model_runs == runs + 1


def test_comparing_two_models_shows_a_second_row(explorer: CamExplorer) -> None:
    assert explorer.rows["b"].layout.display == "none"
    explorer.model_b.value = "demo-b"
    assert explorer.state.active_slots == ("a", "b")
    assert explorer.rows["b"].layout.display is None
    assert "smoke IoU" in explorer.metrics["b"].value
    assert not np.array_equal(explorer.views["a"].cam, explorer.views["b"].cam)
    fig = explorer_figure(explorer.data, explorer.state)
    assert len(fig.axes) == 9  # 3 panels x (image row + 2 model rows)


def test_new_image_source_from_a_folder_and_from_an_upload(explorer: CamExplorer) -> None:
    explorer.load_path(str(DATA_SAMPLES))
    assert explorer.state.source == "folder: data_samples"
    assert explorer.index.max == len(explorer.data.records(explorer.state.source)) - 1
    assert "smoke IoU" in explorer.metrics["a"].value
    explorer.load_path(str(DATA_SAMPLES / "missing.png"))
    assert "does not exist" in explorer.status.value
    png = io.BytesIO()
    Image.fromarray(np.full((40, 50, 3), 90, np.uint8)).save(png, format="PNG")
    explorer.upload.value = ({"name": "photo.png", "type": "image/png", "size": len(png.getvalue()),
                              "content": memoryview(png.getvalue()),
                              "last_modified": datetime.now(timezone.utc)},)
    assert explorer.state.source == "file: photo.png"
    assert explorer.arrays["image"].shape == (32, 32, 3)  # resized to the explorer's size
    assert "n/a (no smoke mask)" in explorer.metrics["a"].value


def test_threshold_timing_reports_no_model_runs(explorer: CamExplorer) -> None:
    timing = time_threshold_redraw(explorer, [0.1, 0.5, 0.9])
    assert timing["n"] == 3 and timing["model_runs"] == 0
    assert timing["median_ms"] > 0
    assert explorer.threshold.value == pytest.approx(0.3)  # put back


def test_empty_cache_explains_and_offers_the_train_button(tmp_path: Path) -> None:
    explorer = CamExplorer.from_cache(tmp_path, split="test", n_images=4, display_size=32,
                                      train_config=tiny_config())
    assert "No trained model in the cache" in explorer.status.value
    assert "Train the quick model" in explorer.status.value
    assert explorer.train_button.layout.display is None
    assert explorer.state.active_slots == ()
    assert "image" in explorer.arrays and "a.cam" not in explorer.arrays  # image still shown


def test_the_train_button_trains_and_selects_the_quick_model(trained: CamExplorer) -> None:
    assert run_dir_for(tiny_config(), trained.cache_dir).is_dir()
    assert trained.state.model_a == run_dir_for(tiny_config(), trained.cache_dir).name
    assert "smoke IoU" in trained.metrics["a"].value
    assert trained.train_button.layout.display == "none"
    assert "No trained model" not in trained.status.value


def test_without_a_train_config_the_message_points_to_the_notebook(tmp_path: Path) -> None:
    explorer = CamExplorer(ExplorerData(image_size=32, n_images=2, cache_dir=tmp_path),
                           cache_dir=tmp_path)
    assert "run notebook 02_teacher_student" in explorer.status.value
    assert explorer.train_button.layout.display == "none"


def test_first_informative_index_finds_a_chimney_image() -> None:
    records = [_record(0), ImageRecord(np.zeros((4, 4, 3), np.uint8), "p"), _record(1)]
    assert first_informative_index(records) == 2
    assert first_informative_index(records, label=0) == 0


class _BrokenNet(torch.nn.Module):
    """A classifier whose forward pass fails, as a corrupt or incompatible model would."""

    family, name, num_classes, layer_names = "cnn", "broken", 1, ["layer4"]

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, layers=()):
        raise RuntimeError("boom in forward")


def test_a_failing_model_is_reported_in_the_widget_not_raised() -> None:
    data = ExplorerData([_entry("broken")], image_size=32, n_images=2,
                        networks={"broken": _BrokenNet()})
    explorer = CamExplorer(data, ExplorerState(model_a="broken"), display_size=32)
    assert "Could not draw this view: RuntimeError: boom in forward" in explorer.status.value
    assert "a.cam" not in explorer.arrays
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        explorer.apply(update_state(explorer.state, model_a="nope"))
