"""The paradigm registry: each paradigm answers for itself, and a new one is one registered class.

Also the cache's own description of its runs (:func:`wsss_lib.train.cache.list_runs`), which the
widgets and ``wsss runs`` read instead of knowing the cache layout.
"""

from __future__ import annotations

import json

import pytest
import torch

from wsss_lib.train import DataSpec, ModelSpec, TrainConfig, build_paradigm
from wsss_lib.train.cache import KEY_NAME, RUNS_DIR, find_run, list_runs, run_dir_for
from wsss_lib.train.paradigms import (
    CoTraining,
    Paradigm,
    SingleNetwork,
    StepOutput,
    Supervised,
    TeacherStudent,
    build_model,
    get_paradigm,
    paradigm_names,
    register_paradigm,
    registry,
)
from wsss_lib.train.run import CHECKPOINT_NAME, HISTORY_NAME
from wsss_lib.widgets.catalog import list_cached_models

SIZE = 32
CNN = ModelSpec("test_resnet", {"output_stride": 8})
VIT = ModelSpec("test_vit", {"patch_size": 8})
DATA = DataSpec(image_size=SIZE, n_train=8, n_val=4)


def test_every_paradigm_answers_for_itself():
    assert paradigm_names() == ("single", "teacher_student", "co_training", "supervised")
    facts = {
        name: (cls.network_fields, cls.result_role, cls.has_cam, cls.uses_kt,
               cls.needs_trained_teacher, cls.checkpoint_roles)
        for name in paradigm_names() for cls in [get_paradigm(name)]
    }
    kt_roles = ("student", "teacher", "kt")
    assert facts == {
        "single": (("model",), "model", True, False, False, ("model",)),
        "teacher_student": (("student", "teacher"), "student", True, True, True, kt_roles),
        "co_training": (("student", "teacher"), "student", True, True, False, kt_roles),
        "supervised": (("model",), "model", False, False, False, ("model",)),
    }
    classes = [get_paradigm(n) for n in paradigm_names()]
    assert classes == [SingleNetwork, TeacherStudent, CoTraining, Supervised]


@pytest.mark.parametrize("paradigm", ["single", "co_training", "supervised", "teacher_student"])
def test_a_built_paradigm_holds_exactly_its_checkpoint_roles(paradigm):
    networks = {"model": CNN} if paradigm in ("single", "supervised") else {
        "student": VIT, "teacher": CNN}
    config = TrainConfig(paradigm=paradigm, data=DATA, epochs=1, **networks)
    teacher = build_model(CNN, SIZE) if paradigm == "teacher_student" else None
    built = build_paradigm(config, teacher=teacher)
    assert isinstance(built, get_paradigm(paradigm))
    assert tuple(built.modules) == built.checkpoint_roles
    assert config.main_role == built.result_role
    skeleton = get_paradigm(config.paradigm).build_for_loading(config)  # no trained teacher needed
    assert set(skeleton.state_dicts()) == set(built.checkpoint_roles)


def test_unknown_paradigm_is_refused_with_the_registered_names():
    with pytest.raises(ValueError, match="'single', 'teacher_student', 'co_training'"):
        TrainConfig(paradigm="distillation", model=CNN)
    with pytest.raises(ValueError, match="not supported"):
        get_paradigm("distillation")


def test_a_name_cannot_be_registered_twice():
    class Impostor(SingleNetwork):
        pass

    with pytest.raises(ValueError, match="taken by SingleNetwork"):
        register_paradigm(Impostor)


class _MeanTeacher(Paradigm):
    """A paradigm the library does not ship: a student whose result role is ``"student"`` and
    whose checkpoint also keeps a non-trained copy as ``"ema"``."""

    name = "mean_teacher_test"
    network_fields = ("student", "teacher")
    result_role = "student"
    checkpoint_roles = ("student", "ema")

    @classmethod
    def build(cls, config, teacher=None):
        student = build_model(config.student, config.data.image_size)
        ema = build_model(config.teacher, config.data.image_size)
        return cls({"student": student, "ema": ema}, trainable=("student",))

    def step(self, batch):
        out = self.modules["student"](batch["image"])
        loss = self.modules["student"].classification_loss(out, batch["label"])
        return StepOutput(loss, {"bce": loss})


@pytest.fixture
def mean_teacher():
    registry.register_paradigm(_MeanTeacher)
    yield _MeanTeacher
    registry.unregister_paradigm(_MeanTeacher.name)
    assert _MeanTeacher.name not in registry.paradigm_names()


def test_a_new_paradigm_is_one_registered_class(mean_teacher):
    config = TrainConfig(paradigm=mean_teacher.name, student=VIT, teacher=CNN, data=DATA)
    assert config.kt is None  # uses_kt is False: no KT settings are kept
    assert config.main_spec == VIT
    with pytest.raises(ValueError, match="does not use 'model'"):
        TrainConfig(paradigm=mean_teacher.name, model=CNN, student=VIT, teacher=CNN)
    built = build_paradigm(config)
    generator = torch.Generator().manual_seed(0)
    batch = {"image": torch.randn(2, 3, SIZE, SIZE, generator=generator),
             "label": torch.tensor([1.0, 0.0])}
    assert built.step(batch).loss.ndim == 0
    assert run_dir_for(config, "/c").name.startswith("mean_teacher_test-test_vit-")


# ---------------------------------------------------------------------------- the cache's runs


def _fake_run(cache, config: TrainConfig, epochs_done: int) -> None:
    """A run folder as get_or_train leaves it (the checkpoint's content is not read here)."""
    run_dir = run_dir_for(config, cache)
    run_dir.mkdir(parents=True)
    (run_dir / KEY_NAME).write_text(json.dumps({"config": config.to_dict()}))
    (run_dir / HISTORY_NAME).write_text(json.dumps([{"val_acc": 0.75}] * epochs_done))
    (run_dir / CHECKPOINT_NAME).write_bytes(b"")


def test_list_runs_describes_each_run_from_its_paradigm(tmp_path):
    taught = TrainConfig(paradigm="teacher_student", student=VIT, teacher=CNN, data=DATA,
                         epochs=2)
    alone = TrainConfig(paradigm="single", model=CNN, data=DATA, epochs=1, seed=3)
    masks = TrainConfig(paradigm="supervised", model=CNN, data=DATA, epochs=1)
    _fake_run(tmp_path, taught, epochs_done=1)  # unfinished
    _fake_run(tmp_path, alone, epochs_done=1)
    _fake_run(tmp_path, masks, epochs_done=1)
    (tmp_path / RUNS_DIR / "not-a-run").mkdir()

    runs = {run.paradigm: run for run in list_runs(tmp_path)}
    assert set(runs) == {"teacher_student", "single", "supervised"}
    ts = runs["teacher_student"]
    assert (ts.model_name, ts.teacher_name, ts.epochs_done, ts.complete) == (
        "test_vit", "test_resnet", 1, False)
    single = runs["single"]
    assert (single.model_name, single.teacher_name, single.seed, single.val_acc) == (
        "test_resnet", None, 3, 0.75)
    assert single.complete and not runs["supervised"].has_cam

    # The explorer lists finished runs with a CAM only, labelled by their paradigm.
    [listed] = list_cached_models(tmp_path)
    assert listed.key == single.key and listed.label.startswith("single CNN · test_resnet · ")

    assert find_run(single.key[:20], tmp_path) == single.run_dir
    with pytest.raises(ValueError, match="unfinished"):
        find_run(ts.key, tmp_path)


def test_train_config_is_plain_data_that_knows_no_paradigm_class():
    """Issue 22: the config module imports nothing of the paradigms; a config checks itself
    against the ParadigmRules that register_paradigm declared."""
    import ast
    from pathlib import Path

    import wsss_lib.train.config as config_module

    tree = ast.parse(Path(config_module.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not any(name and name.startswith("wsss_lib.train.paradigms") for name in imported)
    assert not hasattr(TrainConfig, "paradigm_class")
    for name in registry.paradigm_names():
        rules = config_module.paradigm_rules(name)
        cls = registry.get_paradigm(name)
        assert (rules.network_fields, rules.result_role, rules.uses_kt,
                rules.needs_trained_teacher) == (cls.network_fields, cls.result_role,
                                                 cls.uses_kt, cls.needs_trained_teacher)
    with pytest.raises(ValueError, match="include result_role"):
        config_module.declare_paradigm("broken", config_module.ParadigmRules(("model",), "student"))
