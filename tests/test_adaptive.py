"""Effective step sizes, Adam without bias correction, AMSGrad's online problem.

``torch.optim`` is the oracle: its optimizers take the steps, and the step
sizes read from their state must reproduce those steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.testing import assert_close

from course_lib.adaptive import (
    AdamWithoutBiasCorrection,
    OnlineProblem,
    critical_beta2,
    drift_per_period,
    effective_step_size,
    run_online,
    trace_effective_steps,
)
from course_lib.landscapes import get_surface
from course_lib.trajectories import run


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run torch on one thread: these tensors are tiny, and on a busy
    machine a second thread only waits for a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


BOWL = get_surface("quadratic", condition_number=100.0, angle=0.3)

# Optimizer, hyperparameters: the cases whose steps are checked.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.5, "lr_decay": 0.05, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True}),
    ("Adadelta", {"lr": 1.0}),
    ("Adadelta", {"lr": 3.0, "rho": 0.5}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "amsgrad": True}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.05}),
    ("NAdam", {"lr": 0.05}),
    ("RAdam", {"lr": 0.05}),
]


def direction(name: str, settings: dict[str, Any], state: dict, grad: torch.Tensor):
    """Return what the effective step multiplies, from torch's own state."""
    beta1 = settings.get("betas", (0.9, 0.999))[0]
    if name in ("SGD", "Adagrad", "RMSprop", "Adadelta"):
        return grad
    step = float(state["step"])
    if name in ("Adam", "AdamW", "Adamax", "RAdam"):
        return state["exp_avg"] / (1 - beta1**step)
    # NAdam: the bias-corrected gradient term plus the look-ahead term.
    psi = 4e-3
    mu = beta1 * (1 - 0.5 * 0.96 ** (step * psi))
    mu_next = beta1 * (1 - 0.5 * 0.96 ** ((step + 1) * psi))
    product = float(state["mu_product"])
    return (1 - mu) / (1 - product) * grad + mu_next / (1 - product * mu_next) * state[
        "exp_avg"
    ]


@pytest.mark.parametrize(("name", "settings"), CASES, ids=lambda v: str(v))
def test_step_size_reproduces_torch_step(name: str, settings: dict[str, Any]) -> None:
    param = torch.nn.Parameter(torch.tensor([-2.5, 2.0], dtype=torch.float64))
    optimizer = getattr(torch.optim, name)([param], **settings)
    decay = settings.get("weight_decay", 0.0) if name == "AdamW" else 0.0
    for _ in range(12):
        grad = BOWL.grad(param.detach())
        param.grad = grad.clone()
        state = optimizer.state[param]
        before = {k: v.clone() for k, v in state.items() if torch.is_tensor(v)}
        old = param.detach().clone()
        optimizer.step()
        size = effective_step_size(
            name, param.detach(), state, previous_state=before, **settings
        )
        # AdamW decays the weights before its Adam step.
        taken = old * (1 - settings["lr"] * decay) - param.detach()
        assert_close(size * direction(name, settings, state, grad), taken)


def test_step_size_batched_matches_each_row() -> None:
    lrs = torch.tensor([0.01, 0.05, 0.2], dtype=torch.float64)
    beta2s = torch.tensor([0.9, 0.99, 0.999], dtype=torch.float64)
    trace = trace_effective_steps(
        "Adam",
        BOWL,
        torch.tensor([[-2.5, 2.0], [1.0, 1.0], [2.0, -1.0]], dtype=torch.float64),
        8,
        lr=lrs,
        betas=(0.9, beta2s),
    )
    for row in range(3):
        alone = trace_effective_steps(
            "Adam",
            BOWL,
            trace.positions[0, row],
            8,
            lr=float(lrs[row]),
            betas=(0.9, float(beta2s[row])),
        )
        assert_close(trace.step_sizes[:, row], alone.step_sizes)


def test_adadelta_needs_previous_state() -> None:
    trace = trace_effective_steps("Adadelta", BOWL, (-2.5, 2.0), 2)
    state = {
        "step": torch.tensor(2.0),
        "square_avg": torch.ones(2, dtype=torch.float64),
        "acc_delta": torch.ones(2, dtype=torch.float64),
    }
    with pytest.raises(ValueError, match="previous_state"):
        effective_step_size("Adadelta", trace.positions[-1], state, previous_state={})


def test_step_size_rejects_unknown_names() -> None:
    state = {"step": torch.tensor(1.0), "sum": torch.ones(2)}
    with pytest.raises(KeyError, match="unknown optimizer"):
        effective_step_size("Adafactor", torch.zeros(2), state)
    with pytest.raises(TypeError, match="no hyperparameter 'momentum'"):
        effective_step_size("Adagrad", torch.zeros(2), state, momentum=0.9)


def test_step_size_needs_a_step() -> None:
    with pytest.raises(ValueError, match="no step taken"):
        effective_step_size("Adam", torch.zeros(2), {})


def test_adagrad_first_step_is_lr_per_coordinate() -> None:
    # G_1 = g_1^2, so the first step is lr * g / |g| in every coordinate,
    # whatever the coordinate's gradient scale (eps aside).
    trace = trace_effective_steps("Adagrad", BOWL, (-2.5, 2.0), 1, lr=0.3)
    moved = (trace.positions[1] - trace.positions[0]).abs()
    assert_close(moved, torch.full((2,), 0.3, dtype=torch.float64))


def test_adagrad_steps_never_grow() -> None:
    trace = trace_effective_steps("Adagrad", BOWL, (-2.5, 2.0), 200, lr=0.5)
    growth = trace.step_sizes[1:] - trace.step_sizes[:-1]
    assert bool((growth <= 0).all())


def test_trace_positions_match_torch() -> None:
    trace = trace_effective_steps("RMSprop", BOWL, (-2.5, 2.0), 30, lr=0.02)
    param = torch.nn.Parameter(torch.tensor([-2.5, 2.0], dtype=torch.float64))
    optimizer = torch.optim.RMSprop([param], lr=0.02)
    for t in range(30):
        param.grad = BOWL.grad(param.detach())
        optimizer.step()
        assert_close(trace.positions[t + 1], param.detach())


def test_trace_accepts_gradient_function() -> None:
    trace = trace_effective_steps(
        "SGD", lambda t, x: torch.full_like(x, float(t)), torch.zeros(1), 3, lr=0.1
    )
    # x_3 = -0.1 * (1 + 2 + 3).
    assert_close(trace.positions[-1], torch.tensor([-0.6]))
    assert_close(trace.gradients[:, 0], torch.tensor([1.0, 2.0, 3.0]))


# -- Adam without bias correction ----------------------------------------------


def uncorrected_adam(
    grads: list[torch.Tensor],
    start: torch.Tensor,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    amsgrad: bool = False,
) -> list[torch.Tensor]:
    """Kingma and Ba's Algorithm 1 without its two bias-correction lines."""
    x = start.clone()
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    v_max = torch.zeros_like(x)
    points = []
    for g in grads:
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        v_max = torch.maximum(v_max, v)
        x = x - lr * m / ((v_max if amsgrad else v).sqrt() + eps)
        points.append(x.clone())
    return points


@pytest.mark.parametrize("amsgrad", [False, True])
def test_uncorrected_adam_matches_formula(amsgrad: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    grads = list(torch.randn(15, 3, generator=generator, dtype=torch.float64))
    start = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    expected = uncorrected_adam(grads, start, 0.01, (0.8, 0.99), 1e-6, amsgrad)
    param = torch.nn.Parameter(start.clone())
    optimizer = AdamWithoutBiasCorrection(
        [param], lr=0.01, betas=(0.8, 0.99), eps=1e-6, amsgrad=amsgrad
    )
    for g, point in zip(grads, expected):
        param.grad = g.clone()
        optimizer.step()
        assert_close(param.detach(), point)


def test_uncorrected_adam_is_rescaled_torch_adam() -> None:
    # torch.optim.Adam with step t's lr * (1 - beta1^t) / sqrt(1 - beta2^t)
    # and eps / sqrt(1 - beta2^t) takes the uncorrected steps.
    betas = (0.9, 0.999)
    mine = torch.nn.Parameter(torch.tensor([-2.5, 2.0], dtype=torch.float64))
    theirs = torch.nn.Parameter(mine.detach().clone())
    ours = AdamWithoutBiasCorrection([mine], lr=0.01, weight_decay=0.05)
    oracle = torch.optim.Adam([theirs], lr=0.01, weight_decay=0.05)
    for t in range(1, 21):
        scale = math.sqrt(1 - betas[1] ** t)
        oracle.param_groups[0]["lr"] = 0.01 * (1 - betas[0] ** t) / scale
        oracle.param_groups[0]["eps"] = 1e-8 / scale
        mine.grad = BOWL.grad(mine.detach())
        theirs.grad = BOWL.grad(theirs.detach())
        ours.step()
        oracle.step()
        assert_close(mine.detach(), theirs.detach())


def test_uncorrected_adam_decoupled_decay_uses_lr() -> None:
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    optimizer = AdamWithoutBiasCorrection(
        [param], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True
    )
    param.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    optimizer.step()
    # theta <- theta * (1 - lr * lambda), then lr * m_1 / (sqrt(v_1) + eps)
    # with m_1 = 0.1 g and sqrt(v_1) = sqrt(0.001) |g|.
    decayed = torch.tensor([1.0, -2.0], dtype=torch.float64) * (1 - 0.1 * 0.5)
    grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    step = 0.1 * 0.1 * grad / (math.sqrt(0.001) * grad.abs() + 1e-8)
    assert_close(param.detach(), decayed - step)


def test_uncorrected_first_step_size() -> None:
    surface = get_surface("quadratic", condition_number=1.0)
    corrected = run(surface, "Adam", (2.0, 1.0), 1, lr=0.01)
    uncorrected = run(surface, AdamWithoutBiasCorrection, (2.0, 1.0), 1, lr=0.01)
    moved = (corrected.positions[1] - corrected.positions[0]).abs()
    moved_without = (uncorrected.positions[1] - uncorrected.positions[0]).abs()
    assert_close(moved, torch.full_like(moved, 0.01))
    # lr * (1 - beta1) / sqrt(1 - beta2) = 0.01 * 0.1 / sqrt(0.001).
    assert_close(moved_without, torch.full_like(moved, 0.01 * 0.1 / math.sqrt(0.001)))


# -- the online problem ---------------------------------------------------------------


def test_online_problem_slopes() -> None:
    problem = OnlineProblem(large=3.0, small=1.0, period=3)
    assert problem.slopes(6).tolist() == [3.0, -1.0, -1.0, 3.0, -1.0, -1.0]
    assert problem.slope(4) == 3.0
    assert problem.period_slope == 1.0
    assert problem.minimizer == -1.0
    assert OnlineProblem(large=1.0, small=1.0, period=3).minimizer == 1.0


def test_online_problem_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="period"):
        OnlineProblem(period=1)
    with pytest.raises(ValueError, match="positive"):
        OnlineProblem(large=-3.0)
    with pytest.raises(ValueError, match="cancel"):
        _ = OnlineProblem(large=2.0, small=1.0, period=3).minimizer


def projected_torch_run(
    problem: OnlineProblem, steps: int, lr: float, **settings: Any
) -> list[float]:
    """Run torch.optim.Adam with lr / sqrt(t) and clipping to [-1, 1]."""
    x = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.Adam([x], lr=lr, **settings)
    points = [0.0]
    for t in range(1, steps + 1):
        optimizer.param_groups[0]["lr"] = lr / math.sqrt(t)
        x.grad = torch.tensor([problem.slope(t)], dtype=torch.float64)
        optimizer.step()
        with torch.no_grad():
            x.clamp_(-1.0, 1.0)
        points.append(float(x.detach()))
    return points


@pytest.mark.parametrize("amsgrad", [False, True])
def test_run_online_matches_torch(amsgrad: bool) -> None:
    problem = OnlineProblem()
    mine = run_online(
        problem, "Adam", 200, lr=0.5, betas=(0.0, 0.1), amsgrad=amsgrad
    ).positions[:, 0]
    theirs = projected_torch_run(problem, 200, 0.5, betas=(0.0, 0.1), amsgrad=amsgrad)
    assert_close(mine, torch.tensor(theirs, dtype=torch.float64))


def test_reddi_adam_fails_amsgrad_converges() -> None:
    # C = 3, beta1 = 0, beta2 = 1 / (1 + C^2) = 0.1, lr_t = 0.5 / sqrt(t).
    problem = OnlineProblem(large=3.0, small=1.0, period=3)
    adam = run_online(problem, "Adam", 3000, lr=0.5, betas=(0.0, 0.1))
    amsgrad = run_online(problem, "Adam", 3000, lr=0.5, betas=(0.0, 0.1), amsgrad=True)
    assert problem.minimizer == -1.0
    assert float(adam.final_positions[0]) > 0.99
    assert float(amsgrad.final_positions[0]) < -0.95
    # Adam's average regret stays near the average loss gap between +1 and
    # -1, (C - 2) / 3 * 2 = 2/3; AMSGrad's falls towards zero.
    assert float(adam.average_regret[-1, 0]) > 0.6
    assert float(amsgrad.average_regret[-1, 0]) < 0.05


def test_drift_sign_predicts_the_end() -> None:
    problem = OnlineProblem()
    beta2s = torch.tensor([0.1, 0.3, 0.7, 0.9], dtype=torch.float64)
    runs = run_online(problem, "Adam", 3000, lr=0.5, betas=(0.0, beta2s))
    for beta2, end in zip(beta2s.tolist(), runs.final_positions.tolist()):
        drift = drift_per_period(problem, beta2)
        assert math.copysign(1.0, drift) == math.copysign(1.0, end)
        assert abs(end) > 0.9


def test_drift_with_squares_of_single_steps() -> None:
    # With beta2 = 0, v_k = g_k^2 and each step moves by lr in the direction
    # of -g_k: one step down, period - 1 steps up.
    problem = OnlineProblem(large=5.0, small=1.0, period=4)
    assert drift_per_period(problem, 0.0) == pytest.approx(2.0)


def test_amsgrad_drift_always_towards_minimizer() -> None:
    problem = OnlineProblem()
    for beta2 in (0.0, 0.1, 0.5, 0.9, 0.999):
        assert drift_per_period(problem, beta2, amsgrad=True) < 0


def test_critical_beta2_is_a_root() -> None:
    problem = OnlineProblem()
    critical = critical_beta2(problem)
    assert 0.1 < critical < 0.9
    assert abs(drift_per_period(problem, critical)) < 1e-9
    assert drift_per_period(problem, critical - 0.01) > 0
    assert drift_per_period(problem, critical + 0.01) < 0


def test_critical_beta2_without_sign_change() -> None:
    # With large < (period - 1) * small the best point is +1, where every
    # beta2 drives Adam too.
    with pytest.raises(ValueError, match="same way"):
        critical_beta2(OnlineProblem(large=1.5, small=1.0, period=3))


def test_run_online_rejects_bad_arguments() -> None:
    problem = OnlineProblem()
    with pytest.raises(ValueError, match="lr_decay"):
        run_online(problem, "Adam", 10, lr_decay="cosine")
    with pytest.raises(ValueError, match="outside the bounds"):
        run_online(problem, "Adam", 10, start=2.0)
    with pytest.raises(TypeError, match="no hyperparameter"):
        run_online(problem, AdamWithoutBiasCorrection, 10, rho=0.9)
