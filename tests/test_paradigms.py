"""The three paradigms: who gets gradients, who changes, and λ = 0 reducing to a single network."""

from __future__ import annotations

import copy

import torch

import wsss_lib.data
from wsss_lib.train import (
    CoTraining,
    DataSpec,
    KTSpec,
    ModelSpec,
    TeacherStudent,
    TrainConfig,
    build_model,
    build_paradigm,
    evaluate_model,
    train_classifier,
)
from wsss_lib.utils import seed_everything

SIZE = 32
TINY_DATA = DataSpec(image_size=SIZE, n_train=32, n_val=16)
# timm's tiny test architectures keep every test step fast on a shared CPU.
CNN = ModelSpec("test_resnet", {"output_stride": 8})
VIT = ModelSpec("test_vit", {"patch_size": 8})


def batch_of(n: int = 4) -> dict[str, torch.Tensor]:
    scenes = wsss_lib.data.make_split("train", image_size=SIZE, n_images=n)
    return {
        "image": wsss_lib.data.to_tensor_batch(scenes.images),
        "label": torch.as_tensor(scenes.labels, dtype=torch.float32),
    }


def grads_of(module: torch.nn.Module) -> list[torch.Tensor | None]:
    return [p.grad for p in module.parameters()]


def weights_differ(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_teacher_student_step_trains_student_and_projection_never_the_teacher():
    seed_everything(0)
    teacher = build_model(CNN, SIZE)
    paradigm = TeacherStudent(build_model(VIT, SIZE), teacher, KTSpec(lam=1.0), SIZE, seed=0)
    paradigm.train()
    out = paradigm.step(batch_of())
    out.loss.backward()

    frozen = paradigm.modules["teacher"]
    assert not frozen.training
    assert all(not p.requires_grad and p.grad is None for p in frozen.parameters())
    assert all(p.requires_grad for p in teacher.parameters()), "caller's teacher must not change"
    assert any(g is not None and g.abs().sum() > 0 for g in grads_of(paradigm.modules["student"]))
    projection = paradigm.modules["kt"].projection
    assert projection.weight.grad is not None and projection.weight.grad.abs().sum() > 0
    assert {"bce", "kt"} <= set(out.terms)


def test_co_training_kt_gradients_flow_into_both_networks():
    seed_everything(0)
    paradigm = CoTraining(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, seed=0)
    paradigm.train()
    out = paradigm.step(batch_of())
    out.terms["kt"].backward()  # the KT term alone must reach the teacher too
    for role in ("student", "teacher"):
        grads = grads_of(paradigm.modules[role])
        assert any(g is not None and g.abs().sum() > 0 for g in grads), role
    assert {"bce", "bce_teacher", "kt"} <= set(out.terms)


def test_student_score_map_is_aligned_without_projection_in_co_training():
    seed_everything(0)
    kt = KTSpec(projection=False, student_map="score_map")
    paradigm = CoTraining(build_model(VIT, SIZE), build_model(CNN, SIZE), kt, SIZE, seed=0)
    paradigm.train()
    out = paradigm.step(batch_of())
    assert paradigm.modules["kt"].projection is None
    out.terms["kt"].backward()
    head = paradigm.modules["student"].backbone.head.weight.grad
    assert head is not None and head.abs().sum() > 0  # the classifier head is what is aligned


def test_feature_target_aligns_to_an_intermediate_teacher_layer_vit_to_cnn():
    """ViT teacher -> CNN student, aligned to the teacher's block 1 token grid."""
    seed_everything(0)
    kt = KTSpec(target="features", teacher_layer=1, level="spatial")
    paradigm = TeacherStudent(build_model(CNN, SIZE), build_model(VIT, SIZE), kt, SIZE, seed=0)
    assert paradigm.teacher_layer == "blocks.1"
    projection = paradigm.modules["kt"].projection
    teacher_channels = paradigm.modules["teacher"](batch_of(2)["image"], layers=[1]).features
    expected = (paradigm.modules["student"].embed_dim, teacher_channels["blocks.1"].shape[1])
    assert (projection.in_channels, projection.out_channels) == expected
    out = paradigm.step(batch_of())
    assert torch.isfinite(out.loss)


def test_teacher_student_training_leaves_teacher_unchanged_and_lambda_zero_equals_single(tmp_path):
    single_config = TrainConfig(model=VIT, data=TINY_DATA, epochs=2, batch_size=16)
    single = train_classifier(single_config, progress=False)

    seed_everything(123)
    teacher = build_model(CNN, SIZE)
    teacher_before = copy.deepcopy(teacher.state_dict())
    ts_config = TrainConfig(
        paradigm="teacher_student",
        student=VIT,
        teacher=CNN,
        data=TINY_DATA,
        epochs=2,
        batch_size=16,
        kt=KTSpec(lam=0.0),
    )
    run = train_classifier(ts_config, teacher=teacher, progress=False)

    assert not weights_differ(teacher_before, run.teacher.state_dict())
    keys = ("train_loss", "train_bce", "train_acc", "val_loss", "val_acc")
    assert [[r[k] for k in keys] for r in run.history] == [
        [r[k] for k in keys] for r in single.history
    ]
    assert not weights_differ(single.model.state_dict(), run.student.state_dict())
    assert all("train_kt" in r for r in run.history)

    result = evaluate_model(run, wsss_lib.data.make_split("test", image_size=SIZE, n_images=6))
    assert result.cams.shape == (6, SIZE, SIZE)


def test_co_training_changes_both_networks():
    co_config = TrainConfig(
        paradigm="co_training",
        student=VIT,
        teacher=CNN,
        data=TINY_DATA,
        epochs=1,
        batch_size=16,
        kt=KTSpec(lam=1.0),
    )
    seed_everything(co_config.seed)
    initial = {k: copy.deepcopy(v) for k, v in build_paradigm(co_config).state_dicts().items()}
    run = train_classifier(co_config, progress=False)
    assert weights_differ(initial["student"], run.student.state_dict())
    assert weights_differ(initial["teacher"], run.teacher.state_dict())
    record = run.history[0]
    assert {"train_bce", "train_bce_teacher", "train_kt", "train_acc_teacher"} <= set(record)
