"""The three paradigms: who gets gradients, who changes, and λ = 0 reducing to a single network."""

from __future__ import annotations

import copy

import pytest
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


def test_co_training_trains_both_networks_on_both_bces_plus_weighted_kt():
    lam = 0.37

    def co_config(kt_lam: float) -> TrainConfig:
        return TrainConfig(
            paradigm="co_training",
            student=VIT,
            teacher=CNN,
            data=TINY_DATA,
            epochs=1,
            batch_size=16,
            kt=KTSpec(lam=kt_lam),
        )

    seed_everything(co_config(lam).seed)
    initial = {k: copy.deepcopy(v) for k, v in build_paradigm(co_config(lam)).state_dicts().items()}
    run = train_classifier(co_config(lam), progress=False)
    assert weights_differ(initial["student"], run.student.state_dict())
    assert weights_differ(initial["teacher"], run.teacher.state_dict())
    record = run.history[0]
    assert {"train_bce", "train_bce_teacher", "train_kt", "train_acc_teacher"} <= set(record)
    # The logged epoch means obey the paradigm's loss: BCE(student) + BCE(teacher) + λ·KT.
    expected = record["train_bce"] + record["train_bce_teacher"] + lam * record["train_kt"]
    assert record["train_loss"] == pytest.approx(expected, rel=1e-5)
    assert record["train_kt"] > 0.01 and record["train_bce_teacher"] > 0.01
    # The KT term reaches the teacher during training: without it the teacher ends elsewhere.
    seed_everything(co_config(0.0).seed)
    no_kt = train_classifier(co_config(0.0), progress=False)
    assert weights_differ(no_kt.teacher.state_dict(), run.teacher.state_dict())
    assert no_kt.history[0]["train_loss"] == pytest.approx(
        no_kt.history[0]["train_bce"] + no_kt.history[0]["train_bce_teacher"], rel=1e-5
    )


# --- roles, modes, parameters and checkpoints of the paradigms --------------------------------


def _kt_config(paradigm: str, **kt) -> TrainConfig:
    return TrainConfig(paradigm=paradigm, student=VIT, teacher=CNN, data=TINY_DATA,
                       kt=KTSpec(**kt))


def test_build_paradigm_builds_each_paradigm_with_its_roles():
    from wsss_lib.train.supervised import Supervised

    seed_everything(0)
    single = build_paradigm(TrainConfig(model=CNN, data=TINY_DATA))
    assert single.name == "single" and set(single.modules) == {"model"}
    assert single.trainable == ("model",)
    supervised = build_paradigm(TrainConfig(paradigm="supervised", model=CNN, data=TINY_DATA))
    assert isinstance(supervised, Supervised)
    co = build_paradigm(_kt_config("co_training"))
    assert isinstance(co, CoTraining) and co.name == "co_training"
    assert co.modules["student"].family == "vit" and co.modules["teacher"].family == "cnn"
    teacher = build_model(CNN, SIZE)
    ts = build_paradigm(_kt_config("teacher_student"), teacher=teacher)
    assert isinstance(ts, TeacherStudent) and ts.name == "teacher_student"
    assert ts.modules["teacher"] is not teacher  # a frozen copy, the caller's network untouched
    with pytest.raises(ValueError, match="needs the trained teacher"):
        build_paradigm(_kt_config("teacher_student"))


def test_parameters_are_those_of_the_trainable_roles_in_a_fixed_order():
    seed_everything(0)
    ts = TeacherStudent(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, seed=0)
    expected = [*ts.modules["student"].parameters(), *ts.modules["kt"].parameters()]
    assert [id(p) for p in ts.parameters()] == [id(p) for p in expected]
    co = CoTraining(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, seed=0)
    roles = ("student", "teacher", "kt")
    expected = [p for role in roles for p in co.modules[role].parameters()]
    assert [id(p) for p in co.parameters()] == [id(p) for p in expected]


def test_train_and_eval_set_the_modes_per_role():
    seed_everything(0)
    co = CoTraining(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, seed=0)
    co.train()
    assert all(m.training for m in co.modules.values())
    co.eval()
    assert not any(m.training for m in co.modules.values())
    ts = TeacherStudent(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, seed=0)
    ts.train()
    assert ts.modules["student"].training and ts.modules["kt"].training
    assert not ts.modules["teacher"].training


def test_probing_the_teacher_leaves_its_mode_as_it_was():
    for training in (True, False):
        seed_everything(0)
        teacher = build_model(CNN, SIZE).train(training)
        co = CoTraining(build_model(VIT, SIZE), teacher, KTSpec(), SIZE, seed=0)
        assert co.modules["teacher"].training is training


def test_projection_initialisation_depends_on_the_config_seed_not_the_global_stream():
    def projection(global_seed: int, seed: int) -> torch.Tensor:
        seed_everything(0)
        student, teacher = build_model(VIT, SIZE), build_model(CNN, SIZE)
        torch.manual_seed(global_seed)
        paradigm = CoTraining(student, teacher, KTSpec(), SIZE, seed=seed)
        return paradigm.modules["kt"].projection.weight.detach().clone()

    assert torch.equal(projection(1, seed=0), projection(2, seed=0))
    assert not torch.equal(projection(1, seed=0), projection(1, seed=1))


def test_state_dicts_round_trip_and_refuse_another_paradigms_checkpoint():
    seed_everything(0)
    co = CoTraining(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, seed=0)
    states = copy.deepcopy(co.state_dicts())
    assert set(states) == {"student", "teacher", "kt"}
    seed_everything(1)
    other = CoTraining(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(), SIZE, seed=1)
    assert weights_differ(states["student"], other.state_dicts()["student"])
    other.load_state_dicts(states)
    for role in states:
        assert not weights_differ(states[role], other.state_dicts()[role])
    single = build_paradigm(TrainConfig(model=CNN, data=TINY_DATA))
    with pytest.raises(ValueError, match="belongs to another paradigm"):
        single.load_state_dicts(states)
