"""The training paradigms of the paper, one module each, behind one interface and a registry.

- :class:`SingleNetwork` (``"single"``): one classifier, ``BCE(logit, label)``.
- :class:`TeacherStudent` (``"teacher_student"``): a frozen trained teacher and a student
  trained with ``BCE(student) + λ·L_kt(proj(student features), teacher target)``.
- :class:`CoTraining` (``"co_training"``): both from scratch, ``BCE + BCE + λ·L_kt``.
- :class:`Supervised` (``"supervised"``): the fully supervised reference (a segmenter).

Every one is a :class:`Paradigm` (:mod:`.base`) registered under its name (:mod:`.registry`);
``TrainConfig``, the epoch loop, the cache, loading and the widgets ask the class, never the
name. A new paradigm is one module here that defines a registered subclass, plus its import
below.

With ``λ = 0`` a teacher-student run is the single-network run of its student by construction:
the student is built first after seeding, the projection is initialised from a separate random
stream, and the KT term is then only logged, not added to the loss.
"""

from wsss_lib.train.paradigms.base import Paradigm, StepOutput, build_model
from wsss_lib.train.paradigms.registry import (
    build_paradigm,
    get_paradigm,
    paradigm_names,
    register_paradigm,
)

# Importing a paradigm module registers it; this order is the order of PARADIGMS.
# isort: off
from wsss_lib.train.paradigms.single import SingleNetwork
from wsss_lib.train.paradigms.teacher_student import TeacherStudent
from wsss_lib.train.paradigms.co_training import CoTraining
from wsss_lib.train.paradigms.supervised import Supervised, SupervisedSegmenter
# isort: on
from wsss_lib.train.paradigms.knowledge_transfer import KnowledgeTransferParadigm, teacher_target

#: The registered paradigms, in registration order, and those with a KT loss.
PARADIGMS = paradigm_names()
KT_PARADIGMS = tuple(name for name in PARADIGMS if get_paradigm(name).uses_kt)

__all__ = [
    "KT_PARADIGMS",
    "PARADIGMS",
    "CoTraining",
    "KnowledgeTransferParadigm",
    "Paradigm",
    "SingleNetwork",
    "StepOutput",
    "Supervised",
    "SupervisedSegmenter",
    "TeacherStudent",
    "build_model",
    "build_paradigm",
    "get_paradigm",
    "paradigm_names",
    "register_paradigm",
    "teacher_target",
]
