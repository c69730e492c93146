"""ClipRefiner: end to end with a tiny random open_clip model loaded from a local file, offline."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
import torch

from wsss_lib.postprocess.clip_refine import ClipRefiner
from wsss_lib.postprocess.weights import WeightsUnavailableError, clip_weights_available

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = "wsss-test-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail any test that tries to open a network connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> str:
    """Register a tiny ViT CLIP architecture with open_clip and save random weights for it."""
    import open_clip

    folder = tmp_path_factory.mktemp("tiny_clip")
    config = folder / f"{TINY}.json"
    config.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY)
    path = folder / "tiny_clip.pt"
    torch.save(model.state_dict(), path)
    return str(path)


def _refiner(weights: str, **kwargs) -> ClipRefiner:
    return ClipRefiner(model_name=TINY, pretrained=None, weights_path=weights, device="cpu",
                       **kwargs)


def _batch(n: int = 3, size: int = 48):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    cams = torch.from_numpy(rng.random((n, size, size), dtype=np.float32))
    return images, cams


def test_loads_the_weights_from_the_local_file(tiny_weights):
    refiner = _refiner(tiny_weights)
    saved = torch.load(tiny_weights, weights_only=True)
    torch.testing.assert_close(refiner.model.visual.proj, saved["visual.proj"])
    torch.testing.assert_close(refiner.model.text_projection, saved["text_projection"])


def test_end_to_end_shape_range_and_determinism(tiny_weights):
    images, cams = _batch()
    refiner = _refiner(tiny_weights)
    first = refiner(cams, images)
    assert first.shape == cams.shape and first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    torch.testing.assert_close(first, refiner(cams, images))
    probability = refiner.smoke_probability(images)
    assert probability.shape == (3, 4, 4)  # 32 px input / patch 8
    assert 0.0 < float(probability.min()) and float(probability.max()) < 1.0


def test_modes_combine_cam_and_smoke_probability_as_documented(tiny_weights):
    images, cams = _batch()
    multiply = _refiner(tiny_weights, mode="multiply")
    p_smoke = torch.nn.functional.interpolate(
        multiply.smoke_probability(images)[:, None], size=cams.shape[-2:], mode="bilinear",
        align_corners=False,
    )[:, 0]
    torch.testing.assert_close(multiply(cams, images), cams * p_smoke)
    torch.testing.assert_close(_refiner(tiny_weights, mode="mean")(cams, images),
                               (cams + p_smoke) / 2)
    threshold = float(p_smoke.median())
    gated = _refiner(tiny_weights, mode="gate", gate_threshold=threshold)(cams, images)
    torch.testing.assert_close(gated, torch.where(p_smoke >= threshold, cams, 0.0))
    assert 0 < int((gated == 0).sum()) < gated.numel()


def test_prompt_set_changes_the_output(tiny_weights):
    images, cams = _batch()
    default = _refiner(tiny_weights)(cams, images)
    other = _refiner(tiny_weights, smoke_prompts=["white steam"],
                     background_prompts=["a blue sky", "a tree"])(cams, images)
    assert float((default - other).abs().max()) > 1e-3


def test_uint8_and_normalised_float_images_agree(tiny_weights):
    images, cams = _batch()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    normalised = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - mean) / std
    refiner = _refiner(tiny_weights)
    torch.testing.assert_close(refiner(cams, normalised), refiner(cams, images), atol=1e-4,
                               rtol=1e-4)


def test_params_are_json_and_name_the_prompts(tiny_weights):
    params = _refiner(tiny_weights, mode="gate").params()
    json.dumps(params)
    assert params["mode"] == "gate" and "a photo of smoke" in params["smoke_prompts"]


def test_without_weights_offline_it_fails_fast_with_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="weights_path="):
        ClipRefiner(device="cpu")
    assert time.perf_counter() - start < 3.0
    available, reason = clip_weights_available("ViT-B-32", "openai")
    assert not available and "huggingface.co/timm/vit_base_patch32_clip_224.openai" in reason


def test_availability_reports_a_local_file(tiny_weights, tmp_path):
    available, where = clip_weights_available(TINY, None, tiny_weights)
    assert available and tiny_weights in where
    available, reason = clip_weights_available(TINY, None, tmp_path / "missing.pt")
    assert not available and "missing.pt" in reason
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        _refiner(str(tmp_path / "missing.pt"))


def test_a_file_that_does_not_fit_the_architecture_gets_a_clear_error(tiny_weights, tmp_path):
    wrong = tmp_path / "wrong.pt"
    torch.save({"visual.proj": torch.zeros(3, 3)}, wrong)
    with pytest.raises(RuntimeError, match="must be an open_clip state dict"):
        _refiner(str(wrong))


def test_unanswered_hub_check_reports_unavailable_instead_of_hanging(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def hang(*args, **kwargs):
        time.sleep(10)  # a DNS lookup or connect that never answers (in time)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    available, reason = clip_weights_available("ViT-B-32", "openai")
    assert not available and "not reachable" in reason
    assert time.perf_counter() - start < 5.0  # the probe gives up after ~3 s


def test_rejects_bad_settings(tiny_weights):
    with pytest.raises(ValueError, match="mode"):
        _refiner(tiny_weights, mode="max")
    with pytest.raises(ValueError, match="smoke_prompts"):
        _refiner(tiny_weights, smoke_prompts="a photo of smoke")
    with pytest.raises(ValueError, match="background_prompts"):
        _refiner(tiny_weights, background_prompts=[])
    with pytest.raises(ValueError, match="not an open_clip tag"):
        ClipRefiner(pretrained="opanai", device="cpu")
