"""Synthetic smoke-and-chimney scenes: determinism, masks, coupling controls, splits, caching."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest

from wsss_lib.data import (
    GENERATOR_VERSION,
    MASK_ALPHA_THRESHOLD,
    SPLITS,
    SceneConfig,
    SmokeScenes,
    dataset_cache_path,
    generate_scenes,
    load_split,
    make_split,
    render_scene,
    split_config,
    split_seed,
)

SMALL = SceneConfig(image_size=40, n_images=24, seed=3, n_distractors=(0, 2))


@pytest.fixture(scope="module")
def small() -> SmokeScenes:
    return generate_scenes(SMALL)


def _assert_same_scenes(a: SmokeScenes, b: SmokeScenes) -> None:
    for name in ("images", "labels", "smoke_masks", "chimney_masks", "distractor_masks"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y), name
    assert a.names == b.names
    assert a.params == b.params
    assert a.meta == b.meta


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_scenes(small: SmokeScenes) -> None:
    _assert_same_scenes(small, generate_scenes(SMALL))


def test_different_seed_gives_different_scenes(small: SmokeScenes) -> None:
    other = generate_scenes(replace(SMALL, seed=4))
    assert not np.array_equal(small.images, other.images)
    assert small.params != other.params


def test_dtypes_shapes_and_params_are_json(small: SmokeScenes) -> None:
    n, size = SMALL.n_images, SMALL.image_size
    assert small.images.shape == (n, size, size, 3) and small.images.dtype == np.uint8
    assert small.labels.dtype == np.int64
    for mask in (small.smoke_masks, small.chimney_masks, small.distractor_masks):
        assert mask.shape == (n, size, size) and mask.dtype == np.bool_
    assert json.loads(json.dumps(small.params)) == small.params
    assert small.meta["generator_version"] == GENERATOR_VERSION
    assert small.meta["config"] == SMALL.to_dict()


def test_render_scene_redraws_an_image_from_its_params(small: SmokeScenes) -> None:
    rendered = render_scene(small.params[5])
    assert np.array_equal(rendered.image, small.images[5])
    assert np.array_equal(rendered.smoke_mask, small.smoke_masks[5])


# ----------------------------------------------------------------------------- labels and masks


def test_smoke_ratio_is_exact() -> None:
    scenes = generate_scenes(replace(SMALL, n_images=20, smoke_ratio=0.25))
    assert int(scenes.labels.sum()) == 5


def test_masks_agree_with_labels_and_params(small: SmokeScenes) -> None:
    assert set(small.labels.tolist()) == {0, 1}
    for i, params in enumerate(small.params):
        has_smoke = small.smoke_masks[i].any()
        assert has_smoke == bool(small.labels[i]), f"image {i}: smoke mask vs label"
        assert (params["smoke"] is not None) == bool(small.labels[i])
        assert small.chimney_masks[i].any() == (params["chimney"] is not None), f"image {i}"
        if not params["distractors"]:
            assert not small.distractor_masks[i].any()


def test_masks_are_disjoint_front_layer_wins(small: SmokeScenes) -> None:
    assert not (small.smoke_masks & small.chimney_masks).any()
    assert not (small.smoke_masks & small.distractor_masks).any()
    assert not (small.chimney_masks & small.distractor_masks).any()


def test_distractors_appear_in_both_classes() -> None:
    scenes = generate_scenes(replace(SMALL, n_images=40, n_distractors=(1, 2)))
    for label in (0, 1):
        assert scenes.distractor_masks[scenes.labels == label].any(axis=(1, 2)).mean() > 0.5
    kinds = {d["kind"] for p in scenes.params for d in p["distractors"]}
    assert kinds == {"cloud", "haze"}


def test_smoke_mask_is_plume_alpha_above_threshold(small: SmokeScenes) -> None:
    i = int(np.flatnonzero(small.labels == 1)[0])
    rendered = render_scene(small.params[i])
    expected = rendered.smoke_alpha >= MASK_ALPHA_THRESHOLD
    assert np.array_equal(rendered.smoke_mask, expected)
    # the faint halo below the threshold is drawn but not part of the mask
    assert ((rendered.smoke_alpha > 0.01) & ~rendered.smoke_mask).any()


def test_larger_images_keep_the_same_rules() -> None:
    scenes = generate_scenes(SceneConfig(image_size=160, n_images=4, seed=1, smoke_ratio=0.5))
    assert scenes.images.shape == (4, 160, 160, 3)
    assert all(scenes.smoke_masks[i].any() == bool(scenes.labels[i]) for i in range(4))


# ----------------------------------------------------------------------------- coupling controls


def _chimney_rates(scenes: SmokeScenes) -> tuple[float, float]:
    has = np.array([p["chimney"] is not None for p in scenes.params])
    return float(has[scenes.labels == 1].mean()), float(has[scenes.labels == 0].mean())


def test_full_coupling_puts_chimneys_exactly_on_smoke_images() -> None:
    scenes = generate_scenes(
        replace(SMALL, n_images=40, p_chimney_given_smoke=1.0, p_chimney_given_clean=0.0)
    )
    assert _chimney_rates(scenes) == (1.0, 0.0)
    assert all(scenes.chimney_masks[scenes.labels == 1].any(axis=(1, 2)))
    assert not scenes.chimney_masks[scenes.labels == 0].any()


def test_half_coupling_makes_chimneys_independent_of_the_label() -> None:
    config = SceneConfig(
        image_size=32, n_images=400, seed=11, p_chimney_given_smoke=0.5, p_chimney_given_clean=0.5
    )
    smoke_rate, clean_rate = _chimney_rates(generate_scenes(config))
    # 200 images per class: the standard error of a rate is ~0.035, of the difference ~0.05.
    assert abs(smoke_rate - 0.5) < 0.11 and abs(clean_rate - 0.5) < 0.11
    assert abs(smoke_rate - clean_rate) < 0.15


def test_anchored_smoke_rises_from_the_chimney_top() -> None:
    config = replace(SMALL, n_images=16, smoke_ratio=1.0, p_chimney_given_smoke=1.0)
    scenes = generate_scenes(config)
    for i, params in enumerate(scenes.params):
        x0, top, x1, _ = params["chimney"]["box"]
        assert params["smoke"]["source_kind"] == "chimney_top"
        assert params["smoke"]["source"] == pytest.approx([(x0 + x1) / 2, top], abs=0.01)
        rows = slice(max(int(top) - 3, 0), int(top) + 1)  # a small band just above the box
        cols = slice(int(x0), int(np.ceil(x1)))
        assert scenes.smoke_masks[i][rows, cols].any(), f"image {i}: no smoke at chimney top"


def test_unanchored_smoke_starts_away_from_the_chimney() -> None:
    config = replace(
        SMALL,
        n_images=16,
        smoke_ratio=1.0,
        p_chimney_given_smoke=1.0,
        anchor_smoke_to_chimney=False,
    )
    scenes = generate_scenes(config)
    far = 0
    for params in scenes.params:
        x0, top, x1, _ = params["chimney"]["box"]
        sx, sy = params["smoke"]["source"]
        assert params["smoke"]["source_kind"] in ("ground_vent", "mid_air")
        far += abs(sx - (x0 + x1) / 2) > (x1 - x0) or abs(sy - top) > 0.1 * config.image_size
    assert far == len(scenes)


def test_opacity_range_is_respected() -> None:
    for low, high in ((0.2, 0.3), (0.85, 0.9)):
        scenes = generate_scenes(
            replace(SMALL, n_images=10, smoke_ratio=1.0, opacity_range=(low, high))
        )
        for params in scenes.params:
            opacity = params["smoke"]["opacity"]
            assert low - 1e-3 <= opacity <= high + 1e-3
            # "opacity" is the plume's peak alpha
            assert render_scene(params).smoke_alpha.max() == pytest.approx(opacity, rel=1e-5)


# ----------------------------------------------------------------------------- splits


def test_test_decoupled_separates_smoke_from_chimneys() -> None:
    scenes = make_split("test_decoupled", image_size=32, n_images=40)
    smoke_rate, clean_rate = _chimney_rates(scenes)
    assert (smoke_rate, clean_rate) == (0.0, 1.0)
    assert all(scenes.smoke_masks[scenes.labels == 1].any(axis=(1, 2)))
    sources = {p["smoke"]["source_kind"] for p in scenes.params if p["smoke"]}
    assert sources <= {"ground_vent", "mid_air"}


def test_train_split_is_biased_and_overridable() -> None:
    config = split_config("train", image_size=32, n_images=10)
    assert (config.p_chimney_given_smoke, config.p_chimney_given_clean) == (0.95, 0.05)
    swept = split_config("train", image_size=32, n_images=10, p_chimney_given_smoke=0.5)
    assert swept.p_chimney_given_smoke == 0.5 and swept.seed == config.seed
    assert split_config("test", image_size=32).n_images == 512


def test_splits_never_share_images() -> None:
    seeds = {split_seed(split, seed) for split in SPLITS for seed in (0, 1)}
    assert len(seeds) == 2 * len(SPLITS)
    digests: dict[str, str] = {}
    for split in SPLITS:
        scenes = make_split(split, image_size=32, n_images=12)
        assert scenes.names[0] == f"{split}_00000" and scenes.meta["split"] == split
        for image in scenes.images:
            digest = hashlib.sha1(image.tobytes()).hexdigest()
            assert digest not in digests, f"{split} repeats an image of {digests.get(digest)}"
            digests[digest] = split


def test_split_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="Unknown split 'training'.*test_decoupled"):
        split_config("training")
    with pytest.raises(ValueError, match="override.*p_chimney_smoke"):
        split_config("train", p_chimney_smoke=0.5)


# ----------------------------------------------------------------------------- storage


def test_npz_round_trip_is_bit_identical(small: SmokeScenes, tmp_path) -> None:
    path = small.save(tmp_path / "scenes.npz")
    with np.load(path, allow_pickle=False) as data:  # readable without pickle
        assert data["images"].dtype == np.uint8
    _assert_same_scenes(small, SmokeScenes.load(path))


def test_round_trip_without_masks(small: SmokeScenes, tmp_path) -> None:
    bare = SmokeScenes(images=small.images[:3], labels=small.labels[:3])
    loaded = SmokeScenes.load(bare.save(tmp_path / "bare.npz"))
    _assert_same_scenes(bare, loaded)
    assert not loaded.has_masks and loaded.names == ["scene_00000", "scene_00001", "scene_00002"]


def test_load_split_caches_to_npz(tmp_path) -> None:
    first = load_split("val", image_size=32, n_images=6, cache_dir=tmp_path)
    path = dataset_cache_path(split_config("val", 32, 6), "val", tmp_path)
    assert path.is_file() and path.parent == tmp_path / "datasets"
    _assert_same_scenes(first, load_split("val", image_size=32, n_images=6, cache_dir=tmp_path))
    path.write_bytes(b"not a zip file")  # a damaged cache is regenerated, not trusted
    _assert_same_scenes(first, load_split("val", image_size=32, n_images=6, cache_dir=tmp_path))


def test_load_missing_file_says_how_to_create_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="No dataset file"):
        SmokeScenes.load(tmp_path / "missing.npz")


def test_subset_keeps_fields_aligned(small: SmokeScenes) -> None:
    part = small.subset([5, 2])
    assert part.names == [small.names[5], small.names[2]]
    assert np.array_equal(part.smoke_masks[0], small.smoke_masks[5])
    assert part.params[1] == small.params[2]
    assert len(small.subset(small.labels == 1)) == int(small.labels.sum())


def test_scenes_validation_errors(small: SmokeScenes) -> None:
    with pytest.raises(ValueError, match="uint8"):
        SmokeScenes(images=small.images.astype(np.float32), labels=small.labels)
    with pytest.raises(ValueError, match="labels must have shape"):
        SmokeScenes(images=small.images, labels=small.labels[:-1])
    with pytest.raises(ValueError, match="0 \\(clean\\) or 1 \\(smoke\\)"):
        SmokeScenes(images=small.images, labels=small.labels + 1)
    with pytest.raises(ValueError, match="smoke_masks has shape"):
        SmokeScenes(images=small.images, labels=small.labels, smoke_masks=small.smoke_masks[:2])


# ----------------------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_chimney_given_smoke": 1.2}, "p_chimney_given_smoke must be a probability"),
        ({"p_chimney_given_clean": -0.1}, "p_chimney_given_clean must be a probability"),
        ({"smoke_ratio": 2}, "smoke_ratio must be a probability"),
        ({"image_size": 16}, "image_size must be >= 32"),
        ({"n_images": 0}, "n_images must be >= 1"),
        ({"opacity_range": (0.9, 0.3)}, "opacity_range.*min <= max"),
        ({"opacity_range": (0.05, 0.5)}, "opacity_range.*mask threshold"),
        ({"opacity_range": (0.5, 1.5)}, "opacity_range"),
        ({"opacity_range": 0.5}, "opacity_range must be a \\(min, max\\) pair"),
        ({"n_distractors": (3, 1)}, "n_distractors"),
        ({"anchor_smoke_to_chimney": "yes"}, "anchor_smoke_to_chimney must be True or False"),
    ],
)
def test_config_validation_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SceneConfig(**kwargs)


def test_config_accepts_lists_from_json() -> None:
    config = SceneConfig(opacity_range=[0.3, 0.6], n_distractors=[1, 3])
    assert config.opacity_range == (0.3, 0.6) and config.n_distractors == (1, 3)
    assert SceneConfig(**config.to_dict()) == config
