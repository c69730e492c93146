"""The training recipe that makes networks learn: schedule, per-network learning rates, scene
presets, small 8x8-CAM architectures, flip-only augmentation and the proxy pre-training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wsss_lib.data import SCENE_PRESETS, augment_batch, make_split, split_config
from wsss_lib.models import build_classifier
from wsss_lib.train import (
    DataSpec,
    KTSpec,
    ModelSpec,
    TrainConfig,
    build_paradigm,
    learning_rate_at,
    train_classifier,
)
from wsss_lib.train.paradigms import build_model
from wsss_lib.train.pretrain import (
    PROXY_CLASSES,
    PretrainSpec,
    get_or_pretrain,
    proxy_scenes,
)
from wsss_lib.utils import seed_everything

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = DataSpec(image_size=32, n_train=32, n_val=8)
CNN = ModelSpec("test_resnet", {"output_stride": 8})
VIT = ModelSpec("test_vit", {"patch_size": 8})
TINY_PRETRAIN = {"n_images": 8, "epochs": 1, "batch_size": 4}


# ------------------------------------------------------------------------------ schedule


def test_warmup_cosine_by_hand():
    config = TrainConfig(model=CNN, data=DATA, lr=1e-2, schedule="warmup_cosine")
    total = 100  # warm-up = 10 steps
    assert learning_rate_at(config, 0, total) == pytest.approx(1e-2 / 25)
    assert learning_rate_at(config, 5, total) == pytest.approx(4e-4 + (1e-2 - 4e-4) * 0.5)
    assert learning_rate_at(config, 10, total) == pytest.approx(1e-2)
    assert learning_rate_at(config, 55, total) == pytest.approx(1e-2 * 0.5 * (1 + math.cos(
        math.pi * 45 / 90)))
    assert learning_rate_at(config, 100, total) == pytest.approx(0.0, abs=1e-12)
    constant = TrainConfig(model=CNN, data=DATA, lr=1e-2)
    assert {learning_rate_at(constant, s, total) for s in (0, 50, 99)} == {1e-2}


def test_training_follows_the_schedule_per_network():
    """The optimiser's last rates are the schedule's last step times each role's ModelSpec.lr."""
    config = TrainConfig(paradigm="teacher_student", student=ModelSpec("test_vit", {
        "patch_size": 8}, lr=1e-3), teacher=CNN, data=DATA, epochs=2, batch_size=16, lr=4e-3,
        schedule="warmup_cosine", kt=KTSpec(lam=0.5))
    seed_everything(0)
    teacher = build_model(CNN, 32)
    seen: list[list[float]] = []
    original = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        seen.append([group["lr"] for group in self.param_groups])
        return original(self, *args, **kwargs)

    torch.optim.AdamW.step = spy
    try:
        train_classifier(config, teacher=teacher, progress=False)
    finally:
        torch.optim.AdamW.step = original
    total = len(seen)  # 2 epochs x 2 steps
    expected = learning_rate_at(config, total - 1, total)
    # groups: student (1e-3 / 4e-3 of the run's rate) and the KT projection (learns with it)
    assert seen[-1] == [pytest.approx(expected / 4), pytest.approx(expected / 4)]
    assert seen[0][0] == pytest.approx(learning_rate_at(config, 0, total) / 4)


def test_teacher_keeps_its_own_rate_and_single_runs_use_one_group():
    config = TrainConfig(paradigm="teacher_student",
                         student=ModelSpec("test_vit", {"patch_size": 8}, lr=1e-3),
                         teacher=ModelSpec("test_resnet", lr=2e-3), data=DATA, lr=4e-3)
    assert config.teacher_config().model.lr == 2e-3
    seed_everything(0)
    single = build_paradigm(TrainConfig(model=CNN, data=DATA, lr=4e-3))
    groups = single.param_groups(4e-3)
    assert len(groups) == 1 and groups[0]["lr"] == 4e-3
    with pytest.raises(ValueError, match="ModelSpec.lr"):
        ModelSpec("test_vit", lr=-1.0)


def test_a_schedule_refuses_to_resume_with_more_epochs(tmp_path):
    config = TrainConfig(model=CNN, data=DATA, epochs=1, batch_size=16,
                         schedule="warmup_cosine")
    train_classifier(config, tmp_path, progress=False)
    longer = TrainConfig(model=CNN, data=DATA, epochs=2, batch_size=16,
                         schedule="warmup_cosine")
    with pytest.raises(ValueError, match="total number of epochs"):
        train_classifier(longer, tmp_path, progress=False)


# ------------------------------------------------------------------------ data and models


def test_presets_set_the_scene_difficulty():
    standard, hard = split_config("train", 32), split_config("train", 32, preset="hard")
    assert standard.n_distractors == tuple(SCENE_PRESETS["standard"]["n_distractors"])
    assert hard.opacity_range == (0.25, 0.9) and hard.n_distractors == (0, 2)
    assert split_config("train", 32, preset="hard", opacity_range=(0.5, 0.6)).opacity_range == (
        0.5, 0.6)  # single overrides win over the preset
    assert DataSpec().preset == "standard"
    with pytest.raises(ValueError, match="scene preset"):
        split_config("train", 32, preset="easy")
    scenes = make_split("train", image_size=32, n_images=12, preset="hard")
    opacities = [p["smoke"]["opacity"] for p in scenes.params if p["smoke"]]
    assert opacities and all(0.25 <= o <= 0.9 for o in opacities)


@pytest.mark.parametrize(("name", "kwargs"), [("resnet_mini", {"output_stride": 8}),
                                              ("vit_mini", {"patch_size": 8})])
def test_mini_architectures_give_8x8_cams_at_64_px(name, kwargs):
    model = build_classifier(name, img_size=64, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 64, 64))
    assert out.score_map.shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="no pretrained weights"):
        build_classifier(name, img_size=64, pretrained=True, **kwargs)


def test_flip_only_augmentation_keeps_colours():
    images = torch.rand(4, 3, 8, 8)
    generator = torch.Generator().manual_seed(0)
    out, _ = augment_batch(images, generator=generator, color=False)
    for before, after in zip(images, out, strict=True):
        assert torch.equal(after, before) or torch.equal(after, before.flip(-1))


# ------------------------------------------------------------------------- pre-training


def test_proxy_scenes_hold_no_smoke_and_all_layers():
    images, maps = proxy_scenes(32, 12, seed=0)
    assert images.shape == (12, 32, 32, 3) and maps.shape == (12, 32, 32)
    assert set(np.unique(maps)) <= set(range(len(PROXY_CLASSES)))
    assert {0, 2, 3} <= set(np.unique(maps))  # sky, ground and (P = 0.5) chimneys appear
    again, _ = proxy_scenes(32, 12, seed=0)
    assert np.array_equal(images, again)


def test_pretraining_is_cached_and_loaded_into_the_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("WSSS_CACHE", str(tmp_path))
    spec = PretrainSpec.from_dict(TINY_PRETRAIN)
    kwargs = {"img_size": 32, "output_stride": 8}
    first = get_or_pretrain("test_resnet", kwargs, spec, progress=False)
    again = get_or_pretrain("test_resnet", {**kwargs, "pcm": True}, spec, progress=False)
    assert all(torch.equal(first[k], again[k]) for k in first)  # PCM: same backbone, cached
    assert len(list((tmp_path / "pretrain").glob("*/backbone.pt"))) == 1

    seed_everything(5)
    scratch = build_model(CNN, 32)
    seed_everything(5)
    pretrained = build_model(ModelSpec("test_resnet", {"output_stride": 8},
                                       proxy_pretrain=TINY_PRETRAIN), 32)
    state = pretrained.backbone.state_dict()
    assert all(torch.equal(state[k], first[k]) for k in first)
    assert not all(torch.equal(scratch.backbone.state_dict()[k], first[k]) for k in first)
    # pre-training does not consume the global random stream: the head starts the same
    assert torch.equal(scratch.classifier.weight, pretrained.classifier.weight)


def test_pretrain_settings_are_validated_and_part_of_the_key():
    spec = ModelSpec("test_resnet", proxy_pretrain={})
    assert spec.proxy_pretrain == PretrainSpec().to_dict()
    assert "pretrain" in spec.to_dict() and "pretrain" not in ModelSpec("test_resnet").to_dict()
    assert ModelSpec("test_resnet", proxy_pretrain={"epochs": 2}) != spec
    with pytest.raises(ValueError, match="Unknown pre-training settings"):
        ModelSpec("test_resnet", proxy_pretrain={"epoch": 2})


# --------------------------------------------------------------- the method's CNN, PCM optional


def test_cnn_pcm_is_optional_and_without_it_02_shares_01s_cnn():
    from wsss_lib.profiles import notebook_settings
    from wsss_lib.studies import bias
    from wsss_lib.studies import configs as method
    from wsss_lib.train.cache import run_dir_for

    S = method.method_settings("full")
    assert S["cnn_pcm"] is False and S["train_level"] == [0.5, 0.5]
    assert "pcm" not in method.model_spec(S, "cnn").kwargs
    with_pcm = method.model_spec({**S, "cnn_pcm": True}, "cnn")
    assert with_pcm.kwargs == {"pcm": True, "output_stride": S["cnn_output_stride"]}
    # the default (a profile without the key) keeps the paper's PCM
    assert method.model_spec({k: v for k, v in S.items() if k != "cnn_pcm"}, "cnn").kwargs["pcm"]
    # the seed-0 teacher of notebooks 02-06 is notebook 01's CNN at 0.5/0.5: one cached model
    B = notebook_settings("01_co_occurrence_bias", "full")
    cnn_01 = bias.bias_model_config(B, "cnn", 0.5, 0.5, seed=0)
    assert run_dir_for(method.teacher_config(S, 0), "/c") == run_dir_for(cnn_01, "/c")
    assert run_dir_for(method.teacher_config(S, 1), "/c") != run_dir_for(cnn_01, "/c")


def test_proxy_pretrain_keeps_the_cache_keys_first_spelling():
    """ModelSpec.proxy_pretrain is the profile setting's name; its cache-key spelling stays
    "pretrain" (every cached and shipped network keeps its key), and from_dict reads it."""
    spec = ModelSpec("test_resnet", proxy_pretrain={"epochs": 2})
    data = spec.to_dict()
    assert "pretrain" in data and "proxy_pretrain" not in data
    assert ModelSpec.from_dict(data) == spec
    assert ModelSpec.from_dict({"name": "test_resnet", "proxy_pretrain": {"epochs": 2}}) == spec
    with pytest.raises(ValueError, match="give one"):
        ModelSpec.from_dict({**data, "proxy_pretrain": {}})
    assert "pretrain" not in ModelSpec("test_resnet").to_dict()
