"""Named refinement steps (:mod:`wsss_lib.postprocess.registry`): the built-in names, a toy step
registered and built by name, and the errors of :func:`make_refinement_steps`.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from wsss_lib.postprocess import (
    REFINEMENT_STEPS,
    DenseCRF,
    PixelAdaptiveRefiner,
    make_refinement_steps,
    register_refinement_step,
    run_pipeline,
    unregister_refinement_step,
)


@pytest.fixture
def registry():
    """Restores the named steps after the test."""
    saved = dict(REFINEMENT_STEPS)
    yield
    REFINEMENT_STEPS.clear()
    REFINEMENT_STEPS.update(saved)


class _Squared:
    """A toy step: ``cam [B, H, W] -> cam ** 2``."""

    name = "squared"

    def __init__(self, power: float = 2.0) -> None:
        self.power = power

    def params(self) -> dict[str, Any]:
        return {"power": self.power}

    def __call__(self, cam: Tensor, images: Tensor) -> Tensor:
        return cam ** self.power


def test_par_and_crf_are_registered_by_their_modules() -> None:
    assert REFINEMENT_STEPS == {"par": PixelAdaptiveRefiner, "crf": DenseCRF}
    par, crf = make_refinement_steps(["par", "crf"])
    assert type(par) is PixelAdaptiveRefiner and type(crf) is DenseCRF
    assert par.params() == PixelAdaptiveRefiner().params()
    assert [type(s) for s in make_refinement_steps("crf")] == [DenseCRF]  # one name, not letters


def test_the_settings_module_and_the_registry_agree() -> None:
    from wsss_lib.pseudo_masks import settings

    assert dict(settings.REFINEMENT_STEPS) == REFINEMENT_STEPS


def test_a_registered_toy_step_is_made_by_name(registry) -> None:
    register_refinement_step("squared")(_Squared)
    steps = make_refinement_steps(["squared", "par"])
    assert isinstance(steps[0], _Squared) and isinstance(steps[1], PixelAdaptiveRefiner)
    cam = torch.rand(1, 6, 7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(run_pipeline(steps[:1], cam, torch.rand(1, 3, 6, 7)), cam ** 2)
    # Step objects pass through unchanged, named and unnamed mixed.
    toy = _Squared(3.0)
    assert make_refinement_steps([toy])[0] is toy
    assert unregister_refinement_step("squared") is _Squared
    assert "squared" not in REFINEMENT_STEPS


def test_unknown_names_and_non_steps_keep_their_messages() -> None:
    with pytest.raises(ValueError) as info:
        make_refinement_steps(["par", "sam"])
    assert str(info.value) == (
        "Unknown refinement step 'sam'; named steps are ['crf', 'par'] (AffinityNet, CLIP and SAM "
        "need fitting or local weights: pass the step object, e.g. "
        "ClipRefiner(weights_path=...))."
    )
    with pytest.raises(ValueError) as info:
        make_refinement_steps([42])
    assert str(info.value) == (
        "refine entries must be step names ['crf', 'par'] or post-processing step objects "
        "(wsss_lib.postprocess); got 42."
    )


def test_duplicate_and_bad_registrations_are_refused(registry) -> None:
    with pytest.raises(ValueError, match="'crf' is already registered"):
        register_refinement_step("crf")(_Squared)
    assert REFINEMENT_STEPS["crf"] is DenseCRF
    with pytest.raises(ValueError, match="non-empty string"):
        register_refinement_step("")
    with pytest.raises(ValueError, match="Unknown refinement step 'nope'"):
        unregister_refinement_step("nope")
