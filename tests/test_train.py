"""Config validation, the epoch loop (resume, NaN guard, data checks), supervised net, eval."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import wsss_lib.data
from wsss_lib.data import SmokeScenes
from wsss_lib.train import (
    DataSpec,
    KTSpec,
    ModelSpec,
    SupervisedSegmenter,
    TrainConfig,
    evaluate_model,
    load_checkpoint,
    load_run,
    train_classifier,
)
from wsss_lib.train.loop import resolve_amp_dtype

TINY_DATA = DataSpec(image_size=32, n_train=32, n_val=16)
# timm's tiny test architectures keep every test step fast on a shared CPU.
CNN = ModelSpec("test_resnet", {"output_stride": 8})


def tiny_config(**overrides) -> TrainConfig:
    base = dict(paradigm="single", model=CNN, data=TINY_DATA, epochs=2, batch_size=16)
    return TrainConfig(**{**base, **overrides})


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name


# ------------------------------------------------------------------------------------- config


def test_config_json_round_trip_is_exact():
    config = TrainConfig(
        paradigm="teacher_student",
        student=ModelSpec("vit_tiny", {"patch_size": 8}),
        teacher=ModelSpec("resnet18", {"pcm": True}),
        data=DataSpec(image_size=32, n_train=32, overrides={"opacity_range": (0.3, 0.8)}),
        kt=KTSpec(lam=0.5, target="features", teacher_layer="layer3"),
        teacher_epochs=3,
    )
    text = json.dumps(config.to_dict())
    assert TrainConfig.from_dict(json.loads(text)) == config
    teacher = config.teacher_config()
    assert (teacher.paradigm, teacher.model, teacher.epochs, teacher.kt) == (
        "single",
        config.teacher,
        3,
        None,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"paradigm": "distill"}, "teacher_student"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"amp": "fp8"}, "bf16"),
        ({"model": None}, "needs model=ModelSpec"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**kwargs)


def test_bad_lambda_reports_validate_lambda_message_and_unknown_keys_are_listed():
    with pytest.raises(ValueError, match="lambda"):
        KTSpec(lam=-1.0)
    with pytest.raises(ValueError, match="valid keys"):
        TrainConfig.from_dict({**tiny_config().to_dict(), "learning_rate": 0.1})
    with pytest.raises(ValueError, match="teacher_layer"):
        KTSpec(target="features")
    with pytest.raises(ValueError, match="KTSpec.student_map"):
        KTSpec(student_map="logits")
    with pytest.raises(ValueError, match="allowed keys"):
        DataSpec(overrides={"n_images": 3})


def test_kt_settings_only_exist_for_kt_paradigms():
    assert tiny_config(kt=KTSpec(lam=2.0)).kt is None
    co = TrainConfig(paradigm="co_training", student=CNN, teacher=CNN, data=TINY_DATA)
    assert co.kt == KTSpec()


# --------------------------------------------------------------------------------------- loop


def test_single_class_training_set_is_refused_before_training(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(8, 32, 32, 3), dtype=np.uint8)
    only_smoke = SmokeScenes(images=images, labels=np.ones(8, dtype=np.int64))
    with pytest.raises(ValueError, match="only smoke images"):
        train_classifier(tiny_config(), tmp_path, train_scenes=only_smoke, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_bit_identical_weights(tmp_path):
    config = tiny_config(augment=True)
    full = train_classifier(config, tmp_path / "full", progress=False)

    def stop_after_first_epoch(epoch, record):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_classifier(
            config, tmp_path / "cut", progress=False, callbacks=[stop_after_first_epoch]
        )
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 1
    resumed = train_classifier(config, tmp_path / "cut", progress=False)

    assert_same_weights(full.model, resumed.model)
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    assert [[r[k] for k in keys] for r in full.history] == [
        [r[k] for k in keys] for r in resumed.history
    ]
    history_file = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [r["epoch"] for r in history_file] == [1, 2]
    assert set(keys) <= set(history_file[0])


def test_resume_refuses_a_run_dir_of_another_config(tmp_path):
    train_classifier(tiny_config(epochs=1), tmp_path, progress=False)
    with pytest.raises(ValueError, match="different configuration.*lr"):
        train_classifier(tiny_config(epochs=1, lr=0.5), tmp_path, progress=False)


def test_nan_loss_stops_with_epoch_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    train_scenes = wsss_lib.data.make_split("train", image_size=32, n_images=32)
    real_iterate = wsss_lib.data.iterate_batches
    calls = {"n": 0}

    def corrupt_second_epoch(*args, **kwargs):
        calls["n"] += 1
        for step, batch in enumerate(real_iterate(*args, **kwargs), start=1):
            if calls["n"] == 2 and step == 2:
                batch["image"] = torch.full_like(batch["image"], float("nan"))
            yield batch

    monkeypatch.setattr(wsss_lib.data, "iterate_batches", corrupt_second_epoch)
    with pytest.raises(FloatingPointError) as info:
        train_classifier(
            tiny_config(batch_size=8), tmp_path, train_scenes=train_scenes, progress=False
        )
    message = str(info.value)
    assert "epoch 2" in message and "step 2" in message and "corrupt" in message
    assert str(tmp_path / "checkpoint.pt") in message
    kept = load_checkpoint(tmp_path / "checkpoint.pt")
    assert kept["epoch"] == 1
    assert all(
        torch.isfinite(t).all() for t in kept["models"]["model"].values() if t.is_floating_point()
    )


# ------------------------------------------------------------------------- supervised and eval


def test_supervised_reference_learns_masks_and_evaluates(tmp_path):
    config = tiny_config(paradigm="supervised", epochs=2, augment=False)
    run = train_classifier(config, tmp_path, progress=False)
    assert isinstance(run.model, SupervisedSegmenter)
    losses = [record["train_loss"] for record in run.history]
    assert losses[-1] < losses[0]
    assert 0.0 <= run.history[-1]["val_iou"] <= 1.0

    scenes = wsss_lib.data.make_split("test", image_size=32, n_images=8)
    probs = run.model.predict_masks(wsss_lib.data.to_tensor_batch(scenes.images))
    assert probs.shape == (8, 32, 32) and probs.min() >= 0 and probs.max() <= 1
    result = evaluate_model(run, scenes)
    assert result.logits is None and result.cams.shape == (8, 32, 32)
    assert result.metrics["threshold"] == 0.5 and 0.0 <= result.metrics["smoke_iou"] <= 1.0

    reloaded = load_run(tmp_path)
    assert_same_weights(run.model, reloaded.model)


def test_evaluate_model_gives_logits_cams_and_metrics(tmp_path):
    run = train_classifier(tiny_config(epochs=1), progress=False)
    scenes = wsss_lib.data.make_split("test", image_size=32, n_images=10)
    result = evaluate_model(run.model, scenes, batch_size=4)
    assert result.logits.shape == (10,)
    assert result.cams.shape == (10, 32, 32)
    assert result.cams.min() >= 0.0 and result.cams.max() <= 1.0
    with torch.no_grad():
        direct = run.model(wsss_lib.data.to_tensor_batch(scenes.images)).logits[:, 0]
    np.testing.assert_allclose(result.logits, direct.numpy(), rtol=1e-5, atol=1e-5)
    expected_acc = float(((result.logits > 0) == (scenes.labels == 1)).mean())
    assert result.metrics["accuracy"] == pytest.approx(expected_acc)
    assert {"smoke_iou", "chimney_fp_rate", "cam_chimney_mass"} <= set(result.metrics)


def test_replace_revalidates():
    with pytest.raises(ValueError, match="batch_size"):
        replace(tiny_config(), batch_size=0)


def test_bf16_on_cpu_trains_differently_from_fp32_and_deterministically():
    cpu = torch.device("cpu")
    off = train_classifier(tiny_config(epochs=1, amp="off"), device=cpu, progress=False)
    bf16 = [train_classifier(tiny_config(epochs=1, amp="bf16"), device=cpu, progress=False)
            for _ in range(2)]
    assert_same_weights(bf16[0].model, bf16[1].model)
    differs = [not torch.equal(a, b) for a, b in zip(off.model.state_dict().values(),
                                                      bf16[0].model.state_dict().values(),
                                                      strict=True)]
    assert any(differs)  # the setting is not ignored
    assert np.isfinite(bf16[0].history[-1]["train_loss"])


def test_mixed_precision_on_cpu_only_when_bf16_is_asked_for():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert all(resolve_amp_dtype(mode, cpu) is None for mode in ("auto", "fp16", "off"))
    assert resolve_amp_dtype("bf16", cpu) is torch.bfloat16
    assert resolve_amp_dtype("fp16", cuda) is torch.float16
    assert resolve_amp_dtype("bf16", cuda) is torch.bfloat16
    assert resolve_amp_dtype("off", cuda) is None


def test_grad_clip_is_validated_and_left_out_of_keys_when_unset():
    assert "grad_clip" not in tiny_config().to_dict()  # older cache keys stay valid
    clipped = tiny_config(grad_clip=1)
    assert clipped.to_dict()["grad_clip"] == 1.0
    assert TrainConfig.from_dict(clipped.to_dict()) == clipped
    for bad in (0, -1.0, float("inf"), True, "1"):
        with pytest.raises(ValueError, match="grad_clip"):
            tiny_config(grad_clip=bad)


def test_grad_clip_clips_every_step_over_the_trained_parameters(monkeypatch):
    calls = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        calls.append((len(parameters), max_norm))
        return real(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    run = train_classifier(tiny_config(epochs=1, grad_clip=0.5), progress=False)
    trained = sum(1 for p in run.model.parameters() if p.requires_grad)
    assert calls == [(trained, 0.5)] * 2  # 32 images / batch 16 = 2 steps
    calls.clear()
    train_classifier(tiny_config(epochs=1), progress=False)
    assert calls == []
