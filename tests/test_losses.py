"""course_lib.losses against torch.nn.functional in float64: values and gradients."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import losses

DTYPE = torch.float64
REDUCTIONS = ["mean", "sum", "none"]


def _generator(seed: int = 0) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def _randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(shape, generator=_generator(seed), dtype=DTYPE)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, generator=_generator(seed), dtype=DTYPE)


def _value_and_grads(fn, tensors, **kwargs):
    """Evaluate fn on fresh leaf copies; return the value and the leaves' grads."""
    leaves = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in tensors]
    value = fn(*leaves, **kwargs)
    # A random upstream gradient checks every element of a "none" reduction.
    upstream = _rand(*value.shape, seed=99) + 0.5
    (value * upstream).sum().backward()
    grads = [leaf.grad for leaf in leaves if leaf.is_floating_point()]
    return value.detach(), grads


def assert_matches_torch(ours, theirs, tensors, **kwargs) -> None:
    value, grads = _value_and_grads(ours, tensors, **kwargs)
    expected_value, expected_grads = _value_and_grads(theirs, tensors, **kwargs)
    torch.testing.assert_close(value, expected_value, equal_nan=True)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, equal_nan=True)


# -- regression losses ---------------------------------------------------------------

REGRESSION = [
    (losses.mse_loss, F.mse_loss),
    (losses.l1_loss, F.l1_loss),
    (losses.huber_loss, F.huber_loss),
]
REGRESSION_IDS = ["mse_loss", "l1_loss", "huber_loss"]


@pytest.mark.parametrize(("ours", "theirs"), REGRESSION, ids=REGRESSION_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (7,), (4, 3), (2, 3, 5)])
def test_regression_matches_torch(ours, theirs, reduction, shape) -> None:
    prediction = _randn(*shape, seed=1, scale=2.0)
    target = _randn(*shape, seed=2, scale=2.0)
    assert_matches_torch(ours, theirs, [prediction, target], reduction=reduction)


@pytest.mark.parametrize(("ours", "theirs"), REGRESSION, ids=REGRESSION_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_weight_matches_torch(ours, theirs, reduction) -> None:
    prediction = _randn(6, 2, seed=3, scale=2.0)
    target = _randn(6, 2, seed=4, scale=2.0)
    weight = _rand(6, 2, seed=5)
    assert_matches_torch(
        ours, theirs, [prediction, target], reduction=reduction, weight=weight
    )


@pytest.mark.parametrize("delta", [0.1, 1.0, 3.0])
def test_huber_delta_matches_torch(delta) -> None:
    prediction = _randn(50, seed=6, scale=3.0)
    target = _randn(50, seed=7, scale=3.0)
    assert_matches_torch(
        losses.huber_loss, F.huber_loss, [prediction, target], delta=delta
    )


def test_huber_error_at_delta() -> None:
    # Errors of exactly -delta, 0 and +delta, where the two pieces meet.
    prediction = torch.tensor([-2.0, 0.0, 2.0, 1.0], dtype=DTYPE)
    target = torch.tensor([0.0, 0.0, 0.0, 3.0], dtype=DTYPE)
    assert_matches_torch(
        losses.huber_loss, F.huber_loss, [prediction, target], delta=2.0
    )


def test_l1_gradient_at_zero_error() -> None:
    prediction = torch.tensor([1.0, 2.0, -3.0], dtype=DTYPE)
    target = torch.tensor([1.0, 0.0, -3.0], dtype=DTYPE)
    assert_matches_torch(losses.l1_loss, F.l1_loss, [prediction, target])


def test_regression_zero_for_perfect_prediction() -> None:
    target = _randn(10, seed=8)
    for ours, _ in REGRESSION:
        assert ours(target.clone(), target).item() == 0.0


# -- binary cross-entropy ---------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (9,), (4, 3)])
def test_bce_matches_torch(reduction, shape) -> None:
    probability = _rand(*shape, seed=9) * 0.98 + 0.01
    target = _rand(*shape, seed=10)
    assert_matches_torch(
        losses.binary_cross_entropy,
        F.binary_cross_entropy,
        [probability, target],
        reduction=reduction,
    )


@pytest.mark.parametrize("weight_shape", [(4, 3), (3,), (1, 3)])
def test_bce_weight_matches_torch(weight_shape) -> None:
    probability = _rand(4, 3, seed=11) * 0.98 + 0.01
    target = (_rand(4, 3, seed=12) > 0.5).to(DTYPE)
    weight = _rand(*weight_shape, seed=13)
    assert_matches_torch(
        losses.binary_cross_entropy,
        F.binary_cross_entropy,
        [probability, target],
        weight=weight,
    )


def test_bce_probability_zero_and_one() -> None:
    # Confidently wrong (p = 0 for t = 1 and p = 1 for t = 0) and confidently
    # right: torch's clamped logs give 100 and 0, its gradient +-1e12 and 0.
    probability = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=DTYPE)
    target = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=DTYPE)
    p = probability.clone().requires_grad_()
    loss = losses.binary_cross_entropy(p, target, reduction="none")
    loss.sum().backward()
    p_torch = probability.clone().requires_grad_()
    expected = F.binary_cross_entropy(p_torch, target, reduction="none")
    expected.sum().backward()
    torch.testing.assert_close(loss.detach(), expected.detach())
    torch.testing.assert_close(p.grad, p_torch.grad)
    assert torch.isfinite(p.grad).all()


def test_bce_target_gradient_finite() -> None:
    # torch returns +-inf here; the clamped logs give +-100 instead.
    probability = torch.tensor([0.0, 1.0], dtype=DTYPE)
    target = torch.tensor([0.5, 0.5], dtype=DTYPE, requires_grad=True)
    losses.binary_cross_entropy(probability, target, reduction="sum").backward()
    torch.testing.assert_close(target.grad, torch.tensor([100.0, -100.0], dtype=DTYPE))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_logits_matches_torch(reduction) -> None:
    logits = _randn(5, 4, seed=14, scale=4.0)
    target = _rand(5, 4, seed=15)
    assert_matches_torch(
        losses.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        [logits, target],
        reduction=reduction,
    )


def test_bce_logits_weights_match_torch() -> None:
    logits = _randn(5, 4, seed=16, scale=4.0)
    target = (_rand(5, 4, seed=17) > 0.5).to(DTYPE)
    weight = _rand(5, 1, seed=18)
    pos_weight = _rand(4, seed=19) * 3
    assert_matches_torch(
        losses.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        [logits, target],
        weight=weight,
        pos_weight=pos_weight,
    )


def test_bce_logits_extreme() -> None:
    logits = torch.tensor([1000.0, -1000.0, 1000.0, -1000.0, 0.0], dtype=DTYPE)
    target = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=DTYPE)
    pos_weight = torch.tensor(2.0, dtype=DTYPE)
    x = logits.clone().requires_grad_()
    loss = losses.binary_cross_entropy_with_logits(
        x, target, reduction="none", pos_weight=pos_weight
    )
    loss.sum().backward()
    assert torch.isfinite(loss).all()
    assert torch.isfinite(x.grad).all()
    assert_matches_torch(
        losses.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        [logits, target],
        reduction="none",
        pos_weight=pos_weight,
    )


# -- cross-entropy ---------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("input_shape", "target_shape"),
    [((5,), ()), ((6, 5), (6,)), ((3, 5, 4), (3, 4)), ((2, 5, 3, 2), (2, 3, 2))],
)
def test_cross_entropy_indices_match_torch(
    reduction, input_shape, target_shape
) -> None:
    logits = _randn(*input_shape, seed=20, scale=2.0)
    target = torch.randint(0, 5, target_shape, generator=_generator(21))
    assert_matches_torch(
        losses.cross_entropy, F.cross_entropy, [logits, target], reduction=reduction
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("use_weight", [False, True], ids=["unweighted", "weighted"])
def test_cross_entropy_options_match_torch(
    reduction, label_smoothing, use_weight
) -> None:
    logits = _randn(8, 4, 3, seed=22, scale=2.0)
    target = torch.randint(0, 4, (8, 3), generator=_generator(23))
    target[0, 0] = -100
    target[3, 2] = -100
    weight = _rand(4, seed=24) + 0.1 if use_weight else None
    assert_matches_torch(
        losses.cross_entropy,
        F.cross_entropy,
        [logits, target],
        weight=weight,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )


def test_cross_entropy_custom_ignore_index() -> None:
    logits = _randn(10, 4, seed=25)
    target = torch.randint(0, 4, (10,), generator=_generator(26))
    assert_matches_torch(
        losses.cross_entropy, F.cross_entropy, [logits, target], ignore_index=2
    )


def test_cross_entropy_all_ignored_is_nan() -> None:
    logits = _randn(3, 4, seed=27)
    target = torch.full((3,), -100)
    loss = losses.cross_entropy(logits, target)
    expected = F.cross_entropy(logits, target)
    assert math.isnan(expected.item())
    assert math.isnan(loss.item())


def test_cross_entropy_byte_target() -> None:
    logits = _randn(6, 3, seed=28)
    target = torch.tensor([0, 1, 2, 2, 1, 0], dtype=torch.uint8)
    assert_matches_torch(losses.cross_entropy, F.cross_entropy, [logits, target])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("input_shape", [(5,), (6, 5), (3, 5, 4)])
def test_cross_entropy_probabilities_match_torch(
    reduction, label_smoothing, input_shape
) -> None:
    logits = _randn(*input_shape, seed=29, scale=2.0)
    class_dim = 0 if len(input_shape) == 1 else 1
    target = torch.softmax(_randn(*input_shape, seed=30), dim=class_dim)
    weight = _rand(5, seed=31) + 0.1
    assert_matches_torch(
        losses.cross_entropy,
        F.cross_entropy,
        [logits, target],
        weight=weight,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )


def test_cross_entropy_extreme_logits() -> None:
    logits = torch.tensor(
        [[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, -1000.0]],
        dtype=DTYPE,
    )
    target = torch.tensor([1, 0, 2])
    x = logits.clone().requires_grad_()
    loss = losses.cross_entropy(x, target, reduction="none")
    loss.sum().backward()
    assert torch.isfinite(loss).all()
    assert torch.isfinite(x.grad).all()
    assert_matches_torch(
        losses.cross_entropy, F.cross_entropy, [logits, target], reduction="none"
    )


def test_cross_entropy_extreme_logits_smoothed() -> None:
    logits = torch.tensor([[1000.0, -1000.0, 0.0]], dtype=DTYPE)
    target = torch.tensor([0])
    assert_matches_torch(
        losses.cross_entropy,
        F.cross_entropy,
        [logits, target],
        label_smoothing=0.1,
    )


# -- stable building blocks ---------------------------------------------------------


def test_softplus_matches_torch() -> None:
    x = torch.tensor([-1000.0, -30.0, -1.0, 0.0, 1e-3, 2.0, 30.0, 1000.0], dtype=DTYPE)
    assert_matches_torch(losses.softplus, F.softplus, [x])


def test_softplus_gradient_at_zero() -> None:
    x = torch.zeros(1, dtype=DTYPE, requires_grad=True)
    losses.softplus(x).sum().backward()
    assert x.grad.item() == 0.5


def test_log_softmax_matches_torch() -> None:
    x = _randn(4, 6, seed=32, scale=300.0)
    for dim in (0, 1):
        assert_matches_torch(
            lambda t, dim=dim: losses.log_softmax(t, dim),
            lambda t, dim=dim: torch.log_softmax(t, dim),
            [x],
        )


# -- hypothesis-generated inputs ------------------------------------------------------

SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)
FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def _pairs(draw, elements=FINITE):
    shape = draw(SHAPES)
    first = draw(hnp.arrays(np.float64, shape, elements=elements))
    second = draw(hnp.arrays(np.float64, shape, elements=elements))
    return torch.from_numpy(first), torch.from_numpy(second)


@settings(max_examples=40, deadline=None)
@given(pair=_pairs(), reduction=st.sampled_from(REDUCTIONS))
def test_regression_random_inputs(pair, reduction) -> None:
    prediction, target = pair
    for ours, theirs in REGRESSION:
        assert_matches_torch(ours, theirs, [prediction, target], reduction=reduction)


@settings(max_examples=40, deadline=None)
@given(pair=_pairs(), reduction=st.sampled_from(REDUCTIONS))
def test_bce_logits_random_inputs(pair, reduction) -> None:
    logits, raw_target = pair
    target = torch.sigmoid(raw_target)
    assert_matches_torch(
        losses.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        [logits, target],
        reduction=reduction,
    )


@settings(max_examples=40, deadline=None)
@given(pair=_pairs(elements=st.floats(0.0, 1.0, width=64)))
def test_bce_random_inputs(pair) -> None:
    probability, target = pair
    # The gradient of the target is clamped here and not in torch, so only
    # the input's gradient is compared.
    p = probability.clone().requires_grad_()
    p_torch = probability.clone().requires_grad_()
    losses.binary_cross_entropy(p, target, reduction="sum").backward()
    F.binary_cross_entropy(p_torch, target, reduction="sum").backward()
    torch.testing.assert_close(p.grad, p_torch.grad)
    torch.testing.assert_close(
        losses.binary_cross_entropy(probability, target),
        F.binary_cross_entropy(probability, target),
    )


@settings(max_examples=40, deadline=None)
@given(
    logits=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5),
        elements=FINITE,
    ),
    seed=st.integers(0, 2**16),
    label_smoothing=st.sampled_from([0.0, 0.3]),
)
def test_cross_entropy_random_inputs(logits, seed, label_smoothing) -> None:
    input = torch.from_numpy(logits)
    num_classes = input.shape[1]
    target_shape = input.shape[:1] + input.shape[2:]
    target = torch.randint(0, num_classes, target_shape, generator=_generator(seed))
    assert_matches_torch(
        losses.cross_entropy,
        F.cross_entropy,
        [input, target],
        label_smoothing=label_smoothing,
    )


# -- errors ---------------------------------------------------------------------------

ELEMENTWISE = [
    losses.mse_loss,
    losses.l1_loss,
    losses.huber_loss,
    losses.binary_cross_entropy,
    losses.binary_cross_entropy_with_logits,
]


@pytest.mark.parametrize("loss", ELEMENTWISE, ids=lambda fn: fn.__name__)
def test_shape_mismatch_names_shapes(loss) -> None:
    prediction = torch.full((4, 1), 0.5, dtype=DTYPE)
    target = torch.full((4,), 0.5, dtype=DTYPE)
    with pytest.raises(ValueError, match=r"\(4, 1\)") as error:
        loss(prediction, target)
    assert "(4,)" in str(error.value)


@pytest.mark.parametrize("loss", ELEMENTWISE, ids=lambda fn: fn.__name__)
def test_unknown_reduction_rejected(loss) -> None:
    x = torch.full((3,), 0.5, dtype=DTYPE)
    with pytest.raises(ValueError, match="'avg'"):
        loss(x, x, reduction="avg")


@pytest.mark.parametrize("delta", [0.0, -1.0, float("nan")])
def test_huber_rejects_bad_delta(delta) -> None:
    x = torch.zeros(3, dtype=DTYPE)
    with pytest.raises(ValueError, match="delta must be positive"):
        losses.huber_loss(x, x, delta=delta)


def test_mse_rejects_weight_shape() -> None:
    x = torch.zeros(3, 2, dtype=DTYPE)
    with pytest.raises(ValueError, match=r"weight shape \(2,\)"):
        losses.mse_loss(x, x, weight=torch.ones(2, dtype=DTYPE))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bce_rejects_bad_probability(bad) -> None:
    probability = torch.tensor([0.5, bad], dtype=DTYPE)
    target = torch.tensor([1.0, 0.0], dtype=DTYPE)
    with pytest.raises(ValueError, match="input must be a probability"):
        losses.binary_cross_entropy(probability, target)


def test_bce_rejects_bad_target() -> None:
    probability = torch.tensor([0.5, 0.5], dtype=DTYPE)
    target = torch.tensor([1.0, 2.0], dtype=DTYPE)
    with pytest.raises(ValueError, match="target must be a probability"):
        losses.binary_cross_entropy(probability, target)


def test_bce_logits_rejects_pos_weight_shape() -> None:
    logits = torch.zeros(4, 3, dtype=DTYPE)
    with pytest.raises(ValueError, match=r"pos_weight shape \(4,\)"):
        losses.binary_cross_entropy_with_logits(
            logits, logits, pos_weight=torch.ones(4, dtype=DTYPE)
        )


@pytest.mark.parametrize("bad_index", [3, -1, 7])
def test_cross_entropy_index_out_of_range(bad_index) -> None:
    logits = torch.zeros(4, 3, dtype=DTYPE)
    target = torch.tensor([0, 1, bad_index, 2])
    with pytest.raises(ValueError, match=f"class index {bad_index},") as error:
        losses.cross_entropy(logits, target)
    assert "[0, 2]" in str(error.value)


def test_cross_entropy_target_shape_mismatch() -> None:
    logits = torch.zeros(4, 3, dtype=DTYPE)
    with pytest.raises(ValueError, match=r"\(4, 1\)") as error:
        losses.cross_entropy(logits, torch.zeros(4, 1, dtype=torch.long))
    assert "(4, 3)" in str(error.value)


def test_cross_entropy_float_target_shape() -> None:
    logits = torch.zeros(4, 3, dtype=DTYPE)
    with pytest.raises(ValueError, match=r"input shape \(4, 3\), got \(4,\)"):
        losses.cross_entropy(logits, torch.zeros(4, dtype=DTYPE))


def test_cross_entropy_rejects_weight_shape() -> None:
    logits = torch.zeros(4, 3, dtype=DTYPE)
    target = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"must be \(3,\)"):
        losses.cross_entropy(logits, target, weight=torch.ones(4, dtype=DTYPE))


@pytest.mark.parametrize("label_smoothing", [-0.1, 1.5])
def test_cross_entropy_rejects_smoothing(label_smoothing) -> None:
    logits = torch.zeros(4, 3, dtype=DTYPE)
    target = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        losses.cross_entropy(logits, target, label_smoothing=label_smoothing)


def test_cross_entropy_probabilities_reject_ignore_index() -> None:
    logits = torch.zeros(4, 3, dtype=DTYPE)
    target = torch.full((4, 3), 1 / 3, dtype=DTYPE)
    with pytest.raises(ValueError, match="ignore_index"):
        losses.cross_entropy(logits, target, ignore_index=1)


def test_cross_entropy_rejects_scalar_input() -> None:
    with pytest.raises(ValueError, match="class dimension"):
        losses.cross_entropy(torch.tensor(1.0, dtype=DTYPE), torch.tensor(0))


def test_cross_entropy_rejects_bool_target() -> None:
    logits = torch.zeros(2, 3, dtype=DTYPE)
    with pytest.raises(TypeError, match="integer tensor"):
        losses.cross_entropy(logits, torch.tensor([True, False]))
