"""The one read-out value, CamReadout: its checks, its two dict forms, resolving it for a model, and
every place that builds one (explorer, CLI settings, studies, evaluation) building the same value.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsss_lib.cam import compute_cam, layer_gradcams
from wsss_lib.cam.readout import CamReadout, layer_cams_readout, readout_or_settings
from wsss_lib.data import make_split, to_tensor_batch
from wsss_lib.models import build_classifier
from wsss_lib.postprocess import DenseCRF
from wsss_lib.pseudo_masks import evaluate_scenes, resolve_cam_settings
from wsss_lib.studies import fusion
from wsss_lib.train import evaluate_model
from wsss_lib.widgets import ExplorerState

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_classifier("test_vit", img_size=SIZE, patch_size=8).eval()


@pytest.fixture(scope="module")
def scenes():
    return make_split("test", image_size=SIZE, n_images=6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "nope"}, "Unknown CAM method 'nope'"),
        ({"method": 3}, "CAM method name"),
        ({"method": "cam", "layers": ("layer4",)}, "takes no layers"),
        ({"method": "gradcam", "layers": (True,)}, "layer names"),
        ({"scales": ()}, "scales must be positive"),
        ({"scales": (1.0, -0.5)}, "scales must be positive"),
        ({"fusion": "median"}, "Unknown fusion rule 'median'"),
        ({"fusion": "weighted"}, "needs fusion_weights"),
        ({"fusion": "mean", "fusion_weights": (1.0, 2.0)}, "fusion='weighted' only"),
        ({"fusion": "weighted", "fusion_weights": (-1.0, 1.0)}, "weights >= 0"),
        ({"normalize": "zscore"}, "normalize='zscore' is not one of"),
        ({"threshold": 1.5}, "threshold must be a number in"),
        ({"threshold": float("nan")}, "threshold must be a number in"),
        ({"threshold": True}, "threshold must be a number in"),
        ({"refine": ("sharpen",)}, "Unknown refinement step 'sharpen'"),
        ({"refine": ({"name": "crf"},)}, "recorded refinement step"),
        ({"refine": (3,)}, "refine entries must be"),
    ],
)
def test_bad_settings_fail_with_a_clear_message(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CamReadout(**kwargs)


def test_settings_are_normalised() -> None:
    readout = CamReadout("Grad-CAM++", "blocks.-1.norm1", scales=2, threshold=0, refine="crf")
    assert readout.method == "gradcam++"
    assert readout.layers == ("blocks.-1.norm1",)
    assert readout.scales == (2.0,) and readout.threshold == 0.0
    assert readout.refine == ("crf",)
    assert CamReadout("gradcam", ()) == CamReadout("gradcam", None) == CamReadout("gradcam")
    assert CamReadout("gradcam", [-1]).layers == (-1,)  # indices stay indices


def test_compact_dict_is_the_three_key_form_plus_what_differs() -> None:
    assert CamReadout().to_dict() == {"method": "cam", "layers": None, "threshold": 0.3}
    readout = CamReadout("gradcam", ["blocks.-1.norm1"], threshold=0.45)
    assert readout.to_dict() == {"method": "gradcam", "layers": ["blocks.-1.norm1"],
                                 "threshold": 0.45}
    assert readout.label == "gradcam[blocks.-1.norm1] > 0.45"
    rich = CamReadout("gradcam", ("a", "b"), scales=(0.5, 1.0), fusion="weighted",
                      fusion_weights=(1, 3), normalize="max", threshold=0.2, refine=("par", "crf"))
    assert rich.to_dict() == {"method": "gradcam", "layers": ["a", "b"], "threshold": 0.2,
                              "scales": [0.5, 1.0], "fusion": "weighted",
                              "fusion_weights": [1.0, 3.0], "normalize": "max",
                              "refine": ["par", "crf"]}
    assert rich.label == "gradcam[a,b]@0.5,1/weighted/norm=max+par+crf > 0.20"


@pytest.mark.parametrize("readout", [
    CamReadout(),
    CamReadout("gradcam", ("blocks.-1.norm1",), threshold=0.45),
    CamReadout("layercam", scales=(0.5, 1.0, 2.0), fusion="max", refine=("crf",)),
    CamReadout("gradcam", ("a", "b"), fusion="weighted", fusion_weights=(1.0, 2.0)),
])
def test_dict_forms_round_trip(readout: CamReadout) -> None:
    assert CamReadout.from_dict(readout.to_dict()) == readout
    again = CamReadout.from_dict(readout.to_record())
    assert again.to_record() == readout.to_record()
    with pytest.raises(ValueError, match="Unknown CamReadout keys"):
        CamReadout.from_dict({**readout.to_dict(), "thresh": 0.3})


def test_the_record_is_the_manifest_form_and_rebuilds_its_steps() -> None:
    crf = DenseCRF(iterations=2)
    record = CamReadout("cam", threshold=0.4, refine=("par", crf)).to_record()
    assert list(record) == ["method", "layers", "scales", "fusion", "normalize", "threshold",
                            "refine"]
    assert record["layers"] == [] and record["refine"][1] == {"name": "crf",
                                                              "params": crf.params()}
    steps = CamReadout.from_dict(record).refinement_steps()
    assert [s.name for s in steps] == ["par", "crf"] and steps[1].params() == crf.params()


def test_resolve_gives_canonical_layer_names(model) -> None:
    last = CamReadout("gradcam", ("blocks.-1.norm1",)).resolve(model)
    assert last.layers == (f"blocks.{len(model.layer_names) - 1}.norm1",)
    assert CamReadout("gradcam", (-1,)).resolve(model).layers == (model.layer_names[-1],)
    defaults = CamReadout("gradcam").resolve(model)
    assert defaults.layers and all(name.startswith("blocks.") for name in defaults.layers)
    assert CamReadout().resolve(model).layers is None
    assert resolve_cam_settings(model, method="gradcam", layers=[-1], threshold=0.4) == \
        CamReadout("gradcam", (model.layer_names[-1],), threshold=0.4)
    with pytest.raises(ValueError):
        CamReadout("gradcam", ("blocks.99",)).resolve(model)


def test_explorer_cli_and_studies_build_equal_readouts() -> None:
    expected = CamReadout("gradcam", ("blocks.11.norm1",), scales=(0.5, 1.0), threshold=0.4)
    state = ExplorerState(method="gradcam", layers=("blocks.11.norm1",), scales=(1.0, 0.5),
                          threshold=0.4)
    # What `wsss evaluate` / `wsss pseudo-masks` read from a recipe and the command line.
    cli = CamReadout.from_dict({"method": "gradcam", "layers": ["blocks.11.norm1"],
                                "scales": [0.5, 1.0], "fusion": "mean", "threshold": 0.4,
                                "refine": []})
    assert state.readout == cli == expected
    studies = fusion.fusion_variants(["blocks.10.norm1", "blocks.11.norm1"], scales=(0.5, 1.0))
    assert studies["multi-scale (last layer)"] == CamReadout("gradcam", ("blocks.11.norm1",),
                                                             scales=(0.5, 1.0))
    # The explorer keeps its layers while the score map is shown; its read-out has none.
    assert ExplorerState(method="cam", layers=("blocks.11.norm1",)).readout == CamReadout()
    assert ExplorerState(refine=("crf",)).readout == CamReadout(refine=("crf",))


def test_either_a_readout_or_its_fields() -> None:
    readout = CamReadout("gradcam", threshold=0.4)
    assert readout_or_settings(readout, method=None) is readout
    assert readout_or_settings(None, method="gradcam", threshold=0.4) == readout
    with pytest.raises(ValueError, match="not both"):
        readout_or_settings(readout, threshold=0.5)


def test_stored_layer_maps_give_the_readouts_cam(model, scenes) -> None:
    readout = CamReadout("gradcam", ("blocks.-2.norm1", "blocks.-1.norm1"), scales=(1.0, 1.5),
                         fusion="max").resolve(model)
    maps = layer_gradcams(model, scenes.images, readout.layers, readout.scales, progress=False)
    direct = compute_cam(model, to_tensor_batch(scenes.images), **readout.cam_kwargs())
    torch.testing.assert_close(layer_cams_readout(readout, maps), direct, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="Grad-CAMs"):
        layer_cams_readout(CamReadout(), maps)


def test_one_evaluation_path(model, scenes) -> None:
    readout = CamReadout("gradcam", ("blocks.-1.norm1",), threshold=0.4)
    by_readout = evaluate_model(model, scenes, readout)
    by_fields = evaluate_model(model, scenes, method="gradcam", layers=["blocks.-1.norm1"],
                               threshold=0.4)
    np.testing.assert_array_equal(by_readout.cams, by_fields.cams)
    assert by_readout.metrics == by_fields.metrics
    scored = evaluate_scenes(model, scenes, readout, progress=False)
    assert scored["settings"] == readout.resolve(model).to_record()
    assert scored["metrics"]["smoke_iou"] == pytest.approx(by_readout.metrics["smoke_iou"])
    with pytest.raises(ValueError, match="not both"):
        evaluate_model(model, scenes, readout, threshold=0.5)
