"""The CAM method registry (:mod:`wsss_lib.cam.methods`): names, spellings, registration, and
:func:`wsss_lib.cam.compute_cam` running a registered method with the built-ins' scales and
normalisation.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from wsss_lib.cam import (
    CAM_METHODS,
    GRADCAM_METHODS,
    CamRequest,
    cam_method_names,
    canonical_cam_method,
    class_activation_map,
    compute_cam,
    default_gradcam_layers,
    multiscale_cam,
    normalize_cam,
    register_cam_method,
    unregister_cam_method,
)
from wsss_lib.cam import methods as methods_module
from wsss_lib.cam.gradcam_adapter import canonical_gradcam_method
from wsss_lib.models import build_classifier


@pytest.fixture
def registry():
    """Restores the registry after the test, whatever it registered or removed."""
    saved = (dict(methods_module._REGISTRY), dict(methods_module._ALIASES))
    yield
    methods_module._REGISTRY.clear()
    methods_module._REGISTRY.update(saved[0])
    methods_module._ALIASES.clear()
    methods_module._ALIASES.update(saved[1])


@pytest.fixture(scope="module")
def tiny_cnn():
    torch.manual_seed(0)
    return build_classifier("test_resnet", output_stride=8, img_size=32).eval()


def _images(batch: int = 2) -> Tensor:
    return torch.rand(batch, 3, 32, 40, generator=torch.Generator().manual_seed(5))


def _inverted_score_map(request: CamRequest):
    def cam_fn(batch: Tensor) -> Tensor:  # float [B, h, w]
        with torch.no_grad():
            raw = class_activation_map(request.model, batch, normalize="none",
                                       target=request.target)
        return raw.amax() - raw

    return cam_fn


# ---------------------------------------------------------------------------- names


def test_the_built_ins_keep_the_order_and_contents_of_cam_methods() -> None:
    assert cam_method_names()[:len(CAM_METHODS)] == CAM_METHODS
    assert CAM_METHODS == ("cam", "gradcam", *sorted(set(GRADCAM_METHODS) - {"gradcam"}))
    assert "scorecam" in GRADCAM_METHODS and "cam" not in GRADCAM_METHODS


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("cam", "cam"), ("CAM", "cam"), ("Grad-CAM", "gradcam"), ("grad_cam_pp", "gradcam++"),
     ("GradCAMPlusPlus", "gradcam++"), ("Layer CAM", "layercam"), ("gradcam++", "gradcam++")],
)
def test_canonical_cam_method_ignores_case_separators_and_knows_the_aliases(spelling, name):
    assert canonical_cam_method(spelling) == name


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown CAM method 'rollout'; valid: \('cam', "):
        canonical_cam_method("rollout")
    # The old Grad-CAM-only spelling check keeps its own list (and refuses "cam").
    with pytest.raises(ValueError, match=r"Unknown Grad-CAM method 'cam'; valid: \['eigencam'"):
        canonical_gradcam_method("cam")


# ---------------------------------------------------------------------------- registering


def test_a_registered_method_runs_with_the_built_ins_scales_and_normalisation(registry,
                                                                             tiny_cnn) -> None:
    register_cam_method("inverted", aliases=("flipped",), takes_layers=False)(
        _inverted_score_map)
    x = _images()
    assert cam_method_names()[-1] == "inverted"
    assert canonical_cam_method("Inverted") == canonical_cam_method("FLIPPED") == "inverted"
    scales = (1.0, 0.75)
    for normalize in ("minmax", "max", "none"):
        request = CamRequest(tiny_cnn, None, 0, "mean", None, normalize, stack=None)
        expected = normalize_cam(multiscale_cam(_inverted_score_map(request), x, scales),
                                 normalize)
        got = compute_cam(tiny_cnn, x, method="flipped", scales=scales, normalize=normalize)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="no layers"):
        compute_cam(tiny_cnn, x, method="inverted", layers=["layer4"])


def test_a_method_wrapping_a_built_in_factory_gives_the_built_ins_cam_bit_for_bit(registry,
                                                                                 tiny_cnn):
    for built_in in ("cam", "gradcam", "hirescam"):
        entry = methods_module.cam_method(built_in)
        register_cam_method(f"my{built_in}", takes_layers=entry.takes_layers)(entry.factory)
        x = _images()
        for kwargs in ({}, {"scales": (1.0, 1.5), "normalize": "max"}):
            torch.testing.assert_close(compute_cam(tiny_cnn, x, f"my{built_in}", **kwargs),
                                       compute_cam(tiny_cnn, x, built_in, **kwargs),
                                       rtol=0, atol=0)


def test_a_layered_method_gets_the_default_or_given_layers_and_the_settings(registry,
                                                                           tiny_cnn) -> None:
    seen: list[CamRequest] = []

    @register_cam_method("constant")
    class Constant:
        """A class works as a factory: its instances map a batch to a constant map."""

        def __init__(self, request: CamRequest) -> None:
            seen.append(request)

        def __call__(self, batch: Tensor) -> Tensor:
            return torch.full((batch.shape[0], batch.shape[-2], batch.shape[-1]), 2.0)

    x = _images()
    cam = compute_cam(tiny_cnn, x, "constant", normalize="none", target=0)
    torch.testing.assert_close(cam, torch.full((2, 32, 40), 2.0))
    compute_cam(tiny_cnn, x, "constant", layers="layer3", fusion="max", fusion_weights=None)
    assert seen[0].layers == default_gradcam_layers(tiny_cnn) and seen[0].normalize == "none"
    assert seen[1].layers == "layer3" and seen[1].fusion == "max"
    assert seen[0].model is tiny_cnn and not tiny_cnn.training


def test_unregistering_leaves_no_trace(registry) -> None:
    before = cam_method_names()
    register_cam_method("toy", aliases=("toy-cam",), takes_layers=False)(_inverted_score_map)
    entry = unregister_cam_method("TOY")
    assert entry.name == "toy" and entry.aliases == ("toycam",) and not entry.takes_layers
    assert cam_method_names() == before
    for spelling in ("toy", "toycam"):
        with pytest.raises(ValueError, match="Unknown CAM method"):
            canonical_cam_method(spelling)
    # The entry puts it back as it was, and the name can be registered again afterwards.
    register_cam_method(entry.name, aliases=entry.aliases,
                        takes_layers=entry.takes_layers)(entry.factory)
    assert canonical_cam_method("toy cam") == "toy"


def test_duplicate_or_malformed_names_are_refused(registry) -> None:
    with pytest.raises(ValueError, match="'cam' is already registered"):
        register_cam_method("cam")(_inverted_score_map)
    with pytest.raises(ValueError, match=r"'gradcampp' is already registered \(by 'gradcam\+\+'\)"):
        register_cam_method("toy", aliases=("Grad-CAM-pp",))(_inverted_score_map)
    assert "toy" not in cam_method_names()  # a refused registration registers nothing
    with pytest.raises(ValueError, match="lower-case string without"):
        register_cam_method("My-CAM")(_inverted_score_map)
    with pytest.raises(ValueError, match="Unknown CAM method"):
        unregister_cam_method("never-registered")


def test_the_registry_fixture_restores_the_built_ins() -> None:
    # Runs after the tests above: nothing they registered is left.
    assert cam_method_names() == CAM_METHODS
