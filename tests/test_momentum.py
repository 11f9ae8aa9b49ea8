"""Momentum theory and measurements, against torch.optim in float64.

The oracles are ``torch.optim.SGD`` (with ``torch.optim.lr_scheduler`` for
schedules), ``torch.linalg.eigvals`` of the linear map of one torch step on
a quadratic, ``torch.autograd`` gradients, and closed forms computed by hand.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.landscapes import Quadratic, get_surface
from course_lib.momentum import (
    VelocitySGD,
    buffer_history,
    convergence_rate_map,
    first_divergence,
    iteration_rate,
    measure_rates,
    momentum_buffers,
    optimal_gradient_descent,
    optimal_heavy_ball,
    optimal_heavy_ball_rate,
    sign_changes,
    steps_to_reduce,
    sutskever_momentum,
)
from course_lib.trajectories import run


@pytest.fixture(autouse=True)
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def autograd_gradient(surface, point):
    """Return the gradient of ``surface.value`` at ``point`` by backpropagation."""
    point = point.detach().clone().requires_grad_(True)
    surface.value(point).sum().backward()
    return point.grad


def torch_sgd_run(surface, start, steps, scheduler=None, optimizer=None, **settings):
    """Run torch.optim.SGD (or ``optimizer``) with autograd gradients.

    Returns (positions, buffers): ``(steps + 1, 2)`` and ``(steps, 2)``, the
    buffer after each step (zeros without momentum).
    """
    param = torch.nn.Parameter(torch.tensor(start))
    optim_class = optimizer or torch.optim.SGD
    optim = optim_class([param], **settings)
    schedule = scheduler(optim) if scheduler is not None else None
    positions, buffers = [param.detach().clone()], []
    for _ in range(steps):
        optim.zero_grad()
        surface.value(param).backward()
        optim.step()
        if schedule is not None:
            schedule.step()
        positions.append(param.detach().clone())
        state = optim.state[param]
        buffer = state.get("momentum_buffer", state.get("velocity"))
        buffers.append(torch.zeros(2) if buffer is None else buffer.clone())
    return torch.stack(positions), torch.stack(buffers)


def torch_step_matrix(surface, lr, momentum, nesterov=False):
    """Build the 4 x 4 linear map of one torch.optim.SGD step on (p, b).

    The quadratic's minimum is the origin, so the gradient is ``A p`` and one
    step maps the parameter and the buffer linearly.
    """
    columns = []
    for index in range(4):
        basis = torch.zeros(4)
        basis[index] = 1.0
        param = torch.nn.Parameter(basis[:2].clone())
        optim = torch.optim.SGD([param], lr=lr, momentum=momentum, nesterov=nesterov)
        optim.state[param]["momentum_buffer"] = basis[2:].clone()
        param.grad = surface.hessian_matrix @ param.detach()
        optim.step()
        state = optim.state[param]["momentum_buffer"]
        columns.append(torch.cat([param.detach(), state]))
    return torch.stack(columns, dim=1)


def windowed_rate(distances, steps):
    """Apply measure_rates' documented window rule to raw distances."""
    half, width = steps // 2, steps // 4
    early = distances[half - width + 1 : half + 1].max()
    late = distances[steps - width + 1 : steps + 1].max()
    return float((late / early) ** (1.0 / (steps - half)))


# -- the optimum for quadratics -------------------------------------------------


@pytest.mark.parametrize("kappa", [1.0, 10.0, 100.0])
def test_optimal_heavy_ball_formulas(kappa):
    m = 0.5
    big_l = m * kappa
    lr, mu = optimal_heavy_ball(m, big_l)
    assert lr == pytest.approx((2.0 / (math.sqrt(big_l) + math.sqrt(m))) ** 2)
    root = math.sqrt(kappa)
    assert mu == pytest.approx(((root - 1.0) / (root + 1.0)) ** 2, abs=1e-15)
    assert optimal_heavy_ball_rate(m, big_l) == pytest.approx(math.sqrt(mu))


def test_optimal_gradient_descent_formulas():
    lr, rate = optimal_gradient_descent(1.0, 10.0)
    assert lr == pytest.approx(2.0 / 11.0)
    assert rate == pytest.approx(9.0 / 11.0)


@pytest.mark.parametrize("eigenvalues", [(0.0, 1.0), (2.0, 1.0), (1.0, math.inf)])
def test_optimum_rejects_bad_eigenvalues(eigenvalues):
    with pytest.raises(ValueError, match="lambda_min"):
        optimal_heavy_ball(*eigenvalues)


@pytest.mark.parametrize("kappa", [10.0, 100.0])
def test_optimum_spectral_radius_of_torch_step(kappa):
    surface = Quadratic(kappa, angle=0.3, lambda_min=0.5)
    lr, mu = optimal_heavy_ball(*surface.eigenvalues.tolist())
    matrix = torch_step_matrix(surface, lr, mu)
    radius = float(torch.linalg.eigvals(matrix).abs().max())
    # Both eigenvalue pairs are double roots, which eigvals resolves only to
    # about sqrt(machine epsilon).
    assert radius == pytest.approx(optimal_heavy_ball_rate(0.5, 0.5 * kappa), rel=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_iteration_rate_matches_torch_eigvals(nesterov):
    surface = Quadratic(10.0, angle=0.4)
    for lr in (0.01, 0.05, 0.15, 0.3):
        # Without momentum torch keeps no buffer, and the map of (p, b)
        # would leave b as it is; test_iteration_rate_broadcasts covers mu = 0.
        for mu in (0.3, 0.7, 0.95):
            matrix = torch_step_matrix(surface, lr, mu, nesterov=nesterov)
            expected = float(torch.linalg.eigvals(matrix).abs().max())
            rate = iteration_rate(lr, mu, surface.eigenvalues, nesterov=nesterov)
            assert float(rate) == pytest.approx(expected, rel=1e-6), (lr, mu)


def test_iteration_rate_broadcasts():
    lrs = torch.tensor([0.01, 0.1, 0.2])
    momenta = torch.tensor([[0.0], [0.5]])
    rates = iteration_rate(lrs, momenta, torch.tensor([1.0, 10.0]))
    assert rates.shape == (2, 3)
    # Without momentum the rate is max |1 - lr lambda|.
    expected = torch.maximum((1 - lrs * 1.0).abs(), (1 - lrs * 10.0).abs())
    torch.testing.assert_close(rates[0], expected)


# -- measured rates ------------------------------------------------------------


@pytest.mark.parametrize("kappa", [10.0, 100.0])
def test_optimum_rate_measured(kappa):
    surface = Quadratic(kappa, angle=0.3, lambda_min=0.5)
    lr, mu = optimal_heavy_ball(*surface.eigenvalues.tolist())
    rate = float(measure_rates(surface, lr, mu, steps=1000).rates[0])
    expected = (math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)
    # Both extreme directions have a double root, so the distance behaves
    # like (a + b t) r^t. The window maxima sit at the windows' first steps,
    # 251 and 751, which inflates the measured rate by about
    # (751 / 251) ** (1 / 500) = 1.0022; a and b move that by far less than
    # 0.1%.
    bias = (751 / 251) ** (1 / 500)
    assert rate == pytest.approx(expected * bias, rel=1e-3)
    assert rate == pytest.approx(expected, rel=5e-3)


def test_gradient_descent_rate_measured_exactly():
    surface = Quadratic(10.0, angle=0.3)
    lr, expected = optimal_gradient_descent(*surface.eigenvalues.tolist())
    # At lr = 2 / (m + L) both directions shrink by the same factor each
    # step, so the distance is exactly proportional to rate ** t.
    rate = float(measure_rates(surface, lr, 0.0, steps=300).rates[0])
    assert rate == pytest.approx(expected, rel=1e-9)


def test_measured_rates_match_torch_runs():
    surface = Quadratic(10.0, angle=0.2)
    lrs = torch.tensor([0.02, 0.15, 0.45])
    momenta = torch.tensor([0.0, 0.5, 0.9])
    rate_map = convergence_rate_map(surface, lrs, momenta, steps=120, device="cpu")
    for i, mu in enumerate(momenta.tolist()):
        for j, lr in enumerate(lrs.tolist()):
            positions, _ = torch_sgd_run(
                surface, surface.default_start, 120, lr=lr, momentum=mu
            )
            distances = torch.linalg.vector_norm(positions, dim=-1)
            expected = windowed_rate(distances, 120)
            assert float(rate_map.rates[i, j]) == pytest.approx(expected, rel=1e-9)


def test_rate_map_agrees_with_theory():
    surface = Quadratic(10.0)
    lrs = torch.logspace(-2.5, math.log10(0.4), 24)
    momenta = torch.linspace(0.0, 0.95, 20)
    rate_map = convergence_rate_map(surface, lrs, momenta, steps=300, device="cpu")
    theory = rate_map.theoretical_rates()
    relative = (rate_map.rates - theory).abs() / theory
    # Cells with one dominant root match the theory to rounding. Cells near
    # a double root, or whose complex roots turn slowly, deviate by up to a
    # few percent over 300 steps.
    assert float(relative.median()) < 1e-4
    assert float((relative < 0.01).double().mean()) > 0.9


def test_rate_map_best_cell_is_near_optimal():
    surface = Quadratic(10.0)
    lrs = torch.logspace(-2.5, math.log10(0.4), 40)
    momenta = torch.linspace(0.0, 0.95, 39)
    rate_map = convergence_rate_map(surface, lrs, momenta, steps=300, device="cpu")
    best_lr, best_mu, best_rate = rate_map.best
    theory = iteration_rate(best_lr, best_mu, surface.eigenvalues)
    assert float(theory) <= float(rate_map.theoretical_rates().min()) * 1.01
    # No cell beats the optimum by more than the estimator's few-percent
    # error on a grid of 300-step runs.
    assert best_rate >= optimal_heavy_ball_rate(1.0, 10.0) * 0.97
    assert rate_map.rates.shape == (39, 40)


def test_rate_map_rejects_empty_grid():
    with pytest.raises(ValueError, match="at least one value"):
        convergence_rate_map(Quadratic(), [], [0.5], device="cpu")


def test_measure_rates_float32_keeps_range():
    surface = Quadratic(10.0, angle=0.3)
    lr, mu = optimal_heavy_ball(1.0, 10.0)
    # 1000 steps at a rate of 0.52 shrink the distance by about 1e-284,
    # far below float32's smallest normal number (1e-38).
    rate32 = measure_rates(surface, lr, mu, steps=1000, dtype=torch.float32).rates
    rate64 = measure_rates(surface, lr, mu, steps=1000).rates
    assert float(rate32[0]) > 0.5
    assert float(rate32[0]) == pytest.approx(float(rate64[0]), rel=1e-3)


def test_measure_rates_records_log_distances():
    surface = Quadratic(25.0, angle=0.5)
    measured = measure_rates(surface, 0.03, 0.8, steps=60, record=True)
    positions, _ = torch_sgd_run(
        surface, surface.default_start, 60, lr=0.03, momentum=0.8
    )
    expected = torch.log(torch.linalg.vector_norm(positions, dim=-1))
    assert measured.log_distances.shape == (61, 1)
    torch.testing.assert_close(
        measured.log_distances[:, 0], expected, rtol=0.0, atol=1e-9
    )


def test_measure_rates_record_gives_same_rates():
    surface = Quadratic(10.0, angle=0.3)
    lrs = torch.tensor([0.02, 0.1, 0.3, 0.45])
    momenta = torch.tensor([0.9, 0.5, 0.2, 0.0])
    plain = measure_rates(surface, lrs, momenta, steps=200)
    recorded = measure_rates(surface, lrs, momenta, steps=200, record=True)
    assert plain.log_distances is None
    torch.testing.assert_close(recorded.rates, plain.rates, rtol=1e-12, atol=0.0)


def test_measure_rates_independent_of_default_dtype():
    surface = Quadratic(10.0, angle=0.3)
    lrs, momenta = torch.tensor([0.1, 0.3]), torch.tensor([0.5, 0.2])
    expected = measure_rates(surface, lrs, momenta, steps=80, record=True)
    torch.set_default_dtype(torch.float32)
    measured = measure_rates(
        surface, lrs.double(), momenta.double(), steps=80, record=True
    )
    torch.testing.assert_close(measured.rates, expected.rates, rtol=1e-12, atol=0.0)
    torch.testing.assert_close(
        measured.log_distances, expected.log_distances, rtol=0.0, atol=1e-12
    )


def test_measure_rates_minimum_hit_exactly():
    # With kappa = 1 and lr = 1/lambda, one step lands on the minimum.
    rates = measure_rates(Quadratic(1.0), 1.0, 0.0, steps=20).rates
    assert float(rates[0]) == 0.0


def test_measure_rates_rejects_other_surfaces():
    with pytest.raises(TypeError, match="Quadratic"):
        measure_rates(get_surface("ravine"), 0.1, 0.5)


def test_measure_rates_rejects_few_steps():
    with pytest.raises(ValueError, match="at least 4"):
        measure_rates(Quadratic(), 0.1, 0.5, steps=3)


def test_steps_to_reduce_values():
    steps = steps_to_reduce(torch.tensor([0.5, 0.0, 1.0, 1.5, math.nan]), 1e-6)
    # log(1e-6) / log(0.5) = 19.93, so 20 steps.
    assert steps.tolist() == [20, 1, -1, -1, -1]


def test_steps_to_reduce_rejects_factor():
    with pytest.raises(ValueError, match="factor"):
        steps_to_reduce(0.5, 2.0)


# -- the learning rate inside the velocity --------------------------------------


def test_velocity_sgd_matches_torch_at_constant_lr():
    surface = get_surface("ravine")
    expected, _ = torch_sgd_run(surface, [-7.0, 1.5], 200, lr=0.05, momentum=0.9)
    runs = run(surface, VelocitySGD, (-7.0, 1.5), 200, lr=0.05, momentum=0.9)
    torch.testing.assert_close(runs.positions[:, 0], expected, rtol=0.0, atol=1e-12)


def step_lr(optimizer):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=50, gamma=0.1)


def test_velocity_sgd_differs_from_torch_after_lr_drop():
    surface = get_surface("ravine")
    settings = dict(lr=0.05, momentum=0.9)
    torch_positions, _ = torch_sgd_run(
        surface, [-7.0, 1.5], 100, scheduler=step_lr, **settings
    )
    velocity_positions, _ = torch_sgd_run(
        surface, [-7.0, 1.5], 100, scheduler=step_lr, optimizer=VelocitySGD, **settings
    )
    before = (torch_positions[:51] - velocity_positions[:51]).abs().max()
    after = (torch_positions[51:] - velocity_positions[51:]).abs().max()
    assert float(before) < 1e-12
    assert float(after) > 1e-2


def test_velocity_sgd_steps_shrink_gradually():
    surface = get_surface("ravine")
    settings = dict(lr=0.05, momentum=0.9)
    torch_positions, _ = torch_sgd_run(
        surface, [-7.0, 1.5], 52, scheduler=step_lr, **settings
    )
    velocity_positions, _ = torch_sgd_run(
        surface, [-7.0, 1.5], 52, scheduler=step_lr, optimizer=VelocitySGD, **settings
    )

    def step_ratio(positions):
        # The step taken at the first reduced lr against the step before it.
        steps = torch.linalg.vector_norm(positions[1:] - positions[:-1], dim=-1)
        return float(steps[50] / steps[49])

    # torch rescales the whole buffer by the new lr at once. The velocity
    # still carries the old steps and loses them by a factor mu per step.
    assert step_ratio(torch_positions) < 0.3
    assert step_ratio(velocity_positions) > 0.6


def test_velocity_sgd_follows_paper_formula_with_schedule():
    surface = get_surface("ravine")
    positions, _ = torch_sgd_run(
        surface,
        [-7.0, 1.5],
        80,
        scheduler=step_lr,
        optimizer=VelocitySGD,
        lr=0.05,
        momentum=0.9,
    )
    theta = torch.tensor([-7.0, 1.5])
    velocity = torch.zeros(2)
    for t in range(80):
        lr = 0.05 * 0.1 ** (t // 50)
        velocity = 0.9 * velocity - lr * autograd_gradient(surface, theta)
        theta = theta + velocity
        torch.testing.assert_close(positions[t + 1], theta, rtol=0.0, atol=1e-12)


def test_velocity_sgd_state():
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optim = VelocitySGD([param], lr=0.1, momentum=0.5)
    param.grad = torch.tensor([0.5, 1.0])
    optim.step()
    state = optim.state[param]
    assert set(state) == {"step", "velocity"}
    assert state["step"].dtype == torch.float64
    assert float(state["step"]) == 1.0
    torch.testing.assert_close(state["velocity"], torch.tensor([-0.05, -0.1]))
    torch.testing.assert_close(param.detach(), torch.tensor([0.95, -2.1]))


@pytest.mark.parametrize("setting", [dict(lr=-1.0), dict(momentum=-0.5)])
def test_velocity_sgd_rejects_like_torch(setting):
    param = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError) as torch_error:
        torch.optim.SGD([param], **{"lr": 0.1, **setting})
    with pytest.raises(ValueError) as error:
        VelocitySGD([param], **{"lr": 0.1, **setting})
    assert str(error.value) == str(torch_error.value)


def test_velocity_sgd_batched_rows_match_single_runs():
    surface = get_surface("ravine")
    starts = torch.tensor([[-7.0, 1.5], [-5.0, -1.0], [3.0, 2.0]])
    lrs = torch.tensor([0.01, 0.05, 0.1])
    momenta = torch.tensor([0.5, 0.9, 0.0])
    runs = run(surface, VelocitySGD, starts, 50, lr=lrs, momentum=momenta)
    for index in range(3):
        single, _ = torch_sgd_run(
            surface,
            starts[index].tolist(),
            50,
            optimizer=VelocitySGD,
            lr=lrs[index].item(),
            momentum=momenta[index].item(),
        )
        torch.testing.assert_close(runs.positions[:, index], single)


# -- the look-ahead form ----------------------------------------------------------


def test_nesterov_look_ahead_is_torch_parameter():
    surface = Quadratic(25.0, angle=0.5)
    start = [-2.5, 2.0]
    expected, buffers = torch_sgd_run(
        surface, start, 100, lr=0.03, momentum=0.8, nesterov=True
    )
    sequence = sutskever_momentum(
        surface.grad, torch.tensor(start), 100, lr=0.03, momentum=0.8, nesterov=True
    )
    torch.testing.assert_close(sequence.look_ahead, expected, rtol=0.0, atol=1e-12)
    # torch's buffer is -v / lr.
    torch.testing.assert_close(
        buffers, -sequence.velocities[1:] / 0.03, rtol=0.0, atol=1e-12
    )


def test_nesterov_positions_differ_from_torch_parameter():
    surface = Quadratic(25.0, angle=0.5)
    expected, _ = torch_sgd_run(
        surface, [-2.5, 2.0], 20, lr=0.03, momentum=0.8, nesterov=True
    )
    sequence = sutskever_momentum(
        surface.grad,
        torch.tensor([-2.5, 2.0]),
        20,
        lr=0.03,
        momentum=0.8,
        nesterov=True,
    )
    assert float((sequence.positions - expected).abs().max()) > 0.1


def test_classical_sequence_is_torch_momentum():
    surface = get_surface("ravine")
    expected, _ = torch_sgd_run(surface, [-7.0, 1.5], 100, lr=0.05, momentum=0.9)
    sequence = sutskever_momentum(
        surface.grad, torch.tensor([-7.0, 1.5]), 100, lr=0.05, momentum=0.9
    )
    torch.testing.assert_close(sequence.positions, expected, rtol=0.0, atol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_gradient_points_and_gradients(nesterov):
    surface = get_surface("rosenbrock")
    sequence = sutskever_momentum(
        surface.grad,
        torch.tensor([-1.2, 1.0]),
        30,
        lr=1e-3,
        momentum=0.9,
        nesterov=nesterov,
    )
    shift = 0.9 * sequence.velocities[:-1] if nesterov else 0.0
    torch.testing.assert_close(
        sequence.gradient_points, sequence.positions[:-1] + shift
    )
    for point, gradient in zip(sequence.gradient_points, sequence.gradients):
        torch.testing.assert_close(gradient, autograd_gradient(surface, point))


def test_sutskever_batched_rows_match_single_runs():
    surface = Quadratic(25.0)
    starts = torch.tensor([[-2.5, 2.0], [1.0, 1.0]])
    lrs = torch.tensor([0.03, 0.01])
    momenta = torch.tensor([0.8, 0.5])
    batch = sutskever_momentum(
        surface.grad, starts, 40, lr=lrs, momentum=momenta, nesterov=True
    )
    for index in range(2):
        single = sutskever_momentum(
            surface.grad,
            starts[index],
            40,
            lr=lrs[index].item(),
            momentum=momenta[index].item(),
            nesterov=True,
        )
        torch.testing.assert_close(batch.positions[:, index], single.positions)
        torch.testing.assert_close(batch.look_ahead[:, index], single.look_ahead)


def test_sutskever_divergence_matches_trajectories():
    surface = Quadratic(25.0)
    # lr beyond 2 (1 + mu) / lambda_max = 0.144 diverges.
    sequence = sutskever_momentum(
        surface.grad, torch.tensor([-2.5, 2.0]), 200, lr=0.3, momentum=0.8
    )
    runs = run(surface, "SGD", (-2.5, 2.0), 200, lr=0.3, momentum=0.8)
    diverged_at = int(sequence.diverged_at)
    assert diverged_at > 0
    assert diverged_at == int(runs.diverged_at[0])
    assert bool(torch.isfinite(sequence.positions[:diverged_at]).all())
    assert bool(torch.isnan(sequence.positions[diverged_at:]).all())
    assert bool(torch.isnan(sequence.gradients[diverged_at - 1 :]).all())


def test_sutskever_zero_steps():
    sequence = sutskever_momentum(
        Quadratic().grad, torch.tensor([1.0, 1.0]), 0, lr=0.1, momentum=0.5
    )
    assert sequence.positions.shape == (1, 2)
    assert sequence.gradients.shape == (0, 2)
    assert int(sequence.diverged_at) == -1


def test_first_divergence_rule():
    # Two runs over three steps: the first leaves the bound (1e6) at step 1.
    positions = torch.tensor(
        [
            [[0.0, 0.0], [0.0, 0.0]],
            [[1.0, 2e6], [1.0, 1.0]],
            [[math.nan, 0.0], [2.0, 2.0]],
        ]
    )
    assert first_divergence(positions).tolist() == [1, -1]


# -- the buffer over time ------------------------------------------------------


def test_buffer_history_matches_torch_state():
    generator = torch.Generator().manual_seed(0)
    gradients = torch.randn(20, 3, generator=generator)
    buffers = buffer_history(gradients, 0.9, dampening=0.3)
    param = torch.nn.Parameter(torch.zeros(3))
    optim = torch.optim.SGD([param], lr=0.1, momentum=0.9, dampening=0.3)
    for t in range(20):
        param.grad = gradients[t].clone()
        optim.step()
        torch.testing.assert_close(
            buffers[t], optim.state[param]["momentum_buffer"], rtol=0.0, atol=0.0
        )


def test_buffer_grows_where_gradients_agree():
    mu, steps = 0.9, 40
    buffers = buffer_history(torch.ones(steps, 1), mu)
    # b_T = g (1 - mu^T) / (1 - mu) for a constant gradient g.
    expected = (1.0 - mu**steps) / (1.0 - mu)
    assert float(buffers[-1, 0]) == pytest.approx(expected, rel=1e-12)


def test_buffer_cancels_where_gradients_alternate():
    mu, steps = 0.9, 41
    signs = torch.tensor([(-1.0) ** t for t in range(steps)])[:, None]
    buffers = buffer_history(signs, mu)
    # b_T = (-1)^(T-1) (1 - (-mu)^T) / (1 + mu) for g_t = (-1)^(t-1).
    expected = (-1.0) ** (steps - 1) * (1.0 - (-mu) ** steps) / (1.0 + mu)
    assert float(buffers[-1, 0]) == pytest.approx(expected, rel=1e-12)


def test_buffer_history_without_momentum_is_gradients():
    gradients = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(buffer_history(gradients, 0.0), gradients)


@pytest.mark.parametrize(
    "settings",
    [
        dict(momentum=0.9),
        dict(momentum=0.9, nesterov=True),
        dict(momentum=0.5, dampening=0.5),
    ],
)
def test_momentum_buffers_match_torch_state(settings):
    surface = get_surface("ravine")
    positions, expected = torch_sgd_run(surface, [-7.0, 1.5], 40, lr=0.05, **settings)
    runs = run(surface, "SGD", (-7.0, 1.5), 40, lr=0.05, **settings)
    gradients, buffers = momentum_buffers(runs)
    torch.testing.assert_close(buffers[:, 0], expected, rtol=0.0, atol=1e-12)
    for t in range(40):
        torch.testing.assert_close(
            gradients[t, 0], autograd_gradient(surface, positions[t])
        )


def test_momentum_buffers_first_steps_only():
    surface = get_surface("ravine")
    runs = run(surface, "SGD", (-7.0, 1.5), 40, lr=0.05, momentum=0.9)
    gradients, buffers = momentum_buffers(runs, steps=10)
    assert gradients.shape == (10, 1, 2)
    assert buffers.shape == (10, 1, 2)


def test_momentum_buffers_rejects_other_optimizers():
    runs = run(get_surface("ravine"), "Adam", (-7.0, 1.5), 5, lr=0.05)
    with pytest.raises(ValueError, match="SGD"):
        momentum_buffers(runs)


def test_sign_changes_counts():
    values = torch.tensor(
        [[1.0, 1.0], [-1.0, 2.0], [1.0, 3.0], [0.0, -1.0], [-1.0, 1.0]]
    )
    # Column 0: (1, -1) and (-1, 1) flip; pairs with the 0 do not count.
    assert sign_changes(values).tolist() == [2, 2]
