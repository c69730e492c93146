"""Classifiers over timm CNNs and ViTs with one interface (see ``docs/architecture.md``).

``build_classifier(name, ...)`` returns a :class:`WSSSClassifier`; ``model(x, layers=...)`` returns
a :class:`ClassifierOutput` with logits, last feature map, score map (raw CAM) and intermediate
features from one forward pass.
"""

from wsss_lib.models.builder import (
    CLASSIFIER_FORMAT,
    MINI_ARCHITECTURES,
    MODEL_NAMES,
    VIT_POOLS,
    VIT_STEMS,
    build_classifier,
    load_classifier,
    resolve_model_name,
    save_classifier,
)
from wsss_lib.models.classifier import (
    ClassifierOutput,
    CnnClassifier,
    VitClassifier,
    WSSSClassifier,
)
from wsss_lib.models.pcm import PixelCorrelationModule
from wsss_lib.models.weights import hub_is_reachable, load_weights, read_weights_file

__all__ = [
    "CLASSIFIER_FORMAT",
    "MINI_ARCHITECTURES",
    "MODEL_NAMES",
    "VIT_POOLS",
    "VIT_STEMS",
    "ClassifierOutput",
    "CnnClassifier",
    "PixelCorrelationModule",
    "VitClassifier",
    "WSSSClassifier",
    "build_classifier",
    "hub_is_reachable",
    "load_classifier",
    "load_weights",
    "read_weights_file",
    "resolve_model_name",
    "save_classifier",
]
