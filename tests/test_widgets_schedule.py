"""The schedule designer, driven headlessly, against torch's lr schedulers.

The learning rates it plots and runs with are compared with the real
``torch.optim.lr_scheduler`` classes driving a real ``torch.optim.SGD``.
"""

from __future__ import annotations

import random

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from course_lib.landscapes import get_surface
from course_lib.widgets import ScheduleDesigner
from course_lib.widgets.schedule import axis_top, make_schedule


@pytest.fixture
def designer():
    board = ScheduleDesigner()
    yield board
    board.close()


def torch_run(make_scheduler, lr, steps, surface_name="two_basins"):
    """Run SGD with a torch scheduler; return the lrs used and the final loss."""
    surface = get_surface(surface_name)
    param = torch.nn.Parameter(torch.tensor(surface.default_start, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        param.grad = surface.grad(param.detach())
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return np.array(lrs), float(surface.value(param.detach()))


def status_loss(status):
    assert status.startswith("loss "), status
    return float(status.split()[1])


def test_default_cosine_matches_torch(designer):
    lrs, loss = torch_run(
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=100), 3.0, 100
    )
    np.testing.assert_allclose(designer.lr_line.get_data()[1], lrs, rtol=1e-12)
    assert status_loss(designer.status.value) == pytest.approx(loss, rel=1e-3)
    assert designer.status.value.endswith("at the global minimum")


def test_constant_lr_never_settles(designer):
    designer.controls["schedule"].value = "constant"
    lrs, loss = torch_run(None, 3.0, 100)
    np.testing.assert_array_equal(designer.lr_line.get_data()[1], lrs)
    assert status_loss(designer.status.value) == pytest.approx(loss, rel=1e-3)
    assert "minimum" not in designer.status.value


@pytest.mark.parametrize(
    "kind, settings, make_scheduler",
    [
        (
            "step",
            {"step_size": 30, "gamma": 0.25},
            lambda o: lr_scheduler.StepLR(o, step_size=30, gamma=0.25),
        ),
        (
            "exponential",
            {"exponential_gamma": 0.95},
            lambda o: lr_scheduler.ExponentialLR(o, gamma=0.95),
        ),
        (
            "warmup_cosine",
            {"warmup_steps": 15},
            lambda o: lr_scheduler.SequentialLR(
                o,
                [
                    lr_scheduler.LinearLR(o, start_factor=1 / 3, total_iters=15),
                    lr_scheduler.CosineAnnealingLR(o, T_max=85),
                ],
                milestones=[15],
            ),
        ),
        (
            "one_cycle",
            {"pct_start": 0.4},
            lambda o: lr_scheduler.OneCycleLR(
                o, max_lr=3.0, total_steps=100, pct_start=0.4, cycle_momentum=False
            ),
        ),
    ],
)
def test_schedule_lrs_match_torch(designer, kind, settings, make_scheduler):
    designer.controls["schedule"].value = kind
    for name, value in settings.items():
        designer.controls[name].value = value
    lrs, loss = torch_run(make_scheduler, 3.0, 100)
    np.testing.assert_allclose(designer.lr_line.get_data()[1], lrs, rtol=1e-12)
    assert status_loss(designer.status.value) == pytest.approx(loss, rel=1e-3)


def test_run_uses_plotted_lrs(designer):
    designer.controls["schedule"].value = "step"
    plotted = designer.lr_line.get_data()[1]
    np.testing.assert_array_equal(designer.trajectory.learning_rates[:, 0], plotted)


def test_shape_controls_shown(designer):
    designer.controls["schedule"].value = "step"
    assert designer.controls["step_size"].layout.display is None
    assert designer.controls["gamma"].layout.display is None
    assert designer.controls["warmup_steps"].layout.display == "none"
    assert designer.controls["pct_start"].layout.display == "none"


def test_warmup_too_long_reported(designer):
    designer.controls["schedule"].value = "warmup_cosine"
    designer.controls["warmup_steps"].value = 100
    assert designer.status.value.startswith("invalid setting: warmup_steps=100")
    assert designer.last_error is None
    assert len(designer.lr_line.get_data()[0]) == 0


def test_divergence_reported(designer):
    designer.controls["surface"].value = "quadratic"
    designer.controls["schedule"].value = "constant"
    designer.controls["lr"].value = 1.0
    assert designer.status.value.startswith("diverged at step ")
    assert designer.last_error is None


def test_background_kept_within_axis_range(designer):
    _ = designer.view
    key = designer._background_key
    designer.controls["lr"].value = 4.0
    assert designer._background_key == key
    designer.controls["lr"].value = 0.3
    assert designer._background_key != key


def test_lr_axis_covers_curve(designer):
    designer.controls["schedule"].value = "one_cycle"
    designer.controls["lr"].value = 0.7
    top = designer.ax_lr.get_ylim()[1]
    assert top >= designer.lr_line.get_data()[1].max()
    assert top == pytest.approx(1.05)


def test_axis_top_values():
    assert axis_top(0.3) == 0.5
    assert axis_top(3.0) == 5.0
    assert axis_top(1.0) == 1.0
    assert axis_top(0.011) == pytest.approx(0.02)
    assert axis_top(0.0) == 1.0


def test_make_schedule_constant_is_none():
    assert make_schedule("constant", 0.1, 50) is None


def test_make_schedule_unknown_kind():
    with pytest.raises(KeyError, match="unknown schedule 'triangle'"):
        make_schedule("triangle", 0.1, 50)


def test_constructor_rejects_unknown_schedule():
    with pytest.raises(ValueError, match="schedule 'linear' is not one of"):
        ScheduleDesigner(schedule="linear")


def random_value(control, rng):
    if isinstance(control, widgets.Dropdown):
        return rng.choice(list(control.options))
    if isinstance(control, widgets.FloatLogSlider):
        return 10 ** rng.uniform(control.min, control.max)
    if isinstance(control, widgets.IntSlider):
        return rng.choice([control.min, 20, 100, rng.randint(control.min, 300)])
    return rng.uniform(control.min, control.max)


def test_random_controls_never_raise():
    rng = random.Random(1)
    board = ScheduleDesigner(steps=50)
    _ = board.view  # render on every update, as in the browser
    names = list(board.controls)
    for _ in range(35):
        name = rng.choice(names)
        board.controls[name].value = random_value(board.controls[name], rng)
        assert board.last_error is None, (name, board.status.value)
        assert board.status.value
    board.close()
