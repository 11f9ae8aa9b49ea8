"""The momentum dashboards, driven headlessly, against torch.optim in float64.

Each dashboard's artists are compared with runs of ``torch.optim.SGD`` that
take their gradients from ``torch.autograd``, and the rate map's status with
the closed-form optimum. A seeded sweep of control values must never raise.
"""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest
import torch

from course_lib.landscapes import get_surface
from course_lib.momentum import optimal_heavy_ball, optimal_heavy_ball_rate
from course_lib.widgets import MomentumDashboard, NesterovStepper, RateMapDashboard


def torch_sgd(surface, steps, **settings):
    """Run torch.optim.SGD from the surface's default start.

    Returns (positions, buffers, gradients) as float64 arrays: ``(steps + 1,
    2)``, the buffer after each step and the gradient before it.
    """
    param = torch.nn.Parameter(torch.tensor(surface.default_start, dtype=torch.float64))
    optim = torch.optim.SGD([param], **settings)
    positions, buffers, gradients = [param.detach().clone()], [], []
    for _ in range(steps):
        optim.zero_grad()
        surface.value(param).backward()
        gradients.append(param.grad.clone())
        optim.step()
        positions.append(param.detach().clone())
        buffer = optim.state[param].get("momentum_buffer")
        buffers.append(param.grad.clone() if buffer is None else buffer.clone())
    return (
        torch.stack(positions).numpy(),
        torch.stack(buffers).numpy(),
        torch.stack(gradients).numpy(),
    )


def first_step_within(surface, positions, target):
    gaps = surface.value(torch.from_numpy(positions)) - surface.min_value
    below = torch.nonzero(gaps <= target)
    return int(below[0]) if len(below) else -1


# -- MomentumDashboard -------------------------------------------------------------


@pytest.fixture
def board():
    dashboard = MomentumDashboard()
    yield dashboard
    dashboard.close()


def test_momentum_paths_are_torch_runs(board):
    surface = get_surface("ravine")
    with_momentum, _, _ = torch_sgd(surface, 100, lr=0.04, momentum=0.9)
    without, _, _ = torch_sgd(surface, 100, lr=0.04)
    np.testing.assert_allclose(
        np.column_stack(board.path_line.get_data()), with_momentum, atol=1e-10
    )
    np.testing.assert_allclose(
        np.column_stack(board.plain_line.get_data()), without, atol=1e-10
    )


def test_momentum_status_counts_steps(board):
    surface = get_surface("ravine")
    with_momentum, _, _ = torch_sgd(surface, 100, lr=0.04, momentum=0.9)
    without, _, _ = torch_sgd(surface, 100, lr=0.04)
    steps = first_step_within(surface, with_momentum, 1e-3)
    assert steps > 0
    assert first_step_within(surface, without, 1e-3) == -1
    assert board.status.value.startswith(
        f"momentum 0.9: {steps} steps to a loss within 0.001 of the minimum; "
    )
    gap = float(surface.value(torch.from_numpy(without[-1])))
    assert board.status.value.endswith(
        f"without momentum: loss gap {gap:.3g} after 100 steps"
    )


def test_momentum_arrows_are_buffers(board):
    surface = get_surface("ravine")
    positions, buffers, gradients = torch_sgd(surface, 30, lr=0.04, momentum=0.9)
    np.testing.assert_allclose(board.velocity_arrows.get_offsets(), positions[:30])
    np.testing.assert_allclose(board.velocity_arrows.U, -0.04 * buffers[:, 0])
    np.testing.assert_allclose(board.velocity_arrows.V, -0.04 * buffers[:, 1])
    np.testing.assert_allclose(board.gradient_arrows.U, -0.04 * gradients[:, 0])
    np.testing.assert_allclose(board.gradient_arrows.V, -0.04 * gradients[:, 1])


def test_velocity_grows_along_floor_not_across(board):
    # Along the ravine (x) the gradients share a steady push, so the velocity
    # grows towards 1 / (1 - mu) = 10 gradient steps. Across it (y) they
    # swing in sign and largely cancel.
    along = np.abs(board.velocity_arrows.U[10:30]).sum()
    along /= np.abs(board.gradient_arrows.U[10:30]).sum()
    across = np.abs(board.velocity_arrows.V[10:30]).sum()
    across /= np.abs(board.gradient_arrows.V[10:30]).sum()
    assert along > 4.0
    assert across < 2.0


def test_momentum_nesterov_checkbox(board):
    board.controls["nesterov"].value = True
    surface = get_surface("ravine")
    expected, _, _ = torch_sgd(surface, 100, lr=0.04, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(
        np.column_stack(board.path_line.get_data()), expected, atol=1e-10
    )
    assert board.last_error is None


def test_momentum_divergence_reported(board):
    board.controls["lr"].value = 3.0
    assert board.last_error is None
    assert re.fullmatch(
        r"momentum 0\.9: diverged at step \d+; without momentum: diverged at step \d+",
        board.status.value,
    )
    xs, ys = board.path_line.get_data()
    finite = np.isfinite(xs) & np.isfinite(ys)
    assert finite.sum() >= 2
    assert not np.isinf(xs).any()
    assert np.isfinite(board.velocity_arrows.U).all()


def test_momentum_rolls_out_of_local_basin(board):
    board.controls["surface"].value = "two_basins"
    board.controls["lr"].value = 0.01
    board.controls["steps"].value = 300
    status = board.status.value
    assert "without momentum: loss gap" in status
    assert status.endswith("at a local minimum")
    assert status.startswith("momentum 0.9: ")
    assert "local" not in status.split(";")[0]


def test_momentum_zero_is_plain_descent(board):
    board.controls["momentum"].value = 0.0
    xs, ys = board.path_line.get_data()
    plain_xs, plain_ys = board.plain_line.get_data()
    np.testing.assert_array_equal(xs, plain_xs)
    np.testing.assert_array_equal(ys, plain_ys)


def test_momentum_rejects_bad_arguments():
    with pytest.raises(ValueError, match="not among surfaces"):
        MomentumDashboard(surface="beale")
    with pytest.raises(ValueError, match="target"):
        MomentumDashboard(target=0.0)


def test_momentum_random_settings_never_raise(board):
    rng = random.Random(0)
    for _ in range(25):
        name = rng.choice(["surface", "lr", "momentum", "nesterov", "steps"])
        control = board.controls[name]
        if name == "surface":
            control.value = rng.choice(list(control.options))
        elif name == "lr":
            control.value = 10 ** rng.uniform(-5, 1)
        elif name == "momentum":
            control.value = rng.uniform(0.0, 0.99)
        elif name == "nesterov":
            control.value = not control.value
        else:
            control.value = rng.randint(1, 500)
        assert board.last_error is None, board.status.value
        assert board.status.value.startswith("momentum ")


def test_momentum_display_carries_static_png(board):
    bundle = board._repr_mimebundle_()
    assert "image/png" in bundle
    assert "application/vnd.jupyter.widget-view+json" in bundle


# -- NesterovStepper ------------------------------------------------------------------


@pytest.fixture
def stepper():
    dashboard = NesterovStepper()
    yield dashboard
    dashboard.close()


def test_stepper_starts_at_step_zero(stepper):
    surface = stepper.surface("quadratic")
    loss = float(
        surface.value(torch.tensor(surface.default_start, dtype=torch.float64))
    )
    assert stepper.status.value == (
        f"step 0: loss {loss:.4g} with Nesterov, "
        f"loss {loss:.4g} with classical momentum"
    )
    assert len(stepper.path_line.get_xdata()) == 1


def test_stepper_buttons_move_step(stepper):
    stepper.buttons["step"].click()
    stepper.buttons["step"].click()
    assert stepper.controls["step"].value == 2
    assert stepper.status.value.startswith("step 2: ")
    stepper.buttons["reset"].click()
    assert stepper.controls["step"].value == 0
    assert stepper.last_error is None


def test_stepper_step_stops_at_max(stepper):
    stepper.controls["step"].value = stepper.controls["step"].max
    stepper.buttons["step"].click()
    assert stepper.controls["step"].value == stepper.controls["step"].max


def test_stepper_nesterov_path_from_torch(stepper):
    stepper.controls["step"].value = 12
    surface = stepper.surface("quadratic")
    parameters, buffers, _ = torch_sgd(
        surface, 12, lr=0.03, momentum=0.8, nesterov=True
    )
    # torch stores theta + mu v as its parameter and -v / lr as its buffer,
    # so theta = parameter + lr mu buffer.
    theta = parameters.copy()
    theta[1:] += 0.03 * 0.8 * buffers
    np.testing.assert_allclose(
        np.column_stack(stepper.path_line.get_data()), theta, atol=1e-12
    )
    np.testing.assert_allclose(
        stepper.look_ahead_marker.get_data(), parameters[11:12].T, atol=1e-12
    )


def test_stepper_classical_path_from_torch(stepper):
    stepper.controls["step"].value = 12
    surface = stepper.surface("quadratic")
    expected, _, _ = torch_sgd(surface, 12, lr=0.03, momentum=0.8)
    np.testing.assert_allclose(
        np.column_stack(stepper.classical_line.get_data()), expected, atol=1e-12
    )


def test_stepper_arrows_end_at_new_points(stepper):
    stepper.controls["step"].value = 7
    for line, jump, gradient in (
        (stepper.path_line, stepper.nesterov_jump, stepper.nesterov_gradient),
        (stepper.classical_line, stepper.classical_jump, stepper.classical_gradient),
    ):
        path = np.column_stack(line.get_data())
        np.testing.assert_allclose(jump.get_offsets()[0], path[6])
        tip = gradient.get_offsets()[0] + [gradient.U[0], gradient.V[0]]
        np.testing.assert_allclose(tip, path[7], atol=1e-12)
        jump_tip = jump.get_offsets()[0] + [jump.U[0], jump.V[0]]
        np.testing.assert_allclose(gradient.get_offsets()[0], jump_tip)


def test_stepper_nesterov_gradient_at_look_ahead(stepper):
    stepper.controls["step"].value = 5
    surface = stepper.surface("quadratic")
    look_ahead = torch.tensor(
        np.column_stack(stepper.look_ahead_marker.get_data())[0], requires_grad=True
    )
    surface.value(look_ahead).backward()
    expected = -0.03 * look_ahead.grad.numpy()
    arrow = stepper.nesterov_gradient
    np.testing.assert_allclose([arrow.U[0], arrow.V[0]], expected, atol=1e-12)


def test_stepper_reports_target(stepper):
    stepper.controls["step"].value = 80
    status = stepper.status.value
    assert "; within 0.001 of the minimum: Nesterov at step " in status
    surface = stepper.surface("quadratic")
    parameters, buffers, _ = torch_sgd(
        surface, 80, lr=0.03, momentum=0.8, nesterov=True
    )
    theta = parameters.copy()
    theta[1:] += 0.03 * 0.8 * buffers
    step = first_step_within(surface, theta, 1e-3)
    assert f"Nesterov at step {step}" in status


def test_stepper_divergence_reported(stepper):
    stepper.controls["lr"].value = 1.0
    stepper.controls["step"].value = 40
    status = stepper.status.value
    assert re.match(r"step 40: diverged at step \d+ with Nesterov, ", status)
    assert "diverged at step" in status.split(", ")[1]
    assert stepper.last_error is None
    offsets = stepper.nesterov_gradient.get_offsets()
    assert np.isfinite(offsets).all()


def test_stepper_random_settings_never_raise(stepper):
    rng = random.Random(1)
    for _ in range(30):
        name = rng.choice(["surface", "lr", "momentum", "step", "click", "reset"])
        if name == "click":
            stepper.buttons["step"].click()
        elif name == "reset":
            stepper.buttons["reset"].click()
        elif name == "surface":
            stepper.controls["surface"].value = rng.choice(
                list(stepper.controls["surface"].options)
            )
        elif name == "lr":
            stepper.controls["lr"].value = 10 ** rng.uniform(-5, 1)
        elif name == "momentum":
            stepper.controls["momentum"].value = rng.uniform(0.0, 0.99)
        else:
            stepper.controls["step"].value = rng.randint(0, 80)
        assert stepper.last_error is None, stepper.status.value
        assert stepper.status.value.startswith(
            f"step {stepper.controls['step'].value}: "
        )


def test_stepper_display_carries_static_png(stepper):
    assert "image/png" in stepper._repr_mimebundle_()


# -- RateMapDashboard ----------------------------------------------------------------


@pytest.fixture
def rate_board():
    dashboard = RateMapDashboard(resolution=16, map_steps=100)
    yield dashboard
    dashboard.close()


def test_rate_map_starts_at_optimum(rate_board):
    lr, mu = optimal_heavy_ball(1.0, 10.0)
    assert rate_board.controls["lr"].value == pytest.approx(lr)
    assert rate_board.controls["momentum"].value == pytest.approx(mu)
    theory = optimal_heavy_ball_rate(1.0, 10.0)
    # At the optimum the roots are double, so float rounding of lr and
    # momentum moves their modulus by about sqrt(1e-16) = 1e-8.
    assert rate_board.theoretical_rate == pytest.approx(theory, rel=1e-6)
    assert rate_board.status.value.startswith(f"rate {theory:.3g} per step in theory, ")


def test_rate_map_steps_count_is_torch_run(rate_board):
    rate_board.controls["lr"].value = 0.1
    rate_board.controls["momentum"].value = 0.5
    lr, mu = rate_board.controls["lr"].value, rate_board.controls["momentum"].value
    surface = rate_board.quadratic()
    positions, _, _ = torch_sgd(surface, 100, lr=lr, momentum=mu)
    distances = np.linalg.norm(positions, axis=1)
    expected = int(np.argmax(distances <= 1e-6 * distances[0]))
    assert expected > 0
    assert rate_board.status.value.endswith(
        f"the distance fell to 1e-06 of its start in {expected} steps"
    )
    np.testing.assert_allclose(rate_board.run_line.get_ydata(), distances, rtol=1e-9)


def test_rate_map_marker_follows_sliders(rate_board):
    rate_board.controls["lr"].value = 0.05
    rate_board.controls["momentum"].value = 0.7
    x, y = rate_board.setting_marker.get_data()
    assert x[0] == pytest.approx(rate_board.controls["lr"].value)
    assert y[0] == pytest.approx(0.7)


def test_rate_map_divergence_reported(rate_board):
    rate_board.controls["momentum"].value = 0.0
    rate_board.controls["lr"].value = 10 ** rate_board.controls["lr"].max
    assert rate_board.status.value.startswith("diverges: rate ")
    assert rate_board.last_error is None
    assert np.isfinite(rate_board.run_line.get_ydata()).all()


def test_rate_map_slow_setting_estimates_steps(rate_board):
    rate_board.controls["lr"].value = 10 ** rate_board.controls["lr"].min
    rate_board.controls["momentum"].value = 0.0
    assert re.search(
        r": about \d+ steps to bring the distance to 1e-06 of its start$",
        rate_board.status.value,
    )


def test_rate_map_condition_number_remeasures(rate_board):
    rate_board.controls["condition_number"].value = 100.0
    assert rate_board.last_error is None
    kappa = rate_board.controls["condition_number"].value
    assert float(rate_board.rate_map.eigenvalues[1]) == pytest.approx(kappa)
    slider = rate_board.controls["lr"]
    assert slider.min == pytest.approx(math.log10(0.01 / kappa))
    assert slider.max == pytest.approx(math.log10(4.0 / kappa))
    assert 10**slider.min <= slider.value <= 10**slider.max


def test_rate_map_nesterov_toggle(rate_board):
    rate_board.controls["nesterov"].value = True
    assert rate_board.rate_map.nesterov
    assert "Nesterov" in rate_board.ax_map.get_title()
    assert rate_board.last_error is None


def test_rate_map_random_settings_never_raise(rate_board):
    rng = random.Random(2)
    for _ in range(20):
        name = rng.choice(["lr", "momentum", "lr", "momentum", "kappa", "nesterov"])
        if name == "lr":
            slider = rate_board.controls["lr"]
            rate_board.controls["lr"].value = 10 ** rng.uniform(slider.min, slider.max)
        elif name == "momentum":
            rate_board.controls["momentum"].value = rng.uniform(0.0, 0.99)
        elif name == "kappa":
            rate_board.controls["condition_number"].value = 10 ** rng.uniform(0, 3)
        else:
            rate_board.controls["nesterov"].value = not rate_board.controls[
                "nesterov"
            ].value
        assert rate_board.last_error is None, rate_board.status.value
        assert rate_board.status.value.startswith(("rate ", "diverges: rate "))


def test_rate_map_display_carries_static_png(rate_board):
    assert "image/png" in rate_board._repr_mimebundle_()
