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
    MASK_ALPHA_THRESHOLD,
    MIN_IMAGE_SIZE,
    MIN_OPACITY,
    SceneConfig,
    generate_scenes,
    render_scene,
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
