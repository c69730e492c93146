"""Where the fully supervised reference used to live; it is now the paradigm module
:mod:`wsss_lib.train.paradigms.supervised` (this name stays importable)."""

from wsss_lib.train.paradigms.supervised import Supervised, SupervisedSegmenter

__all__ = ["Supervised", "SupervisedSegmenter"]
