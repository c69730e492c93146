"""Tests for the knowledge-transfer loss: hand-computed values, invariances, gradients, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss_lib.losses import DISTANCES, LEVELS, KnowledgeTransferLoss, kt_loss, validate_lambda

ALL_COMBOS = [(level, distance) for level in LEVELS for distance in DISTANCES]


def _worked_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two images of shape [C=2, H=1, W=2]; image 1 has identical student and teacher.

    Image 0, as [channel][location]: student [[1, 0], [0, 1]], teacher [[2, 1], [0, 1]].
    """
    student = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]], [[[3.0, -1.0]], [[0.5, 2.0]]]])
    teacher = student.clone()
    teacher[0] = torch.tensor([[[2.0, 1.0]], [[0.0, 1.0]]])
    return student, teacher


# Image 0 by hand (image 1 contributes 0, so the batch mean halves every value):
#   global : u=(1,0,0,1), v=(2,1,0,1): cos = 3 / (sqrt2 * sqrt6) = sqrt3/2
#   spatial: loc0 (1,0) vs (2,0): cos 1; loc1 (0,1) vs (1,1): cos 1/sqrt2
#   channel: ch0 (1,0) vs (2,1): cos 2/sqrt5; ch1 (0,1) vs (0,1): cos 1
HAND_COSINE = {
    "global": (1 - math.sqrt(3) / 2) / 2,
    "spatial": ((0 + (1 - 1 / math.sqrt(2))) / 2) / 2,
    "channel": (((1 - 2 / math.sqrt(5)) + 0) / 2) / 2,
}


@pytest.mark.parametrize("level", LEVELS)
def test_cosine_matches_hand_computed_values(level: str) -> None:
    student, teacher = _worked_pair()
    assert kt_loss(student, teacher, level, "cosine").item() == pytest.approx(HAND_COSINE[level])


@pytest.mark.parametrize("level", LEVELS)
def test_l2_on_unit_rms_vectors_is_twice_the_cosine_distance(level: str) -> None:
    student, teacher = _worked_pair()
    l2 = kt_loss(student, teacher, level, "l2").item()
    assert l2 == pytest.approx(2 * HAND_COSINE[level], rel=1e-5)


def test_l1_channel_level_with_normalisation_by_hand() -> None:
    student, teacher = _worked_pair()
    # Channel 0 of image 0: (1,0) has RMS sqrt(1/2), (2,1) has RMS sqrt(5/2).
    u = np.array([1.0, 0.0]) / math.sqrt(0.5)
    v = np.array([2.0, 1.0]) / math.sqrt(2.5)
    channel0 = np.abs(u - v).mean()
    expected = (channel0 + 0.0) / 2 / 2  # mean over 2 channels, then over 2 images
    assert kt_loss(student, teacher, "channel", "l1").item() == pytest.approx(expected)


@pytest.mark.parametrize("level", LEVELS)
def test_unnormalised_l1_l2_are_elementwise_means(level: str) -> None:
    student, teacher = _worked_pair()
    # Two of the 8 elements differ, each by 1 (student 1 vs 2, 0 vs 1) -> mean 2/8.
    for distance in ("l1", "l2"):
        value = kt_loss(student, teacher, level, distance, normalize=False).item()
        assert value == pytest.approx(2 / 8)


@pytest.mark.parametrize(("level", "distance"), ALL_COMBOS)
def test_identical_inputs_give_zero(level: str, distance: str) -> None:
    x = torch.randn(3, 4, 5, 6)
    assert kt_loss(x, x.clone(), level, distance).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("level", LEVELS)
def test_opposite_vectors_give_two_for_cosine(level: str) -> None:
    x = torch.randn(2, 3, 4, 4)
    assert kt_loss(x, -x, level, "cosine").item() == pytest.approx(2.0, abs=1e-5)


@pytest.mark.parametrize(("level", "distance"), ALL_COMBOS)
def test_normalised_distances_ignore_positive_scale(level: str, distance: str) -> None:
    student, teacher = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    base = kt_loss(student, teacher, level, distance).item()
    scaled = kt_loss(7.5 * student, 0.01 * teacher, level, distance).item()
    assert scaled == pytest.approx(base, rel=1e-4)
    assert base > 0.1  # random maps are far apart, so the comparison above is not 0 == 0


def test_unnormalised_l2_depends_on_scale() -> None:
    student, teacher = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    base = kt_loss(student, teacher, "global", "l2", normalize=False)
    scaled = kt_loss(10 * student, teacher, "global", "l2", normalize=False)
    assert scaled.item() > 5 * base.item()


def test_match_to_resizes_the_named_side_bilinearly() -> None:
    student, teacher = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 4, 4)
    to_teacher = kt_loss(student, teacher, match_to="teacher")
    to_student = kt_loss(student, teacher, match_to="student")
    down = F.interpolate(student, size=(4, 4), mode="bilinear", align_corners=False)
    up = F.interpolate(teacher, size=(8, 8), mode="bilinear", align_corners=False)
    assert to_teacher.item() == pytest.approx(kt_loss(down, teacher).item())
    assert to_student.item() == pytest.approx(kt_loss(student, up).item())
    assert to_teacher.item() != pytest.approx(to_student.item())


def test_module_projects_student_channels_to_teacher_channels() -> None:
    torch.manual_seed(0)
    loss_fn = KnowledgeTransferLoss(student_channels=6, teacher_channels=1)
    student, teacher = torch.randn(2, 6, 6, 6), torch.randn(2, 1, 3, 3)
    projected = loss_fn.projection(student)
    expected = kt_loss(projected, teacher)
    assert loss_fn(student, teacher).item() == pytest.approx(expected.item())


@pytest.mark.parametrize("detach_teacher", [True, False])
def test_gradients_reach_student_projection_and_teacher_only_when_not_detached(
    detach_teacher: bool,
) -> None:
    torch.manual_seed(0)
    loss_fn = KnowledgeTransferLoss(
        student_channels=4, teacher_channels=2, detach_teacher=detach_teacher
    )
    student = torch.randn(2, 4, 4, 4, requires_grad=True)
    teacher = torch.randn(2, 2, 2, 2, requires_grad=True)
    loss_fn(student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert loss_fn.projection.weight.grad.abs().sum() > 0
    if detach_teacher:
        assert teacher.grad is None
    else:
        assert teacher.grad is not None and teacher.grad.abs().sum() > 0


def test_training_the_projection_lowers_the_loss() -> None:
    torch.manual_seed(0)
    loss_fn = KnowledgeTransferLoss(student_channels=5, teacher_channels=1)
    student = torch.randn(4, 5, 4, 4)
    teacher = student[:, :2].sum(dim=1, keepdim=True)  # a linear function of the student
    optimiser = torch.optim.Adam(loss_fn.parameters(), lr=0.05)
    first = loss_fn(student, teacher).item()
    for _ in range(100):
        optimiser.zero_grad()
        loss = loss_fn(student, teacher)
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1 * first


def test_projection_false_requires_equal_channels() -> None:
    loss_fn = KnowledgeTransferLoss(projection=False)
    with pytest.raises(ValueError, match=r"student 3, teacher 1.*projection=True"):
        loss_fn(torch.randn(1, 3, 2, 2), torch.randn(1, 1, 2, 2))
    assert loss_fn(torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2)).ndim == 0


def test_projection_true_needs_channel_counts() -> None:
    with pytest.raises(ValueError, match="student_channels"):
        KnowledgeTransferLoss()
    loss_fn = KnowledgeTransferLoss(student_channels=3, teacher_channels=1)
    with pytest.raises(ValueError, match="student_channels=3"):
        loss_fn(torch.randn(1, 4, 2, 2), torch.randn(1, 1, 2, 2))


def test_input_shape_errors() -> None:
    loss_fn = KnowledgeTransferLoss(projection=False)
    with pytest.raises(ValueError, match=r"student has 2 images, teacher has 3"):
        loss_fn(torch.randn(2, 1, 2, 2), torch.randn(3, 1, 2, 2))
    with pytest.raises(ValueError, match=r"student must be a 4D map"):
        loss_fn(torch.randn(2, 4, 3), torch.randn(2, 1, 2, 2))
    with pytest.raises(ValueError, match=r"teacher must be a 4D map"):
        loss_fn(torch.randn(2, 1, 2, 2), torch.randn(2, 4))


def test_unknown_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="level must be one of"):
        KnowledgeTransferLoss(level="pixel", projection=False)
    with pytest.raises(ValueError, match="distance must be one of"):
        kt_loss(torch.randn(1, 1, 2, 2), torch.randn(1, 1, 2, 2), distance="kl")
    with pytest.raises(ValueError, match="match_to must be one of"):
        KnowledgeTransferLoss(match_to="both", projection=False)


@pytest.mark.parametrize("good", [0, 1, 0.5, np.float32(2.0)])
def test_validate_lambda_accepts_finite_non_negative_reals(good: float) -> None:
    assert validate_lambda(good) == float(good)
    assert isinstance(validate_lambda(good), float)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "1.0", None])
def test_validate_lambda_rejects_bad_values_with_a_fix(bad: object) -> None:
    with pytest.raises(ValueError, match="lam=1.0"):
        validate_lambda(bad)


# --- the module forwards every setting to kt_loss ----------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "student_size"),
    [
        ({"distance": "l1"}, 4),
        ({"distance": "l2", "normalize": False}, 4),
        ({"distance": "l1", "level": "spatial", "normalize": False}, 4),
        ({"match_to": "student"}, 8),
        ({"distance": "l2", "level": "channel", "match_to": "student"}, 8),
    ],
)
def test_module_forwards_level_distance_normalize_and_match_to(kwargs: dict, student_size: int):
    loss_fn = KnowledgeTransferLoss(projection=False, **kwargs)
    gen = torch.Generator().manual_seed(4)
    student = torch.randn(2, 3, student_size, student_size, generator=gen)
    teacher = 5.0 * torch.randn(2, 3, 4, 4, generator=gen)  # another scale than the student
    expected = kt_loss(
        student,
        teacher,
        kwargs.get("level", "global"),
        kwargs.get("distance", "cosine"),
        normalize=kwargs.get("normalize", True),
        match_to=kwargs.get("match_to", "teacher"),
    )
    assert loss_fn(student, teacher).item() == pytest.approx(expected.item(), rel=1e-6)
    # ... and the value differs from what the default of that setting would give.
    defaults = kt_loss(student, teacher)
    assert loss_fn(student, teacher).item() != pytest.approx(defaults.item(), rel=1e-3)


def test_module_defaults_are_global_cosine_normalised_detached_teacher_grid() -> None:
    loss_fn = KnowledgeTransferLoss(projection=False)
    assert (loss_fn.level, loss_fn.distance, loss_fn.match_to) == ("global", "cosine", "teacher")
    assert loss_fn.detach_teacher is True and loss_fn.normalize is True
    l2 = KnowledgeTransferLoss(distance="l2", projection=False)
    student = torch.randn(2, 3, 4, 4, requires_grad=True)
    teacher = torch.randn(2, 3, 4, 4, requires_grad=True)
    # normalize=True by default: unit-RMS L2 is twice the cosine distance.
    assert l2(student, teacher).item() == pytest.approx(2 * loss_fn(student, teacher).item(),
                                                       rel=1e-5)
    loss_fn(student, teacher).backward()
    assert teacher.grad is None  # detached by default (a frozen teacher)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "pixel"}, "level must be one of"),
        ({"distance": "kl"}, "distance must be one of"),
        ({"match_to": "both"}, "match_to must be one of"),
    ],
)
def test_kt_loss_and_module_name_the_bad_option(kwargs: dict, message: str) -> None:
    x = torch.randn(1, 1, 2, 2)
    with pytest.raises(ValueError, match=message):
        kt_loss(x, x, **kwargs)
    with pytest.raises(ValueError, match=message):
        KnowledgeTransferLoss(projection=False, **kwargs)


@pytest.mark.parametrize("bad", [None, 0, True, 2.0])
def test_projection_names_the_missing_channel_count(bad: object) -> None:
    with pytest.raises(ValueError, match="needs teacher_channels as a positive int"):
        KnowledgeTransferLoss(student_channels=4, teacher_channels=bad)
    with pytest.raises(ValueError, match="needs student_channels as a positive int"):
        KnowledgeTransferLoss(student_channels=bad, teacher_channels=1)
