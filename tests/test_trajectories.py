"""Optimizer runs on surfaces, against hand loops over torch.optim, in float64.

The oracle for every trajectory is a loop written here over a real
``torch.optim`` optimizer (and ``torch.optim.lr_scheduler`` for schedules)
with the surface's gradient, one run at a time.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.landscapes import get_surface
from course_lib.optim import OPTIMIZERS
from course_lib.trajectories import (
    DIVERGENCE_BOUND,
    Trajectory,
    run,
    run_class,
    steps_to_target,
)

# Settings that take every optimizer somewhere within 40 steps on Rosenbrock
# without diverging, by class name; other hyperparameters keep their defaults.
LR_BATCHES = {
    "SGD": [1e-4, 5e-4, 1e-3],
    "Adagrad": [0.01, 0.1, 0.5],
    "RMSprop": [1e-3, 0.01, 0.05],
    "Adadelta": [0.5, 1.0, 2.0],
    "Adam": [1e-3, 0.01, 0.1],
    "AdamW": [1e-3, 0.01, 0.1],
    "Adamax": [1e-3, 0.01, 0.1],
    "NAdam": [1e-3, 0.01, 0.1],
    # RAdam's first steps use the raw, unadapted momentum, as large as the
    # gradient, which is about 230 at Rosenbrock's standard start.
    "RAdam": [1e-4, 3e-4, 1e-3],
}


@pytest.fixture(autouse=True)
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def torch_loop(surface, torch_class, start, steps, lrs_per_step=None, **settings):
    """Run one optimization with a torch.optim class; return (steps + 1, 2)."""
    param = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    optimizer = torch_class([param], **settings)
    positions = [param.detach().clone()]
    for t in range(steps):
        if lrs_per_step is not None:
            optimizer.param_groups[0]["lr"] = lrs_per_step[t]
        param.grad = surface.grad(param.detach())
        optimizer.step()
        positions.append(param.detach().clone())
    return torch.stack(positions)


# -- against torch.optim -------------------------------------------------------------


def test_sgd_matches_torch_loop():
    surface = get_surface("rosenbrock")
    starts = torch.tensor([[-1.2, 1.0], [0.5, -0.5], [1.5, 2.0]])
    lrs = torch.tensor([1e-4, 5e-4, 1e-3])
    momenta = torch.tensor([0.0, 0.9, 0.5])
    runs = run(surface, "SGD", starts, 60, lr=lrs, momentum=momenta)
    for index in range(3):
        expected = torch_loop(
            surface,
            torch.optim.SGD,
            starts[index].tolist(),
            60,
            lr=lrs[index].item(),
            momentum=momenta[index].item(),
        )
        torch.testing.assert_close(runs.positions[:, index], expected)


def test_nesterov_matches_torch_loop():
    surface = get_surface("ravine")
    lrs = torch.tensor([0.01, 0.05])
    runs = run(
        surface, "SGD", surface.default_start, 80, lr=lrs, momentum=0.9, nesterov=True
    )
    for index in range(2):
        expected = torch_loop(
            surface,
            torch.optim.SGD,
            list(surface.default_start),
            80,
            lr=lrs[index].item(),
            momentum=0.9,
            nesterov=True,
        )
        torch.testing.assert_close(runs.positions[:, index], expected)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_matches_torch(name):
    surface = get_surface("rosenbrock")
    lrs = torch.tensor(LR_BATCHES[name])
    runs = run(surface, name, surface.default_start, 40, lr=lrs)
    oracle = run_class(
        surface, getattr(torch.optim, name), surface.default_start, 40, lr=lrs
    )
    assert runs.diverged_at.tolist() == [-1, -1, -1]
    torch.testing.assert_close(runs.positions, oracle.positions)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_batched_matches_class_path(name):
    surface = get_surface("beale")
    starts = torch.tensor([[1.0, 1.5], [-1.0, 0.5], [2.0, -1.0]])
    lr = LR_BATCHES[name][0]
    batched = run(surface, name, starts, 30, lr=lr)
    one_at_a_time = run_class(surface, name, starts, 30, lr=lr)
    torch.testing.assert_close(batched.positions, one_at_a_time.positions)
    torch.testing.assert_close(batched.losses, one_at_a_time.losses, equal_nan=True)


def test_adam_betas_batch_matches_torch():
    surface = get_surface("himmelblau")
    beta1 = torch.tensor([0.5, 0.9, 0.99])
    runs = run(
        surface, "Adam", surface.default_start, 50, lr=0.05, betas=(beta1, 0.999)
    )
    for index in range(3):
        expected = torch_loop(
            surface,
            torch.optim.Adam,
            list(surface.default_start),
            50,
            lr=0.05,
            betas=(beta1[index].item(), 0.999),
        )
        torch.testing.assert_close(runs.positions[:, index], expected)


def test_autograd_gradient_same_path():
    surface = get_surface("two_basins")
    closed_form = run_class(surface, "SGD", surface.default_start, 50, lr=0.3)
    backprop = run_class(
        surface, "SGD", surface.default_start, 50, lr=0.3, use_autograd=True
    )
    torch.testing.assert_close(backprop.positions, closed_form.positions)


# -- learning-rate schedules ---------------------------------------------------------


def test_schedule_tensor_matches_step_lr():
    surface = get_surface("quadratic")
    steps = 40
    param = torch.nn.Parameter(torch.tensor(surface.default_start))
    optimizer = torch.optim.SGD([param], lr=0.15)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    lrs, expected = [], [param.detach().clone()]
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        param.grad = surface.grad(param.detach())
        optimizer.step()
        scheduler.step()
        expected.append(param.detach().clone())
    runs = run(
        surface, "SGD", surface.default_start, steps, lr_schedule=torch.tensor(lrs)
    )
    torch.testing.assert_close(runs.positions[:, 0], torch.stack(expected))
    torch.testing.assert_close(runs.learning_rates[:, 0], torch.tensor(lrs))


def test_schedule_object_matches_cosine():
    schedules = pytest.importorskip("course_lib.schedules")
    surface = get_surface("rosenbrock")
    steps = 50
    schedule = schedules.CosineSchedule(2e-3, T_max=steps)
    param = torch.nn.Parameter(torch.tensor(surface.default_start))
    optimizer = torch.optim.SGD([param], lr=2e-3, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    expected = [param.detach().clone()]
    for _ in range(steps):
        param.grad = surface.grad(param.detach())
        optimizer.step()
        scheduler.step()
        expected.append(param.detach().clone())
    runs = run(
        surface, "SGD", surface.default_start, steps, lr_schedule=schedule, momentum=0.9
    )
    torch.testing.assert_close(runs.positions[:, 0], torch.stack(expected))


def test_schedule_callable_per_run():
    surface = get_surface("quadratic")
    base = torch.tensor([0.05, 0.1])

    def decaying(t):
        return base / (1 + t)

    runs = run(surface, "SGD", surface.default_start, 20, lr_schedule=decaying)
    for index in range(2):
        per_step = [base[index].item() / (1 + t) for t in range(20)]
        expected = torch_loop(
            surface, torch.optim.SGD, list(surface.default_start), 20, per_step, lr=0.0
        )
        torch.testing.assert_close(runs.positions[:, index], expected)


def test_schedule_same_in_class_path():
    surface = get_surface("saddle")
    table = torch.linspace(0.3, 0.01, 25)[:, None] * torch.tensor([1.0, 2.0])
    batched = run(surface, "Adam", surface.default_start, 25, lr_schedule=table)
    one_at_a_time = run_class(
        surface, "Adam", surface.default_start, 25, lr_schedule=table
    )
    torch.testing.assert_close(batched.positions, one_at_a_time.positions)
    torch.testing.assert_close(batched.learning_rates, table)


def test_schedule_wrong_length_rejected():
    with pytest.raises(ValueError, match=r"one learning rate per step, shape \(10,\)"):
        run(get_surface("quadratic"), "SGD", (1.0, 1.0), 10, lr_schedule=torch.ones(9))


# -- divergence ------------------------------------------------------------------------


def test_divergence_dated_by_bound():
    # On the quadratic with eigenvalues 1 and 10, y_t = y_0 (1 - 10 lr)^t.
    # With lr = 0.25 and y_0 = 1, |y_t| = 1.5^t first exceeds 1e6 at t = 35.
    surface = get_surface("quadratic", condition_number=10.0)
    runs = run(surface, "SGD", (2.0, 1.0), 100, lr=0.25)
    expected_step = math.floor(math.log(DIVERGENCE_BOUND) / math.log(1.5)) + 1
    assert runs.diverged_at.tolist() == [expected_step]
    assert expected_step == 35


def test_divergence_custom_bound():
    surface = get_surface("quadratic", condition_number=10.0)
    runs = run(surface, "SGD", (2.0, 1.0), 100, lr=0.25, divergence_bound=100.0)
    assert runs.diverged_at.tolist() == [math.floor(math.log(100) / math.log(1.5)) + 1]


def test_diverged_run_blank_after():
    surface = get_surface("quadratic", condition_number=10.0)
    runs = run(surface, "SGD", (2.0, 1.0), 100, lr=0.25)
    step = runs.diverged_at.item()
    assert bool(torch.isfinite(runs.positions[:step]).all())
    assert bool(torch.isnan(runs.positions[step:]).all())
    assert bool(torch.isnan(runs.losses[step:]).all())
    torch.testing.assert_close(runs.final_positions[0], runs.positions[step - 1, 0])
    torch.testing.assert_close(runs.final_losses[0], runs.losses[step - 1, 0])


def test_divergence_by_overflow_float32():
    # Without a bound, float32 positions grow until the loss overflows.
    surface = get_surface("quadratic", condition_number=10.0)
    runs = run(
        surface,
        "SGD",
        torch.tensor([2.0, 1.0], dtype=torch.float32),
        300,
        lr=0.25,
        divergence_bound=math.inf,
    )
    point = torch.tensor([2.0, 1.0], dtype=torch.float32)
    scale = torch.tensor([1.0, 10.0], dtype=torch.float32)
    expected = None
    for t in range(1, 301):
        point = point - 0.25 * (scale * point)
        if not torch.isfinite(surface.value(point)):
            expected = t
            break
    assert runs.positions.dtype == torch.float32
    assert expected is not None
    assert runs.diverged_at.tolist() == [expected]


def test_other_runs_keep_going():
    surface = get_surface("quadratic", condition_number=10.0)
    both = run(surface, "SGD", (2.0, 1.0), 100, lr=torch.tensor([0.25, 0.1]))
    alone = run(surface, "SGD", (2.0, 1.0), 100, lr=0.1)
    assert both.diverged_at.tolist() == [35, -1]
    torch.testing.assert_close(both.positions[:, 1], alone.positions[:, 0])


def test_diverged_momentum_run_stays_blank():
    # Momentum keeps pushing a diverged run; its record must stay NaN.
    surface = get_surface("rosenbrock")
    runs = run(
        surface,
        "SGD",
        surface.default_start,
        200,
        lr=torch.tensor([0.01, 1e-4]),
        momentum=0.9,
    )
    step = runs.diverged_at[0].item()
    assert 0 < step < 200
    assert bool(torch.isnan(runs.positions[step:, 0]).all())
    assert runs.diverged_at[1] == -1


def test_class_path_dates_same_divergence():
    surface = get_surface("beale")
    lrs = torch.tensor([0.5, 1e-3])
    batched = run(surface, "SGD", surface.default_start, 60, lr=lrs)
    one_at_a_time = run_class(surface, "SGD", surface.default_start, 60, lr=lrs)
    assert batched.diverged_at.tolist() == one_at_a_time.diverged_at.tolist()
    assert batched.diverged_at[0] > 0
    torch.testing.assert_close(
        batched.positions, one_at_a_time.positions, equal_nan=True
    )


def test_start_beyond_bound_diverges_at_zero():
    runs = run(get_surface("quadratic"), "SGD", (1e7, 0.0), 5, lr=0.1)
    assert runs.diverged_at.tolist() == [0]
    assert bool(torch.isnan(runs.final_positions).all())


# -- the convergence threshold on a quadratic ---------------------------------


def test_quadratic_threshold_two_over_lambda_max():
    surface = get_surface("quadratic", condition_number=10.0, angle=0.3)
    threshold = 2.0 / surface.lambda_max
    lrs = threshold * torch.tensor([0.9, 0.98, 1.02, 1.1])
    runs = run(surface, "SGD", surface.default_start, 400, lr=lrs)
    start_distance = torch.linalg.vector_norm(torch.tensor(surface.default_start))
    final_distance = torch.linalg.vector_norm(runs.positions[-1], dim=-1)
    assert bool((final_distance[:2] < 1e-2 * start_distance).all())
    assert bool((final_distance[2:] > start_distance).all() | runs.diverged[2:].all())


# -- shapes, validation, helpers -------------------------------------------------


def test_shapes_single_start_many_lrs():
    runs = run(
        get_surface("saddle"), "SGD", (1.0, 0.5), 12, lr=torch.tensor([0.1, 0.2, 0.3])
    )
    assert runs.positions.shape == (13, 3, 2)
    assert runs.losses.shape == (13, 3)
    assert runs.diverged_at.shape == (3,)
    assert runs.diverged_at.dtype == torch.long
    assert runs.learning_rates.shape == (12, 3)
    assert runs.steps == 12
    assert runs.batch_size == 3


def test_losses_are_surface_values():
    surface = get_surface("himmelblau")
    runs = run(surface, "Adam", torch.tensor([[0.0, 0.0], [1.0, -1.0]]), 20, lr=0.1)
    torch.testing.assert_close(runs.losses, surface.value(runs.positions))
    torch.testing.assert_close(runs.gaps, runs.losses - surface.min_value)


def test_zero_steps():
    runs = run(get_surface("beale"), "SGD", (1.0, 1.0), 0, lr=0.1)
    assert runs.positions.shape == (1, 1, 2)
    assert runs.learning_rates.shape == (0, 1)


def test_defaults_filled_in():
    runs = run(get_surface("quadratic"), "SGD", (1.0, 1.0), 3, lr=0.1)
    assert runs.hyperparameters["momentum"] == 0
    assert runs.hyperparameters["nesterov"] is False
    assert runs.optimizer == "SGD"


def test_mismatched_batch_rejected():
    with pytest.raises(ValueError, match="disagree on the number of runs"):
        run(get_surface("quadratic"), "SGD", torch.zeros(3, 2), 5, lr=torch.ones(2))


def test_unknown_hyperparameter_rejected():
    with pytest.raises(TypeError, match="SGD has no hyperparameter 'beta'"):
        run(get_surface("quadratic"), "SGD", (1.0, 1.0), 5, beta=0.9)


def test_unknown_optimizer_rejected():
    with pytest.raises(KeyError, match="unknown optimizer 'Lion'"):
        run(get_surface("quadratic"), "Lion", (1.0, 1.0), 5)


def test_invalid_lr_rejected_with_torch_message():
    with pytest.raises(ValueError, match="Invalid learning rate"):
        run(get_surface("quadratic"), "SGD", (1.0, 1.0), 5, lr=-0.1)


def test_nesterov_without_momentum_rejected():
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum"):
        run(get_surface("quadratic"), "SGD", (1.0, 1.0), 5, lr=0.1, nesterov=True)


def test_torch_class_needs_run_class():
    with pytest.raises(TypeError, match="run_class drives"):
        run(get_surface("quadratic"), torch.optim.SGD, (1.0, 1.0), 5)


def test_bad_starts_shape_rejected():
    with pytest.raises(ValueError, match=r"starts must have shape \(2,\) or \(B, 2\)"):
        run(get_surface("quadratic"), "SGD", torch.zeros(2, 3), 5)


def test_steps_to_target_hand_table():
    nan = math.nan
    losses = torch.tensor([[5.0, 5.0], [3.0, nan], [1.0, 0.5], [2.0, 0.1]])
    assert steps_to_target(losses, 1.0).tolist() == [2, 2]
    assert steps_to_target(losses, 0.2).tolist() == [-1, 3]
    assert steps_to_target(losses, torch.tensor([6.0, 0.1])).tolist() == [0, 3]


def test_steps_to_target_on_run():
    # On a 1-D parabola the loss after t steps of lr 0.1 is f0 * 0.9^(2t).
    surface = get_surface("quadratic", condition_number=1.0)
    runs = run(surface, "SGD", (1.0, 0.0), 50, lr=0.1)
    target = 0.5 * 1e-3
    expected = math.ceil(math.log(1e-3) / (2 * math.log(0.9)))
    assert runs.steps_to_target(target).tolist() == [expected]


def test_nearest_minimum_of_runs():
    surface = get_surface("two_basins")
    runs = run(surface, "SGD", surface.default_start, 300, lr=torch.tensor([0.1, 1.0]))
    index, distance = runs.nearest_minimum()
    assert index.tolist() == [1, 0]
    assert distance.max() < 1e-6


def test_trajectory_is_dataclass():
    runs = run(get_surface("quadratic"), "SGD", (1.0, 1.0), 2, lr=0.1)
    assert isinstance(runs, Trajectory)
    assert runs.surface.name == "quadratic"
