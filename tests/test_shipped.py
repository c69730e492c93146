"""Shipped checkpoints: served for the exact key they were trained under, never for another;
``WSSS_RETRAIN`` trains instead; every served network is recorded with its origin; the teacher
of a teacher-student file is stored once."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import wsss_lib.train.cache as cache
from wsss_lib.results.document import MetricsDocument
from wsss_lib.train import DataSpec, KTSpec, ModelSpec, TrainConfig, cache_key, get_or_train
from wsss_lib.train.provenance import clear_served_networks, record_network, served_networks
from wsss_lib.train.shipped import (
    ORIGIN_NAME,
    find_shipped,
    list_shipped,
    load_shipped_state_dicts,
    read_shipped,
    write_shipped,
)

CNN = ModelSpec("test_resnet", {"output_stride": 8})
VIT = ModelSpec("test_vit", {"patch_size": 8})
DATA = DataSpec(image_size=32, n_train=32, n_val=16)
TINY = TrainConfig(model=CNN, data=DATA, epochs=1, batch_size=16)
TS = TrainConfig(paradigm="teacher_student", student=VIT, teacher=CNN, kt=KTSpec(lam=1.0),
                 data=DATA, epochs=1, batch_size=16)


@pytest.fixture
def shipped(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setenv("WSSS_SHIPPED_DIR", str(folder))
    monkeypatch.delenv("WSSS_RETRAIN", raising=False)
    clear_served_networks()
    return folder


@pytest.fixture
def trainings(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = cache.train_classifier

    def counting(config, *args, **kwargs):
        calls.append(config.paradigm)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(cache, "train_classifier", counting)
    return calls


def _states(run) -> dict[str, dict[str, torch.Tensor]]:
    return {role: module.state_dict() for role, module in run.models.items()}


def _ship(run, folder: Path, config: TrainConfig, **kwargs) -> Path:
    name = cache.run_dir_for(config).name
    states = kwargs.pop("states", None) or _states(run)
    return write_shipped(folder / f"{name}.safetensors", key=cache_key(config), states=states,
                         history=run.history, metrics={"val_acc": 0.5}, commit="abc123",
                         **kwargs)


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_shipped_file_is_served_for_its_key_with_the_same_weights(tmp_path, shipped,
                                                                     trainings):
    trained = get_or_train(TINY, tmp_path / "trainer", progress=False)
    _ship(trained, shipped, TINY)
    assert trainings == ["single"]
    clear_served_networks()

    fresh_cache = tmp_path / "student_machine"
    run = get_or_train(TINY, fresh_cache, progress=False)
    assert trainings == ["single"]  # nothing trained: served from the shipped file
    assert _equal(run.model.state_dict(), trained.model.state_dict())
    assert run.history == trained.history
    origin = json.loads((run.run_dir / ORIGIN_NAME).read_text())
    assert origin["origin"] == "shipped" and origin["commit"] == "abc123"
    [record] = served_networks()
    assert record["origin"] == "shipped" and record["shipped_commit"] == "abc123"
    assert record["run"] == run.run_dir.name and record["paradigm"] == "single"
    assert record["model"] == "test_resnet"

    clear_served_networks()
    again = get_or_train(TINY, fresh_cache, progress=False)  # now a cache entry from a shipped file
    assert _equal(again.model.state_dict(), trained.model.state_dict())
    assert [r["origin"] for r in served_networks()] == ["shipped"]


def test_a_changed_config_trains_anew_instead_of_reusing_the_file(tmp_path, shipped, trainings):
    _ship(get_or_train(TINY, tmp_path / "trainer", progress=False), shipped, TINY)
    changed = replace(TINY, lr=TINY.lr * 2)
    clear_served_networks()
    get_or_train(changed, tmp_path / "other", progress=False)
    assert trainings == ["single", "single"]
    assert [r["origin"] for r in served_networks()] == ["trained"]


def test_a_changed_code_version_trains_anew(tmp_path, shipped, trainings, monkeypatch):
    _ship(get_or_train(TINY, tmp_path / "trainer", progress=False), shipped, TINY)
    monkeypatch.setattr(cache, "TRAIN_CODE_VERSION", "999")
    get_or_train(TINY, tmp_path / "other", progress=False)
    assert trainings == ["single", "single"]


def test_retrain_ignores_shipped_files_and_entries_installed_from_them(tmp_path, shipped,
                                                                       trainings, monkeypatch):
    _ship(get_or_train(TINY, tmp_path / "trainer", progress=False), shipped, TINY)
    machine = tmp_path / "machine"
    get_or_train(TINY, machine, progress=False)  # installed from the shipped file
    assert trainings == ["single"]
    monkeypatch.setenv("WSSS_RETRAIN", "1")
    clear_served_networks()
    run = get_or_train(TINY, machine, progress=False)
    assert trainings == ["single", "single"]
    assert not (run.run_dir / ORIGIN_NAME).exists()
    assert [r["origin"] for r in served_networks()] == ["trained"]
    clear_served_networks()
    get_or_train(TINY, machine, progress=False)  # trained here: reused even when retraining
    assert trainings == ["single", "single"]
    assert [r["origin"] for r in served_networks()] == ["cache"]
    get_or_train(TINY, tmp_path / "third", progress=False, use_shipped=False)
    assert trainings == ["single", "single", "single"]


def test_a_file_holding_another_key_is_refused_never_served(tmp_path, shipped):
    run = get_or_train(TINY, tmp_path / "trainer", progress=False)
    name = cache.run_dir_for(TINY).name
    other = replace(TINY, seed=7)
    write_shipped(shipped / f"{name}.safetensors", key=cache_key(other), states=_states(run),
                  history=run.history, metrics={}, commit="x")
    with pytest.raises(RuntimeError, match=r"another key .*seed"):
        get_or_train(TINY, tmp_path / "machine", progress=False)
    assert find_shipped("no-such-run", cache_key(TINY), shipped) is None


def test_user_data_never_uses_shipped_files(tmp_path, shipped, trainings):
    from wsss_lib.data import make_split

    _ship(get_or_train(TINY, tmp_path / "trainer", progress=False), shipped, TINY)
    scenes = make_split("train", image_size=32, n_images=16)
    get_or_train(TINY, tmp_path / "user", progress=False, train_scenes=scenes)
    assert trainings == ["single", "single"]


def test_a_teacher_student_file_names_its_teacher_instead_of_storing_it(tmp_path, shipped,
                                                                        trainings):
    run = get_or_train(TS, tmp_path / "trainer", progress=False)
    teacher_run = get_or_train(TS.teacher_config(), tmp_path / "trainer", progress=False)
    teacher_path = _ship(teacher_run, shipped, TS.teacher_config())
    states = {r: s for r, s in _states(run).items() if r != "teacher"}
    path = _ship(run, shipped, TS, states=states, teacher_file=teacher_path.name)
    header = read_shipped(path)
    assert header.teacher_file == teacher_path.name and "teacher" not in header.roles
    loaded = load_shipped_state_dicts(header)
    assert _equal(loaded["teacher"], run.teacher.state_dict())
    assert {p.name for p in shipped.iterdir()} == {path.name, teacher_path.name}
    assert [s.name for s in list_shipped(shipped)] == sorted([path.stem, teacher_path.stem])

    clear_served_networks()
    served = get_or_train(TS, tmp_path / "machine", progress=False)
    assert trainings == ["single", "teacher_student"]  # only the trainer's two
    assert _equal(served.student.state_dict(), run.student.state_dict())
    assert _equal(served.teacher.state_dict(), run.teacher.state_dict())
    assert _equal(served.kt_loss.state_dict(), run.kt_loss.state_dict())
    with pytest.raises(ValueError, match="either"):
        write_shipped(tmp_path / "x.safetensors", key={}, states=_states(run), history=[],
                      metrics={}, commit="x", teacher_file="t.safetensors")


def test_a_file_that_is_not_a_shipped_checkpoint_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "other"})
    with pytest.raises(ValueError, match="not a wsss-lab shipped checkpoint"):
        read_shipped(path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="Cannot read"):
        read_shipped(tmp_path / "junk.safetensors")


def test_metrics_json_lists_the_networks_a_notebook_used(tmp_path):
    clear_served_networks()
    record_network("single-x-1", paradigm="single", model="x", origin="trained", val_acc=0.9)
    record_network("single-y-2", paradigm="single", model="y", origin="shipped",
                   shipped_commit="c0ffee")
    with pytest.raises(ValueError, match="origin"):
        record_network("z", paradigm="single", model="z", origin="downloaded")
    record_network("single-x-1", paradigm="single", model="x", origin="cache", val_acc=0.9)
    assert served_networks()[0]["origin"] == "trained"  # trained here, then loaded again
    doc = MetricsDocument(notebook="01_x", profile="tutorial", results={})
    data = json.loads(doc.write(tmp_path / "metrics.json").read_text())
    assert [n["origin"] for n in data["networks"]] == ["trained", "shipped"]
    assert data["networks"][1]["shipped_commit"] == "c0ffee"
    assert MetricsDocument.read(tmp_path / "metrics.json").networks == data["networks"]
    clear_served_networks()


def test_loading_a_pretrained_run_does_not_run_the_proxy_pretraining(tmp_path, monkeypatch):
    """The checkpoint overwrites every weight: loading (a shipped file on a fresh machine) must
    not first pre-train the backbone, which costs minutes."""
    import wsss_lib.train.pretrain as pretrain
    from wsss_lib.train import load_run
    from wsss_lib.train.checkpoint import save_checkpoint

    run = get_or_train(TINY, tmp_path / "trainer", progress=False)
    pretrained = replace(TINY, model=replace(CNN, proxy_pretrain={}))
    path = save_checkpoint(tmp_path / "checkpoint.pt", epoch=1, models=_states(run),
                           config=pretrained.to_dict(), history=run.history)

    def refuse(*args, **kwargs):
        raise AssertionError("loading a checkpoint ran the proxy pre-training")

    monkeypatch.setattr(pretrain, "get_or_pretrain", refuse)
    loaded = load_run(path, device="cpu")
    assert loaded.config == pretrained  # the run keeps its real config
    assert _equal(loaded.model.state_dict(), run.model.state_dict())
    with pytest.raises(AssertionError, match="pre-training"):
        from wsss_lib.train.paradigms.base import build_model

        build_model(pretrained.model, 32)  # building to train still pre-trains


def test_the_explorer_records_the_networks_it_loads(tmp_path, shipped):
    from wsss_lib.widgets.catalog import list_cached_models, load_cached_model

    machine = tmp_path / "machine"
    run = get_or_train(TINY, tmp_path / "trainer", progress=False)
    _ship(run, shipped, TINY)
    get_or_train(TINY, machine, progress=False)  # installed from the shipped file
    clear_served_networks()
    [entry] = list_cached_models(machine)
    load_cached_model(entry, device="cpu")
    assert [(r["run"], r["origin"]) for r in served_networks()] == [(entry.key, "shipped")]


def test_a_network_trained_here_stays_trained_when_loaded_again(tmp_path, shipped):
    get_or_train(TINY, tmp_path, progress=False)
    get_or_train(TINY, tmp_path, progress=False)  # a later cell loads it from the cache
    assert [r["origin"] for r in served_networks()] == ["trained"]
    clear_served_networks()  # a new process (the next notebook) finds it in the cache
    get_or_train(TINY, tmp_path, progress=False)
    assert [r["origin"] for r in served_networks()] == ["cache"]
