"""Tests of wsss_lib.models: shapes, parity with timm's own paths, layers, weights and PCM."""

from __future__ import annotations

import time

import pytest
import timm
import torch

from wsss_lib.models import (
    MODEL_NAMES,
    build_classifier,
    load_classifier,
    load_weights,
    resolve_model_name,
    save_classifier,
)

# Models: the ``resnet`` and ``vit`` fixtures of conftest.py.


def _images(size: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=generator)


def _check_output(model, out, batch: int, grid: int, layers) -> None:
    assert out.logits.shape == (batch, 1)
    assert out.feature_map.shape == (batch, model.embed_dim, grid, grid)
    assert out.score_map.shape == (batch, 1, grid, grid)
    assert list(out.features) == model.resolve_layers(layers)
    for feat in out.features.values():
        assert feat.dim() == 4 and feat.shape[0] == batch
        assert torch.isfinite(feat).all()
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.score_map).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_short_name_builds_and_runs_at_two_sizes(name: str) -> None:
    model = build_classifier(name).eval()  # the only build of resnet50 / vit_base (~3 s CPU)
    assert model.family == ("cnn" if name.startswith("resnet") else "vit")
    assert model.build_args["name"] == name
    stride = 32 if model.family == "cnn" else 16  # timm's default stride / the names' patch
    for size in (32, 64):
        with torch.no_grad():
            out = model(_images(size, batch=1), layers=(0, -1))
        _check_output(model, out, batch=1, grid=size // stride, layers=(0, -1))


@pytest.mark.parametrize(
    ("name", "kwargs", "sizes", "stride"),
    [
        ("resnet18", {"output_stride": 16}, (32, 64), 16),
        ("resnet18", {"pcm": True}, (32, 64), 32),
        ("vit_tiny", {"patch_size": 8, "img_size": 32}, (32, 64), 8),
    ],
)
def test_output_shapes_at_two_sizes(name, kwargs, sizes, stride) -> None:
    model = build_classifier(name, **kwargs).eval()
    layers = (0, 1, -1)
    for size in sizes:
        with torch.no_grad():
            out = model(_images(size), layers=layers)
        _check_output(model, out, batch=2, grid=size // stride, layers=layers)
        assert (out.aux_logits is not None) == bool(kwargs.get("pcm"))


def test_cnn_matches_timm_forward_features_and_head(resnet) -> None:
    x = _images(64)
    reference = timm.create_model("resnet18", num_classes=1).eval()
    missing = reference.load_state_dict(resnet.backbone.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["fc.bias", "fc.weight"]
    with torch.no_grad():
        reference.fc.weight.copy_(resnet.classifier.weight.flatten(1))
        reference.fc.bias.copy_(resnet.classifier.bias)
        out = resnet(x, layers=("layer4",))
        torch.testing.assert_close(out.feature_map, resnet.backbone.forward_features(x))
        torch.testing.assert_close(out.features["layer4"], out.feature_map)
        # GAP of the 1x1-conv score map == timm's GAP + linear head: the CAM is the logit's map.
        torch.testing.assert_close(out.logits, reference(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [32, 36])
def test_vit_matches_timm_forward_features_and_head(vit, size) -> None:
    x = _images(size)
    captured = {}
    hook = vit.backbone.blocks[3].register_forward_hook(lambda m, i, o: captured.update(b3=o))
    try:
        with torch.no_grad():
            tokens = vit.backbone.forward_features(x)
            logits = vit.backbone(x)
            out = vit(x, layers=("blocks.3",))
    finally:
        hook.remove()
    grid = -(-size // 8)  # inputs are padded to whole patches
    patch_tokens = tokens[:, 1:].reshape(2, grid, grid, -1).permute(0, 3, 1, 2)
    torch.testing.assert_close(out.feature_map, patch_tokens)
    torch.testing.assert_close(out.logits, logits)
    head_on_tokens = vit.backbone.head(tokens[:, 1:]).reshape(2, grid, grid, 1).permute(0, 3, 1, 2)
    torch.testing.assert_close(out.score_map, head_on_tokens)
    block3 = captured["b3"][:, 1:].reshape(2, grid, grid, -1).permute(0, 3, 1, 2)
    torch.testing.assert_close(out.features["blocks.3"], block3)


def test_resolve_layers_accepts_ints_negatives_and_names(resnet, vit) -> None:
    assert resnet.layer_names == ["layer1", "layer2", "layer3", "layer4"]
    assert resnet.resolve_layers([0, -1, "layer2", "layer4"]) == ["layer1", "layer4", "layer2"]
    assert vit.resolve_layers(["blocks.-1", 3, -12]) == ["blocks.11", "blocks.3", "blocks.0"]
    assert vit.resolve_module("blocks.-1.norm1")[0] == "blocks.11.norm1"
    assert resnet.resolve_module("layer4.1.conv2")[1] is resnet.backbone.layer4[1].conv2
    with pytest.raises(ValueError, match="layer1"):
        resnet.resolve_layers("layer5")
    with pytest.raises(ValueError, match="out of range"):
        vit.resolve_layers(12)
    with pytest.raises(ValueError, match="norm1"):
        vit.resolve_module("blocks.2.nope")


def test_unknown_model_and_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="resnet18, resnet34"):
        build_classifier("resnet1000")
    with pytest.raises(ValueError, match="not supported"):
        build_classifier("convnext_tiny")
    assert resolve_model_name("vit_small") == ("vit_small_patch16_224", "vit")
    with pytest.raises(ValueError, match="patch_size"):
        build_classifier("resnet18", patch_size=8)
    with pytest.raises(ValueError, match="output_stride"):
        build_classifier("vit_tiny", output_stride=16)
    with pytest.raises(ValueError, match="pcm"):
        build_classifier("vit_tiny", pcm=True)
    with pytest.raises(ValueError, match="num_classes"):
        build_classifier("resnet18", num_classes=0)


def test_bad_images_are_rejected_and_odd_vit_sizes_are_padded(resnet, vit) -> None:
    with pytest.raises(ValueError, match="to_tensor_batch"):
        resnet(torch.zeros(2, 32, 32, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="to_tensor_batch"):
        vit(torch.zeros(3, 32, 32))
    with torch.no_grad():
        assert vit(_images(4)).score_map.shape == (2, 1, 1, 1)  # padded to one 8 px patch
        assert vit(_images(20)).score_map.shape == (2, 1, 3, 3)
    assert vit.grid_extent((20, 17)) == (24, 24)


def test_build_args_rebuild_the_same_architecture(resnet) -> None:
    model = build_classifier("resnet18", pcm=True, output_stride=16)
    rebuilt = build_classifier(**model.build_args)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes


def test_weights_path_loads_a_saved_backbone(tmp_path, vit) -> None:
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in vit.backbone.state_dict().items()}
    save_file(state, str(tmp_path / "backbone.safetensors"))
    torch.save(state, tmp_path / "backbone.pth")
    x = _images(32)
    with torch.no_grad():
        expected = vit(x)
    torch.manual_seed(2)  # a different random init, overwritten by the file
    model = build_classifier("vit_tiny", patch_size=8, img_size=32,
                             weights_path=tmp_path / "backbone.pth").eval()
    for name in ("backbone.pth", "backbone.safetensors"):
        if name.endswith(".safetensors"):
            with torch.no_grad():
                for param in model.parameters():
                    param.normal_()
            load_weights(model, tmp_path / name)
        with torch.no_grad():
            out = model(x)
        torch.testing.assert_close(out.logits, expected.logits)
        torch.testing.assert_close(out.score_map, expected.score_map)


def test_imagenet_style_vit_file_is_adapted_to_size_and_head(tmp_path) -> None:
    # (The CNN counterpart, a 1000-class fc dropped, is covered by the hub-cache test below.)
    vit_224 = timm.create_model("vit_tiny_patch16_224")  # 14x14 position grid, 1000 classes
    torch.save({"state_dict": vit_224.state_dict()}, tmp_path / "vit.pth")  # nested, as is common
    vit = build_classifier("vit_tiny", img_size=64, weights_path=tmp_path / "vit.pth")
    patch_weight = vit.backbone.patch_embed.proj.weight
    torch.testing.assert_close(patch_weight, vit_224.patch_embed.proj.weight)
    assert vit.backbone.pos_embed.shape[1] == 1 + 4 * 4  # resampled to the 64 px grid


def test_own_checkpoints_round_trip_including_pcm(tmp_path) -> None:
    torch.manual_seed(3)
    model = build_classifier("resnet18", pcm=True).eval()
    x = _images(64)
    with torch.no_grad():
        expected = model(x).logits
    loaded = load_classifier(save_classifier(model, tmp_path / "clf.pt"))
    torch.save({"models": {"model": model.state_dict()}, "epoch": 3}, tmp_path / "train.pt")
    from_training = build_classifier("resnet18", pcm=True, weights_path=tmp_path / "train.pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, expected)
        torch.testing.assert_close(from_training.eval()(x).logits, expected)
    with pytest.raises(RuntimeError, match="same arguments"):
        build_classifier("resnet18", weights_path=tmp_path / "train.pt")  # pcm missing


def test_bad_weight_files_give_clear_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="weights_path"):
        build_classifier("resnet18", weights_path=tmp_path / "missing.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x00not a torch file" * 10)
    with pytest.raises(RuntimeError, match="corrupt.pth"):
        build_classifier("resnet18", weights_path=corrupt)
    (tmp_path / "weights.txt").write_text("x")
    with pytest.raises(ValueError, match="suffix"):
        build_classifier("resnet18", weights_path=tmp_path / "weights.txt")
    torch.save(timm.create_model("resnet10t").state_dict(), tmp_path / "resnet10t.pth")
    with pytest.raises(RuntimeError, match="do not fit"):
        build_classifier("resnet18", weights_path=tmp_path / "resnet10t.pth")
    torch.save({"epoch": 1, "note": "no tensors"}, tmp_path / "empty.pt")
    with pytest.raises(ValueError, match="state dict"):
        build_classifier("resnet18", weights_path=tmp_path / "empty.pt")


def test_pretrained_fails_fast_offline_with_instructions(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="weights_path=") as info:
        build_classifier("resnet18", pretrained=True)
    assert "huggingface.co/timm/resnet18" in str(info.value)
    # Not flagged offline, but the hub (here: a closed local proxy port) refuses connections.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="not reachable"):
        build_classifier("vit_tiny", pretrained=True)
    assert time.perf_counter() - start < 10
    with pytest.raises(ValueError, match="either"):
        build_classifier("resnet18", pretrained=True, weights_path=tmp_path / "w.pth")


def test_pretrained_uses_the_local_hub_cache_offline(tmp_path, monkeypatch) -> None:
    from safetensors.torch import save_file

    reference = timm.create_model("resnet18").eval()
    revision = "0" * 40
    repo = tmp_path / "hub" / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    save_file(state, str(repo / "snapshots" / revision / "model.safetensors"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = build_classifier("resnet18", pretrained=True).eval()
    x = _images(32)
    with torch.no_grad():
        torch.testing.assert_close(model(x).feature_map, reference.forward_features(x))


def test_pcm_refines_within_the_raw_range_and_trains() -> None:
    torch.manual_seed(4)
    model = build_classifier("resnet18", pcm=True, output_stride=16).eval()
    out = model(_images(48), layers=())
    raw, refined = out.raw_score_map, out.score_map
    # Every refined value is an affinity-weighted average of raw values of the same image.
    low = raw.flatten(2).amin(-1)[..., None, None]
    high = raw.flatten(2).amax(-1)[..., None, None]
    assert (refined >= low - 1e-5).all() and (refined <= high + 1e-5).all()
    assert not torch.allclose(refined, raw)
    torch.testing.assert_close(out.logits, refined.mean(dim=(2, 3)))
    torch.testing.assert_close(out.aux_logits, raw.mean(dim=(2, 3)))
    model.classification_loss(out, torch.tensor([1.0, 0.0])).backward()
    assert model.pcm.embed.weight.grad.abs().sum() > 0
    assert model.classifier.weight.grad.abs().sum() > 0
    # (timm zero-initialises each block's last BN scale, so test the shortcut's conv.)
    assert model.backbone.layer4[0].downsample[0].weight.grad.abs().sum() > 0
