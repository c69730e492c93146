"""What the paradigms do besides their KT arithmetic, checked by value on tiny networks.

Protects (``wsss_lib.train.paradigms``; the loss arithmetic of the classifier paradigms is in
``test_paradigm_arithmetic.py``):

- the fully supervised reference: the segmenter's forward pass (two lateral 1x1 convs, the deep
  map upsampled onto the middle one and added, 3x3 conv + BN + ReLU, a 1x1 classifier, bilinear
  upsampling to the image) and the middle layer it taps by default; its step's per-pixel BCE and
  the IoU counts of its prediction; the training masks it refuses;
- the training sets a classifier paradigm refuses (one class only);
- the optimiser's parameter groups and per-network learning rates (the KT projection learning
  at the student's rate);
- moving every network to a device and the accuracy counts of a batch.

Paired with the ``paradigms`` target of the mutation run (``benchmarks/mutation``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss_lib.train import DataSpec, KTSpec, ModelSpec, TrainConfig, build_model, build_paradigm
from wsss_lib.train.paradigms import (
    CoTraining,
    SingleNetwork,
    Supervised,
    SupervisedSegmenter,
    TeacherStudent,
)
from wsss_lib.train.paradigms.base import batch_accuracy
from wsss_lib.utils import seed_everything

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32
CNN = ModelSpec("test_resnet", {"output_stride": 8})
VIT = ModelSpec("test_vit", {"patch_size": 8})
DATA = DataSpec(image_size=SIZE, n_train=8, n_val=4)


def _images(n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- supervised


@pytest.fixture(scope="module")
def segmenter() -> SupervisedSegmenter:
    seed_everything(0)
    return SupervisedSegmenter(build_model(CNN, SIZE), image_size=SIZE, hidden=8).eval()


def test_segmenter_taps_the_middle_layer_by_default_and_records_its_build():
    seed_everything(0)
    cnn = SupervisedSegmenter(build_model(CNN, SIZE), image_size=SIZE)
    names = list(cnn.backbone.layer_names)
    assert names == ["layer1", "layer2", "layer3", "layer4"]
    assert cnn.mid_layer == "layer2"  # names[len // 2 - 1]
    assert cnn.lateral_mid.in_channels == cnn.backbone(_images(1), layers=("layer2",)).features[
        "layer2"].shape[1]
    assert cnn.lateral_deep.in_channels == cnn.backbone.embed_dim
    assert (cnn.lateral_mid.out_channels, cnn.classifier.in_channels) == (64, 64)  # hidden=64
    assert cnn.build_args["hidden"] == 64 and cnn.build_args["mid_layer"] == "layer2"
    assert cnn.build_args["backbone"] == cnn.backbone.build_args
    vit = SupervisedSegmenter(build_model(VIT, SIZE), image_size=SIZE, hidden=4,
                              mid_layer="blocks.-2")
    assert vit.mid_layer == "blocks.4"  # a spec is resolved to its name
    seed_everything(0)
    vit_default = SupervisedSegmenter(build_model(VIT, SIZE), image_size=SIZE)
    assert vit_default.mid_layer == "blocks.2"  # 6 blocks -> blocks.{6 // 2 - 1}


def test_segmenter_probe_leaves_the_backbone_mode_as_it_was():
    for training in (True, False):
        seed_everything(0)
        backbone = build_model(CNN, SIZE).train(training)
        segmenter = SupervisedSegmenter(backbone, image_size=SIZE)
        assert segmenter.backbone.training is training


def test_segmenter_forward_is_the_two_stage_fpn_written_out(segmenter):
    # The architecture the docstring promises (the reference below reuses these weights).
    for conv in (segmenter.lateral_mid, segmenter.lateral_deep, segmenter.classifier):
        assert conv.kernel_size == (1, 1) and conv.bias is not None
    conv3 = segmenter.fuse[0]
    assert (conv3.kernel_size, conv3.padding, conv3.bias) == ((3, 3), (1, 1), None)
    assert isinstance(segmenter.fuse[1], torch.nn.BatchNorm2d)
    assert isinstance(segmenter.fuse[2], torch.nn.ReLU)
    assert segmenter.classifier.out_channels == 1
    x = _images(2)
    with torch.no_grad():
        out = segmenter.backbone(x, layers=("layer2",))
        mid = F.conv2d(out.features["layer2"], segmenter.lateral_mid.weight,
                       segmenter.lateral_mid.bias)
        deep = F.conv2d(out.feature_map, segmenter.lateral_deep.weight,
                        segmenter.lateral_deep.bias)
        deep = F.interpolate(deep, size=mid.shape[-2:], mode="bilinear", align_corners=False)
        conv, bn = segmenter.fuse[0], segmenter.fuse[1]
        hidden = F.conv2d(mid + deep, conv.weight, padding=1)
        hidden = (hidden - bn.running_mean[None, :, None, None]) / torch.sqrt(
            bn.running_var[None, :, None, None] + bn.eps)
        hidden = F.relu(hidden * bn.weight[None, :, None, None] + bn.bias[None, :, None, None])
        logits = F.conv2d(hidden, segmenter.classifier.weight, segmenter.classifier.bias)
        expected = F.interpolate(logits, size=(SIZE, SIZE), mode="bilinear",
                                 align_corners=False)
        got = segmenter(x)
    assert got.shape == (2, 1, SIZE, SIZE)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert got.std() > 1e-3  # not a constant map
    torch.testing.assert_close(segmenter.predict_masks(x), torch.sigmoid(expected[:, 0]),
                               rtol=1e-4, atol=1e-5)


def test_segmenter_deep_stage_is_upsampled_onto_the_middle_grid():
    """A CNN at stride 16: layer4's 2 x 2 grid is resized bilinearly onto layer2's 4 x 4 grid."""
    seed_everything(0)
    spec = ModelSpec("test_resnet", {"output_stride": 16})
    seg = SupervisedSegmenter(build_model(spec, SIZE), SIZE, hidden=4).eval()
    x = _images(1)
    captured = {}
    seg.fuse.register_forward_pre_hook(lambda _m, inputs: captured.setdefault("in", inputs[0]))
    with torch.no_grad():
        seg(x)
        out = seg.backbone(x, layers=(seg.mid_layer,))
        mid = seg.lateral_mid(out.features[seg.mid_layer])
        deep = seg.lateral_deep(out.feature_map)
    assert deep.shape[-2:] == (2, 2) and mid.shape[-2:] == (4, 4)
    # Half-pixel centres (align_corners=False): rows/columns weigh the two cells 1, .75, .25, 0.
    w = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    spread = torch.einsum("ia,ncab,jb->ncij", w, deep, w)
    torch.testing.assert_close(captured["in"], mid + spread)


def _supervised_batch() -> dict[str, torch.Tensor]:
    masks = torch.zeros(2, SIZE, SIZE)
    masks[0, 4:20, 8:30] = 1.0
    masks[1, 10:12, :] = 1.0
    return {"image": _images(2, seed=1), "smoke_mask": masks, "label": torch.tensor([1.0, 1.0])}


def test_supervised_step_is_the_per_pixel_bce_and_counts_the_iou():
    seed_everything(0)
    paradigm = Supervised(SupervisedSegmenter(build_model(CNN, SIZE), image_size=SIZE, hidden=8))
    batch = _supervised_batch()
    paradigm.eval()  # batch-norm statistics fixed, so the step and the reference agree
    model = paradigm.modules["model"]
    with torch.no_grad():  # shift the untrained logits so about half the pixels are smoke
        model.classifier.bias -= model(batch["image"]).median()
    out = paradigm.step(batch)
    with torch.no_grad():
        z = paradigm.modules["model"](batch["image"])[:, 0]
    y = batch["smoke_mask"]
    bce = (z.clamp_min(0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()
    torch.testing.assert_close(out.loss, bce, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.terms["bce"], bce, rtol=1e-5, atol=1e-6)
    pred, truth = z > 0, y > 0.5
    inter, union = float((pred & truth).sum()), float((pred | truth).sum())
    assert out.ratios == {"iou": (inter, union)}
    assert 0 < inter < union < 2 * SIZE * SIZE  # a partial overlap: both counts matter


def test_supervised_step_counts_a_logit_of_exactly_zero_as_background():
    class Fixed(torch.nn.Module):
        def forward(self, images):
            z = torch.zeros(images.shape[0], 1, 2, 2)
            z[:, 0, 0, 0] = 1.0  # smoke predicted in one pixel, logit 0 elsewhere
            return z

    paradigm = Supervised(Fixed())
    masks = torch.tensor([[[1.0, 0.0], [0.5, 0.6]]])
    out = paradigm.step({"image": torch.zeros(1, 3, 2, 2), "smoke_mask": masks})
    # pred = {(0,0)}, truth = {(0,0), (1,1)} (0.6 > 0.5; 0.5 is not smoke): 1 / 2.
    assert out.ratios["iou"] == (1.0, 2.0)
    z = torch.tensor([1.0, 0.0, 0.0, 0.0])
    y = torch.tensor([1.0, 0.0, 0.5, 0.6])  # BCE against the soft target as given
    expected = F.binary_cross_entropy_with_logits(z, y)
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize(
    ("masks", "message"),
    [
        (None, "trains on smoke masks, but the training set has none"),
        (np.zeros((2, 4, 4), dtype=bool), "contain no smoke pixels"),
        (np.ones((2, 4, 4), dtype=bool), "contain only smoke pixels"),
    ],
)
def test_supervised_refuses_masks_without_both_kinds_of_pixel(masks, message):
    with pytest.raises(ValueError, match=message):
        Supervised.check_training_set(SimpleNamespace(smoke_masks=masks, labels=[1, 1]))


def test_supervised_accepts_masks_with_a_single_smoke_or_background_pixel():
    almost_empty = np.zeros((2, 4, 4), dtype=bool)
    almost_empty[1, 3, 3] = True
    almost_full = ~almost_empty
    for masks in (almost_empty, almost_full):
        # Labels are not the supervised paradigm's business (only smoke images is fine).
        Supervised.check_training_set(SimpleNamespace(smoke_masks=masks, labels=[1, 1]))


# ---------------------------------------------------------------------------- training sets


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 0, 0], "only clean images \\(3 of them\\)"),
        ([1, 1], "only smoke images \\(2 of them\\)"),
    ],
)
def test_a_classifier_paradigm_refuses_a_training_set_of_one_class(labels, message):
    for cls in (SingleNetwork, TeacherStudent, CoTraining):
        with pytest.raises(ValueError, match=message):
            cls.check_training_set(SimpleNamespace(labels=np.array(labels)))


def test_a_classifier_paradigm_accepts_one_image_of_the_other_class():
    for labels in ([1, 0, 0, 0], [0, 1, 1, 1]):
        SingleNetwork.check_training_set(SimpleNamespace(labels=np.array(labels)))


# ---------------------------------------------------------------------------- learning rates


def _ts_config(student_lr=None, teacher_lr=None, lr=1e-3) -> TrainConfig:
    return TrainConfig(
        paradigm="teacher_student", data=DATA, lr=lr,
        student=ModelSpec("test_vit", {"patch_size": 8}, lr=student_lr),
        teacher=ModelSpec("test_resnet", {"output_stride": 8}, lr=teacher_lr),
    )


def test_every_role_at_the_runs_rate_is_one_group_of_all_trainable_parameters():
    seed_everything(0)
    paradigm = build_paradigm(TrainConfig(model=CNN, data=DATA, lr=2e-3))
    [group] = paradigm.param_groups(2e-3)
    assert group["lr"] == 2e-3 and group["lr_scale"] == 1.0
    assert [id(p) for p in group["params"]] == [id(p) for p in paradigm.parameters()]
    assert paradigm.lr_scale == {}


def test_a_kt_paradigm_at_the_runs_rate_is_one_group_of_student_and_projection():
    seed_everything(0)
    config = _ts_config(lr=2e-3)
    paradigm = build_paradigm(config, teacher=build_model(config.teacher, SIZE))
    [group] = paradigm.param_groups(2e-3)
    assert (group["lr"], group["lr_scale"]) == (2e-3, 1.0)
    expected = [*paradigm.modules["student"].parameters(), *paradigm.modules["kt"].parameters()]
    assert [id(p) for p in group["params"]] == [id(p) for p in expected]


def test_a_students_own_rate_gives_it_and_its_projection_their_own_group():
    seed_everything(0)
    config = _ts_config(student_lr=5e-4, teacher_lr=3e-2, lr=2e-3)
    paradigm = build_paradigm(config, teacher=build_model(config.teacher, SIZE))
    # The teacher's rate is recorded, but the teacher is frozen: no group of its own.
    assert paradigm.lr_scale == {"student": 0.25, "teacher": 15.0, "kt": 0.25}
    groups = paradigm.param_groups(2e-3)
    assert [g["lr_scale"] for g in groups] == [0.25, 0.25]
    assert [g["lr"] for g in groups] == [pytest.approx(5e-4), pytest.approx(5e-4)]
    ids = [[id(p) for p in g["params"]] for g in groups]
    assert ids == [[id(p) for p in paradigm.modules[r].parameters()] for r in ("student", "kt")]


def test_co_training_groups_follow_the_trainable_roles_in_order():
    seed_everything(0)
    config = TrainConfig(paradigm="co_training", data=DATA, lr=1e-3, kt=KTSpec(),
                         student=VIT, teacher=ModelSpec("test_resnet", {"output_stride": 8},
                                                        lr=4e-3))
    paradigm = build_paradigm(config)
    assert paradigm.lr_scale == {"teacher": 4.0}  # kt follows the student: run's rate
    groups = paradigm.param_groups(1e-3)
    assert [(g["lr"], g["lr_scale"]) for g in groups] == [(1e-3, 1.0), (4e-3, 4.0),
                                                           (1e-3, 1.0)]
    ids = [[id(p) for p in g["params"]] for g in groups]
    roles = ("student", "teacher", "kt")
    assert ids == [[id(p) for p in paradigm.modules[r].parameters()] for r in roles]


# ---------------------------------------------------------------------------- devices, accuracy


def test_to_moves_every_network_including_a_frozen_teacher():
    seed_everything(0)
    paradigm = TeacherStudent(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, 0)
    assert paradigm.to(torch.device("meta")) is paradigm
    for role, module in paradigm.modules.items():
        assert all(p.device.type == "meta" for p in module.parameters()), role


def test_batch_accuracy_counts_a_zero_logit_as_clean_and_a_label_above_one_half_as_smoke():
    logits = torch.tensor([0.0, 0.1, -0.2, 3.0, 0.0])
    labels = torch.tensor([0.0, 1.0, 1.0, 0.6, 0.5])
    # correct: 0 vs 0 yes; 0.1 vs 1 yes; -0.2 vs 1 no; 3 vs 0.6 (smoke) yes; 0 vs 0.5 (clean) yes
    assert batch_accuracy(logits, labels) == (4.0, 5.0)


def test_supervised_trains_its_segmenter():
    seed_everything(0)
    segmenter = SupervisedSegmenter(build_model(CNN, SIZE), image_size=SIZE, hidden=4)
    paradigm = Supervised(segmenter)
    assert paradigm.trainable == ("model",) and paradigm.modules == {"model": segmenter}
    assert [id(p) for p in paradigm.parameters()] == [id(p) for p in segmenter.parameters()]


# ---------------------------------------------------------------------------- building networks


def test_a_pretrained_backbone_is_loaded_from_the_proxy_pretraining(monkeypatch):
    """``ModelSpec.proxy_pretrain`` asks the pre-training cache for this architecture's backbone."""
    import wsss_lib.train.pretrain as pretrain

    seed_everything(1)
    donor = build_model(CNN, SIZE).backbone.state_dict()  # stands in for a pre-trained backbone
    calls = []

    def fake_get_or_pretrain(name, build_kwargs, spec):
        calls.append((name, build_kwargs, spec))
        return donor

    monkeypatch.setattr(pretrain, "get_or_pretrain", fake_get_or_pretrain)
    spec = ModelSpec("test_resnet", {"output_stride": 8}, proxy_pretrain={"epochs": 2})
    seed_everything(0)
    model = build_model(spec, SIZE)
    assert calls == [("test_resnet", spec.build_kwargs(SIZE),
                      pretrain.PretrainSpec.from_dict({"epochs": 2}))]
    assert calls[0][2].epochs == 2
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, donor[key]), key
    seed_everything(0)
    plain = build_model(CNN, SIZE)  # the same head initialisation: the stream was not consumed
    assert torch.equal(plain.classifier.weight, model.classifier.weight)
    first = next(iter(donor))
    assert not torch.equal(plain.backbone.state_dict()[first], model.backbone.state_dict()[first])


# ---------------------------------------------------------------------------- KT settings


@pytest.mark.parametrize("paradigm_cls", [TeacherStudent, CoTraining])
def test_every_kt_setting_reaches_the_loss_module(paradigm_cls):
    kt = KTSpec(lam=0.5, level="channel", distance="l1", match_to="student", normalize=False,
                student_map="score_map", projection=True)
    seed_everything(0)
    paradigm = paradigm_cls(build_model(VIT, SIZE), build_model(CNN, SIZE), kt, SIZE, 0)
    loss = paradigm.modules["kt"]
    assert (loss.level, loss.distance, loss.match_to, loss.normalize) == (
        "channel", "l1", "student", False)
    # The student's one-channel score map projected onto the teacher's one-channel score map.
    assert (loss.projection.in_channels, loss.projection.out_channels) == (1, 1)
    assert loss.detach_teacher is (paradigm_cls is TeacherStudent)
    generator = torch.Generator().manual_seed(2)
    out = paradigm.step({"image": torch.randn(2, 3, SIZE, SIZE, generator=generator),
                         "label": torch.tensor([1.0, 0.0])})
    assert torch.isfinite(out.loss)


def test_the_projection_is_drawn_from_the_config_seed_plus_a_fixed_offset():
    """Pinned: a change of this stream changes every trained KT run without changing its
    cache key (the run's config), so cached and fresh runs would silently differ."""
    from wsss_lib.losses import KnowledgeTransferLoss

    seed_everything(0)
    paradigm = CoTraining(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, seed=5)
    torch.manual_seed(5 + 7_777)
    expected = KnowledgeTransferLoss(student_channels=paradigm.modules["student"].embed_dim,
                                     teacher_channels=1)
    torch.testing.assert_close(paradigm.modules["kt"].projection.weight,
                               expected.projection.weight, rtol=0, atol=0)


def test_networks_in_double_precision_can_be_paired():
    """The probe of the teacher's channels runs in the teacher's own dtype."""
    seed_everything(0)
    teacher = build_model(CNN, SIZE).double()
    kt = KTSpec(target="features", teacher_layer="layer3")
    paradigm = TeacherStudent(build_model(VIT, SIZE).double(), teacher, kt, SIZE, 0)
    expected = teacher(torch.zeros(1, 3, SIZE, SIZE, dtype=torch.float64),
                       layers=("layer3",)).features["layer3"].shape[1]
    assert paradigm.modules["kt"].projection.out_channels == expected


# ---------------------------------------------------------------------------- the registry


def test_register_paradigm_adds_a_new_name_and_checks_its_result_role(monkeypatch):
    from wsss_lib.train.paradigms import get_paradigm, paradigm_names, register_paradigm, registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Distillation(SingleNetwork):
        name = "distillation_test"

    assert register_paradigm(Distillation) is Distillation
    assert get_paradigm("distillation_test") is Distillation
    assert paradigm_names()[-1] == "distillation_test"
    assert register_paradigm(Distillation) is Distillation  # registering again is harmless

    class Headless(SingleNetwork):
        name = "headless_test"
        result_role = "student"  # not in checkpoint_roles ("model",)

    with pytest.raises(ValueError, match="result_role='student' is not one of its "
                                         "checkpoint_roles"):
        register_paradigm(Headless)
    assert "headless_test" not in paradigm_names()
