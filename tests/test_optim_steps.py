"""First and second steps of each optimizer, computed by hand.

The loss is f(x) = sum_i c_i * x_i^2 / 2 on a 2-vector, so the gradient is
g_i = c_i * x_i and every optimizer here acts coordinate by coordinate. Each
``expected_*`` function below writes the published update rule out in
Python floats for one coordinate and returns (x_1, x_2). The test compares
them with two steps of the course_lib class.

torch's default dtype is set to float64 for these tests, so that the step
counter and NAdam's product of momenta are float64, as the Python floats
are.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.optim import OPTIMIZERS

X0 = (1.0, -2.0)
CURVATURE = (1.0, 3.0)


@pytest.fixture(autouse=True)
def float64_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def expected_sgd_momentum(x0, c):
    lr, mu, tau, lam = 0.1, 0.9, 0.5, 0.1
    g1 = c * x0 + lam * x0
    b1 = g1  # the buffer starts at the first gradient, without dampening
    x1 = x0 - lr * b1
    g2 = c * x1 + lam * x1
    b2 = mu * b1 + (1 - tau) * g2
    x2 = x1 - lr * b2
    return x1, x2


def expected_sgd_nesterov(x0, c):
    lr, mu = 0.1, 0.9
    g1 = c * x0
    b1 = g1
    x1 = x0 - lr * (g1 + mu * b1)
    g2 = c * x1
    b2 = mu * b1 + g2
    x2 = x1 - lr * (g2 + mu * b2)
    return x1, x2


def expected_sgd_maximize(x0, c):
    lr = 0.1
    x1 = x0 + lr * c * x0
    x2 = x1 + lr * c * x1
    return x1, x2


def expected_adagrad(x0, c):
    lr, lr_decay, g0, eps = 0.5, 0.1, 0.2, 1e-10
    g1 = c * x0
    sum1 = g0 + g1**2
    x1 = x0 - lr / (1 + 0 * lr_decay) * g1 / (math.sqrt(sum1) + eps)
    g2 = c * x1
    sum2 = sum1 + g2**2
    x2 = x1 - lr / (1 + 1 * lr_decay) * g2 / (math.sqrt(sum2) + eps)
    return x1, x2


def expected_rmsprop(x0, c):
    lr, rho, eps, lam = 0.01, 0.9, 1e-8, 0.1
    g1 = c * x0 + lam * x0
    v1 = (1 - rho) * g1**2
    x1 = x0 - lr * g1 / (math.sqrt(v1) + eps)
    g2 = c * x1 + lam * x1
    v2 = rho * v1 + (1 - rho) * g2**2
    x2 = x1 - lr * g2 / (math.sqrt(v2) + eps)
    return x1, x2


def expected_rmsprop_centered_momentum(x0, c):
    lr, rho, eps, mu = 0.01, 0.9, 1e-8, 0.5
    g1 = c * x0
    v1 = (1 - rho) * g1**2
    m1 = (1 - rho) * g1
    b1 = g1 / (math.sqrt(v1 - m1**2) + eps)
    x1 = x0 - lr * b1
    g2 = c * x1
    v2 = rho * v1 + (1 - rho) * g2**2
    m2 = rho * m1 + (1 - rho) * g2
    b2 = mu * b1 + g2 / (math.sqrt(v2 - m2**2) + eps)
    x2 = x1 - lr * b2
    return x1, x2


def expected_adadelta(x0, c):
    lr, rho, eps = 0.5, 0.9, 1e-6
    g1 = c * x0
    v1 = (1 - rho) * g1**2
    d1 = math.sqrt(0.0 + eps) / math.sqrt(v1 + eps) * g1
    u1 = (1 - rho) * d1**2
    x1 = x0 - lr * d1
    g2 = c * x1
    v2 = rho * v1 + (1 - rho) * g2**2
    d2 = math.sqrt(u1 + eps) / math.sqrt(v2 + eps) * g2
    x2 = x1 - lr * d2
    return x1, x2


def expected_adam(x0, c):
    lr, beta1, beta2, eps = 0.1, 0.9, 0.999, 1e-8
    g1 = c * x0
    m1 = (1 - beta1) * g1
    v1 = (1 - beta2) * g1**2
    x1 = x0 - lr * (m1 / (1 - beta1)) / (math.sqrt(v1 / (1 - beta2)) + eps)
    g2 = c * x1
    m2 = beta1 * m1 + (1 - beta1) * g2
    v2 = beta2 * v1 + (1 - beta2) * g2**2
    x2 = x1 - lr * (m2 / (1 - beta1**2)) / (math.sqrt(v2 / (1 - beta2**2)) + eps)
    return x1, x2


AMSGRAD_OPTIONS = {"lr": 0.5, "betas": (0.9, 0.5), "amsgrad": True}


def amsgrad_moments(x0, c):
    # beta2 = 0.5 and lr = 0.5 make v_2 < v_1 in the first coordinate, so
    # the maximum keeps v_1 there and takes v_2 in the second.
    lr, beta1, beta2, eps = 0.5, 0.9, 0.5, 1e-8
    g1 = c * x0
    m1 = (1 - beta1) * g1
    v1 = (1 - beta2) * g1**2
    x1 = x0 - lr * (m1 / (1 - beta1)) / (math.sqrt(v1 / (1 - beta2)) + eps)
    g2 = c * x1
    m2 = beta1 * m1 + (1 - beta1) * g2
    v2 = beta2 * v1 + (1 - beta2) * g2**2
    return x1, m2, v1, v2


def expected_amsgrad(x0, c):
    lr, beta1, beta2, eps = 0.5, 0.9, 0.5, 1e-8
    x1, m2, v1, v2 = amsgrad_moments(x0, c)
    v_max = max(v1, v2)
    x2 = x1 - lr * (m2 / (1 - beta1**2)) / (math.sqrt(v_max / (1 - beta2**2)) + eps)
    return x1, x2


def expected_adam_l2(x0, c):
    lr, beta1, beta2, eps, lam = 0.1, 0.9, 0.999, 1e-8, 0.5
    g1 = c * x0 + lam * x0
    m1 = (1 - beta1) * g1
    v1 = (1 - beta2) * g1**2
    x1 = x0 - lr * (m1 / (1 - beta1)) / (math.sqrt(v1 / (1 - beta2)) + eps)
    g2 = c * x1 + lam * x1
    m2 = beta1 * m1 + (1 - beta1) * g2
    v2 = beta2 * v1 + (1 - beta2) * g2**2
    x2 = x1 - lr * (m2 / (1 - beta1**2)) / (math.sqrt(v2 / (1 - beta2**2)) + eps)
    return x1, x2


def expected_adamw(x0, c):
    lr, beta1, beta2, eps, lam = 0.1, 0.9, 0.999, 1e-8, 0.5
    g1 = c * x0  # the gradient at theta_0, before the decay
    m1 = (1 - beta1) * g1
    v1 = (1 - beta2) * g1**2
    x1 = x0 * (1 - lr * lam)
    x1 = x1 - lr * (m1 / (1 - beta1)) / (math.sqrt(v1 / (1 - beta2)) + eps)
    g2 = c * x1
    m2 = beta1 * m1 + (1 - beta1) * g2
    v2 = beta2 * v1 + (1 - beta2) * g2**2
    x2 = x1 * (1 - lr * lam)
    x2 = x2 - lr * (m2 / (1 - beta1**2)) / (math.sqrt(v2 / (1 - beta2**2)) + eps)
    return x1, x2


def expected_adamax(x0, c):
    lr, beta1, beta2, eps = 0.1, 0.9, 0.999, 1e-8
    g1 = c * x0
    m1 = (1 - beta1) * g1
    u1 = max(beta2 * 0.0, abs(g1) + eps)
    x1 = x0 - lr / (1 - beta1) * m1 / u1
    g2 = c * x1
    m2 = beta1 * m1 + (1 - beta1) * g2
    u2 = max(beta2 * u1, abs(g2) + eps)
    x2 = x1 - lr / (1 - beta1**2) * m2 / u2
    return x1, x2


def expected_nadam(x0, c):
    lr, beta1, beta2, eps, psi = 0.1, 0.9, 0.999, 1e-8, 4e-3

    def mu(t):
        return beta1 * (1 - 0.5 * 0.96 ** (t * psi))

    g1 = c * x0
    m1 = (1 - beta1) * g1
    v1 = (1 - beta2) * g1**2
    s1 = math.sqrt(v1 / (1 - beta2)) + eps
    x1 = (
        x0
        - lr * (1 - mu(1)) / (1 - mu(1)) * g1 / s1
        - lr * mu(2) / (1 - mu(1) * mu(2)) * m1 / s1
    )
    g2 = c * x1
    m2 = beta1 * m1 + (1 - beta1) * g2
    v2 = beta2 * v1 + (1 - beta2) * g2**2
    s2 = math.sqrt(v2 / (1 - beta2**2)) + eps
    x2 = (
        x1
        - lr * (1 - mu(2)) / (1 - mu(1) * mu(2)) * g2 / s2
        - lr * mu(3) / (1 - mu(1) * mu(2) * mu(3)) * m2 / s2
    )
    return x1, x2


def expected_radam(x0, c):
    # rho_1 = 1 and rho_2 = (1 + 3 beta2) / (1 + beta2) < 2 for any beta2, so
    # both steps are momentum steps on the bias-corrected m.
    lr, beta1 = 0.1, 0.9
    g1 = c * x0
    m1 = (1 - beta1) * g1
    x1 = x0 - lr * m1 / (1 - beta1)
    g2 = c * x1
    m2 = beta1 * m1 + (1 - beta1) * g2
    x2 = x1 - lr * m2 / (1 - beta1**2)
    return x1, x2


CASES = [
    (
        "SGD",
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1},
        expected_sgd_momentum,
    ),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, expected_sgd_nesterov),
    ("SGD", {"lr": 0.1, "maximize": True}, expected_sgd_maximize),
    (
        "Adagrad",
        {"lr": 0.5, "lr_decay": 0.1, "initial_accumulator_value": 0.2},
        expected_adagrad,
    ),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1}, expected_rmsprop),
    (
        "RMSprop",
        {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True},
        expected_rmsprop_centered_momentum,
    ),
    ("Adadelta", {"lr": 0.5}, expected_adadelta),
    ("Adam", {"lr": 0.1}, expected_adam),
    ("Adam", AMSGRAD_OPTIONS, expected_amsgrad),
    ("Adam", {"lr": 0.1, "weight_decay": 0.5}, expected_adam_l2),
    (
        "Adam",
        {"lr": 0.1, "weight_decay": 0.5, "decoupled_weight_decay": True},
        expected_adamw,
    ),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.5}, expected_adamw),
    ("Adamax", {"lr": 0.1}, expected_adamax),
    ("NAdam", {"lr": 0.1}, expected_nadam),
    ("RAdam", {"lr": 0.1}, expected_radam),
]


def two_steps(name, options):
    param = torch.tensor(X0, requires_grad=True)
    curvature = torch.tensor(CURVATURE)
    optimizer = OPTIMIZERS[name]([param], **options)
    iterates = []
    for _ in range(2):
        optimizer.zero_grad()
        (0.5 * curvature * param**2).sum().backward()
        optimizer.step()
        iterates.append(param.detach().clone())
    return iterates


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    CASES,
    ids=[f"{name}-{expected.__name__[9:]}" for name, _, expected in CASES],
)
def test_first_two_steps(name, options, expected):
    observed = two_steps(name, options)
    by_coordinate = [expected(x0, c) for x0, c in zip(X0, CURVATURE)]
    first = torch.tensor([x1 for x1, _ in by_coordinate])
    second = torch.tensor([x2 for _, x2 in by_coordinate])
    torch.testing.assert_close(observed[0], first, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(observed[1], second, rtol=1e-12, atol=1e-14)


def test_amsgrad_case_keeps_old_maximum():
    # The AMSGrad case checks the maximum only if it keeps v_1 in one
    # coordinate and takes v_2 in the other.
    kept = []
    for x0, c in zip(X0, CURVATURE):
        _, _, v1, v2 = amsgrad_moments(x0, c)
        kept.append(v1 > v2)
    assert kept == [True, False]


def expected_radam_rectified(steps, x0, c):
    # RAdam with beta2 = 0.9: rho_t first exceeds 5 at step 6.
    lr, beta1, beta2, eps = 0.1, 0.9, 0.9, 1e-8
    rho_inf = 2 / (1 - beta2) - 1
    x, m, v = x0, 0.0, 0.0
    branches = []
    for t in range(1, steps + 1):
        g = c * x
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r = math.sqrt(
                (rho_t - 4)
                * (rho_t - 2)
                * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            adaptive = math.sqrt(1 - beta2**t) / (math.sqrt(v) + eps)
            x = x - lr * m_hat * r * adaptive
            branches.append("rectified")
        else:
            x = x - lr * m_hat
            branches.append("momentum")
    return x, branches


def test_radam_rectified_step():
    param = torch.tensor(X0, requires_grad=True)
    curvature = torch.tensor(CURVATURE)
    optimizer = OPTIMIZERS["RAdam"]([param], lr=0.1, betas=(0.9, 0.9))
    for _ in range(7):
        optimizer.zero_grad()
        (0.5 * curvature * param**2).sum().backward()
        optimizer.step()
    results = [expected_radam_rectified(7, x0, c) for x0, c in zip(X0, CURVATURE)]
    expected = torch.tensor([x for x, _ in results])
    branches = results[0][1]
    assert branches == ["momentum"] * 5 + ["rectified"] * 2
    torch.testing.assert_close(param.detach(), expected, rtol=1e-12, atol=1e-14)


def test_update_function_by_hand():
    # The pure functions, called the way a notebook calls them.
    sgd = OPTIMIZERS["SGD"]
    param = torch.tensor([1.0, -2.0])
    hyperparameters = {
        "lr": 0.1,
        "momentum": 0.9,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
        "maximize": False,
    }
    state = sgd.init_state(param, **hyperparameters)
    sgd.update(param, torch.tensor([1.0, 1.0]), state, **hyperparameters)
    sgd.update(param, torch.tensor([2.0, -1.0]), state, **hyperparameters)
    # b_1 = (1, 1), x_1 = (0.9, -2.1); b_2 = 0.9 * b_1 + g_2 = (2.9, -0.1).
    torch.testing.assert_close(param, torch.tensor([0.9 - 0.29, -2.1 + 0.01]))
    torch.testing.assert_close(state["momentum_buffer"], torch.tensor([2.9, -0.1]))
    assert state["step"].item() == 2
