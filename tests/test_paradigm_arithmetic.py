"""The loss of each training paradigm, recomputed by hand from the networks' outputs.

Protects the arithmetic behind notebooks 02 and 03 (the λ sweep): ``SingleNetwork`` is the BCE of
the image label; ``TeacherStudent`` is ``BCE(student) + λ·L_kt`` with a frozen teacher;
``CoTraining`` is ``BCE(student) + BCE(teacher) + λ·L_kt`` with gradients into both networks.
Every expectation below is written out from the model outputs (logits, feature maps, the 1x1
projection's weights) without calling the library's loss code, at λ values other than 0 and 1,
so a λ that is silently ignored, squared or clipped, or a dropped teacher term, fails here.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from wsss_lib.train import CoTraining, KTSpec, ModelSpec, SingleNetwork, TeacherStudent, build_model
from wsss_lib.utils import seed_everything

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32
# timm's tiny test architectures: a few hundred thousand parameters each.
CNN = ModelSpec("test_resnet", {"output_stride": 8})  # 4 x 4 grid at 32 px
CNN_COARSE = ModelSpec("test_resnet")  # 1 x 1 grid at 32 px: the KT loss has to resize
VIT = ModelSpec("test_vit", {"patch_size": 8})  # 4 x 4 grid at 32 px
LABELS = torch.tensor([1.0, 0.0, 1.0, 0.0])


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return {"image": torch.randn(4, 3, SIZE, SIZE, generator=generator), "label": LABELS.clone()}


def _bce_by_hand(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean of ``-[y log σ(z) + (1-y) log(1-σ(z))]``, written in its stable form."""
    z = logits.reshape(-1)
    return (z.clamp_min(0) - z * labels + torch.log1p(torch.exp(-z.abs()))).mean()


def _project_by_hand(kt_module: torch.nn.Module, features: torch.Tensor) -> torch.Tensor:
    """The KT loss's 1x1 projection as an explicit weighted sum over channels, plus the bias."""
    weight = kt_module.projection.weight[:, :, 0, 0]  # [Ct, Cs]
    bias = kt_module.projection.bias
    return torch.einsum("oc,bchw->bohw", weight, features) + bias[None, :, None, None]


def _to_grid(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """The student map on the teacher's grid (the default ``match_to="teacher"``)."""
    if student.shape[-2:] == teacher.shape[-2:]:
        return student
    return F.interpolate(student, size=teacher.shape[-2:], mode="bilinear", align_corners=False)


def _global_cosine_by_hand(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``mean_b 1 - <u_b, v_b> / (|u_b| |v_b|)`` with one vector of all values per image."""
    u, v = student.reshape(student.shape[0], -1), teacher.reshape(teacher.shape[0], -1)
    cosine = (u * v).sum(dim=1) / (u.norm(dim=1) * v.norm(dim=1))
    return (1.0 - cosine).mean()


def _channel_l2_by_hand(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Channel-level L2 of unit-RMS vectors: per channel, ``mean_i (u_i/rms(u) - v_i/rms(v))^2``."""
    b, c = student.shape[:2]
    u, v = student.reshape(b, c, -1), teacher.reshape(b, c, -1)
    u = u / u.square().mean(dim=-1, keepdim=True).sqrt()
    v = v / v.square().mean(dim=-1, keepdim=True).sqrt()
    return (u - v).square().mean()


def _grads(params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params]


def _assert_same_gradients(paradigm, loss_fn) -> None:
    """The gradient of ``paradigm.step``'s loss equals that of the hand-written loss."""
    params = paradigm.parameters()
    for p in params:
        p.grad = None
    paradigm.step(_batch()).loss.backward()
    from_step = _grads(params)
    for p in params:
        p.grad = None
    loss_fn().backward()
    by_hand = _grads(params)
    assert any(g.abs().sum() > 0 for g in by_hand)
    for a, b in zip(from_step, by_hand, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    for p in params:
        p.grad = None


# ---------------------------------------------------------------------------- single network


def test_single_network_loss_is_the_bce_of_the_logits_and_accuracy_counts_correct_images():
    seed_everything(0)
    paradigm = SingleNetwork(build_model(CNN, SIZE))
    paradigm.train()
    batch = _batch()
    out = paradigm.step(batch)
    logits = paradigm.modules["model"](batch["image"]).logits[:, 0]
    expected = _bce_by_hand(logits, LABELS)
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out.terms["bce"], expected, rtol=1e-5, atol=1e-7)
    n_correct = int(((logits > 0) == (LABELS > 0.5)).sum())
    assert out.ratios["acc"] == (float(n_correct), 4.0)


# ---------------------------------------------------------------------------- teacher-student


def _teacher_student(kt: KTSpec, student=VIT, teacher=CNN) -> TeacherStudent:
    seed_everything(0)
    paradigm = TeacherStudent(build_model(student, SIZE), build_model(teacher, SIZE), kt, SIZE, 0)
    paradigm.train()
    return paradigm


def _ts_by_hand(paradigm: TeacherStudent, lam: float):
    """``(loss, bce, kt)`` of a teacher-student step with a score-map target, global cosine."""
    images = _batch()["image"]
    out = paradigm.modules["student"](images)
    with torch.no_grad():
        target = paradigm.modules["teacher"](images).score_map
    bce = _bce_by_hand(out.logits, LABELS)
    projected = _to_grid(_project_by_hand(paradigm.modules["kt"], out.feature_map), target)
    kt = _global_cosine_by_hand(projected, target)
    return bce + lam * kt, bce, kt


@pytest.mark.parametrize("lam", [0.37, 1.6])
def test_teacher_student_loss_is_bce_plus_lambda_times_kt(lam: float):
    paradigm = _teacher_student(KTSpec(lam=lam))
    out = paradigm.step(_batch())
    loss, bce, kt = _ts_by_hand(paradigm, lam)
    assert kt.item() > 0.05 and bce.item() > 0.05  # both terms matter, so a dropped one shows
    torch.testing.assert_close(out.terms["bce"], bce, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.terms["kt"], kt, rtol=1e-5, atol=1e-6)  # logged unweighted
    torch.testing.assert_close(out.loss, loss, rtol=1e-5, atol=1e-6)
    # The λ really is λ: neither 1, nor ignored, nor applied twice.
    assert abs(out.loss.item() - (bce + kt).item()) > 1e-3
    assert abs(out.loss.item() - (bce + lam**2 * kt).item()) > 1e-3
    assert set(out.terms) == {"bce", "kt"}
    logits = paradigm.modules["student"](_batch()["image"]).logits[:, 0]
    assert out.ratios == {"acc": (float(((logits > 0) == (LABELS > 0.5)).sum()), 4.0)}


def test_teacher_student_gradients_are_those_of_bce_plus_lambda_kt_and_spare_the_teacher():
    lam = 0.37
    paradigm = _teacher_student(KTSpec(lam=lam))
    assert paradigm.trainable == ("student", "kt")
    _assert_same_gradients(paradigm, lambda: _ts_by_hand(paradigm, lam)[0])
    assert all(p.grad is None for p in paradigm.modules["teacher"].parameters())


def test_teacher_student_at_lambda_zero_logs_the_kt_term_but_trains_on_bce_only():
    paradigm = _teacher_student(KTSpec(lam=0.0))
    out = paradigm.step(_batch())
    _, bce, kt = _ts_by_hand(paradigm, 0.0)
    torch.testing.assert_close(out.loss, bce, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.terms["kt"], kt, rtol=1e-5, atol=1e-6)
    assert kt.item() > 0.05
    out.loss.backward()
    projection = paradigm.modules["kt"].projection
    assert projection.weight.grad is None or projection.weight.grad.abs().sum() == 0


def test_teacher_student_feature_target_with_resizing_channel_l2_by_hand():
    """ViT teacher -> coarse CNN student, aligned to the teacher's block 2 at channel level, L2."""
    lam = 0.37
    kt_spec = KTSpec(lam=lam, target="features", teacher_layer=2, level="channel", distance="l2")
    paradigm = _teacher_student(kt_spec, student=CNN_COARSE, teacher=VIT)
    out = paradigm.step(_batch())

    images = _batch()["image"]
    student_out = paradigm.modules["student"](images)
    with torch.no_grad():
        target = paradigm.modules["teacher"](images, layers=("blocks.2",)).features["blocks.2"]
    assert student_out.feature_map.shape[-2:] != target.shape[-2:]  # the resize is exercised
    projected = _to_grid(_project_by_hand(paradigm.modules["kt"], student_out.feature_map), target)
    kt = _channel_l2_by_hand(projected, target)
    bce = _bce_by_hand(student_out.logits, LABELS)
    assert kt.item() > 0.05
    torch.testing.assert_close(out.terms["kt"], kt, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out.loss, bce + lam * kt, rtol=1e-4, atol=1e-6)


def test_teacher_student_score_map_of_the_student_without_projection():
    lam = 0.37
    paradigm = _teacher_student(KTSpec(lam=lam, projection=False, student_map="score_map"))
    out = paradigm.step(_batch())
    images = _batch()["image"]
    student_out = paradigm.modules["student"](images)
    with torch.no_grad():
        target = paradigm.modules["teacher"](images).score_map
    kt = _global_cosine_by_hand(student_out.score_map, target)
    bce = _bce_by_hand(student_out.logits, LABELS)
    torch.testing.assert_close(out.loss, bce + lam * kt, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- co-training


def _co_training(lam: float) -> CoTraining:
    seed_everything(0)
    paradigm = CoTraining(build_model(VIT, SIZE), build_model(CNN, SIZE), KTSpec(lam=lam), SIZE, 0)
    paradigm.train()
    return paradigm


def _co_by_hand(paradigm: CoTraining, lam: float):
    """``(loss, bce_student, bce_teacher, kt)`` with the teacher's map *not* detached."""
    images = _batch()["image"]
    out_s = paradigm.modules["student"](images)
    out_t = paradigm.modules["teacher"](images)
    bce_s = _bce_by_hand(out_s.logits, LABELS)
    bce_t = _bce_by_hand(out_t.logits, LABELS)
    target = out_t.score_map
    projected = _to_grid(_project_by_hand(paradigm.modules["kt"], out_s.feature_map), target)
    kt = _global_cosine_by_hand(projected, target)
    return bce_s + bce_t + lam * kt, bce_s, bce_t, kt


@pytest.mark.parametrize("lam", [0.37, 1.3])
def test_co_training_loss_is_both_bces_plus_lambda_times_kt(lam: float):
    paradigm = _co_training(lam)
    out = paradigm.step(_batch())
    loss, bce_s, bce_t, kt = _co_by_hand(paradigm, lam)
    for value in (bce_s, bce_t, kt):
        assert value.item() > 0.05  # each term is large enough for its absence to show
    assert abs(bce_s.item() - bce_t.item()) > 1e-3  # the two BCEs cannot stand in for each other
    torch.testing.assert_close(out.terms["bce"], bce_s, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.terms["bce_teacher"], bce_t, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.terms["kt"], kt, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.loss, loss, rtol=1e-5, atol=1e-6)
    assert set(out.terms) == {"bce", "bce_teacher", "kt"}


def test_co_training_accuracies_count_each_network_separately():
    paradigm = _co_training(0.37)
    out = paradigm.step(_batch())
    images = _batch()["image"]
    for key, role in (("acc", "student"), ("acc_teacher", "teacher")):
        logits = paradigm.modules[role](images).logits[:, 0]
        n_correct = float(((logits > 0) == (LABELS > 0.5)).sum())
        assert out.ratios[key] == (n_correct, 4.0)


def test_co_training_gradients_reach_the_teacher_through_its_bce_and_the_kt_term():
    lam = 0.37
    paradigm = _co_training(lam)
    assert paradigm.trainable == ("student", "teacher", "kt")
    _assert_same_gradients(paradigm, lambda: _co_by_hand(paradigm, lam)[0])


def test_co_training_at_lambda_zero_is_the_sum_of_the_two_bces():
    paradigm = _co_training(0.0)
    out = paradigm.step(_batch())
    _, bce_s, bce_t, kt = _co_by_hand(paradigm, 0.0)
    torch.testing.assert_close(out.loss, bce_s + bce_t, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.terms["kt"], kt, rtol=1e-5, atol=1e-6)
    assert not math.isclose(out.loss.item(), (bce_s + bce_t + kt).item(), rel_tol=1e-4)


def test_co_training_feature_target_is_the_teachers_layer_not_detached():
    """CNN student aligned to the ViT teacher's block 2 tokens: value and gradients by hand."""
    lam = 0.37
    kt_spec = KTSpec(lam=lam, target="features", teacher_layer=2)
    seed_everything(0)
    paradigm = CoTraining(build_model(CNN, SIZE), build_model(VIT, SIZE), kt_spec, SIZE, 0)
    paradigm.train()
    assert paradigm.teacher_layer == "blocks.2"

    def by_hand():
        images = _batch()["image"]
        out_s = paradigm.modules["student"](images)
        out_t = paradigm.modules["teacher"](images, layers=("blocks.2",))
        target = out_t.features["blocks.2"]
        projected = _to_grid(_project_by_hand(paradigm.modules["kt"], out_s.feature_map), target)
        kt = _global_cosine_by_hand(projected, target)
        bce = _bce_by_hand(out_s.logits, LABELS) + _bce_by_hand(out_t.logits, LABELS)
        return bce + lam * kt, kt

    out = paradigm.step(_batch())
    loss, kt = by_hand()
    with torch.no_grad():
        width = paradigm.modules["teacher"](_batch()["image"][:1], layers=("blocks.2",)).features[
            "blocks.2"].shape[1]
    assert paradigm.modules["kt"].projection.out_channels == width > 1  # the block's width
    assert kt.item() > 0.05
    torch.testing.assert_close(out.terms["kt"], kt, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out.loss, loss, rtol=1e-4, atol=1e-6)
    _assert_same_gradients(paradigm, lambda: by_hand()[0])
