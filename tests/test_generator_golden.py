"""Golden values of the synthetic benchmark: fixed-seed fingerprints of two small generated sets.

Protects the benchmark's ground truth (images, labels, smoke / chimney / distractor masks and the
sampled scene parameters) against silent changes such as a different mask threshold, a different
rounding of the number of smoke images, or any change of the drawing code. The model and dataset
caches are keyed by ``GENERATOR_VERSION``, so a pixel change without a version bump would also
serve stale cached data: the golden hashes are therefore stored per ``GENERATOR_VERSION``.

Every ``SceneConfig`` field is given explicitly, so changing the library's defaults or the split
definitions (``make_split``) does not touch these fingerprints; only the generator does.

When a change of the pixels is intended: bump ``GENERATOR_VERSION`` in
``wsss_lib/data/synthetic/config.py`` and add the new hashes under the new version below (the
failure message prints them).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from wsss_lib.data.synthetic import GENERATOR_VERSION, SceneConfig, generate_scenes

CONFIGS = {
    # Plumes rise from chimney tops where there is a chimney; clouds and haze in every image.
    "anchored": SceneConfig(
        image_size=32,
        n_images=6,
        smoke_ratio=0.5,
        p_chimney_given_smoke=0.75,
        p_chimney_given_clean=0.5,
        anchor_smoke_to_chimney=True,
        opacity_range=(0.3, 0.9),
        n_distractors=(1, 3),
        seed=2024,
    ),
    # Ground vents and mid-air sources, faint plumes, 0.75 * 6 = 4.5 -> 4 smoke images.
    "unanchored": SceneConfig(
        image_size=32,
        n_images=6,
        smoke_ratio=0.75,
        p_chimney_given_smoke=0.5,
        p_chimney_given_clean=0.5,
        anchor_smoke_to_chimney=False,
        opacity_range=(0.15, 0.6),
        n_distractors=(0, 2),
        seed=7,
    ),
    # The library's default image size: finer noise octaves than at 32 px (the octave count
    # depends on the size), striped chimney, sheds, clouds and haze, one weak-wind plume.
    "default_size": SceneConfig(
        image_size=96,
        n_images=4,
        smoke_ratio=0.5,
        p_chimney_given_smoke=1.0,
        p_chimney_given_clean=0.0,
        anchor_smoke_to_chimney=True,
        opacity_range=(0.25, 0.9),
        n_distractors=(1, 3),
        seed=6,
    ),
}

PARTS = ("images", "labels", "smoke_masks", "chimney_masks", "distractor_masks", "params")

# GENERATOR_VERSION -> config name -> part -> SHA-256 of the part (see _fingerprint).
GOLDEN: dict[str, dict[str, dict[str, str]]] = {
    "1.0": {
        "anchored": {
            "images": "344e07abb5cacbe37c2f290a755ce8fa1075a593800c6a425642a5a5df58568f",
            "labels": "c8f8d4554c00ff52f97b87ddc453a726203ea491a1452d0ebeee466e93042bbd",
            "smoke_masks": "861dc1f21470cff1c2a80502381da53d4578c892268d458b0633a18831416310",
            "chimney_masks": "9f49adb56904ac30a07a6fda521cc08e0faa6ff7bf17dcc783dfc1f7becd403c",
            "distractor_masks": "0f0826163cb25f32d7cdcbe5a7b458ebff514e2f6335b5c499b8257a50606ca1",
            "params": "1fae131cb00dcac7eefbe6554092af37fa74952eb7dc5af362c2258d8ce17dae",
        },
        "unanchored": {
            "images": "e1d359246ff43ae413dbce0ce947c330fd05b77f08db69552acc18540710f4e7",
            "labels": "ae84334ddf41a380191f0d39e341f1c629e4cb79378e5af57e03d25bf9fe7e8d",
            "smoke_masks": "2a347f00ccd052cefe1b365c74654477f82d6003388e4e634616662fb33dc6ec",
            "chimney_masks": "6acacac3b925a218aa81644eb5e60eb11c6b0d35d3abfa4763f11333a812fea3",
            "distractor_masks": "5df890664cb14c64a9e864c0cf0bad592e63120d1a40ee27e29e7e2bea58e196",
            "params": "cb4fccac3f5176696e7a38fc65e01fd70b98d23cf13e1e8c64616aeb6a8cfb2e",
        },
        "default_size": {
            "images": "c567c8dac3c084e69edf605408b07a40019b41847d4ceb9f2c83af074bc3b61d",
            "labels": "f7c835770aa520d8fcbb7c19176d8eb3019a0d466e6c038da331cd66ccdca031",
            "smoke_masks": "ab719ce17cfb0b0da34c055c298bb4b92ce9e5313c5440fbb8236ad67ec68aa4",
            "chimney_masks": "68891a0c6dd7adaaf71bdfd47a7ecc6da4eadd3602e8caaf1885d7b859582df8",
            "distractor_masks": "be04c745781288a1d59b9e0382b89c45bef3ea4fb21d9671a9a82100571800bf",
            "params": "1ebe8d6feaeebb3348767994f4b2874fcbf43937e6b2ede293223aabb27ac08a",
        },
    },
}

FIX = (
    "bump GENERATOR_VERSION in wsss_lib/data/synthetic/config.py and update this golden hash "
    "(tests/test_generator_golden.py, GOLDEN[<new version>])"
)


def _digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and C-ordered bytes."""
    array = np.ascontiguousarray(array)
    header = f"{array.dtype.str}{array.shape}".encode()
    return hashlib.sha256(header + array.tobytes()).hexdigest()


def _fingerprint(config: SceneConfig) -> dict[str, str]:
    scenes = generate_scenes(config)
    fingerprint = {
        name: _digest(getattr(scenes, name))
        for name in ("images", "labels", "smoke_masks", "chimney_masks", "distractor_masks")
    }
    params = json.dumps(scenes.params, sort_keys=True).encode()
    fingerprint["params"] = hashlib.sha256(params).hexdigest()
    return fingerprint


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_set_matches_its_golden_fingerprint(name: str) -> None:
    got = _fingerprint(CONFIGS[name])
    if GENERATOR_VERSION not in GOLDEN:
        pytest.fail(
            f"No golden fingerprint for GENERATOR_VERSION={GENERATOR_VERSION!r}. Add "
            f"GOLDEN[{GENERATOR_VERSION!r}][{name!r}] = {json.dumps(got, indent=4)}"
        )
    expected = GOLDEN[GENERATOR_VERSION][name]
    changed = [part for part in PARTS if got[part] != expected[part]]
    assert not changed, (
        f"The synthetic generator now draws a different {name!r} set ({', '.join(changed)} "
        f"changed) under the same GENERATOR_VERSION={GENERATOR_VERSION!r}, so cached datasets "
        f"and models would be stale. If the change is intended, {FIX}. New fingerprint: "
        f"{json.dumps(got, indent=4)}"
    )


def test_golden_sets_cover_what_the_fingerprint_protects() -> None:
    """The fingerprinted sets contain every kind of layer, so a change to any of them shows."""
    anchored = generate_scenes(CONFIGS["anchored"])
    unanchored = generate_scenes(CONFIGS["unanchored"])
    assert anchored.labels.sum() == 3 and unanchored.labels.sum() == 4  # round(4.5) = 4
    for scenes in (anchored, unanchored):
        smoke_pixels = scenes.smoke_masks.reshape(6, -1).sum(axis=1)
        assert ((smoke_pixels > 0) == (scenes.labels == 1)).all()  # every smoke image, only them
        assert scenes.chimney_masks.any() and scenes.distractor_masks.any()
        masks = (scenes.smoke_masks, scenes.chimney_masks, scenes.distractor_masks)
        assert sum(m.astype(int) for m in masks).max() == 1  # disjoint
    kinds = {
        p["smoke"]["source_kind"]
        for scenes in (anchored, unanchored)
        for p in scenes.params
        if p["smoke"] is not None
    }
    assert kinds == {"chimney_top", "ground_vent", "mid_air"}
    default = generate_scenes(CONFIGS["default_size"])
    params = default.params
    assert any(p["chimney"]["stripes"] for p in params if p["chimney"] is not None)
    assert any(p["sheds"] for p in params)
    assert {d["kind"] for p in params for d in p["distractors"]} == {"cloud", "haze"}
    # the rarer weak-wind branch of the plume (|wind| < 0.4) is drawn at least once
    assert any(abs(p["smoke"]["wind"]) < 0.4 for p in params if p["smoke"] is not None)


def test_fingerprint_is_reproducible_and_sensitive() -> None:
    config = CONFIGS["anchored"]
    first = _fingerprint(config)
    assert _fingerprint(config) == first
    other_seed = _fingerprint(SceneConfig(**{**config.__dict__, "seed": config.seed + 1}))
    assert all(other_seed[part] != first[part] for part in ("images", "smoke_masks", "params"))
