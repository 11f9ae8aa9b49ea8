"""The surface dashboard, driven headlessly through its controls.

Expected numbers come from hand loops over ``torch.optim.SGD`` or from the
closed form of gradient descent on a quadratic, not from the dashboard.
"""

from __future__ import annotations

import base64
import math
import random

import ipywidgets as widgets
import numpy as np
import pytest
import torch

from course_lib.landscapes import get_surface
from course_lib.widgets import SurfaceDashboard
from course_lib.widgets.surface import optimizer_hyperparameters


@pytest.fixture
def dashboard():
    board = SurfaceDashboard()
    yield board
    board.close()


def sgd_final_loss(surface, start, lr, steps, momentum=0.0):
    param = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=lr, momentum=momentum)
    for _ in range(steps):
        param.grad = surface.grad(param.detach())
        optimizer.step()
    return float(surface.value(param.detach()))


def status_loss(status):
    assert status.startswith("loss "), status
    return float(status.split()[1])


def test_default_status_matches_torch(dashboard):
    surface = get_surface("two_basins")
    expected = sgd_final_loss(surface, surface.default_start, 0.1, 100)
    assert status_loss(dashboard.status.value) == pytest.approx(expected, rel=1e-3)
    assert dashboard.status.value.endswith("after 100 steps, at a local minimum")


def test_larger_lr_reaches_global(dashboard):
    dashboard.controls["lr"].value = 1.0
    assert dashboard.status.value.endswith("at the global minimum")


def test_momentum_reaches_global(dashboard):
    surface = get_surface("two_basins")
    dashboard.controls["lr"].value = 0.01
    dashboard.controls["steps"].value = 1000
    dashboard.controls["momentum"].value = 0.9
    expected = sgd_final_loss(surface, surface.default_start, 0.01, 1000, 0.9)
    assert status_loss(dashboard.status.value) == pytest.approx(expected, rel=1e-3)
    assert dashboard.status.value.endswith("at the global minimum")


def test_divergence_reported(dashboard):
    dashboard.controls["surface"].value = "quadratic"
    dashboard.controls["lr"].value = 1.0
    # y_t = 2 * (1 - 10)^t first exceeds 1e6 in magnitude at t = 6.
    expected = math.floor(math.log(1e6 / 2.0) / math.log(9.0)) + 1
    assert dashboard.status.value == f"diverged at step {expected}"
    assert dashboard.last_error is None


def test_divergence_drawn_to_last_finite(dashboard):
    dashboard.controls["surface"].value = "quadratic"
    dashboard.controls["lr"].value = 1.0
    step = int(dashboard.trajectory.diverged_at[0])
    xs, ys = dashboard.path_line.get_data()
    assert np.isfinite(xs[:step]).all()
    assert np.isnan(xs[step:]).all()
    end_x, end_y = dashboard.end_marker.get_data()
    assert end_x[0] == xs[step - 1]
    assert end_y[0] == ys[step - 1]
    assert dashboard.divergence_line.get_visible()
    assert dashboard.divergence_line.get_xdata()[0] == step


def test_path_and_loss_artists(dashboard):
    dashboard.controls["steps"].value = 40
    trajectory = dashboard.trajectory
    xs, ys = dashboard.path_line.get_data()
    assert len(xs) == 41
    np.testing.assert_allclose(xs, trajectory.positions[:, 0, 0].numpy())
    steps, gaps = dashboard.loss_line.get_data()
    np.testing.assert_array_equal(steps, np.arange(41))
    expected = np.maximum(trajectory.gaps[:, 0].numpy(), 1e-12)
    np.testing.assert_allclose(gaps, expected)


def test_start_sliders_move_the_start(dashboard):
    dashboard.controls["x0"].value = -3.0
    dashboard.controls["y0"].value = 1.0
    np.testing.assert_array_equal(dashboard.trajectory.positions[0, 0], [-3.0, 1.0])
    assert dashboard.start_marker.get_data()[0][0] == -3.0


def test_surface_change_resets_start(dashboard):
    dashboard.controls["surface"].value = "rosenbrock"
    surface = get_surface("rosenbrock")
    assert dashboard.controls["x0"].value == pytest.approx(surface.default_start[0])
    assert dashboard.controls["y0"].value == pytest.approx(surface.default_start[1])
    assert dashboard.controls["x0"].min == surface.bounds[0][0]
    assert dashboard.controls["y0"].max == surface.bounds[1][1]
    assert dashboard.ax_surface.get_xlim() == surface.bounds[0]


def test_gradient_arrow_points_downhill(dashboard):
    surface = get_surface("two_basins")
    offsets = dashboard.arrow.get_offsets()[0]
    direction = np.array([dashboard.arrow.U[0], dashboard.arrow.V[0]])
    gradient = surface.grad(torch.tensor(offsets, dtype=torch.float64)).numpy()
    cosine = (
        direction @ -gradient / np.linalg.norm(direction) / np.linalg.norm(gradient)
    )
    assert cosine == pytest.approx(1.0)


def test_optimizer_controls_shown(dashboard):
    dashboard.controls["optimizer"].value = "Adam"
    assert dashboard.controls["beta1"].layout.display is None
    assert dashboard.controls["amsgrad"].layout.display is None
    assert dashboard.controls["momentum"].layout.display == "none"
    assert dashboard.controls["nesterov"].layout.display == "none"


def test_adam_betas_reach_run(dashboard):
    dashboard.controls["optimizer"].value = "Adam"
    dashboard.controls["beta1"].value = 0.5
    assert dashboard.trajectory.hyperparameters["betas"] == (0.5, 0.999)
    assert dashboard.trajectory.optimizer == "Adam"


def test_nesterov_without_momentum_reported(dashboard):
    dashboard.controls["nesterov"].value = True
    assert dashboard.status.value.startswith("invalid setting: Nesterov momentum")
    assert dashboard.last_error is None
    assert len(dashboard.path_line.get_data()[0]) == 0


def test_nesterov_with_momentum_runs(dashboard):
    dashboard.controls["momentum"].value = 0.5
    dashboard.controls["nesterov"].value = True
    assert dashboard.status.value.startswith("loss ")
    assert dashboard.trajectory.hyperparameters["nesterov"] is True


def test_contours_cached_per_surface(dashboard):
    first = list(dashboard._contours["two_basins"])
    dashboard.controls["surface"].value = "beale"
    children = len(dashboard.ax_surface.get_children())
    dashboard.controls["surface"].value = "two_basins"
    dashboard.controls["surface"].value = "beale"
    assert dashboard._contours["two_basins"] == first
    assert len(dashboard.ax_surface.get_children()) == children
    assert all(not artist.get_visible() for artist in first)


def test_view_image_changes_with_lr(dashboard):
    view = dashboard.view
    assert isinstance(view, widgets.VBox)
    before = dashboard._image.value
    dashboard.controls["lr"].value = 1.0
    assert dashboard._image.value != before


def test_static_png_shows_the_path(dashboard):
    _ = dashboard.view
    first = dashboard._repr_mimebundle_()["image/png"]
    dashboard.controls["lr"].value = 1.0
    second = dashboard._repr_mimebundle_()["image/png"]
    assert base64.b64decode(first)[:8] == b"\x89PNG\r\n\x1a\n"
    assert first != second


def test_optimizer_hyperparameters_mapping():
    values = {"beta1": 0.8, "beta2": 0.99, "momentum": 0.5, "rho": 0.7}
    assert optimizer_hyperparameters("SGD", values) == {"momentum": 0.5}
    assert optimizer_hyperparameters("Adam", values) == {"betas": (0.8, 0.99)}
    assert optimizer_hyperparameters("Adadelta", values) == {"rho": 0.7}


def test_constructor_settings():
    board = SurfaceDashboard(
        "ravine", "SGD", lr=0.05, steps=30, momentum=0.9, start=(-6.0, 1.0)
    )
    assert board.controls["momentum"].value == 0.9
    np.testing.assert_array_equal(board.trajectory.positions[0, 0], [-6.0, 1.0])
    assert board.trajectory.steps == 30
    board.close()


def test_constructor_rejects_unknown_control():
    with pytest.raises(TypeError, match="no hyperparameter control named 'gamma'"):
        SurfaceDashboard(gamma=0.5)


def test_surface_params_used():
    board = SurfaceDashboard(
        "quadratic", surface_params={"quadratic": {"condition_number": 50.0}}
    )
    assert board.trajectory.surface.lambda_max == 50.0
    board.close()


def random_value(control, rng):
    if isinstance(control, widgets.Dropdown):
        return rng.choice(list(control.options))
    if isinstance(control, widgets.Checkbox):
        return rng.random() < 0.5
    if isinstance(control, widgets.FloatLogSlider):
        return 10 ** rng.uniform(control.min, control.max)
    if isinstance(control, widgets.IntSlider):
        return rng.choice([control.min, 2, 10, 100, rng.randint(1, 300), control.max])
    return rng.uniform(control.min, control.max)


def test_random_controls_never_raise():
    rng = random.Random(0)
    board = SurfaceDashboard(steps=50)
    _ = board.view  # render on every update, as in the browser
    names = list(board.controls)
    for _ in range(60):
        name = rng.choice(names)
        board.controls[name].value = random_value(board.controls[name], rng)
        assert board.last_error is None, (name, board.status.value)
        assert board.status.value
    board.close()


def test_extreme_settings_never_raise(dashboard):
    for surface in ("beale", "rosenbrock", "himmelblau", "saddle"):
        dashboard.controls["surface"].value = surface
        for optimizer in ("SGD", "Adam", "Adagrad", "RMSprop", "Adadelta"):
            dashboard.controls["optimizer"].value = optimizer
            dashboard.controls["lr"].value = 10.0
            assert dashboard.last_error is None, (surface, optimizer)
            dashboard.controls["lr"].value = 1e-5
            assert dashboard.last_error is None, (surface, optimizer)
