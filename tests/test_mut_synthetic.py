"""SceneConfig's validation and two rendering rules at their exact boundaries (issue 14).

``tests/test_synthetic.py`` checks that clearly bad values are refused; these tests pin the
boundaries themselves (the smallest image, one image, seed 0, opacity exactly ``MIN_OPACITY`` or
1, the largest number of distractors), the types that are accepted or refused (numpy integers
yes, bools no), the normalised stored values, and the wording a user sees for a too-small value;
then the inclusive mask threshold (``alpha >= 0.1``) and the clipping of pixels to 0..255, which
no generated scene reaches (alpha equal to the threshold, black or over-bright colours).
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from wsss_lib.data.synthetic import (
    GENERATOR_VERSION,
    MASK_ALPHA_THRESHOLD,
    MIN_IMAGE_SIZE,
    MIN_OPACITY,
    SceneConfig,
    _blend,
    generate_scenes,
    render_scene,
    sample_scene_params,
)


def test_the_boundary_values_themselves_are_accepted_and_normalised() -> None:
    config = SceneConfig(
        image_size=MIN_IMAGE_SIZE,
        n_images=1,
        seed=0,
        smoke_ratio=0,
        p_chimney_given_smoke=1,
        p_chimney_given_clean=0.0,
        opacity_range=[MIN_OPACITY, 1],
        n_distractors=[8, 8],
    )
    assert (config.image_size, config.n_images, config.seed) == (32, 1, 0)
    assert (config.smoke_ratio, config.p_chimney_given_smoke) == (0.0, 1.0)
    assert type(config.smoke_ratio) is float and type(config.p_chimney_given_smoke) is float
    assert config.opacity_range == (0.15, 1.0) and type(config.opacity_range[1]) is float
    assert config.n_distractors == (8, 8)
    assert SceneConfig(smoke_ratio=1.0, opacity_range=(1.0, 1.0)).opacity_range == (1.0, 1.0)
    assert SceneConfig(n_distractors=(0, 0)).n_distractors == (0, 0)


def test_numpy_scalars_are_accepted_and_stored_as_python_values() -> None:
    config = SceneConfig(
        image_size=np.int64(48),
        n_images=np.int32(3),
        seed=np.int64(5),
        anchor_smoke_to_chimney=np.bool_(False),
        n_distractors=(np.int64(1), np.int64(2)),
    )
    assert type(config.image_size) is int and config.image_size == 48
    assert type(config.n_images) is int and type(config.seed) is int
    assert config.anchor_smoke_to_chimney is False
    assert all(type(v) is int for v in config.n_distractors)
    assert config.to_dict() == {
        "image_size": 48,
        "n_images": 3,
        "smoke_ratio": 0.5,
        "p_chimney_given_smoke": 0.95,
        "p_chimney_given_clean": 0.1,
        "anchor_smoke_to_chimney": False,
        "opacity_range": [0.25, 0.9],
        "n_distractors": [1, 2],
        "seed": 5,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 31}, "SceneConfig.image_size must be >= 32; got 31 (smaller images "
         "cannot show a chimney and a plume; generate at 32+ px and resize if you need tiny "
         "inputs)."),
        ({"n_images": 0}, "SceneConfig.n_images must be >= 1; got 0."),
        ({"seed": -1}, "SceneConfig.seed must be >= 0; got -1."),
        ({"image_size": True}, "SceneConfig.image_size must be an integer; got True."),
        ({"n_images": 2.0}, "SceneConfig.n_images must be an integer; got 2.0."),
        ({"smoke_ratio": True}, "SceneConfig.smoke_ratio must be a probability in [0, 1]; "
         "got True."),
        ({"p_chimney_given_clean": 1.0001}, "SceneConfig.p_chimney_given_clean must be a "
         "probability in [0, 1]; got 1.0001."),
        ({"p_chimney_given_smoke": "0.5"}, "SceneConfig.p_chimney_given_smoke must be a "
         "probability in [0, 1]; got '0.5'."),
        ({"anchor_smoke_to_chimney": 1}, "SceneConfig.anchor_smoke_to_chimney must be True or "
         "False; got 1."),
        ({"opacity_range": "ab"}, "SceneConfig.opacity_range must be a (min, max) pair; "
         "got 'ab'."),
        ({"opacity_range": (0.2, 0.3, 0.4)}, "SceneConfig.opacity_range must be a (min, max) "
         "pair; got (0.2, 0.3, 0.4)."),
        ({"opacity_range": (True, 0.5)}, "SceneConfig.opacity_range must hold numbers; "
         "got (True, 0.5)."),
        ({"opacity_range": (0.149, 0.5)}, "0.15 <= min <= max <= 1"),
        ({"opacity_range": (0.5, 1.001)}, "0.15 <= min <= max <= 1"),
        ({"n_distractors": (1.0, 2)}, "SceneConfig.n_distractors must hold integers; "
         "got (1.0, 2)."),
        ({"n_distractors": (True, 2)}, "SceneConfig.n_distractors must hold integers"),
        ({"n_distractors": (-1, 2)}, "SceneConfig.n_distractors=(-1, 2) is invalid: it needs "
         "0 <= min <= max <= 8."),
        ({"n_distractors": (2, 9)}, "0 <= min <= max <= 8"),
    ],
)
def test_values_just_outside_the_boundaries_are_refused_with_the_exact_message(
    kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SceneConfig(**kwargs)


# ----------------------------------------------------------------------------- rendering rules


def _smoke_params(index: int) -> dict:
    scenes = generate_scenes(SceneConfig(image_size=32, n_images=6, smoke_ratio=1.0, seed=3))
    return copy.deepcopy(scenes.params[index])


def test_the_mask_threshold_is_inclusive_alpha_equal_to_it_is_smoke() -> None:
    """``smoke_mask = alpha >= MASK_ALPHA_THRESHOLD``: a plume whose peak opacity *is* the
    threshold keeps exactly its saturated core (where alpha equals the peak) in the mask."""
    params = _smoke_params(0)
    params["smoke"]["opacity"] = MASK_ALPHA_THRESHOLD
    rendered = render_scene(params)
    peak = np.float32(MASK_ALPHA_THRESHOLD)
    assert rendered.smoke_alpha.max() == peak
    at_peak = rendered.smoke_alpha == peak
    assert at_peak.sum() > 1  # the saturated core, not a single pixel
    np.testing.assert_array_equal(rendered.smoke_mask, at_peak)


def test_pixels_are_rounded_and_clipped_to_the_8_bit_range() -> None:
    """A black sky renders 0-valued pixels and an over-bright one 255, nothing wraps around."""
    params = _smoke_params(1)
    params["sky"]["top"] = [0.0, 0.0, 0.0]
    dark = render_scene(params).image
    assert dark.min() == 0 and dark[0].mean() < 3  # the top row is black up to the noise
    params["sky"]["top"] = params["sky"]["horizon"] = [1.3, 1.3, 1.3]
    bright = render_scene(params).image
    assert bright.max() == 255
    assert (bright[0] >= 250).all()  # saturated, not wrapped around to dark values


# ------------------------------------------- the second sample's survivors (seed 15, 200 mutants)


def _clean_params() -> dict:
    """A clean 32 px scene with no chimney, sheds or distractors (layers are added by hand)."""
    config = SceneConfig(
        image_size=32, n_images=1, smoke_ratio=0.0, p_chimney_given_clean=0.0,
        n_distractors=(0, 0), seed=3,
    )
    params = copy.deepcopy(generate_scenes(config).params[0])
    assert params["smoke"] is None and params["chimney"] is None
    params["sheds"] = []
    return params


def _cloud(opacity: float) -> dict:
    puffs = [[13.0, 5.0, 1.8], [16.0, 5.0, 2.0], [19.0, 5.5, 1.8], [16.0, 4.0, 1.8]]
    return {"kind": "cloud", "center": [16.0, 5.0], "size": [8.0, 3.2], "puffs": puffs,
            "opacity": opacity, "color_name": "white", "color": [0.95, 0.95, 0.95]}


def _haze(opacity: float, horizon: float, height: float = 1.5) -> dict:
    return {"kind": "haze", "center": [16.0, horizon - 1.0], "size": [10.0, height],
            "opacity": opacity, "color_name": "grey", "color": [0.6, 0.6, 0.6]}


@pytest.mark.parametrize("kind", ["cloud", "haze"])
def test_the_distractor_mask_threshold_is_inclusive_too(kind: str) -> None:
    """``distractor_mask`` uses ``alpha >= MASK_ALPHA_THRESHOLD`` like the smoke mask: a cloud
    or haze bank whose opacity *is* the threshold keeps its saturated core (alpha equal to the
    threshold) in the mask; with ``>`` the mask would be empty."""
    params = _clean_params()
    layer = _cloud if kind == "cloud" else (lambda o: _haze(o, params["horizon"]))
    params["distractors"] = [layer(MASK_ALPHA_THRESHOLD)]
    faint = render_scene(params).distractor_mask
    params["distractors"] = [layer(0.5)]
    strong = render_scene(params).distractor_mask
    assert faint.sum() > 1  # the saturated core, not a single pixel
    assert (faint <= strong).all() and strong.sum() > faint.sum()


def test_blend_composites_the_whole_bounding_box_of_the_visible_alpha() -> None:
    """``_blend`` touches every pixel whose alpha is visible, also when the first visible row
    reaches columns no later row does, and when only one row is visible."""
    image = np.zeros((4, 6, 3), np.float32)
    alpha = np.zeros((4, 6), np.float32)
    alpha[1, 0] = alpha[2, 4] = 0.5
    _blend(image, alpha, (1.0, 0.5, 0.25))
    expected = np.zeros_like(image)
    expected[1, 0] = expected[2, 4] = [0.5, 0.25, 0.125]
    np.testing.assert_array_equal(image, expected)

    image = np.zeros((4, 6, 3), np.float32)
    alpha = np.zeros((4, 6), np.float32)
    alpha[3, 1:3] = 1.0
    _blend(image, alpha, (0.2, 0.4, 0.6))
    np.testing.assert_allclose(image[3, 1:3], [[0.2, 0.4, 0.6]] * 2)
    assert not image[:3].any() and not image[3, 3:].any() and not image[3, 0].any()


def test_a_haze_one_pixel_thin_is_drawn() -> None:
    """A layer visible in a single row (a very flat haze bank) is composited, not an error."""
    params = _clean_params()
    params["distractors"] = [_haze(0.65, params["horizon"], height=0.2)]
    row = int(params["horizon"] - 1.0)
    params["distractors"][0]["center"][1] = row + 0.5  # centred on a pixel row
    with_haze = render_scene(params)
    params["distractors"] = []
    without = render_scene(params)
    changed = (with_haze.image != without.image).any(axis=2)
    assert changed[row].sum() > 5 and np.flatnonzero(changed.any(axis=1)).tolist() == [row]


def test_the_sky_horizon_colour_is_clamped_to_one() -> None:
    """``horizon = min(colour * brightness, 1)``: clear and dusk skies have a 0.92 component,
    which a brightness above 1 / 0.92 pushes past 1 in about 3 % of scenes."""
    config = SceneConfig(image_size=32)
    horizons = [
        sample_scene_params(np.random.default_rng([0, i]), config, i % 2)["sky"]["horizon"]
        for i in range(400)
    ]
    assert max(max(h) for h in horizons) == 1.0
    assert sum(1.0 in h for h in horizons) >= 3  # the clamp is reached, not just not exceeded


def test_a_clean_scene_has_an_all_zero_float32_smoke_alpha() -> None:
    params = _clean_params()
    alpha = render_scene(params).smoke_alpha
    assert alpha.dtype == np.float32 and alpha.shape == (32, 32) and not alpha.any()


def test_generate_scenes_records_the_generator_version_and_config_in_meta() -> None:
    """Called in the test itself (not through a module fixture), so that mutation testing,
    which only runs the tests that call a function, runs it for ``generate_scenes``."""
    config = SceneConfig(image_size=32, n_images=2, seed=1)
    scenes = generate_scenes(config, name_prefix="x")
    assert scenes.meta == {"generator_version": GENERATOR_VERSION, "config": config.to_dict()}
    assert scenes.names == ["x_00000", "x_00001"]
