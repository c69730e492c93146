"""ViT options of ``build_classifier`` (``pool``, ``stem``) and bf16 autocast on the CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsss_lib.models import build_classifier, load_classifier, save_classifier
from wsss_lib.models.conv_stem import ConvStemPatchEmbed, conv_stem
from wsss_lib.train.loop import autocast_context


def _vit(**kwargs):
    torch.manual_seed(0)
    return build_classifier("vit_mini", img_size=32, patch_size=8, **kwargs).eval()


def test_avg_pool_logit_is_exactly_the_mean_of_the_score_map():
    model = _vit(pool="avg")
    out = model(torch.randn(3, 3, 32, 32))
    assert model.num_prefix_tokens == 0
    assert out.score_map.shape == (3, 1, 4, 4)
    torch.testing.assert_close(out.logits, out.score_map.mean(dim=(2, 3)))


def test_token_pool_logit_is_not_the_mean_of_its_score_map():
    # The class token's head output is its own number: the patch scores are a by-product.
    model = _vit()
    out = model(torch.randn(3, 3, 32, 32))
    assert model.num_prefix_tokens == 1
    assert (out.logits - out.score_map.mean(dim=(2, 3))).abs().max() > 1e-3


@pytest.mark.parametrize("kwargs, match", [
    ({"pool": "max"}, "pool must be one of"),
    ({"stem": "convs"}, "stem must be one of"),
    ({"stem": "conv", "patch_size": 6}, "power of two"),
])
def test_bad_vit_options_are_refused_with_the_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_classifier("vit_mini", img_size=32, **{"patch_size": 8, **kwargs})


@pytest.mark.parametrize("option", [{"pool": "avg"}, {"stem": "conv"}])
def test_vit_options_are_refused_for_a_cnn(option):
    with pytest.raises(ValueError, match="ViTs only"):
        build_classifier("resnet_mini", **option)


def test_conv_stem_is_refused_with_timm_pretrained_weights():
    with pytest.raises(ValueError, match="stem='conv'"):
        build_classifier("vit_tiny", img_size=32, stem="conv", pretrained=True)


def test_conv_stem_downsamples_by_the_patch_size_with_doubling_widths():
    stem = conv_stem(3, 128, 8)
    strided = [m for m in stem if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert [m.out_channels for m in strided] == [32, 64, 128]
    assert stem(torch.randn(2, 3, 64, 48)).shape == (2, 128, 8, 6)


def test_conv_stem_vit_keeps_the_patch_grid_for_any_input_size():
    model = _vit(stem="conv")
    assert isinstance(model.backbone.patch_embed, ConvStemPatchEmbed)
    assert model(torch.randn(1, 3, 32, 32)).score_map.shape == (1, 1, 4, 4)
    # Inputs are padded to whole patches, as with the patchify stem.
    assert model(torch.randn(1, 3, 30, 20)).score_map.shape == (1, 1, 4, 3)
    assert model.grid_extent((30, 20)) == (32, 24)


def test_conv_stem_tokens_only_see_their_neighbourhood():
    embed = _vit(stem="conv").backbone.patch_embed
    x = torch.randn(1, 3, 32, 32)
    y = x.clone()
    y[..., 24:, 24:] += 5.0  # only the bottom-right patch changes
    a, b = embed(x), embed(y)  # [1, 4, 4, C] (NHWC)
    assert torch.equal(a[0, :2, :2], b[0, :2, :2])  # far patches: bit-identical tokens
    assert not torch.equal(a[0, 3, 3], b[0, 3, 3])


@pytest.mark.parametrize("options", [{"pool": "avg"}, {"stem": "conv"},
                                     {"pool": "avg", "stem": "conv"}])
def test_vit_options_survive_save_and_load(tmp_path, options):
    model = _vit(**options)
    assert {k: model.build_args[k] for k in options} == options
    path = save_classifier(model, tmp_path / "vit.pt")
    loaded = load_classifier(path)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x).logits, model(x).logits)


def test_default_build_args_name_no_vit_option():
    # Files written before the options existed rebuild the same network.
    assert "pool" not in _vit().build_args and "stem" not in _vit().build_args


def test_bf16_autocast_on_cpu_runs_matrix_products_in_bf16_and_attention_in_math_mode():
    model = _vit(stem="conv").train()
    x = torch.randn(2, 3, 32, 32)
    with autocast_context(torch.device("cpu"), torch.bfloat16):
        assert torch.backends.cuda.math_sdp_enabled()
        assert not torch.backends.cuda.flash_sdp_enabled()
        out = model(x)
        assert nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.bfloat16
    out.logits.float().sum().backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    assert torch.backends.cuda.flash_sdp_enabled()  # restored on exit


def test_no_autocast_without_a_dtype():
    with autocast_context(torch.device("cpu"), None):
        assert nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.float32
