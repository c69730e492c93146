"""Training: the single-network, teacher-student and co-training paradigms, the fully supervised
reference, resumable checkpoints and a model cache keyed by the full config.

Typical use::

    from wsss_lib.train import DataSpec, ModelSpec, TrainConfig, get_or_train, evaluate_model

    config = TrainConfig(
        paradigm="teacher_student",
        student=ModelSpec("vit_tiny", {"patch_size": 8}),
        teacher=ModelSpec("resnet18", {"pcm": True}),
        data=DataSpec(image_size=64, n_train=512),
    )
    run = get_or_train(config)          # trains the teacher, then the student; cached
    result = evaluate_model(run, test_scenes)
"""

from wsss_lib.train.cache import TRAIN_CODE_VERSION, cache_key, get_or_train, run_dir_for
from wsss_lib.train.checkpoint import load_checkpoint, save_checkpoint
from wsss_lib.train.config import (
    AMP_MODES,
    KT_PARADIGMS,
    KT_TARGETS,
    PARADIGMS,
    SCHEDULES,
    DataSpec,
    KTSpec,
    ModelSpec,
    TrainConfig,
    learning_rate_at,
)
from wsss_lib.train.evaluate import EvalResult, evaluate_model
from wsss_lib.train.loop import check_training_set, load_training_data, train_classifier
from wsss_lib.train.paradigms import (
    CoTraining,
    Paradigm,
    SingleNetwork,
    StepOutput,
    TeacherStudent,
    build_model,
    build_paradigm,
)
from wsss_lib.train.paradigms.supervised import Supervised, SupervisedSegmenter
from wsss_lib.train.readout import (
    READOUT_THRESHOLDS,
    CamReadout,
    ReadoutChoice,
    choose_readout,
    evaluate_readout,
)
from wsss_lib.train.run import TrainedRun, load_run

__all__ = [
    "AMP_MODES",
    "KT_PARADIGMS",
    "KT_TARGETS",
    "PARADIGMS",
    "READOUT_THRESHOLDS",
    "SCHEDULES",
    "TRAIN_CODE_VERSION",
    "CamReadout",
    "CoTraining",
    "DataSpec",
    "EvalResult",
    "KTSpec",
    "ModelSpec",
    "Paradigm",
    "ReadoutChoice",
    "SingleNetwork",
    "StepOutput",
    "Supervised",
    "SupervisedSegmenter",
    "TeacherStudent",
    "TrainConfig",
    "TrainedRun",
    "build_model",
    "build_paradigm",
    "cache_key",
    "learning_rate_at",
    "check_training_set",
    "choose_readout",
    "evaluate_model",
    "evaluate_readout",
    "get_or_train",
    "load_checkpoint",
    "load_run",
    "load_training_data",
    "run_dir_for",
    "save_checkpoint",
    "train_classifier",
]
