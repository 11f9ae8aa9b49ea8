"""The checks of course_lib.grading, called in-process on written-out answers.

Each check must pass a correct answer, written here independently of the
check (often on top of the torch function it is compared with), and must
name each known mistake when given an answer that makes it. Answers that
return objects which only pretend to be right must fail.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course_lib.grading as grading
from course_lib.grading import (
    adam_family,
    adaptive,
    backprop,
    batch_size,
    gradient_descent,
    learning_rate,
    loss,
    momentum,
    nesterov,
)
from course_lib.grading.compare import (
    assert_matches,
    call_learner,
    quiet_check,
    to_float,
    to_tensor,
)
from course_lib.grading.feedback import (
    GradingError,
    KnownMistakeError,
    LearnerCodeError,
    Mistake,
    WrongShapeError,
    WrongTypeError,
    WrongValueError,
    hint_for_error,
    shorten,
)


class AlwaysEqual:
    """An object that claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class LyingTensor(torch.Tensor):
    """A tensor whose comparisons always report equality."""

    def __eq__(self, other):
        return torch.ones_like(torch.Tensor.as_subclass(self, torch.Tensor)).bool()

    def __ne__(self, other):
        return torch.zeros_like(torch.Tensor.as_subclass(self, torch.Tensor)).bool()


# Correct answers ------------------------------------------------------------


def mse_loss(prediction, target):
    return F.mse_loss(prediction, target)


def mse_grad(prediction, target):
    leaf = prediction.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.mse_loss(leaf, target), leaf)
    return grad


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, target)


def linear_backward(x, w, b, grad_output):
    leaves = [t.clone().requires_grad_(True) for t in (x, w, b)]
    return torch.autograd.grad(leaves[0] @ leaves[1] + leaves[2], leaves, grad_output)


def mlp_backward(x, y, params):
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    hidden = torch.relu(x @ leaves["w1"] + leaves["b1"])
    value = F.mse_loss(hidden @ leaves["w2"] + leaves["b2"], y)
    return dict(zip(leaves, torch.autograd.grad(value, list(leaves.values()))))


def numerical_gradient(f, x, h):
    basis = torch.eye(x.numel(), dtype=x.dtype)
    return torch.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in basis])


def sgd_trajectory(grad_fn, x0, lr, steps, momentum=0.0):
    x, buffer, rows = x0.clone(), torch.zeros_like(x0), [x0.clone()]
    for _ in range(steps):
        buffer = momentum * buffer + grad_fn(x)
        x = x - lr * buffer
        rows.append(x)
    return torch.stack(rows)


def gradient_descent_answer(grad_fn, x0, lr, steps):
    return sgd_trajectory(grad_fn, x0, lr, steps)


def max_stable_lr(hessian):
    return 2 / torch.linalg.eigvalsh(hessian)[-1]


def fit(x, y, lr, steps, *, zero_grad=True, reduction="mean"):
    w = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    b = torch.zeros((), dtype=x.dtype, requires_grad=True)
    for _ in range(steps):
        F.mse_loss(x @ w + b, y, reduction=reduction).backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        if zero_grad:
            w.grad.zero_()
            b.grad.zero_()
    return w.detach(), b.detach()


def minibatches(n, size, generator):
    return list(torch.randperm(n, generator=generator).split(size))


def minibatch_gradient(w, x, y, indices):
    leaf = w.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.mse_loss(x[indices] @ leaf, y[indices]), leaf)
    return grad


def sgd_epoch(model, optimizer, x, y, batches, *, zero_grad=True):
    losses = []
    for batch in batches:
        if zero_grad:
            optimizer.zero_grad()
        value = F.mse_loss(model(x[batch]), y[batch])
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return losses


def step_lr(step, lr, step_size, gamma):
    return lr * gamma ** (step // step_size)


def cosine_lr(step, lr, total_steps, eta_min):
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * step / total_steps)) / 2


def warmup_cosine_lr(step, lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return lr * (1 + math.cos(math.pi * progress)) / 2


def momentum_step(param, grad, state, lr, momentum, *, nesterov=False, lr_inside=False):
    scaled = lr * grad if lr_inside else grad
    buffer = state.get("momentum_buffer")
    buffer = scaled.clone() if buffer is None else momentum * buffer + scaled
    state["momentum_buffer"] = buffer
    direction = scaled + momentum * buffer if nesterov else buffer
    return param - (direction if lr_inside else lr * direction)


def heavy_ball(grad_fn, x0, lr, momentum, steps):
    return sgd_trajectory(grad_fn, x0, lr, steps, momentum)


def optimal_momentum(hessian):
    values = torch.linalg.eigvalsh(hessian)
    root_l, root_m = float(values[-1]) ** 0.5, float(values[0]) ** 0.5
    return 4 / (root_l + root_m) ** 2, ((root_l - root_m) / (root_l + root_m)) ** 2


def lookahead_step(x, velocity, grad_fn, lr, momentum, *, at_x=False):
    point = x if at_x else x + momentum * velocity
    velocity = momentum * velocity - lr * grad_fn(point)
    return x + velocity, velocity


def adagrad_step(param, grad, state, lr, eps, *, eps_inside=False):
    state["sum"] = state["sum"] + grad**2
    if eps_inside:
        return param - lr * grad / torch.sqrt(state["sum"] + eps)
    return param - lr * grad / (torch.sqrt(state["sum"]) + eps)


def rmsprop_step(param, grad, state, lr, alpha, eps, *, swapped=False):
    keep = 1 - alpha if swapped else alpha
    state["square_avg"] = keep * state["square_avg"] + (1 - keep) * grad**2
    return param - lr * grad / (torch.sqrt(state["square_avg"]) + eps)


def adadelta_step(param, grad, state, lr, rho, eps, *, eps_outside=False):
    def root(value):
        return torch.sqrt(value) + eps if eps_outside else torch.sqrt(value + eps)

    state["square_avg"] = rho * state["square_avg"] + (1 - rho) * grad**2
    delta = root(state["acc_delta"]) / root(state["square_avg"]) * grad
    state["acc_delta"] = rho * state["acc_delta"] + (1 - rho) * delta**2
    return param - lr * delta


def adam_step(
    param,
    grad,
    state,
    lr,
    betas,
    eps,
    *,
    old_step=False,
    correct=True,
    eps_inside=False,
    store_corrected=False,
    increment=True,
    amsgrad=False,
    python_floats=False,
):
    beta1, beta2 = betas
    t = state["step"] if old_step else state["step"] + 1
    if increment:
        state["step"] += 1
    m = beta1 * state["exp_avg"] + (1 - beta1) * grad
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad**2
    if python_floats:
        correction1 = 1 - beta1**t
        step_size = lr / correction1  # ZeroDivisionError when t = 0
    m_hat = m / (1 - beta1**t) if correct else m
    v_hat = v / (1 - beta2**t) if correct else v
    if amsgrad:
        state["max_exp_avg_sq"] = torch.maximum(state["max_exp_avg_sq"], v)
        v_hat = state["max_exp_avg_sq"] / (1 - beta2**t)
    state["exp_avg"] = m_hat if store_corrected else m
    state["exp_avg_sq"] = v_hat if store_corrected else v
    denominator = torch.sqrt(v_hat + eps) if eps_inside else torch.sqrt(v_hat) + eps
    if python_floats:
        return param - step_size * m / denominator
    return param - lr * m_hat / denominator


def adamw_step(param, grad, state, lr, betas, eps, weight_decay, *, l2=False):
    if l2:
        return adam_step(param, grad + weight_decay * param, state, lr, betas, eps)
    decayed = param * (1 - lr * weight_decay)
    return adam_step(decayed, grad, state, lr, betas, eps)


def amsgrad_step(param, grad, state, lr, betas, eps, *, use_max=True):
    return adam_step(param, grad, state, lr, betas, eps, amsgrad=use_max)


# Check, answer, and the mistake it must name (None: must pass).
CASES = [
    (loss.check_mse_loss, mse_loss, None),
    (loss.check_mse_loss, lambda p, t: ((p - t) ** 2).sum(), "sum"),
    (loss.check_mse_loss, lambda p, t: (p - t).abs().mean(), "absolute"),
    (loss.check_mse_loss, lambda p, t: (p - t) ** 2, "per_element"),
    (loss.check_mse_loss, lambda p, t: ((p - t) ** 2).mean().sqrt(), "root"),
    (loss.check_mse_grad, mse_grad, None),
    (loss.check_mse_grad, lambda p, t: 2 * (p - t), "sum"),
    (loss.check_mse_grad, lambda p, t: 2 * (t - p) / p.numel(), "sign"),
    (loss.check_bce_with_logits, bce, None),
    (
        loss.check_bce_with_logits,
        lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="sum"),
        "sum",
    ),
    (
        loss.check_bce_with_logits,
        lambda z, y: F.binary_cross_entropy(torch.sigmoid(z), y),
        "unstable",
    ),
    (backprop.check_linear_backward, linear_backward, None),
    (
        backprop.check_linear_backward,
        lambda x, w, b, g: (g @ w.T, g.T @ x, g.sum(0)),
        "grad_w_transposed",
    ),
    (
        backprop.check_linear_backward,
        lambda x, w, b, g: (g @ w.T, x.T @ g, g.mean(0)),
        "grad_b_mean",
    ),
    (backprop.check_mlp_backward, mlp_backward, None),
    (backprop.check_numerical_gradient, numerical_gradient, None),
    (
        backprop.check_numerical_gradient,
        lambda f, x, h: torch.stack(
            [(f(x + h * e) - f(x)) / h for e in torch.eye(x.numel(), dtype=x.dtype)]
        ),
        "forward_difference",
    ),
    (gradient_descent.check_gradient_descent, gradient_descent_answer, None),
    (
        gradient_descent.check_gradient_descent,
        lambda g, x0, lr, n: gradient_descent_answer(g, x0, -lr, n),
        "ascent",
    ),
    (gradient_descent.check_max_stable_lr, max_stable_lr, None),
    (
        gradient_descent.check_max_stable_lr,
        lambda h: 2 / torch.linalg.eigvalsh(h)[0],
        "smallest",
    ),
    (
        gradient_descent.check_max_stable_lr,
        lambda h: 2 / h.diagonal().max(),
        "diagonal",
    ),
    (gradient_descent.check_fit_linear_regression, fit, None),
    (
        gradient_descent.check_fit_linear_regression,
        lambda x, y, lr, n: fit(x, y, lr, n, zero_grad=False),
        "zero_grad",
    ),
    (
        gradient_descent.check_fit_linear_regression,
        lambda x, y, lr, n: fit(x, y, lr, n, reduction="sum"),
        "sum",
    ),
    (batch_size.check_minibatches, minibatches, None),
    (
        batch_size.check_minibatch_gradient,
        minibatch_gradient,
        None,
    ),
    (
        batch_size.check_minibatch_gradient,
        lambda w, x, y, i: minibatch_gradient(w, x, y, torch.arange(len(x))),
        "full_batch",
    ),
    (batch_size.check_sgd_epoch, sgd_epoch, None),
    (
        batch_size.check_sgd_epoch,
        lambda *args: sgd_epoch(*args, zero_grad=False),
        "zero_grad",
    ),
    (learning_rate.check_step_lr, step_lr, None),
    (
        learning_rate.check_step_lr,
        lambda step, lr, step_size, gamma: lr * gamma ** ((step + 1) // step_size),
        "off_by_one",
    ),
    (learning_rate.check_cosine_lr, cosine_lr, None),
    (
        learning_rate.check_cosine_lr,
        lambda step, lr, total_steps, eta_min: (
            eta_min + (lr - eta_min) * (1 + math.cos(step / total_steps)) / 2
        ),
        "missing_pi",
    ),
    (
        learning_rate.check_cosine_lr,
        lambda step, lr, total_steps, eta_min: (
            eta_min + (lr - eta_min) * (1 - math.cos(math.pi * step / total_steps)) / 2
        ),
        "rising",
    ),
    (learning_rate.check_warmup_cosine_lr, warmup_cosine_lr, None),
    (
        learning_rate.check_warmup_cosine_lr,
        lambda step, lr, warmup_steps, total_steps: (
            warmup_cosine_lr(step, lr, warmup_steps, total_steps)
            if step >= warmup_steps
            else lr * step / warmup_steps
        ),
        "warmup_from_zero",
    ),
    (momentum.check_momentum_step, momentum_step, None),
    (
        momentum.check_momentum_step,
        lambda *a, **k: momentum_step(*a, **k, lr_inside=True),
        "lr_inside_buffer",
    ),
    (
        momentum.check_momentum_step,
        lambda *a, **k: momentum_step(*a, **k, nesterov=True),
        "nesterov",
    ),
    (momentum.check_heavy_ball, heavy_ball, None),
    (
        momentum.check_heavy_ball,
        lambda g, x0, lr, mu, n: sgd_trajectory(g, x0, lr, n),
        "no_momentum",
    ),
    (momentum.check_optimal_momentum, optimal_momentum, None),
    (
        momentum.check_optimal_momentum,
        lambda h: tuple(reversed(optimal_momentum(h))),
        "swapped",
    ),
    (
        nesterov.check_nesterov_step,
        lambda *a, **k: momentum_step(*a, **k, nesterov=True),
        None,
    ),
    (nesterov.check_nesterov_step, momentum_step, "heavy_ball"),
    (
        nesterov.check_nesterov_step,
        lambda *a, **k: momentum_step(*a, **k, nesterov=True, lr_inside=True),
        "lr_inside_buffer",
    ),
    (nesterov.check_lookahead_step, lookahead_step, None),
    (
        nesterov.check_lookahead_step,
        lambda *a: lookahead_step(*a, at_x=True),
        "gradient_at_x",
    ),
    (adaptive.check_adagrad_step, adagrad_step, None),
    (
        adaptive.check_adagrad_step,
        lambda *a, **k: adagrad_step(*a, **k, eps_inside=True),
        "eps_inside_sqrt",
    ),
    (adaptive.check_rmsprop_step, rmsprop_step, None),
    (
        adaptive.check_rmsprop_step,
        lambda *a, **k: rmsprop_step(*a, **k, swapped=True),
        "alpha_swapped",
    ),
    (adaptive.check_adadelta_step, adadelta_step, None),
    (
        adaptive.check_adadelta_step,
        lambda *a, **k: adadelta_step(*a, **k, eps_outside=True),
        "eps_outside_sqrt",
    ),
    (adam_family.check_adam_step, adam_step, None),
    (
        adam_family.check_adam_step,
        lambda *a, **k: adam_step(*a, **k, old_step=True),
        "step_before_increment",
    ),
    (
        adam_family.check_adam_step,
        lambda *a, **k: adam_step(*a, **k, python_floats=True, old_step=True),
        "zero_division",
    ),
    (
        adam_family.check_adam_step,
        lambda *a, **k: adam_step(*a, **k, correct=False),
        "no_bias_correction",
    ),
    (
        adam_family.check_adam_step,
        lambda *a, **k: adam_step(*a, **k, eps_inside=True),
        "eps_inside_sqrt",
    ),
    (
        adam_family.check_adam_step,
        lambda *a, **k: adam_step(*a, **k, store_corrected=True),
        "stored_corrected",
    ),
    (
        adam_family.check_adam_step,
        lambda *a, **k: adam_step(*a, **k, increment=False),
        "step_not_incremented",
    ),
    (adam_family.check_amsgrad_step, amsgrad_step, None),
    (
        adam_family.check_amsgrad_step,
        lambda *a, **k: amsgrad_step(*a, **k, use_max=False),
        "plain_adam",
    ),
    (adam_family.check_adamw_step, adamw_step, None),
    (
        adam_family.check_adamw_step,
        lambda *a, **k: adamw_step(*a, **k, l2=True),
        "l2_in_gradient",
    ),
    (
        adam_family.check_adamw_step,
        lambda param, grad, state, lr, betas, eps, weight_decay: adam_step(
            param, grad, state, lr, betas, eps
        ),
        "no_decay",
    ),
]


def case_id(case):
    check, _, mistake = case
    return f"{check.__name__}-{mistake or 'correct'}"


@pytest.mark.parametrize(
    "check, answer, mistake", CASES, ids=[case_id(c) for c in CASES]
)
def test_check_outcome(check, answer, mistake):
    if mistake is None:
        assert isinstance(check(answer), str)
        return
    with pytest.raises(KnownMistakeError) as raised:
        check(answer)
    assert raised.value.mistake.name == mistake


@pytest.mark.parametrize("check, answer, mistake", [c for c in CASES if c[2] is None])
def test_check_passes_other_seed(check, answer, mistake):
    assert isinstance(check(answer, seed=7), str)


def test_every_check_listed_in_package():
    listed = {name for name in grading.CHECKS}
    tested = {check.__name__ for check, _, _ in CASES}
    assert listed == tested


@pytest.mark.parametrize("name", sorted(grading.CHECKS))
def test_package_resolves_check(name):
    assert getattr(grading, name).__name__ == name


def test_package_unknown_attribute():
    with pytest.raises(AttributeError):
        grading.check_nothing  # noqa: B018


# Hostile or broken answers ---------------------------------------------------


def test_always_equal_return_rejected():
    with pytest.raises(WrongTypeError, match="AlwaysEqual"):
        loss.check_mse_loss(lambda p, t: AlwaysEqual())


def test_lying_tensor_compared_by_value():
    def lying(prediction, target):
        return torch.zeros(()).as_subclass(LyingTensor)

    with pytest.raises(WrongValueError):
        loss.check_mse_loss(lying)


def test_lying_tensor_with_right_values_passes():
    def lying(prediction, target):
        return F.mse_loss(prediction, target).as_subclass(LyingTensor)

    assert isinstance(loss.check_mse_loss(lying), str)


def test_none_return_rejected():
    with pytest.raises(WrongTypeError, match="None"):
        adaptive.check_adagrad_step(lambda *a, **k: None)


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        adam_family.check_adam_step(stub)


def test_learner_exception_wrapped_with_call():
    def broken(prediction, target):
        raise TypeError("unsupported operand")

    with pytest.raises(LearnerCodeError, match=r"mse_loss|broken\(<tensor of shape"):
        loss.check_mse_loss(broken)


def test_learner_exception_chained():
    def broken(x, y, params):
        raise KeyError("w1")

    with pytest.raises(LearnerCodeError) as raised:
        backprop.check_mlp_backward(broken)
    assert isinstance(raised.value.__cause__, KeyError)


def test_missing_state_key_named():
    def forgets(param, grad, state, lr, momentum):
        return param - lr * grad

    with pytest.raises(GradingError, match="momentum_buffer"):
        momentum.check_momentum_step(forgets)


def test_float32_result_named_in_message():
    def single(param, grad, state, lr, eps):
        return adagrad_step(param, grad, state, lr, eps).float() + 1e-3

    with pytest.raises(GradingError, match="float32"):
        adaptive.check_adagrad_step(single)


def test_wrong_shape_result_named():
    with pytest.raises(GradingError, match="shape"):
        adaptive.check_adagrad_step(lambda param, *a, **k: param.reshape(-1))


def test_missing_last_batch_named():
    def drops(n, size, generator):
        return [b for b in minibatches(n, size, generator) if len(b) == size]

    with pytest.raises(GradingError, match="drop_last"):
        batch_size.check_minibatches(drops)


def test_unshuffled_batches_named():
    with pytest.raises(GradingError, match="in order"):
        batch_size.check_minibatches(lambda n, s, g: list(torch.arange(n).split(s)))


def test_other_generator_named():
    with pytest.raises(GradingError, match="not by the given generator"):
        batch_size.check_minibatches(lambda n, s, g: list(torch.randperm(n).split(s)))


def test_trajectory_rows_alias_named():
    def aliasing(grad_fn, x0, lr, steps):
        x, rows = x0, [x0]
        for _ in range(steps):
            x -= lr * grad_fn(x)
            rows.append(x)
        return rows

    with pytest.raises(KnownMistakeError) as raised:
        gradient_descent.check_gradient_descent(aliasing)
    assert raised.value.mistake.name == "rows_alias"


def test_mlp_missing_key_named():
    def partial(x, y, params):
        gradients = mlp_backward(x, y, params)
        del gradients["b1"]
        return gradients

    with pytest.raises(GradingError, match="'b1'"):
        backprop.check_mlp_backward(partial)


def test_check_drops_warnings():
    def warns(prediction, target):
        warnings.warn("noisy answer", UserWarning, stacklevel=1)
        return F.mse_loss(prediction, target)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(loss.check_mse_loss(warns), str)


def test_quiet_check_keeps_name():
    def check_thing(function, *, seed=0):
        return "ok"

    assert quiet_check(check_thing).__name__ == "check_thing"


# Conversion and comparison ---------------------------------------------------


def test_to_tensor_accepts_numpy():
    value = to_tensor(np.array([1.0, 2.0], dtype=np.float32), what="x")
    assert value.dtype == torch.float64


def test_to_tensor_accepts_nested_list():
    assert to_tensor([[1, 2], [3, 4]], what="x").shape == (2, 2)


def test_to_tensor_rejects_ragged_list():
    with pytest.raises(WrongTypeError, match="regular array"):
        to_tensor([[1.0, 2.0], [3.0]], what="x")


def test_to_tensor_rejects_bool():
    with pytest.raises(WrongTypeError):
        to_tensor(True, what="x")


def test_to_tensor_rejects_complex_tensor():
    with pytest.raises(WrongTypeError, match="complex"):
        to_tensor(torch.ones(2, dtype=torch.complex64), what="x")


def test_to_tensor_copies():
    original = torch.ones(3, dtype=torch.float64)
    copied = to_tensor(original, what="x")
    copied += 1
    assert float(original.sum()) == 3.0


def test_to_tensor_unwraps_subclass():
    value = to_tensor(torch.ones(2).as_subclass(LyingTensor), what="x")
    assert type(value) is torch.Tensor


def test_to_tensor_detaches():
    value = to_tensor(torch.ones(2, requires_grad=True) * 2, what="x")
    assert not value.requires_grad


def test_to_float_rejects_vector():
    with pytest.raises(WrongShapeError):
        to_float(torch.ones(2), what="x")


def test_to_float_reads_one_element_tensor():
    assert to_float(torch.tensor([2.5]), what="x") == 2.5


def test_assert_matches_names_mistake():
    mistake = Mistake("doubled", "twice too large", torch.tensor([2.0]))
    with pytest.raises(KnownMistakeError, match="twice too large"):
        assert_matches(
            torch.tensor([2.0]),
            torch.tensor([1.0]),
            what="x",
            oracle="o",
            mistakes=[mistake],
        )


def test_assert_matches_reports_index_and_values():
    with pytest.raises(WrongValueError, match=r"index \(1,\).*got 5, expected 2"):
        assert_matches(
            torch.tensor([1.0, 5.0]), torch.tensor([1.0, 2.0]), what="x", oracle="o"
        )


def test_assert_matches_reports_nan():
    with pytest.raises(WrongValueError, match="NaN or infinite"):
        assert_matches(
            torch.tensor([math.nan]), torch.tensor([1.0]), what="x", oracle="o"
        )


def test_assert_matches_reports_shape():
    with pytest.raises(WrongShapeError, match=r"\(2,\)"):
        assert_matches(torch.ones(2), torch.ones(3), what="x", oracle="o")


def test_call_learner_rejects_non_callable():
    with pytest.raises(WrongTypeError, match="without calling it"):
        call_learner(3.0)


# Feedback ----------------------------------------------------------------


def test_hint_for_stub():
    assert "NotImplementedError" in hint_for_error("NotImplementedError", "")


def test_hint_for_name_error_names_the_name():
    hint = hint_for_error("NameError", "name 'adam_step' is not defined")
    assert "adam_step" in hint


def test_hint_for_timeout():
    assert "loop" in hint_for_error("CellTimeoutError", "ran past 30 s")


def test_hint_strips_colour_codes():
    assert "\x1b" not in hint_for_error("ValueError", "\x1b[0;31mbad\x1b[0m")


def test_hint_is_short():
    assert len(hint_for_error("ValueError", "x" * 10_000)) <= 600


def test_shorten_marks_cut():
    assert shorten("a" * 1000, 100).endswith("more chars]")
