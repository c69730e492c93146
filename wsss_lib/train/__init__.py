"""Training: the single-network, teacher-student and co-training paradigms, the fully supervised
reference, resumable checkpoints and a model cache keyed by the full config.

Typical use (every config of the kit is built by :mod:`wsss_lib.studies.configs` from a
profile's settings, so two notebooks asking for one network share its cache entry)::

    from wsss_lib.studies.configs import method_settings, paradigm_config
    from wsss_lib.train import get_or_train, evaluate_model

    S = method_settings("quick", "02_teacher_student")
    config = paradigm_config(S, "ts_cnn_to_vit", seed=0)   # a TrainConfig (plain data)
    run = get_or_train(config)          # trains the teacher, then the student; cached
    result = evaluate_model(run, test_scenes)
"""

from wsss_lib.train.cache import TRAIN_CODE_VERSION, cache_key, get_or_train, run_dir_for
from wsss_lib.train.checkpoint import load_checkpoint, save_checkpoint
from wsss_lib.train.config import (
    AMP_MODES,
    KT_TARGETS,
    SCHEDULES,
    DataSpec,
    KTSpec,
    ModelSpec,
    TrainConfig,
    learning_rate_at,
)
from wsss_lib.train.evaluate import EVAL_BATCH_SIZE, EvalResult, evaluate_model, scene_cams
from wsss_lib.train.loop import check_training_set, load_training_data, train_classifier
from wsss_lib.train.paradigms import (
    KT_PARADIGMS,
    PARADIGMS,
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
    "EVAL_BATCH_SIZE",
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
    "scene_cams",
    "train_classifier",
]
