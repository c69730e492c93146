"""The config-keyed model cache: reuse, refusal of foreign entries, locking, safe loading."""

from __future__ import annotations

import json
import pickle
import threading
import time

import pytest
import torch

import wsss_lib.data
import wsss_lib.train.cache as cache
from wsss_lib.train import (
    DataSpec,
    KTSpec,
    ModelSpec,
    TrainConfig,
    get_or_train,
    load_checkpoint,
    run_dir_for,
    train_classifier,
)

# timm's tiny test architectures keep every test step fast on a shared CPU.
CNN = ModelSpec("test_resnet", {"output_stride": 8})
VIT = ModelSpec("test_vit", {"patch_size": 8})
TINY = TrainConfig(
    model=CNN,
    data=DataSpec(image_size=32, n_train=32, n_val=16),
    epochs=1,
    batch_size=16,
)


@pytest.fixture
def count_trainings(monkeypatch):
    """Count calls of the training loop made by the cache, per paradigm."""
    calls: list[str] = []
    real = cache.train_classifier

    def counting(config, *args, **kwargs):
        calls.append(config.paradigm)
        time.sleep(0.5)  # long enough that a concurrent caller certainly meets the lock
        return real(config, *args, **kwargs)

    monkeypatch.setattr(cache, "train_classifier", counting)
    return calls


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_second_call_loads_instead_of_retraining(tmp_path, count_trainings):
    first = get_or_train(TINY, tmp_path, progress=False)
    second = get_or_train(TINY, tmp_path, progress=False)
    assert count_trainings == ["single"]
    assert same_weights(first.model, second.model)
    assert second.history == json.loads(json.dumps(first.history))
    assert not second.model.training
    assert second.run_dir == run_dir_for(TINY, tmp_path)


def test_key_covers_config_and_versions(monkeypatch):
    base = run_dir_for(TINY)
    assert run_dir_for(TrainConfig.from_dict(TINY.to_dict())) == base
    assert run_dir_for(TrainConfig.from_dict({**TINY.to_dict(), "seed": 1})) != base
    tweaked = DataSpec(image_size=32, n_train=32, n_val=16, overrides={"smoke_ratio": 0.4})
    assert run_dir_for(TrainConfig.from_dict({**TINY.to_dict(), "data": tweaked.to_dict()})) != base
    monkeypatch.setattr(wsss_lib.data, "GENERATOR_VERSION", "changed")
    assert run_dir_for(TINY) != base
    monkeypatch.undo()
    monkeypatch.setattr(cache, "TRAIN_CODE_VERSION", "changed")
    assert run_dir_for(TINY) != base


def test_tampered_entry_is_never_reused(tmp_path, count_trainings):
    run = get_or_train(TINY, tmp_path, progress=False)
    key_file = run.run_dir / "config.json"
    stored = json.loads(key_file.read_text())
    stored["config"]["lr"] = 0.5
    key_file.write_text(json.dumps(stored))
    with pytest.raises(RuntimeError, match=r"differs in \['config.lr'\]"):
        get_or_train(TINY, tmp_path, progress=False)
    assert count_trainings == ["single"]


def test_concurrent_callers_train_once(tmp_path, count_trainings):
    results, errors = [], []
    start_together = threading.Barrier(2)

    def call():
        start_together.wait()
        try:
            results.append(get_or_train(TINY, tmp_path, progress=False))
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert count_trainings == ["single"]
    assert len(results) == 2 and same_weights(results[0].model, results[1].model)


class _Payload:
    """Pickles to a call that would create a marker file if the file were ever unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_malicious_or_foreign_checkpoints_are_refused(tmp_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "wsss-lab-checkpoint/1", "models": _Payload(marker)}, evil)
    with pytest.raises(ValueError, match="Refusing to load"):
        load_checkpoint(evil)
    raw = tmp_path / "raw.pkl"  # a plain pickle, as torch's legacy format reads it
    raw.write_bytes(pickle.dumps({"models": _Payload(marker)}, protocol=2))
    with pytest.raises(ValueError, match="Refusing to load"):
        load_checkpoint(raw)
    assert not marker.exists()

    text_file = tmp_path / "notes.pt"
    text_file.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="corrupt or not a torch checkpoint"):
        load_checkpoint(text_file)

    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="not a wsss-lab checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_cache_entry_with_a_malicious_checkpoint_is_refused(tmp_path):
    run = get_or_train(TINY, tmp_path, progress=False)
    marker = tmp_path / "payload_ran"
    torch.save(
        {"format": "wsss-lab-checkpoint/1", "models": _Payload(marker)},
        run.run_dir / "checkpoint.pt",
    )
    with pytest.raises(ValueError, match="Refusing to load"):
        get_or_train(TINY, tmp_path, progress=False)
    assert not marker.exists()


def test_teacher_is_trained_once_and_shared_by_students(tmp_path, count_trainings):
    student_config = TrainConfig(
        paradigm="teacher_student",
        student=VIT,
        teacher=CNN,
        data=TINY.data,
        epochs=1,
        batch_size=16,
    )
    first = get_or_train(student_config, tmp_path, progress=False)
    other_lambda = TrainConfig.from_dict(
        {**student_config.to_dict(), "kt": KTSpec(lam=0.5).to_dict()}
    )
    second = get_or_train(other_lambda, tmp_path, progress=False)
    assert count_trainings == ["single", "teacher_student", "teacher_student"]
    teacher_run = get_or_train(student_config.teacher_config(), tmp_path, progress=False)
    assert same_weights(teacher_run.model, first.teacher)
    assert same_weights(first.teacher, second.teacher)
    reloaded = get_or_train(student_config, tmp_path, progress=False)
    assert same_weights(first.kt_loss, reloaded.kt_loss)
    assert len(count_trainings) == 3


def test_interrupted_entry_resumes_from_its_last_epoch(tmp_path, count_trainings):
    config = TrainConfig.from_dict({**TINY.to_dict(), "epochs": 2})
    first_epoch = {}

    def interrupt_after_first_epoch(epoch, record):
        first_epoch.update(record)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_classifier(
            config,
            run_dir_for(config, tmp_path),
            progress=False,
            callbacks=[interrupt_after_first_epoch],
            cache_dir=tmp_path,
        )
    run = get_or_train(config, tmp_path, progress=False)
    assert count_trainings == ["single"]
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert run.history[0] == first_epoch  # epoch 1 was kept, not retrained


# ------------------------------------------------------------------------- your own data


def _folder_like_scenes(seed: int, n: int = 16, size: int = 32) -> wsss_lib.data.SmokeScenes:
    """Scenes standing in for a user's folder: generated, then stripped of generator metadata."""
    scenes = wsss_lib.data.generate_scenes(wsss_lib.data.SceneConfig(image_size=size, n_images=n,
                                                                     seed=seed))
    return wsss_lib.data.SmokeScenes(scenes.images, scenes.labels, scenes.smoke_masks)


def test_fingerprint_follows_content_not_names():
    scenes = _folder_like_scenes(0)
    renamed = wsss_lib.data.SmokeScenes(scenes.images.copy(), scenes.labels.copy(),
                                        scenes.smoke_masks, names=[f"x{i}" for i in range(16)])
    assert renamed.fingerprint() == scenes.fingerprint()
    flipped = scenes.labels.copy()
    flipped[0] = 1 - flipped[0]
    relabelled = wsss_lib.data.SmokeScenes(scenes.images, flipped, scenes.smoke_masks)
    assert relabelled.fingerprint() != scenes.fingerprint()
    brighter = scenes.images.copy()
    brighter[0, 0, 0, 0] ^= 1
    assert wsss_lib.data.SmokeScenes(brighter, scenes.labels).fingerprint() != (
        wsss_lib.data.SmokeScenes(scenes.images, scenes.labels).fingerprint()
    )


def test_runs_on_own_data_are_cached_per_content_including_the_teacher(tmp_path, count_trainings):
    mine, other = _folder_like_scenes(1), _folder_like_scenes(2)
    config = TrainConfig(paradigm="teacher_student", student=VIT, teacher=CNN, data=TINY.data,
                         epochs=1, batch_size=16)
    first = get_or_train(config, tmp_path, progress=False, train_scenes=mine)
    again = get_or_train(config, tmp_path, progress=False, train_scenes=mine)
    assert count_trainings == ["single", "teacher_student"]
    assert same_weights(first.student, again.student)
    assert first.run_dir == run_dir_for(config, tmp_path, train_scenes=mine)
    assert first.run_dir != run_dir_for(config, tmp_path)  # never the synthetic entry
    key = json.loads((first.run_dir / "config.json").read_text())
    assert key["data_fingerprint"] == {"train": mine.fingerprint(), "val": None}

    get_or_train(config, tmp_path, progress=False, train_scenes=other)
    assert count_trainings[2:] == ["single", "teacher_student"]  # other data: teacher too
    with pytest.raises(ValueError, match="val_scenes without train_scenes"):
        run_dir_for(config, tmp_path, val_scenes=mine)
    with pytest.raises(ValueError, match=r"40x40 px but config.data.image_size is 32"):
        get_or_train(config.teacher_config(), tmp_path, progress=False,
                     train_scenes=_folder_like_scenes(3, size=40))
